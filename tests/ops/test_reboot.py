from __future__ import annotations

from labtui.inventory.model import CheckSpec
from labtui.ops.clock import RealClock
from labtui.ops.reboot import outcomes, parse_reboot_needed, reboot_host, reboot_hosts, reboot_needed
from labtui.runs.events import CheckResultEvent, RebootProgress
from labtui.sim.ops import configure_host
from tests.ops.conftest import inv_host

FAST = dict(timeout=3.0, poll=0.01, command_timeout=1.0, clock=RealClock())


def fast_lab(lab, *names, **extra):
    for name in names:
        configure_host(lab, name, reboot_down_after=0.02, reboot_back_after=0.05, startup=0.05, **extra)


async def test_reboot_needed_from_kernels(shell):
    assert await reboot_needed(shell, "db1") is True
    assert await reboot_needed(shell, "web1") is False
    assert parse_reboot_needed("kernel\t\t\n") is None


async def test_reboot_tracks_host_back_to_service(lab, shell):
    fast_lab(lab, "db1")
    old_boot = lab.load("db1").boot_id
    check = CheckSpec(kind="unit", name="sshd", params={"unit": "sshd.service"}, period=0.01, timeout=1, retries=0)
    events = [e async for e in reboot_host(inv_host("db1", (check,)), shell, **FAST)]
    phases = [e.phase for e in events if isinstance(e, RebootProgress)]
    assert phases[:3] == ["rebooting", "down", "back"] and phases[-1] == "done"
    assert "starting" in phases and "checks" in phases
    assert [e.ok for e in events if isinstance(e, CheckResultEvent)] == [True]
    sim = lab.load("db1")
    assert sim.boot_id != old_boot and sim.booted == sim.current and not sim.reboot_needed


async def test_host_that_never_comes_back_times_out(lab, shell):
    fast_lab(lab, "web1", comes_back=False)
    events = [e async for e in reboot_host(inv_host("web1"), shell, **{**FAST, "timeout": 0.3})]
    last = events[-1]
    assert last.phase == "failed" and "did not come back within 0.3 s" in last.message
    [outcome] = outcomes(events)
    assert not outcome.ok and outcome.phase == "down"


async def test_unreachable_host_is_not_rebooted(lab, shell):
    with lab.update("web1") as sim:
        sim.reachable = False
    events = [e async for e in reboot_host(inv_host("web1"), shell, **FAST)]
    assert [e.phase for e in events] == ["failed"] and "nothing was done" in events[0].message


async def test_waves_stop_after_a_failure(lab, shell):
    fast_lab(lab, "web1", comes_back=False)
    fast_lab(lab, "web2", "db1")
    hosts = [inv_host("web1"), inv_host("web2"), inv_host("db1")]
    events = [e async for e in reboot_hosts(hosts, shell, wave_size=2, **{**FAST, "timeout": 0.5})]
    result = {o.host: o for o in outcomes(events)}
    assert not result["web1"].ok and result["web2"].ok
    assert result["db1"].phase == "waiting" and "earlier wave" in result["db1"].message
    waiting = [e.message for e in events if isinstance(e, RebootProgress) and e.phase == "waiting"]
    assert waiting == ["wave 1/2", "wave 1/2", "wave 2/2"]


async def test_host_back_with_a_new_host_key_fails_at_once(lab, shell):
    """After the reboot SSH refuses (host key changed): reported at once, not after the whole timeout."""
    from labtui.ssh.api import HostKeyChanged

    fast_lab(lab, "web1")
    state = {"down_seen": False}

    class KeyChangedAfterReboot:
        async def run(self, host, command, *, timeout=None, input=None, max_output=None):
            if not lab.load(host).reachable:
                state["down_seen"] = True
            if state["down_seen"] and lab.load(host).reachable:
                raise HostKeyChanged(host, "host key changed", "check it, then fix known_hosts")
            return await shell.run(host, command, timeout=timeout, input=input)

    events = [e async for e in reboot_host(inv_host("web1"), KeyChangedAfterReboot(), **{**FAST, "timeout": 30})]
    assert events[-1].phase == "failed" and "SSH refuses: host key changed (check it" in events[-1].message
    assert events[-1].elapsed < 5
