"""StatusPoller over SimShell (fast, pure) and over SshPool + in-process SSH servers (faults)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh
import pytest

from labtui.inventory.model import Host, SshTarget
from labtui.ssh.api import CommandResult, HostState
from labtui.status.derive import data_age
from labtui.status.poller import StatusPoller
from labtui.status.probe import PROBE_COMMAND
from tests.status.simlab import make_lab, wait_for
from tests.support.asyncssh_server import ssh_servers  # noqa: F401  (fixture)
from tests.support.sim_shell import SimShell


def inventory_host(name: str, interval: float = 5.0) -> Host:
    return Host(name=name, hostname=name, ssh=SshTarget(hostname=name), poll_interval=interval)


@dataclass(frozen=True)
class Paths:
    profile_path: str | None
    toplevel: str | None


class GatedResolver:
    """A flake resolver that answers only when released, to prove nobody waits for it."""

    def __init__(self, answers: dict[str, Paths | Exception]) -> None:
        self.answers = answers
        self.release = asyncio.Event()
        self.calls: list[str] = []

    async def system_paths(self, host: Host):
        self.calls.append(host.name)
        await self.release.wait()
        answer = self.answers[host.name]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_first_status_of_every_host_then_updates(tmp_path):
    lab = make_lab(tmp_path, "web1", "db1")
    poller = StatusPoller([inventory_host("web1"), inventory_host("db1")], SimShell(lab))
    try:
        statuses = await poller.wait_all(timeout=10)
        assert {s.state for s in statuses.values()} == {HostState.UP}
        web1 = statuses["web1"]
        assert web1.hostname == "web1" and web1.generation == 2 and web1.rtt_ms is not None
        assert web1.drift == "unknown" and web1.missing["drift"] == "no flake evaluation available"
        assert data_age(web1) < 5

        stream = poller.stream()
        with lab.update("web1") as host:
            host.units["nginx.service"] = "failed"
        poller.refresh("web1")
        degraded = await wait_for(stream, lambda s: s.host == "web1" and s.state is HostState.DEGRADED)
        assert degraded.failed_units == ("nginx.service",) and "nginx.service" in degraded.error

        with lab.update("db1") as host:
            host.reachable = False
        poller.refresh("db1")
        down = await wait_for(stream, lambda s: s.host == "db1" and s.state is HostState.DOWN)
        assert down.hostname == "db1"  # the last known values stay, with their age
        assert down.answered_at is not None and down.observed_at >= down.answered_at

        with lab.update("db1") as host:
            host.reachable = True
        poller.refresh("db1")
        await wait_for(stream, lambda s: s.host == "db1" and s.state is HostState.UP)
    finally:
        await poller.close()


async def test_drift_is_evaluated_in_the_background(tmp_path):
    lab = make_lab(tmp_path, "web1", "db1", "old")
    current = {n: lab.load(n).generation(2).path for n in ("web1", "db1", "old")}
    profile = {n: lab.load(n).generation(2).path for n in ("web1", "db1", "old")}
    resolver = GatedResolver({
        "web1": Paths(profile_path=profile["web1"], toplevel=None),  # matches the system profile
        "db1": Paths(profile_path="/nix/store/other", toplevel=current["db1"]),  # matches current-system
        "old": Paths(profile_path="/nix/store/newer-profile", toplevel="/nix/store/newer-system"),
    })
    hosts = [inventory_host(n) for n in ("web1", "db1", "old")]
    poller = StatusPoller(hosts, SimShell(lab), resolver)
    try:
        first = await poller.wait_all(timeout=10)  # does not wait for the gated resolver
        assert all(s.state is HostState.UP and s.drift == "unknown" for s in first.values())
        assert first["web1"].missing["drift"] == "the flake is being evaluated"
        stream = poller.stream()
        resolver.release.set()
        final = await poller.wait_all(timeout=10, with_flake=True)
        assert final["web1"].drift == "in sync" and final["db1"].drift == "in sync"
        assert final["old"].drift == "outdated" and final["old"].flake_path == "/nix/store/newer-system"
        assert "drift" not in final["old"].missing
        await wait_for(stream, lambda s: s.host == "old" and s.drift == "outdated")
        poller.refresh()
        await wait_for(stream, lambda s: s.host == "old" and s.drift == "outdated")
        assert sorted(resolver.calls) == ["db1", "old", "web1"]  # cached: evaluated once per host
    finally:
        await poller.close()


async def test_flake_failure_is_a_reason_not_an_error(tmp_path):
    lab = make_lab(tmp_path, "web1")
    resolver = GatedResolver({"web1": RuntimeError("nix eval failed: attribute missing")})
    resolver.release.set()
    poller = StatusPoller([inventory_host("web1")], SimShell(lab), resolver)
    try:
        status = (await poller.wait_all(timeout=10, with_flake=True))["web1"]
        assert status.state is HostState.UP and status.drift == "unknown"
        assert "attribute missing" in status.missing["drift"]
    finally:
        await poller.close()


class HangingShell:
    """web-slow never answers; the others answer from the sim lab."""

    def __init__(self, inner: SimShell) -> None:
        self.inner = inner

    async def run(self, host, command, *, timeout=None, input=None, max_output=None) -> CommandResult:
        if host == "slow":
            await asyncio.sleep(3600)
        return await self.inner.run(host, command, timeout=timeout, input=input)

    def stream(self, host, command):
        return self.inner.stream(host, command)


async def test_a_hanging_host_does_not_stall_the_others(tmp_path):
    lab = make_lab(tmp_path, "fast", "slow")
    poller = StatusPoller([inventory_host("fast"), inventory_host("slow")], HangingShell(SimShell(lab)))
    try:
        stream = poller.stream()
        fast = await wait_for(stream, lambda s: s.host == "fast" and s.state is HostState.UP, timeout=5)
        assert fast.hostname == "fast"
        assert poller.snapshot()["slow"].state is HostState.CONNECTING
    finally:
        await poller.close()


async def test_probe_that_is_not_understood_degrades(tmp_path):
    class Broken(SimShell):
        async def run(self, host, command, *, timeout=None, input=None, max_output=None):
            return CommandResult(127, "", "sh: 1: /bin/sh: not found\n")

    poller = StatusPoller([inventory_host("web1")], Broken(make_lab(tmp_path, "web1")))
    try:
        status = (await poller.wait_all(timeout=10))["web1"]
        assert status.state is HostState.DEGRADED
        assert "/bin/sh: not found" in status.error
    finally:
        await poller.close()


# ----- over real SSH (in-process servers) -----


@pytest.mark.parametrize("follow", [False, True], ids=["one-shot", "follow-falls-back"])
async def test_faults_over_ssh_each_recover_by_themselves(ssh_servers, tmp_path, follow):
    """Also with follow=True: these test servers answer only one-shot commands, so the poller falls back."""
    lab = make_lab(tmp_path / "lab", "ok", "down", "unknown", "changed", "noauth", "hang")
    hang = asyncio.Event()

    def hanging(command, stdin):
        async def answer():
            if hang.is_set():
                await asyncio.Event().wait()
            from labtui.sim.shell import dispatch
            return dispatch(lab, "hang", command)
        return answer()

    ok = await ssh_servers.start("ok", lab=lab)
    down = await ssh_servers.start("down", lab=lab)
    await down.stop()  # nothing listening on its port
    unknown = await ssh_servers.start("unknown", lab=lab, trust=False)
    changed = await ssh_servers.start("changed", lab=lab, trust=False)
    with open(ssh_servers.known_hosts_path, "a") as f:
        f.write(changed.known_hosts_line(asyncssh.generate_private_key("ssh-ed25519")))
    noauth = await ssh_servers.start("noauth", lab=lab, authorize=False)
    slow = await ssh_servers.start("hang", handler=hanging)
    servers = [ok, down, unknown, changed, noauth, slow]
    pool = ssh_servers.pool([s.host(poll_interval=0.2) for s in servers])
    poller = StatusPoller([s.host(poll_interval=0.2) for s in servers], pool, probe_timeout=0.5, follow=follow)
    try:
        stream = poller.stream()
        first = await poller.wait_all(timeout=10)
        assert first["ok"].state is HostState.UP and first["ok"].hostname == "ok"
        assert first["down"].state is HostState.DOWN and "refused" in first["down"].error
        assert first["unknown"].state is HostState.HOST_KEY_UNKNOWN and "ssh-keyscan" in first["unknown"].hint
        assert first["changed"].state is HostState.HOST_KEY_CHANGED
        assert first["noauth"].state is HostState.AUTH_FAILED
        assert first["hang"].state is HostState.UP
        assert changed.commands == [] and unknown.commands == []

        hang.set()  # the probe now hangs past its timeout: degraded, values kept
        timed_out = await wait_for(stream, lambda s: s.host == "hang" and s.state is HostState.DEGRADED)
        assert "did not finish" in timed_out.error and timed_out.hostname == "hang"
        hang.clear()
        await wait_for(stream, lambda s: s.host == "hang" and s.state is HostState.UP)

        await down.start()  # the host comes back on the same port
        with open(ssh_servers.known_hosts_path, "a") as f:
            f.write(down.known_hosts_line())
        with open(ssh_servers.known_hosts_path, "a") as f:
            f.write(unknown.known_hosts_line())  # the user ran the hinted ssh-keyscan
        await wait_for(stream, lambda s: s.host == "down" and s.state is HostState.UP)
        await wait_for(stream, lambda s: s.host == "unknown" and s.state is HostState.UP)

        await ok.stop()  # drops the live connection between or during polls
        await wait_for(stream, lambda s: s.host == "ok" and s.state is HostState.DOWN)
        await ok.restart()
        back = await wait_for(stream, lambda s: s.host == "ok" and s.state is HostState.UP)
        assert back.hostname == "ok"
        assert poller.snapshot()["changed"].state is HostState.HOST_KEY_CHANGED
        assert changed.commands == []  # never talked to
    finally:
        await poller.close()


async def test_drop_in_the_middle_of_a_probe(ssh_servers, tmp_path):
    lab = make_lab(tmp_path / "lab", "web1")
    in_probe = asyncio.Event()
    stall = asyncio.Event()
    stall.set()

    def handler(command, stdin):
        async def answer():
            if command == PROBE_COMMAND and not stall.is_set():
                in_probe.set()
                await asyncio.Event().wait()
            from labtui.sim.shell import dispatch
            return dispatch(lab, "web1", command)
        return answer()

    server = await ssh_servers.start("web1", handler=handler)
    pool = ssh_servers.pool([server.host()])
    poller = StatusPoller([server.host(poll_interval=0.2)], pool, probe_timeout=30)
    try:
        stream = poller.stream()
        await wait_for(stream, lambda s: s.state is HostState.UP)
        stall.clear()
        await asyncio.wait_for(in_probe.wait(), 10)
        await server.stop()
        down = await wait_for(stream, lambda s: s.state is HostState.DOWN)
        assert "connection lost" in down.error
        stall.set()
        await server.restart()
        await wait_for(stream, lambda s: s.state is HostState.UP)
    finally:
        await poller.close()
