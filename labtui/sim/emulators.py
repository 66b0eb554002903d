"""Emulated `deploy` (deploy-rs), `nixos-rebuild` and `colmena` executables for the tests and the demo.

`install_emulators(bin_dir)` writes three small executable wrappers into `bin_dir`; put it first on
PATH and labtui runs them exactly like the real programs (same argv, same output, same exit codes).

What they do is set by the environment:
- `LABTUI_SIM_SCENARIO`: path of a JSON file, e.g.
      {"time_scale": 0.01,
       "nodes": {"web1": {"hostname": "10.0.0.1", "profiles": ["system"], "scenario": "success"}},
       "orphan_late_line": false}
  Node keys (all optional but the name): hostname, profiles, scenario (a string, or a map profile →
  scenario), ssh_user, user, ssh_opts, magic_rollback, auto_rollback, confirm_timeout,
  activation_timeout, interactive_sudo, sudo_password, remote_build, orphan_late_line, canary_exists (no `[wait]`
  lines, as when the activation creates the canary first), no_sudo (nixos-rebuild: no sudo on the host), hang_stage
  (check, eval, build, push or activate; default push), durations (stage → seconds before scaling),
  kernel. Top-level keys: time_scale (1.0 = real deploy-rs pace), orphan_late_line, orphan_seconds,
  random_order (HashMap order for whole-flake targets), ansi (default true), check_fails, eval_fails.
- `LABTUI_SIM_LAB`: a `labtui.sim.state.SimLab` directory. Every lab host is a node (hostname = node
  name unless the scenario file gives one); its scenario is the host's `SimHost.next_deploy` at the
  time of the deploy (`push-fails` when it is unreachable), which wins over the file's; and deploys
  really change the host's state (see `LabEffects`). `next_deploy` is left as it is (the demo decides).

Scenarios: success (alias ok), activation-fails (auto rollback), magic-timeout (alias breaks-ssh:
the new configuration cuts ssh, confirmation never arrives, magic rollback, with deploy-rs's panic
noise), magic-timeout-lost (the activation ssh session dies, `Some(255)`: deploy-rs says it rolled back, the host
keeps the new generation), activation-timeout (deploy-rs gives up; the target goes on, its lines come after deploy's
exit through an orphaned child, and it rolls back by itself),
build-fails, push-fails, check-fails, eval-fails, hang (silent forever in `hang_stage`, for stall
detection; killed by SIGINT/SIGTERM like the real thing).
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtui.sim.state import Generation, SimLab, fake_store_path

SCENARIOS = ("success", "activation-fails", "magic-timeout", "magic-timeout-lost", "activation-timeout",
             "build-fails", "push-fails", "check-fails", "eval-fails", "hang")
ALIASES = {"ok": "success", "breaks-ssh": "magic-timeout"}
STAGES = ("check", "eval", "build", "push", "activate", "confirm")
# Seconds each stage takes at time_scale 1 (a small NixOS host on a LAN with a warm cache).
DEFAULT_DURATIONS = {"check": 4.0, "eval": 3.0, "build": 8.0, "push": 4.0, "activate": 5.0, "confirm": 1.0}
DEFAULT_LAB_TIME_SCALE = 0.3


class EmulatorConfigError(Exception):
    """The scenario file or the lab is unusable; the emulator prints this and exits 1."""


@dataclass
class NodeSpec:
    name: str
    hostname: str
    profiles: list[str] = field(default_factory=lambda: ["system"])
    scenarios: dict[str, str] = field(default_factory=dict)  # profile -> scenario
    default_scenario: str = "success"
    ssh_user: str | None = None
    user: str | None = None
    ssh_opts: list[str] = field(default_factory=list)
    magic_rollback: bool = True
    auto_rollback: bool = True
    confirm_timeout: int = 30
    activation_timeout: int | None = None
    interactive_sudo: bool = False
    sudo_password: str | None = None
    remote_build: bool = False
    orphan_late_line: bool = False
    canary_exists: bool = False  # deploy-rs: the activation creates the canary before `wait` looks: no [wait] lines
    no_sudo: bool = False  # nixos-rebuild: the host has no sudo (`--use-remote-sudo` fails with exit 127)
    hang_stage: str = "push"
    durations: dict[str, float] = field(default_factory=dict)
    kernel: str | None = None
    from_lab: bool = False

    def scenario(self, profile: str) -> str:
        return self.scenarios.get(profile, self.default_scenario)

    def duration(self, stage: str) -> float:
        return float(self.durations.get(stage, DEFAULT_DURATIONS[stage]))


@dataclass
class SimConfig:
    nodes: dict[str, NodeSpec]
    time_scale: float = 1.0
    orphan_late_line: bool = False
    orphan_seconds: float | None = None
    random_order: bool = False
    ansi: bool = True
    lab: SimLab | None = None

    def scaled(self, seconds: float) -> float:
        return max(0.0, seconds * self.time_scale)


def _scenario_name(value: Any, where: str) -> str:
    name = ALIASES.get(str(value), str(value))
    if name not in SCENARIOS:
        raise EmulatorConfigError(f"{where}: unknown scenario `{value}`; use one of {', '.join(SCENARIOS)}")
    return name


def _node_from_json(name: str, data: dict[str, Any]) -> NodeSpec:
    scenario = data.get("scenario", "success")
    spec = NodeSpec(name=name, hostname=str(data.get("hostname", name)))
    if isinstance(scenario, dict):
        spec.scenarios = {str(p): _scenario_name(s, f"node {name}") for p, s in scenario.items()}
    else:
        spec.default_scenario = _scenario_name(scenario, f"node {name}")
    for key in ("ssh_user", "user", "sudo_password", "kernel"):
        if data.get(key) is not None:
            setattr(spec, key, str(data[key]))
    for key in ("magic_rollback", "auto_rollback", "interactive_sudo", "remote_build", "orphan_late_line",
                "canary_exists", "no_sudo"):
        if key in data:
            setattr(spec, key, bool(data[key]))
    if "profiles" in data:
        spec.profiles = [str(p) for p in data["profiles"]] or ["system"]
    if "ssh_opts" in data:
        spec.ssh_opts = [str(o) for o in data["ssh_opts"]]
    if "confirm_timeout" in data:
        spec.confirm_timeout = int(data["confirm_timeout"])
    if data.get("activation_timeout") is not None:
        spec.activation_timeout = int(data["activation_timeout"])
    if "hang_stage" in data:
        spec.hang_stage = str(data["hang_stage"])
    if isinstance(data.get("durations"), dict):
        spec.durations = {str(k): float(v) for k, v in data["durations"].items() if k in DEFAULT_DURATIONS}
    if "duration" in data:  # one number: the whole deploy of the node, spread over the stages
        total = float(data["duration"])
        weight = sum(DEFAULT_DURATIONS[s] for s in ("build", "push", "activate", "confirm"))
        spec.durations = {s: total * DEFAULT_DURATIONS[s] / weight for s in ("build", "push", "activate", "confirm")}
        spec.durations.update({"check": 0.0, "eval": 0.0})
    return spec


def load_config(environ: dict[str, str] | None = None) -> SimConfig:
    """The emulators' configuration from LABTUI_SIM_SCENARIO and/or LABTUI_SIM_LAB."""
    env = os.environ if environ is None else environ
    scenario_path = env.get("LABTUI_SIM_SCENARIO")
    lab_dir = env.get("LABTUI_SIM_LAB")
    if not scenario_path and not lab_dir:
        raise EmulatorConfigError("this is labtui's emulator; set LABTUI_SIM_SCENARIO (a scenario JSON file) "
                                  "or LABTUI_SIM_LAB (a simulated lab directory)")
    data: dict[str, Any] = {}
    if scenario_path:
        try:
            data = json.loads(Path(scenario_path).read_text())
        except (OSError, ValueError) as exc:
            raise EmulatorConfigError(f"cannot read scenario file {scenario_path}: {exc}") from exc
        if not isinstance(data, dict):
            raise EmulatorConfigError(f"scenario file {scenario_path}: expected a JSON object")
    nodes: dict[str, NodeSpec] = {}
    for name, node in (data.get("nodes") or {}).items():
        nodes[str(name)] = _node_from_json(str(name), node if isinstance(node, dict) else {"scenario": node})
    lab = None
    if lab_dir:
        lab = SimLab(lab_dir)
        for name in lab.names():
            host = lab.load(name)
            spec = nodes.get(name)
            if spec is None:
                spec = nodes[name] = NodeSpec(name=name, hostname=name)
            # The lab is live (the demo flips next_deploy while running): it wins over the file.
            spec.scenarios = {}
            spec.default_scenario = _scenario_name(host.next_deploy, f"lab host {name}")
            if not host.reachable:
                spec.default_scenario = "push-fails"
            spec.from_lab = True
    default_scale = 1.0 if scenario_path else DEFAULT_LAB_TIME_SCALE
    if "LABTUI_SIM_TIME_SCALE" in env:
        default_scale = float(env["LABTUI_SIM_TIME_SCALE"])
    config = SimConfig(nodes=nodes, time_scale=float(data.get("time_scale", default_scale)),
                       orphan_late_line=bool(data.get("orphan_late_line", False)),
                       orphan_seconds=data.get("orphan_seconds"), random_order=bool(data.get("random_order", False)),
                       ansi=bool(data.get("ansi", True)), lab=lab)
    for flag, scenario in (("check_fails", "check-fails"), ("eval_fails", "eval-fails")):
        if data.get(flag):
            for spec in config.nodes.values():
                spec.default_scenario = scenario
    return config


def local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "root"


def profile_path(node: NodeSpec, profile: str, lab: SimLab | None) -> str:
    """The store path deploy-rs would deploy: the `activatable-…` buildEnv of the profile."""
    if node.from_lab and lab is not None and profile == "system":
        toplevel = lab.load(node.name).flake_path
        return fake_store_path("activatable-" + toplevel.split("-", 1)[1])
    return fake_store_path(f"activatable-nixos-system-{node.name}-24.05.20240601.5e3b6f0"
                           if profile == "system" else f"activatable-{profile}-generation", node.name)


def toplevel_path(node: NodeSpec, lab: SimLab | None) -> str:
    if node.from_lab and lab is not None:
        return lab.load(node.name).flake_path
    return fake_store_path(f"nixos-system-{node.name}-24.05.20240601.5e3b6f0", node.name)


def start_generation(node: NodeSpec) -> int:
    """A stable generation number for hosts outside a lab (what `Removing generation by ID` shows)."""
    return 20 + int(hashlib.sha256(node.name.encode()).hexdigest()[:4], 16) % 40


class LabEffects:
    """What a deploy does to a simulated host, under the lab's lock.

    - switch (deploy-rs activate, nixos-rebuild switch/test): a new generation (path = the host's
      `flake_path`, number + 1, kernel from the scenario's `kernel` or unchanged) becomes current;
      nothing new when the path is already the newest generation (`nix-env --set` reuses it);
    - boot: the new generation is added, `current` and `booted` stay (it takes effect on reboot);
    - revert (auto/magic rollback, revocation): back to the generations and current of before.
    """

    def __init__(self, lab: SimLab | None) -> None:
        self.lab = lab
        self._before: dict[str, tuple[list[Generation], int]] = {}

    def next_generation(self, node: NodeSpec) -> int:
        if self.lab is None or not node.from_lab:
            return start_generation(node) + 1
        host = self.lab.load(node.name)
        return max(g.number for g in host.generations) + 1 if host.generations else 1

    def apply(self, node: NodeSpec, *, boot: bool = False, note: str = "") -> None:
        if self.lab is None or not node.from_lab:
            return
        with self.lab.update(node.name) as host:
            self._before.setdefault(node.name, ([Generation(**vars(g)) for g in host.generations], host.current))
            newest = max(host.generations, key=lambda g: g.number) if host.generations else None
            if newest is not None and newest.path == host.flake_path:
                number = newest.number
            else:
                base = host.generation(host.current) if host.generations else None
                number = (newest.number + 1) if newest else 1
                host.generations.append(Generation(
                    number=number, date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    path=host.flake_path,
                    nixos_version=_version_in(host.flake_path, node.name) or (base.nixos_version if base else "24.05"),
                    kernel=node.kernel or (base.kernel if base else "6.6.32")))
            if not boot:
                host.current = number
            host.log("deploy-rs" if not note else note,
                     f"{'boot entry for' if boot else 'switched to'} generation {number} ({host.flake_path})")

    def revert(self, node: NodeSpec, why: str) -> None:
        if self.lab is None or not node.from_lab:
            return
        before = self._before.pop(node.name, None)
        with self.lab.update(node.name) as host:
            if before is not None:
                host.generations, host.current = before
            host.log("deploy-rs", f"rolled back to generation {host.current}: {why}", priority=4)

    def note(self, node: NodeSpec, unit: str, message: str, priority: int = 6) -> None:
        if self.lab is None or not node.from_lab:
            return
        with self.lab.update(node.name) as host:
            host.log(unit, message, priority)


_WRAPPER = """#!{python}
# labtui emulator of `{name}` (see labtui/sim/emulators.py); not the real program.
import sys
from {module} import main
sys.exit(main(sys.argv[1:]))
"""


def install_emulators(bin_dir: Path) -> Path:
    """Write executable `deploy`, `nixos-rebuild` and `colmena` into `bin_dir` (created if needed); returns it."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parents[2])
    for name, module in (("deploy", "labtui.sim.deploy_rs"), ("nixos-rebuild", "labtui.sim.nixos_rebuild"),
                         ("colmena", "labtui.sim.colmena")):
        path = bin_dir / name
        text = _WRAPPER.format(python=sys.executable, name=name, module=module)
        # make labtui importable even when it is not installed in that interpreter
        text = text.replace("import sys\n", f"import sys\nsys.path.insert(0, {root!r})\n", 1)
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def _version_in(path: str, name: str) -> str | None:
    """The NixOS version a system path's name carries (`…-nixos-system-web1-25.11.20251120.11e5974`), as the new
    generation's `nixos-version` says it."""
    marker = f"-nixos-system-{name}-"
    return path.rsplit(marker, 1)[1] if marker in path else None
