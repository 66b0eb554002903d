"""Per-host locks between processes: the second operator is told who holds the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labtui.runs.locks import HostLocked, HostLocks, locks_dir, read_holder

HOLDER = r"""
import sys
from labtui.runs.locks import HostLocks
locks = HostLocks(sys.argv[1].split(","), run_id="run-A", operator="alice")
locks.acquire()
print("locked", flush=True)
sys.stdin.readline()  # hold until the test closes our stdin
locks.release()
"""


@pytest.fixture
def holder():
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, "web1,web2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.stdin.close()
    proc.wait(10)


def test_second_process_gets_who_since_and_pid(holder):
    locks = HostLocks(["web3", "web2"], run_id="run-B", operator="bob")
    with pytest.raises(HostLocked) as info:
        locks.acquire()
    message = info.value.message
    assert "`web2` is being deployed by alice since" in message
    assert f"pid {holder.pid}" in message and "run-A" in message
    assert info.value.exit_code == 1
    # All or nothing: web3 was released again.
    with HostLocks(["web3"], run_id="run-C"):
        pass


def test_lock_is_free_again_after_release(holder):
    holder.stdin.close()
    holder.wait(10)
    with HostLocks(["web1", "web2"], run_id="run-B", operator="bob"):
        data = json.loads((locks_dir() / "web1.lock").read_text())
        assert data["operator"] == "bob" and data["pid"] == os.getpid() and data["run_id"] == "run-B"


def test_lock_of_a_killed_holder_is_taken_over():
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, "db1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait(10)
    stale = read_holder("db1")
    assert stale is not None and stale.pid == proc.pid  # the dead holder's info is still in the file
    with HostLocks(["db1"], run_id="run-new", operator="carol"):
        assert read_holder("db1").operator == "carol"


def test_same_process_cannot_lock_twice():
    with HostLocks(["web1"], run_id="r1"):
        with pytest.raises(HostLocked):
            HostLocks(["web1"], run_id="r2").acquire()
