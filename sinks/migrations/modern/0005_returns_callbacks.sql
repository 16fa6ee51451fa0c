-- Modern path overlay of 0005_returns_callbacks.sql (docs/schema.md).
ALTER TABLE {db}.case_stages ADD COLUMN result LowCardinality(String);
