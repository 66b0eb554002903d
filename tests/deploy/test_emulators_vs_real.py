"""The emulators (labtui.sim) against the real tools: for each recorded run (tests/deploy/logs/real), the emulator's
scenario prints the same deploy-rs records in the same order and the same kinds of other lines (nix's, ssh's, the
panic) where the real run printed them. Store paths, hosts, numbers and switch-to-configuration's own lines (a NixOS
host's in the emulator, the testbed stub's one line in the recordings) are compared by kind, not by text.
docs/deploy-rs-output.md §13 lists the differences this caught and that were fixed."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from labtui.deploy.parse.ansi import clean_line
from labtui.deploy.parse.deploy_rs import LOG_RE
from labtui.sim.emulators import install_emulators
from tests.deploy.real_logs import recorded

# raw (non-record) lines by kind; the first match wins; None: not compared (blank lines)
RAW_KINDS: list[tuple[str, str | None]] = [
    (r"^$", None),
    (r"^\[.*\]$|^(user|ssh_user|path|hostname|ssh_opts) = ", "plan"),
    (r"^building the system configuration\.\.\.$", "nixos-rebuild: building"),
    (r"^building '/nix/store/.*\.drv'\.\.\.$", "nix: building"),
    (r"^copying \d+ paths\.\.\.$", "nix: copying N paths"),
    (r"^copying path '/nix/store/.*' to 'ssh://", "nix: copying path"),
    (r"^evaluating flake\.\.\.$", "nix: evaluating flake"),
    (r"^running flake checks\.\.\.$", "nix: running flake checks"),
    (r"^warning: unknown flake output 'deploy'$", "nix: unknown flake output"),
    (r"^error: builder for ", "nix: builder failed"),
    (r"^ {7}(last \d+ log lines:|> |For full logs)", "nix: builder log"),
    (r"^switching profile from version \d+ to \d+$", "nix-env: switching"),
    (r"^removing profile version \d+$", "nix-env: removing"),
    (r"^error: cannot connect to '", "nix: cannot connect"),
    (r"^error: ", "nix: error"),
    (r"^ {7}", "nix: error"),  # the rest of a multi-line nix error
    (r"^thread '[^']*' \(\d+\) panicked at src/", "panic"),
    (r"^called `Result::unwrap\(\)`|^note: run with `RUST_BACKTRACE", "panic"),
    (r"^Connection to \S+ closed by remote host\.$", "ssh: session closed"),
    (r"(Connection timed out|timed out during banner exchange|Permission denied \(publickey\)|"
     r"port \d+ timed out)", "ssh: cannot connect"),
    (r"Pseudo-terminal will not be allocated", "ssh: no tty"),
    (r"^System has not been booted with systemd|^Failed to connect to bus", None),  # testbed: no systemd
    (r".", "switch-to-configuration"),
]


def shape(text: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for line in text.split("\n"):
        clean = clean_line(line)
        while clean.startswith("> "):
            clean = clean[2:]
        m = LOG_RE.match(clean)
        if m:
            item: tuple[str, ...] = ("record", m.group(1), m.group(2), re.sub(r"\d+", "N", m.group(3).rstrip()))
        else:
            kind = next(k for pattern, k in RAW_KINDS if re.search(pattern, clean))
            if kind is None:
                continue
            item = ("raw", kind)
        if item[:3] == ("record", "wait", "INFO"):
            continue  # `wait` runs alongside `activate`: whether and where its two INFO lines come is a race
        if item[0] == "raw" and out and out[-1] == item:
            continue  # one kind, several lines (paths, switch output, a log tail)
        out.append(item)
    return out


@pytest.fixture
def emulators(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    scenario = tmp_path / "scenario.json"
    env = {**os.environ, "LABTUI_SIM_SCENARIO": str(scenario)}

    def run(program: str, nodes: dict, *args: str, stdin: str = "") -> str:
        spec = {"time_scale": 0.0, "ansi": True, "nodes": {
            n: {"hostname": f"{n}-lo", "ssh_user": "root", "user": "root", **v} for n, v in nodes.items()}}
        scenario.write_text(json.dumps(spec))
        proc = subprocess.run([str(bin_dir / program), *args], input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60, env=env)
        return proc.stdout

    return run


def s(scenario: str, **extra) -> dict:
    return {"scenario": scenario, **extra}


# recorded run -> (emulator nodes, emulator argv, stdin)
DEPLOY_RS = {
    "success-single": ({"host1": s("success")}, [".#host1"], ""),
    "success-with-wait": ({"host1": s("success")}, ["-s", ".#host1"], ""),
    "canary-exists": ({"host1": s("success", canary_exists=True)}, ["-s", ".#host1"], ""),
    "boot": ({"host1": s("success")}, ["-s", "--boot", ".#host1"], ""),
    "dry-activate": ({"host1": s("success")}, ["-s", "--dry-activate", ".#host1"], ""),
    "activation-failure": ({"host1": s("activation-fails")}, ["-s", ".#host1"], ""),
    "magic-rollback": ({"host1": s("magic-timeout")}, ["-s", ".#host1", "--confirm-timeout", "10"], ""),
    "killed-session-now": ({"host1": s("magic-timeout-lost")}, ["-s", ".#host1", "--confirm-timeout", "10"], ""),
    "activation-timeout": ({"host1": s("activation-timeout")},
                           ["-s", ".#host1", "--activation-timeout", "3", "--confirm-timeout", "10"], ""),
    "atomic-revoke": ({"host1": s("success"), "host2": s("activation-fails")},
                      ["-s", "--targets", ".#host1", ".#host2"], ""),
    "host-down": ({"host1": s("push-fails")}, ["-s", ".#host1"], ""),
    "build-failure": ({"host1": s("build-fails")}, ["-s", ".#host1"], ""),
    "flake-check-fail": ({"host1": s("check-fails")}, [".#host1"], ""),
    "eval-error": ({"host1": s("eval-fails")}, ["-s", ".#host1"], ""),
    "interactive-yes": ({"host1": s("success")}, ["-s", "-i", ".#host1"], "yes\n"),
    "interactive-no": ({"host1": s("success")}, ["-s", "-i", ".#host1"], "no\n"),
    "usage-error": ({"host1": s("success")}, ["--magic-rollback", ".#host1"], ""),
}


def test_wait_lines_are_left_out_when_the_canary_exists_first(emulators):
    with_wait = emulators("deploy", {"host1": s("success")}, "-s", ".#host1")
    without = emulators("deploy", {"host1": s("success", canary_exists=True)}, "-s", ".#host1")
    assert with_wait.count("[wait]") == 2 and "[wait]" not in without
    assert not any("[wait]" in line for line in recorded("deploy-rs/canary-exists").lines)


@pytest.mark.parametrize("name", sorted(DEPLOY_RS))
def test_deploy_rs_emulator_prints_what_the_real_deploy_rs_prints(emulators, name):
    nodes, argv, stdin = DEPLOY_RS[name]
    real = recorded(f"deploy-rs/{name}")
    # (the real activation failure's orphaned `wait` ERROR comes up to the activation timeout after the exit)
    expected = shape("\n".join(real.lines))
    assert shape(emulators("deploy", nodes, *argv, stdin=stdin)) == expected


# nixos-rebuild: the emulator runs with stdin not a terminal, like labtui's runner: `ssh -t` noise included
NIXOS_REBUILD = {
    "switch": ({"host1": s("success")}, ["switch"]),
    "boot": ({"host1": s("success")}, ["boot"]),
    "test": ({"host1": s("success")}, ["test"]),
    "dry-activate": ({"host1": s("success")}, ["dry-activate"]),
    "switch-failure": ({"host1": s("activation-fails")}, ["switch"]),
    "test-failure": ({"host1": s("activation-fails")}, ["test"]),
    "build-failure": ({"host1": s("build-fails")}, ["switch"]),
    "eval-error": ({"host1": s("eval-fails")}, ["switch"]),
    "host-down": ({"host1": s("push-fails")}, ["switch"]),
    "remote-sudo-missing": ({"host1": s("success", no_sudo=True)}, ["switch", "--use-remote-sudo"]),
}


@pytest.mark.parametrize("name", sorted(NIXOS_REBUILD))
def test_nixos_rebuild_emulator_prints_what_the_real_script_prints(emulators, name):
    nodes, argv = NIXOS_REBUILD[name]
    real = recorded(f"nixos-rebuild/{name}")
    lines = [line for line in real.lines if "nixos-rebuild.drv" not in line]  # the first run's re-exec build
    out = emulators("nixos-rebuild", nodes, *argv, "--flake", ".#host1", "--target-host", "root@host1-lo")
    assert shape(out) == shape("\n".join(lines))
