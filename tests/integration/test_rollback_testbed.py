"""`labtui rollback` on a testbed host whose SSH session is cut in the middle of switch-to-configuration.

The testbed's hosts have no systemd, so the test installs a stand-in for systemd-run in the host's own /run (its
/run/wrappers/bin is first on the host's PATH, and /run/systemd/system marks a systemd host, as nixos-rebuild-ng
checks): it runs the command the way a transient unit runs, in its own session with SIGHUP and SIGPIPE ignored
(systemd's IgnoreSIGPIPE=yes), and, like `--wait --pipe`, its caller waits for it and gets its output and exit status.
The cut is real: the host's sshd session processes are killed while the (slowed) switch runs. With systemd-run the
switch finishes and labtui reads its exit status after reconnecting; without it the switch dies with the session, as
it did before, and labtui says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.testbed import REPO

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

HOST = "host2"
SYSTEMD_RUN_STUB = r"""#!/bin/sh
# labtui test stand-in for systemd-run (see tests/integration/test_rollback_testbed.py)
unit=run-stub
while [ $# -gt 0 ]; do
  case "$1" in
    -E) shift 2 ;;
    --unit=*) unit=${1#--unit=}; shift ;;
    --*) shift ;;
    *) break ;;
  esac
done
# the unit is active while it runs (the testbed's systemctl reads units.tsv), and gone afterwards (--collect)
tsv=/run/testbed/units.tsv
printf '%s.service\tloaded\tactive\trunning\tlabtui test stand-in\n' "$unit" >> "$tsv"
trap '' PIPE HUP
setsid /bin/sh -c '"$@"; rc=$?
  grep -v "^$0.service	" /run/testbed/units.tsv > /run/testbed/units.tsv.new
  mv /run/testbed/units.tsv.new /run/testbed/units.tsv
  exit $rc' "$unit" "$@" &
wait $!
"""


def install_systemd_run(testbed) -> None:
    testbed.in_host(HOST, "mkdir -p /run/systemd/system /run/wrappers/bin && "
                          "cat > /run/wrappers/bin/systemd-run <<'STUB'\n" + SYSTEMD_RUN_STUB + "STUB\n"
                          "chmod 755 /run/wrappers/bin/systemd-run")


def remove_systemd_run(testbed) -> None:
    testbed.in_host(HOST, "rm -rf /run/systemd /run/wrappers/bin/systemd-run")


def cut_sessions(testbed) -> list[int]:
    """Kill the host's sshd session processes (labtui's connection), by pid: the TCP connection drops."""
    out = subprocess.run(["ip", "netns", "pids", f"tb-{HOST}"], capture_output=True, text=True, check=True).stdout
    killed = []
    for pid in (int(p) for p in out.split()):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmdline.startswith("sshd: root"):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def rollback_with_a_cut(testbed) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """`labtui rollback HOST --yes --json`; cut its session once the host's switch has started (the stub logs its
    start in switch.log, then waits switch-delay seconds)."""
    switches = len(testbed.switches(HOST))
    testbed.fault(HOST, "switch-delay", "4")
    proc = subprocess.Popen([sys.executable, "-m", "labtui", "--flake", str(testbed.flake.path), "rollback", HOST,
                             "--yes", "--json"], cwd=REPO, env=testbed.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while len(testbed.switches(HOST)) == switches:  # the host's own log is the only sign the switch began
        assert proc.poll() is None and time.monotonic() < deadline, "the switch never started"
        time.sleep(0.1)
    killed = cut_sessions(testbed)
    out, err = proc.communicate(timeout=180)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), killed


@pytest.fixture
def host(testbed):
    try:
        yield testbed
    finally:
        remove_systemd_run(testbed)
        testbed.reset()
        testbed.prime([HOST])  # back on a deploy-rs generation for the other tests


def test_under_systemd_run_a_cut_session_does_not_stop_the_switch(host):
    testbed = host
    install_systemd_run(testbed)
    before = testbed.state(HOST)
    target = max(n for n in before.generations if n < before.generation)
    proc, killed = rollback_with_a_cut(testbed)
    after = testbed.state(HOST)
    assert killed, "no session was cut"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["ok"] and answer["to"] == target
    assert "the SSH session dropped meanwhile; the switch went on under systemd-run" in answer["message"]
    # the truth on the host: it switched to the target generation after all
    assert after.generation == target and after.current_system == before.generations[target]
    assert testbed.in_host(HOST, "ls /run/labtui-switch-* 2>/dev/null; true").strip() == ""  # status read and removed


def test_without_systemd_run_a_cut_session_interrupts_it_and_says_so(host):
    testbed = host
    before = testbed.state(HOST)
    target = max(n for n in before.generations if n < before.generation)
    proc, killed = rollback_with_a_cut(testbed)
    after = testbed.state(HOST)
    assert killed, "no session was cut"
    assert proc.returncode == 1, proc.stdout + proc.stderr
    answer = json.loads(proc.stdout)
    assert not answer["ok"]
    assert "the switch did not run under systemd-run, so the dropped session interrupted it" in answer["message"]
    # half-way, as the message says: the profile moved, the running system did not
    assert after.generation == target and after.current_system == before.current_system
