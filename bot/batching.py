"""Writes that arrive together go to the database together.

Under a burst, every webhook delivery records its update and, once answered, marks it
processed: two short transactions each. On SQLite those transactions take turns, and most of
a turn goes into waiting for the busy event loop between statements, not into SQLite; one
transaction for all the deliveries that arrived meanwhile costs about what one costs alone
(docs/BENCHMARKS.md, issue 10). When nothing else is waiting, a call is written at once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batched"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batched(Generic[Item, Result]):
    """Calls ``write`` with every item submitted while the previous batch was being written.

    ``write`` takes a batch and returns one result per item, in order; if it raises, every
    caller in that batch gets the error, and the next batch is written all the same.
    """

    def __init__(
        self, write: Callable[[list[Item]], Awaitable[Sequence[Result]]], *, limit: int = 64
    ) -> None:
        self._write = write
        self._limit = limit
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((item, written))
        if self._writer is None:
            # A context of its own: the caller's (an open SQLite session, say) is not the
            # writer's.
            self._writer = asyncio.create_task(self._write_all(), context=contextvars.Context())
        return await written

    async def _write_all(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._limit]
                del self._waiting[: self._limit]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as error:  # each caller handles it as its own write's
                    for _, written in batch:
                        if not written.done():
                            written.set_exception(error)
                    continue
                for (_, written), result in zip(batch, results, strict=True):
                    if not written.done():
                        written.set_result(result)
        finally:
            self._writer = None
            # Cancelled itself (the loop is stopping): its callers are not left waiting.
            for _, written in [*batch, *self._waiting]:
                written.cancel()
            self._waiting.clear()
