"""Small CPU work runs on the event loop, large work in a worker thread."""

from __future__ import annotations

import threading

import trio

from parity_p2p.node.cpu_work import INLINE_WORK_MAX_BYTES, run_sized


async def test_small_work_stays_on_the_event_loop_and_large_work_goes_to_a_thread() -> None:
    here = threading.get_ident()
    assert await run_sized(11_000, threading.get_ident) == here
    assert await run_sized(INLINE_WORK_MAX_BYTES + 1, threading.get_ident) != here


async def test_inline_work_is_still_a_cancellation_point() -> None:
    ran: list[int] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await run_sized(10, lambda: ran.append(1))
    assert ran == [] and scope.cancelled_caught
