-- search: schema of the search work (filled in by that work).
SELECT 1;
