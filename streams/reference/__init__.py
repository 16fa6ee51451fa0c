"""The city's reference data: category table and mappings, district geometry, CRS."""
