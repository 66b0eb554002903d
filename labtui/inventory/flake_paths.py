"""What the flake would deploy to a host, as store paths, for drift detection.

Evaluating (not building) a NixOS system's toplevel costs seconds per host, so the inventory never does
it; the status poller asks here, in the background, and gets answers cached per flake revision (in
memory and on disk). Failures never raise: the poller gets None and `reasons[host]` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Any

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.inventory.cache import JsonCache, SourceState, source_state
from labtui.inventory.flakeref import FlakeRef, resolve_flake
from labtui.inventory.model import Host, Inventory
from labtui.inventory.nix import attr_path, nix_argv, nix_timeout, stderr_tail

# How long a computed fingerprint is trusted: a poll of 20 hosts asks at once; git runs once.
_STATE_TTL = 2.0
# After a failure that may pass (timeout, nix missing), ask nix again after this many seconds.
RETRY_AFTER = 60.0


@dataclass(frozen=True)
class FlakePaths:
    profile_path: str | None  # outPath of deploy.nodes.<n>.profiles.<system profile>.path
    toplevel: str | None  # outPath of nixosConfigurations.<n>.config.system.build.toplevel
    reason: str | None = None  # why one of the two is missing although the host has it


class FlakePathResolver:
    """Evaluates hosts' system store paths lazily; `await system_paths(host)` from any task."""

    def __init__(self, flake: str | FlakeRef, *, concurrency: int = 2, timeout: float | None = None,
                 log: CommandLog = COMMAND_LOG) -> None:
        self.flake = flake if isinstance(flake, FlakeRef) else resolve_flake(flake)
        self.timeout = timeout if timeout is not None else nix_timeout()
        self.reasons: dict[str, str] = {}  # host name -> why system_paths returned None (or a partial answer)
        self.evaluations = 0  # nix processes started (tests and the command log panel use it)
        self._log = log
        self._limit = asyncio.Semaphore(concurrency)
        self._state: tuple[float, SourceState] | None = None
        # (fingerprint, host) -> (answer, monotonic time after which to ask again, or None: never)
        self._memory: dict[tuple[str, str], tuple[FlakePaths | None, float | None]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[FlakePaths | None]] = {}
        self._disk = JsonCache("flake-paths", self.flake)
        self._disk_data: dict[str, dict[str, dict[str, Any]]] = {}  # fingerprint -> host -> FlakePaths fields

    @classmethod
    def for_inventory(cls, inventory: Inventory, **kwargs: Any) -> FlakePathResolver:
        return cls(inventory.flake_dir or inventory.flake, **kwargs)

    async def system_paths(self, host: Host) -> FlakePaths | None:
        """Store paths the flake would deploy to `host` now; None (see `reasons`) when none can be had."""
        try:
            fingerprint = await self._fingerprint()
            key = (fingerprint, host.name)
            if key in self._memory:
                answer, expires = self._memory[key]
                if expires is None or time.monotonic() < expires:
                    return answer
            cached = self._from_disk(fingerprint, host.name)
            if cached is not None:
                self._memory[key] = (cached, None)
                return cached
            if key not in self._inflight:
                self._inflight[key] = asyncio.ensure_future(self._resolve(fingerprint, host))
            return await asyncio.shield(self._inflight[key])
        except Exception as exc:  # the poller must never see an exception from here
            self.reasons[host.name] = f"could not evaluate the flake: {exc}"
            return None

    def invalidate(self) -> None:
        """Forget in-memory answers (the disk cache is keyed by revision and stays valid)."""
        self._memory.clear()
        self._state = None

    async def _fingerprint(self) -> str:
        now = time.monotonic()
        if self._state is None or now - self._state[0] > _STATE_TTL:
            state = await asyncio.to_thread(source_state, self.flake)
            self._state = (now, state)
        # Remote flakes: answers last for this resolver's life (nix caches fetches the same way).
        return self._state[1].fingerprint or "remote"

    def _from_disk(self, fingerprint: str, host: str) -> FlakePaths | None:
        if fingerprint == "remote":
            return None
        if fingerprint not in self._disk_data:
            self._disk_data[fingerprint] = self._disk.load(fingerprint) or {}
        entry = self._disk_data[fingerprint].get(host)
        return FlakePaths(**entry) if isinstance(entry, dict) else None

    async def _resolve(self, fingerprint: str, host: Host) -> FlakePaths | None:
        key = (fingerprint, host.name)
        try:
            paths, complete = await self._evaluate(host)
            self._memory[key] = (paths, None if complete else time.monotonic() + RETRY_AFTER)
            if paths is not None and complete and fingerprint != "remote":
                self._disk_data.setdefault(fingerprint, {})[host.name] = asdict(paths)
                self._disk.store(fingerprint, self._disk_data[fingerprint])
            if paths is not None and paths.reason is None:
                self.reasons.pop(host.name, None)
            return paths
        finally:
            self._inflight.pop(key, None)

    async def _evaluate(self, host: Host) -> tuple[FlakePaths | None, bool]:
        """(answer, complete): `complete` is False when a failure may be transient (timeout, no nix)."""
        profile = host.system_profile if host.in_deploy else None
        wanted = []
        if profile is not None:
            wanted.append(("profile", attr_path("deploy", "nodes", host.name, "profiles", profile.name, "path")))
        if host.in_nixos_configurations:
            wanted.append(("toplevel", attr_path("nixosConfigurations", host.name, "config", "system", "build",
                                                 "toplevel")))
        elif host.colmena is not None and host.colmena.has_hive:  # Colmena's eval.nix exports every node's toplevel
            wanted.append(("toplevel", attr_path("colmenaHive", "toplevel", host.name)))
        if not wanted:
            self.reasons[host.name] = ("a Colmena node's system is evaluated through a colmenaHive output "
                                       "(colmena.lib.makeHive) or nixosConfigurations, and the flake has neither"
                                       if host.colmena is not None else
                                       "the host has neither a deploy-rs profile nor a nixosConfigurations entry")
            return None, True
        found: dict[str, str | None] = {"profile": None, "toplevel": None}
        problems: list[str] = []
        complete = True
        for what, attribute in wanted:
            path, problem, transient = await self._eval_one(attribute)
            found[what] = path
            if problem:
                problems.append(f"{attribute}: {problem}")
                complete = complete and not transient
        reason = "; ".join(problems) or None
        if reason:
            self.reasons[host.name] = reason
        if found["profile"] is None and found["toplevel"] is None:
            return None, complete
        return FlakePaths(found["profile"], found["toplevel"], reason), complete

    async def _eval_one(self, attribute: str) -> tuple[str | None, str | None, bool]:
        """(store path, problem, transient) of one `nix eval --raw`."""
        if shutil.which("nix") is None:
            return None, "`nix` is not installed", True
        argv = nix_argv("eval", "--raw", "--no-write-lock-file", f"{self.flake.nix_ref}#{attribute}",
                        "--apply", "toString")
        async with self._limit:
            self._log.local(argv)
            self.evaluations += 1
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
            except (TimeoutError, asyncio.CancelledError):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                return None, f"nix eval took longer than {self.timeout:g} s", True
        if proc.returncode != 0:
            tail = stderr_tail(stderr.decode(errors="replace"), 3).strip()
            return None, " ".join(line.strip() for line in tail.splitlines() if line.strip()) or \
                f"nix eval failed (exit {proc.returncode})", False
        path = stdout.decode().strip()
        if not path.startswith("/nix/store/"):
            return None, f"not a store path: {path[:80]!r}", False
        return path, None, False
