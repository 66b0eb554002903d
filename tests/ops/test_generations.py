from __future__ import annotations

import pytest

from labtui.errors import UserError
from labtui.ops.generations import (
    diff_generations,
    host_switch_command,
    list_generations,
    parse_diff_closures,
    parse_generations,
    rollback_target,
    switch_generation,
)
from labtui.ops.privilege import privilege_for
from tests.ops.conftest import inv_host

RECORDED = (
    "current\t/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-nas-24.05.2\n"
    "booted\t/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-nas-24.05.1\n"
    "profile\tsystem-2-link\n"
    "gen\t1\t1700000000\t/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-nas-24.05.1\t24.05.1"
    "\t/nix/store/cccccccccccccccccccccccccccccccc-linux-6.6.30/bzImage\n"
    "gen\t10\t1700100000\t/nix/store/dddddddddddddddddddddddddddddddd-nixos-system-nas-24.05.3\t24.05.3"
    "\t/nix/store/cccccccccccccccccccccccccccccccc-linux-6.6.31/bzImage\n"
    "gen\t2\t1700050000\t/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-nas-24.05.2\t24.05.2\t\n"
)


def test_parse_recorded_listing():
    gens = parse_generations(RECORDED)
    assert [g.number for g in gens] == [1, 2, 10]
    assert gens[0].booted and not gens[0].current and gens[0].kernel == "6.6.30"
    assert gens[1].current and gens[1].default and gens[1].kernel == ""
    assert gens[2].date == "2023-11-16T02:00:00Z" and gens[2].nixos_version == "24.05.3"


def test_rollback_target_previous_and_missing():
    gens = parse_generations(RECORDED)
    assert rollback_target(gens, None).number == 1
    assert rollback_target(gens, 10).number == 10
    with pytest.raises(UserError, match=r"generation 7 does not exist \(have 1, 2, 10\)"):
        rollback_target(gens, 7)


def test_parse_diff_closures():
    changes = parse_diff_closures("firefox: 120.0 → 121.0, +3.1 MiB\n\x1b[1mzstd\x1b[0m: ∅ → 1.5.5, +1.2 MiB\n"
                                  "nixos-system-nas: 24.05.1 → 24.05.2\nlibfoo: -20.0 KiB\n")
    assert [(c.package, c.change, c.size_delta) for c in changes] == [
        ("firefox", "120.0 → 121.0", "+3.1 MiB"), ("zstd", "∅ → 1.5.5", "+1.2 MiB"),
        ("nixos-system-nas", "24.05.1 → 24.05.2", ""), ("libfoo", "", "-20.0 KiB")]


async def test_list_on_sim_marks_current_and_booted(shell):
    gens = await list_generations(shell, "db1")
    assert [g.number for g in gens] == [1, 2, 3]
    assert [(g.current, g.booted) for g in gens] == [(False, False), (False, True), (True, False)]
    assert gens[2].kernel == "6.6.31" and gens[2].nixos_version == "24.05.3"


async def test_switch_really_moves_the_host(lab, shell):
    host = inv_host("web1")
    outcome = await switch_generation(shell, host, 1, from_generation=3)
    assert outcome.ok and outcome.message == "switched from generation 3 to 1"
    assert lab.load("web1").current == 1
    gens = await list_generations(shell, "web1")
    assert [g.number for g in gens if g.current] == [1]


async def test_switch_to_missing_generation_fails_cleanly(lab, shell):
    outcome = await switch_generation(shell, inv_host("web1"), 99)
    assert not outcome.ok and "generation 99 does not exist" in outcome.message
    assert lab.load("web1").current == 3


async def test_unreachable_host_is_a_clear_error(lab, shell):
    with lab.update("web1") as sim:
        sim.reachable = False
    with pytest.raises(UserError, match="web1: cannot list generations"):
        await list_generations(shell, "web1")


async def test_diff_between_generations(shell):
    changes = await diff_generations(shell, "db1", 2, 3)
    packages = [c.package for c in changes]
    assert "nixos-system-db1" in packages and "linux" in packages
    with pytest.raises(UserError, match="generation 9 does not exist"):
        await diff_generations(shell, "db1", 2, 9)


def test_privilege_follows_deploy_rs_rules():
    assert privilege_for(inv_host("a")).prefix == ""
    admin = privilege_for(inv_host("a", ssh_user="admin"))
    assert admin.prefix == "sudo -u root " and not admin.needs_password
    command = host_switch_command(inv_host("a", ssh_user="admin"), 3, "0123456789abcdef")
    assert command.startswith("sudo -u root /bin/sh -c 'nix-env -p")
    interactive = privilege_for(inv_host("a", ssh_user="admin", interactive_sudo=True))
    assert interactive.prefix == 'sudo -u root -S -p "" ' and interactive.stdin("pw") == "pw\n"


async def test_switch_through_sudo_on_sim(lab, shell):
    outcome = await switch_generation(shell, inv_host("web1", ssh_user="admin"), 2)
    assert outcome.ok and lab.load("web1").current == 2


# ---- the switch runs under systemd-run, like nixos-rebuild's -----------------------------------------------------


def test_switch_script_runs_the_switch_the_way_nixos_rebuild_does():
    import shlex

    from labtui.ops.generations import IN_SESSION_NOTE, SYSTEMD_RUN, switch_script

    script = switch_script(7, "0123456789abcdef")
    lines = script.splitlines()
    assert lines[0] == "nix-env -p /nix/var/nix/profiles/system --switch-generation 7 || exit"
    assert "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then" in lines
    # nixos-rebuild-ng's SWITCH_TO_CONFIGURATION_CMD_PREFIX, plus the bash script's --wait, verbatim:
    assert SYSTEMD_RUN == ("systemd-run", "-E", "LOCALE_ARCHIVE", "-E", "NIXOS_INSTALL_BOOTLOADER", "--collect",
                           "--no-ask-password", "--pipe", "--quiet", "--service-type=exec",
                           "--unit=nixos-rebuild-switch-to-configuration", "--wait")
    [detached] = [shlex.split(line) for line in lines if line.strip().startswith("exec systemd-run")]
    assert detached[1:13] == list(SYSTEMD_RUN)
    assert detached[13:] == ["/bin/sh", "-c", '"$0/bin/switch-to-configuration" switch; rc=$?; echo "$rc" > "$1"; '
                             'exit "$rc"', "/nix/var/nix/profiles/system-7-link",
                             "/run/labtui-switch-0123456789abcdef.status"]
    # the honest fallback, said before it runs
    assert lines[-2] == f"echo {shlex.quote(IN_SESSION_NOTE)} >&2"
    assert lines[-1] == "exec /nix/var/nix/profiles/system-7-link/bin/switch-to-configuration switch"
    with pytest.raises(ValueError):
        switch_script(7, "not-a-token; rm -rf /")


class DroppingShell:
    """SimShell whose session drops while the switch runs (as when the switch restarts sshd): the switch's
    command is started on the simulated host, then its session is cut."""

    def __init__(self, inner):
        self.inner = inner
        self.dropped: list[str] = []

    async def run(self, host, command, *, timeout=None, input=None):
        import asyncio
        from collections.abc import Awaitable

        from labtui.sim.shell import dispatch
        from labtui.ssh.api import HostUnreachable

        if "--switch-generation" not in command:
            return await self.inner.run(host, command, timeout=timeout, input=input)
        answer = dispatch(self.inner.lab, host, command)
        assert isinstance(answer, Awaitable), "the switch should take time here"
        task = asyncio.ensure_future(answer)
        await asyncio.sleep(0)  # the switch has begun on the host
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        self.dropped.append(command)
        raise HostUnreachable(host, "connection lost while running `switch`: Connection reset by peer")

    def stream(self, host, command):
        return self.inner.stream(host, command)


async def test_a_dropped_session_no_longer_interrupts_the_switch(lab, shell):
    from labtui.sim.ops import configure_host

    configure_host(lab, "web1", switch_seconds=0.2)
    dropping = DroppingShell(shell)
    outcome = await switch_generation(dropping, inv_host("web1"), 1, from_generation=3, poll_interval=0.05)
    assert dropping.dropped, "the session did drop"
    assert outcome.ok and outcome.detached and outcome.dropped
    assert outcome.message == ("switched from generation 3 to 1 (the SSH session dropped meanwhile; the switch went "
                               "on under systemd-run)")
    assert "ended with exit status 0" in outcome.output
    sim = lab.load("web1")
    assert sim.current == 1 and sim.profile is None and sim.run_files == {}  # status read and removed


async def test_without_systemd_run_a_drop_interrupts_it_and_says_so(lab, shell):
    from labtui.sim.ops import configure_host

    configure_host(lab, "web1", switch_seconds=0.2, systemd_run=False)
    outcome = await switch_generation(DroppingShell(shell), inv_host("web1"), 1, from_generation=3,
                                      poll_interval=0.05)
    assert not outcome.ok and outcome.detached is False
    assert ("the switch did not run under systemd-run, so the dropped session interrupted it (or it never "
            "started); it runs generation 3 and its profile points to generation 1") in outcome.output
    sim = lab.load("web1")
    assert (sim.current, sim.profile) == (3, 1)  # half-way: exactly what the host is left with


async def test_without_systemd_run_and_no_drop_it_switches_in_the_session(lab, shell):
    from labtui.ops.generations import IN_SESSION_NOTE
    from labtui.sim.ops import configure_host

    configure_host(lab, "web1", systemd_run=False)
    outcome = await switch_generation(shell, inv_host("web1"), 2, from_generation=3)
    assert outcome.ok and outcome.detached is False and IN_SESSION_NOTE in outcome.output
    assert lab.load("web1").current == 2
