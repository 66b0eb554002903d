"""Merging several async iterators into one stream, items in the order they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def merge(iterators: Sequence[AsyncIterator[T]]) -> AsyncIterator[T]:
    """Yield items from all `iterators` as they come; an exception in one is raised here."""
    queue: asyncio.Queue[tuple[object, Exception | None]] = asyncio.Queue()

    async def pump(it: AsyncIterator[T]) -> None:
        try:
            async for item in it:
                await queue.put((item, None))
        except Exception as exc:  # handed to the consumer, not lost in a task
            await queue.put((_DONE, exc))
            return
        await queue.put((_DONE, None))

    tasks = [asyncio.ensure_future(pump(it)) for it in iterators]
    remaining = len(tasks)
    try:
        while remaining:
            item, exc = await queue.get()
            if item is _DONE:
                remaining -= 1
                if exc is not None:
                    raise exc
                continue
            yield item  # type: ignore[misc]  # not _DONE, so one of the iterators' T
    finally:
        for task in tasks:
            task.cancel()
