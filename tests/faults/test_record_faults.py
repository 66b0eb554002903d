"""The record of a run survives a full disk and a journal locked by another writer mid-run (issue 11, point 6).

The supervisor keeps the run going with its events in memory, the face shows the true outcome (it follows the
supervisor, not the files), the record is written as soon as it can be, with nothing lost or torn, and the
journal passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from labtui import paths
from labtui.runs.journal import Journal
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.faults.harness import journal_integrity, needs_root
from tests.support.waiting import read_until, wait_for

REPO = Path(__file__).resolve().parents[2]
FACE = [sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1", "--yes", "--json"]




def building(event: dict) -> bool:
    return event.get("event") == "stage" and event.get("stage") == "build"


def finished(event: dict) -> bool:
    return event.get("event") == "run_result"


def test_journal_locked_by_another_writer_for_more_than_10_s(emulated):
    emulated.scenario({"web1": "success"}, time_scale=0.2)
    face = subprocess.Popen(FACE, cwd=REPO, env={**os.environ, "HARNESS_HOSTS": "web1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    events: list[dict] = []
    holder: sqlite3.Connection | None = None
    try:
        read_until(face, events, building)
        run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
        holder = sqlite3.connect(paths.state_dir() / "journal.sqlite", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the journal's write lock
        locked = time.monotonic()
        read_until(face, events, finished)  # the run goes on and its face gets the true outcome meanwhile
        assert face.wait(30) == 0
        assert time.monotonic() - locked < 10  # ... without waiting for the lock
        # Hold it past the journal's 10 s busy timeout: the writes fail, are kept and retried.
        wait_for(lambda: time.monotonic() - locked > 10.5, 15, "the lock to be held for more than 10 s")
        assert Journal.recovered().get_run(run_id).summary.outcome is None  # nothing could be written
    finally:
        if holder is not None:
            holder.close()  # the other writer lets go
        if face.poll() is None:
            face.kill()
    result = events[-1]
    assert (result["outcome"], result["exit_code"]) == ("succeeded", 0)

    detail = wait_for(lambda: (d := Journal.open().get_run(run_id)).summary.outcome and d, 60,
                      "the journal to get the run once the lock is released")
    assert detail.summary.outcome == "succeeded"
    assert [(n.node, n.outcome) for n in detail.nodes] == [("web1", "succeeded")]
    recorded = [json.loads(line) for line in detail.events_path.read_text().splitlines()]
    assert [e for e in recorded if e["event"] == "run_result"] == [result]
    notices = [e["line"] for e in recorded if e["event"] == "output" and e["line"].startswith("labtui:")]
    assert any("cannot write the run's journal entry" in n and "locked" in n for n in notices), notices
    wait_for(lambda: "journal entry is written again" in detail.events_path.read_text(), 30, "the recovery note")
    assert "Activating profile" in detail.output()
    assert journal_integrity(Journal.default_path()) == "ok"


def test_disk_filling_up_mid_run(emulated, tmp_path):
    needs_root("a small tmpfs for the state dir in a mount namespace, filled up mid-run")
    state = Path(os.environ["XDG_STATE_HOME"])
    emulated.scenario({"web1": "success"}, time_scale=0.2)
    # A mount namespace whose state dir is a 4 MB tmpfs; the face (and its supervisor) run in it.
    keeper = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-euc",
         f'mount -t tmpfs -o size=4m,mode=0700 tmpfs "{state}"; echo ready; exec sleep 600'],
        stdout=subprocess.PIPE, text=True)
    inside = ["nsenter", "-t", str(keeper.pid), "-m", f"--wd={REPO}", "--"]
    face = None
    try:
        assert keeper.stdout is not None and keeper.stdout.readline().strip() == "ready"
        face = subprocess.Popen([*inside, *FACE], cwd=REPO, env={**os.environ, "HARNESS_HOSTS": "web1"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events: list[dict] = []
        read_until(face, events, building)
        run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
        filler = state / "filler"
        subprocess.run([*inside, "dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # ENOSPC
        read_until(face, events, finished)  # the run goes on; its face gets the true outcome from memory
        assert face.wait(30) == 0
        result = events[-1]
        assert (result["outcome"], result["exit_code"]) == ("succeeded", 0)
        assert any("cannot write the run's" in e.get("line", "") and "full" in e.get("line", "").lower()
                   or "No space left" in e.get("line", "") for e in events), \
            [e.get("line") for e in events if e["event"] == "output"][-5:]
        subprocess.run([*inside, "rm", "-f", str(filler)], check=True)  # space again: the record is written

        def recorded() -> dict | None:
            probe = subprocess.run([*inside, sys.executable, "-c", READ_BACK, str(state), run_id],
                                   capture_output=True, text=True)
            answer = json.loads(probe.stdout or "null")
            return answer if answer and answer["outcome"] and answer["supervisor_gone"] else None

        answer = wait_for(recorded, 60, "the record to be written once there is space again")
    finally:
        if face is not None and face.poll() is None:
            face.kill()
        keeper.send_signal(signal.SIGKILL)
        keeper.wait()
    assert answer["outcome"] == "succeeded" and answer["nodes"] == [["web1", "succeeded"]]
    assert answer["integrity"] == "ok"
    assert answer["torn_lines"] == 0 and answer["last_event"]["event"] == "run_result"
    assert answer["events"] >= len(events)  # the face's events, and the notices after the result
    assert "Activating profile" in answer["output"]
    assert "is written again; nothing was lost" in answer["notices"]


# Read the run's record inside the mount namespace (the tmpfs is only visible there).
READ_BACK = r"""
import json, os, sqlite3, sys
state, run_id = sys.argv[1], sys.argv[2]
base = os.path.join(state, "labtui")
db = sqlite3.connect(os.path.join(base, "journal.sqlite"))
row = db.execute("SELECT outcome, supervisor_pid FROM runs WHERE run_id=?", (run_id,)).fetchone()
nodes = db.execute("SELECT node, outcome FROM nodes WHERE run_id=?", (run_id,)).fetchall()
integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
run = os.path.join(base, "runs", run_id)
lines = open(os.path.join(run, "events.jsonl")).read().splitlines()
parsed, torn = [], 0
for line in lines:
    try:
        parsed.append(json.loads(line))
    except ValueError:
        torn += 1
result = [e for e in parsed if e["event"] == "run_result"]
notices = " ".join(e.get("line", "") for e in parsed if e["event"] == "output")
print(json.dumps({"outcome": row[0] if row else None, "nodes": nodes, "integrity": integrity,
                  "supervisor_gone": not os.path.exists(f"/proc/{row[1]}") if row else False,
                  "torn_lines": torn, "last_event": result[-1] if result else None, "events": len(parsed),
                  "notices": notices, "output": open(os.path.join(run, "output.log")).read()}))
"""
