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
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtui.runs.locks import HostLocked
from labtui.runs.remote_locks import RemoteHostLocks, holder_json, lock_script, parse_holder
from labtui.ssh.pool import SshPool
from tests.support.sshd import sshd  # noqa: F401  (fixture)

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
