"""A hostile host cannot fill the jump host's memory (issue 11, point 9): what is read is capped per command, per
line and per field, and what was cut says "truncated". The figures (peak RSS) are in bench/hostile_host_memory.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labtui.deploy.parse.deploy_rs import DeployRsParser
from labtui.deploy.runner import MAX_LINE as DEPLOY_MAX_LINE
from labtui.deploy.runner import CommandRunner, RunnerTimings
from labtui.ops.logs import MAX_MESSAGE, LogEntry, LogNotice, parse_journal_line
from labtui.runs.events import Output
from labtui.sim.probe import probe_output
from labtui.sim.state import SimLab
from labtui.ssh.api import MAX_LINE, HostState
from labtui.status.derive import host_state
from labtui.status.parse import MAX_FAILED_UNITS, parse_probe
from labtui.status.parse import MAX_LINE as PROBE_MAX_LINE
from labtui.status.probe import PROBE_MAX_OUTPUT, PROBE_SCRIPT
from labtui.text import LineCutter, clip, was_truncated
from tests.faults.harness import assert_harmless_output, assert_no_traceback, run_cli, use_fleet
from tests.ops.conftest import sim_host
from tests.support.asyncssh_server import ssh_servers  # noqa: F401  (fixture)

FLOOD = 8 * 1024 * 1024  # enough to pass every cap; the bench uses 100 MB


def normal_probe(tmp_path: Path) -> str:
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))
    return probe_output(lab.load("web1"))


# ---- the cutter every stream goes through -------------------------------------------------------------------


def test_line_cutter_keeps_at_most_its_limit_and_says_how_much_was_cut():
    cutter = LineCutter(10)
    assert cutter.feed("short\n" + "x" * 25) == ["short"]
    assert cutter.pending == "x" * 10  # never more than the limit, however long the line grows
    assert cutter.feed("x" * 1000 + "\nnext") == ["x" * 10 + "\u2026 [1015 more characters truncated]"]
    assert cutter.take_pending() == "next" and not cutter.has_pending
    assert was_truncated(clip("y" * 50, 10)) and not was_truncated("y" * 10)


# ---- one command's output (run) and one line (stream) over SSH ---------------------------------------------


async def test_run_stops_a_flood_at_its_cap_and_keeps_the_connection(ssh_servers):
    server = await ssh_servers.start("flood", handler=lambda cmd, stdin: "z" * FLOOD if cmd == "flood" else "ok\n")
    pool = ssh_servers.pool([server.host()])
    result = await pool.run("flood", "flood", max_output=64 * 1024, timeout=30)
    assert result.truncated and len(result.stdout) == 64 * 1024 and result.exit_status is None
    again = await pool.run("flood", "echo", timeout=30)
    assert again.ok and again.stdout == "ok\n" and not again.truncated
    assert server.connects == 1  # the cut channel was closed, not the connection


async def test_stream_cuts_a_huge_line_and_goes_on(ssh_servers):
    async def lines():
        yield "first"
        yield "w" * (3 * MAX_LINE)
        yield "last"

    server = await ssh_servers.start("drip", handler=lambda cmd, stdin: lines())
    pool = ssh_servers.pool([server.host()])
    got = [line async for line in pool.stream("drip", "journalctl")]
    assert got[0] == "first" and got[2] == "last"
    assert got[1].startswith("w" * MAX_LINE) and was_truncated(got[1]) and len(got[1]) < MAX_LINE + 100


# ---- the status probe ----------------------------------------------------------------------------------------


def test_parser_keeps_100_failed_units_and_counts_the_rest():
    lines = ["labtui-probe 1", "system-running\tdegraded", "failed-units-listed\tyes",
             *(f"failed-unit\tunit-{i}.service" for i in range(200_000)), "end"]
    report = parse_probe(lines)
    assert len(report.failed_units) == MAX_FAILED_UNITS and report.failed_units_more == 200_000 - MAX_FAILED_UNITS
    state, why = host_state(report)
    assert state is HostState.DEGRADED
    assert why is not None and why.startswith("200000 failed units: unit-0.service,") and why.endswith(
        "and 199990 more") and len(why) < 300


def test_parser_does_not_use_an_overlong_value():
    report = parse_probe(["labtui-probe 1", "hostname\t" + "h" * 100_000, "failed-units-listed\tyes",
                          "failed-unit\t" + "u" * 10_000, "end"])
    assert report.hostname is None and f"over {PROBE_MAX_LINE}" in report.missing["hostname"]
    assert len(report.failed_units[0]) < 300 and was_truncated(report.failed_units[0])


def test_probe_script_names_100_failed_units_and_counts_the_rest(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text('#!/bin/sh\ncase "$1" in is-system-running) echo degraded;; list-units) i=0; while '
                         '[ $i -lt 250 ]; do echo "u$i.service loaded failed failed x"; i=$((i+1)); done;; esac\n')
    systemctl.chmod(0o755)
    shell = "dash" if any(Path(p, "dash").exists() for p in os.environ["PATH"].split(os.pathsep)) else "sh"
    out = subprocess.run([shell, "-s", "labtui-probe", "1"], input=PROBE_SCRIPT, capture_output=True, text=True,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, timeout=30).stdout
    assert out.count("\nfailed-unit\t") == 100 and "\nfailed-units-more\t150\n" in out
    report = parse_probe(out.splitlines())
    assert report.complete and len(report.failed_units) == 100 and report.failed_units_more == 150


def test_status_of_a_host_that_floods_its_probe_answer(hostile_hosts, monkeypatch, tmp_path):
    head = normal_probe(tmp_path).rpartition("end\n")[0]
    flood = head + ("junk\t" + "j" * 1000 + "\n") * (FLOOD // 1005) + "end\n"
    long_line = head + "hostname\t" + "y" * FLOOD + "\nend\n"
    hosts = [hostile_hosts.start("flood", lambda cmd, stdin: flood),
             hostile_hosts.start("longline", lambda cmd, stdin: long_line)]
    use_fleet(monkeypatch, hostile_hosts.inventory(*hosts))
    result = run_cli(["status", "--no-drift", "--timeout", "20"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and len(result.out) < 2000, result.out
    for name in ("flood", "longline"):
        assert f"{name}: the probe answered more than {PROBE_MAX_OUTPUT // 1024} KB" in result.out
        assert "(truncated)" in result.out


# ---- logs and deploy output ------------------------------------------------------------------------------


def test_journal_entry_fields_are_capped():
    entry = parse_journal_line('{"__CURSOR": "c", "MESSAGE": "' + "m" * (4 * MAX_MESSAGE) + '", "_SYSTEMD_UNIT": "'
                               + "u" * 10_000 + '"}')
    assert isinstance(entry, LogEntry)
    assert len(entry.message) < MAX_MESSAGE + 100 and was_truncated(entry.message)
    assert len(entry.unit) < 1000 and was_truncated(entry.unit)
    cut = parse_journal_line('{"__CURSOR": "c", "MESSAGE": "' + "m" * MAX_LINE + clip("x" * 50, 1))
    assert isinstance(cut, LogNotice) and "skipped (truncated" in cut.message and len(cut.message) < 300


async def test_deploy_output_line_is_cut_for_the_events_but_kept_whole_in_the_log():
    raw: list[str] = []
    code = "import sys; sys.stdout.write('x' * (4 * 1024 * 1024) + '\\nafter\\n')"
    runner = CommandRunner([sys.executable, "-c", code], DeployRsParser(), on_raw=raw.append,
                           timings=RunnerTimings(stall_after=None, exit_drain=2.0, late_output=1.0))
    lines = [e.line for e in [e async for e in runner.events()] if isinstance(e, Output)]
    long = next(line for line in lines if line.startswith("x"))
    assert len(long) < DEPLOY_MAX_LINE + 100 and was_truncated(long)
    assert "after" in lines
    assert len("".join(raw)) == 4 * 1024 * 1024 + len("\nafter\n")  # output.log gets every character
