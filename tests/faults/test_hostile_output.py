"""Issue 11 point 1: text from a host never reaches the operator's terminal raw (CLI).

Every verb that prints what a host sent is run for real (`labtui.cli.main.main`) against an SSH host that
answers with escape sequences (clear screen, OSC 52 clipboard write, bell), markup-looking text and binary
output. The terminal gets them shown escaped (`\\x1b`); `--json` keeps the data as it came.
"""

from __future__ import annotations

import json
import time

import pytest

from labtui.inventory.model import CheckSpec
from labtui.runs.events import (
    NodeResult,
    Output,
    PlanEntry,
    Prompt,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
)
from labtui.sim.state import SimLab
from labtui.text import harmless, is_harmless
from tests.faults.harness import (
    HOSTILE,
    MARKUP,
    assert_harmless_output,
    assert_no_traceback,
    assert_one_line_error,
    run_cli,
    use_fleet,
)
from tests.ops.conftest import sim_host
from tests.support.asyncssh_server import lab_handler

SHOWN = harmless(HOSTILE)  # what the operator sees: `x\x1b[2J\x1b[H\x1b]52;c;...\x07`


def test_what_the_operator_sees_is_escaped():
    assert SHOWN.startswith("x\\x1b[2J") and SHOWN.endswith("\\x07") and is_harmless(SHOWN)


@pytest.fixture
def lab(tmp_path) -> SimLab:
    lab = SimLab(tmp_path / "lab")
    host = sim_host("web1", units={f"{HOSTILE}.service": "failed", "nginx.service": "active"})
    host.log(f"{HOSTILE}.service", f"written with logger: {HOSTILE} {MARKUP}", priority=3)
    host.generations[-1].nixos_version = f"24.05 {HOSTILE}"
    lab.save(host)
    return lab


def fleet(hostile_hosts, monkeypatch, lab, answers=None, **host_fields):
    """web1 answers as the simulated lab, except for commands starting with a key of `answers`."""
    sim = lab_handler(lab, "web1")

    def handler(command, stdin):
        for prefix, answer in (answers or {}).items():
            if command.startswith(prefix) or prefix in command:
                return answer(command) if callable(answer) else answer
        return sim(command, stdin)

    host = hostile_hosts.start("web1", handler)
    if host_fields:
        from dataclasses import replace

        host = replace(host, **host_fields)
    use_fleet(monkeypatch, hostile_hosts.inventory(host))
    return host


def test_status_shows_a_hostile_unit_name_escaped_and_json_keeps_it(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab)
    result = run_cli(["status", "--no-drift", "--timeout", "10"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1  # degraded: a unit failed
    assert f"1 failed unit: {SHOWN}.service" in result.out
    data = json.loads(run_cli(["status", "--no-drift", "--json", "--timeout", "10"]).out)
    assert data["hosts"][0]["failed_units"] == [f"{HOSTILE}.service"]  # the data, as the host sent it


def test_logs_show_what_logger_wrote_escaped_and_json_keeps_it(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab)
    result = run_cli(["logs", "web1", "-n", "1"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 0
    assert result.out.rstrip("\n").endswith(f"{SHOWN}.service: written with logger: {SHOWN} {MARKUP}")
    entry = json.loads(run_cli(["logs", "web1", "-n", "1", "--json"]).out)
    assert entry["message"] == f"written with logger: {HOSTILE} {MARKUP}" and entry["unit"] == f"{HOSTILE}.service"


def test_logs_of_binary_output_print_no_raw_byte(hostile_hosts, monkeypatch, lab):
    """journald sends a non-UTF-8 MESSAGE as a byte array; a broken host may also print raw bytes."""
    entry = {"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1795694400000000", "PRIORITY": "6",
             "_SYSTEMD_UNIT": "blob.service", "MESSAGE": list(b"\x1b[2J\xff\xfe\x00\x9b31m binary \x07")}
    answer = json.dumps(entry).encode() + b"\n" + b"\x1b]52;c;cm0gLXJmIH4K\x07\xff\xfe\x00\x9b2J raw\n"
    fleet(hostile_hosts, monkeypatch, lab, {"journalctl": answer})
    result = run_cli(["logs", "web1", "-n", "5"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert "blob.service: \\x1b[2J" in result.out and "binary \\x07" in result.out
    assert "web1: \\x1b]52;c;cm0gLXJmIH4K\\x07" in result.err  # the line that is no journal entry


def test_logs_keep_a_multi_line_message_readable(hostile_hosts, monkeypatch, lab):
    with lab.update("web1") as sim:
        sim.log("app.service", "Traceback:\n  File x\n\x1b[31mboom")
    fleet(hostile_hosts, monkeypatch, lab)
    lines = run_cli(["logs", "web1", "-n", "1"]).out.splitlines()
    assert len(lines) == 3 and lines[0].endswith("app.service: Traceback:")
    assert lines[2].strip() == "\\x1b[31mboom" and lines[2].startswith(" " * 20)


def test_generations_table_escapes_what_the_host_reports(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab)
    result = run_cli(["generations", "web1"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert "24.05 x\\x1b[2J" in result.out


def test_an_error_line_quoting_a_host_is_harmless(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab, {"readlink /run/current-system": (1, "", f"{HOSTILE}\n")})
    line = assert_one_line_error(run_cli(["generations", "web1"]), 1, "cannot list generations")
    assert line.endswith(SHOWN)


def test_an_ssh_server_refusing_with_a_hostile_reason(hostile_hosts, monkeypatch):
    """The SSH disconnect reason is the server's text: it reaches status notes and error lines escaped."""
    host = hostile_hosts.start_refusing("web1", f"{HOSTILE} go away {MARKUP}")
    use_fleet(monkeypatch, hostile_hosts.inventory(host))
    result = run_cli(["status", "--no-drift", "--timeout", "10"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and SHOWN in result.out.replace("\n  ", " ")
    line = assert_one_line_error(run_cli(["logs", "web1"]), 1, hint=True)
    assert SHOWN in line and MARKUP in line


def test_check_results_escape_a_commands_output(hostile_hosts, monkeypatch, lab):
    check = CheckSpec(kind="command", name="ready", params={"command": "test -e /run/ready"}, period=0.1,
                      timeout=5, retries=0)
    fleet(hostile_hosts, monkeypatch, lab, {"test -e /run/ready": (1, "", f"{HOSTILE}\n")}, checks=(check,))
    result = run_cli(["check", "web1"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and "exit 1: x\\x1b[2J" in result.out
    data = json.loads(run_cli(["check", "web1", "--json"]).out)
    assert data["results"][0]["message"] == f"exit 1: {HOSTILE}"


def test_rollback_escapes_the_switch_output(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab, {"--switch-generation": (1, f"{HOSTILE}\nsecond line\n", HOSTILE)})
    result = run_cli(["rollback", "web1", "--yes"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and "second line" in result.err and SHOWN in result.text


def test_reboot_escapes_what_the_host_answers(hostile_hosts, monkeypatch, lab):
    fleet(hostile_hosts, monkeypatch, lab, {"systemctl reboot": (1, "", f"{HOSTILE}\n")})
    result = run_cli(["reboot", "web1", "--all", "--yes", "--no-checks", "--timeout", "5"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 1 and SHOWN in result.out


def _recorded_run(run_id: str) -> None:
    """A run in the journal whose node message and output carry what a hostile host printed."""
    from labtui.runs.files import RunFiles
    from labtui.runs.journal import Journal

    journal = Journal.open()
    files = RunFiles(run_id)
    journal.begin_run(run_id, operator="op", method="deploy-rs", action="switch", targets=[("web1", "system")])
    now = time.time()
    events: list[RunEvent] = [
        RunStarted(ts=now, run_id=run_id, method="deploy-rs", nodes=["web1"], argv=["deploy", ".#web1"]),
        StageChanged(ts=now, node="web1", profile="system", stage="activate"),
        Output(ts=now, node="web1", stage="activate", line=f"activating {HOSTILE}"),
        NodeResult(ts=now, node="web1", profile="system", outcome="failed", stage="activate",
                   message=f"{HOSTILE} {MARKUP}"),
        RunResult(ts=now, outcome="failed", exit_code=1)]
    files.raw(f"\x1b[32mINFO\x1b[0m activating {HOSTILE}\r\nprogress 10%\rprogress 100%\n\x9b2J\x07\n")
    for event in events:
        files.event(event)
        journal.record(run_id, event)
    files.close()
    journal.close()


def test_history_and_history_show_escape_what_hosts_printed(monkeypatch):
    _recorded_run("20261126-120000-beef")
    listing = run_cli(["history"])
    assert_no_traceback(listing)
    assert "20261126-120000-beef" in listing.out
    shown = run_cli(["history", "show", "20261126-120000-beef"])
    assert_no_traceback(shown)
    assert_harmless_output(shown)
    assert f"{SHOWN} {MARKUP}"[:40] in shown.out  # the node's message, in the table (cut to fit)
    output = shown.out.split("--- output", 1)[1]
    # Each line as it ended on screen: colours gone, a redraw resolved, the rest shown escaped.
    assert "INFO activating x" in output and "progress 100%\n" in output and "\\x9b2J\\x07" in output
    data = json.loads(run_cli(["history", "show", "20261126-120000-beef", "--json"]).out)
    assert HOSTILE in data["output"] and data["node_details"][0]["message"] == f"{HOSTILE} {MARKUP}"


def test_deploy_progress_escapes_output_messages_and_the_plan():
    import io

    from labtui.cli.printer import Printer

    for verbose in (False, True):
        out = io.StringIO()
        printer = Printer(out, verbose=verbose, color=True)
        now = time.time()
        for event in (RunStarted(ts=now, run_id="r", method="deploy-rs", nodes=["web1"], argv=["deploy"]),
                      Prompt(ts=now, plan=[PlanEntry(node="web1", profile="system", user="root", ssh_user="root",
                                                     hostname=HOSTILE, path=f"/nix/store/{HOSTILE}")]),
                      StageChanged(ts=now, node="web1", profile="system", stage="activate"),
                      Output(ts=now, node="web1", stage="activate", line=f"switching {HOSTILE}"),
                      NodeResult(ts=now, node="web1", profile="system", outcome="failed", stage="activate",
                                 message=HOSTILE),
                      RunResult(ts=now, outcome="failed", exit_code=1)):
            printer.event(event)
        text = out.getvalue()
        # Only the printer's own colours are escape sequences; everything from the host is escaped.
        import re

        assert is_harmless(re.sub(r"\x1b\[[0-9;]*m", "", text), keep_newlines=True), text
        assert f"switching {SHOWN}" in text and f"failed at activate: {SHOWN}" in text


def test_parse_log_escapes_a_saved_log(tmp_path):
    log = tmp_path / "deploy.log"
    # The parser drops ESC sequences (strip_ansi); what is left (an 8-bit CSI, a bell) is shown escaped.
    log.write_text(f"🚀 ℹ️ [deploy] [INFO] Building profile `system` for node `web1`\n{HOSTILE}\x9b2J ring\x07\n")
    result = run_cli(["parse-log", str(log), "-v"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert "\\x9b2J ring\\x07" in result.out


def test_an_error_line_never_echoes_control_characters():
    line = assert_one_line_error(run_cli(["history", "show", HOSTILE]), 2, "no run with id")
    assert SHOWN in line


def test_no_markup_is_built_from_remote_text_in_the_cli():
    """The CLI writes plain text: a Rich-markup-looking value stays as it is (nothing interprets it)."""
    from labtui.cli.common import render_table

    table = render_table(["A"], [[MARKUP], [HOSTILE]], max_width=200)
    assert MARKUP in table and SHOWN in table and is_harmless(table, keep_newlines=True)
