"""Snapshots of the TUI on the frozen demo lab (fixed clock, fixed values) at 80x24 and 120x40.

Update on purpose with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import pytest

from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, deploy_events, frozen_app, frozen_lab

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
NODES = ["grey-area", "printer-pi"]


def _deploy_app(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    return app, clock, deploy, lab


async def _details_settled(pilot) -> None:
    """Bounded wait for the details panel's worker (generations of the selected host) to finish."""
    app = pilot.app
    for _ in range(100):
        await pilot.pause(0.02)
        if app.extras.has_generations(app.table.current):
            break
    await pilot.pause()


async def _start_deploy(pilot, deploy) -> None:
    await pilot.press("space")  # grey-area
    app = pilot.app
    app.table.move_to("printer-pi")
    await pilot.press("space", "D")
    await pilot.pause()
    await pilot.press("enter")
    await deploy.started.wait()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(snap_compare, tmp_path, size):
    app = frozen_app(tmp_path)

    async def select_nas(pilot):
        pilot.app.table.move_to("nas")
        await _details_settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=select_nas)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_dialog(snap_compare, tmp_path, size):
    app, clock, deploy, lab = _deploy_app(tmp_path)

    async def open_dialog(pilot):
        await pilot.press("space", "down", "down", "down", "space")
        await _details_settled(pilot)
        await pilot.press("D")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_dialog)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_pane_mid_run(snap_compare, tmp_path, size):
    """printer-pi waits for confirmation (5 s left of 8), grey-area confirmed."""
    app, clock, deploy, lab = _deploy_app(tmp_path)

    async def mid_run(pilot):
        await _start_deploy(pilot, deploy)
        t0 = clock.now
        deploy.runs[-1].feed_all(deploy_events(lab, NODES, t0, until=t0 + 11.3))
        clock.now = t0 + 11.3
        await pilot.pause()
        pilot.app.screen.sync()

    assert snap_compare(app, terminal_size=size, run_before=mid_run)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_pane_after_rollback(snap_compare, tmp_path, size):
    app, clock, deploy, lab = _deploy_app(tmp_path)

    async def after_rollback(pilot):
        await _start_deploy(pilot, deploy)
        t0 = clock.now
        events = deploy_events(lab, NODES, t0)
        deploy.runs[-1].feed_all(events)
        await pilot.app.deploys.run_done.wait()
        clock.now = events[-1].ts
        await pilot.pause()
        pilot.app.screen.sync()
        pilot.app.clear_notifications()

    assert snap_compare(app, terminal_size=size, run_before=after_rollback)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, tmp_path, size):
    assert snap_compare(frozen_app(tmp_path), terminal_size=size, press=["question_mark"])
