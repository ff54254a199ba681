-- ephemeral: schema of the ephemeral work (filled in by that work).
SELECT 1;
