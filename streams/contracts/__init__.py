"""Facts every stage shares, defined once: topics, sources, formats, reasons. No I/O."""
