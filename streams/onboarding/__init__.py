"""Onboarding a city: its district folder from GIS files, its 311 history into the raw topics."""
