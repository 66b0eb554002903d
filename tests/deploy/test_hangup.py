"""A deploy survives the operator's hang-up: SIGHUP to `labtui deploy` in a terminal, the run goes on,
its outcome lands in the journal, and the next `labtui history` shows it."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

from labtui.cli.main import main
from labtui.runs.journal import Journal
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]



def running_run():
    runs = Journal.open().running_runs()
    return runs[0] if runs else None


def test_sighup_mid_run_then_journal_and_history(emulated, capsys):
    # A deploy long enough to hang up in the middle of it (emulated minutes scaled to ~3 s).
    emulated.scenario({"web1": "success", "web2": "activation-fails"}, time_scale=0.15)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1", "web2", "--yes"],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True,
        env={**os.environ, "HARNESS_HOSTS": "web1,web2"})
    os.close(slave)
    try:
        run = wait_for(running_run, 30, "the run to start")
        # The terminal goes away: SIGHUP to labtui (as sshd does when the session drops) and the pty closes.
        os.kill(proc.pid, signal.SIGHUP)
        assert proc.wait(10) == -signal.SIGHUP
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert Journal.open().get_run(run.run_id).summary.state == "running"  # it goes on without its face
    detail = wait_for(lambda: (d := Journal.open().get_run(run.run_id)).summary.ended and d, 60,
                      "the run to finish in the journal")
    assert detail.summary.outcome == "failed"
    assert {n.node: n.outcome for n in detail.nodes} == {"web1": "succeeded", "web2": "rolled_back"}
    assert "Activating profile" in detail.output()
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    assert run.run_id in out and "web1.system:succeeded" in out and "web2.system:rolled_back" in out


def test_hangup_while_deploy_rs_asks_declines_after_grace(emulated, monkeypatch):
    """The face dies while deploy-rs waits for yes/no: nobody can answer, so the supervisor says no."""
    emulated.scenario({"web1": "success"})
    monkeypatch.setenv("LABTUI_UNATTENDED_GRACE", "0.5")
    master, slave = pty.openpty()
    # stdin is the pty: the CLI waits for an answer that never comes.
    proc = subprocess.Popen([sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True,
                            env={**os.environ, "HARNESS_HOSTS": "web1"})
    os.close(slave)
    try:
        run = wait_for(running_run, 30, "the run to start")
        events = Path(Journal.open().get_run(run.run_id).events_path)
        wait_for(lambda: events.exists() and '"prompt"' in events.read_text(), 30, "deploy-rs's question")
        os.kill(proc.pid, signal.SIGHUP)
        proc.wait(10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    detail = wait_for(lambda: (d := Journal.open().get_run(run.run_id)).summary.ended and d, 30,
                      "the declined run to end")
    assert detail.summary.outcome == "cancelled"
    assert [n.outcome for n in detail.nodes] == ["cancelled"]
    assert '"prompt_answered"' in events.read_text()
