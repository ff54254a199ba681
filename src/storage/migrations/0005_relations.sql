-- relations: schema of the relations work (filled in by that work).
SELECT 1;
