"""Time behind a small interface, so retries, timeouts and reboot tracking are testable without waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ScaledClock:
    """Real time run faster: every sleep is `scale` times shorter and `monotonic` advances `1/scale` as fast.

    The demo and integration tests use it so periods and timeouts given in seconds take milliseconds.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._start = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._start) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0) / self.scale)


REAL_CLOCK = RealClock()
