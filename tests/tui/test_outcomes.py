"""One name and one glyph per outcome in every face (issue 12, point 5); the end of a run in view (point 8)."""

from __future__ import annotations

import io
from typing import get_args

from textual.widgets import Log

from labtui.cli.printer import Printer
from labtui.runs.events import NodeResult, Outcome, Output, RunOutcome, RunResult, RunStarted, StageChanged
from labtui.runs.outcomes import NODE_LOOKS, QUEUED, RUN_LOOKS, RUNNING, is_failure
from labtui.tui import format as fmt
from labtui.tui.dashboard import DashboardScreen, HostTable
from labtui.tui.deploy_model import RunView
from labtui.tui.deploy_pane import DeployScreen, DeployTable, HostLogScreen
from labtui.tui.glyphs import ASCII, UNICODE
from labtui.tui.screens import HistoryScreen
from labtui.tui.sources import HistorySource, RunSummary
from tests.support.frozen import FROZEN_NOW, RUN_ID, FrozenClock, ScriptedDeploy, frozen_app
from tests.tui.test_flows import SIZE, _open_deploy, _settle

SMALL = (80, 24)


def test_every_outcome_has_its_word_and_its_own_glyph():
    assert set(get_args(Outcome)) == set(NODE_LOOKS)
    assert set(get_args(RunOutcome)) == set(RUN_LOOKS)
    for name, look in {**NODE_LOOKS, **RUN_LOOKS}.items():
        assert look.word == name  # the core's name, the same in the TUI, the CLI and JSON
        assert len(look.ascii) == 1 and look.ascii.isascii()
    shown_together = [*NODE_LOOKS.values(), RUNNING, QUEUED]  # the deploy pane's glyph column
    assert len({look.glyph for look in shown_together}) == len(shown_together)
    assert len({look.ascii for look in shown_together}) == len(shown_together)
    assert NODE_LOOKS["not_deployed"].glyph != QUEUED.glyph
    assert {name for name in NODE_LOOKS if is_failure(name)} == set(NODE_LOOKS) - {"succeeded", "dry_activated"}


def test_tui_and_cli_use_the_same_words():
    for outcome in NODE_LOOKS:
        glyph, word, _ = fmt.outcome_cell(UNICODE, outcome)
        assert (glyph, word) == (NODE_LOOKS[outcome].glyph, outcome)
        assert fmt.outcome_cell(ASCII, outcome)[0] == NODE_LOOKS[outcome].ascii
        out = io.StringIO()
        Printer(out, color=False).event(NodeResult(ts=FROZEN_NOW, node="web1", profile=None, outcome=outcome,
                                                   stage="push", message="why"))
        assert f"web1: {outcome}" in out.getvalue()
    assert fmt.run_cell(UNICODE, None)[1] == "running" and fmt.run_cell(UNICODE, "lost")[1] == "lost"


def _push_failure(t0: float) -> list:
    return [
        RunStarted(ts=t0, run_id=RUN_ID, method="deploy-rs", nodes=["grey-area", "printer-pi"], argv=["deploy"]),
        StageChanged(ts=t0 + 1, node="grey-area", profile="system", stage="push"),
        Output(ts=t0 + 2, node="grey-area", stage="push", line="🚀 ❌ [deploy] [ERROR] Failed to push profile"),
        NodeResult(ts=t0 + 3, node="grey-area", profile="system", outcome="failed", stage="push",
                   message="Failed to push profile to grey-area: ssh exited 255"),
        NodeResult(ts=t0 + 3, node="printer-pi", profile="system", outcome="not_deployed", stage="push",
                   message="not deployed: push of grey-area.system failed"),
        RunResult(ts=t0 + 3, outcome="failed", exit_code=1, message="push of grey-area.system failed"),
    ]


async def test_a_push_failure_reads_failed_with_a_first_failure_line_and_f(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("space")  # grey-area
        app.table.move_to("printer-pi")
        await pilot.press("space")
        run = await _open_deploy(app, pilot, deploy)
        run.feed_all(_push_failure(clock.now))
        await app.deploys.run_done.wait()
        await pilot.pause()
        pane = app.screen
        assert isinstance(pane, DeployScreen)
        pane.sync()
        table = pane.query_one(DeployTable)
        assert (str(table.get_cell("grey-area", "st")), str(table.get_cell("grey-area", "stage"))) == ("✘", "failed")
        assert str(table.get_cell("grey-area", "line")).startswith("push: Failed to")  # the summary has it all
        assert str(table.get_cell("printer-pi", "st")) == "∅"  # not the queued glyph
        summary = pane.summary_text().plain
        assert "run failed" in summary and "1 failed, 1 not_deployed" in summary
        assert "first failure: grey-area: Failed to push profile" in summary
        assert not app._notifications  # the summary says it; no toast over it
        await pilot.press("o")  # no output outside the hosts': no key for it, no empty screen
        assert app.screen is pane
        await pilot.press("f")
        assert isinstance(app.screen, HostLogScreen) and app.screen.node == "grey-area"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, DashboardScreen)
        hosts = app.query_one("#hosts", HostTable)
        assert str(hosts.get_cell("grey-area", "last")) == "✘" and str(hosts.get_cell("printer-pi", "last")) == "∅"


def test_any_non_success_is_a_failure_to_jump_to():
    for outcome in ("not_deployed", "cancelled", "unknown", "failed", "rolled_back"):
        run = RunView(["a", "b"])
        run.apply(NodeResult(ts=1, node="a", profile=None, outcome="succeeded", stage="activate", message=""))
        run.apply(NodeResult(ts=1, node="b", profile=None, outcome=outcome, stage="push", message="x"))
        assert run.first_failure() == "b", outcome
    run = RunView(["a"])
    run.apply(RunResult(ts=2, outcome="lost", exit_code=None))
    assert run.nodes["a"].outcome == "unknown" and run.first_failure() == "a"


class CancelledHistory(HistorySource):
    def list_runs(self, host=None):
        return [RunSummary(run_id="r1", started=FROZEN_NOW - 60, finished=FROZEN_NOW - 50, method="deploy-rs switch",
                           nodes=("grey-area",), outcome="cancelled", node_outcomes={"grey-area": "cancelled"})]

    def run_events(self, run_id):
        return []

    def last_outcome(self, host):
        return "cancelled" if host == "grey-area" else None


async def test_a_cancelled_run_says_cancelled_in_pane_header_history_and_dashboard(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy, history=CancelledHistory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        assert str(app.query_one("#hosts", HostTable).get_cell("grey-area", "last")) == "⊘"
        run = await _open_deploy(app, pilot, deploy)
        run.feed(RunStarted(ts=clock.now, run_id=RUN_ID, method="deploy-rs", nodes=["grey-area"], argv=["deploy"]))
        run.feed(StageChanged(ts=clock.now, node="grey-area", profile="system", stage="build"))
        await pilot.pause()
        await pilot.press("x", "y")
        await app.deploys.run_done.wait()
        await pilot.pause()
        pane = app.screen
        pane.sync()
        assert str(pane.query_one(DeployTable).get_cell("grey-area", "stage")) == "cancelled"
        assert "1 cancelled" in str(pane.query_one("#run-header").render())
        assert "run cancelled" in pane.summary_text().plain
        await pilot.press("escape", "h")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        row = app.screen.query_one("#history").get_row_at(0)
        assert str(row[1]) == "⊘ cancelled" and str(row[3]) == "⊘grey-area"


async def test_after_a_run_the_output_panel_shows_its_last_line(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        run = await _open_deploy(app, pilot, deploy)
        t0 = clock.now
        run.feed(RunStarted(ts=t0, run_id=RUN_ID, method="deploy-rs", nodes=["grey-area"], argv=["deploy"]))
        for i in range(40):
            run.feed(Output(ts=t0 + i / 10, node="grey-area", stage="build", line=f"line {i}"))
        run.feed(NodeResult(ts=t0 + 5, node="grey-area", profile="system", outcome="rolled_back", stage="confirm",
                            message="no confirmation within 8 s: the target rolled back by itself (magic rollback); "
                                    "Failed to get activation confirmation: Error waiting for confirmation event"))
        run.feed(Output(ts=t0 + 5, node="grey-area", stage=None, line="the last line: rolled back"))
        run.feed(RunResult(ts=t0 + 6, outcome="failed", exit_code=1))
        await app.deploys.run_done.wait()
        pane = app.screen
        for _ in range(3):
            pane.sync()
            await pilot.pause()
        tail = pane.query_one("#tail", Log)
        assert tail.lines[-1] == "the last line: rolled back"
        assert tail.scroll_offset.y + tail.scrollable_content_region.height >= tail.line_count  # the end is in view
        assert not tail.show_horizontal_scrollbar
        assert "first failure: grey-area" in str(pane.query_one("#run-summary").render())
