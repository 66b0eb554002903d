"""nixos-rebuild with `--target-host`: the old `lab deploy` way, one process per host, no rollback.

Two programs answer to `nixos-rebuild`: the bash script and nixos-rebuild-ng (Python; the default on current NixOS,
the bash one is to be removed). `detect_nixos_rebuild` tells them apart from the program on PATH, and the command line
uses the flags that one takes (labtui.deploy.commands.NixosRebuildTool); one parser reads both.

Command line: labtui.deploy.commands.nixos_rebuild_command; output: labtui.deploy.parse.nixos_rebuild.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace

from labtui.deploy.build import BuildTarget
from labtui.deploy.commands import NixosRebuildTool, nixos_rebuild_command
from labtui.deploy.methods.base import DeployMethod, Job, LogTimeouts
from labtui.deploy.parse import OutputParser
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import Host

# nixpkgs names the package's store path `…-nixos-rebuild-ng-25.05`; its wrapped Python entry point imports the
# `nixos_rebuild` package.
_NG_RELEASE_RE = re.compile(rb"nixos-rebuild-ng-(\d+)\.(\d+)")
_NG_ENTRY_RE = re.compile(rb"from nixos_rebuild import|nixos-rebuild-ng")
_HEAD = 65536
_detected: dict[tuple[str, float], NixosRebuildTool] = {}


def detect_nixos_rebuild(path: str | None) -> NixosRebuildTool:
    """Which nixos-rebuild `path` is (the one on PATH when None): nixos-rebuild-ng when its resolved path or its
    start names it (the makeWrapper script names the wrapped program's store path), else the bash script."""
    path = path or shutil.which("nixos-rebuild")
    if path is None:
        return NixosRebuildTool()
    real = os.path.realpath(path)
    try:
        key = (real, os.stat(real).st_mtime)
    except OSError:
        return NixosRebuildTool()
    if key in _detected:
        return _detected[key]
    head = real.encode()
    try:
        with open(real, "rb") as f:
            head += b"\n" + f.read(_HEAD)
    except OSError:
        pass
    tool = NixosRebuildTool()
    if _NG_ENTRY_RE.search(head):
        m = _NG_RELEASE_RE.search(head)
        tool = NixosRebuildTool("ng", (int(m.group(1)), int(m.group(2))) if m else None)
    _detected[key] = tool
    return tool


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
        tool = detect_nixos_rebuild(shutil.which(self.program))
        jobs = []
        for node in request.nodes():
            host = hosts[node]
            options = request.nixos_rebuild
            profile = host.system_profile
            ask = options.ask_sudo_password or bool(profile and profile.interactive_sudo and tool.asks_sudo_password)
            if ask != options.ask_sudo_password:
                options = replace(options, ask_sudo_password=ask)
            argv, env = nixos_rebuild_command(request.flake, host, request.action.value, options,
                                              program=self.program, tool=tool)
            # nixos-rebuild-ng asks for the sudo password on the terminal (`[sudo] password for HOST: `)
            jobs.append(Job(name=node, nodes=[node], targets=[(node, None)], argv=argv, method=self.name,
                            hosts={node: host}, extra_env=env, use_pty=ask))
        return jobs

    def build_targets(self, host: Host, profile: str | None, request: DeployRequest) -> list[BuildTarget]:
        """`nixosConfigurations.HOST.config.system.build.toplevel`, what nixos-rebuild builds."""
        if not host.in_nixos_configurations:
            return []
        return [BuildTarget(host.name, None, ("nixosConfigurations", host.name, "config", "system", "build",
                                              "toplevel"))]

    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        return NixosRebuildParser(job.nodes[0], request.action)

    def log_parser(self, targets: Sequence[tuple[str, str | None]] | None, action: Action, *,
                   timeouts: LogTimeouts | None = None) -> OutputParser:
        if not targets or len(targets) != 1:
            raise UserError("a nixos-rebuild log is about one host: name it with --targets HOST")
        return NixosRebuildParser(targets[0][0], action)

    def infer_exit_code(self, lines: Sequence[str]) -> int | None:
        # The bash script prints no final line of its own: an activation problem or an error means 1, else 0.
        # nixos-rebuild-ng's failed command says its status (`… returned non-zero exit status 4.`).
        for line in reversed(lines):
            m = re.match(r"^Command .* returned non-zero exit status (\d+)\.$", line.strip())
            if m:
                return int(m.group(1))
        return 1 if any(x.lstrip().startswith(("error", "warning: error(s) occurred")) for x in lines) else 0
