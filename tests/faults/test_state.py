"""Issue 11 points 3, 7 and 14: labtui's own state under faults.

- Point 3: state and runtime dirs are 0700 and files 0600 whatever the umask (tested with umask 022), and dirs or
  files left open to others are tightened when labtui opens them.
- Point 7: a journal path that is a directory, a file that is no database, a damaged database, a read-only state
  dir and a full disk each give one line (what, where, how to fix) and exit 2 for `deploy`, `history` and
  `rollback`; `history` still shows what it can; an intact journal stays intact (`PRAGMA integrity_check`).
  Read-only and full disks are made in a mount namespace (a read-only bind mount, a small tmpfs): root only.
- Point 14: a journal locked by another process: `deploy` waits, then names the holder (pid, command, user).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtui import paths
from labtui.runs.journal import Journal
from tests.deploy.cli_harness import make_inventory
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.faults.cli_process import ENV, command, write_inventory
from tests.faults.harness import (
    CliResult,
    assert_no_traceback,
    assert_one_line_error,
    journal_integrity,
    needs_root,
    run_cli,
    use_fleet,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(monkeypatch, emulated):
    """web1 and web2 deployed by the deploy-rs emulator; the journal path."""
    use_fleet(monkeypatch, make_inventory("web1,web2"))
    emulated.scenario({"web1": "success", "web2": "success"})
    return emulated


def deploy(*hosts: str) -> CliResult:
    return run_cli(["deploy", *hosts, "--yes", "--no-probe"])


def journal_path() -> Path:
    return Journal.default_path()


def state() -> Path:
    return paths.state_dir()


def run_ids() -> list[str]:
    journal = Journal.open()
    try:
        return [r.run_id for r in journal.list_runs()]
    finally:
        journal.close()


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Every dir and file under `root` (root included) -> its permission bits."""
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


# ---- point 3: private state -----------------------------------------------------------------------------------


def test_a_deploy_under_umask_022_leaves_only_private_dirs_and_files(fleet, umask_022):
    result = deploy("web1")
    assert result.code == 0, result.text
    journal = Journal.open()  # an open journal has its -wal and -shm files
    journal.list_runs()
    seen = {**modes(state()), **modes(paths.runtime_dir())}
    journal.close()
    assert any(p.endswith("journal.sqlite-shm") for p in seen) and any(p.endswith("output.log") for p in seen)
    assert any(p.endswith(".lock") for p in seen) and any(p.endswith("supervisor.pid") for p in seen)
    too_open = {p: oct(m) for p, m in seen.items() if m & 0o077}
    assert not too_open
    for path, mode in seen.items():
        assert mode in ((0o700,) if Path(path).is_dir() else (0o600,)), (path, oct(mode))


def test_state_left_open_to_others_is_tightened_when_opened(fleet, umask_022):
    from labtui.runs.client import until_recorded

    assert deploy("web1").code == 0
    # The supervisor outlives the face until its record is written; its last journal connection removes the
    # -wal and -shm files when it closes: wait for that (an event), then leave the files open to others.
    (run_id,) = run_ids()
    asyncio.run(asyncio.wait_for(until_recorded(run_id), 30))
    for path in (state(), state() / "runs", state() / "locks", journal_path()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for suffix in ("-wal", "-shm"):
        Path(f"{journal_path()}{suffix}").touch()
        Path(f"{journal_path()}{suffix}").chmod(0o644)
    journal = Journal.open()
    try:
        for path in (journal_path(), Path(f"{journal_path()}-wal"), Path(f"{journal_path()}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(state().stat().st_mode) == 0o700
    finally:
        journal.close()
    assert deploy("web2").code == 0
    for path in (state(), state() / "runs", state() / "locks"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_the_flake_cache_and_init_config_are_private(umask_022, tmp_path):
    from labtui.inventory.cache import JsonCache
    from labtui.inventory.flakeref import FlakeRef

    cache = JsonCache("inventory", FlakeRef(str(tmp_path), str(tmp_path), tmp_path))
    cache.store("fp", {"hosts": []})
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700


@pytest.mark.integration
def test_init_writes_a_private_config(umask_022, tmp_path):
    from tests.support import require_tool

    require_tool("nix", "labtui init reads the flake")
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text('{ outputs = { self }: { nixosConfigurations = {}; }; }\n')
    result = run_cli(["init", "--flake", str(flake)])
    assert result.code == 0, result.text
    assert stat.S_IMODE((flake / "labtui.toml").stat().st_mode) == 0o600
    (flake / "labtui.toml").chmod(0o644)
    assert run_cli(["init", "--flake", str(flake), "--force"]).code == 0
    assert stat.S_IMODE((flake / "labtui.toml").stat().st_mode) == 0o600


# ---- point 7: a journal that cannot be used ---------------------------------------------------------------------


def _after_one_run(fleet) -> str:
    result = deploy("web1")
    assert result.code == 0, result.text
    (run_id,) = run_ids()
    return run_id


def _refused_deploy(fleet, *needles: str, code: int = 2) -> str:
    fleet.scenario({"web2": "success"})
    before = set(os.listdir(state() / "runs")) if (state() / "runs").is_dir() else set()
    line = assert_one_line_error(deploy("web2"), code, *needles)
    after = set(os.listdir(state() / "runs")) if (state() / "runs").is_dir() else set()
    assert after == before  # nothing ran: no run left behind
    return line


def test_a_journal_that_is_a_directory(fleet):
    run_id = _after_one_run(fleet)
    shutil.move(journal_path(), state() / "old.sqlite")
    journal_path().mkdir()
    line = _refused_deploy(fleet, str(journal_path()), "is a directory", "mv ")
    assert "Traceback" not in line
    history = run_cli(["history"])
    assert_no_traceback(history)
    assert history.code == 2 and "is a directory" in history.err and run_id in history.out  # read from the files


@pytest.mark.parametrize("garbage", [b"", b"not a database at all\n" * 500, os.urandom(8192)],
                         ids=["empty", "text", "random"])  # stable ids: test workers must collect the same names
def test_a_journal_that_is_no_database(fleet, garbage):
    run_id = _after_one_run(fleet)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path()}{suffix}").unlink(missing_ok=True)
    journal_path().write_bytes(garbage)
    if not garbage:  # an empty file is a new, empty database for SQLite: nothing is refused
        assert deploy("web2").code == 0
        return
    _refused_deploy(fleet, "is not an SQLite database", f"mv {journal_path()}")
    history = run_cli(["history"])
    assert_no_traceback(history)
    assert history.code == 2 and "not an SQLite database" in history.err
    assert run_id in history.out and "succeeded" in history.out  # the run, rebuilt from its events file
    shown = run_cli(["history", "show", run_id])
    assert shown.code == 2 and "Activating profile" in shown.out  # its full log is still there


def test_the_tui_history_of_a_journal_that_is_no_database_lists_what_the_run_files_hold(fleet, tmp_path):
    """The TUI's history view on a broken journal does what `labtui history` does: it says why (the fix included),
    then lists the runs rebuilt from their own files; nothing is lost, the TUI stays up."""
    from textual.widgets import DataTable, Static

    from labtui.tui.adapters import JournalHistory
    from labtui.tui.assemble import build_app
    from labtui.tui.screens import HistoryScreen
    from labtui.tui.sources import Sources
    from tests.support.frozen import FROZEN_NOW, FrozenClock, frozen_lab
    from tests.support.sim_status import SimStatusSource

    run_id = _after_one_run(fleet)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path()}{suffix}").unlink(missing_ok=True)
    journal_path().write_bytes(b"not a database at all\n" * 500)
    lab, inventory = frozen_lab(tmp_path)
    history = JournalHistory()
    app = build_app(inventory, Sources(status=SimStatusSource(lab, lambda: FROZEN_NOW), history=history),
                    clock=FrozenClock(FROZEN_NOW + 4), animate=False)


    async def look() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            await pilot.press("h")
            await pilot.pause()
            assert isinstance(app.screen, HistoryScreen)
            table = app.screen.query_one("#history", DataTable)
            assert [str(key.value) for key in table.rows] == [run_id]
            note = str(app.screen.query_one("#history-empty", Static).render())
            assert "cannot use the journal" in note and "not an SQLite database" in note and "mv " in note

    asyncio.run(look())  # the deploy above ran its own event loop: this test is not a coroutine
    assert history.last_outcome("web1") == "succeeded"


def test_a_damaged_journal(fleet):
    run_id = _after_one_run(fleet)
    journal = Journal.open()
    journal._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    data = bytearray(journal_path().read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[page:len(data)] = os.urandom(len(data) - page)  # every page but the header's
    journal_path().write_bytes(bytes(data))
    assert journal_integrity(journal_path()) != "ok"
    history = run_cli(["history"])
    assert_no_traceback(history)
    assert history.code == 2 and "damaged" in history.err or "not an SQLite database" in history.err, history.err
    assert run_id in history.out
    line = _refused_deploy(fleet, f"mv {journal_path()}")
    assert "damaged" in line or "not an SQLite database" in line


def test_rollback_refuses_before_changing_the_host_when_the_journal_is_unusable(tmp_path, monkeypatch):
    """An ops action records itself in the journal: with a broken one, nothing is done to the host."""
    from labtui.inventory.model import Inventory
    from labtui.sim.state import SimLab
    from tests.ops.conftest import inv_host, sim_host
    from tests.support.sim_shell import SimShell

    state().mkdir(parents=True)
    journal_path().mkdir()
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))
    shell = SimShell(lab)

    async def with_pool(inventory, body, **options):
        return await body(shell)

    monkeypatch.setattr("labtui.ops.runtime.with_ssh_pool", with_pool)
    use_fleet(monkeypatch, Inventory(flake=".", hosts=(inv_host("web1"),)))
    assert_one_line_error(run_cli(["rollback", "web1", "--yes"]), 2, "is a directory")
    assert lab.load("web1").current == 3  # not switched


# ---- read-only and full disks, in a mount namespace (root) ------------------------------------------------------


def _process(argv: list[str], inventory_file: Path, fleet, *, setup: str = "", timeout: float = 60) -> CliResult:
    """labtui in its own process (the operator's environment), after `setup` ran in a private mount namespace."""
    env = {**os.environ, ENV: str(inventory_file), "PATH": fleet.env_path, "PYTHONPATH": str(REPO)}
    if setup:
        needs_root("a read-only or full state dir is a mount in a private mount namespace")
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-euc", f"{setup}\nexec \"$@\"", "sh",
                *command(*argv)]
    else:
        argv = command(*argv)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
                          stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _copy_state_to_tmpfs(size: str, fill: bool) -> str:
    """Mount a tmpfs of `size` on XDG_STATE_HOME with the current state copied in (then filled up: a full disk)."""
    home = state().parent
    fill_cmd = f'dd if=/dev/zero of="{home}/.fill" bs=4096 2>/dev/null || true; sync' if fill else ""
    return (f'cp -a "{home}" "{home}.seed"\n'
            f'mount -t tmpfs -o size={size},mode=0700 tmpfs "{home}"\n'
            f'cp -a "{home}.seed"/. "{home}"/\n'
            f'{fill_cmd}')


def _read_only_state() -> str:
    home = state().parent
    return f'mount --bind "{home}" "{home}"\nmount -o remount,bind,ro "{home}"'


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_deploy_and_history_on_a_read_only_or_full_state_dir(fleet, tmp_path, fault):
    run_id = _after_one_run(fleet)
    before = journal_integrity(journal_path())
    inventory = write_inventory(tmp_path / "inventory.pickle", make_inventory("web1,web2"))
    setup = _read_only_state() if fault == "read-only" else _copy_state_to_tmpfs("2m", fill=True)
    fleet.scenario({"web2": "success"})
    refused = _process(["deploy", "web2", "--yes", "--no-probe"], inventory, fleet, setup=setup)
    line = assert_one_line_error(refused, 2, str(state()))
    assert ("read-only" in line) if fault == "read-only" else ("disk is full" in line), line
    history = _process(["history"], inventory, fleet, setup=setup)
    assert_no_traceback(history)
    assert run_id in history.out, history.text  # what can be read is shown
    if fault == "read-only":
        assert history.code == 2 and "read-only" in history.err
    # The journal outside the namespace (read-only case: the same file) is intact, and its run still there.
    assert journal_integrity(journal_path()) == before == "ok"
    assert run_ids() == [run_id]


# ---- point 14: a locked journal ---------------------------------------------------------------------------------

HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE runs SET operator = operator")
print("locked", flush=True)
time.sleep(120)
"""


def test_deploy_with_the_journal_locked_names_the_holder(fleet, monkeypatch):
    run_id = _after_one_run(fleet)
    monkeypatch.setenv("LABTUI_JOURNAL_TIMEOUT", "0.5")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(journal_path())], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        line = _refused_deploy(fleet, f"pid {holder.pid}", "python", "user ", "more than 0.5 s", code=1)
        assert "is locked by" in line and time.monotonic() - started < 30
        history = run_cli(["history"])  # readers are not blocked (WAL)
        assert history.code == 0 and run_id in history.out
    finally:
        holder.kill()
        holder.wait()
    assert deploy("web2").code == 0  # the lock is gone: the deploy runs
    assert journal_integrity(journal_path()) == "ok"


def test_lock_holders_are_read_from_proc_locks(tmp_path):
    from labtui.runs.state import lock_holders

    target = tmp_path / "db"
    target.write_text("x")
    st = target.stat()
    fake = tmp_path / "locks"
    fake.write_text(f"1: POSIX  ADVISORY  WRITE {os.getppid()} {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:"
                    f"{st.st_ino} 120 120\n2: -> POSIX  ADVISORY  WRITE 99999 00:00:1 0 EOF\n")
    (holder,) = lock_holders([target, tmp_path / "missing"], proc_locks=str(fake))
    assert holder.startswith(f"pid {os.getppid()} (") and "user " in holder
    assert lock_holders([tmp_path / "missing"], proc_locks=str(fake)) == []
