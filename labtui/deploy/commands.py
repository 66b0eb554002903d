"""Command lines for deploy-rs and nixos-rebuild, as argv lists (never a shell string).

`deploy_rs_argv` follows the deploy-rs CLI exactly (docs/deploy-rs-output.md §12, commit d5eff7f):
- options typed `Option<bool>` take an explicit `true`/`false` value, passed as two argv items
  (`--magic-rollback false`); plain flags take none;
- one target is positional, several go after `--targets` (which consumes every following value, so
  it comes last before `--`);
- `--ssh-opts` is ONE argv item that deploy-rs splits on single spaces and that *replaces* the merged
  sshOpts of the flake;
- extra nix arguments come last, after a literal `--`.

`nixos_rebuild_command` builds the old `lab deploy` way: `nixos-rebuild <action> --flake F#host
--target-host user@host [--use-remote-sudo]`, with the host's sshOpts in `NIX_SSHOPTS`. Which flags depends on the
nixos-rebuild found (`NixosRebuildTool`): the bash script takes `--use-remote-sudo` and `--fast`; nixos-rebuild-ng
(the default on current NixOS) takes `--sudo` (it warns that `--use-remote-sudo` is deprecated),
`--ask-sudo-password`, and from 25.05 on `--no-reexec` for `--fast`.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from labtui.errors import UserError
from labtui.inventory.model import Host

# A Nix identifier: usable unquoted in an attribute path (`.#web1.system`). Anything else, e.g. a
# node called `example.com`, is quoted: `.#"example.com".system` (docs/deploy-rs-output.md §12, target syntax).
_NIX_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*\Z")
_U16_MAX = 65535

NixosRebuildAction = Literal["switch", "boot", "test", "dry-activate"]
NIXOS_REBUILD_ACTIONS: tuple[str, ...] = ("switch", "boot", "test", "dry-activate")


@dataclass(frozen=True)
class DeployRsOptions:
    """Flags of one `deploy` invocation. `None` means "not given": the flake's setting applies.

    Tri-state booleans map to deploy-rs's `Option<bool>` options (`--auto-rollback false`); plain
    booleans are flags that can only be switched on.
    """

    dry_activate: bool = False
    boot: bool = False
    skip_checks: bool = False
    interactive: bool = False
    checksigs: bool = False
    remote_build: bool = False  # deploy-rs can force remote builds on, never off
    debug_logs: bool = False
    keep_result: bool = False
    result_path: str | None = None  # only meaningful with keep_result
    log_dir: str | None = None
    confirm_timeout: int | None = None
    activation_timeout: int | None = None
    magic_rollback: bool | None = None
    auto_rollback: bool | None = None
    rollback_succeeded: bool | None = None
    fast_connection: bool | None = None
    interactive_sudo: bool | None = None
    ssh_user: str | None = None
    profile_user: str | None = None
    hostname: str | None = None  # replaces the hostname of EVERY node in the run
    # Replaces the merged sshOpts of the flake. A sequence is joined with single spaces (deploy-rs
    # splits on single spaces without shell quoting, so an item must not contain a space).
    ssh_opts: str | Sequence[str] | None = None
    extra_nix_args: Sequence[str] = ()


def nix_attr(name: str) -> str:
    """One component of a Nix attribute path: bare when it is an identifier, else double-quoted."""
    if _NIX_IDENTIFIER.match(name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise UserError(f"empty {kind} name in a deploy target; use HOST or HOST.PROFILE")
    if name.startswith("-"):
        raise UserError(f"{kind} name `{name}` starts with `-`, which deploy would read as an option; rename it")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise UserError(f"{kind} name {name!r} contains a control character; fix the name in the flake")


def _check_flake(flake: str) -> None:
    if not flake:
        raise UserError("empty flake reference; pass --flake REF (e.g. `.` or `github:owner/repo`)")
    if flake.startswith("-"):
        raise UserError(f"flake reference `{flake}` starts with `-`; use ./{flake} for a directory of that name")
    if "#" in flake:
        raise UserError(f"flake reference `{flake}` already contains `#`; pass the flake without the fragment "
                        "and select hosts as HOST or HOST.PROFILE")
    if any(ord(c) < 32 for c in flake):
        raise UserError(f"flake reference {flake!r} contains a control character")


def deploy_rs_target(flake: str, node: str | None = None, profile: str | None = None) -> str:
    """`flake`, `flake#node` or `flake#node.profile`, quoting dotted names (`.#"example.com".system`)."""
    _check_flake(flake)
    if node is None:
        if profile is not None:
            raise UserError("a profile was given without a node; use HOST.PROFILE")
        return flake
    _check_name("node", node)
    if profile is None:
        return f"{flake}#{nix_attr(node)}"
    _check_name("profile", profile)
    return f"{flake}#{nix_attr(node)}.{nix_attr(profile)}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _check_timeout(flag: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U16_MAX:
        raise UserError(f"{flag} must be a whole number of seconds between 0 and {_U16_MAX}, got {value!r}")


def _check_value(flag: str, value: str | None) -> None:
    if value is None:
        return
    if not value or any(ord(c) < 32 for c in value):
        raise UserError(f"{flag} needs a non-empty value without control characters, got {value!r}")
    if value.startswith("-"):
        # clap would read it as the next option and report a missing value
        raise UserError(f"{flag} value `{value}` starts with `-`; deploy-rs cannot take it (use ./{value} for a path)")


def _ssh_opts_value(ssh_opts: str | Sequence[str]) -> str:
    if isinstance(ssh_opts, str):
        return ssh_opts
    for item in ssh_opts:
        if not item or any(c.isspace() for c in item):
            raise UserError(f"ssh option {item!r} is empty or contains whitespace; deploy-rs splits --ssh-opts on "
                            "spaces, so write it without spaces (e.g. -oProxyJump=jump)")
    return " ".join(ssh_opts)


def deploy_rs_argv(flake: str, targets: list[tuple[str, str | None]], options: DeployRsOptions, *,
                   program: str = "deploy") -> list[str]:
    """The argv of `deploy` for `targets` ((node, profile or None) pairs) of `flake`.

    No targets means the whole flake (every node, every profile). Several targets are deployed by
    deploy-rs in the given order.
    """
    o = options
    timeouts = (("--confirm-timeout", o.confirm_timeout), ("--activation-timeout", o.activation_timeout))
    for flag, timeout in timeouts:
        _check_timeout(flag, timeout)
    values = (("--result-path", o.result_path), ("--log-dir", o.log_dir), ("--ssh-user", o.ssh_user),
              ("--profile-user", o.profile_user), ("--hostname", o.hostname))
    for flag, value in values:
        _check_value(flag, value)
    if o.dry_activate and o.boot:
        # deploy-rs only logs an error and lets dry-activate win; refuse up front instead.
        raise UserError("--dry-activate and --boot cannot be combined; choose one")

    argv = [program]
    for flag, on in (("--skip-checks", o.skip_checks), ("--interactive", o.interactive),
                     ("--checksigs", o.checksigs), ("--remote-build", o.remote_build),
                     ("--debug-logs", o.debug_logs), ("--keep-result", o.keep_result),
                     ("--dry-activate", o.dry_activate), ("--boot", o.boot)):
        if on:
            argv.append(flag)
    for flag, value in values:
        if value is not None:
            argv += [flag, value]
    if o.ssh_opts is not None:
        argv += ["--ssh-opts", _ssh_opts_value(o.ssh_opts)]
    for flag, flag_value in (("--fast-connection", o.fast_connection), ("--auto-rollback", o.auto_rollback),
                             ("--magic-rollback", o.magic_rollback),
                             ("--rollback-succeeded", o.rollback_succeeded),
                             ("--interactive-sudo", o.interactive_sudo)):
        if flag_value is not None:
            argv += [flag, _bool(flag_value)]
    for flag, timeout in (("--confirm-timeout", o.confirm_timeout), ("--activation-timeout", o.activation_timeout)):
        if timeout is not None:
            argv += [flag, str(timeout)]

    if not targets:
        argv.append(deploy_rs_target(flake))
    else:
        rendered = [deploy_rs_target(flake, node, profile) for node, profile in targets]
        argv += ["--targets", *rendered] if len(rendered) > 1 else rendered
    if o.extra_nix_args:
        argv += ["--", *o.extra_nix_args]
    return argv


@dataclass(frozen=True)
class NixosRebuildTool:
    """Which nixos-rebuild runs: the bash script or nixos-rebuild-ng, with its nixpkgs release when known."""

    flavour: Literal["bash", "ng"] = "bash"
    release: tuple[int, int] | None = None  # (25, 5) for nixos-rebuild-ng-25.05

    @property
    def sudo_flag(self) -> str:
        return "--sudo" if self.flavour == "ng" else "--use-remote-sudo"

    @property
    def no_reexec_flag(self) -> str:
        """Skip building and re-executing the configuration's own nixos-rebuild."""
        if self.flavour == "ng" and (self.release is None or self.release >= (25, 5)):
            return "--no-reexec"
        return "--fast"

    @property
    def asks_sudo_password(self) -> bool:
        """`--ask-sudo-password`: it asks once, on the terminal, and feeds sudo on the target (ng only)."""
        return self.flavour == "ng"

    def describe(self) -> str:
        if self.flavour == "bash":
            return "nixos-rebuild (bash)"
        return "nixos-rebuild-ng" + (f" {self.release[0]}.{self.release[1]:02d}" if self.release else "")


@dataclass(frozen=True)
class NixosRebuildOptions:
    # None: use sudo on the target when logging in as someone other than root.
    use_remote_sudo: bool | None = None
    ask_sudo_password: bool = False  # nixos-rebuild-ng: ask for the target's sudo password (interactiveSudo)
    reexec: bool = True  # False: --no-reexec (--fast): run the installed nixos-rebuild, not the configuration's
    build_host: str | None = None  # `--build-host`; None builds locally
    show_trace: bool = False
    extra_args: Sequence[str] = ()  # appended verbatim (e.g. ["--option", "eval-cache", "false"])


def _target_user(host: Host) -> str | None:
    if host.ssh.user:
        return host.ssh.user
    profile = host.system_profile
    return profile.ssh_user if profile else None


def nix_sshopts(raw_opts: Sequence[str]) -> str:
    """`NIX_SSHOPTS` for nixos-rebuild and nix copy: the options joined with spaces.

    nixos-rebuild word-splits the variable, so an option containing whitespace cannot survive it.
    """
    for item in raw_opts:
        if any(c.isspace() for c in item):
            raise UserError(f"ssh option {item!r} contains whitespace, which NIX_SSHOPTS cannot carry; "
                            "move it into ~/.ssh/config (e.g. a Host block with ProxyCommand)")
    return " ".join(raw_opts)


def nixos_rebuild_command(flake: str, host: Host, action: str, options: NixosRebuildOptions | None = None, *,
                          program: str = "nixos-rebuild",
                          tool: NixosRebuildTool = NixosRebuildTool()) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of `nixos-rebuild <action> --flake <flake>#<host> --target-host ...`, with the
    flags `tool` takes."""
    options = options or NixosRebuildOptions()
    if action not in NIXOS_REBUILD_ACTIONS:
        raise UserError(f"nixos-rebuild action `{action}` is not supported; "
                        f"use one of {', '.join(NIXOS_REBUILD_ACTIONS)}")
    _check_flake(flake)
    _check_name("host", host.name)
    _check_name("hostname", host.hostname)
    user = _target_user(host)
    if user is not None:
        _check_name("ssh user", user)
    _check_value("--build-host", options.build_host)
    if options.build_host is not None and options.build_host.startswith("-"):
        raise UserError(f"build host `{options.build_host}` starts with `-`; fix the build host name")

    destination = f"{user}@{host.hostname}" if user else host.hostname
    argv = [program, action, "--flake", f"{flake}#{host.name}", "--target-host", destination]
    if options.use_remote_sudo is not None:
        use_sudo = options.use_remote_sudo
    else:  # without a user, ssh logs in as the local user
        use_sudo = (user or getpass.getuser()) != "root"
    if options.ask_sudo_password and not tool.asks_sudo_password:
        raise UserError(f"{tool.describe()} cannot ask for {host.name}'s sudo password; install nixos-rebuild-ng, "
                        "or let the deploy user use sudo without a password")
    if options.ask_sudo_password:
        argv.append("--ask-sudo-password")  # implies --sudo
    elif use_sudo:
        argv.append(tool.sudo_flag)
    if not options.reexec:
        argv.append(tool.no_reexec_flag)
    if options.build_host is not None:
        argv += ["--build-host", options.build_host]
    if options.show_trace:
        argv.append("--show-trace")
    argv += list(options.extra_args)

    env: dict[str, str] = {}
    # tool_opts: the flake's sshOpts plus a jump host from labtui.toml, so deploys take the status route.
    if host.ssh.tool_opts():
        env["NIX_SSHOPTS"] = nix_sshopts(host.ssh.tool_opts())
    return argv, env
