"""What a deploy method is: the interface every method implements (docs/extending.md).

A method turns the operator's request into processes (`plan` → `Job`s), says which parser reads each
process's output (`parser`), which hosts it can deploy (`validate`, `flake_lacks`), which actions it
has, and how to install its program. The orchestrator runs any method the same way; the registry
(labtui.deploy.methods.METHODS) is the one list of them.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from labtui.deploy.build import BuildTarget
from labtui.deploy.parse import OutputParser
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import ToolMissing, UserError
from labtui.inventory.model import Host, Profile


@dataclass(frozen=True)
class LogTimeouts:
    """What `labtui parse-log` knows of a saved run's timeouts besides the log: options given to it, and the hosts of
    a flake (`--flake`) with their settings."""

    confirm: int | None = None
    activation: int | None = None
    hosts: Mapping[str, Host] | None = None


@dataclass(eq=False)
class Job:
    """One process of a run."""

    name: str  # the node, or "atomic" for one process over several nodes
    nodes: list[str]
    targets: list[tuple[str, str | None]]  # (node, profile or None for every profile)
    argv: list[str]
    method: str  # the method's name
    hosts: Mapping[str, Host]  # the hosts of `nodes`
    extra_env: dict[str, str] = field(default_factory=dict)
    use_pty: bool = False  # the program may ask for a sudo password on its terminal
    after_check: bool = False  # starts once the first process's flake check passed (it runs with checks skipped)


class DeployMethod(ABC):
    """A way to deploy hosts (deploy-rs, nixos-rebuild, ...). Stateless: one instance in the registry."""

    name: ClassVar[str]  # as the operator types it: `--method NAME`, `method = "NAME"` in labtui.toml
    actions: ClassVar[frozenset[Action]]
    program: ClassVar[str]  # the executable looked up on PATH
    how_to_install: ClassVar[str]  # the end of "`program` was not found on PATH; ..."
    supports_atomic: ClassVar[bool] = False  # one process over all hosts that rolls them back together
    supports_interactive: ClassVar[bool] = False  # can show its own plan and ask before deploying

    @abstractmethod
    def flake_lacks(self, host: Host) -> str | None:
        """What the flake would need for this method to deploy `host` (e.g. `deploy.nodes.web1`), else None."""

    def validate(self, host: Host) -> None:
        """UserError (what, how to fix) when this method cannot deploy `host`."""
        lacking = self.flake_lacks(host)
        if lacking is not None:
            raise UserError(f"{self.name} cannot deploy `{host.name}`: the flake has no {lacking}; "
                            "add it or choose another method with --method")

    @abstractmethod
    def plan(self, request: DeployRequest, hosts: Mapping[str, Host]) -> list[Job]:
        """The processes for `request` (already narrowed to this method's targets, `flake` resolved)."""

    @abstractmethod
    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        """A fresh parser for the output of `job`."""

    def build_targets(self, host: Host, profile: str | None, request: DeployRequest) -> list[BuildTarget]:
        """The flake attributes this method would build for (host, profile), for labtui to build them first
        (labtui.deploy.build); [] when labtui should leave building to the method (remote builds, no flake)."""
        return []

    def log_parser(self, targets: Sequence[tuple[str, str | None]] | None, action: Action, *,
                   timeouts: LogTimeouts | None = None) -> OutputParser:
        """A parser for a saved log (`labtui parse-log`), with the targets the operator named, if any, and what is
        known of the run's timeouts (methods without timeouts ignore them)."""
        targets = list(targets or [])
        nodes = list(dict.fromkeys(n for n, _ in targets))
        job = Job(name=nodes[0] if len(nodes) == 1 else "log", nodes=nodes, targets=targets, argv=[],
                  method=self.name, hosts={})
        return self.parser(job, DeployRequest(targets=targets, action=action))

    def infer_exit_code(self, lines: Sequence[str]) -> int | None:
        """The program's exit status as a saved log shows it (it is not in the log), None when unclear."""
        return None

    def find_program(self) -> str:
        """Absolute path of the program on PATH, or ToolMissing saying how to get it."""
        path = shutil.which(self.program)
        if path is None:
            raise ToolMissing(self.program, self.how_to_install)
        return path


def profiles_of(host: Host, profile: str | None) -> list[Profile]:
    """The host's profiles a target names (all of them for None); UserError for an unknown profile."""
    if profile is None:
        return list(host.profiles)
    try:
        return [host.profile(profile)]
    except KeyError:
        names = ", ".join(p.name for p in host.profiles) or "none"
        raise UserError(f"host `{host.name}` has no profile `{profile}` (profiles: {names}); "
                        f"use {host.name} or {host.name}.PROFILE") from None
