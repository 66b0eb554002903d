"""Pilot tests: every screen owns its keys, the footer shows the keys that work there, `p` brings the deploy pane
back alive (issue 12, points 3 and 4)."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Log

from labtui.tui import actions
from labtui.tui.dashboard import DashboardScreen, DetailsScreen
from labtui.tui.deploy_pane import DeployScreen, DeployTable
from labtui.tui.screens import (
    ChecksScreen,
    CommandLogScreen,
    GenerationsScreen,
    HelpScreen,
    HistoryScreen,
    LogScreen,
    TextScreen,
)
from labtui.tui.sources import HistorySource, RunSummary
from labtui.tui.widgets import ViewFilter
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, deploy_events, frozen_app, frozen_lab
from tests.tui.test_flows import SIZE, _open_deploy, _select, _settle, wait_for

GLOBAL_ACTIONS = {a.action for a in actions.GLOBAL.actions}


def _shown_bindings(app) -> dict[str, str]:
    """key -> action of what the footer shows on the active screen, checking each belongs to it or is global."""
    shown = {}
    screen = app.screen
    for key, active in screen.active_bindings.items():
        if not active.binding.show:
            continue
        node = active.node
        assert node is app or node is screen or screen in node.ancestors_with_self, (key, node)
        if node is app:
            assert active.binding.action in GLOBAL_ACTIONS, key
        shown[key] = active.binding.action
    return shown


class OneRunHistory(HistorySource):
    def list_runs(self, host=None):
        return [RunSummary(run_id=f"r{i}", started=FROZEN_NOW - 3600 * i, finished=FROZEN_NOW - 3600 * i + 20,
                           method="deploy-rs switch", nodes=("grey-area",), outcome="succeeded",
                           node_outcomes={"grey-area": "succeeded"}) for i in range(1, 4)]

    def run_events(self, run_id):
        return []

    def last_outcome(self, host):
        return None


async def test_dashboard_keys_do_nothing_on_other_screens(tmp_path):
    app = frozen_app(tmp_path, history=OneRunHistory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen) and app.screen.generations)
        generations = app.screen
        # space marks nothing, `g` opens no second Generations screen, `s` does not sort the hidden dashboard,
        # `/` opens no filter on the dashboard behind (this view has none).
        await pilot.press("space", "g", "s", "slash", "l")
        assert app.fleet.marked == set() and app.fleet.sort_key == "name"
        assert app.screen is generations and sum(isinstance(s, GenerationsScreen) for s in app.screen_stack) == 1
        assert not any(isinstance(s, LogScreen) for s in app.screen_stack)
        assert not app.screen_stack[0].query("#filter.-open")
        await pilot.press("escape", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChecksScreen)
                       and any(line.startswith("FAIL") for line in app.screen.query_one(Log).lines))
        checks = app.screen
        # `/` filters this view; the letters typed go into its filter box, not to the dashboard.
        await pilot.press("slash", *"sl")
        assert app.screen is checks and app.screen.query_one(ViewFilter).is_open
        assert app.screen.query_one(ViewFilter).value == "sl" and app.fleet.sort_key == "name"
        assert not any(isinstance(s, LogScreen) for s in app.screen_stack)
        await pilot.press("ctrl+u", *"FAIL", "enter")
        lines = app.screen.query_one(Log).lines
        assert lines and all("FAIL" in line for line in lines)
        await pilot.press("escape")  # clears the filter
        assert any("FAIL" not in line for line in app.screen.query_one(Log).lines)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        # History: j/k move its cursor.
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#history", DataTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1


async def test_command_log_filters_its_own_rows(tmp_path):
    from labtui.commandlog import CommandLog

    log = CommandLog()
    log.remote("nas", "systemctl --failed")
    log.local(["deploy", ".#nas"])
    log.remote("grey-area", "journalctl -f")
    app = frozen_app(tmp_path, command_log=log)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("at")
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)
        await pilot.press("slash", *"nas", "enter")
        assert app.screen.query_one("#commands", DataTable).row_count == 2
        assert app.fleet.filter.text == "" and app.fleet.sort_key == "name"
        copied = []
        app.copy_to_clipboard = copied.append
        await pilot.press("Y")
        assert copied == ["ssh nas 'systemctl --failed'\ndeploy '.#nas'"]
        await pilot.press("escape")  # clears the filter, stays
        assert isinstance(app.screen, CommandLogScreen)
        assert app.screen.query_one("#commands", DataTable).row_count == 3


async def test_footer_shows_only_keys_of_the_screen_shown(tmp_path):
    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy, history=OneRunHistory())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        dashboard = _shown_bindings(app)
        assert {"D", "slash", "q"} <= set(dashboard)
        for key, cls in (("g", GenerationsScreen), ("c", TextScreen), ("h", HistoryScreen), ("at", CommandLogScreen),
                         ("enter", DetailsScreen), ("question_mark", HelpScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, cls), key
            shown = _shown_bindings(app)
            scope = app.screen.SCOPE
            assert set(shown.values()) <= {a.action for a in scope.actions} | GLOBAL_ACTIONS, (key, shown)
            assert "D" not in shown or cls is DetailsScreen
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)


async def test_details_keys_act_on_the_host_shown(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "grey-area")
        await app.run_action("app.details_host('nas')")  # as from the palette's "Details nas"
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen) and app.screen.host == "nas"
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen))
        assert "nas" in app.screen.title_text


async def test_p_brings_the_deploy_pane_back_alive(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "grey-area")
        run = await _open_deploy(app, pilot, deploy)
        t0 = clock.now
        events = deploy_events(lab, ["grey-area"], t0)
        run.feed_all([e for e in events if e.ts <= t0 + 3])
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("p")  # during the run
        await pilot.pause()
        pane = app.screen
        assert isinstance(pane, DeployScreen) and pane.is_mounted
        run.feed_all([e for e in events if e.ts > t0 + 3])
        await app.deploys.run_done.wait()
        await pilot.pause()
        pane.sync()
        assert str(pane.query_one(DeployTable).get_cell("grey-area", "st")) == "✔"
        await pilot.press("escape", "p")  # after the run
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen) and app.screen.is_mounted
        assert app.screen.query_one(DeployTable).row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_palette_offers_the_actions_of_the_screen_shown(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("at")
        await pilot.pause()
        titles = [e.title for e in actions.palette_entries(app.screen.SCOPE, ["nas"])]
        assert "Mark host" not in titles and "Sort" not in titles  # they would act on the hidden dashboard
        assert "Logs nas" in titles and "Screenshot" in titles


async def test_screenshot_from_the_palette_saves_a_picture(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await app.run_action("screenshot")
        await wait_for(pilot, lambda: list(tmp_path.glob("labtui-*.svg")))
        assert "<svg" in next(tmp_path.glob("labtui-*.svg")).read_text()
        assert any("screenshot saved" in n.message for n in app._notifications)


async def test_filter_box_of_the_dashboard_stays_on_the_dashboard(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        await pilot.press("slash")
        assert app.screen.query_one(ViewFilter).has_focus
        assert not app.screen_stack[0].query(Input).filter("#filter")
