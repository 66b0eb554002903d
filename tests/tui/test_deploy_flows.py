"""Deploy flows: the parallel limit in the dialog, one host cancelled alone (issue 12, point 7)."""

from __future__ import annotations

from labtui.runs.events import RunResult, RunStarted, StageChanged
from labtui.tui.adapters import deploy_request
from labtui.tui.deploy_pane import DeployScreen, DeployTable
from labtui.tui.dialogs import DeployDialog, YesNoDialog
from tests.support.frozen import FROZEN_NOW, RUN_ID, FrozenClock, ScriptedDeploy, frozen_app
from tests.tui.test_flows import _settle, wait_for

SMALL = (80, 24)


async def test_the_dialog_says_the_parallel_limit_and_changes_it(tmp_path):
    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("ctrl+a", "D")  # all 7 hosts; labtui.toml says nothing: 4 at once
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DeployDialog)
        assert "4 at once" in str(dialog.query_one("#dialog-parallel").render())
        note = str(dialog.query_one("#dialog-note").render())
        assert "7 hosts, 4 at once: 3 wait for a free slot: every host's plan is asked first" in note
        await pilot.press("minus", "minus")
        assert dialog.choice().parallel == 2 and "5 wait" in str(dialog.query_one("#dialog-note").render())
        await pilot.press(*["plus"] * 9)  # never more than there are hosts
        assert dialog.choice().parallel == 7 and "wait for a free slot" not in str(
            dialog.query_one("#dialog-note").render())
        await pilot.press("minus", "enter")
        await pilot.pause()
        await pilot.press(*"reverse-proxy", "enter")  # the critical host's name
        await deploy.started.wait()
        choice = deploy.choices[-1]
        assert choice.parallel == 6 and deploy_request(choice).parallel == 6


async def test_cancel_one_host_the_others_go_on(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("space")  # grey-area
        app.table.move_to("nas")
        await pilot.press("space", "D")
        await pilot.pause()
        await pilot.press("enter")
        await deploy.started.wait()
        run = deploy.runs[-1]
        t0 = clock.now
        run.feed(RunStarted(ts=t0, run_id=RUN_ID, method="deploy-rs", nodes=["grey-area", "nas"],
                            argv=[], argvs=[["deploy", ".#grey-area"], ["deploy", ".#nas"]]))
        for node in ("grey-area", "nas"):
            run.feed(StageChanged(ts=t0 + 1, node=node, profile="system", stage="build"))
        await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen)
                       and app.deploys.active_run.nodes["nas"].stage == "build")
        pane = app.screen
        table = pane.query_one(DeployTable)
        table.move_cursor(row=1)  # nas
        await pilot.pause()
        pane.sync()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, YesNoDialog) and "The other hosts go on" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: run.cancelled_nodes == ["nas"])
        await wait_for(pilot, lambda: app.deploys.active_run.nodes["nas"].outcome == "cancelled")
        assert app.deploys.running and not run.cancelled  # grey-area goes on
        pane.sync()
        assert str(table.get_cell("nas", "stage")) == "cancelled"
        run.feed(RunResult(ts=t0 + 9, outcome="cancelled", exit_code=130))
        await app.deploys.run_done.wait()


async def test_marks_go_after_a_successful_deploy_and_stay_on_failures(tmp_path):
    """Issue 12 point 14: `D` never redeploys unseen what was just deployed."""
    from tests.support.frozen import deploy_events, frozen_lab

    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("space")  # grey-area
        app.table.move_to("printer-pi")
        await pilot.press("space", "D")
        await pilot.pause()
        await pilot.press("enter")
        await deploy.started.wait()
        deploy.runs[-1].feed_all(deploy_events(lab, ["grey-area", "printer-pi"], clock.now))
        await app.deploys.run_done.wait()
        await pilot.pause()
        assert app.fleet.marked == {"printer-pi"}  # rolled back: still marked, D retries it
        assert "1 marked" in str(app.query_one("#topbar").render())


def test_the_command_log_shows_a_repeated_command_once():
    from labtui.commandlog import CommandLog

    log = CommandLog()
    for _ in range(3):
        log.remote("nas", "labtui-probe")
    log.local(["deploy", ".#nas"])
    records = log.records()
    assert [(r.where, r.count) for r in records] == [("nas", 3), ("local", 1)]
    assert records[0].last >= records[0].ts


def test_the_help_lists_every_glyph():
    from labtui.runs.outcomes import NODE_LOOKS, QUEUED, RUN_LOOKS, RUNNING
    from labtui.tui.actions import help_text
    from labtui.tui.glyphs import ASCII, UNICODE

    for glyphs in (UNICODE, ASCII):
        text = help_text(glyphs)
        for look in (*NODE_LOOKS.values(), *RUN_LOOKS.values(), RUNNING, QUEUED):
            assert f"{look.mark(glyphs.ascii)} {look.word}" in text
        for state in ("up", "degraded", "down", "connecting", "auth failed", "reboot needed", "outdated"):
            assert state in text
    assert "◌ connecting" in help_text(UNICODE)
    assert "space   mark or unmark the selected host, then move down" in help_text(UNICODE).replace("[b]", "").replace(
        "[/b]", "")


async def test_enter_deploys_from_any_field_after_the_keys_typed_before_it(tmp_path):
    """`p` then enter in one burst (SSH) deploys in the mode `p` chose; enter on a checkbox deploys, space toggles."""
    from textual import events
    from textual.widgets import Checkbox

    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        box = app.screen.query_one("#opt-skip_checks", Checkbox)
        box.focus()
        await pilot.press("space")
        assert box.value
        for key, char in (("p", "p"), ("enter", "\r")):  # queued together, before either is handled
            app.post_message(events.Key(key, char))
        await deploy.started.wait()
        choice = deploy.choices[-1]
        assert choice.mode == "atomic" and choice.skip_checks


async def test_a_finished_pane_has_nothing_ticking_and_writes_nothing_again(tmp_path):
    """Issue 12 point 2: once the run has ended, the pane's refresh stops and a sync rewrites no cell."""
    from tests.support.frozen import deploy_events, frozen_lab

    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy, animate=True)  # the timers on, as in use
    lab, _ = frozen_lab(tmp_path / "events")
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("D")  # grey-area, under the cursor
        await pilot.pause()
        await pilot.press("enter")
        await deploy.started.wait()
        await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen))
        pane = app.screen
        assert pane._timer is not None  # ticking while the run goes on
        deploy.runs[-1].feed_all(deploy_events(lab, ["grey-area"], clock.now))
        await app.deploys.run_done.wait()
        await wait_for(pilot, lambda: pane._timer is None)
        table = pane.query_one(DeployTable)
        written: list[tuple[object, ...]] = []
        table.update_cell = lambda *args, **kwargs: written.append(args)
        clock.now += 30  # time passes: a finished pane shows nothing that moves with it
        pane.sync()
        assert written == []
