"""`labtui deploy` and `labtui history` end to end: detached supervisor, emulated deploy-rs, the journal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labtui.cli.common as common
from labtui.cli.main import main
from labtui.runs.journal import Journal
from labtui.runs.locks import HostLocks
from tests.deploy.cli_harness import make_inventory
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(monkeypatch):
    inventory = make_inventory("web1,web2,db1:critical")
    monkeypatch.setattr(common, "load_inventory", lambda args: inventory)
    return inventory


def labtui(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def only_run() -> str:
    runs = Journal.open().list_runs()
    assert len(runs) == 1
    return runs[0].run_id


def test_echo_yes_deploys_and_history_shows_it(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success"})
    code, out, err = labtui(monkeypatch, capsys, "deploy", "web1", stdin="yes\n")
    assert code == 0, out + err
    assert "deploy-rs will deploy:" in out and "web1.system" in out  # deploy-rs's own plan, parsed
    assert "Deploy web1? [yes/no]" in err
    assert "succeeded" in out
    run_id = only_run()
    detail = Journal.open().get_run(run_id)
    assert detail.summary.outcome == "succeeded" and detail.summary.revision == "0123abc"
    assert "--interactive" in detail.argv[0]
    assert "Activating profile" in detail.output()  # the full raw log is kept
    code, out, _ = labtui(monkeypatch, capsys, "history")
    assert code == 0 and run_id in out and "succeeded" in out
    code, out, _ = labtui(monkeypatch, capsys, "history", "web1", "--json")
    assert json.loads(out)[0]["run_id"] == run_id
    code, out, _ = labtui(monkeypatch, capsys, "history", "show", run_id)
    assert code == 0 and "--- output" in out and "Activating profile `system` for node `web1`" in out


def test_no_declines(emulated, fleet, monkeypatch, capsys):
    """No to deploy-rs's plan question: the run and its host are `cancelled` (the operator's choice, not a failure),
    in the summary, the history and its JSON alike."""
    emulated.scenario({"web1": "success"})
    code, out, _ = labtui(monkeypatch, capsys, "deploy", "web1", stdin="no\n")
    assert code == 1 and "cancelled" in out and "not_deployed" not in out and "failed" not in out
    code, out, _ = labtui(monkeypatch, capsys, "history", "web1", "--json")
    run = json.loads(out)[0]
    assert run["outcome"] == "cancelled", run
    code, out, _ = labtui(monkeypatch, capsys, "history")
    assert "cancelled" in out and "failed" not in out


def test_critical_host_needs_its_name(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"db1": "success"})
    code, _, err = labtui(monkeypatch, capsys, "deploy", "db1", stdin="yes\n")
    assert code == 1 and "db1 is critical: type `db1`" in err
    code, _, _ = labtui(monkeypatch, capsys, "deploy", "db1", stdin="db1\n")
    assert code == 0


def test_yes_does_not_ask_and_json_lines(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success", "web2": "build-fails"})
    code, out, err = labtui(monkeypatch, capsys, "deploy", "web*", "--yes", "--json", "--parallel", "2")
    assert code == 1
    assert "[yes/no]" not in err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_result"
    assert all("--interactive" not in argv for argv in events[0]["argvs"])
    finals = {e["node"]: e["outcome"] for e in events if e["event"] == "node_result"}
    assert finals == {"web1": "succeeded", "web2": "failed"}  # its own build failed


def test_summary_table_for_people(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success", "web2": "activation-fails"})
    code, out, _ = labtui(monkeypatch, capsys, "deploy", "web1", "web2", "--yes")
    assert code == 1
    assert "NODE" in out and "OUTCOME" in out and "rolled_back" in out
    assert "rolling back" in out  # the rollback line, as it happened


def test_missing_deploy_says_how_to_get_it(fleet, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = labtui(monkeypatch, capsys, "deploy", "web1", "--yes")
    assert code == 2 and "`deploy` was not found on PATH" in err and "github:serokell/deploy-rs" in err


def test_unknown_host_and_profile(fleet, monkeypatch, capsys):
    code, _, err = labtui(monkeypatch, capsys, "deploy", "web3", "--yes")
    assert code == 2 and "no host named `web3`" in err
    code, _, err = labtui(monkeypatch, capsys, "deploy", "web1.home", "--yes")
    assert code == 2 and "no profile `home`" in err


def test_locked_host_names_the_holder(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success"})
    with HostLocks(["web1"], run_id="20990101-000000-beef", operator="alice"):
        code, _, err = labtui(monkeypatch, capsys, "deploy", "web1", "--yes")
    assert code == 1 and "is being deployed by alice since" in err and f"pid {os.getpid()}" in err


def test_history_show_unknown_run(monkeypatch, capsys):
    code, _, err = labtui(monkeypatch, capsys, "history", "show", "nope")
    assert code == 2 and "no run with id `nope`" in err


def test_parse_targets_profile_glob_and_tag():
    from labtui.cli.deploy import parse_targets

    inventory = make_inventory("web1,web2,db1")
    assert parse_targets(inventory, ["web1.system", "@web", "db*"]) == [
        ("web1", "system"), ("web1", None), ("web2", None), ("db1", None)]


def test_deploy_rs_target_syntax_and_targets_option(emulated, fleet, monkeypatch, capsys):
    """`labtui deploy .#web1.system --targets .#web2`: deploy-rs's own syntax reaches the same plan."""
    emulated.scenario({"web1": "success", "web2": "success"})
    code, out, err = labtui(monkeypatch, capsys, "deploy", ".#web1.system", "--targets", ".#web2", "--yes")
    assert code == 0, out + err
    summary = Journal.open().get_run(only_run()).summary
    assert [t[:2] for t in summary.targets] == [("web1", "system"), ("web2", "system")]


def test_deploy_needs_a_target_and_says_which_forms(fleet, monkeypatch, capsys):
    code, _, err = labtui(monkeypatch, capsys, "deploy", "--yes")
    assert code == 2 and "name what to deploy: `labtui deploy web1`, `.#web1.system`" in err
    code, _, err = labtui(monkeypatch, capsys, "deploy", ".#web1.sytem", "--yes")
    assert code == 2 and err.strip() == (
        "labtui: error: `.#web1.sytem`: host `web1` has no profile `sytem` (profiles: system); "
        "did you mean `system`?")


def test_subprocess_cli_reports_within_seconds_despite_orphan(emulated, tmp_path):
    """The real `labtui deploy` process: an orphaned late line does not delay the result."""
    emulated.scenario({"web1": "activation-fails"}, top={"orphan_late_line": True, "orphan_seconds": 60})
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1", "--yes"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 15
    assert "rolled_back" in proc.stdout


def test_sudo_password_through_the_supervisor_never_stored(emulated, monkeypatch, capsys):
    """interactiveSudo: deploy-rs (in a pty, in the supervisor) asks; the CLI asks the operator; the
    password crosses the control socket and is written to the pty. It is in no file afterwards."""
    import getpass

    from labtui import paths

    secret = "correct-horse-battery-9"
    emulated.scenario({"box": "success"}, interactive_sudo=True, sudo_password=secret)
    inventory = make_inventory("box:sudo")
    monkeypatch.setattr(common, "load_inventory", lambda args: inventory)
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or secret)
    code, out, err = labtui(monkeypatch, capsys, "deploy", "box", "--yes")
    assert code == 0, out + err
    assert prompts == ["sudo password for box (box.lab): "]
    assert secret not in out + err
    for path in paths.state_dir().rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_wrong_sudo_password_fails_the_node(emulated, monkeypatch, capsys):
    import getpass

    emulated.scenario({"box": "success"}, interactive_sudo=True, sudo_password="right")
    inventory = make_inventory("box:sudo")
    monkeypatch.setattr(common, "load_inventory", lambda args: inventory)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "wrong")
    code, out, _ = labtui(monkeypatch, capsys, "deploy", "box", "--yes")
    assert code == 1 and "box" in out


def test_detached_run_cancel_and_follow_from_another_face(emulated, fleet, capsys):
    """A run started elsewhere: `labtui history show` follows it live; cancel goes over the socket."""
    import asyncio

    from labtui.deploy.detached import start_detached
    from labtui.deploy.request import DeployRequest
    from labtui.runs.client import follow_run, until_recorded

    emulated.scenario({"web1": "hang"})
    run = start_detached(DeployRequest(targets=[("web1", None)]), fleet)

    async def cancel_when_building():
        async for event in follow_run(run.run_id):
            if event.kind == "stage" and event.stage in ("build", "push"):
                run.cancel()
            if event.kind == "run_result":
                return event

    result = asyncio.run(asyncio.wait_for(cancel_when_building(), 30))
    assert (result.outcome, result.exit_code) == ("cancelled", 130)
    # The face got the result from the supervisor's memory; the journal has it once the record is written.
    asyncio.run(asyncio.wait_for(until_recorded(run.run_id), 30))
    assert Journal.open().get_run(run.run_id).summary.outcome == "cancelled"


def test_history_show_follows_a_running_run(emulated, fleet, capsys):
    from labtui.deploy.detached import start_detached
    from labtui.deploy.request import DeployRequest

    emulated.scenario({"web1": "success"}, time_scale=0.05)
    run = start_detached(DeployRequest(targets=[("web1", None)]), fleet)
    code = main(["history", "show", run.run_id])
    out = capsys.readouterr().out
    assert code == 0
    assert "run succeeded" in out  # it followed the run to its end


def test_lost_run_is_reported_lost_never_failed(emulated, fleet):
    import asyncio
    import signal

    from labtui.deploy.detached import start_detached
    from labtui.deploy.request import DeployRequest
    from labtui.runs.client import follow_run, supervisor_pid

    emulated.scenario({"web1": "success"}, time_scale=0.05)  # its deploy-rs ends by itself, orphaned
    run = start_detached(DeployRequest(targets=[("web1", None)]), fleet)
    os.kill(supervisor_pid(run.run_id), signal.SIGKILL)

    async def last_event():
        events = [e async for e in follow_run(run.run_id)]
        return events[-1]

    result = asyncio.run(asyncio.wait_for(last_event(), 30))
    assert result.kind == "run_result" and (result.outcome, result.exit_code) == ("lost", None)
    detail = Journal.open().get_run(run.run_id)
    assert detail.summary.outcome == "lost" and [n.outcome for n in detail.nodes] == ["unknown"]


def test_nixos_rebuild_method_and_missing_tool(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success"})
    code, out, err = labtui(monkeypatch, capsys, "deploy", "web1", "--method", "nixos-rebuild", "--test", "--yes")
    assert code == 0, out + err
    assert "nixos-rebuild test --flake" in out
    monkeypatch.setenv("PATH", str(emulated.bin_dir.parent))  # no emulators here
    code, _, err = labtui(monkeypatch, capsys, "deploy", "web1", "--method", "nixos-rebuild", "--yes")
    assert code == 2 and "`nixos-rebuild` was not found on PATH" in err


def test_history_show_json(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success"})
    assert labtui(monkeypatch, capsys, "deploy", "web1", "--yes")[0] == 0
    run_id = only_run()
    code, out, _ = labtui(monkeypatch, capsys, "history", "show", run_id[:17], "--json")
    data = json.loads(out)
    assert code == 0 and data["run_id"] == run_id and data["outcome"] == "succeeded"
    assert data["node_details"][0]["node"] == "web1" and "Activating profile" in data["output"]
    assert data["targets"] == [["web1", "system", "succeeded"]]


def test_one_piped_yes_answers_every_host(emulated, fleet, monkeypatch, capsys):
    emulated.scenario({"web1": "success", "web2": "success"})
    code, out, err = labtui(monkeypatch, capsys, "deploy", "web1", "web2", stdin="yes\n")
    assert code == 0, out + err
    assert out.count("deploy-rs will deploy:") == 2


def test_stall_then_ctrl_c_cancels_through_the_cli(emulated):
    """A silent deploy-rs (ControlMaster hang): the CLI prints the stall with its hint; Ctrl-C cancels."""
    import signal

    emulated.scenario({"web1": "hang"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1", "--yes", "--json", "--stall-after", "0.3"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HARNESS_HOSTS": "web1"})
    try:
        stall = None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "stall" and stall is None:
                stall = event
                proc.send_signal(signal.SIGINT)
            if event["event"] == "run_result":
                result = event
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert stall["node"] == "web1" and "ControlMaster" in stall["hint"]
    assert result["outcome"] == "cancelled"
    assert Journal.open().list_runs()[0].outcome == "cancelled"


def test_new_face_answers_a_pending_question(emulated, fleet, monkeypatch, capsys):
    """The face that started an interactive run is gone; `labtui history show RUN` joins the running run,
    asks the operator the question deploy-rs is still waiting for, and follows it to the end."""
    import asyncio

    from labtui.deploy.detached import start_detached
    from labtui.deploy.request import DeployRequest
    from labtui.runs.client import follow_run

    emulated.scenario({"web1": "success"})
    run = start_detached(DeployRequest(targets=[("web1", None)], interactive=True), fleet)

    async def until_prompt():
        async for event in follow_run(run.run_id):
            if event.kind == "prompt":
                return

    asyncio.run(asyncio.wait_for(until_prompt(), 30))
    assert run.pending()["prompts"] == ["web1"]
    code, out, err = labtui(monkeypatch, capsys, "history", "show", run.run_id, stdin="yes\n")
    assert code == 0, out + err
    assert "Deploy web1? [yes/no]" in err and "run succeeded" in out
