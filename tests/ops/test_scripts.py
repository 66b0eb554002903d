"""The real remote scripts, run by dash on a fake NixOS tree (paths rewritten into a tmp dir), parsed
by the same code that parses what hosts answer."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from labtui.ops.generations import GENERATIONS_SCRIPT, parse_generations
from labtui.ops.reboot import REBOOT_NEEDED_SCRIPT, parse_reboot_needed

H1, H2, HK1, HK2 = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def run_sh(script: str, root) -> str:
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh is not None
    script = script.replace("/nix/var/nix/profiles", f"{root}/profiles").replace("/run/", f"{root}/run/")
    result = subprocess.run([sh, "-c", script], capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture
def fake_nixos(tmp_path):
    store, profiles, run = tmp_path / "store", tmp_path / "profiles", tmp_path / "run"
    for d in (profiles, run):
        d.mkdir()
    systems = {}
    for n, h, kh, kernel in ((1, H1, HK1, "6.6.30"), (2, H2, HK2, "6.6.31")):
        system = store / f"{h}-nixos-system-nas-24.05.{n}"
        kdir = store / f"{kh}-linux-{kernel}"
        (kdir).mkdir(parents=True)
        (kdir / "bzImage").write_text("")
        system.mkdir()
        (system / "nixos-version").write_text(f"24.05.{n}")
        os.symlink(kdir / "bzImage", system / "kernel")
        os.symlink(kdir / "bzImage", system / "initrd")  # any file: only the link targets are compared
        os.symlink(system, profiles / f"system-{n}-link")
        systems[n] = system
    os.symlink("system-2-link", profiles / "system")
    os.symlink(systems[2], run / "current-system")
    os.symlink(systems[1], run / "booted-system")
    return tmp_path, systems


def test_generations_script_on_a_fake_tree(fake_nixos):
    root, systems = fake_nixos
    gens = parse_generations(run_sh(GENERATIONS_SCRIPT, root))
    assert [(g.number, g.current, g.booted, g.default) for g in gens] == [
        (1, False, True, False), (2, True, False, True)]
    assert [g.nixos_version for g in gens] == ["24.05.1", "24.05.2"]
    assert [g.kernel for g in gens] == ["6.6.30", "6.6.31"]
    assert gens[1].path == str(systems[2]) and gens[1].date.endswith("Z")


def test_reboot_needed_script_on_a_fake_tree(fake_nixos):
    root, _ = fake_nixos
    assert parse_reboot_needed(run_sh(REBOOT_NEEDED_SCRIPT, root)) is True
    os.remove(root / "run" / "booted-system")
    os.symlink(os.readlink(root / "run" / "current-system"), root / "run" / "booted-system")
    assert parse_reboot_needed(run_sh(REBOOT_NEEDED_SCRIPT, root)) is False


def test_generations_script_without_nix(tmp_path):
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh is not None
    script = GENERATIONS_SCRIPT.replace("/nix/var/nix/profiles", str(tmp_path / "absent"))
    result = subprocess.run([sh, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3 and "not a NixOS host" in result.stderr


def test_journalctl_command_quoting_and_guard(tmp_path):
    from labtui.ops.logs import NO_JOURNALCTL, LogQuery, journalctl_command

    sh = shutil.which("dash") or shutil.which("sh")
    assert sh is not None
    command = journalctl_command(LogQuery(units=("nginx*",), since="2026-11-26 10:00", lines=5))
    env = {"PATH": str(tmp_path)}  # no journalctl: the guard answers
    absent = subprocess.run([sh, "-c", command], capture_output=True, text=True, env=env)
    assert absent.stdout.strip() == NO_JOURNALCTL and absent.returncode == 127
    fake = tmp_path / "journalctl"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\necho oops >&2\n")
    fake.chmod(0o755)
    present = subprocess.run([sh, "-c", command], capture_output=True, text=True,
                             env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert present.stdout.splitlines() == ["[-o]", "[json]", "[--no-pager]", "[--unit=nginx*]", "[--lines=5]",
                                           "[--since=2026-11-26 10:00]", "oops"]  # stderr merged
