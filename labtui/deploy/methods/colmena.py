"""Colmena: `colmena apply --on NODE GOAL`, one process per host, for the nodes of the flake's Colmena hive.

The hive is read by labtui.inventory (the `colmena` / `colmenaHive` output); the output by
labtui.deploy.parse.colmena. Colmena has no rollback: a failed switch leaves the host on the new configuration.
docs/deploy.md, "The colmena method".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from labtui.deploy.methods.base import DeployMethod, Job, LogTimeouts
from labtui.deploy.parse import OutputParser
from labtui.deploy.parse.colmena import ColmenaParser
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import Host
from labtui.inventory.validate import check_name


def colmena_config(flake: str) -> str:
    """What `colmena --config` takes for a flake: its flake.nix for a local directory, else the flake URI (Colmena
    reads an argument that is not an existing path and contains `:` as one, util.rs hive_from_args)."""
    if flake.startswith("/"):
        return os.path.join(flake, "flake.nix")
    if ":" not in flake or flake.startswith("-"):
        raise UserError(f"colmena needs the flake as an absolute directory or a flake URI, not `{flake}`; "
                        "pass --flake with one")
    return flake


def colmena_command(flake: str, host: Host, action: Action, *, program: str = "colmena") -> list[str]:
    """`colmena apply --on NODE GOAL --config CONFIG --verbose --color never`: one node, plain output (`--verbose`:
    line by line even when labtui gives it a terminal), no colours."""
    check_name("node name", host.name, "for colmena --on")
    return [program, "apply", "--on", host.name, action.value, "--config", colmena_config(flake),
            "--verbose", "--color", "never"]


class Colmena(DeployMethod):
    name = "colmena"
    actions = frozenset({Action.SWITCH, Action.BOOT, Action.TEST, Action.DRY_ACTIVATE})
    program = "colmena"
    how_to_install = ("install it with `nix profile install nixpkgs#colmena`, or run labtui in the devShell of your "
                      "flake that has it")

    def flake_lacks(self, host: Host) -> str | None:
        return None if host.colmena is not None else f"Colmena hive node `{host.name}` (`colmena` or `colmenaHive`)"

    def validate(self, host: Host) -> None:
        super().validate(host)
        assert host.colmena is not None
        if host.colmena.target_host is None:
            raise UserError(f"`{host.name}` has deployment.targetHost = null: only `colmena apply-local` on the host "
                            "itself can deploy it; set deployment.targetHost to deploy it from here")
        if host.ssh.jump_hosts and host.sources.get("jump_hosts") == "labtui.toml":
            raise UserError(f"colmena reaches `{host.name}` with plain ssh, which does not see the jump_host of "
                            "labtui.toml; set ProxyJump for it in ~/.ssh/config (or a file named by SSH_CONFIG_FILE)")

    def plan(self, request: DeployRequest, hosts: Mapping[str, Host]) -> list[Job]:
        assert request.flake is not None  # the orchestrator resolves it
        jobs = []
        for node in request.nodes():
            host = hosts[node]
            env = {"SSH_CONFIG_FILE": host.ssh.config_file} if host.ssh.config_file else {}
            jobs.append(Job(name=node, nodes=[node], targets=[(node, None)], method=self.name, hosts={node: host},
                            argv=colmena_command(request.flake, host, request.action, program=self.program),
                            extra_env=env))
        return jobs

    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        return ColmenaParser(job.nodes[0], request.action.value)

    def log_parser(self, targets: Sequence[tuple[str, str | None]] | None, action: Action, *,
                   timeouts: LogTimeouts | None = None) -> OutputParser:
        if not targets or len(targets) != 1:
            raise UserError("a colmena log is read for one host: name it with --targets HOST")
        return ColmenaParser(targets[0][0], action.value)

    def infer_exit_code(self, lines: Sequence[str]) -> int | None:
        # Colmena ends a failure with the troubleshooter's line, a success with the meta job's `All done!`.
        text = [line.strip() for line in lines]
        if any(" panicked at " in line for line in text):
            return 101
        if any(line.startswith("[ERROR] Operation failed with error:") for line in text):
            return 1
        if any(line.endswith("| All done!") for line in text):
            return 0
        return None
