"""The probe parser on recorded outputs (tests/status/data/), and the script itself under dash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labtui.status.parse import REPORTED_FIELDS, parse_probe
from labtui.status.probe import PROBE_SCRIPT
from tests.support import require_tool

DATA = Path(__file__).parent / "data"


def parse(name: str):
    with open(DATA / name) as f:
        return parse_probe(f)


def test_nixos_degraded_host_needing_a_reboot():
    r = parse("nixos-degraded-reboot.txt")
    assert r.version == 1 and r.complete and r.ignored_lines == 0
    assert r.hostname == "web1"
    assert r.uptime_s == pytest.approx(1234567.89)
    assert r.load == (0.52, 0.38, 0.30) and r.cpus == 8
    assert r.mem_total_bytes == 32803452 * 1024 and r.mem_available_bytes == 20160800 * 1024
    assert [(d.mount, d.used_bytes, d.total_bytes) for d in r.disks] == [
        ("/", 41050380 * 1024, 102626232 * 1024), ("/nix", 201234567 * 1024, 488127184 * 1024)]
    assert r.current_system.path.endswith("nixos-system-web1-24.05.20240605.57d6973")
    assert r.current_system.kernel.endswith("linux-6.6.32/bzImage")
    assert r.booted_system.kernel_modules.endswith("linux-6.6.31-modules")
    assert r.generation == 42
    assert r.generation_date == "2024-06-05T15:06:40+00:00"
    assert r.system_profile == r.current_system.path
    assert r.nixos_version == "24.05.20240605.57d6973 (Uakari)"
    assert r.system_running == "degraded"
    assert r.failed_units == ("nginx.service", "acme-web1.example.org.service")
    assert r.boot_id == "0c6e2f86-6a0e-4d43-9e0b-1c2f3f2b9a10"
    assert r.missing == {}


def test_nixos_running_skips_banner_and_folds_nix_into_root():
    r = parse("nixos-running.txt")
    assert r.complete and r.hostname == "web2"
    assert [d.mount for d in r.disks] == ["/"]  # /nix is on the root file system: not separate, not missing
    assert r.failed_units == () and r.system_running == "running"
    assert r.missing == {}


def test_debian_recorded_on_this_machine_degrades_field_by_field():
    r = parse("debian12-container.txt")
    assert r.complete and r.hostname and r.load and r.cpus and r.mem_total_bytes and r.boot_id
    assert [d.mount for d in r.disks] == ["/"]
    for name in ("current_system", "booted_system", "generation", "system_profile", "nixos_version"):
        assert getattr(r, name) is None
        assert "not NixOS" in r.missing[name]
    assert "systemd" in r.missing["failed_units"]


def test_missing_commands_give_reasons():
    r = parse("missing-commands.txt")
    assert r.complete
    assert r.cpus is None and "nproc" in r.missing["cpus"]
    assert r.disks == () and r.missing["disks:/"] == "df: command not found"
    assert r.missing["disks:/nix"] == "no /nix directory"
    assert r.missing["mem_available_bytes"] == "not reported by the host"
    assert r.missing["system_running"].startswith("systemctl: command not found")


def test_truncated_output_marks_the_rest_missing():
    r = parse("truncated.txt")
    assert not r.complete
    assert r.hostname == "web1"
    assert r.booted_system is None
    assert r.missing["booted_system"] == "not in the probe output (it was cut short)"
    assert r.missing["boot_id"] == "not in the probe output (it was cut short)"


def test_garbage_values_are_reported_not_raised():
    r = parse("garbage.txt")
    assert r.complete and r.hostname == "ok-host"  # the line after `end` is ignored
    assert r.ignored_lines == 1
    assert r.load is None and r.missing["load"] == "unreadable value 'high medium low'"
    assert r.cpus is None and "many" in r.missing["cpus"]
    assert r.uptime_s == 12.5
    assert "unreadable df answer" in r.missing["disks:/"]
    assert r.generation is None and "weird" in r.missing["generation"]
    assert r.generation_date is None and "yesterday" in r.missing["generation_date"]
    assert r.failed_units == ("a.service",)


@pytest.mark.parametrize("name, words", [("no-marker.txt", "never came"), ("future-version.txt", "version 2")])
def test_unreadable_output_marks_every_field(name, words):
    r = parse(name)
    assert not r.complete and r.hostname is None
    assert set(REPORTED_FIELDS) <= set(r.missing)
    assert all(words in reason for reason in r.missing.values())


def test_empty_and_arbitrary_input_never_raises():
    assert parse_probe([]).missing["hostname"]
    parse_probe(["labtui-probe 1", "\t", "missing", "missing\t", "disk:/\t1", "load\t1 2", "end"])
    parse_probe(["labtui-probe x", "hostname\ta"])


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_the_script_runs_under_plain_posix_shells(shell):
    path = require_tool(shell, "the probe script must run under plain POSIX shells")
    argv = [path, "sh", "-s", "labtui-probe", "1"] if shell == "busybox" else [path, "-s", "labtui-probe", "1"]
    out = subprocess.run(argv, input=PROBE_SCRIPT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    r = parse_probe(out.stdout.splitlines())
    assert r.complete and r.ignored_lines == 0
    assert r.hostname and r.load and r.boot_id
