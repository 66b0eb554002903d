"""Pilot tests of the TUI's flows on the frozen demo lab (in-process status, scripted deploys)."""

from __future__ import annotations

from textual.widgets import Log

from labtui.runs.events import RunResult
from labtui.tui.dashboard import DetailsScreen, HostTable
from labtui.tui.deploy_pane import DeployScreen, DeployTable, HostLogScreen
from labtui.tui.dialogs import DeployDialog, PlanDialog, QuitDialog, TypeNameDialog
from labtui.tui.screens import CommandLogScreen, GenerationsScreen, HelpScreen, HistoryScreen, TextScreen
from labtui.tui.sources import HistorySource, RunSummary
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, deploy_events, frozen_app, frozen_lab

SIZE = (100, 30)


def _table(app) -> HostTable:
    return app.query_one("#hosts", HostTable)


async def _settle(app, pilot) -> None:
    await pilot.pause()
    await pilot.pause()


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Bounded wait for a UI condition (e.g. a modal that opens after the prompt-gathering delay)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def _select(app, pilot, name: str) -> None:
    _table(app).move_to(name)
    await pilot.pause()


async def test_dashboard_lists_every_host_with_its_state(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        assert app.fleet.shown == sorted(app.fleet.hosts)
        assert table.row_count == 7
        assert str(table.get_cell("grey-area", "drift")).startswith("≠")
        assert str(table.get_cell("nas", "fail")) == "1"
        assert str(table.get_cell("little-rascal", "boot")) == "⟳"
        assert str(table.get_cell("old-thinkpad", "load")) == "-"


async def test_filter_by_regex_tag_and_negation(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("slash", *"@edge", "enter")
        assert app.fleet.shown == ["printer-pi", "reverse-proxy"]
        await pilot.press("slash", "ctrl+u", *"^(g|s)", "enter")
        assert app.fleet.shown == ["grey-area", "sleeper-service"]
        await pilot.press("slash", "ctrl+u", *"@server !nas", "enter")
        assert app.fleet.shown == ["grey-area", "sleeper-service"]
        await pilot.press("escape")  # clears the filter
        assert len(app.fleet.shown) == 7


async def test_mark_hosts_and_sort(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("space", "space")  # marks the first two rows, moving down
        assert app.fleet.targets(_table(app).current) == ["grey-area", "little-rascal"]
        await pilot.press("escape")
        assert app.fleet.marked == set()
        await pilot.press("s", "s", "s")  # name -> state -> load -> mem
        assert app.fleet.sort_key == "mem"
        await pilot.press("S")
        assert app.fleet.shown[0] == "nas"  # highest memory use first
        await pilot.press("ctrl+a")
        assert app.fleet.marked == set(app.fleet.shown)


async def test_details_and_help(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "little-rascal")
        await pilot.press("enter")
        assert isinstance(app.screen, DetailsScreen)
        text = app.screen.text.plain
        assert "reboot" in text and "needed" in text and "little-rascal" in text
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def _open_deploy(app, pilot, deploy: ScriptedDeploy, keys=("enter",)):
    await pilot.press("D")
    await pilot.pause()
    assert isinstance(app.screen, DeployDialog)
    await pilot.press(*keys)
    await deploy.started.wait()
    await pilot.pause()
    return deploy.runs[-1]


async def test_deploy_with_confirmation_countdown_and_rollback(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    bells = []
    app.bell = lambda: bells.append(True)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("space")
        await _select(app, pilot, "printer-pi")
        await pilot.press("space")
        run = await _open_deploy(app, pilot, deploy)
        assert deploy.choices[-1].hosts == ("grey-area", "printer-pi")
        assert deploy.choices[-1].method == "deploy-rs" and deploy.choices[-1].action == "switch"
        assert isinstance(app.screen, DeployScreen)
        t0 = clock.now
        events = deploy_events(lab, ["grey-area", "printer-pi"], t0)
        # Up to printer-pi's confirm window: the countdown runs from the event's deadline.
        run.feed_all([e for e in events if e.ts <= t0 + 8.0])
        clock.now = t0 + 8.0 + 0.3 + 3.0  # printer-pi's window opened at t0+7.9: 3.4 s gone
        await pilot.pause()
        app.screen.sync()
        table = app.screen.query_one(DeployTable)
        view = app.deploys.active_run.nodes["printer-pi"]
        assert view.confirm is not None and view.confirm.seconds == 8
        timer = str(table.get_cell("printer-pi", "timer"))
        assert timer.startswith("C ") and timer.endswith(" 5s"), timer
        # The deadline passes; the rollback arrives and stays on the row after the run ends.
        run.feed_all([e for e in events if e.ts > t0 + 8.0])
        await app.deploys.run_done.wait()
        await pilot.pause()
        app.screen.sync()
        assert "magic rollback" in str(table.get_cell("printer-pi", "timer"))
        assert str(table.get_cell("grey-area", "stage")) == "succeeded"
        assert app.deploys.active_run.outcome == "failed"
        assert app.deploys.active_run.first_failure() == "printer-pi"
        assert bells and "run failed" in app.screen.summary_text().plain  # bell; the summary, no toast over it
        await pilot.press("f")
        assert isinstance(app.screen, HostLogScreen) and app.screen.node == "printer-pi"
        await pilot.press("escape", "escape")
        assert app.fleet.last_outcomes["printer-pi"] == "rolled_back"


async def test_deploy_dialog_choices_by_keyboard(tmp_path):
    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("D")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DeployDialog)
        await pilot.press("a", "a")  # deploy-rs has no `test`: switch, boot, dry-activate
        assert dialog.choice().action == "dry-activate"
        await pilot.press("m", "a", "p")  # nixos-rebuild has: dry-activate wraps round to switch
        choice = dialog.choice()
        assert (choice.method, choice.action, choice.mode) == ("nixos-rebuild", "switch", "atomic")
        await pilot.press("a", "a", "a")
        assert dialog.choice().action == "dry-activate"
        await pilot.press("a", "a", "a", "m")  # nixos-rebuild's `test`, then deploy-rs, which has none
        choice = dialog.choice()
        assert (choice.method, choice.action, choice.show_plan) == ("deploy-rs", "test", True)
        await pilot.press("enter")  # refused: the note says why
        assert app.screen is dialog and not deploy.runs
        assert "deploy-rs has no test" in str(dialog.query_one("#dialog-note").render())
        await pilot.press("escape")
        assert not deploy.runs


async def test_critical_host_requires_typing_its_name(tmp_path):
    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "reverse-proxy")
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TypeNameDialog)
        await pilot.press(*"reverse", "enter")  # wrong: stays
        assert isinstance(app.screen, TypeNameDialog) and not deploy.runs
        await pilot.press(*"reverse-proxy", "enter")
        await deploy.started.wait()
        assert deploy.choices[-1].hosts == ("reverse-proxy",)


async def test_plan_prompt_is_answered_by_key(tmp_path):
    clock = FrozenClock()
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        run = await _open_deploy(app, pilot, deploy)
        events = deploy_events(lab, ["grey-area"], clock.now, interactive=True)
        run.feed_all(events[:2])  # run_started, prompt
        await wait_for(pilot, lambda: isinstance(app.screen, PlanDialog))
        assert [e.node for e in app.screen.prompt.plan] == ["grey-area"]
        await pilot.press("y")
        await run.answered.wait()
        assert run.answers == [True]


async def test_cancel_a_running_deploy(tmp_path):
    clock = FrozenClock()
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        run = await _open_deploy(app, pilot, deploy)
        run.feed_all(deploy_events(lab, ["grey-area"], clock.now, until=clock.now + 5))
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await app.deploys.run_done.wait()
        assert run.cancelled
        assert app.deploys.active_run.outcome == "cancelled"
        assert app.deploys.active_run.nodes["grey-area"].outcome == "cancelled"


async def test_quit_while_deploying_asks_first(tmp_path):
    clock = FrozenClock()
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        run = await _open_deploy(app, pilot, deploy)
        run.feed_all(deploy_events(lab, ["grey-area"], clock.now, until=clock.now + 5))
        await pilot.press("escape")  # back to the dashboard; the deploy keeps going
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("escape")  # stay
        await pilot.pause()
        assert app.is_running and not run.cancelled
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("x")  # cancel the deploy, then quit
        await app.deploys.run_done.wait()
        await pilot.pause()
        assert run.cancelled
    assert app.return_code == 0


async def test_history_replays_a_past_run(tmp_path):
    lab, _ = frozen_lab(tmp_path / "events")
    events = deploy_events(lab, ["grey-area", "printer-pi"], FROZEN_NOW - 3600)

    class History(HistorySource):
        def list_runs(self, host=None):
            return [RunSummary(run_id="r1", started=FROZEN_NOW - 3600, finished=FROZEN_NOW - 3580,
                               method="deploy-rs switch", nodes=("grey-area", "printer-pi"), outcome="failed",
                               node_outcomes={"grey-area": "succeeded", "printer-pi": "rolled_back"})]

        def run_events(self, run_id):
            assert run_id == "r1"
            return events

        def last_outcome(self, host):
            return {"grey-area": "succeeded", "printer-pi": "rolled_back"}.get(host)

    app = frozen_app(tmp_path, history=History())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        assert app.fleet.last_outcomes["printer-pi"] == "rolled_back"
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen) and not app.screen.live
        assert app.screen.run.nodes["printer-pi"].rollback == "magic"
        assert isinstance(events[-1], RunResult)


async def test_command_log_lists_and_copies(tmp_path):
    from labtui.commandlog import CommandLog

    log = CommandLog()
    log.remote("nas", "systemctl --failed")
    log.local(["deploy", ".#nas"])
    app = frozen_app(tmp_path, command_log=log)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("at")
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)
        copied = []
        app.copy_to_clipboard = copied.append
        await pilot.press("y")
        assert copied == ["deploy '.#nas'"]
        await pilot.press("Y")
        assert copied[-1] == "ssh nas 'systemctl --failed'\ndeploy '.#nas'"


async def test_palette_reaches_actions(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"command log")

        def command_log_hit_highlighted() -> bool:
            # The palette's search is debounced: wait until its results show the matching command.
            from textual.command import CommandList

            results = app.screen.query(CommandList)
            if not results or results.first().highlighted is None:
                return False
            option = results.first().get_option_at_index(results.first().highlighted)
            return "command log" in str(option.prompt).lower()

        await wait_for(pilot, command_log_hit_highlighted)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)


async def test_ascii_mode_has_no_unicode_glyphs(tmp_path):
    app = frozen_app(tmp_path, ascii_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        for name in app.fleet.shown:
            for key in ("st", "drift", "boot", "fail", "last"):
                assert str(table.get_cell(name, key)).isascii()


async def test_logs_checks_and_generations_views(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen) and any(
            line.startswith("FAIL  zfs-scrub") for line in app.screen.query_one(Log).lines))
        # The "running" line goes when the results come (it said nothing true any more).
        assert [line.split()[0] for line in app.screen.query_one(Log).lines] == ["FAIL", "FAIL", "PASS", "PASS",
                                                                                 "PASS", "PASS"]  # failures first
        await pilot.press("escape", "g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen) and any(
            "current booted" in line for line in app.screen.lines))
        await pilot.press("escape", "l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen) and any(
            "zfs-scrub.service[err]" in line for line in app.screen.query_one(Log).lines))
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def test_layout_follows_the_terminal_width(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        main = app.query_one("#main")
        assert main.styles.layout.name == "vertical"
        assert _table(app).size.height == 8  # 7 hosts and the header: the details get the rest
        await pilot.resize_terminal(130, 40)
        await pilot.pause()
        assert main.styles.layout.name == "horizontal"
        from labtui.tui.app import TABLE_WIDTH

        assert app.query_one("#details-box").outer_size.width == 130 - TABLE_WIDTH
        await pilot.press("slash", *"@edge", "enter")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert main.styles.layout.name == "vertical" and _table(app).size.height == 3


async def test_no_color_keeps_every_state_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = frozen_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        svg = app.export_screenshot()
        for glyph in ("●", "▲", "✖", "≠", "⟳"):  # states read by their glyphs, colour or not
            assert glyph in svg
