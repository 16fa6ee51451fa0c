"""Shared pytest configuration for citystream's tests.

Deliberately empty of magic: markers are declared in pyproject.toml (strict), service
fixtures live in ``tests/integration/conftest.py``, and unit tests need no services.
"""
