"""Real OpenSSH sshd + SshPool + the probe on this machine (Debian: fields degrade, nothing fails)."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from labtui.ssh.api import HostKeyChanged, HostState
from labtui.ssh.pool import SshPool
from labtui.status.poller import StatusPoller
from tests.support.sshd import sshd  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def pool_for(sshd, *hosts, **options) -> SshPool:
    options.setdefault("known_hosts", [sshd.known_hosts])
    options.setdefault("client_keys", [sshd.client_key])
    options.setdefault("config", None)
    return SshPool(list(hosts) or [sshd.host()], **options)


async def test_probe_over_real_sshd(sshd):
    pool = pool_for(sshd)
    poller = StatusPoller([sshd.host()], pool, probe_timeout=30)
    try:
        status = (await poller.wait_all(timeout=60))["lab"]
    finally:
        await poller.close()
        await pool.close()
    assert status.state is HostState.UP, (status.error, sshd.log_tail())
    assert status.hostname and status.load and status.cpus and status.mem_total_bytes and status.boot_id
    assert status.disk("/") is not None and status.uptime_s > 0
    assert status.rtt_ms is not None and status.answered_at is not None
    assert status.current_system is None and "not NixOS" in status.missing["current_system"]
    assert status.reboot_needed is None and status.drift == "unknown"


async def test_following_probe_over_real_sshd_and_sh(sshd):
    """The TUI's way: one `sh` per host kept running, a report per request line (the real /bin/sh)."""
    pool = pool_for(sshd)
    poller = StatusPoller([sshd.host()], pool, probe_timeout=30, follow=True)
    try:
        first = (await poller.wait_all(timeout=60))["lab"]
        assert first.state is HostState.UP, (first.error, sshd.log_tail())
        assert "lab" in poller._conversations  # it was followed, not probed the one-shot way
        again = await poller.probe_once("lab")
        assert again.state is HostState.UP and again.answered_at > first.answered_at
        assert again.boot_id == first.boot_id and again.uptime_s >= first.uptime_s
        assert not poller._conversations["lab"].closed  # the same shell answered both
    finally:
        await poller.close()
        await pool.close()


async def test_commands_share_one_connection_up_to_the_session_limit(sshd):
    pool = pool_for(sshd)
    try:
        results = await asyncio.gather(*(pool.run("lab", f"echo {i}") for i in range(16)))
        assert [r.stdout.strip().splitlines()[-1] for r in results] == [str(i) for i in range(16)]
        lines = [line async for line in pool.stream("lab", "printf 'a\\n\\nb\\n'")]
        assert lines == ["a", "", "b"]
    finally:
        await pool.close()


async def test_real_sshd_with_a_changed_key_is_refused(sshd, tmp_path):
    forged = tmp_path / "known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    forged.write_text(f"[127.0.0.1]:{sshd.port} {other}\n")
    pool = pool_for(sshd, known_hosts=[forged])
    try:
        with pytest.raises(HostKeyChanged) as err:
            await pool.run("lab", "true")
        assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}'" in err.value.hint
    finally:
        await pool.close()


async def test_ssh_config_and_known_hosts_from_home(sshd, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    sshd.write_ssh_config(home, alias="lab-alias")
    from labtui.inventory.model import Host, SshTarget

    host = Host(name="lab", hostname="lab-alias", ssh=SshTarget(hostname="lab-alias"))
    pool = SshPool([host])  # defaults only: ~/.ssh/config, ~/.ssh/known_hosts
    try:
        assert (await pool.run("lab", "echo ok")).stdout.strip().endswith("ok")
    finally:
        await pool.close()
