"""Optional probe of each node's system generation before and after a deploy, for the journal.

deploy-rs prints no generation numbers on success (`nix-env --set` is silent), so "web1 went from
generation 41 to 42, /nix/store/...-a to /nix/store/...-b" needs a look at the host. A probe is
`async (node) -> (toplevel path, generation number)` of the running system; the run emits a `node_state`
event with the answer. The before-probes run while deploy-rs evaluates and builds (they never delay the
deploy); the after-probes run once the run has its result (they never delay the result): the supervisor
records them in the journal after `run_result`. A failing probe is recorded as an error, never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from labtui.deploy.events import Event, register_event

Probe = Callable[[str], Awaitable[tuple[str | None, int | None]]]
PROBE_TIMEOUT = 15.0


@register_event
@dataclass(frozen=True, kw_only=True)
class NodeState(Event):
    """A node's running system before or after the deploy (from the optional probe)."""

    kind: ClassVar[str] = "node_state"
    node: str
    when: Literal["before", "after"]
    path: str | None = None
    generation: int | None = None
    error: str = ""


def generation_probe(shell, *, timeout: float = PROBE_TIMEOUT) -> Probe:
    """A probe over a RemoteShell (SshPool, SimShell): the current generation of the system profile."""
    from labtui.ops.generations import current_of, list_generations

    async def probe(node: str) -> tuple[str | None, int | None]:
        current = current_of(await list_generations(shell, node, timeout=timeout))
        return (current.path, current.number) if current else (None, None)

    return probe


async def probe_node(probe: Probe, node: str, when: Literal["before", "after"],
                     timeout: float = PROBE_TIMEOUT) -> NodeState:
    try:
        path, generation = await asyncio.wait_for(probe(node), timeout)
    except Exception as exc:  # unreachable, not NixOS, ...: the journal says so, the deploy does not care
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return NodeState(ts=time.time(), node=node, when=when, error=message)
    return NodeState(ts=time.time(), node=node, when=when, path=path, generation=generation)


def ssh_probe(inventory, request) -> Probe:
    """Factory for detached runs (`DeployRequest.probe = "labtui.deploy.probe:ssh_probe"`): over SSH."""
    from labtui.ssh.pool import SshPool

    return generation_probe(SshPool(inventory.hosts))
