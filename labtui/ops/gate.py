"""The post-deploy health gate: after a host is deployed, run its checks; when they fail within
their window, roll the host back to its previous generation (policy `rollback`) or only report it
(policy `report`). Everything it does is an event in the deploy stream, so the journal records it.

A deploy takes it as its post-node hook (labtui.cli.supervise plugs it in for detached deploys); this
module does not know the deploy, only the hook's shape:

    before = await snapshot_before(hosts, shell)          # before the deploy starts
    gate = make_post_deploy_gate(inventory, shell, "rollback", before=before)
    ... DeployRun(..., post_node=gate)                     # gate(node, node_result) -> AsyncIterator[RunEvent]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from labtui.errors import UserError
from labtui.inventory.model import CheckSpec, Host, Inventory
from labtui.ops.checks import failed_units_check, run_checks, snapshot_failed_units
from labtui.ops.clock import REAL_CLOCK, Clock
from labtui.ops.generations import current_of, list_generations, rollback_target, switch_generation
from labtui.runs.events import (
    CheckResultEvent,
    GenerationSwitched,
    NodeResult,
    Output,
    Rollback,
    RollbackResult,
    RunEvent,
    StageChanged,
)
from labtui.ssh.api import RemoteShell

GatePolicy = Literal["rollback", "report"]
POLICIES: tuple[str, ...] = ("rollback", "report")


async def snapshot_before(hosts: Sequence[Host], shell: RemoteShell) -> dict[str, frozenset[str]]:
    """Each host's failed units now (call before the deploy starts). Hosts that cannot be asked are
    left out; the gate then skips the failed-units comparison for them rather than guess."""
    answers = await asyncio.gather(*(snapshot_failed_units(shell, h.name) for h in hosts))
    return {h.name: units for h, units in zip(hosts, answers, strict=True) if units is not None}


@dataclass
class PostDeployGate:
    inventory: Inventory
    shell: RemoteShell
    policy: GatePolicy = "rollback"
    before: Mapping[str, frozenset[str]] = field(default_factory=dict)
    clock: Clock = REAL_CLOCK
    sudo_password: str | None = None  # for hosts with interactiveSudo, asked once by the caller

    _snapshot: asyncio.Task[dict[str, frozenset[str]]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UserError(f"health gate policy `{self.policy}` is unknown; use `rollback` or `report`")

    def start_snapshot(self, hosts: Sequence[Host]) -> None:
        """Take the failed-units snapshot in the background (for hook factories, which cannot await):
        it starts now, before the deploy activates anything, and the first gate call waits for it."""
        self._snapshot = asyncio.ensure_future(snapshot_before(hosts, self.shell))

    async def _wait_snapshot(self) -> None:
        if self._snapshot is not None:
            task, self._snapshot = self._snapshot, None
            self.before = {**await task, **self.before}

    def checks_for(self, host: Host) -> list[CheckSpec]:
        specs = list(host.checks)
        if host.name in self.before:
            specs.append(failed_units_check(self.before[host.name]))
        return specs

    async def __call__(self, node: str, result: NodeResult) -> AsyncIterator[RunEvent]:
        if result.outcome != "succeeded":
            return
        await self._wait_snapshot()
        host = self.inventory.get(node)
        system = host.system_profile
        if result.profile is not None and system is not None and result.profile != system.name:
            return  # checks are about the system; a home-manager profile is not gated
        specs = self.checks_for(host)
        if not specs:
            return
        profile = result.profile
        yield StageChanged(ts=time.time(), node=node, profile=profile, stage="health")
        failed: list[str] = []
        async for check in run_checks(host, self.shell, specs, clock=self.clock):
            yield CheckResultEvent(ts=time.time(), node=node, check=check.check, check_kind=check.kind, ok=check.ok,
                                   attempts=check.attempts, message=check.message, duration=check.duration)
            if not check.ok:
                failed.append(f"{check.check}: {check.message}")
        if not failed:
            yield Output(ts=time.time(), node=node, stage="health", line=f"all {len(specs)} health checks passed")
            return
        summary = "health checks failed: " + "; ".join(failed)
        if self.policy == "report":
            yield NodeResult(ts=time.time(), node=node, profile=profile, outcome="failed", stage="health",
                             message=summary)
            return
        async for event in self._roll_back(host, profile, summary):
            yield event

    async def roll_back_node(self, node: str, reason: str) -> AsyncIterator[RunEvent]:
        """Roll `node` back to its previous generation because of `reason` (a failed deploy wave: the orchestrator's
        WaveRollback); its events, ending with its NodeResult (rolled_back, or failed when the switch failed)."""
        host = self.inventory.get(node)
        profile = host.system_profile.name if host.system_profile else None
        yield StageChanged(ts=time.time(), node=node, profile=profile, stage="health")
        async for event in self._roll_back(host, profile, reason):
            yield event

    async def _roll_back(self, host: Host, profile: str | None, summary: str) -> AsyncIterator[RunEvent]:
        node = host.name
        try:
            gens = await list_generations(self.shell, node)
            current = current_of(gens)
            target = rollback_target(gens, None)
        except UserError as exc:
            yield NodeResult(ts=time.time(), node=node, profile=profile, outcome="failed", stage="health",
                             message=f"{summary}; cannot roll back: {exc.message}")
            return
        yield Output(ts=time.time(), node=node, stage="health",
                     line=f"rolling back to generation {target.number} because {summary}")
        outcome = await switch_generation(self.shell, host, target.number,
                                          from_generation=current.number if current else None,
                                          sudo_password=self.sudo_password)
        for line in outcome.output.splitlines():
            yield Output(ts=time.time(), node=node, stage="health", line=line, source="rollback")
        if outcome.ok and outcome.from_generation is not None:
            yield GenerationSwitched(ts=time.time(), node=node, from_generation=outcome.from_generation,
                                     to_generation=target.number)
        yield RollbackResult(ts=time.time(), node=node, from_generation=outcome.from_generation,
                             to_generation=target.number, ok=outcome.ok, message=outcome.message)
        if outcome.ok:
            yield Rollback(ts=time.time(), node=node, profile=profile, rollback_kind="health")
            yield NodeResult(ts=time.time(), node=node, profile=profile, outcome="rolled_back", stage="health",
                             message=f"{summary}; rolled back to generation {target.number}")
        else:
            yield NodeResult(ts=time.time(), node=node, profile=profile, outcome="failed", stage="health",
                             message=f"{summary}; rollback failed: {outcome.message}")


def make_post_deploy_gate(inventory: Inventory, shell: RemoteShell, policy: GatePolicy = "rollback", *,
                          before: Mapping[str, frozenset[str]] | None = None, clock: Clock = REAL_CLOCK,
                          sudo_password: str | None = None) -> PostDeployGate:
    """The orchestrator's `post_node(node, NodeResult) -> AsyncIterator[RunEvent]` hook."""
    return PostDeployGate(inventory, shell, policy, dict(before or {}), clock, sudo_password)
