"""Optional probe of each node's system generation before and after a deploy, for the journal.

deploy-rs prints no generation numbers on success (`nix-env --set` is silent), so "web1 went from
generation 41 to 42, /nix/store/...-a to /nix/store/...-b" needs a look at the host. A probe is
`async (node) -> (toplevel path, generation number)` of the running system, injected by whoever builds the
run (labtui.ops.generations.generation_probe over SSH); the run emits a `node_state` event with the answer.
The before-probes run while deploy-rs evaluates and builds (they never delay the deploy); the after-probes
run once the run has its result (they never delay the result): the supervisor records them in the journal
after `run_result`. A failing probe is recorded as an error, never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from labtui.runs.events import NodeState

Probe = Callable[[str], Awaitable[tuple[str | None, int | None]]]
PROBE_TIMEOUT = 15.0


async def probe_node(probe: Probe, node: str, when: Literal["before", "after"],
                     timeout: float = PROBE_TIMEOUT) -> NodeState:
    try:
        path, generation = await asyncio.wait_for(probe(node), timeout)
    except Exception as exc:  # unreachable, not NixOS, ...: the journal says so, the deploy does not care
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return NodeState(ts=time.time(), node=node, when=when, error=message)
    return NodeState(ts=time.time(), node=node, when=when, path=path, generation=generation)
