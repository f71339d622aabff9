"""Group commit in front of the store: one insert at a time per exporter, and the batches that
arrive while it runs go together in the next one.

An insert into ClickHouse has a fixed cost (chDB analyses the insert path's view on every
insert) that dwarfs its cost per record at small sizes, so many small concurrent inserts are
far slower than one large one. :class:`Writer` keeps exactly one insert in flight; callers
wait for the insert that holds their batch. Under load inserts grow by themselves, and a lone
caller is never held: with nothing in flight, its batch goes at once.

If an insert of several batches fails because of what it holds, each of them is handed back
with :class:`RefusedTogether`, so that its caller inserts it alone and finds its own faulty
records; any other failure goes to every caller of that insert.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from collector.pdata.records import LogBatch
from collector.sessions.clickhouse.errors import DataRefused

Insert = Callable[[list[LogBatch]], Awaitable[None]]


class RefusedTogether(Exception):
    """An insert of several batches was refused for its data: insert this one alone."""


class Writer:
    def __init__(self, insert: Insert, max_records: int) -> None:
        self._insert = insert
        self.max_records = max_records
        self._waiting: deque[tuple[LogBatch, asyncio.Future[None]]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def write(self, batch: LogBatch) -> None:
        """Return once ``batch`` is stored (raises what its insert raised). A caller that is
        cancelled only stops waiting: its batch is still inserted."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="clickhouse-writer")
        await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            while self._waiting:
                taken = [self._waiting.popleft()]
                size = len(taken[0][0])
                while self._waiting and size + len(self._waiting[0][0]) <= self.max_records:
                    taken.append(self._waiting.popleft())
                    size += len(taken[-1][0])
                await self._write(taken)
        finally:
            self._task = None

    async def _write(self, taken: list[tuple[LogBatch, asyncio.Future[None]]]) -> None:
        outcome: BaseException | None = None
        try:
            await self._insert([batch for batch, _ in taken])
        except DataRefused as exc:
            outcome = exc if len(taken) == 1 else RefusedTogether()
        except asyncio.CancelledError:
            for _, future in taken:
                if not future.done():
                    future.set_exception(asyncio.CancelledError())
            raise
        except BaseException as exc:
            outcome = exc
        for _, future in taken:
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
        for _, future in taken:  # a caller that stopped waiting does not see its error
            if future.done() and not future.cancelled():
                future.exception()
