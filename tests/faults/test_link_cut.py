"""A cut link is noticed within the keepalive promise (issue 11, point 11), also mid-probe, mid-`status --watch`.

The relay (tests.support.asyncssh_server.LatencyProxy) keeps accepting and holding TCP but stops forwarding, like
a pulled cable behind a router: nothing but SSH keepalives can tell. Time is scaled with the host's own
`ServerAliveInterval`/`ServerAliveCountMax` (sshOpts win over the defaults), so the test takes seconds; the
defaults themselves are held to the documented promise by arithmetic.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from labtui.inventory.model import Host, Inventory, SshTarget
from labtui.ssh.options import DEFAULT_KEEPALIVE_COUNT_MAX, DEFAULT_KEEPALIVE_INTERVAL, polled_keepalive
from tests.faults.cli_process import ENV, command, write_inventory
from tests.support.asyncssh_server import LatencyProxy
from tests.support.sshd import sshd  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
PROMISE = 15.0  # docs/status.md: a cut link is noticed within about 15 s


def test_default_keepalive_keeps_the_documented_promise():
    # asyncssh closes the connection on the (count_max + 1)th keepalive left unanswered.
    assert DEFAULT_KEEPALIVE_INTERVAL * (DEFAULT_KEEPALIVE_COUNT_MAX + 1) <= PROMISE - 2


@pytest.mark.parametrize("poll_interval", [0.5, 1.0, 3.0, 5.0, 7.0, 10.0, 30.0, 3600.0])
def test_a_polled_host_keeps_the_promise_too(poll_interval):
    """The TUI and `status --watch` send keepalives only between slow polls (no keepalive cost for a fleet polled
    often), but never notice a cut link later than without polling: a poll interval of 5 s once gave 18 s."""
    interval, count = polled_keepalive(DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_COUNT_MAX, poll_interval)
    assert interval * (count + 1) <= DEFAULT_KEEPALIVE_INTERVAL * (DEFAULT_KEEPALIVE_COUNT_MAX + 1) + 1e-9
    assert count >= 1  # one keepalive left unanswered is never enough to give a host up
    if poll_interval + 1.0 <= 6.0:  # 6 s x 2 fits the 12 s: probes alone keep the connection talking
        assert interval >= poll_interval + 1.0


def relayed_host(sshd, proxy: LatencyProxy, known_hosts: Path, *, interval: float, count: int) -> Host:
    """The sshd's host reached through the relay, with keepalive settings from sshOpts."""
    known_hosts.write_text(sshd.known_hosts.read_text().replace(f"]:{sshd.port} ", f"]:{proxy.port} "))
    options = (("UserKnownHostsFile", str(known_hosts)), ("ServerAliveInterval", f"{interval:g}"),
               ("ServerAliveCountMax", str(count)))
    target = SshTarget(hostname="127.0.0.1", port=proxy.port, user=sshd.user, identity_files=(str(sshd.client_key),),
                       options=options)
    return Host(name="lab", hostname="127.0.0.1", ssh=target, poll_interval=1.0)


async def next_update(proc: asyncio.subprocess.Process, timeout: float) -> dict:
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line, f"labtui status ended: {(await proc.stderr.read()).decode()[-2000:]}"
    return json.loads(line)


@pytest.mark.integration
async def test_status_watch_shows_a_cut_link_as_down_within_the_keepalive_time(sshd, tmp_path):
    interval, count = 1.0, 2
    proxy = await LatencyProxy(sshd.port).start()
    host = relayed_host(sshd, proxy, tmp_path / "known_hosts", interval=interval, count=count)
    inventory = write_inventory(tmp_path / "inventory.pickle", Inventory(flake=".", hosts=(host,)))
    proc = await asyncio.create_subprocess_exec(
        *command("status", "--watch", "--json", "--no-drift"), cwd=REPO, env={**os.environ, ENV: str(inventory)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        while (update := await next_update(proc, 30))["state"] != "up":
            pass
        # Wait for a probe that lands mid-cut: the probe runs every second, the freeze comes right after one.
        await next_update(proc, 10)
        proxy.freeze()
        cut = time.monotonic()
        while (update := await next_update(proc, 30))["state"] == "up":
            pass
        noticed = time.monotonic() - cut
        assert update["state"] == "down", update
        assert "keepalive" in update["error"], update  # the reason, not a reconnect attempt timing out
        # interval x (count + 1) after the last packet, plus the moment the watch needs to print it.
        assert noticed <= interval * (count + 1) + 1.5, noticed
    finally:
        proc.kill()
        await proc.wait()
        await proxy.close()
