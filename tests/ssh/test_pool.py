"""SshPool against in-process asyncssh servers: reuse, limits, host keys, auth, faults, jump hosts, config."""

from __future__ import annotations

import asyncio
import random
import socket

import asyncssh
import pytest

from labtui.commandlog import CommandLog
from labtui.ssh.api import (
    AuthFailed,
    CommandTimeout,
    HostKeyChanged,
    HostKeyUnknown,
    HostState,
    HostUnreachable,
    SshConfigError,
)
from labtui.ssh.options import parse_destination
from labtui.ssh.pool import Backoff, SshPool
from tests.support.asyncssh_server import ssh_servers  # noqa: F401  (fixture)


def echo(command: str, stdin: str) -> str:
    return f"ran {command}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_connection_reused_and_commands_logged(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo)
    log = CommandLog()
    pool = ssh_servers.pool([server.host()], command_log=log)
    results = await asyncio.gather(*(pool.run("web1", f"cmd {i}") for i in range(5)))
    assert [r.stdout for r in results] == [f"ran cmd {i}\n" for i in range(5)]
    assert all(r.ok for r in results)
    assert server.connects == 1
    assert [r.command for r in log.records()] == [f"cmd {i}" for i in range(5)]
    assert log.records()[0].where == "web1"
    assert pool.state("web1") is HostState.UP and pool.connect_ms("web1") > 0


async def test_exit_status_stderr_and_input(ssh_servers):
    server = await ssh_servers.start("web1", handler=lambda c, i: (3, i.upper(), "oops\n"))
    pool = ssh_servers.pool([server.host()])
    result = await pool.run("web1", "x", input="abc")
    assert (result.exit_status, result.stdout, result.stderr, result.ok) == (3, "ABC", "oops\n", False)


async def test_at_most_eight_channels_per_connection(ssh_servers):
    active, peak, release = 0, 0, asyncio.Event()

    async def slow(command, stdin):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if peak >= 8:
            release.set()
        await release.wait()
        active -= 1
        return "ok\n"

    server = await ssh_servers.start("web1", handler=slow)
    pool = ssh_servers.pool([server.host()])
    results = await asyncio.wait_for(asyncio.gather(*(pool.run("web1", "x") for i in range(12))), 10)
    assert all(r.ok for r in results)
    assert peak == 8


async def test_stream_yields_lines_live(ssh_servers):
    gate = asyncio.Event()

    async def lines():
        yield "first"
        await gate.wait()
        yield ""
        yield "third"

    server = await ssh_servers.start("web1", handler=lambda c, i: lines())
    pool = ssh_servers.pool([server.host()])
    stream = pool.stream("web1", "journalctl -f")
    assert await asyncio.wait_for(stream.__anext__(), 5) == "first"  # before the command ends
    gate.set()
    assert [line async for line in stream] == ["", "third"]


async def test_connection_refused_is_down_and_recovers(ssh_servers):
    clock = FakeClock()
    port = free_port()
    server = await ssh_servers.start("web1", handler=echo)
    await server.stop()
    server.port = port
    host = server.host()
    pool = ssh_servers.pool([host], clock=clock, rng=random.Random(1), backoff=Backoff(base=1, cap=8))
    with pytest.raises(HostUnreachable, match="connection refused") as err:
        await pool.run("web1", "x")
    assert err.value.state is HostState.DOWN and pool.state("web1") is HostState.DOWN
    await server.start()  # same port
    with open(ssh_servers.known_hosts_path, "a") as f:
        f.write(server.known_hosts_line())
    with pytest.raises(HostUnreachable):  # still inside the backoff delay: no new attempt
        await pool.run("web1", "x")
    assert server.connects == 0
    clock.now += 1.0  # the first delay is at most base (1 s)
    assert (await pool.run("web1", "x")).ok
    assert server.connects == 1 and pool.state("web1") is HostState.UP


async def test_silent_host_times_out_as_down(ssh_servers):
    held = []  # Python 3.12+ closes a connection whose StreamWriter is collected: keep them open
    blackhole = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)  # never speaks SSH
    port = blackhole.sockets[0].getsockname()[1]
    from labtui.inventory.model import Host, SshTarget

    host = Host(name="ghost", hostname="127.0.0.1", ssh=SshTarget(hostname="127.0.0.1", port=port, user="lab"))
    pool = ssh_servers.pool([host], connect_timeout=0.3)
    with pytest.raises(HostUnreachable, match="no SSH answer"):
        await pool.run("ghost", "x")
    blackhole.close()


async def test_unknown_host_key_gives_the_keyscan_command(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo, trust=False)
    pool = ssh_servers.pool([server.host()])
    with pytest.raises(HostKeyUnknown) as err:
        await pool.run("web1", "x")
    assert err.value.state is HostState.HOST_KEY_UNKNOWN
    assert f"[127.0.0.1]:{server.port}" in err.value.message
    assert "SHA256:" in err.value.message
    assert f"ssh-keyscan -p {server.port} -t ed25519 127.0.0.1 >> " in err.value.hint
    assert server.commands == []


async def test_changed_host_key_never_connects_until_known_hosts_changes(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo, trust=False)
    impostor_key = asyncssh.generate_private_key("ssh-ed25519")
    ssh_servers.known_hosts_path.write_text(server.known_hosts_line(impostor_key))
    clock = FakeClock()
    pool = ssh_servers.pool([server.host()], clock=clock)
    with pytest.raises(HostKeyChanged) as err:
        await pool.run("web1", "x")
    assert err.value.state is HostState.HOST_KEY_CHANGED
    assert "HOST KEY CHANGED" in err.value.message
    assert f"ssh-keygen -R '[127.0.0.1]:{server.port}'" in err.value.hint
    attempts = server.connects
    clock.now += 3600  # however long we wait, no new attempt while known_hosts is unchanged
    pool.retry_now("web1")
    with pytest.raises(HostKeyChanged):
        await pool.run("web1", "x")
    assert server.connects == attempts and server.commands == []
    ssh_servers.known_hosts_path.write_text(server.known_hosts_line())  # the user fixed it
    assert (await pool.run("web1", "x")).ok


async def test_auth_failure(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo, authorize=False)
    pool = ssh_servers.pool([server.host()])
    with pytest.raises(AuthFailed) as err:
        await pool.run("web1", "x")
    assert err.value.state is HostState.AUTH_FAILED
    assert "lab@127.0.0.1" in err.value.message and "ssh-add -l" in err.value.hint


async def test_missing_identity_file_is_a_config_error(ssh_servers, tmp_path):
    server = await ssh_servers.start("web1", handler=echo)
    host = server.host(identity_files=(str(tmp_path / "nope"),))
    pool = ssh_servers.pool([host])
    with pytest.raises(SshConfigError, match="nope does not exist"):
        await pool.run("web1", "x")
    assert server.connects == 0


async def test_missing_identity_file_in_ssh_config_is_a_config_error(ssh_servers, tmp_path):
    server = await ssh_servers.start("web1", handler=echo)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  IdentityFile {tmp_path}/absent_key\n")
    pool = ssh_servers.pool([server.host()], config=[config], client_keys=None)
    with pytest.raises(SshConfigError, match="absent_key does not exist"):
        await pool.run("web1", "x")


async def test_command_timeout_keeps_the_connection(ssh_servers):
    async def handler(command, stdin):
        if command == "hang":
            await asyncio.Event().wait()
        return "ok\n"

    server = await ssh_servers.start("web1", handler=handler)
    pool = ssh_servers.pool([server.host()])
    with pytest.raises(CommandTimeout) as err:
        await pool.run("web1", "hang", timeout=0.2)
    assert err.value.state is HostState.DEGRADED
    assert (await pool.run("web1", "fine")).ok
    assert server.connects == 1


async def test_connection_dropped_mid_command_then_back(ssh_servers):
    started = asyncio.Event()

    async def handler(command, stdin):
        if command == "long":
            started.set()
            await asyncio.Event().wait()
        return "ok\n"

    server = await ssh_servers.start("web1", handler=handler)
    pool = ssh_servers.pool([server.host()])
    changes: list[HostState] = []
    pool.subscribe(lambda host, state, error: changes.append(state))
    task = asyncio.ensure_future(pool.run("web1", "long"))
    await asyncio.wait_for(started.wait(), 5)
    await server.stop()
    with pytest.raises(HostUnreachable, match="connection lost"):
        await asyncio.wait_for(task, 5)
    assert pool.state("web1") is HostState.DOWN
    await server.restart()
    assert (await pool.run("web1", "x")).ok  # reconnects at once after a drop
    assert server.connects == 2
    assert changes[0] is HostState.UP and HostState.DOWN in changes and changes[-1] is HostState.UP


async def test_idle_connection_drop_is_noticed_without_a_command(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo)
    pool = ssh_servers.pool([server.host()])
    dropped = asyncio.Event()
    pool.subscribe(lambda host, state, error: state is HostState.DOWN and dropped.set())
    await pool.connect_all()
    await server.stop()
    await asyncio.wait_for(dropped.wait(), 5)
    assert "connection lost" in pool.last_error("web1").message


async def test_connect_all_is_concurrent_and_reports_per_host(ssh_servers):
    good = await ssh_servers.start("good", handler=echo)
    bad = await ssh_servers.start("bad", handler=echo, authorize=False)
    pool = ssh_servers.pool([good.host(), bad.host()])
    errors = await pool.connect_all()
    assert errors["good"] is None and isinstance(errors["bad"], AuthFailed)


async def test_jump_host_connection_is_shared(ssh_servers):
    jump = await ssh_servers.start("jump", handler=echo)
    a = await ssh_servers.start("a", handler=lambda c, i: "from a\n")
    b = await ssh_servers.start("b", handler=lambda c, i: "from b\n")
    hosts = [jump.host(), a.host(jump_hosts=("jump",)), b.host(jump_hosts=("jump",))]
    pool = ssh_servers.pool(hosts)
    assert (await pool.run("a", "x")).stdout == "from a\n"
    assert (await pool.run("b", "x")).stdout == "from b\n"
    assert (await pool.run("jump", "x")).ok
    assert jump.connects == 1  # one connection to the jump host, carrying both tunnels and its own command
    assert jump.commands == ["x"]


async def test_jump_host_outside_the_inventory_and_its_failures(ssh_servers):
    jump = await ssh_servers.start("jump", handler=echo, authorize=False)
    target = await ssh_servers.start("t", handler=echo)
    pool = ssh_servers.pool([target.host(jump_hosts=(f"lab@127.0.0.1:{jump.port}",))])
    with pytest.raises(AuthFailed, match="via jump host"):
        await pool.run("t", "x")


async def test_ssh_config_alias_and_options(ssh_servers, tmp_path):
    server = await ssh_servers.start("web1", handler=echo)
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host web1-alias\n"
        f"  HostName 127.0.0.1\n  Port {server.port}\n  User lab\n"
        f"  IdentityFile {ssh_servers.client_key_path}\n  UserKnownHostsFile {ssh_servers.known_hosts_path}\n")
    from labtui.inventory.model import Host, SshTarget

    host = Host(name="web1", hostname="web1-alias", ssh=SshTarget(hostname="web1-alias", config_file=str(config)))
    pool = SshPool([host], backoff=Backoff(base=0.05, cap=0.1))  # no pool keys, no pool known_hosts
    try:
        assert (await pool.run("web1", "x")).ok
    finally:
        await pool.close()


async def test_no_option_disables_host_key_checking(ssh_servers):
    server = await ssh_servers.start("web1", handler=echo, trust=False)
    host = server.host(options=(("StrictHostKeyChecking", "no"), ("UserKnownHostsFile", "/dev/null")))
    pool = ssh_servers.pool([host])
    with pytest.raises(HostKeyUnknown):
        await pool.run("web1", "x")
    assert pool.ignored_options("web1") == []


def test_backoff_grows_caps_and_jitters():
    b = Backoff(base=1, cap=10, jitter=0.5)
    rng = random.Random(0)
    delays = [b.delay(n, rng) for n in range(1, 8)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert all(5 <= d <= 10 for d in delays[4:])


@pytest.mark.parametrize("spec, parsed", [
    ("jump", (None, "jump", None)), ("root@jump:2222", ("root", "jump", 2222)),
    ("ssh://u@[::1]:22", ("u", "::1", 22)), ("fe80::1", (None, "fe80::1", None)),
])
def test_parse_destination(spec, parsed):
    assert parse_destination(spec) == parsed


async def test_dead_link_is_noticed_by_keepalive(ssh_servers):
    from labtui.inventory.model import Host, SshTarget
    from tests.support.asyncssh_server import LatencyProxy

    server = await ssh_servers.start("web1", handler=echo)
    proxy = await LatencyProxy(server.port).start()
    with open(ssh_servers.known_hosts_path, "a") as f:
        f.write(f"[127.0.0.1]:{proxy.port} {server.host_key.export_public_key().decode()}")
    host = Host(name="web1", hostname="127.0.0.1", ssh=SshTarget(hostname="127.0.0.1", port=proxy.port, user="lab"))
    pool = ssh_servers.pool([host], keepalive_interval=0.2, keepalive_count_max=2)
    dropped = asyncio.Event()
    pool.subscribe(lambda h, state, error: state is HostState.DOWN and dropped.set())
    try:
        assert (await pool.run("web1", "x")).ok
        proxy.freeze()  # no FIN, no RST: only keepalives can tell
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(dropped.wait(), 10)
        assert asyncio.get_running_loop().time() - started < 3  # about interval x (count + 1)
    finally:
        await proxy.close()


async def test_proxyjump_from_ssh_config_is_opened_by_labtui(ssh_servers, tmp_path):
    jump = await ssh_servers.start("jump", handler=echo)
    target = await ssh_servers.start("t", handler=lambda c, i: "behind the jump\n")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host target\n  HostName 127.0.0.1\n  Port {target.port}\n  ProxyJump bastion\n"
        f"Host bastion\n  HostName 127.0.0.1\n  Port {jump.port}\n"
        f"Host *\n  User lab\n")
    from labtui.inventory.model import Host, SshTarget

    hosts = [Host(name=f"t{i}", hostname="target", ssh=SshTarget(hostname="target")) for i in range(2)]
    pool = ssh_servers.pool(hosts, config=[config])
    assert (await pool.run("t0", "x")).stdout == "behind the jump\n"
    assert (await pool.run("t1", "x")).stdout == "behind the jump\n"
    assert jump.connects == 1 and target.connects == 2


async def test_changed_key_block_holds_with_known_hosts_from_ssh_config(ssh_servers, tmp_path):
    server = await ssh_servers.start("web1", handler=echo, trust=False)
    known = tmp_path / "config_known_hosts"
    known.write_text(server.known_hosts_line(asyncssh.generate_private_key("ssh-ed25519")))
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  UserKnownHostsFile {known}\n")
    pool = ssh_servers.pool([server.host()], config=[config], known_hosts=[])
    with pytest.raises(HostKeyChanged) as err:
        await pool.run("web1", "x")
    assert str(known.name) in err.value.message
    attempts = server.connects
    for _ in range(3):
        pool.retry_now("web1")
        with pytest.raises(HostKeyChanged):
            await pool.run("web1", "x")
    assert server.connects == attempts


async def test_keys_from_the_ssh_agent(ssh_servers, tmp_path, monkeypatch):
    import os
    import subprocess

    from tests.support import require_tool

    agent = require_tool("ssh-agent", "the pool must use the user's ssh-agent")
    add = require_tool("ssh-add", "loads the test key into the agent")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen([agent, "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not sock.exists():  # bounded wait for the agent's socket
            assert asyncio.get_running_loop().time() < deadline, "ssh-agent did not start"
            await asyncio.sleep(0.01)
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run([add, str(ssh_servers.client_key_path)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        server = await ssh_servers.start("web1", handler=echo)
        pool = ssh_servers.pool([server.host()], client_keys=None)  # no key files: only the agent has it
        assert (await pool.run("web1", "x")).ok
    finally:
        proc.terminate()
        proc.wait()


async def test_stream_cut_by_a_drop_raises_instead_of_ending_quietly(ssh_servers):
    first_sent = asyncio.Event()

    async def lines():
        yield "one"
        first_sent.set()
        await asyncio.Event().wait()

    server = await ssh_servers.start("web1", handler=lambda c, i: lines())
    pool = ssh_servers.pool([server.host()])
    got: list[str] = []

    async def consume():
        async for line in pool.stream("web1", "journalctl -f"):
            got.append(line)

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first_sent.wait(), 5)
    await server.stop()
    with pytest.raises(HostUnreachable, match="connection lost while streaming"):
        await asyncio.wait_for(task, 5)
    assert got == ["one"]


async def test_streams_never_take_the_last_channels(ssh_servers):
    async def handler(command, stdin):
        if command.startswith("follow"):
            async def forever():
                yield "line"
                await asyncio.Event().wait()
            return forever()
        return "ok\n"

    server = await ssh_servers.start("web1", handler=handler)
    pool = ssh_servers.pool([server.host()])
    streams = [pool.stream("web1", f"follow {i}") for i in range(6)]
    for s in streams:
        assert await asyncio.wait_for(s.__anext__(), 5) == "line"
    seventh = asyncio.ensure_future(pool.stream("web1", "follow 7").__anext__())
    results = await asyncio.wait_for(asyncio.gather(*(pool.run("web1", "probe") for _ in range(4))), 5)
    assert all(r.ok for r in results)  # commands still get through
    assert not seventh.done()  # the 7th stream waits for a free stream slot
    seventh.cancel()
    for s in streams:
        await s.aclose()


async def test_waiting_for_a_channel_counts_against_the_timeout(ssh_servers):
    both_busy = asyncio.Event()

    async def handler(command, stdin):
        if len(server.commands) == 2:
            both_busy.set()
        await asyncio.Event().wait()

    server = await ssh_servers.start("web1", handler=handler)
    pool = ssh_servers.pool([server.host()], max_channels=2)
    busy = [asyncio.ensure_future(pool.run("web1", "busy")) for _ in range(2)]
    await asyncio.wait_for(both_busy.wait(), 5)
    with pytest.raises(CommandTimeout, match="no free SSH channel"):
        await pool.run("web1", "probe", timeout=0.3)
    for task in busy:
        task.cancel()
    await asyncio.gather(*busy, return_exceptions=True)


async def test_unreadable_key_file_is_a_config_error(ssh_servers, tmp_path):
    server = await ssh_servers.start("web1", handler=echo)
    bad = tmp_path / "id_broken"
    bad.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n")
    pool = ssh_servers.pool([server.host(identity_files=(str(bad),))])
    with pytest.raises(SshConfigError, match="cannot use the SSH settings"):
        await pool.run("web1", "x")
