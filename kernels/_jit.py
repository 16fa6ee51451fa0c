"""The one numba decorator every kernel uses.

``nogil`` lets Faust worker threads run kernels concurrently; ``cache`` keeps compiled code
on disk so a restarted worker does not pay the compile again. ``error_model="numpy"`` drops
the per-division zero checks that would block loop vectorisation (inputs are validated by
the Python wrappers before any kernel runs). No ``fastmath``: kernels must agree bit for
bit with the pure-Python references, and reassociation or FMA contraction would move
points across cell borders and distances across radii. Compilation errors propagate:
there is no object-mode fallback.
"""

from __future__ import annotations

import numba

__all__ = ["ngjit"]

ngjit = numba.njit(nogil=True, cache=True, error_model="numpy")
