"""Batched writes: what arrives during a write goes in the next one, and every caller hears."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from bot.batching import Batched

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _Writer:
    """Records its batches; each write waits for ``go`` and answers every item doubled."""

    def __init__(self, failing: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.go = asyncio.Event()
        self.failing = failing or set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.go.wait()
        if self.failing & set(items):
            raise RuntimeError(f"cannot write {sorted(self.failing & set(items))}")
        return [item * 2 for item in items]


async def _submitted(batched: Batched[int, int], items: list[int]) -> list[asyncio.Task[int]]:
    calls = [asyncio.create_task(batched(item)) for item in items]
    await asyncio.sleep(0)  # each call has queued its item
    return calls


async def test_calls_arriving_during_a_write_go_together_in_the_next() -> None:
    writer = _Writer()
    batched = Batched(writer)
    first = await _submitted(batched, [1])
    await asyncio.sleep(0)
    later = await _submitted(batched, [2, 3, 4])
    writer.go.set()
    assert await asyncio.gather(*first, *later) == [2, 4, 6, 8]
    assert writer.batches == [[1], [2, 3, 4]]


async def test_a_batch_holds_at_most_its_limit() -> None:
    writer = _Writer()
    writer.go.set()
    batched = Batched(writer, limit=2)
    calls = await _submitted(batched, [1, 2, 3, 4, 5])
    assert await asyncio.gather(*calls) == [2, 4, 6, 8, 10]
    assert writer.batches == [[1, 2], [3, 4], [5]]


async def test_a_failed_write_fails_every_call_in_it_and_the_next_batch_is_written() -> None:
    writer = _Writer(failing={2})
    batched = Batched(writer, limit=2)
    calls = await _submitted(batched, [1, 2, 3])
    writer.go.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [str(o) for o in outcomes[:2]] == ["cannot write [2]"] * 2
    assert outcomes[2] == 6
    assert writer.batches == [[1, 2], [3]]
    assert await batched(4) == 8  # and it goes on writing


async def test_a_caller_that_gives_up_leaves_the_others_their_results() -> None:
    writer = _Writer()
    batched = Batched(writer)
    calls = await _submitted(batched, [1, 2, 3])
    calls[1].cancel()
    writer.go.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert (outcomes[0], outcomes[2]) == (2, 6)
    assert isinstance(outcomes[1], asyncio.CancelledError)


async def test_a_cancelled_write_cancels_its_callers_and_the_next_call_is_written() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        if len(writes) == 1:
            raise asyncio.CancelledError  # as when the loop stops and cancels the writer
        return items

    batched = Batched(write)
    calls = await _submitted(batched, [1, 2])
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert await batched(3) == 3
    assert writes == [[1, 2], [3]]


async def test_the_write_does_not_run_in_its_first_callers_context() -> None:
    inside: contextvars.ContextVar[str] = contextvars.ContextVar("inside", default="none")
    seen: list[str] = []

    async def write(items: list[int]) -> list[int]:
        seen.append(inside.get())
        return items

    async def call_inside_a_session() -> int:
        inside.set("a caller's session")
        return await batched(1)

    batched = Batched(write)
    assert await call_inside_a_session() == 1
    assert seen == ["none"]
