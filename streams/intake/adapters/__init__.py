"""One adapter per raw format: raw bytes to canonical event rows or dead letters."""
