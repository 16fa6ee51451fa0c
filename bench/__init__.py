"""citystream's benchmark suites (pytest-benchmark) and their harness (``bench.harness``).

Not installed with the package: ``citystream bench`` runs them from a source checkout.
"""
