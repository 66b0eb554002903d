"""The probe of each node's system before and after a deploy, and what the probe's answer says about the outcome.

deploy-rs prints no generation numbers on success (`nix-env --set` is silent), and its words can be wrong about the
end: after the activation's ssh session died it says "rolled back to previous generation" while the host keeps the
new generation (docs/deploy-rs-output.md §13). A probe is `async (node) -> SystemState` (labtui.runs.events), injected
by whoever builds the run (labtui.ops.generations.generation_probe over SSH): what runs, its generation, what the
system profile points to, and whether an activation still runs there.

The before-probes run while deploy-rs evaluates and builds (they never delay the deploy). The after-probes run once
every process has ended, before the run's result, for every node something was activated on (not `not_deployed`, not
a build or copy failure);
a node where an activation still runs (a target rolling back by itself) is asked again until it is done (bounded).
Then `judge` compares before, after and the parser's result: when the host contradicts the tool's report, the probe
wins and a new `node_result` says so. A failing probe is recorded as an error, never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Literal

from labtui.runs.events import NodeResult, NodeState, SystemState

Probe = Callable[[str], Awaitable[SystemState | tuple[str | None, int | None]]]
PROBE_TIMEOUT = 15.0
# A result that ended in one of these stages never reached the host's system: nothing for a probe to settle.
EARLY_STAGES = ("check", "eval", "build", "push")


async def probe_node(probe: Probe, node: str, when: Literal["before", "after"],
                     timeout: float = PROBE_TIMEOUT) -> tuple[NodeState, SystemState | None]:
    """The `node_state` event of one probe, and the state itself (None when the probe failed)."""
    try:
        answer = await asyncio.wait_for(probe(node), timeout)
    except Exception as exc:  # unreachable, not NixOS, ...: the journal says so, the deploy does not care
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return NodeState(ts=time.time(), node=node, when=when, error=message), None
    state = answer if isinstance(answer, SystemState) else SystemState(path=answer[0], generation=answer[1])
    # A host that answered but named no running system is said so: never an empty probe without a reason.
    error = "" if state.path or state.generation is not None else "the host names no running system " \
        "(no /run/current-system)"
    event = NodeState(ts=time.time(), node=node, when=when, path=state.path, generation=state.generation,
                      profile_generation=state.profile_generation, profile_path=state.profile_path, error=error)
    return event, state


def _gen(state: SystemState) -> str:
    number = state.generation if state.generation is not None else state.profile_generation
    return f"generation {number}" if number is not None else "a system outside its profile's generations"


def judge(result: NodeResult, before: SystemState | None, after: SystemState | None, action: str,
          planned: str | None = None) -> NodeResult | None:
    """A new result when the host's state contradicts `result` (or settles what it left open), else None.

    `planned`: the store path the deploy put in the system profile, when known (deploy-rs's plan). Only the
    `system` profile is probed, so results of other profiles are left alone."""
    if before is None or after is None or result.profile not in (None, "system") or action == "dry-activate" \
            or result.stage in EARLY_STAGES or result.outcome not in ("succeeded", "rolled_back", "failed"):
        return None
    profile_moved = after.profile_path != before.profile_path
    running_moved = after.path != before.path
    if action == "boot":
        new, unchanged = profile_moved, not profile_moved
    elif action == "test":
        new, unchanged = running_moved, not running_moved
    else:  # switch
        new, unchanged = profile_moved and running_moved, not profile_moved and not running_moved
    now = time.time()
    if result.outcome == "succeeded" and planned is not None and planned != before.profile_path \
            and not profile_moved and action in ("switch", "boot"):
        return replace(result, ts=now, outcome="rolled_back",
                       message=f"{result.message}; but the probe finds {result.node} on {_gen(after)}, not the "
                               "deployed system: it went back (the probe wins over the tool's report)")
    if result.outcome == "rolled_back" and new:
        return replace(result, ts=now, outcome="failed",
                       message=f"reported as rolled back, but the probe finds {result.node} on the new "
                               f"{_gen(after)}: nothing rolled it back (the probe wins over the tool's report); "
                               f"the activation did not finish normally: check the host, then keep it or roll "
                               f"it back (`labtui rollback {result.node}`); the tool said: {result.message}")
    if result.outcome == "failed" and unchanged:
        return replace(result, ts=now, outcome="rolled_back",
                       message=f"{result.message}; the probe finds {result.node} on {_gen(after)}, as before the "
                               "deploy: the host is back on (or never left) its previous system")
    if result.outcome == "failed" and new:
        return replace(result, ts=now, message=f"{result.message}; the probe finds {result.node} on the new "
                                               f"{_gen(after)}: nothing rolled it back")
    if result.outcome == "failed" and profile_moved and not running_moved and action == "switch":
        return replace(result, ts=now, message=f"{result.message}; the probe: the system profile is on the new "
                                               f"generation {after.profile_generation} (it boots next), the running "
                                               "system is the previous one")
    return None
