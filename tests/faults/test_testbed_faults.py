"""Faults on the testbed (../shared/testbed: fake NixOS hosts with a real sshd, deployed by the real deploy-rs):
two operators on one host (issue 11, point 4) and a link cut mid-`status --watch` (point 11).

The testbed fixture takes the machine-wide testbed lock; these tests skip without root or the shared tools, and
fail instead under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.waiting import activating, read_until

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

REPO = Path(__file__).resolve().parents[2]
HOST_LOCK = "/run/lock/labtui-deploy.lock"
PROMISE = 15.0  # docs/status.md: a cut link is noticed within about 15 s


def _operator(testbed, tmp_path: Path, name: str) -> dict[str, str]:
    """One operator's environment: their own home and XDG dirs (their own local locks, journal and runtime)."""
    home = tmp_path / name
    home.mkdir()
    runtime = tempfile.mkdtemp(prefix=f"lt-{name}-")  # short: the supervisor's socket path has a length limit
    return testbed.env({**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state"),
                        "XDG_RUNTIME_DIR": runtime, "XDG_CONFIG_HOME": str(home / "config")})


def _labtui(testbed, *args: str) -> list[str]:
    return [sys.executable, "-m", "labtui", "--flake", str(testbed.flake.path), *args]


def test_a_second_operator_is_refused_by_the_lock_on_the_host(testbed, tmp_path):
    testbed.flake.configure()
    testbed.fault("host1", "switch-delay", "6")  # the first deploy is still activating when the second comes
    alice, bob = _operator(testbed, tmp_path, "alice"), _operator(testbed, tmp_path, "bob")
    first = subprocess.Popen(_labtui(testbed, "deploy", "host1", "--yes", "--json"), cwd=REPO, env=alice,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events: list[dict] = []
        read_until(first, events, activating)
        run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
        holder = json.loads(testbed.in_host("host1", f"cat {HOST_LOCK}"))  # the lock lives on the host
        assert holder["run_id"] == run_id and holder["operator"]

        refused = subprocess.run(_labtui(testbed, "deploy", "host1", "--yes"), cwd=REPO, env=bob,
                                 capture_output=True, text=True, timeout=240)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert lines[0].startswith("labtui: error: `host1` is being deployed by ") and f"run {run_id}" in lines[0]
        assert f"the lock on the host, {HOST_LOCK}" in lines[0] and " since 20" in lines[0]

        out, err = first.communicate(timeout=240)
        assert first.returncode == 0, out[-2000:] + err[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()

    # Released with the run: the host's file is emptied and its flock free; the second operator deploys.
    testbed.fault("host1", "switch-delay", "0")
    deadline = time.monotonic() + 30
    while (seen := testbed.in_host("host1", f"cat {HOST_LOCK}; flock -n {HOST_LOCK} echo free || true").strip()) \
            != "free" and time.monotonic() < deadline:
        pass  # the host ends the run's lock session once labtui closed its channel: ask the host until it has
    assert seen == "free", seen
    second = subprocess.run(_labtui(testbed, "deploy", "host1", "--yes"), cwd=REPO, env=bob, capture_output=True,
                            text=True, timeout=240)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]

    # Nothing lost, the true outcome: each journal intact; alice's run and bob's deploy succeeded, his refused
    # attempt left no run.
    from tests.faults.harness import journal_integrity

    for env, first_run in ((alice, run_id), (bob, None)):
        journal = Path(env["XDG_STATE_HOME"]) / "labtui" / "journal.sqlite"
        assert journal_integrity(journal) == "ok"
        with sqlite3.connect(journal) as db:
            runs = db.execute("SELECT run_id, outcome FROM runs").fetchall()
        assert len(runs) == 1 and runs[0][1] == "succeeded" and first_run in (None, runs[0][0]), runs
        shutil.rmtree(env["XDG_RUNTIME_DIR"], ignore_errors=True)


def test_status_watch_notices_a_cut_link_within_the_promise(testbed):
    """With labtui's default keepalive (no sshOpts override): the host's link is cut by netwire, the loopback relay
    still holds the TCP connection, and `status --watch` says `down` within about 15 s."""
    proc = subprocess.Popen(_labtui(testbed, "status", "host2", "--watch", "--json", "--no-drift"), cwd=REPO,
                            env=testbed.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def update() -> dict:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # --watch prints a line per change and per probe: this never waits long
        assert line, proc.stderr.read() if proc.stderr else ""
        return json.loads(line)

    try:
        while update()["state"] != "up":
            pass
        update()  # the next probe went through: the connection is in use, as mid-watch
        testbed.link("host2", down=True)
        cut = time.monotonic()
        while (seen := update())["state"] == "up":
            pass
        noticed = time.monotonic() - cut
        assert seen["state"] == "down", seen
        assert noticed <= PROMISE + 1.5, noticed
    finally:
        testbed.link("host2", down=False)
        proc.kill()
        proc.communicate()
