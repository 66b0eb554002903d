"""The fleet as labtui sees it: typed, validated, with the origin of every merged value.

Built by `labtui.inventory.load_inventory` from the flake (`deploy.nodes`, `nixosConfigurations`) and
labtui.toml, or directly in Python (the embedded demo, tests). Everything downstream (SSH, status,
deploy, ops) takes these objects and never re-reads the flake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# Where a merged setting came from, reported by `labtui hosts`.
Source = Literal["default", "deploy", "node", "profile", "labtui.toml", "cli", "ssh-opts", "colmena"]
DeployMethod = Literal["deploy-rs", "nixos-rebuild", "colmena"]

# deploy-rs defaults (its flake schema, src/data.rs at d5eff7f).
DEFAULT_CONFIRM_TIMEOUT = 30
DEFAULT_ACTIVATION_TIMEOUT = 240  # what the remote `wait` uses when activationTimeout is unset
DEFAULT_TEMP_PATH = "/tmp"
DEFAULT_SUDO = "sudo -u"
DEFAULT_POLL_INTERVAL = 5.0


@dataclass(frozen=True)
class SshTarget:
    """What an SSH client needs to reach a host, parsed from the merged sshOpts and labtui.toml.

    `raw_opts` keeps the merged sshOpts verbatim: deploy-rs and nixos-rebuild get exactly those.
    """

    hostname: str
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    jump_hosts: tuple[str, ...] = ()  # ProxyJump chain, "[user@]host[:port]" each
    config_file: str | None = None  # -F
    options: tuple[tuple[str, str], ...] = ()  # -o Key=Value, in order
    raw_opts: tuple[str, ...] = ()

    def option(self, key: str) -> str | None:
        """First value of an -o option (case-insensitive key, first one wins like OpenSSH)."""
        for k, v in self.options:
            if k.lower() == key.lower():
                return v
        return None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.hostname}" if self.user else self.hostname

    def tool_opts(self) -> tuple[str, ...]:
        """sshOpts for deploy-rs (`--ssh-opts`) and nixos-rebuild (`NIX_SSHOPTS`) so they take the same route
        as labtui: `raw_opts`, plus `-J` when the jump host comes from labtui.toml rather than the flake."""
        from labtui.inventory.sshopts import parse_ssh_opts

        if self.jump_hosts and not parse_ssh_opts(self.raw_opts).jump_hosts:
            return (*self.raw_opts, "-J", ",".join(self.jump_hosts))
        return self.raw_opts


@dataclass(frozen=True)
class Profile:
    """One deploy-rs profile of a node, with settings merged profile > node > deploy > default."""

    name: str
    ssh_user: str | None
    user: str | None
    sudo: str = DEFAULT_SUDO
    interactive_sudo: bool = False
    ssh_opts: tuple[str, ...] = ()
    fast_connection: bool = False
    auto_rollback: bool = True
    magic_rollback: bool = True
    confirm_timeout: int = DEFAULT_CONFIRM_TIMEOUT
    activation_timeout: int | None = None  # None: flag omitted, the target waits DEFAULT_ACTIVATION_TIMEOUT
    temp_path: str = DEFAULT_TEMP_PATH
    remote_build: bool = False
    profile_path: str | None = None
    sources: Mapping[str, Source] = field(default_factory=dict)

    @property
    def effective_activation_timeout(self) -> int:
        return self.activation_timeout if self.activation_timeout is not None else DEFAULT_ACTIVATION_TIMEOUT


@dataclass(frozen=True)
class CheckSpec:
    """A health check as declared in labtui.toml; typed further by labtui.ops.checks."""

    kind: str  # unit | http | tcp | command | disk | memory | load
    name: str
    params: Mapping[str, object] = field(default_factory=dict)
    period: float = 2.0
    timeout: float = 5.0
    retries: int = 3


# Colmena's defaults for `deployment.*` (its options.nix at 5fdd743).
COLMENA_PRIVILEGE_ESCALATION = ("sudo", "-H", "--")


@dataclass(frozen=True)
class ColmenaNode:
    """A node of a Colmena hive: its `deployment.*` options as Colmena merges them (the hive's `defaults` module,
    then the node's own modules; Colmena's option defaults otherwise). Key contents are never read, only names."""

    target_host: str | None  # None: local deployment only (`colmena apply-local`)
    target_user: str | None = "root"  # None: ssh's own choice (ssh_config, local user)
    target_port: int | None = None
    tags: tuple[str, ...] = ()
    build_on_target: bool = False
    allow_local_deployment: bool = False
    replace_unknown_profiles: bool = True
    privilege_escalation_command: tuple[str, ...] = COLMENA_PRIVILEGE_ESCALATION
    keys: tuple[str, ...] = ()  # names of deployment.keys
    has_hive: bool = False  # the flake has a colmenaHive output (what drift evaluates the system through)


@dataclass(frozen=True)
class Host:
    """A machine of the lab: a deploy-rs node, a Colmena hive node and/or a nixosConfigurations entry."""

    name: str  # node name in deploy.nodes, or attribute name in nixosConfigurations
    hostname: str
    ssh: SshTarget
    profiles: tuple[Profile, ...] = ()  # in deployment order (profilesOrder first, then the rest sorted)
    method: DeployMethod = "deploy-rs"
    tags: tuple[str, ...] = ()
    critical: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    checks: tuple[CheckSpec, ...] = ()
    in_deploy: bool = True  # has a deploy.nodes entry
    in_nixos_configurations: bool = False
    colmena: ColmenaNode | None = None  # a node of the flake's Colmena hive (`colmena` / `colmenaHive` output)
    sources: Mapping[str, Source] = field(default_factory=dict)  # hostname, method, tags, ... -> origin

    def profile(self, name: str) -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def system_profile(self) -> Profile | None:
        """The profile that deploys NixOS itself ("system" by convention), if any."""
        for p in self.profiles:
            if p.name == "system":
                return p
        return self.profiles[0] if self.profiles else None


@dataclass(frozen=True)
class DeployConfig:
    """The [deploy] table of labtui.toml: defaults for `labtui deploy`."""

    parallel: int | None = None  # hosts deployed at once; None: labtui.deploy's own default
    build_first: bool = True  # labtui builds the profiles itself first (one build, progress per host)


@dataclass(frozen=True)
class Inventory:
    flake: str  # flake reference as given (".", "/abs/path", "github:o/r")
    hosts: tuple[Host, ...]
    flake_dir: str | None = None  # local directory of the flake, when it is one
    config_path: str | None = None  # labtui.toml in use, if any
    revision: str | None = None  # git revision of the flake, when known
    dirty: bool | None = None  # uncommitted changes in the flake's git tree
    deploy: DeployConfig = field(default_factory=DeployConfig)
    warnings: tuple[str, ...] = ()  # things that work but look wrong (unknown flake keys, ignored settings)

    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def get(self, name: str) -> Host:
        """The host called `name`; UserError naming the closest match otherwise."""
        for h in self.hosts:
            if h.name == name:
                return h
        import difflib

        from labtui.errors import UserError

        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"did you mean `{close[0]}`?" if close else "run `labtui hosts` to list them"
        raise UserError(f"no host named `{name}` in {self.flake}; {hint}")

    def select(self, patterns: list[str] | None) -> list[Host]:
        """Hosts named as an operator types them (names, globs `web*`, tags `@prod`, deploy-rs's `.#web1`);
        all hosts when no pattern is given. See labtui.inventory.select."""
        from labtui.inventory.select import select_hosts

        return select_hosts(self, patterns or [])
