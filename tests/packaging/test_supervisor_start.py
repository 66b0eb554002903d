"""A supervisor that cannot start is one line in every face, with the log's path (issue 13 point 1).

The failure is the one a broken installation gives (the interpreter cannot import labtui): the
supervisor's command is replaced by one that dies the same way."""

from __future__ import annotations

import asyncio
import sys

import pytest

import labtui.cli.common as common
import labtui.runs.client as client
from labtui.cli.main import main
from labtui.deploy.detached import start_detached
from labtui.deploy.request import DeployRequest
from labtui.errors import UserError
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog
from tests.deploy.cli_harness import make_inventory
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)

CAUSE = "ModuleNotFoundError: No module named 'labtui'"


@pytest.fixture
def broken_supervisor(monkeypatch):
    def command(run_id: str, ready_fd: int) -> list[str]:
        return [sys.executable, "-c", f"import sys; sys.exit({CAUSE!r} + '\\x1b[2J')"]

    monkeypatch.setattr(client, "supervisor_command", command)


def _one_line_with_cause_and_log(message: str) -> None:
    assert "\n" not in message and "\x1b" not in message
    assert CAUSE in message and message.rstrip().endswith("supervisor.log")


def test_start_supervisor_says_why_and_where_the_log_is(broken_supervisor):
    with pytest.raises(UserError) as caught:
        start_detached(DeployRequest(targets=[("web1", None)]), make_inventory("web1"))
    _one_line_with_cause_and_log(caught.value.message)
    assert caught.value.exit_code == 1


def test_the_cli_prints_it_as_one_line(broken_supervisor, emulated, monkeypatch, capsys):
    monkeypatch.setattr(common, "load_inventory", lambda args: make_inventory("web1"))
    code = main(["deploy", "web1", "--yes", "--no-probe"])
    out, err = capsys.readouterr()
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("labtui: error:")]
    _one_line_with_cause_and_log(line)
    assert "Traceback" not in out + err


async def test_the_tui_notifies_it(broken_supervisor, tmp_path, monkeypatch):
    from labtui.demo.runtime import DemoLab
    from labtui.tui.assemble import build_app, demo_sources

    lab = DemoLab(tmp_path / "demo", ticker=False)
    await lab.start()
    for key, value in lab.env.items():
        monkeypatch.setenv(key, value)
    sources = demo_sources(lab)
    try:
        assert lab.inventory is not None
        app = build_app(lab.inventory, sources, subtitle="demo lab")
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            app.table.move_to("grey-area")
            await pilot.press("D")
            while not isinstance(app.screen, DeployDialog):
                await pilot.pause(0.05)
            await pilot.press("enter")
            await asyncio.wait_for(app.deploys.run_done.wait(), 60)
            assert isinstance(app.screen, DeployScreen)
            (message,) = [n.message for n in app._notifications if "supervisor" in n.message]
            _one_line_with_cause_and_log(message)
    finally:
        await sources.aclose()
        await lab.close()
