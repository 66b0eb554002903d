"""Simulated hosts answer the probe; SimHost -> probe output -> parser -> HostStatus round trip."""

from __future__ import annotations

from labtui.sim.probe import handle, kernel_targets, probe_output
from labtui.sim.state import SimLab
from labtui.ssh.api import HostState
from labtui.status.derive import status_from_report
from labtui.status.parse import parse_probe
from labtui.status.probe import PROBE_COMMAND, PROBE_SCRIPT
from tests.status.simlab import make_host
from tests.support.sim_shell import SimShell


def test_round_trip_matches_the_sim_state():
    host = make_host(failed=True, new_kernel=True)
    report = parse_probe(probe_output(host, now=4_600.0).splitlines())
    status = status_from_report(host.name, report, observed_at=4_600.0)
    assert report.complete and report.missing == {}
    assert status.hostname == "web1"
    assert status.uptime_s == 3_600.0
    assert status.load == (0.5, 0.25, 0.75)
    assert status.cpus == 4
    assert status.mem_total_bytes == 8_000_000 * 1024 and status.mem_available_bytes == 6_000_000 * 1024
    assert [(d.mount, d.used_bytes, d.total_bytes) for d in status.disks] == [
        ("/", 10_000 * 1024, 40_000 * 1024), ("/nix", 30_000 * 1024, 100_000 * 1024)]
    assert status.current_system.path == host.generation(2).path
    assert status.booted_system.path == host.generation(1).path
    assert status.current_system.kernel == kernel_targets("6.6.31")["kernel"]
    assert status.system_profile == host.generation(2).path
    assert status.generation == 2 and status.generation_date == "2026-11-20T12:30:00+00:00"
    assert status.nixos_version == "24.05.2 (Uakari)"
    assert status.failed_units == ("nginx.service",) and status.system_running == "degraded"
    assert status.boot_id == host.boot_id
    assert status.state is HostState.DEGRADED
    assert status.reboot_needed is True and host.reboot_needed is True


def test_same_kernel_means_no_reboot_and_up():
    host = make_host()
    status = status_from_report(host.name, parse_probe(probe_output(host).splitlines()))
    assert status.state is HostState.UP
    assert status.reboot_needed is False  # generations differ, kernels do not
    assert status.reboot_needed == host.reboot_needed


def test_handler_claims_only_the_probe(tmp_path):
    lab = SimLab(tmp_path)
    lab.save(make_host())
    assert handle(lab, "web1", "uptime") is None
    answer = handle(lab, "web1", PROBE_COMMAND)
    assert answer.exit_status == 0 and answer.stdout.startswith("labtui-probe 1\n")


async def test_probe_through_simshell(tmp_path):
    lab = SimLab(tmp_path)
    lab.save(make_host("db1"))
    result = await SimShell(lab).run("db1", PROBE_COMMAND, input=PROBE_SCRIPT)
    assert parse_probe(result.stdout.splitlines()).hostname == "db1"
