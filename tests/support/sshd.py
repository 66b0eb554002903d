"""A real OpenSSH sshd on a loopback port, for integration tests of anything that talks SSH.

Use the session-wide `sshd` fixture (started on first use, stopped at the end of the test session):

    from tests.support.sshd import sshd  # noqa: F401  (makes the fixture visible)

    async def test_something(sshd):
        pool = SshPool([sshd.host("lab")], known_hosts=[sshd.known_hosts], client_keys=[sshd.client_key],
                       config=None)
        ...
        sshd.write_ssh_config(home)   # or: ~/.ssh/config + ~/.ssh/known_hosts so plain `ssh lab` works

What it sets up in its own directory: an ed25519 host key, a client key pair whose public half is the
only authorized key, a known_hosts file with the `[127.0.0.1]:PORT` line (so OpenSSH and asyncssh
agree), an sshd_config with `StrictModes no` (the tmp dir is world-writable), `UsePAM no`, keys only,
TCP forwarding allowed (it can be a jump host), a pid file and a log file (`sshd.log`, shown when
startup fails). Logins are as the user running the tests: root in CI (sshd then needs /run/sshd,
created if missing), or any user without root (sshd then only lets that user in, which is all we need).
Commands run through that user's login shell, which may source slow rc files: tests must not assume
a fast or quiet shell.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from labtui.inventory.model import Host, SshTarget
from tests.support import require_tool

STARTUP_DEADLINE = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    """A running sshd: where it listens and the files a client needs."""

    port: int
    user: str
    root: Path
    host_key_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    known_hosts: Path
    log: Path
    process: subprocess.Popen

    def host(self, name: str = "lab", **ssh) -> Host:
        """An inventory Host pointing at this sshd (extra SshTarget fields as keywords)."""
        interval = ssh.pop("poll_interval", 5.0)
        target = SshTarget(hostname="127.0.0.1", port=self.port, user=self.user, **ssh)
        return Host(name=name, hostname="127.0.0.1", ssh=target, poll_interval=interval)

    def write_ssh_config(self, home: Path, alias: str = "lab") -> Path:
        """~/.ssh/config (Host `alias`) and ~/.ssh/known_hosts under `home`, like a user would have."""
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = ssh_dir / "config"
        config.write_text(f"Host {alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
                          f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n")
        with open(ssh_dir / "known_hosts", "a") as f:
            f.write(self.known_hosts.read_text())
        return config

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)


def start_sshd(root: Path) -> Sshd:
    sshd_bin = require_tool("sshd", "integration tests talk to a real OpenSSH server")
    require_tool("ssh-keygen", "the sshd fixture makes its own keys")
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir as root
    host_key, client_key = root / "ssh_host_ed25519_key", root / "id_ed25519"
    _keygen(host_key, "labtui-test-host")
    _keygen(client_key, "labtui-test-client")
    authorized = root / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    port = _free_port()
    user = getpass.getuser()
    log, pid_file = root / "sshd.log", root / "sshd.pid"
    config = root / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}",
        f"HostKey {host_key}",
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized}",
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "AllowTcpForwarding yes",
        "MaxSessions 10",
        "LogLevel VERBOSE",
        f"AllowUsers {user}",
        "",
    ]))
    check = subprocess.run([sshd_bin, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.fail(f"sshd rejected the test config: {check.stderr.strip()}")
    host_pub = host_key.with_suffix(".pub").read_text().split()
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    process = subprocess.Popen([sshd_bin, "-D", "-f", str(config), "-E", str(log)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Sshd(port=port, user=user, root=root, host_key_pub=f"{host_pub[0]} {host_pub[1]}",
                  client_key=client_key, known_hosts=known_hosts, log=log, process=process)
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:  # bounded wait for the listening socket (the process gives no readiness signal)
        if process.poll() is not None:
            pytest.fail(f"sshd exited with {process.returncode} at startup:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_sshd(server)
                pytest.fail(f"sshd did not listen on port {port} within {STARTUP_DEADLINE:g} s:\n{server.log_tail()}")
            time.sleep(0.02)
    return server


def stop_sshd(server: Sshd) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real OpenSSH sshd on 127.0.0.1 for the whole test session (see the module docstring)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        stop_sshd(server)
