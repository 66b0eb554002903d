"""What a deploy would change, before it happens: build what the flake would deploy, compare it with each host.

`preview(inventory, hosts, shell)` asks every host what it runs (over its pooled SSH connection, all at once)
while labtui builds every host's system in one go (labtui.deploy.build: the attributes deploy-rs and
nixos-rebuild would build, one evaluation, one `nix-store --realise`); then it reads the new systems from the
local store and asks each host which of the new paths it lacks; each host gets its `ClosureDiff`
(labtui.closure.diff) or the one line saying why not. Used by `labtui diff`, `labtui deploy --diff` and the
TUI's deploy dialog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtui.closure.diff import ClosureDiff, diff_closures
from labtui.closure.query import HostSystem, NewSystem, QueryError, host_system, missing_on_host, new_systems
from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.deploy.build import BuildTarget, run_build
from labtui.deploy.methods import METHODS
from labtui.deploy.request import DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import Host, Inventory
from labtui.runs.events import RunEvent
from labtui.ssh.api import RemoteShell

Stage = str  # eval | build | host | local: where a host's preview stopped


@dataclass(frozen=True)
class HostPreview:
    host: str
    diff: ClosureDiff | None
    stage: Stage = ""  # where it failed, "" when `diff` is there
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.diff is not None

    def summary(self) -> str:
        return self.diff.summary() if self.diff is not None else f"no diff ({self.stage}): {self.error}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"host": self.host, "ok": self.ok}
        if self.diff is not None:
            data.update(self.diff.to_dict())
        else:
            data.update(stage=self.stage, error=self.error)
        return data


@dataclass
class Preview:
    hosts: list[HostPreview] = field(default_factory=list)
    problem: str = ""  # Nix could not be asked at all

    @property
    def ok(self) -> bool:
        return not self.problem and all(h.ok for h in self.hosts)

    def by_host(self) -> dict[str, HostPreview]:
        return {h.host: h for h in self.hosts}


def system_target(host: Host, method: str | None) -> BuildTarget | None:
    """What would be deployed as the host's system: its deploy method's attribute for its system profile."""
    chosen = METHODS.get(method or host.method)
    profile = host.system_profile.name if host.system_profile else None
    found = chosen.build_targets(host, profile, DeployRequest(targets=[(host.name, profile)], method=chosen.name))
    return found[0] if found else None


async def preview(inventory: Inventory, hosts: Sequence[Host], shell: RemoteShell, *, flake: str | None = None,
                  method: str | None = None, emit: Callable[[RunEvent], None] | None = None,
                  env: dict[str, str] | None = None, log: CommandLog = COMMAND_LOG) -> Preview:
    """Every host's closure diff (see the module docstring). `emit` gets the build's events as they come."""
    flake_ref = flake or inventory.flake_dir or inventory.flake
    targets: dict[str, BuildTarget] = {}
    results: dict[str, HostPreview] = {}
    for host in hosts:
        target = system_target(host, method)
        if target is None:
            results[host.name] = HostPreview(host.name, None, "eval", "nothing to build here for it (its profile "
                                             "is built on the host, or the flake has no system for it)")
        else:
            targets[host.name] = target
    asking = {name: asyncio.ensure_future(host_system(shell, name)) for name in targets}
    try:
        outcome = await run_build(flake_ref, list(targets.values()), emit or (lambda event: None), env=env, log=log)
        if outcome.problem:
            return Preview([*results.values(), *(HostPreview(n, None, "build", outcome.problem) for n in targets)],
                           problem=outcome.problem)
        for node, (stage, message) in outcome.failed.items():
            results[node] = HostPreview(node, None, stage, message)
        built = {node: outcome.outs(node)[0] for node in targets if node not in results and outcome.outs(node)}
        try:
            systems = await new_systems(list(built.values()), log=log)
        except QueryError as exc:
            for node in built:
                results[node] = HostPreview(node, None, "local", str(exc))
            systems = {}

        async def one(node: str) -> HostPreview:
            try:
                running = await asking[node]
            except UserError as exc:
                return HostPreview(node, None, "host", exc.message.removeprefix(f"{node}: "))
            new = systems[built[node]]
            return await _compare(shell, node, running, new)

        compared = await asyncio.gather(*(one(node) for node in built if built[node] in systems))
        results.update({p.host: p for p in compared})
    finally:
        for task in asking.values():
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: a host we did not get to compare is not an unhandled error
            task.cancel()
    return Preview([results[h.name] for h in hosts if h.name in results])


async def _compare(shell: RemoteShell, node: str, running: HostSystem, new: NewSystem) -> HostPreview:
    candidates = set(new.full) - set(running.closure.paths) - {running.current}
    missing = await missing_on_host(shell, node, candidates) if candidates else set()
    diff = diff_closures(node, running.closure, new.closure, new_out=new.out, current_path=running.current,
                         booted=running.booted,
                         missing=None if missing is None else {p: new.full.get(p) for p in missing})
    return HostPreview(node, diff)
