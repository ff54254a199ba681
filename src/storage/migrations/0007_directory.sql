-- directory: schema of the directory work (filled in by that work).
SELECT 1;
