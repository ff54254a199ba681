-- push: schema of the push work (filled in by that work).
SELECT 1;
