"""Hosts that never answer, drip, or answer garbage (issue 11 point 10 and the hostile-server cases of the suite).

`labtui logs HOST` without -f used to hang forever on a journalctl that never answered: it now gives up after
`--timeout` seconds of silence (default as `labtui status`) with one line and exit 1, and the remote command ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from labtui.cli.common import DEFAULT_HOST_TIMEOUT
from labtui.cli.status import DEFAULT_TIMEOUT as STATUS_TIMEOUT
from labtui.sim.state import SimLab
from tests.faults.harness import (
    assert_harmless_output,
    assert_no_traceback,
    assert_one_line_error,
    run_cli,
    use_fleet,
)
from tests.ops.conftest import sim_host
from tests.support.asyncssh_server import lab_handler

ENTRY = json.dumps({"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1795694400000000", "PRIORITY": "6",
                    "_SYSTEMD_UNIT": "app.service", "MESSAGE": "hello"})


@pytest.fixture
def host(hostile_hosts, monkeypatch, tmp_path):
    """web1: the simulated lab, except journalctl, answered by the handler given."""
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))
    sim = lab_handler(lab, "web1")

    def start(journalctl):
        def handler(command, stdin):
            return journalctl() if "journalctl" in command else sim(command, stdin)

        use_fleet(monkeypatch, hostile_hosts.inventory(hostile_hosts.start("web1", handler)))

    return start


def test_logs_and_status_share_their_default_timeout():
    assert DEFAULT_HOST_TIMEOUT == STATUS_TIMEOUT == 20.0


def test_a_journalctl_that_never_answers_is_given_up_on(host):
    async def never():
        await asyncio.Event().wait()

    host(never)
    started = time.monotonic()
    line = assert_one_line_error(run_cli(["logs", "web1", "--timeout", "1"]), 1, "web1 sent no journal entry for 1 s",
                                 "--timeout")
    assert time.monotonic() - started < 10, line


def test_a_slow_drip_without_a_newline_is_given_up_on(host):
    async def drip():
        while True:
            yield b"{"  # a byte now and then, never a whole entry
            await asyncio.sleep(0.2)

    host(lambda: drip())
    assert_one_line_error(run_cli(["logs", "web1", "--timeout", "1"]), 1, "sent no journal entry")


def test_entries_that_keep_coming_are_not_cut_by_the_timeout(host):
    async def slow():
        for i in range(4):
            await asyncio.sleep(0.4)
            yield ENTRY.replace("s=1", f"s={i}")

    host(lambda: slow())
    result = run_cli(["logs", "web1", "--timeout", "1"])
    assert result.code == 0 and result.out.count("app.service: hello") == 4, result.text


def test_follow_waits_in_silence(host, monkeypatch):
    """With -f silence is normal: no timeout (interrupted here after a while, as Ctrl-C would)."""
    async def quiet():
        yield ENTRY
        await asyncio.Event().wait()

    host(lambda: quiet())
    import labtui.cli.logs as logs

    real = logs._within

    async def interrupt_later(items, idle, name):
        assert idle is None
        async for item in real(items, idle, name):
            yield item
            await asyncio.sleep(1.5)
            raise KeyboardInterrupt

    monkeypatch.setattr(logs, "_within", interrupt_later)
    result = run_cli(["logs", "web1", "-f", "--timeout", "0.5"])
    assert result.code == 130 and "app.service: hello" in result.out


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e308"])
def test_a_timeout_must_be_a_sane_number(host, value):
    host(lambda: ENTRY)
    for verb in (["logs", "web1"], ["status"]):
        assert_one_line_error(run_cli([*verb, "--timeout", value]), 2, "--timeout must be")


def test_garbage_instead_of_journal_entries(host):
    host(lambda: (0, os.urandom(2000) + b"\n{not json\n" + b"\x1b[2J" * 10 + b"\n", ""))
    result = run_cli(["logs", "web1"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 0 and "no journal entries match" in result.err


@pytest.mark.parametrize("since", ["-1h", "-30min", "-2d", "today", "2026-11-26 10:00"])
def test_since_takes_what_journalctl_takes(host, since):
    """docs/ops.md's `labtui logs host1 --since -1h`: argparse read `-1h` as an option."""
    host(lambda: ENTRY)
    result = run_cli(["logs", "web1", "--since", since])
    assert result.code == 0 and "app.service: hello" in result.out, result.text


@pytest.mark.parametrize("answer", ["never", "garbage", "binary", "escapes"])
def test_status_of_a_hostile_host_is_one_row_and_a_note(hostile_hosts, monkeypatch, answer):
    async def never(command, stdin):
        await asyncio.Event().wait()

    answers = {"never": never,
               "garbage": lambda command, stdin: "labtui-probe 1\nload: many\nmem: -5 x\n" + "?" * 5000,
               "binary": lambda command, stdin: (0, os.urandom(4096), os.urandom(512)),
               "escapes": lambda command, stdin: "\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\n" * 50}
    use_fleet(monkeypatch, hostile_hosts.inventory(hostile_hosts.start("web1", answers[answer])))
    started = time.monotonic()
    result = run_cli(["status", "--no-drift", "--timeout", "2"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and time.monotonic() - started < 15
    row = result.out.splitlines()[1].split()
    assert row[0] == "web1" and row[1] in ("down", "degraded"), result.out
