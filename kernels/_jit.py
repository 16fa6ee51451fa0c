"""The one numba decorator every kernel uses, and a cache-prefetch hint for the hot loops.

``nogil`` lets Faust worker threads run kernels concurrently; ``cache`` keeps compiled code
on disk so a restarted worker does not pay the compile again. ``error_model="numpy"`` drops
the per-division zero checks that would block loop vectorisation (inputs are validated by
the Python wrappers before any kernel runs). No ``fastmath``: kernels must agree bit for
bit with the pure-Python references, and reassociation or FMA contraction would move
points across cell borders and distances across radii. Compilation errors propagate:
there is no object-mode fallback.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["inline", "ngjit", "norc", "prefetch"]


def _stamp_cache_dir() -> str:
    """Point numba's on-disk cache at a folder named by a hash of every kernels source.

    Why: numba keys a cached kernel on its own file only, but ``inline`` helpers from other
    files are compiled into it; after an edit or an upgrade of such a helper, a stale
    cached kernel would disagree with freshly compiled ones and give wrong cases. This is
    the one piece of import-time work in ``kernels/``: it must run before any kernel is
    decorated, and reads only this package's few source files.
    """
    here = Path(__file__).resolve().parent
    digest = hashlib.blake2b(digest_size=8)
    digest.update(numba.__version__.encode())
    for source in sorted(here.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or str(here / "__pycache__" / "numba")
    path = os.path.join(base, digest.hexdigest())
    numba.config.CACHE_DIR = path  # type: ignore[attr-defined]
    return path


CACHE_DIR = _stamp_cache_dir()

ngjit = numba.njit(nogil=True, cache=True, error_model="numpy")
# For loops over state arrays that never allocate: without numba's runtime (NRT) no
# reference count is touched. With it, numba increments and decrements (atomically) the
# count of every array each time one is taken out of an argument tuple or passed to a
# helper, and cannot prune those pairs across the branches of a candidate scan: measured,
# that was 73 % of the dedup kernel's time. Allocating in such a kernel fails to compile
# (loudly), it is never silently slower.
_NORC: dict[str, Any] = dict(nogil=True, cache=True, error_model="numpy", _nrt=False)
norc = numba.njit(**_NORC)
# Helpers of ``norc`` kernels, inlined into them in numba's IR (they take the caller's
# flags, and are never called from Python).
inline = numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")


@intrinsic
def _prefetch_intrinsic(typingctx: Any, arr: Any, row: Any) -> Any:
    if not isinstance(arr, types.Array) or not isinstance(row, types.Integer):
        return None
    sig = types.none(arr, row)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [context.cast(builder, args[1], rowty, types.intp)]
        idx += [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return sig, codegen


def _no_prefetch(arr: Any, row: Any) -> None:
    """Interpreted kernels (NUMBA_DISABLE_JIT=1) have no cache to warm: nothing to do."""


# ``prefetch(arr, i)`` asks the CPU to start loading row ``i`` of ``arr`` (no bounds
# check, no effect on results). The dedup kernel is bound by cache misses on tables and
# case rows; asking for the next events' rows early overlaps those misses.
prefetch: Callable[[Any, Any], None] = (
    _no_prefetch
    if numba.core.config.DISABLE_JIT  # type: ignore[attr-defined]  # set at runtime
    else cast(Callable[[Any, Any], None], _prefetch_intrinsic)
)
