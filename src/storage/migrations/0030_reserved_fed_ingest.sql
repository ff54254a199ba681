-- Placeholder for migration 0030, which the fed-ingest branch owns; it keeps this branch's numbering
-- contiguous (migrate.ts requires 1, 2, 3…). Delete this file when merging fed-ingest's 0030.
SELECT 1;
