"""The TUI on the running demo lab: real SSH status, a real (emulated) deploy-rs run, the journal.

One end-to-end flow, the way `labtui demo` runs: the dashboard fills from the SSH servers, deploying
an outdated host through the dialog really moves it to the flake's generation, and history shows it.
"""

from __future__ import annotations

import asyncio
import html
import re
import shlex
import time

import pytest

from labtui.demo.runtime import DemoLab
from labtui.runs.files import events_path
from labtui.ssh.api import HostState
from labtui.tui.adapters import CoreDeployStarter, JournalHistory
from labtui.tui.assemble import build_app, demo_sources
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog, PlanDialog
from labtui.tui.screens import CommandLogScreen, HistoryScreen
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


async def test_declining_deploy_rs_plan_cancels_the_run(demo, demo_app):
    """`n` to deploy-rs's own plan question: the operator chose not to deploy, so the pane, LAST and history say
    `cancelled` (run and host), not `failed` / `not_deployed`; the host keeps its generation."""
    app = demo_app
    async with app.run_test(size=(80, 24)) as pilot:
        statuses = app.fleet.statuses
        await until(pilot, lambda: (st := statuses.get("grey-area")) is not None and st.drift == "outdated",
                    "grey-area's drift")
        before = demo.lab.load("grey-area").current
        app.table.move_to("grey-area")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
        await pilot.press("enter")  # deploy-rs shows its plan and asks
        await until(pilot, lambda: isinstance(app.screen, PlanDialog), "deploy-rs's plan question")
        await pilot.press("n")
        await asyncio.wait_for(app.deploys.run_done.wait(), DEADLINE)
        run = app.deploys.last_run
        assert run is not None and run.outcome == "cancelled"
        assert run.nodes["grey-area"].outcome == "cancelled"
        assert demo.lab.load("grey-area").current == before
        await until(pilot, lambda: isinstance(app.screen, DeployScreen), "the deploy pane")
        await pilot.pause()
        shown = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
        assert "cancelled" in shown and "failed" not in shown and "not_deployed" not in shown
        await pilot.press("escape", "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "history")
        await until(pilot, lambda: bool(app.screen.runs) and app.screen.runs[0].outcome is not None, "the run")
        assert app.screen.runs[0].outcome == "cancelled"
        assert app.screen.runs[0].node_outcomes == {"grey-area": "cancelled"}
    assert JournalHistory().last_outcome("grey-area") == "cancelled"


async def test_the_command_log_shows_the_status_probe_once_as_run_by_hand(demo, demo_app, capsys, monkeypatch):
    """`@`: the probe (`/bin/sh -s labtui-probe 1 follow`, its script on stdin, does nothing when copied) is one row
    per host reading `labtui status nas`; copied and run by hand it probes nas the same way."""
    from labtui.cli.main import main

    app = demo_app
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: (st := app.fleet.statuses.get("nas")) is not None
                    and st.state is not HostState.CONNECTING, "nas's first probe")
        await pilot.press("r")  # a second probe of every host
        await until(pilot, lambda: any(r.where == "nas" and r.shown == "labtui status nas"
                                       for r in app.command_log.records()), "nas's probe in the log")
        await pilot.press("at")
        await until(pilot, lambda: isinstance(app.screen, CommandLogScreen), "the command log")
        screen = app.screen
        shown = screen._records()
        assert not any("/bin/sh -s" in r.shown for r in shown)
        probes = [i for i, r in enumerate(shown) if r.where == "nas" and r.shown.startswith("labtui status")]
        assert len(probes) == 1, [r.shown for r in shown if r.where == "nas"]
        screen.query_one("#commands").move_cursor(row=probes[0])
        await pilot.pause()
        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        await pilot.press("y")
        assert copied == ["labtui status nas"]
        table_text = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
        assert "labtui status nas" in table_text
    capsys.readouterr()
    argv = shlex.split(copied[0])
    assert argv[0] == "labtui"
    monkeypatch.chdir(demo.flake_dir)  # where `labtui demo --shell` runs it
    code = await asyncio.to_thread(main, argv[1:])
    assert code == 1  # nas has a failed unit: degraded
    out = capsys.readouterr().out
    assert "nas" in out and "zfs-scrub" in out


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
