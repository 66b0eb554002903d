"""Real SSH servers on loopback for the simulated hosts (the demo lab and the TUI tests).

One asyncssh server per simulated host, each on its own random 127.0.0.1 port with its own host key,
so labtui's real SSH client (SshPool, with strict host-key checking) and OpenSSH's `ssh` both talk to
them exactly as they would to a real machine. Every command is answered by
`labtui.sim.shell.dispatch(lab, host, command)`; streaming answers (journalctl -f) stream until the
client closes the channel. A host whose state says `reachable: false` stops listening, so clients get
"connection refused", and its open connections are dropped, like a machine that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from labtui.sim.handlers import SimResult
from labtui.sim.probe import probe_output
from labtui.sim.shell import dispatch
from labtui.sim.state import SimLab
from labtui.status.probe import FOLLOW_SCRIPT, is_follow_command

LOOPBACK = "127.0.0.1"
# How often the servers look at the lab state to follow hosts going down and coming back.
REACHABILITY_PERIOD = 0.25
# How long a finished command waits for the client to close stdin before exiting anyway.
STDIN_GRACE = 0.5


@dataclass(frozen=True)
class SimEndpoint:
    host: str
    port: int
    host_key_line: str  # public key as in known_hosts, without the host field


class _HostServer(asyncssh.SSHServer):
    """Accepts any user holding the lab's client key; remembers live connections for drops."""

    def __init__(self, owner: SimSshServers, host: str) -> None:
        self._owner = owner
        self._host = host
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._connections.setdefault(self._host, set()).add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._connections.get(self._host, set()).discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # auth is required: public key only

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False


class SimSshServers:
    """SSH servers for every host of a SimLab, with the client key and known_hosts to reach them.

    Usage:
        servers = SimSshServers(lab, keys_dir)
        await servers.start()
        servers.port("grey-area"), servers.client_key_path, servers.known_hosts_path
        ...
        await servers.close()
    """

    def __init__(self, lab: SimLab, keys_dir: str | os.PathLike[str], hosts: list[str] | None = None) -> None:
        self.lab = lab
        self.keys_dir = Path(keys_dir)
        self.hosts = list(hosts) if hosts is not None else lab.names()
        self.client_key_path = self.keys_dir / "id_ed25519"
        self.known_hosts_path = self.keys_dir / "known_hosts"
        self._host_keys: dict[str, asyncssh.SSHKey] = {}
        self._ports: dict[str, int] = {}
        self._listeners: dict[str, asyncssh.SSHAcceptor] = {}
        self._connections: dict[str, set[asyncssh.SSHServerConnection]] = {}
        self._authorized: asyncssh.SSHAuthorizedKeys | None = None
        self._monitor: asyncio.Task[None] | None = None

    # -- setup ---------------------------------------------------------------------------------
    def _make_keys(self) -> None:
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        if self.client_key_path.exists():
            client_key = asyncssh.read_private_key(str(self.client_key_path))
        else:
            client_key = asyncssh.generate_private_key("ssh-ed25519", comment="labtui-demo")
            client_key.write_private_key(str(self.client_key_path))
            client_key.write_public_key(str(self.client_key_path) + ".pub")
        os.chmod(self.client_key_path, 0o600)  # OpenSSH refuses keys others can read
        self._authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
        for host in self.hosts:
            self._host_keys[host] = asyncssh.generate_private_key("ssh-ed25519", comment=f"root@{host}")

    async def start(self) -> None:
        self._make_keys()
        for host in self.hosts:
            # Listen even for hosts that start down, to reserve their port; the monitor closes it.
            await self._listen(host)
        self._write_known_hosts()
        await self._follow_reachability()
        self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def _listen(self, host: str) -> None:
        acceptor = await asyncssh.listen(
            LOOPBACK,
            self._ports.get(host, 0),
            server_factory=lambda: _HostServer(self, host),
            server_host_keys=[self._host_keys[host]],
            authorized_client_keys=self._authorized,
            process_factory=lambda process: self._serve(host, process),
            encoding="utf-8",
            reuse_address=True,
            keepalive_interval=0,
        )
        self._listeners[host] = acceptor
        self._ports.setdefault(host, acceptor.sockets[0].getsockname()[1])

    def _write_known_hosts(self) -> None:
        lines = [f"[{LOOPBACK}]:{self._ports[h]} {self.host_key_line(h)}" for h in self.hosts]
        self.known_hosts_path.write_text("\n".join(lines) + "\n")

    # -- reachability ---------------------------------------------------------------------------
    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(REACHABILITY_PERIOD)
            with contextlib.suppress(Exception):  # a half-written state file: look again next time
                await self._follow_reachability()

    async def _follow_reachability(self) -> None:
        for host in self.hosts:
            reachable = self.lab.load(host).reachable
            listening = host in self._listeners
            if reachable and not listening:
                await self._listen(host)
            elif not reachable and listening:
                acceptor = self._listeners.pop(host)
                acceptor.close()
                # Drop the connections before waiting: since Python 3.12.1 wait_closed() waits for them.
                for conn in list(self._connections.get(host, ())):
                    conn.abort()
                await acceptor.wait_closed()

    # -- answering -------------------------------------------------------------------------------
    async def _serve(self, host: str, process: asyncssh.SSHServerProcess[str]) -> None:
        try:
            if process.command is None:
                await self._interactive_shell(host, process)
                return
            status = await self._answer(host, process.command, process)
            process.exit(status)
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
            process.exit(130)
        except (BrokenPipeError, ConnectionError, asyncssh.DisconnectError):
            # The client went away (e.g. it stopped following a journal): nothing left to answer.
            process.close()

    async def _answer(self, host: str, command: str, process: asyncssh.SSHServerProcess[str]) -> int:
        if is_follow_command(command):
            await self._follow_probe(host, process)
            return 0
        answer = dispatch(self.lab, host, command)
        if isinstance(answer, Awaitable):
            answer = await self._until_closed(answer, process)
        if isinstance(answer, SimResult):
            if answer.stdout:
                process.stdout.write(answer.stdout)
            if answer.stderr:
                process.stderr.write(answer.stderr)
            await self._drain_stdin(process)
            return answer.exit_status
        await self._stream(answer, process)
        return 0

    async def _follow_probe(self, host: str, process: asyncssh.SSHServerProcess[str]) -> None:
        """The following probe (labtui.status.probe.FOLLOW_SCRIPT) as `sh` runs it: once the script has
        come, a report at once, then one per line read, until stdin ends."""
        last_line = FOLLOW_SCRIPT.rstrip("\n").rsplit("\n", 1)[-1] + "\n"
        try:
            await process.stdin.readuntil(last_line)
        except asyncio.IncompleteReadError:
            return  # the client left before sending the whole script
        while True:
            process.stdout.write(probe_output(self.lab.load(host)))
            await process.stdout.drain()
            if not await process.stdin.readline():
                return

    @staticmethod
    async def _until_closed(work: Awaitable[SimResult], process: asyncssh.SSHServerProcess[str]) -> SimResult:
        """A command that takes time, cancelled if its session drops first (as a host's sshd ends it)."""
        running = asyncio.ensure_future(work)
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            await asyncio.wait({running, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
        if running.cancelled():
            raise ConnectionError("the session closed while the command ran")
        return running.result()

    @staticmethod
    async def _drain_stdin(process: asyncssh.SSHServerProcess[str]) -> None:
        """Take what the client sends on stdin (the probe script) before exiting, like sh would.

        Exiting first makes the client's write fail ("channel not open"). Clients that never close
        stdin (an interactive `ssh host cmd`) get their answer after a short grace instead."""
        async def drain() -> None:
            while await process.stdin.read(65536):
                pass

        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(drain(), STDIN_GRACE)

    @staticmethod
    async def _stream(lines: AsyncIterator[str], process: asyncssh.SSHServerProcess[str]) -> None:
        """Write lines as they come until the answer ends or the client closes the channel."""

        async def pump() -> None:
            async for line in lines:
                process.stdout.write(line + "\n")
                await process.stdout.drain()

        pumping = asyncio.ensure_future(pump())
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            await asyncio.wait({pumping, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pumping, closed):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pumping
            aclose = getattr(lines, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        failure = pumping.exception() if pumping.done() and not pumping.cancelled() else None
        if failure is not None:
            raise failure

    async def _interactive_shell(self, host: str, process: asyncssh.SSHServerProcess[str]) -> None:
        """`ssh HOST` without a command: a tiny line shell answering through the same handlers."""
        prompt = f"[root@{host}:~]# "
        process.stdout.write(f"Simulated NixOS host {host} (labtui demo). Type `exit` to leave.\r\n{prompt}")
        async for raw in process.stdin:
            line = raw.strip()
            if line in ("exit", "logout"):
                break
            if line:
                answer = dispatch(self.lab, host, line)
                if isinstance(answer, Awaitable):
                    answer = await answer
                if isinstance(answer, SimResult):
                    process.stdout.write((answer.stdout + answer.stderr).replace("\n", "\r\n"))
                else:
                    process.stdout.write("(streaming commands are not supported in this shell)\r\n")
            process.stdout.write(prompt)
        process.exit(0)

    # -- queries -----------------------------------------------------------------------------------
    def port(self, host: str) -> int:
        return self._ports[host]

    def host_key_line(self, host: str) -> str:
        return self._host_keys[host].export_public_key().decode().strip()

    def endpoints(self) -> list[SimEndpoint]:
        return [SimEndpoint(h, self._ports[h], self.host_key_line(h)) for h in self.hosts]

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for acceptor in self._listeners.values():
            acceptor.close()
        # Drop the connections before waiting: since Python 3.12.1 wait_closed() waits for them.
        for conns in self._connections.values():
            for conn in list(conns):
                conn.abort()
        for acceptor in list(self._listeners.values()):
            with contextlib.suppress(Exception):
                await acceptor.wait_closed()
        self._listeners.clear()

    async def __aenter__(self) -> SimSshServers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

