"""Pictures of `labtui demo` for the README: `python scripts/screenshots.py [OUT_DIR]` (make screenshots).

Runs the real demo lab (SSH servers on loopback, the status poller, the deploy-rs emulator behind the
deploy engine) in a headless terminal, drives it by keys like a person would, and saves SVG
screenshots, plus PNGs when `rsvg-convert` is installed. A full run takes about half a minute
because the deploy shown is real: printer-pi really waits out its confirm timeout and rolls back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable

from labtui.demo.runtime import DemoLab
from labtui.runs.events import RunStarted, StageChanged
from labtui.ssh.api import HostState
from labtui.tui.app import LabApp
from labtui.tui.assemble import build_app, demo_sources
from labtui.tui.deploy_model import RunView
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog, PlanDialog
from labtui.tui.exec_view import ExecDialog, ExecScreen
from labtui.tui.preview_view import DiffScreen, PreviewPanel
from labtui.tui.screens import HistoryScreen

WAIT = 60.0  # seconds any single step may take before the script gives up


async def _until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        await pilot.pause(0.1)


def _png(svg: Path) -> Path | None:
    """PNG next to the SVG. rsvg-convert renders Textual's no-break spaces too narrow, so they are
    turned into plain spaces kept by xml:space="preserve" first."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return None
    text = svg.read_text(encoding="utf-8")
    fixed = text.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False, encoding="utf-8") as tmp:
        tmp.write(fixed)
    png = svg.with_suffix(".png")
    try:
        subprocess.run([tool, "-w", "1400", tmp.name, "-o", str(png)], check=True)
    finally:
        os.unlink(tmp.name)
    return png


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[Path] = []

    async def shoot(self, pilot: Pilot[None], name: str) -> None:
        app = pilot.app
        await pilot.pause()  # let a screen that just opened paint first
        await pilot.pause()
        svg = self.out / f"{name}.svg"
        # The title bar shows the name; the SVG's own ids are derived from it, so they stay stable.
        svg.write_text(app.export_screenshot(title=f"labtui demo: {name}"), encoding="utf-8")
        self.files.append(svg)
        png = _png(svg)
        if png is not None:
            self.files.append(png)


def _all_answered(app: LabApp) -> bool:
    statuses = [app.fleet.statuses.get(h.name) for h in app.inventory.hosts]
    return all(st is not None and (st.answered_at is not None or st.state is HostState.DOWN) for st in statuses) and \
        all(st.drift != "unknown" for st in statuses if st is not None and st.answered_at is not None)


async def _deploy_pictures(pilot: Pilot[None], app: LabApp, shooter: Shooter) -> None:
    """A deploy of the outdated hosts: grey-area succeeds, printer-pi breaks ssh and rolls back."""
    app.table.move_to("grey-area")
    await pilot.press("space")
    app.table.move_to("printer-pi")
    await pilot.press("space", "D")
    await _until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
    await shooter.shoot(pilot, "deploy-dialog")
    await pilot.press("enter")
    await _until(pilot, lambda: isinstance(app.screen, PlanDialog), "deploy-rs' plan")
    await shooter.shoot(pilot, "deploy-plan")
    await pilot.press("y")

    def confirming() -> bool:
        run = app.deploys.active_run
        if run is None or not run.nodes["grey-area"].done:
            return False
        window = run.nodes["printer-pi"].confirm
        return window is not None and app.clock() - window.started > 2.5

    def sync_pane() -> None:
        assert isinstance(app.screen, DeployScreen)
        app.screen.sync()

    await _until(pilot, confirming, "printer-pi's confirm countdown")
    sync_pane()
    await shooter.shoot(pilot, "deploy-countdown")
    await _until(pilot, app.deploys.run_done.is_set, "the end of the run")
    app.clear_notifications()
    sync_pane()
    await pilot.pause()
    await shooter.shoot(pilot, "deploy-rollback")
    await pilot.press("escape", "h")
    await _until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history view")
    await pilot.pause()
    await shooter.shoot(pilot, "history")
    await pilot.press("escape", "question_mark")
    await pilot.pause()
    await shooter.shoot(pilot, "help")


def _recorded_build() -> RunView:
    """A deploy pane's run while labtui builds, from a real Nix 2.8 log (tests/deploy/logs/nix/realise-three-hosts,
    recorded on the testbed flake) read up to the moment a profile build printed its third line: the per-host
    progress and the running builds with their last line."""
    from labtui.deploy.build import BuildParser, NodePlan, parse_plan

    logs = Path(__file__).resolve().parents[1] / "tests" / "deploy" / "logs" / "nix" / "realise-three-hosts"
    argv = (logs / "cmd.txt").read_text().splitlines()[1].split()
    plans = {}
    for plan_file in sorted(logs.glob("plan-*.raw")):
        host = plan_file.stem.removeprefix("plan-")
        planned = parse_plan(plan_file.read_text())
        top = next(a for a in argv if a.endswith(".drv") and f"-{host}-" in a)
        plans[host] = NodePlan(host, (top,), (), frozenset(planned.will_build), frozenset(planned.will_fetch))
    lines = (logs / "output.raw").read_text().splitlines()
    t0 = time.time() - 4
    run = RunView(list(plans))
    run.apply(RunStarted(ts=t0, run_id="20261128-101838-f2bc", method="deploy-rs", nodes=list(plans), argv=[]))
    for host in plans:
        run.apply(StageChanged(ts=t0, node=host, profile=None, stage="build"))
    parser = BuildParser(plans, progress_every=0.0)
    for i, line in enumerate(lines):
        for event in parser.feed(line, t0 + i * 0.02):
            run.apply(event)
        if '"compiling unit 3 of 5"' in line:
            break
    return run


async def _fleet_pictures(pilot: Pilot[None], app: LabApp, shooter: Shooter) -> None:
    """Issue 14 (before the deploy pictures: grey-area and printer-pi are still outdated): fleet exec, the deploy
    dialog's closure diffs and a host's diff, labtui's build of the profiles."""
    await pilot.press("ctrl+a", "exclamation_mark")
    await _until(pilot, lambda: isinstance(app.screen, ExecDialog), "the exec dialog")
    await pilot.press(*"uname -r", "enter")
    await _until(pilot, lambda: isinstance(app.screen, ExecScreen) and not app.screen.running, "the exec's end")
    app.screen.query_one("#exec-rows", DataTable).move_cursor(row=2)
    await pilot.pause()
    await shooter.shoot(pilot, "exec")
    await pilot.press("escape", "escape")  # back, and the marks cleared

    for name in ("grey-area", "printer-pi", "nas"):
        app.table.move_to(name)
        await pilot.press("space")
    await pilot.press("D")
    await _until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
    panel = app.screen.query_one(PreviewPanel)
    await _until(pilot, lambda: panel.preview is not None, "the closure diffs")
    await shooter.shoot(pilot, "deploy-diff")
    panel.query_one("#preview-table", DataTable).focus()
    await pilot.press("d")
    await _until(pilot, lambda: isinstance(app.screen, DiffScreen), "a host's diff")
    await shooter.shoot(pilot, "diff")
    await pilot.press("escape", "escape", "escape")  # the diff, the dialog, the marks

    pane = DeployScreen(_recorded_build(), app.glyphs, app.clock, animate=False,
                        title="deploy-rs switch (parallel): labtui builds first")
    await app.push_screen(pane)
    await pilot.pause()
    pane.sync()  # laid out now: the last-output column gets its width
    await shooter.shoot(pilot, "build-progress")
    await pilot.press("escape")


async def _waves_picture(pilot: Pilot[None], app: LabApp, shooter: Shooter) -> None:
    """A deploy in waves of 1, 1 and the rest: printer-pi (wave 2) breaks ssh and rolls back, nas never starts."""
    app.fleet.marked.clear()
    for name in ("grey-area", "printer-pi", "nas"):
        app.table.move_to(name)
        await pilot.press("space")
    await pilot.press("D")
    await _until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
    app.screen.query_one("#opt-show_plan", Checkbox).value = False
    app.screen.query_one("#opt-skip-unchanged", Checkbox).value = False  # grey-area runs it already: deploy it all
    await pilot.press("w", *"1,2,100%", "enter")
    await _until(pilot, lambda: isinstance(app.screen, DeployScreen), "the deploy pane")
    await _until(pilot, app.deploys.run_done.is_set, "the end of the run in waves")
    app.clear_notifications()
    assert isinstance(app.screen, DeployScreen)
    app.screen.sync()
    await pilot.pause()
    await shooter.shoot(pilot, "waves")
    await pilot.press("escape")


async def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    shooter = Shooter(out)
    # A fresh lab of its own (not the user's kept demo lab): the pictures show the demo as it starts.
    lab_dir = tempfile.mkdtemp(prefix="labtui-screenshots-")
    demo = DemoLab(lab_dir, ticker=False)
    await demo.start()
    demo.apply_env()
    try:
        assert demo.inventory is not None
        for size in ((80, 24), (120, 40)):
            sources = demo_sources(demo)
            app = build_app(demo.inventory, sources, subtitle="demo lab", ansi_colours=False)
            try:
                async with app.run_test(size=size) as pilot:
                    await _until(pilot, partial(_all_answered, app), "the first status of every host")
                    app.table.move_to("nas")
                    await pilot.pause()
                    await shooter.shoot(pilot, f"dashboard-{size[0]}x{size[1]}")
                    if size == (80, 24):
                        await pilot.press("slash", *"@edge", "enter")
                        await pilot.pause()
                        await shooter.shoot(pilot, "filter-80x24")
                    else:
                        await _fleet_pictures(pilot, app, shooter)
                        await _deploy_pictures(pilot, app, shooter)
                        await pilot.press("escape")  # from the help
                        await _waves_picture(pilot, app, shooter)
            finally:
                await sources.aclose()
    finally:
        await demo.close()
        shutil.rmtree(lab_dir, ignore_errors=True)
    return shooter.files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", nargs="?", default="screenshots", help="directory for the pictures")
    args = parser.parse_args(argv)
    os.environ.pop("NO_COLOR", None)  # pictures in colour whatever the shell says
    files = asyncio.run(take(Path(args.out)))
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
