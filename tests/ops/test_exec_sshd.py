"""`labtui exec` over a real OpenSSH sshd: lines as they come, stdout and stderr apart, exit codes, a timeout
that ends the remote command, quoting that keeps `$(...)` an argument."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

import pytest

from labtui.cli import exec as exec_verb
from labtui.inventory.model import Inventory
from labtui.ops.exec import ExecCollector, exec_on_hosts
from labtui.runs.events import ExecResult, Output
from labtui.ssh.api import CommandTimeout
from tests.support.sshd import sshd  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    exec_verb.configure(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
async def lab(sshd):  # noqa: F811
    from labtui.ssh.pool import SshPool

    hosts = (sshd.host("one"), sshd.host("two"))
    pool = SshPool(hosts, known_hosts=[sshd.known_hosts], client_keys=[sshd.client_key], config=None)
    try:
        yield Inventory(flake=".", hosts=hosts), pool
    finally:
        await pool.close()


async def test_lines_arrive_while_the_command_still_runs(lab):
    inventory, pool = lab
    proceed = asyncio.Event()
    seen: list[tuple[str, str]] = []

    def on_line(stream, line):
        seen.append((stream, line))
        proceed.set()

    # The command waits for a file that appears only after its first line reached us.
    flag = f"/tmp/labtui-exec-{id(seen)}"
    script = f"echo first; echo oops >&2; while [ ! -e {flag} ]; do sleep 0.05; done; rm {flag}; echo second; exit 4"
    task = asyncio.ensure_future(pool.run_lines("one", f"sh -c '{script}'", on_line, timeout=30))
    await asyncio.wait_for(proceed.wait(), 20)
    assert ("stdout", "first") in seen and not task.done()
    await pool.run("two", f"touch {flag}")
    assert await task == 4
    assert [line for stream, line in seen if stream == "stdout"] == ["first", "second"]
    assert [line for stream, line in seen if stream == "stderr"] == ["oops"]


async def test_a_timeout_ends_the_command_and_keeps_the_connection(lab):
    inventory, pool = lab
    with pytest.raises(CommandTimeout):
        await pool.run_lines("one", "sleep 30", lambda stream, line: None, timeout=0.5)
    result = await pool.run("one", "echo still here", timeout=10)
    assert result.stdout == "still here\n"


async def test_arguments_reach_the_command_as_words(lab):
    inventory, pool = lab
    collector = ExecCollector(["one", "two"])
    async for event in exec_on_hosts(list(inventory.hosts), pool, ["printf", "%s|", "a b", "$(id)", "it's"],
                                     lines=pool):
        collector.apply(event)
    for result in collector.results():
        assert result.ok and result.stdout == ["a b|$(id)|it's|"]


async def test_stream_mode_prefixes_each_line_with_its_host(lab):
    inventory, pool = lab
    out = io.StringIO()
    argv = ["sh", "-c", "echo out; echo err >&2; printf 'bell\\a\\033]52;c;x\\a\\n'; exit 3"]
    code = await exec_verb.execute(parse("--stream", "one", "two", "--", *argv), inventory, list(inventory.hosts),
                                   argv, pool, lines=pool, out=out, err=io.StringIO())
    lines = out.getvalue().splitlines()
    assert code == 1
    for host in ("one", "two"):
        assert f"{host} | out" in lines and f"{host} ! err" in lines
        assert f"{host} | bell\\x07\\x1b]52;c;x\\x07" in lines
        assert any(line.startswith(f"{host} = exit 3 in ") for line in lines)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()


async def test_json_has_each_hosts_exit_code_stdout_stderr_and_duration(lab):
    inventory, pool = lab
    out = io.StringIO()
    argv = ["sh", "-c", 'echo "$0"; echo e >&2; [ "$0" = one ] || exit 9', "x"]
    hosts = list(inventory.hosts)
    code = await exec_verb.execute(parse("--json", "one", "two", "--", *argv), inventory, hosts, argv, pool,
                                   out=out, err=io.StringIO())
    data = json.loads(out.getvalue())
    assert code == 1 and not data["ok"]
    for host in data["hosts"]:
        assert host["stdout"] == "x\n" and host["stderr"] == "e\n" and host["duration"] >= 0
        assert host["exit_code"] == 9 and not host["ok"]


async def test_every_event_names_its_host(lab):
    inventory, pool = lab
    events = [e async for e in exec_on_hosts(list(inventory.hosts), pool, ["echo", "hi"], lines=pool)]
    assert {(e.node, e.line) for e in events if isinstance(e, Output)} == {("one", "hi"), ("two", "hi")}
    assert sorted(e.node for e in events if isinstance(e, ExecResult)) == ["one", "two"]


async def test_every_exec_is_in_the_command_log(sshd):  # noqa: F811
    from labtui.commandlog import CommandLog
    from labtui.ssh.pool import SshPool

    log = CommandLog()
    hosts = (sshd.host("one"), sshd.host("two"))
    pool = SshPool(hosts, known_hosts=[sshd.known_hosts], client_keys=[sshd.client_key], config=None,
                   command_log=log)
    try:
        async for _ in exec_on_hosts(list(hosts), pool, ["echo", "a b"], lines=pool):
            pass
    finally:
        await pool.close()
    assert {(record.where, record.command) for record in log.records()} >= {("one", "echo 'a b'"),
                                                                            ("two", "echo 'a b'")}
