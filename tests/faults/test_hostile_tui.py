"""Issue 11 point 1 in the TUI: what a host sends is displayed with its control characters escaped, and never
read as Rich/Textual markup (a unit called `[bold red]boom[/]` reads just so).

Each case checks what is on screen (`export_screenshot`, the cells the terminal gets) and, where a widget holds
lines, the widget's own content.
"""

from __future__ import annotations

import html
import re
import time

from textual.widgets import Log

from labtui.ops.checks import CheckResult
from labtui.runs.events import NodeResult, Output, PlanEntry, Prompt, RunResult, RunStarted, StageChanged
from labtui.text import harmless
from labtui.tui.adapters import CoreOps
from labtui.tui.assemble import build_app
from labtui.tui.deploy_pane import DeployScreen, DeployTable, HostLogScreen
from labtui.tui.dialogs import PasswordDialog, PlanDialog
from labtui.tui.screens import CommandLogScreen, HistoryScreen, LogScreen, TextScreen
from labtui.tui.sources import RunSummary, Sources
from tests.faults.harness import HOSTILE, MARKUP
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, frozen_lab
from tests.support.sim_shell import SimShell
from tests.support.sim_status import SimStatusSource

SIZE = (140, 40)
SHOWN = harmless(HOSTILE)
EVIL = f"{HOSTILE} {MARKUP}"


def on_screen(app) -> str:
    """The text the terminal shows now (every cell), as one string without line breaks."""
    svg = app.export_screenshot()
    text = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
    assert "\x1b" not in text and "\x07" not in text  # no raw control character reached a cell
    return text


def assert_shown(app, *pieces: str) -> None:
    text = on_screen(app)
    for piece in pieces:
        assert piece in text, (piece, text)


class HostileOps(CoreOps):
    """The simulated hosts, with a check whose result quotes what the host printed."""

    def checks(self, host):
        async def results():
            yield CheckResult(host.name, f"probe {MARKUP}", "command", False, 1, f"exit 1: {HOSTILE}", 0.1)

        return results()


class HostileHistory:
    """A journal whose runs name what hosts sent (a node message, a method as recorded)."""

    CAN_ATTACH = False

    def list_runs(self, host=None):
        return [RunSummary(run_id="20261126-120000-beef", started=FROZEN_NOW, finished=FROZEN_NOW + 5,
                           method=f"deploy-rs {MARKUP}", nodes=("nas",), outcome="failed",
                           node_outcomes={"nas": "failed"})]

    def run_events(self, run_id):
        return []

    def last_outcome(self, host):
        return None

    def running_runs(self):
        return []


def hostile_app(tmp_path, clock=None, **sources):
    lab, inventory = frozen_lab(tmp_path)
    with lab.update("nas") as nas:
        nas.units[f"{EVIL}.service"] = "failed"
        nas.generations[-1].nixos_version = f"25.11 {EVIL}"
        nas.log(f"{EVIL}.service", f"logger says {EVIL}", priority=3)
    sources.setdefault("ops", HostileOps(SimShell(lab), inventory))
    app = build_app(inventory, Sources(status=SimStatusSource(lab, lambda: FROZEN_NOW), **sources),
                    clock=clock or FrozenClock(FROZEN_NOW + 4), subtitle="demo lab",
                    animate=False)
    return app, lab


async def _on(app, pilot, host: str) -> None:
    await pilot.pause()
    app.table.move_to(host)
    await pilot.pause()


async def test_dashboard_details_show_a_hostile_unit_escaped_not_as_markup(tmp_path):
    app, _ = hostile_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _on(app, pilot, "nas")
        assert_shown(app, "x\\x1b[2J\\x1b[H", "[bold red]boom[/]")
        await pilot.press("enter")  # the details, full screen
        await pilot.pause()
        assert_shown(app, f"failed {SHOWN} [bold red]boom[/]", "nixos 25.11 x\\x1b[2J")


async def test_journal_view_escapes_what_logger_wrote(tmp_path):
    app, _ = hostile_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _on(app, pilot, "nas")
        await pilot.press("l")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogScreen)
        log = screen.query_one(Log)
        for _ in range(100):  # the stream arrives in batches of LOG_FLUSH
            if any("logger says" in line for line in log.lines):
                break
            await pilot.pause(0.05)
        line = next(line for line in log.lines if "logger says" in line)
        assert line.endswith(f"{SHOWN} {MARKUP}.service[err]: logger says {SHOWN} {MARKUP}")
        assert_shown(app, f"{SHOWN} [bold red]boom[/]"[:50])  # the start of the line: it is wider than the view


async def test_checks_and_generations_views_escape_the_hosts_text(tmp_path):
    app, _ = hostile_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _on(app, pilot, "nas")
        await pilot.press("c")
        for _ in range(100):
            if isinstance(app.screen, TextScreen) and any("exit 1" in line for line in app.screen._all):
                break
            await pilot.pause(0.05)
        assert any(f"probe {MARKUP}" in line and f"exit 1: {SHOWN}" in line for line in app.screen._all)
        assert_shown(app, "[bold red]boom[/]", "exit 1: x\\x1b[2J")
        await pilot.press("escape", "g")
        for _ in range(100):
            if isinstance(app.screen, TextScreen) and any("25.11" in line for line in app.screen._all):
                break
            await pilot.pause(0.05)
        assert_shown(app, "25.11 x\\x1b[2J")


async def test_deploy_pane_plan_password_and_toasts_escape_remote_text(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app, _ = hostile_app(tmp_path, deploy=deploy, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await _on(app, pilot, "nas")
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("enter")
        await deploy.started.wait()
        await pilot.pause()
        run = deploy.runs[-1]
        t = FROZEN_NOW + 100
        run.feed_all([RunStarted(ts=t, run_id=run.run_id, method="deploy-rs", nodes=["nas"], argv=["deploy"]),
                      StageChanged(ts=t, node="nas", profile="system", stage="activate"),
                      Output(ts=t, node="nas", stage="activate", line=f"switching {EVIL}"),
                      StageChanged(ts=t, node="nas", profile="system", stage="confirm")])  # flushes the lines
        for _ in range(100):
            if isinstance(app.screen, DeployScreen) and app.deploys.active_run.nodes.get("nas") \
                    and app.deploys.active_run.nodes["nas"].last_line:
                break
            await pilot.pause(0.05)
        app.screen.sync()
        await pilot.pause()
        table = app.screen.query_one(DeployTable)
        assert str(table.get_cell("nas", "line")).startswith(f"switching {SHOWN}")
        assert any(f"switching {SHOWN} {MARKUP}" in line for line in app.screen.query_one("#tail", Log).lines)
        assert_shown(app, "switching x\\x1b[2J", "[bold red]boom[/]")
        # deploy-rs's plan and a sudo prompt name hosts as deploy-rs printed them.
        plan = Prompt(ts=t, plan=[PlanEntry(node="nas", profile="system", user="root", ssh_user="root",
                                            hostname=EVIL, path=f"/nix/store/abc-{EVIL}")],
                      question=f"Are you sure? {EVIL}")
        app.push_screen(PlanDialog(plan))
        await pilot.pause()
        assert_shown(app, f"Are you sure? {SHOWN}", "root@x\\x1b[2J")
        app.pop_screen()
        app.push_screen(PasswordDialog(EVIL))
        await pilot.pause()
        assert_shown(app, "sudo password for x\\x1b[2J")  # a narrow dialog: the rest wraps
        app.pop_screen()
        # The run fails with the host's words; the toast shows them too.
        run.feed_all([NodeResult(ts=t + 1, node="nas", profile="system", outcome="failed", stage="activate",
                                 message=f"activation said {EVIL}"),
                      RunResult(ts=t + 1, outcome="failed", exit_code=1)])
        await app.deploys.run_done.wait()
        await pilot.pause()
        app.screen.sync()
        assert_shown(app, f"first failure: nas: activation said {SHOWN}")
        app.run_failed(f"deploy failed: {EVIL}")
        await pilot.pause()
        toast = next(n for n in app._notifications if "deploy failed: x" in n.message)
        assert toast.message == f"deploy failed: {SHOWN} {MARKUP}" and not toast.markup
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, HostLogScreen)
        assert any(line == f"switching {SHOWN} {MARKUP}" for line in app.screen.query_one(Log).lines)
        copied = []
        app.copy_to_clipboard = copied.append
        app.screen.action_copy()
        assert copied and "\x1b" not in copied[0] and SHOWN in copied[0]


async def test_history_and_command_log_cells_are_never_markup(tmp_path):
    app, _ = hostile_app(tmp_path, history=HostileHistory())
    async with app.run_test(size=SIZE) as pilot:
        await _on(app, pilot, "nas")
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert_shown(app, f"deploy-rs {MARKUP}"[:30])
        await pilot.press("escape")
        app.command_log.remote("nas", f"journalctl --unit='[bold]x[/]' {HOSTILE}")
        app.action_command_log()
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)
        assert_shown(app, "--unit='[bold]x[/]' x\\x1b[2J")


async def test_host_log_of_a_replayed_run_escapes_lines(tmp_path):
    """The full log of a host (Enter in the deploy pane) writes each line harmless, in ASCII mode too."""
    from labtui.tui.deploy_model import RunView

    app, _ = hostile_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = RunView()
        now = time.time()
        for event in (RunStarted(ts=now, run_id="r", method="deploy-rs", nodes=["nas"], argv=[]),
                      Output(ts=now, node="nas", stage="build", line=f"building {EVIL}")):
            view.apply(event)
        for ascii_mode in (False, True):
            app.push_screen(HostLogScreen(view, "nas", live=False, ascii_mode=ascii_mode))
            await pilot.pause()
            assert app.screen.query_one(Log).lines[-1].startswith(f"building {SHOWN}")
            assert_shown(app, "building x\\x1b[2J")
            app.pop_screen()
