"""What every fault case asserts, and the tools to cause faults (shared by the tests in tests/faults/).

A fault case runs labtui as the operator would (`labtui.cli.main.main` with real argv, or a real process)
and checks what docs/faults.md promises:

- no traceback, ever;
- one clear line on stderr (`labtui: error: what, where, how to fix`), or the documented output;
- the right exit code (0 all well, 1 something is not fine, 2 usage/configuration/environment);
- nothing lost from the journal (`PRAGMA integrity_check` is `ok`, earlier runs still listed);
- nothing from a host reaches the terminal raw (`labtui.text.is_harmless`).

`hostile_hosts` serves SSH from a thread of its own (asyncssh, tests/support/asyncssh_server.py), so the CLI
under test runs its own `asyncio.run` exactly as in production, against hosts that answer garbage, binary,
escape sequences, a flood, a slow drip, or never.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from labtui.inventory.model import Host, Inventory, SshTarget
from labtui.text import is_harmless
from tests.support import in_ci

T = TypeVar("T")

# Remote text that would clear the screen, home the cursor, write the clipboard (OSC 52) and ring the bell.
HOSTILE = "x\x1b[2J\x1b[H\x1b]52;c;ZWNobyBwd25lZAo=\x07"
# Remote text that Rich/Textual would read as markup if it were ever handed over as markup.
MARKUP = "[bold red]boom[/] [link=https://evil.example]x[/link]"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(argv: Sequence[str], *, stdin: str = "") -> CliResult:
    """`labtui ARGV` in this process: the real entry point, stdout/stderr captured as a terminal would get them."""
    from labtui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit_:  # argparse's usage errors: the process would exit so
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdin = old_stdin
    return CliResult(code, out.getvalue(), err.getvalue())


def run_process(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60,
                umask: int | None = None, cwd: Path | None = None) -> CliResult:
    """`labtui ARGV` as a separate process (for umask, read-only and full-disk cases), this interpreter."""
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)

    proc = subprocess.run([sys.executable, "-m", "labtui", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, preexec_fn=preexec, cwd=cwd,
                          stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.text, result.text
    assert "Error:" not in result.err or result.err.startswith("labtui:"), result.err


def assert_one_line_error(result: CliResult, code: int, *needles: str, hint: bool = False) -> str:
    """The fault was reported as one `labtui: error: ...` line with exit `code`; returns that line.

    `hint=True`: a line with the fix may follow (SSH errors print the command to try below the error)."""
    assert_no_traceback(result)
    assert result.code == code, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 or (hint and len(lines) == 2), result.err
    assert is_harmless(result.err, keep_newlines=True), result.err
    line = lines[0]
    assert line.startswith("labtui: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    assert is_harmless(line), line
    return line


def assert_harmless_output(result: CliResult) -> None:
    """Nothing a host sent reached the terminal raw (newlines between lines are fine)."""
    assert is_harmless(result.out, keep_newlines=True), repr(result.out)
    assert is_harmless(result.err, keep_newlines=True), repr(result.err)


def journal_integrity(path: Path) -> str:
    """SQLite's own check of the journal file: `ok` when nothing is damaged."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:  # too damaged to be checked at all
        return str(exc)


def needs_root(why: str) -> None:
    """Skip (fail under CI=true) a case that needs root (mount namespaces, tmpfs)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        message = f"needs root and unshare(1): {why}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


# ---- hostile SSH hosts, served from their own thread ------------------------------------------------


class HostileHosts:
    """In-process SSH servers on 127.0.0.1 running in a background event loop.

    `start(name, handler)` gives an inventory Host; `use_as_operator(home)` puts the client key and the
    known_hosts file where OpenSSH (and labtui's SshPool) look, so the CLI connects as it would for real.
    Handlers are those of tests/support/asyncssh_server.py: `(command, stdin) -> answer`.
    """

    def __init__(self, root: Path) -> None:
        from tests.support.asyncssh_server import SshServers

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hostile-hosts", daemon=True)
        self.thread.start()
        self.servers = self.call(_make(SshServers, root))
        self.home: Path | None = None
        self.refusing: list[Any] = []

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, name: str, handler: Callable[[str, str], Any], **options: Any) -> Host:
        server = self.call(self.servers.start(name, handler=handler, **options))
        if self.home is not None:
            self.use_as_operator(self.home)  # its host key too
        return server.host(user="root")

    def start_refusing(self, name: str, reason: str) -> Host:
        """A host whose SSH server disconnects at authentication with `reason` (the client shows it)."""
        return self.call(_refusing(self, name, reason))

    def inventory(self, *hosts: Host) -> Inventory:
        return Inventory(flake=".", hosts=tuple(hosts))

    def use_as_operator(self, home: Path) -> None:
        self.home = home
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(self.servers.client_key_path, ssh / "id_ed25519")
        (ssh / "id_ed25519").chmod(0o600)
        shutil.copy(self.servers.known_hosts_path, ssh / "known_hosts")

    def commands(self, name: str) -> list[str]:
        return next(s.commands for s in self.servers.servers if s.name == name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.servers.close(), timeout=10)
        for server in self.refusing:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _refusing(hosts: HostileHosts, name: str, reason: str) -> Host:
    import asyncssh

    class Refuse(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self.conn = conn

        def begin_auth(self, username: str) -> bool:
            self.conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, reason)
            return True

    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(Refuse, "127.0.0.1", 0, server_host_keys=[key])
    hosts.refusing.append(server)
    port = server.sockets[0].getsockname()[1]
    with open(hosts.servers.known_hosts_path, "a") as f:
        f.write(f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n")
    if hosts.home is not None:
        hosts.use_as_operator(hosts.home)
    return Host(name=name, hostname="127.0.0.1", ssh=SshTarget(hostname="127.0.0.1", port=port, user="root"))


async def _make(factory: Callable[[Path], T], root: Path) -> T:
    return factory(root)  # created inside the servers' loop


@pytest.fixture
def hostile_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileHosts]:
    """Hostile SSH hosts the CLI reaches as configured hosts; `use(*hosts)` makes them the fleet."""
    hosts = HostileHosts(tmp_path / "hostile")
    hosts.use_as_operator(Path(os.environ["HOME"]))
    try:
        yield hosts
    finally:
        hosts.close()


def use_fleet(monkeypatch: pytest.MonkeyPatch, inventory: Inventory) -> None:
    """Every verb loads this inventory instead of evaluating a flake."""
    import labtui.inventory

    monkeypatch.setattr(labtui.inventory, "load_inventory", lambda **kwargs: inventory)
