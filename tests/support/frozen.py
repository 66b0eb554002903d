"""The demo lab frozen in time, for snapshot tests, Pilot tests and benchmarks (test support).

`frozen_app()` builds the TUI (through `build_app`, as `labtui` does) over the demo hosts with a fixed clock, fixed
ports and status read in-process (no SSH), so every run paints the same screen. `ScriptedDeploy` is a deploy starter
whose events the caller feeds (`feed`, `feed_all`), and `deploy_events()` writes the events a real deploy-rs run of
the demo hosts produces (printer-pi breaks ssh and rolls back after its confirm timeout), with timestamps relative
to a start time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from labtui.demo.inventory import DEMO_ACTIVATION_TIMEOUT, DEMO_CONFIRM_TIMEOUT, demo_inventory
from labtui.demo.lab import create_demo_lab
from labtui.inventory.model import Host, Inventory
from labtui.runs.events import (
    ActivationWindow,
    Confirmed,
    ConfirmWindow,
    NodeResult,
    Output,
    PlanEntry,
    Prompt,
    Rollback,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
)
from labtui.sim.state import SimLab, fake_store_path
from labtui.tui.adapters import CoreOps
from labtui.tui.app import LabApp
from labtui.tui.assemble import build_app
from labtui.tui.sources import (
    DeployChoice,
    DeployHandle,
    DeployStarter,
    ExecSource,
    HistorySource,
    PasswordAsker,
    PreviewSource,
    Sources,
)
from tests.support.sim_shell import SimShell
from tests.support.sim_status import SimStatusSource

# A fixed moment (2026-11-26 12:00:00 UTC).
FROZEN_NOW = 1795694400.0
FIRST_PORT = 22001
RUN_ID = "20261126-120000-d3m0"


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = FROZEN_NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def frozen_lab(root: str | Path) -> tuple[SimLab, Inventory]:
    root = Path(root)
    lab = create_demo_lab(root / "hosts", now=FROZEN_NOW)
    ports = {name: FIRST_PORT + i for i, name in enumerate(lab.names())}
    inventory = demo_inventory(root / "flake", ports, root / "ssh" / "id_ed25519", root / "ssh" / "known_hosts")
    return lab, inventory


class ScriptedRun:
    """A DeployHandle whose events come from `feed()`; records cancel and prompt answers."""

    detachable = False

    def __init__(self, clock: Callable[[], float], run_id: str = RUN_ID) -> None:
        self.clock = clock
        self.run_id = run_id
        self.queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self.cancelled = False
        self.cancelled_nodes: list[str] = []
        self.answers: list[bool] = []
        self.answered = asyncio.Event()

    def feed(self, event: RunEvent) -> None:
        self.queue.put_nowait(event)
        if isinstance(event, RunResult):
            self.queue.put_nowait(None)

    def feed_all(self, events: list[RunEvent]) -> None:
        for event in events:
            self.feed(event)

    async def events(self) -> AsyncIterator[RunEvent]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    async def cancel(self, node: str | None = None) -> None:
        if node is not None:  # as the orchestrator does: that host stops, the others go on
            self.cancelled_nodes.append(node)
            self.feed(NodeResult(ts=self.clock(), node=node, profile=None, outcome="cancelled", stage=None,
                                 message="cancelled by the operator"))
            return
        self.cancelled = True
        self.feed(RunResult(ts=self.clock(), outcome="cancelled", exit_code=130))

    async def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        self.answers.append(yes)
        self.answered.set()


class ScriptedDeploy:
    """A deploy starter handing out ScriptedRuns; `runs[-1]` is the latest."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.runs: list[ScriptedRun] = []
        self.choices: list[DeployChoice] = []
        self.started = asyncio.Event()

    async def start(self, hosts: Sequence[Host], choice: DeployChoice, ask_password: PasswordAsker) -> DeployHandle:
        run = ScriptedRun(self.clock)
        self.runs.append(run)
        self.choices.append(choice)
        self.started.set()
        return run


def frozen_app(root: str | Path, *, clock: Callable[[], float] | None = None, deploy: DeployStarter | None = None,
               history: HistorySource | None = None, exec: ExecSource | None = None,
               preview: PreviewSource | None = None, **options: Any) -> LabApp:
    """The TUI on the frozen lab: status read in-process at FROZEN_NOW, logs, checks and generations over the
    simulated shell, no timers (pass animate=True for them)."""
    lab, inventory = frozen_lab(root)
    sources = Sources(status=SimStatusSource(lab, lambda: FROZEN_NOW), deploy=deploy, history=history,
                      ops=CoreOps(SimShell(lab), inventory, poll=0.05, timeout=10.0), exec=exec, preview=preview)
    options.setdefault("subtitle", "demo lab")
    options.setdefault("animate", False)
    options.setdefault("ansi_colours", False)  # the same picture whatever TERM the tests run under
    return build_app(inventory, sources, clock=clock or FrozenClock(FROZEN_NOW + 4), **options)


def deploy_events(lab: SimLab, nodes: list[str], t0: float, *, until: float | None = None,
                  interactive: bool = False) -> list[RunEvent]:
    """Events of a parallel deploy-rs run of `nodes` starting at t0, cut at `until` (None: to the end).

    Hosts whose `next_deploy` is `breaks-ssh` never confirm: magic rollback after the confirm timeout.
    """
    events: list[RunEvent] = [RunStarted(ts=t0, run_id=RUN_ID, method="deploy-rs", nodes=list(nodes),
                                      argv=["deploy", "--skip-checks", ".#" + nodes[0]])]
    if interactive:
        plan = [PlanEntry(node=n, profile="system", user="root", ssh_user="root", hostname="127.0.0.1",
                          path=lab.load(n).flake_path) for n in nodes]
        events.append(Prompt(ts=t0 + 0.5, plan=plan))
    finals = []
    for i, node in enumerate(nodes):
        host = lab.load(node)
        t = t0 + 0.3 * i
        new = host.flake_path if host.flake_path != host.generation(host.current).path else fake_store_path(
            f"nixos-system-{node}-next", salt="demo")
        gen = host.current + 1

        def at(dt: float, event_cls: Callable[..., RunEvent], t: float = t, **fields: Any) -> None:
            events.append(event_cls(ts=t + dt, **fields))

        at(1.0, StageChanged, node=node, profile="system", stage="build")
        at(1.1, Output, node=node, stage="build",
           line=f"🚀 ℹ️ [deploy] [INFO] Building profile `system` for node `{node}`")
        at(3.0, Output, node=node, stage="build", line=f"building '/nix/store/{new[11:43]}-nixos-system-{node}.drv'...")
        at(4.0, StageChanged, node=node, profile="system", stage="push")
        at(4.1, Output, node=node, stage="push", line=f"🚀 ℹ️ [deploy] [INFO] Copying profile `system` to node `{node}`")
        at(5.5, Output, node=node, stage="push", line=f"copying path '{new}' to 'ssh://root@127.0.0.1'...")
        at(6.0, StageChanged, node=node, profile="system", stage="activate")
        at(6.0, ActivationWindow, node=node, profile="system", seconds=DEMO_ACTIVATION_TIMEOUT)
        at(6.1, Output, node=node, stage="activate", source="activate",
           line="⭐ ℹ️ [activate] [INFO] Activating profile")
        at(6.8, Output, node=node, stage="activate", source="activate",
           line=f"switching profile from version {host.current} to {gen}")
        at(7.5, Output, node=node, stage="activate", source="activate",
           line="⭐ ℹ️ [activate] [INFO] Activation succeeded!")
        at(7.6, ConfirmWindow, node=node, profile="system", seconds=DEMO_CONFIRM_TIMEOUT)
        at(7.6, Output, node=node, stage="confirm", source="activate",
           line="⭐ ℹ️ [activate] [INFO] Waiting for confirmation event...")
        if host.next_deploy == "breaks-ssh":
            end = 7.6 + DEMO_CONFIRM_TIMEOUT
            at(end, Output, node=node, stage="confirm", source="activate",
               line="⭐ ❌ [activate] [ERROR] Failed to get activation confirmation: Error waiting for confirmation "
                    "event: Timeout elapsed for confirmation")
            at(end + 0.1, Rollback, node=node, profile="system", rollback_kind="magic", generation_removed=gen)
            finals.append(NodeResult(ts=t + end + 0.2, node=node, profile="system", outcome="rolled_back",
                                     stage="confirm", message=f"no confirmation within {DEMO_CONFIRM_TIMEOUT} s: "
                                     f"rolled back to generation {host.current}"))
        else:
            at(8.4, Output, node=node, stage="confirm", line="🚀 ℹ️ [deploy] [INFO] Success activating, attempting "
               "to confirm activation")
            at(8.9, Confirmed, node=node, profile="system")
            finals.append(NodeResult(ts=t + 9.0, node=node, profile="system", outcome="succeeded", stage=None))
    events.extend(finals)
    events.sort(key=lambda e: e.ts)
    last = max(e.ts for e in events)
    ok = all(r.outcome == "succeeded" for r in finals)
    events.append(RunResult(ts=last + 0.1, outcome="succeeded" if ok else "failed", exit_code=0 if ok else 1))
    if until is not None:
        events = [e for e in events if e.ts <= until]
    return events
