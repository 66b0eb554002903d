"""The TUI on the running demo lab: real SSH status, a real (emulated) deploy-rs run, the journal.

One end-to-end flow, the way `labtui demo` runs: the dashboard fills from the SSH servers, deploying
an outdated host through the dialog really moves it to the flake's generation, and history shows it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from labtui.demo.runtime import DemoLab
from labtui.runs.files import events_path
from labtui.ssh.api import HostState
from labtui.tui.adapters import CoreDeployStarter, JournalHistory
from labtui.tui.assemble import build_app, demo_sources
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog
from labtui.tui.screens import HistoryScreen
from labtui.tui.sources import DeployChoice

DEADLINE = 60.0


async def until(pilot, condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


@pytest.fixture
async def demo(tmp_path, monkeypatch):
    lab = DemoLab(tmp_path / "demo", ticker=False)
    await lab.start()
    for key, value in lab.env.items():  # what apply_env does, undone by monkeypatch
        monkeypatch.setenv(key, value)
    try:
        yield lab
    finally:
        await lab.close()


@pytest.fixture
async def demo_app(demo):
    """The app as `labtui demo` builds it (with its timers)."""
    sources = demo_sources(demo)
    try:
        yield build_app(demo.inventory, sources, subtitle="demo lab")
    finally:
        await sources.aclose()


async def test_demo_dashboard_deploy_and_history(demo, demo_app):
    app = demo_app
    async with app.run_test(size=(100, 30)) as pilot:
        statuses = app.fleet.statuses
        await until(pilot, lambda: all(
            (st := statuses.get(h.name)) is not None and st.state is not HostState.CONNECTING
            for h in app.inventory.hosts), "the first probe of every host")
        assert statuses["old-thinkpad"].state is HostState.DOWN
        assert statuses["nas"].failed_units == ("zfs-scrub.service",)
        await until(pilot, lambda: statuses["grey-area"].drift == "outdated", "grey-area's drift")

        app.table.move_to("grey-area")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
        # No plan question in this run: untick "show deploy-rs' plan" by keyboard.
        app.screen.query_one("#opt-show_plan").focus()
        await pilot.press("space", "enter")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen), "the deploy pane")
        await asyncio.wait_for(app.deploys.run_done.wait(), DEADLINE)
        run = app.deploys.last_run
        assert run is not None and run.outcome == "succeeded", [n.message for n in app._notifications]
        view = run.nodes["grey-area"]
        assert view.outcome == "succeeded" and view.confirmed and view.total_lines > 5
        host = demo.lab.load("grey-area")
        assert host.generation(host.current).path == host.flake_path  # really deployed
        # The simulated host took the deploy lock on itself, as a real one does (no notice that it could not).
        recorded = events_path(run.run_id).read_text()
        assert '"run_started"' in recorded and "deploy lock" not in recorded
        await until(pilot, lambda: statuses["grey-area"].drift == "in sync", "grey-area in sync again")

        await pilot.press("escape", "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "history")
        await until(pilot, lambda: bool(app.screen.runs), "the run in the journal")
        assert app.screen.runs[0].node_outcomes == {"grey-area": "succeeded"}

    # The next run of the demo finds the lab as this one left it: the fleet state and LAST agree.
    await demo.close()
    again = DemoLab(demo.root, ticker=False)
    await again.start()
    try:
        host = again.lab.load("grey-area")
        assert host.generation(host.current).path == host.flake_path
        assert JournalHistory().last_outcome("grey-area") == "succeeded"
    finally:
        await again.close()


async def test_a_run_left_running_is_followed_again_from_history(demo, demo_app):
    """A deploy started elsewhere (or left running when labtui quit) re-attaches from the history view."""

    async def no_password(host: str) -> str | None:
        raise AssertionError(f"no sudo password is asked in the demo ({host})")

    starter = CoreDeployStarter(demo.inventory)
    handle = await starter.start([demo.inventory.get("grey-area")],
                                 DeployChoice(hosts=("grey-area",), show_plan=False), no_password)
    app = demo_app
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        assert any("still running" in n.message for n in app._notifications)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen) and bool(app.screen.runs), "history")
        assert app.screen.runs[0].run_id == handle.run_id and app.screen.runs[0].outcome is None
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen), "the attached deploy pane")
        await asyncio.wait_for(app.deploys.run_done.wait(), DEADLINE)
        assert app.deploys.last_run.nodes["grey-area"].outcome == "succeeded"
        assert app.deploys.last_run.run_id == handle.run_id
