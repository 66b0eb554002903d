"""The `:` command line, rollback and reboot from the TUI, generations diff (issue 12, point 15)."""

from __future__ import annotations

import pytest
from textual.widgets import Log

from labtui.errors import UserError
from labtui.tui.command_line import parse
from labtui.tui.deploy_pane import DeployScreen, DeployTable
from labtui.tui.dialogs import CommandLine, DeployDialog, TypeNameDialog, YesNoDialog
from labtui.tui.screens import DiffScreen, GenerationsScreen, HistoryScreen, LogScreen
from tests.support.frozen import frozen_app, frozen_lab
from tests.tui.test_flows import _select, _settle, wait_for

SMALL = (80, 24)


def test_command_lines_parse_with_the_core_target_syntax(tmp_path):
    _, inventory = frozen_lab(tmp_path)
    (tmp_path / "flake").mkdir()  # `.#nas`: `.` is the flake labtui shows
    (tmp_path / "flake" / "flake.nix").write_text("{ outputs = _: { }; }\n")
    assert sorted(parse(":deploy grey-area @edge", inventory).hosts) == ["grey-area", "printer-pi", "reverse-proxy"]
    assert parse("logs .#nas", inventory).hosts == ("nas",)  # deploy-rs's syntax
    cmd = parse("rollback little-rascal 62", inventory)
    assert (cmd.verb.name, cmd.hosts, cmd.numbers) == ("rollback", ("little-rascal",), (62,))
    assert parse("gens nas", inventory).verb.name == "generations"
    assert parse("deploy", inventory).action(["nas"]) == "deploy_names(['nas'])"  # none named: the marked/selected
    assert parse("exec uptime -p", inventory).action([]) == "exec_command('uptime -p')"
    for line, words in (("deplyo web1", "did you mean `deploy`"), ("logs nas grey-area", "takes one host"),
                        ("logs nsa", "nas"), ("diff nas", "needs a generation"), ("", "type a command")):
        with pytest.raises(UserError) as caught:
            parse(line, inventory)
        assert words in caught.value.message, line


async def _type(pilot, line: str) -> None:
    await pilot.press("colon")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CommandLine)
    await pilot.press(*line, "enter")
    await pilot.pause()


async def test_the_command_line_opens_views_and_remembers_lines(tmp_path):
    app = frozen_app(tmp_path)
    (tmp_path / "flake").mkdir()  # `.#nas`: `.` is the flake labtui shows
    (tmp_path / "flake" / "flake.nix").write_text("{ outputs = _: { }; }\n")
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _type(pilot, "logs .#nas")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen) and "nas" in app.screen.title_text)
        await _type(pilot, "gens grey-area")  # from another screen: it opens on top
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen) and app.screen.host.name == "grey-area")
        await _type(pilot, "nope")
        assert any("no command `nope`" in n.message for n in app._notifications)
        await pilot.press("colon", "up", "up")  # the lines typed before, newest first
        assert app.screen.query_one("#command").value == "gens grey-area"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, GenerationsScreen)


async def test_the_command_line_deploys_hosts_named_like_the_cli(tmp_path):
    from tests.support.frozen import FrozenClock, ScriptedDeploy

    deploy = ScriptedDeploy(FrozenClock())
    app = frozen_app(tmp_path, deploy=deploy)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _type(pilot, "deploy @server")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        assert sorted(h.name for h in app.screen.hosts) == ["grey-area", "nas", "sleeper-service"]


async def test_rollback_from_the_tui_asks_then_switches_and_shows_the_run(tmp_path):
    app = frozen_app(tmp_path)
    lab = app.sources.ops.shell.lab
    before = lab.load("grey-area").current
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "grey-area")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, YesNoDialog))
        assert f"switches from generation {before} " in app.screen.question
        assert f"to {before - 1} (" in app.screen.question
        await pilot.press("y")
        await app.deploys.run_done.wait()
        await pilot.pause()
        assert lab.load("grey-area").current == before - 1
        pane = app.screen
        assert isinstance(pane, DeployScreen) and not pane.cancellable
        pane.sync()
        assert str(pane.query_one(DeployTable).get_cell("grey-area", "stage")) == "succeeded"
        assert app.fleet.last_outcomes["grey-area"] == "succeeded"


async def test_a_critical_host_is_typed_before_a_rollback_or_a_reboot(tmp_path):
    app = frozen_app(tmp_path)
    lab = app.sources.ops.shell.lab
    before = lab.load("reverse-proxy").current
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _type(pilot, "rollback reverse-proxy")
        await wait_for(pilot, lambda: isinstance(app.screen, TypeNameDialog))
        assert app.screen.doing == "roll back"
        await pilot.press("escape")
        await pilot.pause()
        assert lab.load("reverse-proxy").current == before  # nothing done
        await _type(pilot, "reboot reverse-proxy")
        await wait_for(pilot, lambda: isinstance(app.screen, TypeNameDialog))
        assert app.screen.doing == "reboot" and "no reboot needed" in app.screen.question
        await pilot.press(*"reverse", "enter")  # wrong: still asks
        assert isinstance(app.screen, TypeNameDialog)
        await pilot.press("escape")


async def test_reboot_from_the_tui_follows_the_host_back(tmp_path):
    from labtui.sim.ops import configure_host

    app = frozen_app(tmp_path)
    lab = app.sources.ops.shell.lab
    configure_host(lab, "little-rascal", reboot_down_after=0.05, reboot_back_after=0.1)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "little-rascal")
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, YesNoDialog))
        assert "little-rascal: reboot needed (kernel linux-6.6.63 → linux-6.12.4)" in app.screen.question
        await pilot.press("y")
        await app.deploys.run_done.wait()
        assert app.deploys.last_run.outcome == "succeeded"
        assert lab.load("little-rascal").booted == lab.load("little-rascal").current


async def test_generations_screen_diffs_and_rolls_back_to_the_highlighted_one(tmp_path):
    app = frozen_app(tmp_path)
    lab = app.sources.ops.shell.lab
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen) and app.screen.generations)
        screen = app.screen
        assert screen.query_one("#generations").cursor_row == 0  # on the current one
        await pilot.press("j", "d")  # the one before the current: what changed from it
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen)
                       and not any("comparing" in line for line in app.screen.query_one(Log).lines))
        assert (app.screen.a, app.screen.b) == (53, 54)
        assert any("→" in line for line in app.screen.query_one(Log).lines)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("R")  # roll back to the highlighted one (53)
        await wait_for(pilot, lambda: isinstance(app.screen, YesNoDialog))
        assert "to 53 (" in app.screen.question
        await pilot.press("y")
        await app.deploys.run_done.wait()
        assert lab.load("nas").current == 53


async def test_history_of_one_host_from_the_command_line(tmp_path):
    from tests.tui.test_keys import OneRunHistory

    app = frozen_app(tmp_path, history=OneRunHistory())
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _type(pilot, "history grey-area")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert app.screen.host == "grey-area"
