"""What the operator asks a deploy to do: the targets, the action, the method, and how to run it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from labtui.deploy.commands import DeployRsOptions, NixosRebuildOptions
from labtui.errors import UserError

HealthGate = Literal["off", "report", "rollback"]
HEALTH_GATES: tuple[str, ...] = ("off", "report", "rollback")


class Action(enum.StrEnum):
    """What a deploy does to a host once the new system is built and copied (nixos-rebuild's verbs)."""

    SWITCH = "switch"
    BOOT = "boot"
    TEST = "test"
    DRY_ACTIVATE = "dry-activate"

    @classmethod
    def parse(cls, value: str | Action) -> Action:
        """The action named `value`; UserError listing the actions otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise UserError(f"unknown action `{value}`; use one of {', '.join(a.value for a in cls)}") from None

    @property
    def activates(self) -> bool:
        """The running system changes now (so health checks afterwards mean something)."""
        return self in (Action.SWITCH, Action.TEST)

    @property
    def adds_generation(self) -> bool:
        """The system profile gets a new generation (the one a rollback goes back from)."""
        return self in (Action.SWITCH, Action.BOOT)

    @property
    def is_dry(self) -> bool:
        """Nothing changes on the host: it only reports what would change."""
        return self is Action.DRY_ACTIVATE

    @property
    def needs_reboot(self) -> bool:
        """The new system runs only after the next reboot."""
        return self is Action.BOOT

    @property
    def needs_target_host(self) -> bool:
        """The action reaches the host (every action so far; a build-only action would not)."""
        return True


@dataclass
class DeployRequest:
    """What the operator asked for. `targets` are (node, profile or None for every profile) pairs."""

    targets: list[tuple[str, str | None]]
    method: str | None = None  # a registered method's name; None: each host's own method from the inventory
    action: Action = Action.SWITCH
    options: DeployRsOptions = field(default_factory=DeployRsOptions)  # CLI overrides (timeouts, skip_checks...)
    nixos_rebuild: NixosRebuildOptions = field(default_factory=NixosRebuildOptions)
    parallel: int | None = None  # None: labtui.toml [deploy] parallel, else 4
    atomic: bool = False
    interactive: bool = False  # run deploy-rs --interactive and relay its question to the operator
    flake: str | None = None  # None: the inventory's flake
    stall_after: float | None = 120.0
    # Detached runs (labtui.cli.supervise builds them): what runs around the deploy. The health gate runs the
    # hosts' checks after each node (`report` failures, or `rollback` the node); the probe asks each host for
    # its generation before and after (journal only).
    health_gate: HealthGate = "off"
    probe: bool = False
    # Also take each host's deploy lock on the host itself (labtui.runs.remote_locks), where operators from other
    # machines or users meet; this machine's lock is always taken.
    host_lock: bool = True
    # labtui builds every target's profile itself first (one `nix-store --realise` for all, build_progress per
    # node, labtui.deploy.build); deploy-rs / nixos-rebuild then find them built.
    prebuild: bool = False
    # Deploy in waves (labtui.deploy.waves.plan_waves): each wave's nodes, in order; the next wave starts only when
    # every node of the one before succeeded (after its health gate). []: every node at once.
    waves: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.action = Action.parse(self.action)  # also accepts the action's name
        if self.health_gate not in HEALTH_GATES:
            raise UserError(f"unknown health gate `{self.health_gate}`; use one of {', '.join(HEALTH_GATES)}")
        if self.waves and self.health_gate == "off":
            self.health_gate = "report"  # a wave goes on only when the one before is healthy: waves need the gate

    def nodes(self) -> list[str]:
        return list(dict.fromkeys(node for node, _ in self.targets))
