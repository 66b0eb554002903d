"""In-process SSH servers (asyncssh) on 127.0.0.1 for fast tests of anything that talks SSH.

Use the `ssh_servers` fixture (a factory) from any test module:

    from tests.support.asyncssh_server import ssh_servers  # noqa: F401  (makes the fixture visible)

    async def test_something(ssh_servers, tmp_path):
        web1 = await ssh_servers.start("web1", handler=lambda cmd, stdin: "hello\\n")
        # or answer like the simulated lab does (labtui.sim.shell.dispatch(lab, "web1", cmd)):
        db1 = await ssh_servers.start("db1", lab=SimLab(tmp_path / "lab"))
        pool = ssh_servers.pool([web1.host(), db1.host()])   # SshPool with the test key + known_hosts
        ...
        await web1.stop()      # closes the listener AND every open connection (a host going away)
        await web1.restart()   # same port, same host key (the host coming back)

Every server has its own ed25519 host key; all servers of one factory share one authorised client key
(`ssh_servers.client_key_path`) and one known_hosts file (`ssh_servers.known_hosts_path`) holding a
`[127.0.0.1]:PORT key` line per server started with `trust=True` (the default).

A handler gets `(command, stdin)` and returns any of: a str (stdout, exit 0); a tuple
`(exit_status, stdout, stderr)`; a `labtui.sim.handlers.SimResult` / `labtui.ssh.api.CommandResult`;
an async iterator of lines (streamed until the client closes); or an awaitable of one of these
(e.g. `async def` that never returns: a hanging command). `None` means "command not found" (127).
A handler may also answer `bytes` (or a tuple with bytes): sent as they are (binary output, invalid UTF-8); an
async iterator may yield `bytes`, written as they are without a newline added (a slow drip of one line).
`delay` adds a delay before every answer; `LatencyProxy(server.port, delay)` adds real network
latency in front of a server, and its `freeze()` silently stops all traffic (a dead link).
Servers accept direct-tcpip (port forwarding) so they can be jump hosts.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from labtui.inventory.model import Host, SshTarget

Handler = Callable[[str, str], Any]


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: TestSshServer) -> None:
        self.owner = owner
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.owner.connections.add(conn)
        self.owner.connects += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.owner.connections.discard(self.conn)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return self.owner.allow_forwarding and dest_host in ("127.0.0.1", "localhost")


@dataclass
class TestSshServer:
    """One in-process SSH server. `host()` gives an inventory Host pointing at it."""

    name: str
    host_key: asyncssh.SSHKey
    authorized_keys: str  # authorized_keys text
    handler: Handler
    port: int = 0
    delay: float = 0.0
    allow_forwarding: bool = True
    commands: list[str] = field(default_factory=list)  # every command received, in order
    connections: set = field(default_factory=set)
    connects: int = 0  # connections accepted so far
    _acceptor: Any = None

    __test__ = False  # not a pytest test class

    async def start(self) -> TestSshServer:
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self), "127.0.0.1", self.port,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.authorized_keys),
            process_factory=self._process, encoding=None,  # bytes: answers may be binary
            keepalive_interval=0,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every open connection (like a host that went away)."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
        # Drop the connections before waiting: since Python 3.12.1 wait_closed() waits for them.
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        if acceptor is not None:
            await acceptor.wait_closed()

    async def restart(self) -> TestSshServer:
        await self.stop()
        return await self.start()

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        key = key or self.host_key
        return f"[127.0.0.1]:{self.port} {key.export_public_key().decode().strip()}\n"

    def host(self, name: str | None = None, **ssh: Any) -> Host:
        """An inventory Host for this server (extra SshTarget fields as keywords)."""
        interval = ssh.pop("poll_interval", 5.0)
        target = SshTarget(hostname="127.0.0.1", port=self.port, user=ssh.pop("user", "lab"), **ssh)
        return Host(name=name or self.name, hostname="127.0.0.1", ssh=target, poll_interval=interval)

    async def _process(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        self.commands.append(command)
        try:
            stdin = (await process.stdin.read()).decode("utf-8", "replace")
            if self.delay:
                await asyncio.sleep(self.delay)
            answer = self.handler(command, stdin)
            if inspect.isawaitable(answer):
                answer = await answer
            if hasattr(answer, "__aiter__"):
                async for line in answer:
                    process.stdout.write(line if isinstance(line, bytes) else _bytes(line) + b"\n")
                process.exit(0)
                return
            status, out, err = _normalise(answer, command)
            if out:
                process.stdout.write(_bytes(out))
            if err:
                process.stderr.write(_bytes(err))
            process.exit(status)
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, BrokenPipeError, ConnectionError):
            process.exit(255)
        except asyncssh.Error:
            pass  # the client went away


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "replace")


def _normalise(answer: Any, command: str) -> tuple[int, str | bytes, str | bytes]:
    if answer is None:
        word = command.split()[0] if command.split() else command
        return 127, "", f"sh: 1: {word}: not found\n"
    if isinstance(answer, (str, bytes)):
        return 0, answer, ""
    if isinstance(answer, tuple):
        return int(answer[0]), answer[1], answer[2] if len(answer) > 2 else ""
    return int(answer.exit_status if answer.exit_status is not None else 255), answer.stdout, answer.stderr


def lab_handler(lab, host: str) -> Handler:
    """Answer like the simulated lab: labtui.sim.shell.dispatch(lab, host, command)."""
    from labtui.sim.shell import dispatch

    return lambda command, stdin: dispatch(lab, host, command)


class SshServers:
    """Factory of TestSshServers sharing one client key and one known_hosts file (see module docs)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = root / "id_ed25519"
        self.client_key.write_private_key(str(self.client_key_path))
        self.client_key_path.chmod(0o600)
        self.authorized_keys = self.client_key.export_public_key().decode()
        self.known_hosts_path = root / "known_hosts"
        self.known_hosts_path.write_text("")
        self.servers: list[TestSshServer] = []
        self.pools: list[Any] = []

    async def start(self, name: str = "host", *, handler: Handler | None = None, lab=None, sim_host: str | None = None,
                    trust: bool = True, authorize: bool = True, delay: float = 0.0, port: int = 0,
                    host_key: asyncssh.SSHKey | None = None) -> TestSshServer:
        if handler is None:
            if lab is None:
                raise ValueError("give a handler or a lab")
            handler = lab_handler(lab, sim_host or name)
        authorized = self.authorized_keys if authorize else \
            asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        server = TestSshServer(name=name, host_key=host_key or asyncssh.generate_private_key("ssh-ed25519"),
                               authorized_keys=authorized, handler=handler, delay=delay, port=port)
        await server.start()
        if trust:
            with open(self.known_hosts_path, "a") as f:
                f.write(server.known_hosts_line())
        self.servers.append(server)
        return server

    def pool(self, hosts, **options: Any):
        """An SshPool for `hosts` using this factory's client key and known_hosts; closed at teardown."""
        from labtui.ssh.pool import Backoff, SshPool

        options.setdefault("known_hosts", [self.known_hosts_path])
        options.setdefault("client_keys", [self.client_key_path])
        options.setdefault("config", None)
        options.setdefault("backoff", Backoff(base=0.05, cap=0.2))
        options.setdefault("connect_timeout", 5.0)
        pool = SshPool(hosts, **options)
        self.pools.append(pool)
        return pool

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()
        for server in self.servers:
            await server.stop()


@pytest.fixture
async def ssh_servers(tmp_path) -> AsyncIterator[SshServers]:
    """Factory of in-process SSH servers (see the module docstring); everything is stopped afterwards."""
    factory = SshServers(tmp_path / "ssh")
    try:
        yield factory
    finally:
        await factory.close()


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 that delays every chunk by `delay` seconds in each direction.

    Order is kept and throughput is not limited: it models a network path's latency, not its bandwidth.
    """

    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = 0
        # Cleared by freeze(): data stops flowing both ways but sockets stay open, like a cable pulled
        # out (nothing tells either side; only keepalives can notice).
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> LatencyProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_w), (up_r, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.flowing.wait()
                dst.write(data)
                await dst.drain()
            dst.close()

        sender = loop.create_task(deliver())
        try:
            while True:
                data = await src.read(65536)
                queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        except (asyncio.CancelledError, ConnectionError):
            sender.cancel()
            dst.close()
