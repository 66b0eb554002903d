"""The deploy lock on a simulated host (labtui.runs.remote_locks): what the lock script does on a real one.

The script takes a flock on /run/lock/labtui-deploy.lock and holds it until its channel closes; here the lock is
held by the command's stream: `taken` while it runs, released when the client closes the channel (the run ended, or
its supervisor died). A second taker gets `busy` and the holder's line, as from the file on a real host.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from labtui.sim.state import SimLab

_END = "labtui-lock end"
_HOLDER = re.compile(r'\{"operator".*?\}')
_held: dict[tuple[int, str], str] = {}  # (the lab, host) -> the holder's JSON line


def is_lock_command(command: str) -> bool:
    return _END in command and "flock -n" in command


def handle(lab: SimLab, host: str, command: str) -> AsyncIterator[str] | None:
    if not is_lock_command(command):
        return None
    found = _HOLDER.search(command)
    return _hold(lab, host, found.group(0) if found else "")


async def _hold(lab: SimLab, host: str, holder: str) -> AsyncIterator[str]:
    key = (id(lab), host)
    if key in _held:
        yield "busy"
        yield _held[key]
        yield _END
        return
    _held[key] = holder
    try:
        yield "taken"
        yield _END
        await asyncio.Event().wait()  # held until the client closes the channel (this stream is then closed)
    finally:
        if _held.get(key) == holder:
            del _held[key]
