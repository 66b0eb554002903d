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
import tempfile
import time
from pathlib import Path
from typing import Any

from labtui.demo.inventory import demo_inventory
from labtui.demo.lab import create_demo_lab
from labtui.demo.resolve import DemoResolver
from labtui.demo.ticker import run_ticker
from labtui.inventory.model import Inventory
from labtui.runs.client import DetachedRun
from labtui.runs.journal import Journal
from labtui.sim.emulators import install_emulators
from labtui.sim.server import SimSshServers
from labtui.sim.state import SimLab
from labtui.ssh.pool import SshPool

# Seconds per deploy stage in the demo: a deploy takes about 12 s, a magic rollback 8 s more.
DEMO_STAGE_SECONDS = {"check": 1.5, "eval": 1.5, "build": 4.0, "push": 2.5, "activate": 2.5, "confirm": 0.5}

FLAKE_README = """This directory stands in for the flake of labtui's embedded demo lab.
The hosts are simulated (labtui.demo); deploys run emulators of deploy-rs and nixos-rebuild.
"""


class DemoLab:
    def __init__(self, root: str | os.PathLike[str] | None = None, *, now: float | None = None,
                 ticker: bool = True, keep: bool = False) -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="labtui-demo-"))
        self.now = now
        self.with_ticker = ticker
        self.keep = keep
        self.lab: SimLab | None = None
        self.servers: SimSshServers | None = None
        self.inventory: Inventory | None = None
        self.env: dict[str, str] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._saved_env: dict[str, str | None] = {}
        self.pool: SshPool | None = None
        self._runtime_dir = tempfile.mkdtemp(prefix="labtui-run-")

    @property
    def flake_dir(self) -> Path:
        return self.root / "flake"

    async def start(self) -> DemoLab:
        self.lab = create_demo_lab(self.root / "hosts", now=self.now if self.now is not None else time.time())
        self.servers = SimSshServers(self.lab, self.root / "ssh")
        await self.servers.start()
        self.flake_dir.mkdir(parents=True, exist_ok=True)
        (self.flake_dir / "README").write_text(FLAKE_README)
        ports = {h: self.servers.port(h) for h in self.servers.hosts}
        self.inventory = demo_inventory(self.flake_dir, ports, self.servers.client_key_path,
                                        self.servers.known_hosts_path)
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        install_emulators(bin_dir)
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
        if self.with_ticker:
            self._ticker = asyncio.get_running_loop().create_task(run_ticker(self.lab))
        return self

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
        """What the demo 'flake' builds for `host` (the drift resolver)."""
        assert self.lab is not None
        try:
            return self.lab.load(host).flake_path
        except FileNotFoundError:
            return None

    def make_pool(self) -> SshPool:
        assert self.inventory is not None and self.servers is not None
        self.pool = SshPool(self.inventory.hosts, known_hosts=[self.servers.known_hosts_path],
                            client_keys=[self.servers.client_key_path], config=None,
                            keepalive_interval=2.0, keepalive_count_max=2, connect_timeout=3.0)
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
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self._runtime_dir, ignore_errors=True)
        if self._own_root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    async def __aenter__(self) -> DemoLab:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
