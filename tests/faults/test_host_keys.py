"""Issue 11 point 12: the commands labtui prints for a changed or unknown host key work when pasted.

Each case takes the command out of `labtui status --json`'s hint, runs it with /bin/sh against the real
known_hosts file (OpenSSH's ssh-keygen and ssh-keyscan), and checks the result: the old key gone, then the new one
added, after which the host answers. Cases: the default `~/.ssh/known_hosts` (the `~` must reach the shell
unquoted), a HostKeyAlias (named by the alias alone, as OpenSSH stores it, never `[[alias]:port]:port`), and a
UserKnownHostsFile whose path has a space.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from tests.faults.harness import run_cli, use_fleet
from tests.support import require_tool


def status(host_name: str) -> dict:
    result = run_cli(["status", "--no-drift", "--json", "--timeout", "10"])
    assert "Traceback" not in result.err
    return next(h for h in json.loads(result.out)["hosts"] if h["host"] == host_name)


def paste(command: str) -> None:
    """Run `command` as an operator would by pasting it: /bin/sh, the test's HOME."""
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": os.environ["HOME"]})
    assert proc.returncode == 0, (command, proc.stderr)


def in_file(path: Path, name: str) -> bool:
    proc = subprocess.run(["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True)
    return proc.returncode == 0


@pytest.mark.parametrize("setup", ["default", "alias", "alias written with its port", "spaced file"])
def test_the_printed_fixes_work_when_pasted(hostile_hosts, monkeypatch, tmp_path, setup):
    require_tool("ssh-keygen", "the printed command is run for real")
    require_tool("ssh-keyscan", "the printed command is run for real")
    host = hostile_hosts.start("web1", lambda command, stdin: None)
    port = host.ssh.port
    home = Path(os.environ["HOME"])
    known = home / ".ssh" / "known_hosts"
    name = f"[127.0.0.1]:{port}"
    options: tuple[tuple[str, str], ...] = ()
    if setup.startswith("alias"):
        name = "lab-web1" if setup == "alias" else f"[lab-web1]:{port}"
        options = (("HostKeyAlias", "lab-web1"),)
    elif setup == "spaced file":
        known = tmp_path / "my keys" / "known hosts"
        known.parent.mkdir()
        options = (("UserKnownHostsFile", shlex.quote(str(known))),)  # as sshOpts would say it
        (home / ".ssh" / "known_hosts").write_text("")  # the only entry is in that file
    host = replace(host, ssh=replace(host.ssh, options=options))
    use_fleet(monkeypatch, hostile_hosts.inventory(host))
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known.write_text(f"{name} {impostor}\n")

    changed = status("web1")
    assert changed["state"] == "HOST KEY CHANGED", changed
    remove = re.search(r"`([^`]+)`", changed["hint"]).group(1)
    assert remove.startswith(f"ssh-keygen -R {shlex.quote(name)} -f ") and "[[" not in remove
    if setup == "default":
        assert remove.endswith(" -f ~/.ssh/known_hosts"), remove  # `~` unquoted: the shell expands it
    paste(remove)
    assert not in_file(known, name)

    unknown = status("web1")
    assert unknown["state"] == "host key unknown", unknown
    add = unknown["hint"].split("then: ", 1)[1]
    assert "[[" not in add and "'~" not in add, add
    paste(add)
    assert in_file(known, "lab-web1" if setup.startswith("alias") else name)
    assert status("web1")["state"] in ("up", "degraded")  # the host answers now (its probe is not the point)


def test_names_and_paths_as_the_shell_needs_them():
    from labtui.ssh.hostkeys import known_hosts_name, shell_path

    assert known_hosts_name("web1.lan", 22, None) == "web1.lan"
    assert known_hosts_name("127.0.0.1", 41363, None) == "[127.0.0.1]:41363"
    assert known_hosts_name("127.0.0.1", 41363, "web1") == "web1"  # OpenSSH stores an alias verbatim
    home = Path.home()
    assert shell_path(str(home / ".ssh" / "known_hosts")) == "~/.ssh/known_hosts"
    assert shell_path(str(home / "my keys" / "known_hosts")) == "~/'my keys/known_hosts'"
    assert shell_path("/etc/ssh/ssh_known_hosts") == "/etc/ssh/ssh_known_hosts"
    assert shell_path("/tmp/a b") == "'/tmp/a b'"
