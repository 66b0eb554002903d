"""The journal keeps a run's plan of waves (schema 2), and a schema-1 journal is migrated when opened."""

from __future__ import annotations

import sqlite3

from labtui.runs.events import RunStarted
from labtui.runs.journal import SCHEMA_VERSION, Journal, RunHeader

SCHEMA_1 = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, operator TEXT NOT NULL, started REAL NOT NULL, ended REAL, flake TEXT,
    revision TEXT, dirty INTEGER, method TEXT NOT NULL, action TEXT NOT NULL, argv TEXT NOT NULL DEFAULT '[]',
    outcome TEXT, exit_code INTEGER, supervisor_pid INTEGER);
CREATE TABLE nodes (run_id TEXT NOT NULL REFERENCES runs(run_id), node TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '', outcome TEXT, stage TEXT, message TEXT NOT NULL DEFAULT '', before_path TEXT,
    after_path TEXT, before_generation INTEGER, after_generation INTEGER, new_path TEXT,
    stages TEXT NOT NULL DEFAULT '{}', current_stage TEXT, started REAL, ended REAL,
    PRIMARY KEY (run_id, node, profile));
INSERT INTO runs (run_id, operator, started, method, action, outcome, ended)
    VALUES ('20261101-100000-aaaa', 'alice', 1.0, 'deploy-rs', 'switch', 'succeeded', 2.0);
INSERT INTO nodes (run_id, node, outcome) VALUES ('20261101-100000-aaaa', 'web1', 'succeeded');
PRAGMA user_version=1;
"""


def test_a_schema_1_journal_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "journal.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.close()
    journal = Journal.open(path)
    old = journal.get_run("20261101-100000-aaaa")
    assert old.summary.outcome == "succeeded" and old.summary.waves == [] and old.nodes[0].wave is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
    journal.close()
    Journal.open(path).close()  # opening it again changes nothing


def test_the_plan_of_waves_is_in_the_journal(tmp_path):
    journal = Journal.open(tmp_path / "journal.sqlite")
    waves = [["web1"], ["web2", "db1"]]
    header = RunHeader(operator="alice", method="deploy-rs", action="switch",
                       targets=[("web1", None), ("web2", None), ("db1", None)], waves=waves)
    journal.begin("20261102-100000-bbbb", header)
    run = journal.get_run("20261102-100000-bbbb")
    assert run.summary.waves == waves and {n.node: n.wave for n in run.nodes} == {"web1": 1, "web2": 2, "db1": 2}
    # A journal rebuilt from a run's events gets it from run_started.
    journal.begin_run("20261102-100001-cccc", operator="bob", method="deploy-rs", action="switch", targets=[])
    journal.record("20261102-100001-cccc", RunStarted(ts=1.0, run_id="20261102-100001-cccc", method="deploy-rs",
                                                      nodes=["web1", "web2"], argv=[], waves=[["web1"], ["web2"]]))
    assert {n.node: n.wave for n in journal.get_run("20261102-100001-cccc").nodes} == {"web1": 1, "web2": 2}
    journal.close()
