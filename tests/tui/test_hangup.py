"""The session drops: labtui exits within a second whatever started it, and leaves nothing behind.

The real `labtui demo` runs in a pseudo-terminal; closing the pty's master is what sshd does when an
SSH connection drops. Three ways of being started (session leader, which gets SIGHUP; outside the
terminal's session, which only sees EOF/EIO, the case where Textual's input thread used to spin at
full speed; under a parent shell, as `make demo` runs it), plus SIGTERM. Each waits on the process
(waitpid or a pidfd), and then checks that no temporary file or directory is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.pty_app import PtyApp, children, wait_pid_exit

REPO = Path(__file__).resolve().parents[2]
EXIT_BOUND = 1.0  # seconds from hang-up to the process being gone (issue 12, point 1)
STARTUP = 60.0  # generous: the machine is shared


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private HOME, XDG dirs and TMPDIR, so whatever the demo makes can be checked afterwards."""
    dirs = {name: tmp_path / name for name in ("home", "state", "cache", "config", "tmp")}
    for d in dirs.values():
        d.mkdir()
    return {**os.environ, "HOME": str(dirs["home"]), "XDG_STATE_HOME": str(dirs["state"]),
            "XDG_CACHE_HOME": str(dirs["cache"]), "XDG_CONFIG_HOME": str(dirs["config"]),
            "TMPDIR": str(dirs["tmp"]), "PYTHONPATH": str(REPO)}


DEMO = [sys.executable, "-m", "labtui", "demo", "--no-ticker"]


def leftovers(env: dict[str, str]) -> list[str]:
    return sorted(os.listdir(env["TMPDIR"]))


def started(app: PtyApp) -> None:
    app.wait_for_screen("sleeper-service", STARTUP)  # the dashboard is on screen
    app.wait_for_screen("old-thinkpad", STARTUP)


@pytest.mark.parametrize("controlling", [True, False], ids=["session-leader", "no-sighup"])
def test_hang_up_exits_at_once_and_cleans_up(env, controlling):
    with PtyApp(DEMO, env=env, controlling=controlling) as app:
        started(app)
        assert app.proc is not None
        hung_up = time.monotonic()
        app.hang_up()
        code = app.wait_exit(10)
        elapsed = time.monotonic() - hung_up
    assert elapsed < EXIT_BOUND, f"took {elapsed:.2f} s to exit after the hang-up"
    assert code in (0, 128 + signal.SIGHUP), code
    assert leftovers(env) == []


def test_hang_up_under_a_parent_shell(env):
    """`make demo` over ssh: labtui is a child of the process the session started."""
    argv = ["/bin/sh", "-c", '"$@"; echo "exited $?"', "sh", *DEMO]
    with PtyApp(argv, env=env) as app:
        started(app)
        assert app.proc is not None
        kids = children(app.proc.pid)
        assert len(kids) == 1, kids
        hung_up = time.monotonic()
        app.hang_up()
        assert wait_pid_exit(kids[0], 10), "labtui is still running after the hang-up"
        elapsed = time.monotonic() - hung_up
        app.wait_exit(10)
    assert elapsed < EXIT_BOUND, f"took {elapsed:.2f} s to exit after the hang-up"
    assert leftovers(env) == []


def test_hang_up_signals_during_the_cleanup_do_not_cut_it_short(env):
    """Under a parent shell the shell's death sends SIGHUP to labtui's process group, which may come after
    labtui has read EOF and is already stopping its hosts and removing its files: it must finish that."""
    with PtyApp(DEMO, env=env, controlling=False) as app:
        started(app)
        assert app.proc is not None
        app.hang_up()
        while app.proc.poll() is None:  # SIGHUP all through the exit, as a dying session may send it
            with contextlib.suppress(ProcessLookupError):
                os.kill(app.proc.pid, signal.SIGHUP)
            time.sleep(0.002)
        code = app.proc.returncode
    assert code == 128 + signal.SIGHUP, f"exit status {code}: killed by the signal, not ended by labtui"
    assert leftovers(env) == []


def test_sigterm_exits_and_cleans_up(env):
    with PtyApp(DEMO, env=env) as app:
        started(app)
        assert app.proc is not None
        app.proc.send_signal(signal.SIGTERM)
        code = app.wait_exit(10)
        restored = app.wait_for(b"\x1b[?1049l", 5)  # the terminal was given back (alternate screen left)
    assert code == 128 + signal.SIGTERM
    assert restored
    assert leftovers(env) == []
