"""Two operators, one host (issue 11, point 4): the deploy lock is taken on the host itself, over SSH, so an operator
on another machine (or another user) meets it; it names who holds it and since when, goes away with its holder's
SSH session (also when the holder is SIGKILLed), and is never broken while its holder lives.

Each operator is its own SshPool (its own SSH connection, as from another jump host) to a real OpenSSH sshd; the
lock file lives in the test's directory instead of /run/lock (the sshd here is this machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from labtui.runs.locks import HostLocked
from labtui.runs.remote_locks import RemoteHostLocks, holder_json, lock_script, parse_holder
from labtui.ssh.pool import SshPool
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.support.sshd import sshd  # noqa: F401  (fixture)
from tests.support.waiting import activating, read_until

REPO = Path(__file__).resolve().parents[2]


def _pool(server) -> SshPool:
    return SshPool([server.host("web1")], known_hosts=[server.known_hosts], client_keys=[server.client_key],
                   config=None)


def _locks(pool: SshPool, path: Path, operator: str, run_id: str) -> RemoteHostLocks:
    return RemoteHostLocks(["web1"], run_id, operator, pool.conversation, path=str(path))


async def _acquire_when_free(locks: RemoteHostLocks, timeout: float = 15.0) -> None:
    """Take the lock once the host has freed it: the host ends the holder's session by itself, after our
    close or its death; each try asks the host (a bounded wait on the host's state, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await locks.acquire()
            return
        except HostLocked:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_a_second_operator_meets_the_lock_on_the_host_and_reads_who_holds_it(sshd, tmp_path):  # noqa: F811
    path = tmp_path / "labtui-deploy.lock"
    first, second = _pool(sshd), _pool(sshd)
    try:
        alice = _locks(first, path, "alice", "run-a")
        await alice.acquire()
        assert alice.held == ["web1"] and not alice.notices
        holder = json.loads(path.read_text())
        assert holder["operator"] == "alice" and holder["run_id"] == "run-a"

        bob = _locks(second, path, "bob", "run-b")
        with pytest.raises(HostLocked) as refused:
            await bob.acquire()
        message = refused.value.message
        assert "`web1` is being deployed by alice@" in message and "run run-a" in message
        assert "since 20" in message and f"the lock on the host, {path}" in message
        assert refused.value.exit_code == 1 and "\n" not in message
        assert bob.held == []

        alice.release()
        await _acquire_when_free(bob)
        assert json.loads(path.read_text())["operator"] == "bob"
        bob.release()
    finally:
        await first.close()
        await second.close()


HOLDER = """
import asyncio, sys
from labtui.runs.remote_locks import RemoteHostLocks
from labtui.ssh.pool import SshPool
from labtui.inventory.model import Host, SshTarget

async def main():
    port, user, known, key, path = sys.argv[1:]
    host = Host(name="web1", hostname="127.0.0.1", ssh=SshTarget(hostname="127.0.0.1", port=int(port), user=user))
    pool = SshPool([host], known_hosts=[known], client_keys=[key], config=None)
    locks = RemoteHostLocks(["web1"], "run-killed", "carol", pool.conversation, path=path)
    await locks.acquire()
    print("held" if locks.held else "not held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_lock_goes_away_with_a_killed_holder_and_only_then(sshd, tmp_path):  # noqa: F811
    path = tmp_path / "labtui-deploy.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(sshd.port), sshd.user, str(sshd.known_hosts),
                               str(sshd.client_key), str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pool = _pool(sshd)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        dave = _locks(pool, path, "dave", "run-d")
        with pytest.raises(HostLocked, match="carol@"):
            await dave.acquire()  # its holder lives: never broken
        holder.kill()  # SIGKILL: no release, the kernel closes the connection, sshd ends the session on the host
        holder.wait(10)
        await _acquire_when_free(dave)
        assert dave.held == ["web1"]
        dave.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        await pool.close()


async def test_where_the_lock_cannot_be_taken_the_run_is_told_why(sshd, tmp_path):  # noqa: F811
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "labtui-deploy.lock"
    link.symlink_to(target)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    pool = _pool(sshd)
    try:
        planted = _locks(pool, link, "erin", "run-e")
        await planted.acquire()
        assert planted.held == [] and "is a symbolic link" in planted.notices["web1"]
        assert target.read_text() == ""  # nothing written through the link

        nowhere = _locks(pool, not_a_dir / "x.lock", "erin", "run-e")
        await nowhere.acquire()
        assert nowhere.held == [] and "cannot open" in nowhere.notices["web1"]
    finally:
        await pool.close()


async def test_an_unreachable_host_is_a_notice_not_a_refusal(tmp_path):
    from labtui.inventory.model import Host, SshTarget

    pool = SshPool([Host(name="web1", hostname="127.0.0.1", ssh=SshTarget(hostname="127.0.0.1", port=1))],
                   config=None)
    try:
        locks = _locks(pool, tmp_path / "l", "frank", "run-f")
        await locks.acquire()
        assert locks.held == [] and locks.notices["web1"].startswith("cannot take the deploy lock on the host (")
    finally:
        await pool.close()


def test_the_script_quotes_the_holder_and_the_path(tmp_path):
    """Shell syntax in the holder's words or the path is data: run by sh, the script writes it as it is."""
    planted = tmp_path / "planted"
    holder = holder_json(f"o'; touch {planted}; echo '$(touch {planted})`touch {planted}`", "run")
    path = tmp_path / "a b;c $(x).lock"
    script = subprocess.Popen(["sh", "-c", lock_script(holder, str(path))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert script.stdout is not None and script.stdout.readline() == "taken\n"
        assert path.read_text() == holder + "\n" and not planted.exists()
    finally:
        assert script.stdin is not None
        script.stdin.close()  # the channel closes: the script frees the lock and clears the file
        script.wait(10)
    assert path.read_text() == "" and not planted.exists()


def test_a_hostile_holder_text_is_made_harmless():
    holder = parse_holder(json.dumps({"operator": "x\x1b]52;c;QUJD\x07", "machine": "m\x1b[2J", "pid": 7,
                                      "run_id": "r\n2", "since": 1795694400}))
    assert holder is not None
    text = holder.describe()
    assert "\x1b" not in text and "\\x1b]52" in text and "\n" not in text
    assert parse_holder("garbage") is None and parse_holder(json.dumps({"operator": "o"})) is None
    assert os.getpid()  # the module's own pid goes into holder_json


def _operator(tmp_path: Path, name: str, inventory: Path, lock: Path) -> dict[str, str]:
    """The environment of one operator: their own home and XDG dirs (so their own local locks and journal)."""
    home = tmp_path / name
    home.mkdir()
    runtime = tempfile.mkdtemp(prefix=f"lt-{name}-")  # short: the supervisor's socket path has a length limit
    return {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state"),
            "XDG_RUNTIME_DIR": runtime, "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_CONFIG_HOME": str(home / "config"), "LABTUI_TEST_INVENTORY": str(inventory),
            "LABTUI_HOST_LOCK_PATH": str(lock), "LABTUI_LEASH_GRACE": "0.5"}


def test_a_second_operator_cannot_deploy_a_host_being_deployed(sshd, tmp_path, emulated):  # noqa: F811 - fixtures
    """The user's view: operator A's deploy of web1 runs; operator B (another home, so another local lock and
    journal: another machine or user) is refused in one line naming A, since when and where; once A's run is
    gone (its supervisor SIGKILLed here), B deploys."""
    from dataclasses import replace

    from labtui.inventory.model import SshTarget
    from tests.deploy.cli_harness import make_inventory
    from tests.faults.cli_process import command, write_inventory
    from tests.faults.test_supervisor_death import processes_with, wait_for

    base = make_inventory("web1")
    web1 = replace(base.hosts[0], ssh=SshTarget(hostname="127.0.0.1", port=sshd.port, user=sshd.user,
                                                identity_files=(str(sshd.client_key),),
                                                options=(("UserKnownHostsFile", str(sshd.known_hosts)),)))
    inventory = write_inventory(tmp_path / "inventory.pickle", replace(base, hosts=(web1,)))
    lock = tmp_path / "host-run-lock" / "labtui-deploy.lock"
    alice, bob = _operator(tmp_path, "alice", inventory, lock), _operator(tmp_path, "bob", inventory, lock)

    emulated.scenario({"web1": "hang"}, hang_stage="activate")
    first = subprocess.Popen(command("deploy", "web1", "--yes", "--json", "--no-probe"), cwd=REPO, env=alice,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events: list[dict] = []
        read_until(first, events, activating)
        run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
        assert not [e for e in events if "deploy lock" in e.get("line", "")]  # taken on the host, no notice
        assert json.loads(lock.read_text())["run_id"] == run_id

        refused = subprocess.run(command("deploy", "web1", "--yes", "--no-probe"), cwd=REPO, env=bob,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert lines[0].startswith("labtui: error: `web1` is being deployed by ")
        assert f"run {run_id}" in lines[0] and " since 20" in lines[0] and "the lock on the host" in lines[0]

        supervisor = wait_for(lambda: processes_with(f"_supervise {run_id}"), 10, "alice's supervisor")
        os.kill(supervisor[0], 9)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()

    emulated.scenario({"web1": "success"})
    deadline = time.monotonic() + 30
    while True:  # the host ends alice's session by itself once her connection is gone: ask until it has
        second = subprocess.run(command("deploy", "web1", "--yes", "--no-probe"), cwd=REPO, env=bob,
                                capture_output=True, text=True, timeout=120)
        if "is being deployed" not in second.stderr or time.monotonic() > deadline:
            break
    assert second.returncode == 0, second.stdout + second.stderr

    # Nothing lost: each operator's journal is intact; alice's run is there (lost: its supervisor was killed), bob's
    # refused attempt left no run, his deploy succeeded.
    import sqlite3

    from tests.faults.harness import journal_integrity

    for env, expected in ((alice, [(run_id, "lost")]), (bob, [(None, "succeeded")])):
        journal = Path(env["XDG_STATE_HOME"]) / "labtui" / "journal.sqlite"
        assert journal_integrity(journal) == "ok"
        subprocess.run(command("history"), cwd=REPO, env=env, capture_output=True, timeout=60)  # settles lost runs
        with sqlite3.connect(journal) as db:
            runs = db.execute("SELECT run_id, outcome FROM runs").fetchall()
        assert [(rid if expected[0][0] else None, outcome) for rid, outcome in runs] == expected
        shutil.rmtree(env["XDG_RUNTIME_DIR"], ignore_errors=True)


async def test_a_lock_that_goes_away_mid_run_is_noticed(sshd, tmp_path):  # noqa: F811 - fixture
    """The host ends the lock's session (here: its shell is killed on the host): the run can say its lock is gone."""
    from tests.faults.test_supervisor_death import processes_with

    path = tmp_path / "labtui-deploy.lock"
    pool = _pool(sshd)
    try:
        locks = _locks(pool, path, "gina", "run-g")
        await locks.acquire()
        assert locks.held == ["web1"] and locks.lost() == []
        for pid in processes_with(f"l={path};"):  # the lock script's shell on the "host"
            os.kill(pid, 9)
        deadline = time.monotonic() + 15
        while not locks.lost() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the channel's end reaches us over SSH: look again
        assert locks.lost() == ["web1"]
        locks.release()
    finally:
        await pool.close()


async def test_a_simulated_host_holds_its_lock_like_a_real_one(tmp_path):
    """The demo's hosts answer the lock script as a real host does: taken, busy naming the holder, free again once
    the holder's channel closes (its stream is closed)."""
    from labtui.sim.shell import dispatch
    from tests.support.frozen import frozen_lab

    lab, _ = frozen_lab(tmp_path)
    alice = lock_script(holder_json("alice", "run-a"))
    first = dispatch(lab, "nas", alice)
    assert [await anext(first), await anext(first)] == ["taken", "labtui-lock end"]
    second = dispatch(lab, "nas", lock_script(holder_json("bob", "run-b")))
    busy = [line async for line in second]
    assert busy[0] == "busy" and busy[-1] == "labtui-lock end"
    holder = parse_holder(busy[1])
    assert holder is not None and holder.operator.startswith("alice@") and holder.run_id == "run-a"
    other = dispatch(lab, "grey-area", lock_script(holder_json("bob", "run-b")))
    assert await anext(other) == "taken"  # one lock per host
    await other.aclose()
    await first.aclose()  # alice's channel closes
    again = dispatch(lab, "nas", lock_script(holder_json("bob", "run-b")))
    assert await anext(again) == "taken"
    await again.aclose()
