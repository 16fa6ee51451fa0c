"""Tests of the benchmark harness (bench/harness) and of its regression guard.

``bench/`` is a source-tree package, not installed: the same loader as ``citystream bench``
puts the checkout on ``sys.path`` before the test modules below import it.
"""

from streams.cli.bench import load_harness

load_harness()
