"""Where a node's CPU work on content runs: small pieces on the event loop, large ones in a worker thread.

A thread hop costs ~0.1 ms on an idle machine and milliseconds when 8 node processes share 2 cores (the worker
waits for a scheduling turn and for the GIL), while checking an 11 kB Iris update takes ~0.2 ms. At 8 runners the
hops of the received updates' checks were 5% of a node's CPU per round. Work on more than INLINE_WORK_MAX_BYTES
still goes to a thread, so the event loop (gossip, streams, the local API) is never held for long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

INLINE_WORK_MAX_BYTES = 64 * 1024

T = TypeVar("T")


async def run_sized(nbytes: int, fn: Callable[[], T]) -> T:
    """`fn()` on the event loop if it works on at most INLINE_WORK_MAX_BYTES, else in a worker thread."""
    if nbytes <= INLINE_WORK_MAX_BYTES:
        await trio.lowlevel.checkpoint()  # still a checkpoint, as the thread hop was: cancellation stays prompt
        return fn()
    return await trio.to_thread.run_sync(fn)
