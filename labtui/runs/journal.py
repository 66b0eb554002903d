"""The journal: every run, what it did to each node, and its full output, kept across restarts.

`journal.sqlite` under `labtui.paths.state_dir()` (WAL mode, so a TUI can read while supervisors write):
one row per run and one per (run, node, profile), folded from the run's events as they happen. The raw
output and the events themselves are in the run's files (`labtui.runs.files`).

The schema version lives in `PRAGMA user_version`; `Journal.open` creates or migrates it.

The journal is private (0600 in a 0700 state dir, whatever the umask). A journal that cannot be opened (full disk,
read-only or foreign state dir, a damaged file, a directory in its place, a lock held by another process) is a
one-line `labtui.runs.state.StateError`; `Journal.recovered()` then reads what it can: the file read-only, or the
runs from their own files (their events are the record; the journal is an index of them).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, assert_never

from labtui import paths
from labtui.errors import UserError
from labtui.runs.events import (
    ActivationWindow,
    BuildProgress,
    CheckResultEvent,
    Confirmed,
    ConfirmWindow,
    ExecResult,
    GenerationSwitched,
    NodeResult,
    NodeState,
    Output,
    PasswordPrompt,
    Prompt,
    PromptAnswered,
    RebootProgress,
    Rollback,
    RollbackResult,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
    Stall,
    WaveResult,
    WaveStarted,
)
from labtui.runs.files import events_path, output_log_path, run_dir, runs_dir
from labtui.runs.process import ProcessId
from labtui.runs.state import StateError, journal_error, state_error

SCHEMA_VERSION = 3
# Seconds a write waits for another writer's lock before giving up (LABTUI_JOURNAL_TIMEOUT overrides, for tests).
BUSY_TIMEOUT = 10.0
P = ParamSpec("P")
R = TypeVar("R")


def busy_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("LABTUI_JOURNAL_TIMEOUT", BUSY_TIMEOUT)))
    except ValueError:
        return BUSY_TIMEOUT


def _as_state_errors(method: Callable[P, R]) -> Callable[P, R]:
    """SQLite errors of a journal method as one-line StateErrors (a damaged page is found when it is read)."""
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            journal = args[0]
            assert isinstance(journal, Journal)
            raise journal_error(exc, journal.path, timeout=journal.timeout) from None

    return wrapper

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    flake TEXT,
    revision TEXT,
    dirty INTEGER,
    method TEXT NOT NULL,
    action TEXT NOT NULL,
    argv TEXT NOT NULL DEFAULT '[]',      -- JSON list of argv lists (one per process)
    outcome TEXT,                          -- succeeded | failed | cancelled | lost; NULL while running
    exit_code INTEGER,
    supervisor_pid INTEGER,                -- the process running it, to tell running from lost
    supervisor_start TEXT,                 -- that process's start stamp (labtui.runs.process): pid reuse
    waves TEXT NOT NULL DEFAULT '[]'       -- JSON list of the nodes of each wave (schema 2); [] without waves
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    node TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '',      -- '' when the whole node was targeted
    outcome TEXT,
    stage TEXT,
    message TEXT NOT NULL DEFAULT '',
    before_path TEXT,
    after_path TEXT,
    before_generation INTEGER,
    after_generation INTEGER,
    new_path TEXT,                         -- the closure deploy-rs planned to deploy
    stages TEXT NOT NULL DEFAULT '{}',     -- JSON {stage: [start, end or null]}
    current_stage TEXT,
    started REAL,
    ended REAL,
    found_path TEXT,                       -- outcome unknown (run lost): what a later probe found running,
    found_generation INTEGER,              -- its generation,
    found_at REAL,                         -- and when (schema 3)
    wave INTEGER,                          -- its wave, 1-based (schema 2); NULL without waves
    PRIMARY KEY (run_id, node, profile)
);
CREATE INDEX IF NOT EXISTS nodes_by_node ON nodes(node);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs(started);
"""
# Columns each schema version added to an older journal: (version, table, column, declaration).
_MIGRATIONS: tuple[tuple[int, str, str, str], ...] = (
    (2, "runs", "waves", "TEXT NOT NULL DEFAULT '[]'"),
    (2, "nodes", "wave", "INTEGER"),
    (3, "runs", "supervisor_start", "TEXT"),
    (3, "nodes", "found_path", "TEXT"),
    (3, "nodes", "found_generation", "INTEGER"),
    (3, "nodes", "found_at", "REAL"),
)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a journal of schema `version` (0: new) up to SCHEMA_VERSION: the tables, then each newer column."""
    conn.executescript(_SCHEMA)  # a new journal gets the current tables; an old one keeps its own
    for step, table, column, declaration in _MIGRATIONS:
        if step > version:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

# Why a node of a lost run has no outcome but `unknown` (docs/deploy.md, "When the supervisor vanishes").
LOST_MESSAGE = ("the run's supervisor (pid {pid}) vanished while this was deployed; what the host runs is unknown "
                "until a probe of it says")

@dataclass(frozen=True)
class RunHeader:
    """What a run is about, for its journal row (written before its first event)."""

    operator: str
    method: str
    action: str
    targets: list[tuple[str, str | None]]
    flake: str | None = None
    revision: str | None = None
    dirty: bool | None = None
    argv: list[list[str]] = field(default_factory=list)
    waves: list[list[str]] = field(default_factory=list)  # the plan of waves, [] without


@dataclass(frozen=True)
class NodeRecord:
    node: str
    profile: str | None
    outcome: str | None  # None while the node is still being deployed
    stage: str | None
    message: str
    before_path: str | None
    after_path: str | None
    before_generation: int | None
    after_generation: int | None
    stages: dict[str, list[float | None]]  # stage -> [start, end]
    started: float | None
    ended: float | None
    new_path: str | None = None  # the closure deploy-rs planned to deploy (its --interactive plan)
    # outcome `unknown` (its run was lost): what a later probe found the host running, and when.
    found_path: str | None = None
    found_generation: int | None = None
    found_at: float | None = None
    wave: int | None = None  # its wave (1-based) in a run with waves

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LostRun:
    """A run `reap_lost` ended: its vanished supervisor, when it was ended, the nodes it left `unknown`."""

    supervisor_pid: int
    ended: float
    nodes: list[tuple[str, str | None]]


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    operator: str
    started: float
    ended: float | None
    flake: str | None
    revision: str | None
    dirty: bool | None
    method: str
    action: str
    outcome: str | None
    exit_code: int | None
    state: str  # running | finished | lost (its supervisor died without recording an end)
    nodes: dict[str, str | None] = field(default_factory=dict)  # "node" or "node.profile" -> outcome
    # The same, unambiguous for dotted node names: (node, profile or None, outcome or None while running).
    targets: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    waves: list[list[str]] = field(default_factory=list)  # the run's plan of waves ([] without)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    argv: list[list[str]]
    nodes: list[NodeRecord]
    output_path: Path
    events_path: Path

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "argv": self.argv, "node_details": [n.to_dict() for n in self.nodes],
                "output_path": str(self.output_path), "events_path": str(self.events_path)}


class Journal:
    """SQLite journal of deploy runs. Safe to use from several processes at once (WAL, busy timeout)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, timeout: float | None = None) -> None:
        self._db = conn
        self.path = path
        self.timeout = timeout if timeout is not None else busy_timeout()

    @classmethod
    def default_path(cls) -> Path:
        return paths.state_dir() / "journal.sqlite"

    @classmethod
    def open(cls, path: Path | str | None = None) -> Journal:
        """The journal for reading and writing, created private if needed; StateError (one line) when it cannot."""
        default = path is None
        path = Path(path) if path is not None else cls.default_path()
        timeout = busy_timeout()
        conn: sqlite3.Connection | None = None
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(path))
            paths.private_dir(path.parent, base=paths.state_dir() if default else None)
            os.close(paths.open_private(path, os.O_RDWR))  # 0600 before SQLite creates it with the umask's mode
            for suffix in ("-wal", "-shm"):  # SQLite gives these the journal's mode; older ones are tightened
                paths.tighten(Path(f"{path}{suffix}"), paths.PRIVATE_FILE)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(f"journal {path} was written by a newer labtui (schema {version}); upgrade labtui "
                                 "or move the file away", path)
            if version < SCHEMA_VERSION:
                migrate(conn, version)
            return cls(conn, path, timeout=timeout)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error):
                raise journal_error(exc, path, timeout=timeout) from None
            if isinstance(exc, OSError):
                raise state_error(exc, path, "open the journal") from None
            raise

    @classmethod
    def recovered(cls, path: Path | str | None = None) -> Journal:
        """What can still be read when `open` failed: the journal read-only when SQLite can read it, else an
        in-memory journal of the runs rebuilt from their files (runs/<id>/events.jsonl)."""
        path = Path(path) if path is not None else cls.default_path()
        base = path.resolve().as_uri()
        for uri in (f"{base}?mode=ro", f"{base}?immutable=1"):  # immutable: when no -shm can be made
            conn = None
            try:
                if not path.is_file():
                    break
                conn = sqlite3.connect(uri, uri=True, isolation_level=None)
                conn.row_factory = sqlite3.Row
                if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError("not this schema")
                conn.execute("SELECT count(*) FROM runs").fetchone()
                conn.execute("SELECT count(*) FROM nodes").fetchone()
                return cls(conn, path)
            except (sqlite3.Error, OSError):
                if conn is not None:
                    conn.close()
        return cls.from_run_files(path)

    @classmethod
    def from_run_files(cls, path: Path | None = None) -> Journal:
        """An in-memory journal of every run in the state dir, folded from its events file (read-only use)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        journal = cls(conn, path or cls.default_path())
        try:
            run_ids = sorted(p.name for p in runs_dir().iterdir() if p.is_dir())
        except OSError:
            run_ids = []
        for run_id in run_ids:
            journal._replay(run_id)
        return journal

    def _replay(self, run_id: str) -> None:
        from labtui.runs.events import UnknownEvent, event_from_dict

        try:
            lines = events_path(run_id).read_text(errors="replace").splitlines()
        except (OSError, StateError, UserError):
            return
        try:
            supervisor = ProcessId.parse((run_dir(run_id) / "supervisor.pid").read_text())
        except OSError:
            supervisor = None
        begun = False
        for line in lines:
            try:
                event = event_from_dict(json.loads(line))
            except (UnknownEvent, ValueError, TypeError, KeyError):
                continue
            try:
                if not begun:
                    if not isinstance(event, RunStarted):
                        return  # not a run this version can read
                    self.begin_run(run_id, operator="?", method=event.method, action="?",
                                   targets=[(node, None) for node in event.nodes],
                                   argv=event.argvs or ([event.argv] if event.argv else []),
                                   supervisor_pid=supervisor.pid if supervisor else None,
                                   supervisor_start=supervisor.start if supervisor else None, started=event.ts)
                    begun = True
                self.record(run_id, event)
            except (sqlite3.Error, ValueError, TypeError, KeyError):
                continue

    def close(self) -> None:
        self._db.close()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another writer's lock (a run's recorder waits little and retries)."""
        self.timeout = seconds
        self._db.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")

    # ---- writing ---------------------------------------------------------------------------------

    @_as_state_errors
    def begin_run(self, run_id: str, *, operator: str, method: str, action: str, targets: list[tuple[str, str | None]],
                  flake: str | None = None, revision: str | None = None, dirty: bool | None = None,
                  argv: list[list[str]] | None = None, supervisor_pid: int | None = None,
                  supervisor_start: str | None = None, started: float | None = None,
                  waves: list[list[str]] | None = None) -> None:
        """Create the run and its node rows (before any event, so `labtui history HOST` shows it at once).

        `supervisor_pid` is the process that runs it (its start stamp is read unless given): once that process is
        gone without recording an end, the run is lost (`reap_lost`)."""
        if supervisor_pid is not None and supervisor_start is None:
            supervisor_start = ProcessId.of(supervisor_pid).start
        with self._tx():
            created = self._db.execute(
                "INSERT OR IGNORE INTO runs (run_id, operator, started, flake, revision, dirty, method, action, argv,"
                " supervisor_pid, supervisor_start) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, operator, started or time.time(), flake, revision, None if dirty is None else int(dirty),
                 method, action, json.dumps(argv or []), supervisor_pid, supervisor_start))
            if created.rowcount == 0:
                return  # begun already (a recorder beginning it again): its node rows may have profiles by now
            for node, profile in targets:
                self._db.execute("INSERT OR IGNORE INTO nodes (run_id, node, profile) VALUES (?,?,?)",
                                 (run_id, node, profile or ""))
            if waves:
                self._set_waves(run_id, waves)

    def begin(self, run_id: str, header: RunHeader, *, supervisor_pid: int | None = None,
              supervisor_start: str | None = None) -> None:
        """`begin_run` from a RunHeader."""
        self.begin_run(run_id, operator=header.operator, method=header.method, action=header.action,
                       targets=header.targets, flake=header.flake, revision=header.revision, dirty=header.dirty,
                       argv=header.argv, supervisor_pid=supervisor_pid, supervisor_start=supervisor_start,
                       waves=header.waves)

    def record(self, run_id: str, event: RunEvent) -> None:
        """Fold one event of the run into the journal (the many `output` lines cost nothing)."""
        match event:
            case Output() | Stall() | ConfirmWindow() | ActivationWindow() | Confirmed() | PasswordPrompt() \
                    | PromptAnswered() | CheckResultEvent() | RebootProgress() | ExecResult() | BuildProgress() \
                    | WaveStarted():
                pass  # progress only (an exec's outcome is its node_result): the events file has them
            case Rollback() | WaveResult():
                pass  # the node_results that follow carry the outcomes
            case GenerationSwitched(node=str(node)):
                old, new = event.from_generation, event.to_generation
                if new > old or self._action(run_id) == "rollback":
                    # A switch forward (the deploy's new generation), or a manual rollback from old to new.
                    self._update_nodes(run_id, node, None, before_generation=old, after_generation=new)
                else:  # a rollback from the new generation `old` back to `new`: the host ends where it was
                    self._update_nodes(run_id, node, None, before_generation=new, after_generation=new)
            case GenerationSwitched():
                pass  # no node to put it on
            case NodeState():  # the running system's generation (else the profile's), from the probe
                generation = event.generation if event.generation is not None else event.profile_generation
                if not event.error and generation is not None:
                    when = event.when  # before | after
                    with self._tx():
                        self._update_nodes(run_id, event.node, None, system_only=True,
                                           **{f"{when}_path": event.path, f"{when}_generation": generation})
                        # What a lost run left behind on this host is known now.
                        self._found(event.node, event.path, generation, event.ts)
            case RollbackResult():  # a switch back (health gate, `labtui rollback`)
                if event.ok:
                    self._update_nodes(run_id, event.node, None, after_generation=event.to_generation)
            case RunStarted():
                with self._tx():
                    self._db.execute("UPDATE runs SET argv = CASE WHEN argv = '[]' THEN ? ELSE argv END "
                                     "WHERE run_id=?", (json.dumps([event.argv] if event.argv else []), run_id))
                    for node in event.nodes:
                        if not self._rows(run_id, node, None):
                            self._db.execute("INSERT OR IGNORE INTO nodes (run_id, node) VALUES (?,?)",
                                             (run_id, node))
                    if event.waves:
                        self._set_waves(run_id, event.waves)
            case StageChanged():
                with self._tx():
                    nodes = [event.node] if event.node else self._open_nodes(run_id)
                    for node in nodes:
                        self._enter_stage(run_id, node, event.profile, event.stage, event.ts)
            case Prompt():
                with self._tx():
                    for entry in event.plan:
                        self._update_nodes(run_id, entry.node, entry.profile, new_path=entry.path)
            case NodeResult():
                with self._tx():
                    self._finish_node(run_id, event)
            case RunResult():
                with self._tx():
                    self._finish_run(run_id, event)
            case _:
                assert_never(event)

    def _set_waves(self, run_id: str, waves: list[list[str]]) -> None:
        """The run's plan of waves: on the run, and each node's wave on its rows."""
        self._db.execute("UPDATE runs SET waves=? WHERE run_id=?", (json.dumps(waves), run_id))
        for number, nodes in enumerate(waves, 1):
            for node in nodes:
                self._db.execute("UPDATE nodes SET wave=? WHERE run_id=? AND node=?", (number, run_id, node))

    def _finish_run(self, run_id: str, event: RunResult) -> None:
        self._db.execute("UPDATE runs SET ended=?, outcome=?, exit_code=? WHERE run_id=?",
                         (event.ts, event.outcome, event.exit_code, run_id))
        # Nodes the run never got to keep their last stage open: close them at the run's end.
        for row in self._db.execute("SELECT node, profile, stages FROM nodes WHERE run_id=? AND ended IS NULL",
                                    (run_id,)).fetchall():
            self._db.execute("UPDATE nodes SET ended=?, stages=? WHERE run_id=? AND node=? AND profile=?",
                             (event.ts, json.dumps(_close_stages(json.loads(row["stages"]), event.ts)),
                              run_id, row["node"], row["profile"]))

    @_as_state_errors
    def reap_lost(self, run_id: str | None = None) -> dict[str, LostRun]:
        """End every run (or `run_id`) whose supervisor is provably gone without having recorded an end.

        The run's outcome is `lost` (no exit code: none is known) and each node without a result is `unknown`, never
        `failed` by guess: its deploy may have gone through. Returns the runs ended here, each with those nodes
        (another process may reap the same run at the same moment: only one of them gets it)."""
        query = "SELECT run_id, supervisor_pid, supervisor_start FROM runs WHERE ended IS NULL AND supervisor_pid " \
                "IS NOT NULL" + (" AND run_id=?" if run_id else "")
        reaped: dict[str, LostRun] = {}
        for row in self._db.execute(query, (run_id,) if run_id else ()).fetchall():
            if ProcessId(row["supervisor_pid"], row["supervisor_start"]).alive():
                continue
            now = time.time()
            with self._tx():
                ended = self._db.execute("UPDATE runs SET ended=?, outcome='lost', exit_code=NULL "
                                         "WHERE run_id=? AND ended IS NULL", (now, row["run_id"]))
                if ended.rowcount == 0:
                    continue
                message = LOST_MESSAGE.format(pid=row["supervisor_pid"])
                nodes = self._db.execute("SELECT node, profile, stages FROM nodes WHERE run_id=? AND outcome IS NULL",
                                         (row["run_id"],)).fetchall()
                for node in nodes:
                    self._db.execute(
                        "UPDATE nodes SET outcome='unknown', message=?, ended=?, stages=? "
                        "WHERE run_id=? AND node=? AND profile=?",
                        (message, now, json.dumps(_close_stages(json.loads(node["stages"]), now)), row["run_id"],
                         node["node"], node["profile"]))
                reaped[row["run_id"]] = LostRun(row["supervisor_pid"], now,
                                                [(n["node"], n["profile"] or None) for n in nodes])
        return reaped

    @_as_state_errors
    def record_found(self, node: str, path: str | None, generation: int | None, ts: float | None = None) -> int:
        """A probe of `node` says what it runs: put it on the node's `unknown` outcomes of lost runs that ended
        before `ts` (the outcome stays `unknown`: what runs is not what the deploy did). How many were settled."""
        if generation is None and path is None:
            return 0
        with self._tx():
            return self._found(node, path, generation, time.time() if ts is None else ts)

    @_as_state_errors
    def unknown_hosts(self) -> set[str]:
        """Nodes left `unknown` by a lost run with nothing found on them yet (what `record_found` would settle)."""
        rows = self._db.execute("SELECT DISTINCT node FROM nodes WHERE outcome='unknown' AND found_at IS NULL")
        return {r["node"] for r in rows}

    def _found(self, node: str, path: str | None, generation: int | None, ts: float) -> int:
        cursor = self._db.execute(
            "UPDATE nodes SET found_path=?, found_generation=?, found_at=? WHERE node=? AND outcome='unknown' "
            "AND found_at IS NULL AND profile IN ('', 'system') AND run_id IN "
            "(SELECT run_id FROM runs WHERE outcome='lost' AND ended <= ?)", (path, generation, ts, node, ts))
        return cursor.rowcount

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def _action(self, run_id: str) -> str | None:
        row = self._db.execute("SELECT action FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return row["action"] if row else None

    def _rows(self, run_id: str, node: str, profile: str | None) -> list[sqlite3.Row]:
        """The rows an event about (node, profile) applies to, adopting a whole-node row for a profile."""
        if profile is None:
            return self._db.execute("SELECT * FROM nodes WHERE run_id=? AND node=?", (run_id, node)).fetchall()
        rows = self._db.execute("SELECT * FROM nodes WHERE run_id=? AND node=? AND profile=?",
                                (run_id, node, profile)).fetchall()
        if rows:
            return rows
        # The node was targeted as a whole (profile ''): the first profile event names that row.
        whole = self._db.execute("SELECT * FROM nodes WHERE run_id=? AND node=? AND profile=''",
                                 (run_id, node)).fetchone()
        if whole is not None:
            self._db.execute("UPDATE nodes SET profile=? WHERE run_id=? AND node=? AND profile=''",
                             (profile, run_id, node))
        else:
            self._db.execute("INSERT INTO nodes (run_id, node, profile) VALUES (?,?,?)", (run_id, node, profile))
        return self._db.execute("SELECT * FROM nodes WHERE run_id=? AND node=? AND profile=?",
                                (run_id, node, profile)).fetchall()

    def _open_nodes(self, run_id: str) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT node FROM nodes WHERE run_id=? AND outcome IS NULL", (run_id,))
        return [r["node"] for r in rows]

    def _update_nodes(self, run_id: str, node: str, profile: str | None, *, system_only: bool = False,
                      **values: Any) -> None:
        with self._tx():
            rows = self._rows(run_id, node, profile) or self._rows(run_id, node, "")
            if system_only:  # generations are the system profile's, not home-manager's
                rows = [r for r in rows if r["profile"] in ("", "system")]
            sets = ", ".join(f"{k}=?" for k in values)
            for row in rows:
                self._db.execute(f"UPDATE nodes SET {sets} WHERE run_id=? AND node=? AND profile=?",
                                 (*values.values(), run_id, row["node"], row["profile"]))

    def _enter_stage(self, run_id: str, node: str, profile: str | None, stage: str, ts: float) -> None:
        rows = self._rows(run_id, node, profile) or self._rows(run_id, node, "")
        for row in rows:
            stages = _close_stages(json.loads(row["stages"]), ts)
            stages.setdefault(stage, [ts, None])
            stages[stage][1] = None
            self._db.execute(
                "UPDATE nodes SET stages=?, current_stage=?, started=COALESCE(started, ?) "
                "WHERE run_id=? AND node=? AND profile=?",
                (json.dumps(stages), stage, ts, run_id, row["node"], row["profile"]))

    def _finish_node(self, run_id: str, event: NodeResult) -> None:
        rows = self._rows(run_id, event.node, event.profile)
        for row in rows:
            stages = _close_stages(json.loads(row["stages"]), event.ts)
            after_path = row["after_path"]
            if event.outcome == "succeeded" and row["new_path"]:
                after_path = row["new_path"]
            self._db.execute(
                "UPDATE nodes SET outcome=?, stage=?, message=?, stages=?, ended=?, after_path=? "
                "WHERE run_id=? AND node=? AND profile=?",
                (event.outcome, event.stage, event.message, json.dumps(stages), event.ts, after_path,
                 run_id, row["node"], row["profile"]))

    # ---- reading ---------------------------------------------------------------------------------

    @_as_state_errors
    def list_runs(self, host: str | None = None, limit: int = 50) -> list[RunSummary]:
        """Newest first; only runs that touched `host` when given."""
        if host:
            rows = self._db.execute(
                "SELECT * FROM runs WHERE run_id IN (SELECT run_id FROM nodes WHERE node=?) "
                "ORDER BY started DESC LIMIT ?", (host, limit)).fetchall()
        else:
            rows = self._db.execute("SELECT * FROM runs ORDER BY started DESC LIMIT ?", (limit,)).fetchall()
        return [self._summary(r) for r in rows]

    @_as_state_errors
    def get_run(self, run_id: str) -> RunDetail:
        """One run by id or unique id prefix; UserError when unknown."""
        row = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            like = run_id.replace("%", "").replace("_", "\\_") + "%"
            matches = self._db.execute("SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\'", (like,)).fetchall()
            if len(matches) != 1:
                what = "no run" if not matches else f"{len(matches)} runs"
                raise UserError(f"{what} with id `{run_id}` in the journal {self.path}; "
                                "list runs with `labtui history`")
            row = matches[0]
        nodes = [self._node(r) for r in self._db.execute(
            "SELECT * FROM nodes WHERE run_id=? ORDER BY rowid", (row["run_id"],)).fetchall()]
        return RunDetail(self._summary(row), json.loads(row["argv"]), nodes,
                         output_log_path(row["run_id"]), events_path(row["run_id"]))

    @_as_state_errors
    def running_runs(self) -> list[RunSummary]:
        """Runs still going on (their supervisor is alive), oldest first."""
        rows = self._db.execute("SELECT * FROM runs WHERE ended IS NULL ORDER BY started").fetchall()
        return [s for s in (self._summary(r) for r in rows) if s.state == "running"]

    @_as_state_errors
    def last_outcome(self, host: str) -> NodeRecord | None:
        """The host's node record from its most recent finished deploy."""
        row = self._db.execute(
            "SELECT nodes.* FROM nodes JOIN runs USING (run_id) WHERE node=? AND nodes.outcome IS NOT NULL "
            "ORDER BY COALESCE(nodes.ended, runs.started) DESC LIMIT 1", (host,)).fetchone()
        return self._node(row) if row else None

    def _summary(self, row: sqlite3.Row) -> RunSummary:
        if row["outcome"] == "lost":
            state = "lost"
        elif row["ended"] is not None:
            state = "finished"
        elif row["supervisor_pid"] is None or ProcessId(row["supervisor_pid"], _start(row)).alive():
            state = "running"
        else:
            state = "lost"  # not reaped yet (reap_lost): shown as it is all the same
        rows = self._db.execute("SELECT node, profile, outcome FROM nodes WHERE run_id=? ORDER BY rowid",
                                (row["run_id"],)).fetchall()
        nodes = {(r["node"] + (f".{r['profile']}" if r["profile"] else "")): r["outcome"] for r in rows}
        targets = [(r["node"], r["profile"] or None, r["outcome"]) for r in rows]
        return RunSummary(
            run_id=row["run_id"], operator=row["operator"], started=row["started"], ended=row["ended"],
            flake=row["flake"], revision=row["revision"], dirty=None if row["dirty"] is None else bool(row["dirty"]),
            method=row["method"], action=row["action"], outcome=row["outcome"], exit_code=row["exit_code"],
            state=state, nodes=nodes, targets=targets, waves=json.loads(row["waves"] or "[]"))

    @staticmethod
    def _node(row: sqlite3.Row) -> NodeRecord:
        keys = row.keys()
        return NodeRecord(
            node=row["node"], profile=row["profile"] or None, outcome=row["outcome"],
            stage=row["stage"] or row["current_stage"],
            message=row["message"], before_path=row["before_path"], after_path=row["after_path"],
            before_generation=row["before_generation"], after_generation=row["after_generation"],
            stages=json.loads(row["stages"]), started=row["started"], ended=row["ended"], wave=row["wave"],
            new_path=row["new_path"],
            found_path=row["found_path"] if "found_path" in keys else None,
            found_generation=row["found_generation"] if "found_generation" in keys else None,
            found_at=row["found_at"] if "found_at" in keys else None)


def _start(row: sqlite3.Row) -> str | None:
    return row["supervisor_start"] if "supervisor_start" in row.keys() else None


def _close_stages(stages: dict[str, list[float | None]], ts: float) -> dict[str, list[float | None]]:
    for span in stages.values():
        if span[1] is None:
            span[1] = ts
    return stages


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, re-entrant (nested uses join the outer transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._outer = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._outer:
            return
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
