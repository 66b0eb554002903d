"""nixos-rebuild with `--target-host`: the old `lab deploy` way, one process per host, no rollback.

Command line: labtui.deploy.commands.nixos_rebuild_command; output: labtui.deploy.parse.nixos_rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from labtui.deploy.build import BuildTarget
from labtui.deploy.commands import nixos_rebuild_command
from labtui.deploy.methods.base import DeployMethod, Job
from labtui.deploy.parse import OutputParser
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import Host


class NixosRebuild(DeployMethod):
    name = "nixos-rebuild"
    actions = frozenset(Action)
    program = "nixos-rebuild"
    how_to_install = ("it comes with NixOS; elsewhere use `nix run nixpkgs#nixos-rebuild -- ...` or "
                      "`nix profile install nixpkgs#nixos-rebuild`")

    def flake_lacks(self, host: Host) -> str | None:
        return None if host.in_nixos_configurations else f"nixosConfigurations.{host.name}"

    def validate(self, host: Host) -> None:
        # A host built in Python (demo, tests) has profiles but no flake entries: nixos-rebuild builds it too.
        if not (host.in_nixos_configurations or host.profiles):
            raise UserError(f"`{host.name}` has no nixosConfigurations entry; nixos-rebuild cannot build it")

    def plan(self, request: DeployRequest, hosts: Mapping[str, Host]) -> list[Job]:
        assert request.flake is not None  # the orchestrator resolves it
        jobs = []
        for node in request.nodes():
            argv, env = nixos_rebuild_command(request.flake, hosts[node], request.action.value, request.nixos_rebuild,
                                              program=self.program)
            jobs.append(Job(name=node, nodes=[node], targets=[(node, None)], argv=argv, method=self.name,
                            hosts={node: hosts[node]}, extra_env=env))
        return jobs

    def build_targets(self, host: Host, profile: str | None, request: DeployRequest) -> list[BuildTarget]:
        """`nixosConfigurations.HOST.config.system.build.toplevel`, what nixos-rebuild builds."""
        if not host.in_nixos_configurations:
            return []
        return [BuildTarget(host.name, None, ("nixosConfigurations", host.name, "config", "system", "build",
                                              "toplevel"))]

    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        return NixosRebuildParser(job.nodes[0], request.action)

    def log_parser(self, targets: Sequence[tuple[str, str | None]] | None, action: Action) -> OutputParser:
        if not targets or len(targets) != 1:
            raise UserError("a nixos-rebuild log is about one host: name it with --targets HOST")
        return NixosRebuildParser(targets[0][0], action)

    def infer_exit_code(self, lines: Sequence[str]) -> int | None:
        # nixos-rebuild prints no final line of its own: an activation problem or an error means 1, else 0.
        return 1 if any(x.lstrip().startswith(("error", "warning: error(s) occurred")) for x in lines) else 0
