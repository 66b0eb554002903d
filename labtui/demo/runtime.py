"""The embedded demo lab, running: state on disk, SSH servers on loopback, emulators on PATH, a ticker.

    async with DemoLab() as demo:
        pool = demo.make_pool()   # labtui's SSH pool on the lab's servers
        ...                       # the face builds its app over it (labtui.tui.assemble.demo_sources)

Nothing here needs network, root or Nix. Deploys run the deploy-rs/nixos-rebuild emulators
(labtui.sim.emulators) found first on PATH, which change the same host state the SSH servers answer
from: a deploy moves a host to a new generation, printer-pi's breaks ssh and rolls back after its
confirm timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtui.demo.flake import write_flake
from labtui.demo.inventory import demo_inventory
from labtui.demo.lab import DEFAULT_HOST_COUNT, create_demo_lab, fleet_specs
from labtui.demo.resolve import DemoResolver
from labtui.demo.ticker import run_ticker
from labtui.errors import UserError
from labtui.inventory.model import Inventory
from labtui.paths import state_dir
from labtui.runs.client import DetachedRun
from labtui.runs.journal import Journal
from labtui.sim.emulators import install_emulators
from labtui.sim.server import SimSshServers
from labtui.sim.state import SimLab
from labtui.ssh.pool import SshPool

# Seconds per deploy stage in the demo: a deploy takes about 12 s, a magic rollback 8 s more.
DEMO_STAGE_SECONDS = {"check": 1.5, "eval": 1.5, "build": 4.0, "push": 2.5, "activate": 2.5, "confirm": 0.5}

HOSTS_START_TIMEOUT = 60.0  # 500 hosts' keys and listeners on a busy machine
HOSTS_STOP_TIMEOUT = 5.0

_LABTUI_WRAPPER = """#!{python}
# labtui, as the demo's shell runs it (labtui demo --shell); written by the demo.
import sys
sys.path.insert(0, {root!r})
from labtui.cli.main import main
sys.exit(main())
"""


def _import_path() -> str:
    """This labtui's import path, for the subprocesses the demo starts (whatever installed it)."""
    root = str(Path(__file__).resolve().parents[2])
    current = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{current}" if current else root


def install_labtui(bin_dir: Path) -> None:
    """`labtui` on the demo shell's PATH: this very labtui, run by this interpreter."""
    path = bin_dir / "labtui"
    path.write_text(_LABTUI_WRAPPER.format(python=sys.executable, root=str(Path(__file__).resolve().parents[2])))
    path.chmod(0o755)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def default_root(hosts: int = DEFAULT_HOST_COUNT) -> Path:
    """Where `labtui demo` keeps its lab between runs: the user's state directory, one lab per size."""
    return state_dir() / ("demo" if hosts == DEFAULT_HOST_COUNT else f"demo-{hosts}")


class DemoLab:
    """The demo lab, kept in `root` between runs (hosts' state, journal, keys); `reset` starts it afresh.

    hosts: how many simulated hosts (the cast of seven first, then generated ones: labtui.demo.lab).
    separate_process: the hosts' SSH servers run in a process of their own (labtui.demo.hosts), as
        real hosts would; False serves them from this process (tests).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, hosts: int = DEFAULT_HOST_COUNT,
                 now: float | None = None, ticker: bool = True, reset: bool = False,
                 separate_process: bool = True) -> None:
        self.root = Path(root) if root is not None else default_root(hosts)
        self.specs = fleet_specs(hosts)
        self.now = now
        self.with_ticker = ticker
        self.reset = reset
        self.separate_process = separate_process
        self.lab: SimLab | None = None
        self.servers: SimSshServers | None = None  # in-process servers (separate_process=False)
        self._hosts_process: asyncio.subprocess.Process | None = None
        self.ports: dict[str, int] = {}
        self.inventory: Inventory | None = None
        self.env: dict[str, str] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._saved_env: dict[str, str | None] = {}
        self.pool: SshPool | None = None
        self._runtime_dir: str | None = None
        self._flake_paths: dict[str, str | None] = {}

    @property
    def flake_dir(self) -> Path:
        return self.root / "flake"

    @property
    def client_key_path(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.root / "ssh" / "known_hosts"

    @property
    def created(self) -> bool:
        """The lab's hosts exist already (a previous run's state is there to be used)."""
        return all((self.root / "hosts" / f"{spec.name}.json").is_file() for spec in self.specs)

    async def start(self) -> DemoLab:
        if self.reset:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # hosts' state, keys and journal: the user's alone
        now = self.now if self.now is not None else time.time()
        self.lab = SimLab(self.root / "hosts")
        missing = [spec for spec in self.specs if not (self.root / "hosts" / f"{spec.name}.json").is_file()]
        if missing:  # a fresh lab, or hosts added (--dir of a smaller lab): the rest keeps its state
            create_demo_lab(self.root / "hosts", now=now, specs=tuple(missing))
        self._runtime_dir = tempfile.mkdtemp(prefix="labtui-run-")
        names = [spec.name for spec in self.specs]
        if self.separate_process:
            await self._start_hosts_process(names)
        else:
            self.servers = SimSshServers(self.lab, self.root / "ssh", names)
            await self.servers.start()
            self.ports = {h: self.servers.port(h) for h in names}
            if self.with_ticker:
                self._ticker = asyncio.get_running_loop().create_task(run_ticker(self.lab))
        self.inventory = demo_inventory(self.flake_dir, self.ports, self.client_key_path, self.known_hosts_path,
                                        self.specs)
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        install_emulators(bin_dir)
        install_labtui(bin_dir)
        # Deploys (and their detached supervisors) are subprocesses: they learn about the lab from the
        # environment. The journal goes into the demo directory, not the operator's real history.
        scenario = self.root / "scenario.json"
        scenario.write_text(json.dumps(self._scenario(), indent=2))
        self.env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "LABTUI_SIM_LAB": str(self.lab.root),
            "LABTUI_SIM_SCENARIO": str(scenario),
            "XDG_STATE_HOME": str(self.root / "state"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            # Control sockets live here: a short path of its own (AF_UNIX paths are limited to ~107 bytes).
            "XDG_RUNTIME_DIR": self._runtime_dir,
        }
        for sub in ("state", "cache"):
            (self.root / sub).mkdir(exist_ok=True)
        with _environ(XDG_CACHE_HOME=self.env["XDG_CACHE_HOME"]):
            write_flake(self.flake_dir, self.specs, self.ports, self.client_key_path, self.known_hosts_path,
                        self.flake_path)
        return self

    async def _start_hosts_process(self, names: list[str]) -> None:
        assert self._runtime_dir is not None
        argv = [sys.executable, "-m", "labtui.demo.hosts", str(self.root / "hosts"), str(self.root / "ssh"),
                "--cleanup", self._runtime_dir]
        if self.with_ticker:
            argv.append("--ticker")
        if self.lab is not None and set(self.lab.names()) != set(names):  # a --dir with more hosts
            argv += [arg for name in names for arg in ("--host", name)]
        log = open(self.root / "hosts.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            # A session of its own: the terminal's signals are the TUI's business; it ends when its stdin
            # (held by this process) closes.
            self._hosts_process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                start_new_session=True, env={**os.environ, "PYTHONPATH": _import_path()})
        finally:
            log.close()
        assert self._hosts_process.stdout is not None
        try:
            line = await asyncio.wait_for(self._hosts_process.stdout.readline(), HOSTS_START_TIMEOUT)
            self.ports = {str(k): int(v) for k, v in json.loads(line)["ports"].items()}
        except (TimeoutError, ValueError, KeyError) as exc:
            await self._stop_hosts_process()
            raise UserError(f"the demo's simulated hosts did not start ({exc or 'no answer'}); "
                            f"see {self.root / 'hosts.log'}") from None

    async def _stop_hosts_process(self) -> None:
        proc, self._hosts_process = self._hosts_process, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), HOSTS_STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def _scenario(self) -> dict[str, Any]:
        """The emulators' settings: stage durations of a quick demo, the demo's timeouts in real seconds."""
        assert self.lab is not None and self.inventory is not None
        nodes = {}
        for host in self.inventory.hosts:
            sim = self.lab.load(host.name)
            profile = host.system_profile
            assert profile is not None
            nodes[host.name] = {
                "hostname": host.hostname,
                "scenario": "push-fails" if not sim.reachable else sim.next_deploy,
                "ssh_user": profile.ssh_user,
                "user": profile.user,
                "ssh_opts": list(profile.ssh_opts),
                "confirm_timeout": profile.confirm_timeout,
                "activation_timeout": profile.activation_timeout,
                "durations": DEMO_STAGE_SECONDS,
            }
        # time_scale 1: the timeouts deploy-rs prints are the seconds that really pass (countdowns match).
        return {"time_scale": 1.0, "nodes": nodes}

    def apply_env(self) -> None:
        """Put the demo's environment into os.environ (the demo process only; close() restores it)."""
        for key, value in self.env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def flake_path(self, host: str) -> str | None:
        """What the demo 'flake' builds for `host` (the drift resolver). Read once per host: the simulated flake
        never changes while the demo runs (deploys move generations, not the flake), and the poller asks for
        every host every 30 s (reading the host's whole state each time was a tenth of its CPU at 500 hosts)."""
        assert self.lab is not None
        if host not in self._flake_paths:
            try:
                self._flake_paths[host] = self.lab.load(host).flake_path
            except FileNotFoundError:
                return None
        return self._flake_paths[host]

    def make_pool(self) -> SshPool:
        assert self.inventory is not None
        self.pool = SshPool(self.inventory.hosts, known_hosts=[self.known_hosts_path],
                            client_keys=[self.client_key_path], config=None,
                            keepalive_between_polls_only=True)
        return self.pool

    def resolver(self) -> DemoResolver:
        """Flake-path resolver for the status poller, answering from the simulated flake."""
        return DemoResolver(self.flake_path)

    def _cancel_demo_deploys(self) -> None:
        """Deploys left running in the demo die with it: their lab is about to be removed."""
        state = self.env.get("XDG_STATE_HOME")
        if not state or os.environ.get("XDG_STATE_HOME") != state:
            return  # not this demo's journal
        try:
            journal = Journal.open()
            try:
                for run in journal.running_runs():
                    with contextlib.suppress(Exception):
                        DetachedRun(run.run_id).cancel()
            finally:
                journal.close()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass

    async def close(self) -> None:
        self._cancel_demo_deploys()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.close()
        if self.servers is not None:
            await self.servers.close()
        await self._stop_hosts_process()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    async def __aenter__(self) -> DemoLab:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
