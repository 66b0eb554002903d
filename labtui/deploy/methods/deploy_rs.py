"""deploy-rs (serokell/deploy-rs): magic rollback, atomic multi-node runs, its own plan and question.

Parallel runs start one `deploy` per node (deploy-rs itself is strictly sequential, deploy-rs#46); an
atomic run is ONE `deploy --targets ...` over all nodes, so deploy-rs revokes the nodes that already
succeeded when a later one fails. Command line: labtui.deploy.commands; output: labtui.deploy.parse.deploy_rs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from labtui.deploy.build import BuildTarget
from labtui.deploy.commands import deploy_rs_argv
from labtui.deploy.methods.base import DeployMethod, Job, LogTimeouts, profiles_of
from labtui.deploy.parse import OutputParser
from labtui.deploy.parse.ansi import strip_ansi
from labtui.deploy.parse.deploy_rs import LOG_RE, DeployRsParser
from labtui.deploy.parse.deploy_rs.parser import DEFAULT_SOURCE
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import EXIT_FAILED, EXIT_OK, UserError
from labtui.inventory.model import Host, Profile

# Records deploy-rs prints last for a profile that finished, when the run goes on or ends well.
_DONE = ("Deployment confirmed.", "Success activating, done!", "Success activating for next boot, done!",
         "Completed dry-activate!")


class _Timeouts:
    """Per (node, profile) confirm and activation timeouts, with where each came from."""

    def __init__(self) -> None:
        self.confirm: dict[tuple[str, str], int] = {}
        self.activation: dict[tuple[str, str], int] = {}
        self.confirm_sources: dict[tuple[str, str], str] = {}
        self.activation_sources: dict[tuple[str, str], str] = {}

    def add(self, node: str, profile: Profile, *, confirm: tuple[int | None, str],
            activation: tuple[int | None, str]) -> None:
        """The profile's settings (from the flake, else deploy-rs's defaults), unless an override is given."""
        key = (node, profile.name)
        value, source = confirm
        self.confirm[key] = value if value is not None else profile.confirm_timeout
        self.confirm_sources[key] = source if value is not None else _origin(profile, "confirm_timeout")
        value, source = activation
        self.activation[key] = value if value is not None else profile.effective_activation_timeout
        self.activation_sources[key] = source if value is not None else _origin(profile, "activation_timeout")


def _origin(profile: Profile, field: str) -> str:
    """Where a merged profile setting came from, as timeouts name it."""
    origin = profile.sources.get(field, "default")
    return {"default": DEFAULT_SOURCE, "labtui.toml": "labtui.toml", "cli": "command line"}.get(origin, "flake")


class DeployRs(DeployMethod):
    name = "deploy-rs"
    actions = frozenset({Action.SWITCH, Action.BOOT, Action.DRY_ACTIVATE})
    program = "deploy"
    how_to_install = ("install deploy-rs with `nix profile install github:serokell/deploy-rs` "
                      "(or try it with `nix run github:serokell/deploy-rs -- --help`)")
    supports_atomic = True
    supports_interactive = True

    def flake_lacks(self, host: Host) -> str | None:
        return None if host.in_deploy else f"deploy.nodes.{host.name}"

    def validate(self, host: Host) -> None:
        if not host.in_deploy:
            raise UserError(f"`{host.name}` has no deploy.nodes entry in the flake, so deploy-rs cannot deploy it; "
                            "use --method nixos-rebuild or add the node to deploy.nodes")

    def plan(self, request: DeployRequest, hosts: Mapping[str, Host]) -> list[Job]:
        targets = request.targets
        if request.atomic:
            return [self._job(request, hosts, "atomic", targets)]
        nodes = list(dict.fromkeys(n for n, _ in targets))
        # `nix flake check` checks the whole flake (and builds every profile, deploy-rs#318): the first
        # process runs it, the others start with --skip-checks once it passed.
        check_once = not (request.options.skip_checks or len(nodes) < 2)
        return [self._job(request, hosts, node, [t for t in targets if t[0] == node],
                          skip_checks=check_once and i > 0)
                for i, node in enumerate(nodes)]

    def _job(self, request: DeployRequest, hosts: Mapping[str, Host], name: str,
             targets: list[tuple[str, str | None]], *, skip_checks: bool = False) -> Job:
        assert request.flake is not None  # the orchestrator resolves it
        options = replace(request.options, interactive=request.interactive,
                          skip_checks=request.options.skip_checks or skip_checks,
                          dry_activate=request.action.is_dry or request.options.dry_activate,
                          boot=request.action.needs_reboot or request.options.boot)
        nodes = list(dict.fromkeys(n for n, _ in targets))
        if options.ssh_opts is None and len(nodes) == 1:
            # A jump host from labtui.toml is not in the flake's sshOpts: hand deploy-rs the same route
            # labtui's own SSH takes. (--ssh-opts replaces the merged sshOpts, so only when it adds -J.)
            ssh = hosts[nodes[0]].ssh
            if ssh.tool_opts() != ssh.raw_opts:
                options = replace(options, ssh_opts=list(ssh.tool_opts()))
        # A whole node as the only target of its process: `.#node` deploys all its profiles in order.
        argv = deploy_rs_argv(request.flake, targets, options, program=self.program)
        sudo = options.interactive_sudo
        use_pty = bool(sudo) if sudo is not None else any(
            p.interactive_sudo for node, prof in targets for p in profiles_of(hosts[node], prof))
        return Job(name=name, nodes=nodes, targets=targets, argv=argv, method=self.name,
                   hosts={n: hosts[n] for n in nodes}, use_pty=use_pty, after_check=skip_checks)

    def build_targets(self, host: Host, profile: str | None, request: DeployRequest) -> list[BuildTarget]:
        """`deploy.nodes.NODE.profiles.PROFILE.path`, what deploy-rs builds; not for profiles built on the target."""
        if not host.in_deploy or request.options.remote_build:
            return []
        return [BuildTarget(host.name, p.name, ("deploy", "nodes", host.name, "profiles", p.name, "path"))
                for p in profiles_of(host, profile) if not p.remote_build]

    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        o = request.options
        timeouts = _Timeouts()
        auto_rollback: dict[tuple[str, str], bool] = {}
        for node, profile in job.targets:
            for p in profiles_of(job.hosts[node], profile):
                auto_rollback[(node, p.name)] = o.auto_rollback if o.auto_rollback is not None else p.auto_rollback
                timeouts.add(node, p, confirm=(o.confirm_timeout, "--confirm-timeout"),
                             activation=(o.activation_timeout, "--activation-timeout"))
        return DeployRsParser(job.targets, confirm_timeouts=timeouts.confirm, activation_timeouts=timeouts.activation,
                              confirm_sources=timeouts.confirm_sources, activation_sources=timeouts.activation_sources,
                              auto_rollbacks=auto_rollback, dry_activate=request.action.is_dry,
                              boot=request.action.needs_reboot)

    def log_parser(self, targets: Sequence[tuple[str, str | None]] | None, action: Action, *,
                   timeouts: LogTimeouts | None = None) -> OutputParser:
        # A saved log names its nodes and profiles: without targets the parser learns them from it. Its timeouts:
        # the log's own (`-d`), else the options given to parse-log, else the flake's (--flake), else deploy-rs's.
        given = timeouts or LogTimeouts()
        table = _Timeouts()
        for host in (given.hosts or {}).values():
            for p in host.profiles:
                table.add(host.name, p, confirm=(given.confirm, ""), activation=(given.activation, ""))
        flag = "given to parse-log"
        return DeployRsParser(
            list(targets) if targets else None, dry_activate=action.is_dry, boot=action.needs_reboot,
            confirm_timeouts={} if given.confirm is not None else table.confirm, confirm_sources=table.confirm_sources,
            activation_timeouts={} if given.activation is not None else table.activation,
            activation_sources=table.activation_sources,
            default_confirm=(given.confirm, f"--confirm-timeout {flag}") if given.confirm is not None else None,
            default_activation=((given.activation, f"--activation-timeout {flag}") if given.activation is not None
                                else None))

    def infer_exit_code(self, lines: Sequence[str]) -> int | None:
        """1 when the last deploy-rs record is an ERROR, 0 when it completed a profile, else unknown."""
        for line in reversed(lines):
            text = strip_ansi(line)
            while text.startswith("> "):
                text = text[2:]
            m = LOG_RE.match(text)
            if m is None or m.group(1) != "deploy":
                continue
            if m.group(2) == "ERROR":
                return EXIT_FAILED
            return EXIT_OK if m.group(3).rstrip() in _DONE else None
        return None
