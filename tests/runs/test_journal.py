"""The journal: runs, per-node outcomes, stage timings, generations, state of unfinished runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from labtui import paths
from labtui.errors import UserError
from labtui.runs.events import (
    GenerationSwitched,
    NodeResult,
    Output,
    PlanEntry,
    Prompt,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
)
from labtui.runs.files import RunFiles
from labtui.runs.journal import SCHEMA_VERSION, Journal

PATH = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-activatable-nixos-system-web1"


def record_run(journal: Journal, run_id: str, *, outcome_web1="succeeded", t0=1000.0):
    journal.begin_run(run_id, operator="alice", method="deploy-rs", action="switch",
                      targets=[("web1", None), ("db1", "system")], flake="/lab", revision="abc123", dirty=True,
                      argv=[["deploy", ".#web1"], ["deploy", ".#db1.system"]], supervisor_pid=os.getpid(), started=t0)
    events: list[RunEvent] = [
        RunStarted(ts=t0, run_id=run_id, method="deploy-rs", nodes=["web1", "db1"], argv=[]),
        StageChanged(ts=t0 + 1, node=None, profile=None, stage="eval"),
        Prompt(ts=t0 + 2, plan=[PlanEntry(node="web1", profile="system", path=PATH)]),
        StageChanged(ts=t0 + 3, node="web1", profile="system", stage="build"),
        StageChanged(ts=t0 + 5, node="web1", profile="system", stage="activate"),
        Output(ts=t0 + 6, node="web1", stage="activate", line="switching profile from version 41 to 42"),
        GenerationSwitched(ts=t0 + 6, node="web1", from_generation=41, to_generation=42),
        NodeResult(ts=t0 + 8, node="web1", profile="system", outcome=outcome_web1, stage="confirm", message="ok"),
        NodeResult(ts=t0 + 8, node="db1", profile="system", outcome="not_deployed", stage="build",
                   message="build failed"),
        RunResult(ts=t0 + 9, outcome="failed", exit_code=1),
    ]
    for event in events:
        journal.record(run_id, event)


def test_run_and_nodes_are_recorded():
    journal = Journal.open()
    record_run(journal, "r1")
    detail = journal.get_run("r1")
    s = detail.summary
    assert (s.operator, s.method, s.action, s.outcome, s.exit_code, s.state) == (
        "alice", "deploy-rs", "switch", "failed", 1, "finished")
    assert (s.revision, s.dirty, s.flake) == ("abc123", True, "/lab")
    assert s.nodes == {"web1.system": "succeeded", "db1.system": "not_deployed"}
    assert s.targets == [("web1", "system", "succeeded"), ("db1", "system", "not_deployed")]
    assert detail.argv == [["deploy", ".#web1"], ["deploy", ".#db1.system"]]
    web1 = detail.nodes[0]
    assert (web1.node, web1.profile, web1.outcome, web1.stage) == ("web1", "system", "succeeded", "confirm")
    assert (web1.before_generation, web1.after_generation, web1.after_path) == (41, 42, PATH)
    assert web1.stages["eval"] == [1001.0, 1003.0]
    assert web1.stages["build"] == [1003.0, 1005.0] and web1.stages["activate"] == [1005.0, 1008.0]
    assert detail.nodes[1].message == "build failed"


def test_rollback_generations():
    journal = Journal.open()
    journal.begin_run("r2", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)])
    # The journal records what the parser reports, never re-reads output lines.
    journal.record("r2", Output(ts=1.0, node="web1", stage="activate",
                                line="switching profile from version 44 to 43"))
    assert journal.get_run("r2").nodes[0].before_generation is None
    journal.record("r2", GenerationSwitched(ts=1.0, node="web1", from_generation=43, to_generation=42))
    node = journal.get_run("r2").nodes[0]
    assert (node.before_generation, node.after_generation) == (42, 42)


def test_list_by_host_last_outcome_and_prefix_lookup():
    journal = Journal.open()
    record_run(journal, "20260101-000000-aaaa", t0=1000.0)
    record_run(journal, "20260101-000100-bbbb", outcome_web1="rolled_back", t0=2000.0)
    journal.begin_run("20260101-000200-cccc", operator="bob", method="deploy-rs", action="boot",
                      targets=[("db1", None)], started=3000.0)
    assert [r.run_id for r in journal.list_runs("web1")] == ["20260101-000100-bbbb", "20260101-000000-aaaa"]
    assert len(journal.list_runs()) == 3
    assert journal.last_outcome("web1").outcome == "rolled_back"
    assert journal.last_outcome("nope") is None
    assert journal.get_run("20260101-0001").summary.run_id == "20260101-000100-bbbb"
    with pytest.raises(UserError):
        journal.get_run("2026")  # ambiguous


def test_running_and_lost_runs():
    journal = Journal.open()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal.begin_run("alive", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=os.getpid())
    journal.begin_run("dead", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=dead.pid)
    assert [r.run_id for r in journal.running_runs()] == ["alive"]
    assert journal.get_run("dead").summary.state == "lost"
    reaped = journal.reap_lost()
    assert list(reaped) == ["dead"] and reaped["dead"].nodes == [("web1", None)]
    assert journal.reap_lost() == {}  # once only
    dead_run = journal.get_run("dead")
    assert dead_run.summary.outcome == "lost" and dead_run.summary.exit_code is None  # never `failed` by guess
    assert dead_run.nodes[0].outcome == "unknown" and f"pid {dead.pid}" in dead_run.nodes[0].message
    assert journal.get_run("alive").summary.outcome is None


def test_a_reused_pid_does_not_keep_a_lost_run_running():
    journal = Journal.open()
    # Our own pid, but another process's start stamp: the pid was reused, the supervisor is gone.
    journal.begin_run("reused", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=os.getpid(), supervisor_start="0-boot:1")
    assert journal.get_run("reused").summary.state == "lost"
    assert list(journal.reap_lost()) == ["reused"]


def test_a_probe_after_a_lost_run_records_what_the_host_runs():
    journal = Journal.open()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal.begin_run("lost1", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=dead.pid)
    journal.record("lost1", Prompt(ts=time.time(), plan=[PlanEntry(node="web1", profile="system",
                                                                   path="/nix/store/new")]))
    assert journal.record_found("web1", "/nix/store/new", 43) == 0  # not lost yet: nothing to settle
    journal.reap_lost()
    later = time.time() + 1
    assert journal.record_found("web1", "/nix/store/new", 43, later) == 1
    assert journal.record_found("web1", "/nix/store/old", 42, later + 1) == 0  # the first probe after it counts
    node = journal.get_run("lost1").nodes[0]
    assert node.outcome == "unknown"  # what runs is not what the deploy did
    assert (node.found_path, node.found_generation, node.found_at) == ("/nix/store/new", 43, later)
    assert node.new_path == "/nix/store/new"


def test_a_version_1_journal_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO runs (run_id, operator, started, method, action, outcome) "
               "VALUES ('r0', 'a', 1.0, 'deploy-rs', 'switch', 'succeeded')")
    db.execute("INSERT INTO nodes (run_id, node, outcome) VALUES ('r0', 'web1', 'succeeded')")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    journal = Journal.open(path)
    assert journal.get_run("r0").nodes[0].outcome == "succeeded"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    journal.begin_run("r1", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=os.getpid())
    assert journal.get_run("r1").summary.state == "running"


V1_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, operator TEXT NOT NULL, started REAL NOT NULL, ended REAL, flake TEXT,
    revision TEXT, dirty INTEGER, method TEXT NOT NULL, action TEXT NOT NULL, argv TEXT NOT NULL DEFAULT '[]',
    outcome TEXT, exit_code INTEGER, supervisor_pid INTEGER);
CREATE TABLE nodes (run_id TEXT NOT NULL REFERENCES runs(run_id), node TEXT NOT NULL, profile TEXT NOT NULL
    DEFAULT '', outcome TEXT, stage TEXT, message TEXT NOT NULL DEFAULT '', before_path TEXT, after_path TEXT,
    before_generation INTEGER, after_generation INTEGER, new_path TEXT, stages TEXT NOT NULL DEFAULT '{}',
    current_stage TEXT, started REAL, ended REAL, PRIMARY KEY (run_id, node, profile));
CREATE INDEX nodes_by_node ON nodes(node);
CREATE INDEX runs_by_start ON runs(started);
"""


def test_wal_mode_schema_version_and_second_reader():
    journal = Journal.open()
    record_run(journal, "r1")
    db = sqlite3.connect(paths.state_dir() / "journal.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert Journal.open().get_run("r1").summary.outcome == "failed"


def test_newer_schema_is_refused():
    path = paths.state_dir() / "journal.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="newer labtui"):
        Journal.open()


def test_run_files():
    files = RunFiles("r9")
    files.raw("line one\npartial")
    files.event(RunResult(ts=1.0, outcome="succeeded", exit_code=0))
    files.close()
    assert (files.dir / "output.log").read_text() == "line one\npartial"
    assert '"event": "run_result"' in (files.dir / "events.jsonl").read_text()
