"""The real probe script on a NixOS-shaped /run and /nix/var/nix/profiles (private mount namespace).

Needs root and `unshare` (CI has both): the test host gets its own tmpfs /run with current-system and
booted-system links, a system profile with generation links, and fake `nixos-version`/`systemctl`
in the closure's sw/bin, exactly where the script looks on NixOS. Nothing outside the namespace changes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labtui.ssh.api import HostState
from labtui.status.derive import status_from_report
from labtui.status.parse import parse_probe
from labtui.status.probe import PROBE_SCRIPT
from tests.support import require_tool

pytestmark = pytest.mark.integration


def closure(store: Path, name: str, kernel: str) -> Path:
    """A fake system closure with kernel/initrd/kernel-modules links and sw/bin tools."""
    linux = store / f"linux-{kernel}"
    (linux / "lib").mkdir(parents=True, exist_ok=True)
    (linux / "bzImage").write_text("")
    initrd = store / f"initrd-linux-{kernel}"
    initrd.mkdir(exist_ok=True)
    (initrd / "initrd").write_text("")
    modules = store / f"linux-{kernel}-modules"
    modules.mkdir(exist_ok=True)
    system = store / f"nixos-system-{name}"
    (system / "sw" / "bin").mkdir(parents=True)
    (system / "kernel").symlink_to(linux / "bzImage")
    (system / "initrd").symlink_to(initrd / "initrd")
    (system / "kernel-modules").symlink_to(modules)
    tools = {
        "nixos-version": "echo '24.05.20240605.57d6973 (Uakari)'",
        "systemctl": 'case "$1" in is-system-running) echo degraded; exit 1;; '
                     'list-units) echo "nginx.service loaded failed failed The nginx server"; '
                     'echo "backup.timer  loaded failed failed Nightly backup";; esac',
    }
    for tool, body in tools.items():
        path = system / "sw" / "bin" / tool
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return system


def test_probe_on_a_nixos_layout(tmp_path):
    unshare = require_tool("unshare", "gives the probe a NixOS-shaped /run in a private mount namespace")
    if os.geteuid() != 0:
        pytest.skip("mount namespaces with tmpfs need root here")
    if not Path("/nix/var/nix").is_dir():
        pytest.skip("no /nix/var/nix to mount the fake system profile over")
    store = tmp_path / "store"
    new = closure(store, "web1-2", "6.6.32")
    old = closure(store, "web1-1", "6.6.31")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "system-41-link").symlink_to(old)
    (profiles / "system-42-link").symlink_to(new)
    (profiles / "system").symlink_to("system-42-link")  # relative, as nix-env writes it
    os.utime(profiles / "system-42-link", (1717600000, 1717600000), follow_symlinks=False)
    setup = (
        "set -e; mount -t tmpfs tmpfs /run; "
        f"ln -s {new} /run/current-system; ln -s {old} /run/booted-system; "
        f"mount --bind {profiles} /nix/var/nix/profiles; "
        "exec /bin/sh -s labtui-probe 1"
    )
    out = subprocess.run([unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", setup],
                         input=PROBE_SCRIPT, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "Operation not permitted" in out.stderr:
        pytest.skip(f"no mount namespaces here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    report = parse_probe(out.stdout.splitlines())
    assert report.complete and report.ignored_lines == 0
    assert report.current_system.path == str(new)
    assert report.current_system.kernel == str(store / "linux-6.6.32" / "bzImage")
    assert report.current_system.kernel_modules == str(store / "linux-6.6.32-modules")
    assert report.booted_system.initrd == str(store / "initrd-linux-6.6.31" / "initrd")
    assert report.generation == 42 and report.generation_date == "2024-06-05T15:06:40+00:00"
    assert report.system_profile == str(new)
    assert report.nixos_version == "24.05.20240605.57d6973 (Uakari)"
    assert report.system_running == "degraded"
    assert report.failed_units == ("nginx.service", "backup.timer")
    assert not any(k in report.missing for k in ("current_system", "booted_system", "generation", "nixos_version"))
    status = status_from_report("web1", report)
    assert status.state is HostState.DEGRADED and status.reboot_needed is True
