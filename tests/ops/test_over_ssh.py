"""Each ops verb over real SSH: labtui's SshPool against the demo's asyncssh servers for simulated hosts
(labtui.sim.server), so connection drops and reboots are real connection events."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from labtui.inventory.model import CheckSpec, Inventory, SshTarget
from labtui.ops.checks import run_checks
from labtui.ops.clock import RealClock
from labtui.ops.generations import list_generations, switch_generation
from labtui.ops.logs import LogEntry, LogQuery, read_journal
from labtui.ops.reboot import reboot_host
from labtui.runs.events import RebootProgress
from labtui.sim.ops import configure_host
from labtui.sim.server import SimSshServers
from tests.ops.conftest import UNIT_CHECK, FakeClock, inv_host


@pytest.fixture
async def over_ssh(lab, tmp_path):
    from labtui.ssh.pool import SshPool

    servers = SimSshServers(lab, tmp_path / "keys")
    await servers.start()
    hosts = []
    for name in lab.names():
        host = inv_host(name, (UNIT_CHECK,))
        ssh = SshTarget(hostname="127.0.0.1", port=servers.port(name), user="root",
                        identity_files=(str(servers.client_key_path),))
        hosts.append(replace(host, hostname="127.0.0.1", ssh=ssh))
    inventory = Inventory(flake=".", hosts=tuple(hosts))
    pool = SshPool(inventory.hosts, known_hosts=[servers.known_hosts_path], client_keys=[servers.client_key_path],
                   config=None, keepalive_interval=1.0, keepalive_count_max=2, connect_timeout=2.0)
    try:
        yield inventory, pool, servers
    finally:
        await pool.close()
        await servers.close()


async def test_checks_over_ssh(lab, over_ssh):
    inventory, pool, _ = over_ssh
    host = inventory.get("web1")
    disk = CheckSpec(kind="disk", name="nix store", params={"mount": "/nix", "max_percent": 90}, retries=0)
    results = {r.check: r async for r in run_checks(host, pool, [UNIT_CHECK, disk], clock=RealClock())}
    assert results["nginx up"].ok and not results["nix store"].ok and "95%" in results["nix store"].message


async def test_generations_and_rollback_over_ssh(lab, over_ssh):
    inventory, pool, _ = over_ssh
    gens = await list_generations(pool, "db1")
    assert [(g.number, g.current, g.booted) for g in gens] == [(1, False, False), (2, False, True), (3, True, False)]
    outcome = await switch_generation(pool, inventory.get("db1"), 2, from_generation=3)
    assert outcome.ok and "switching profile from version 3 to 2" in outcome.output
    assert lab.load("db1").current == 2


async def test_log_stream_drops_and_resumes_over_ssh(lab, over_ssh):
    """The host goes away mid-stream (its SSH server closes every connection), entries are written
    meanwhile, it comes back: the stream reconnects and shows each entry exactly once."""
    _, pool, servers = over_ssh
    stream = read_journal(pool, "web1", LogQuery(lines=1, follow=True), clock=RealClock(), reconnect_delay=0.05)
    seen: list[str] = []
    notices: list[str] = []

    async def next_entry() -> str:
        async for item in stream:
            if isinstance(item, LogEntry):
                seen.append(item.message)
                return item.message
            notices.append(item.kind)
        raise AssertionError("stream ended")

    assert await next_entry() == "upstream timed out"
    with lab.update("web1") as sim:
        sim.log("app.service", "before the drop")
    assert await next_entry() == "before the drop"
    with lab.update("web1") as sim:
        sim.reachable = False
        sim.log("app.service", "while away")
    await servers._follow_reachability()  # the server drops its connections now (else within 0.25 s)
    with lab.update("web1") as sim:
        sim.reachable = True
        sim.log("app.service", "after return")
    await servers._follow_reachability()
    assert await next_entry() == "while away"
    assert await next_entry() == "after return"
    await stream.aclose()
    assert seen == ["upstream timed out", "before the drop", "while away", "after return"]
    assert "reconnecting" in notices


async def test_reboot_over_ssh(lab, over_ssh):
    inventory, pool, _ = over_ssh
    configure_host(lab, "db1", reboot_down_after=0.05, reboot_back_after=0.4, startup=0.1)
    old = lab.load("db1").boot_id
    events = [e async for e in reboot_host(inventory.get("db1"), pool, timeout=15, poll=0.05, command_timeout=2,
                                           clock=RealClock())]
    phases = [e.phase for e in events if isinstance(e, RebootProgress)]
    assert phases[:3] == ["rebooting", "down", "back"] and phases[-1] == "done", events[-1]
    assert lab.load("db1").boot_id != old and not lab.load("db1").reboot_needed


async def test_cli_verbs_over_ssh(lab, over_ssh):
    from labtui.cli import check, generations, logs
    from labtui.cli.main import build_parser

    inventory, pool, _ = over_ssh

    def parse(*argv):
        return build_parser(argv[0])[0].parse_args(list(argv))

    out = io.StringIO()
    assert await check.execute(parse("check", "web1", "--json"), inventory, pool, out=out, err=io.StringIO()) == 0
    assert json.loads(out.getvalue())["ok"]
    out = io.StringIO()
    assert await generations.execute(parse("generations", "web2", "--json"), inventory, pool, out=out) == 0
    assert len(json.loads(out.getvalue())["generations"]) == 3
    out = io.StringIO()
    assert await logs.execute(parse("logs", "web1", "-n", "3", "-u", "sshd.service"), inventory, pool, out=out,
                              err=io.StringIO()) == 0
    assert out.getvalue().count("Accepted publickey") == 3


async def test_detached_deploy_hook_factory_over_ssh(lab, over_ssh):
    """The health gate as the deploy supervisor builds it: over an SshPool (host keys from the hosts'
    sshOpts), the failed-units snapshot taken at once, a broken host rolled back."""
    from labtui.cli.supervise import health_gate_for
    from labtui.deploy.request import DeployRequest
    from labtui.runs.events import NodeResult
    from labtui.ssh.pool import SshPool
    from tests.ops.test_gate import deploy_new_generation, succeeded

    inventory, _, servers = over_ssh
    hosts = tuple(replace(h, ssh=replace(h.ssh, options=(("UserKnownHostsFile", str(servers.known_hosts_path)),)))
                  for h in inventory.hosts)
    inventory = replace(inventory, hosts=hosts)
    request = DeployRequest(targets=[("web1", None)], health_gate="rollback")
    gate = health_gate_for(request, inventory, SshPool(inventory.hosts))
    try:
        await gate._wait_snapshot()
        assert gate.before == {"web1": frozenset()}
        deploy_new_generation(lab, "web1", breaks=("sshd.service",))
        gate.clock = FakeClock()  # retries without waiting their period
        events = [e async for e in gate("web1", succeeded("web1"))]
    finally:
        await gate.shell.close()
    assert events[-1] == NodeResult(ts=events[-1].ts, node="web1", profile="system", outcome="rolled_back",
                                    stage="health", message=events[-1].message)
    assert "new failed units: sshd.service" in events[-1].message and lab.load("web1").current == 3


async def test_rollback_survives_a_network_restart_over_ssh(lab, over_ssh):
    """The switch restarts the network (every SSH session to the host drops, the host is away for a while): under
    systemd-run it goes on, and labtui reconnects and reads how it ended."""
    inventory, pool, _ = over_ssh
    configure_host(lab, "db1", switch_seconds=1.0, switch_drops_network=0.5)
    outcome = await switch_generation(pool, inventory.get("db1"), 2, from_generation=3, poll_interval=0.1)
    assert outcome.ok and outcome.detached and outcome.dropped, outcome.output
    assert "connection lost" in outcome.dropped
    assert lab.load("db1").current == 2


async def test_in_session_switch_is_cut_by_a_network_restart_over_ssh(lab, over_ssh):
    inventory, pool, _ = over_ssh
    configure_host(lab, "db1", switch_seconds=1.0, switch_drops_network=0.5, systemd_run=False)
    outcome = await switch_generation(pool, inventory.get("db1"), 2, from_generation=3, poll_interval=0.1)
    assert not outcome.ok and outcome.detached is False, outcome.output
    assert "interrupted it" in outcome.output
    sim = lab.load("db1")
    assert (sim.current, sim.profile) == (3, 2)
