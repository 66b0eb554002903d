"""The ops verbs end to end on the simulated lab (their `execute` with a SimShell instead of SSH)."""

from __future__ import annotations

import io
import json

import pytest

from labtui.cli import check, generations, logs, reboot, rollback
from labtui.cli.main import build_parser
from labtui.errors import UserError
from labtui.ops.clock import RealClock
from labtui.runs.journal import Journal
from labtui.sim.ops import configure_host


def parse(*argv):
    parser, _ = build_parser(argv[0])
    return parser.parse_args(list(argv))


class Tty(io.StringIO):
    def isatty(self):
        return False


async def test_check_table_and_exit_code(lab, shell, inventory, clock):
    out, err = Tty(), Tty()
    assert await check.execute(parse("check", "web*", "db1"), inventory, shell, clock=clock, out=out, err=err) == 0
    assert "2/2 checks passed" in out.getvalue() and "db1: no checks declared" in err.getvalue()
    with lab.update("web2") as sim:
        sim.units["nginx.service"] = "failed"
    out = Tty()
    code = await check.execute(parse("check", "--json"), inventory, shell, clock=clock, out=out, err=Tty())
    data = json.loads(out.getvalue())
    assert code == 1 and not data["ok"]
    assert [(r["host"], r["ok"], r["attempts"]) for r in data["results"]] == [("web1", True, 1), ("web2", False, 3)]


async def test_logs_prints_entries_and_json(shell, inventory, clock):
    out = Tty()
    assert await logs.execute(parse("logs", "web1", "-n", "2"), inventory, shell, clock=clock, out=out, err=Tty()) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("nginx.service: upstream timed out")
    out = Tty()
    await logs.execute(parse("logs", "web1", "-p", "err", "--json"), inventory, shell, clock=clock, out=out, err=Tty())
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["upstream timed out"]
    with pytest.raises(UserError, match="priority"):
        await logs.execute(parse("logs", "web1", "-p", "loud"), inventory, shell, clock=clock)


async def test_generations_table_and_diff(shell, inventory):
    out = Tty()
    assert await generations.execute(parse("generations", "db1"), inventory, shell, out=out) == 0
    text = out.getvalue()
    assert "current,next-boot" in text and "booted" in text and "6.6.31" in text
    out = Tty()
    await generations.execute(parse("generations", "db1", "--diff", "2", "3", "--json"), inventory, shell, out=out)
    assert any(c["package"] == "linux" for c in json.loads(out.getvalue())["changes"])


async def test_rollback_asks_switches_and_journals(lab, shell, inventory):
    out, err = Tty(), Tty()
    code = await rollback.execute(parse("rollback", "web1"), inventory, shell, out=out, err=err,
                                  stdin=io.StringIO("y\n"))
    assert code == 0 and lab.load("web1").current == 2
    assert "switch from generation 3" in err.getvalue() and "switched from generation 3 to 2" in out.getvalue()
    journal = Journal.open()
    [run] = journal.list_runs(host="web1")
    assert run.action == "rollback" and run.outcome == "succeeded"
    detail = journal.get_run(run.run_id)
    assert "switching profile from version 3 to 2" in detail.output()
    [node] = detail.nodes
    # A manual rollback journals where the host came from and where it ended.
    assert (node.before_generation, node.after_generation, node.outcome) == (3, 2, "succeeded")


async def test_rollback_refusals(lab, shell, inventory):
    with pytest.raises(UserError, match="generation 42 does not exist"):
        await rollback.execute(parse("rollback", "web1", "--to", "42", "--yes"), inventory, shell)
    with pytest.raises(UserError, match="not confirmed"):
        await rollback.execute(parse("rollback", "web1"), inventory, shell, err=Tty(), stdin=io.StringIO("n\n"))
    # db1 is critical: "y" is not enough, the name must be typed.
    with pytest.raises(UserError, match="you typed `y`, not `db1`"):
        await rollback.execute(parse("rollback", "db1"), inventory, shell, err=Tty(), stdin=io.StringIO("y\n"))
    with pytest.raises(UserError, match="pass --yes"):
        await rollback.execute(parse("rollback", "web1"), inventory, shell, err=Tty(), stdin=io.StringIO(""))
    assert lab.load("web1").current == 3 and lab.load("db1").current == 3
    assert await rollback.execute(parse("rollback", "db1", "--to", "1"), inventory, shell, out=Tty(), err=Tty(),
                                  stdin=io.StringIO("db1\n")) == 0
    assert lab.load("db1").current == 1


async def test_reboot_only_needed_hosts(lab, shell, inventory):
    for name in lab.names():
        configure_host(lab, name, reboot_down_after=0.02, reboot_back_after=0.05, startup=0.02)
    out, err = Tty(), Tty()
    code = await reboot.execute(parse("reboot", "--yes", "--json"), inventory, shell, out=out, err=err,
                                poll=0.01, clock=RealClock())
    data = json.loads(out.getvalue())
    assert code == 0 and [h["host"] for h in data["hosts"]] == ["db1"] and data["hosts"][0]["ok"]
    assert "web1: no reboot needed" in err.getvalue()
    assert not lab.load("db1").reboot_needed
    [run] = Journal.open().list_runs(host="db1")
    assert (run.action, run.outcome, run.nodes) == ("reboot", "succeeded", {"db1": "succeeded"})


async def test_rollback_without_systemd_run_says_so(lab, shell, inventory):
    from labtui.sim.ops import configure_host

    configure_host(lab, "web1", systemd_run=False)
    out, err = Tty(), Tty()
    code = await rollback.execute(parse("rollback", "web1", "--yes"), inventory, shell, out=out, err=err)
    assert code == 0 and lab.load("web1").current == 2
    assert "labtui: web1 has no systemd-run: the switch ran in the SSH session" in err.getvalue()
    detail = Journal.open().get_run(Journal.open().list_runs(host="web1")[0].run_id)
    assert "no systemd-run on this host" in detail.output() and "--switch-generation 2" in " ".join(detail.argv[0])
