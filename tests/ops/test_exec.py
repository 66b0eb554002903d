"""`labtui exec`: the command line it builds, what it folds, how it prints, and the journal entry it leaves;
against scripted shells (unit) and a real OpenSSH sshd (integration, in test_exec_sshd.py)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

import pytest

from labtui.cli import exec as exec_verb
from labtui.errors import UserError
from labtui.inventory.model import Inventory
from labtui.ops.exec import MAX_KEPT_CHARS, ExecCollector, HostExec, command_line, exec_on_hosts, remote_command
from labtui.runs.events import ExecResult, Output
from labtui.runs.journal import Journal
from labtui.ssh.api import CommandResult, CommandTimeout, HostUnreachable
from labtui.ssh.lines import LineSplitter
from tests.ops.conftest import inv_host


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    exec_verb.configure(parser)
    return parser.parse_args(list(argv))


class ScriptedShell:
    """A RemoteShell answering per host: a CommandResult, an exception to raise, or an event to wait for."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.commands: list[tuple[str, str, str | None]] = []
        self.running = 0
        self.most_at_once = 0

    async def run(self, host, command, *, timeout=None, input=None):
        self.commands.append((host, command, input))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            answer = self.answers[host]
            if isinstance(answer, asyncio.Event):
                await answer.wait()
                return CommandResult(0, "", "")
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, CommandResult)
            return answer
        finally:
            self.running -= 1

    async def stream(self, host, command):  # pragma: no cover - exec does not stream through it
        yield ""


# ---- the command line ---------------------------------------------------------------------------------


def test_every_word_is_quoted_for_the_remote_shell():
    assert command_line(["echo", "a b", "$(reboot)", "it's"]) == "echo 'a b' '$(reboot)' 'it'\"'\"'s'"
    with pytest.raises(UserError, match="no command to run"):
        command_line([])


def test_sudo_follows_the_hosts_deploy_settings():
    as_root = inv_host("web1")
    as_deploy = inv_host("web2", ssh_user="deploy")
    assert remote_command(as_root, ["id", "-u"], sudo=True) == "id -u"  # already root: no sudo
    assert remote_command(as_deploy, ["id", "-u"], sudo=True) == "sudo -u root /bin/sh -c 'id -u'"
    assert remote_command(as_deploy, ["id", "-u"]) == "id -u"


@pytest.mark.parametrize(("argv", "targets", "command"), [
    (["web1", "web2", "--", "uptime", "-x"], ["web1", "web2"], ["uptime", "-x"]),
    (["@web", "--", "ls", "--", "-l"], ["@web"], ["ls", "--", "-l"]),
    (["web1", "--timeout", "5", "--sudo", "--", "echo", "--sudo"], ["web1"], ["echo", "--sudo"]),
])
def test_hosts_options_and_command_are_told_apart(argv, targets, command):
    args = parse(*argv)
    assert exec_verb.split_words(args) == (targets, command)


def test_options_after_the_hosts_count_and_before_them_stay():
    args = parse("--timeout", "7", "web1", "--stream", "--", "true")
    exec_verb.split_words(args)
    assert (args.timeout, args.stream, args.sudo) == (7.0, True, False)


@pytest.mark.parametrize(("argv", "message"), [
    (["web1", "uptime"], "put `--` between the hosts and the command"),
    (["--", "uptime"], "name at least one host"),
])
def test_usage_mistakes_are_one_line(argv, message):
    with pytest.raises(UserError, match=message):
        exec_verb.split_words(parse(*argv))


# ---- folding ------------------------------------------------------------------------------------------


def test_line_splitter_bounds_a_line_without_newline():
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"ab\ncdefghij") == ["ab", "cdef"]  # `ghij` may go on
    assert splitter.feed("é".encode()[:1]) == []  # half a character waits for its other half
    assert splitter.feed("é\r\nx".encode()[1:]) == ["ghij", "é\r"]
    assert splitter.finish() == ["x"]


def test_collector_keeps_a_bounded_amount_per_stream():
    collector = ExecCollector(["web1"])
    big = "x" * (MAX_KEPT_CHARS // 2)
    for _ in range(3):
        collector.apply(Output(ts=0, node="web1", stage=None, line=big, source="stdout"))
    collector.apply(Output(ts=0, node="web1", stage=None, line="oops", source="stderr"))
    collector.apply(ExecResult(ts=0, node="web1", exit_code=0, duration=0.5))
    (result,) = collector.results()
    assert len(result.stdout) == 1 and result.truncated
    assert result.stderr == ["oops"] and result.ok and result.status() == "exit 0"


# ---- running ------------------------------------------------------------------------------------------


async def test_each_host_ends_with_its_own_result_whatever_happens_on_the_others():
    hosts = [inv_host(n) for n in ("ok", "fails", "slow", "down")]
    shell = ScriptedShell({
        "ok": CommandResult(0, "hello\nworld\n", ""),
        "fails": CommandResult(3, "", "no such unit\n"),
        "slow": CommandTimeout("slow", "did not finish"),
        "down": HostUnreachable("down", "no route to host", "is it up?"),
    })
    collector = ExecCollector([h.name for h in hosts])
    async for event in exec_on_hosts(hosts, shell, ["systemctl", "status", "nginx"], timeout=2):
        collector.apply(event)
    by = {r.host: r for r in collector.results()}
    assert by["ok"].ok and by["ok"].stdout == ["hello", "world"]
    assert by["fails"].status() == "exit 3" and by["fails"].stderr == ["no such unit"]
    assert by["slow"].timed_out and by["slow"].status() == "timed out" and "within 2 s" in by["slow"].error
    assert by["down"].status() == "not run" and by["down"].error == "no route to host (is it up?)"
    assert {c for _, c, _ in shell.commands} == {"systemctl status nginx"}
    assert not collector.ok


async def test_at_most_parallel_hosts_run_at_once():
    release = asyncio.Event()
    hosts = [inv_host(f"h{i}") for i in range(6)]
    shell = ScriptedShell({h.name: release for h in hosts})
    events = exec_on_hosts(hosts, shell, ["true"], parallel=2)
    first = asyncio.ensure_future(anext(events))
    while len(shell.commands) < 2:  # the first two started; the others wait for a slot
        await asyncio.sleep(0)
    release.set()
    await first
    async for _ in events:
        pass
    assert shell.most_at_once == 2 and len(shell.commands) == 6


async def test_sudo_password_goes_to_stdin_only_for_interactive_sudo_hosts():
    hosts = [inv_host("plain", ssh_user="deploy"), inv_host("asks", ssh_user="deploy", interactive_sudo=True)]
    shell = ScriptedShell({h.name: CommandResult(0, "", "") for h in hosts})
    async for _ in exec_on_hosts(hosts, shell, ["id"], sudo=True, passwords={"asks": "pw"}):
        pass
    inputs = {host: given for host, _, given in shell.commands}
    assert inputs == {"plain": None, "asks": "pw\n"}


# ---- the verb -----------------------------------------------------------------------------------------


async def test_grouped_output_is_harmless_and_json_keeps_the_bytes():
    hosts = [inv_host("web1"), inv_host("web2")]
    inventory = Inventory(flake=".", hosts=tuple(hosts))
    shell = ScriptedShell({"web1": CommandResult(0, "clear\x1b[2Jscreen\n", ""),
                           "web2": CommandResult(1, "", "bad\x9b31m\n")})
    out, err = io.StringIO(), io.StringIO()
    code = await exec_verb.execute(parse("web1", "web2", "--", "cat", "x"), inventory, hosts, ["cat", "x"], shell,
                                   out=out, err=err)
    text = out.getvalue()
    assert code == 1
    assert "\x1b" not in text and "\x9b" not in text
    assert "clear\\x1b[2Jscreen" in text and "bad\\x9b31m" in text
    assert "== web1: exit 0 in" in text and "== web2: exit 1 in" in text
    assert "1/2 hosts succeeded; failed: web2 (exit 1)" in text

    out = io.StringIO()
    code = await exec_verb.execute(parse("--json", "web1", "web2", "--", "cat", "x"), inventory, hosts,
                                   ["cat", "x"], shell, out=out, err=io.StringIO())
    data = json.loads(out.getvalue())
    assert code == 1 and data["ok"] is False and data["command"] == ["cat", "x"]
    by = {h["host"]: h for h in data["hosts"]}
    assert by["web1"]["stdout"] == "clear\x1b[2Jscreen\n" and by["web1"]["exit_code"] == 0
    assert by["web2"]["stderr"] == "bad\x9b31m\n" and by["web2"]["ok"] is False
    assert set(by["web1"]) == {"host", "ok", "exit_code", "stdout", "stderr", "duration", "timed_out", "error",
                               "truncated"}


async def test_every_exec_is_a_run_in_the_journal():
    hosts = [inv_host("web1"), inv_host("web2")]
    inventory = Inventory(flake=".", hosts=tuple(hosts))
    shell = ScriptedShell({"web1": CommandResult(0, "up 3 days\n", ""), "web2": CommandResult(2, "", "nope\n")})
    out = io.StringIO()
    await exec_verb.execute(parse("--json", "@all", "--", "uptime"), inventory, hosts, ["uptime"], shell,
                            out=out, err=io.StringIO())
    run_id = json.loads(out.getvalue())["run_id"]
    journal = Journal.open()
    detail = journal.get_run(run_id)
    assert detail.summary.action == "exec" and detail.summary.outcome == "failed"
    assert detail.summary.operator
    assert detail.argv == [["ssh", "web1", "uptime"], ["ssh", "web2", "uptime"]]
    assert {n.node: (n.outcome, n.message.split(" in ")[0]) for n in detail.nodes} == {
        "web1": ("succeeded", "exit 0"), "web2": ("failed", "exit 2")}
    assert sorted(detail.output().splitlines()) == ["web1: up 3 days", "web2: nope"]
    kinds = [json.loads(line)["event"] for line in detail.events_path.read_text().splitlines()]
    assert kinds.count("exec_result") == 2 and kinds[0] == "run_started" and kinds[-1] == "run_result"
    journal.close()


def test_host_exec_statuses():
    assert HostExec("a").status() == "running"
    assert HostExec("a", duration=1, error="ended by a signal, or ...").status() == "no exit status"


async def test_the_simulated_lab_answers_common_commands(lab, shell, inventory):
    """The demo's hosts (labtui.sim.exec) answer what operators run most: kernel, NixOS version, a unit."""
    hosts = list(inventory.hosts)
    collector = ExecCollector([h.name for h in hosts])
    async for event in exec_on_hosts(hosts, shell, ["uname", "-r"]):
        collector.apply(event)
    # db1's current system has 6.6.31, but it still runs the 6.6.30 it booted.
    assert {r.host: r.stdout for r in collector.results()} == {
        "web1": ["6.6.30"], "web2": ["6.6.30"], "db1": ["6.6.30"]}
    collector = ExecCollector(["web1"])
    async for event in exec_on_hosts(hosts[:1], shell, ["systemctl", "is-active", "nginx.service"]):
        collector.apply(event)
    assert collector.results()[0].stdout == ["active"] and collector.ok
    collector = ExecCollector(["web1"])
    async for event in exec_on_hosts(hosts[:1], shell, ["frobnicate"]):
        collector.apply(event)
    assert collector.results()[0].exit_code == 127 and not collector.ok
