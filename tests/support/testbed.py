"""The testbed: fake NixOS hosts (../shared/testbed) for integration tests with the real deploy-rs and nixos-rebuild.

Use the `testbed` fixture (function-scoped; the hosts themselves live for the whole session). tests/conftest.py
registers both fixtures for the whole suite: never import them into a test module (pytest would make a second session
fixture there, and a second testbed would wait for the first one's lock).

    @pytest.mark.testbed
    def test_something(testbed):
        tag = testbed.flake.configure()          # a new system for every host (a new generation on deploy)
        before = testbed.state("host1")          # the truth, read inside the host's namespaces
        proc = testbed.labtui("deploy", "host1", "--yes", "--json")
        assert testbed.state("host1").generation == before.next_generation

The session fixture (`testbed_session`) takes `flock /tmp/labtui-testbed.lock` (one testbed per machine), brings up
`HOSTS` hosts with their own Nix store and sshd (`up.sh`, about 1.5 s), writes one flake for both tools (deploy-rs's
example flake from `../shared/deploy-rs/example/make-flake.sh`, with short timeouts and `nixosConfigurations` added
for nixos-rebuild), deploys every host once with deploy-rs (so a rollback re-activates a deploy-rs generation), and at
the end always tears everything down (`down.sh`) and deletes the store paths the session built. The function fixture
undoes every fault before and after each test (`Testbed.reset`).

The shared tools are found beside the repository (`../shared`, or beside one of its parent directories: a git
worktree lives one level deeper) unless `LABTUI_SHARED` names them. The real `deploy` comes from PATH (`.ci/run` puts
`../shared/deploy-rs/bin` first) or else from the shared tools. Without root, the shared tools or a real deploy-rs the
tests skip, except under `CI=true`, where they fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support import in_ci, real_program

REPO = Path(__file__).resolve().parents[2]
LOCK_PATH = "/tmp/labtui-testbed.lock"
LOCK_WAIT = 900.0  # seconds to wait for another testbed user (a helper's session) to finish
HOSTS = 3
DELAY_MS = 30  # non-zero: the links are netwire TAP devices, which can be cut and slowed
CONFIRM_TIMEOUT = 10  # the flake's confirmTimeout: a magic rollback takes this long
ACTIVATION_TIMEOUT = 30  # the flake's activationTimeout: orphaned `activate wait` sessions end after this
CONNECT_TIMEOUT = 4  # ssh -o ConnectTimeout in the flake's sshOpts: a host that is down fails this fast
NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false"
# One-shot fault files in a host's state directory (the host's /run/testbed; ../shared/testbed, make-flake.sh).
FAULT_FILES = ("fail-switch", "fail-activate", "break-confirm", "kill-session", "kill-session-now", "switch-delay")


def unavailable(why: str) -> NoReturn:
    """Skip the test (fail it under CI=true): the testbed cannot run here."""
    message = f"testbed unavailable: {why}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def find_shared() -> Path | None:
    """The shared tools: $LABTUI_SHARED, else `shared/` beside the repository or beside one of its parents."""
    given = os.environ.get("LABTUI_SHARED")
    candidates = [Path(given)] if given else [parent / "shared" for parent in REPO.resolve().parents]
    for candidate in candidates:
        if (candidate / "testbed" / "up.sh").is_file() and (candidate / "deploy-rs" / "example").is_dir():
            return candidate.resolve()
    return None


def real_deploy(shared: Path) -> Path | None:
    """The real deploy-rs `deploy`: the first on PATH if it is deploy-rs (not an emulator), else the shared one."""
    return real_program([shutil.which("deploy"), str(shared / "deploy-rs" / "bin" / "deploy")], "deploy-rs ")


def _run(argv: Sequence[str | os.PathLike[str]], *, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass(frozen=True, repr=False)
class DeployOutput:
    """What `labtui deploy --json` did: its exit code, its events, its stderr."""

    code: int
    events: list[dict[str, Any]]
    stderr: str
    times: list[float] = field(default_factory=list)  # when each event arrived, in seconds from the start

    def results(self) -> dict[str, dict[str, Any]]:
        """The last node_result of each node (a later one supersedes: revoke, the after-probe)."""
        return {e["node"]: e for e in self.events if e["event"] == "node_result"}

    def outcome(self, node: str) -> str:
        return str(self.results()[node]["outcome"])

    def of(self, kind: str, node: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind and (node is None or e.get("node") == node)]

    @property
    def run(self) -> dict[str, Any]:
        (result,) = self.of("run_result")
        return result

    def __str__(self) -> str:
        times = self.times or [0.0] * len(self.events)
        lines = [f"{t:6.1f} {json.dumps(e)}" for t, e in zip(times, self.events, strict=False)
                 if e["event"] != "output"]
        return f"exit {self.code}\n" + "\n".join(lines) + "\nstderr:\n" + self.stderr

    __repr__ = __str__  # what pytest shows of an assertion's message


@dataclass(frozen=True)
class HostState:
    """A host's system as read inside its namespaces (not what any tool says)."""

    generation: int | None  # the system profile's generation (system-N-link)
    path: str  # what that generation points to
    current_system: str  # /run/current-system (what runs now)
    booted_system: str  # /run/booted-system
    generations: dict[int, str] = field(default_factory=dict)  # every generation: number -> store path

    @property
    def next_generation(self) -> int:
        """The number Nix gives the profile's next new generation: one above the highest. A rollback (`labtui
        rollback`, a health gate's) keeps the newer generations, so this can be above `generation + 1`."""
        return max(self.generations, default=0) + 1


_STATE_SCRIPT = r"""cd /nix/var/nix/profiles || exit 1
printf 'profile\t%s\n' "$(readlink system)"
printf 'path\t%s\n' "$(readlink -f system)"
printf 'current\t%s\n' "$(readlink /run/current-system)"
printf 'booted\t%s\n' "$(readlink /run/booted-system)"
for l in system-*-link; do [ -L "$l" ] && printf 'gen\t%s\t%s\n' "$l" "$(readlink "$l")"; done
exit 0"""


class Flake:
    """The session's flake (a git repository, as flakes need): deploy.nodes for deploy-rs, nixosConfigurations for
    nixos-rebuild, both built from the same `settings.nix`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def configure(self, *, fail_build: Sequence[str] = (), eval_error: Sequence[str] = (),
                  fail_check: bool = False) -> str:
        """New settings, committed: a fresh tag (every host gets a new system path, hence a new generation on the
        next deploy) and the faults asked for (build failure, evaluation error, failing `nix flake check`)."""
        tag = "t-" + uuid.uuid4().hex[:10]
        names = " ".join(json.dumps(h) for h in fail_build)
        errors = " ".join(json.dumps(h) for h in eval_error)
        (self.path / "settings.nix").write_text(
            f'{{ tag = "{tag}"; failBuild = [ {names} ]; evalError = [ {errors} ]; '
            f'failCheck = {"true" if fail_check else "false"}; }}\n')
        _run(["git", "-C", self.path, "-c", "user.email=testbed@localhost", "-c", "user.name=testbed",
              "commit", "-qam", tag])
        return tag


class Testbed:
    """A running testbed and what tests do with it."""

    __test__ = False  # not a test class, though test modules import it

    def __init__(self, shared: Path, root: Path, deploy: Path) -> None:
        self.shared = shared
        self.root = root
        self.dir = root / "tb"
        self.flake = Flake(root / "flake")
        self.hosts = [f"host{i}" for i in range(1, HOSTS + 1)]
        self.deploy_bin = deploy.parent
        self.nixos_rebuild_bin = shared / "nixos-rebuild"
        self.built: set[str] = set()  # store paths this session built (deleted at the end)
        self._up = False

    # ---- the environment tools and labtui run in ------------------------------------------------------------

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with the real deploy-rs and nixos-rebuild first on PATH."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(self.deploy_bin), str(self.nixos_rebuild_bin), env.get("PATH", "")])
        env["NIX_CONFIG"] = NIX_CONFIG
        env.pop("LABTUI_SIM_SCENARIO", None)
        return env

    def labtui(self, *args: str, timeout: float = 240.0, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`labtui --flake FLAKE ARGS...` as the operator runs it (its own process, its supervisor detached)."""
        return subprocess.run([sys.executable, "-m", "labtui", "--flake", str(self.flake.path), *args], cwd=REPO,
                              env=self.env(), capture_output=True, text=True, timeout=timeout,
                              input=input if input is not None else "")

    def deploy_json(self, *args: str, input: str = "", on_event: Callable[[dict[str, Any]], None] | None = None,
                    timeout: float = 240.0) -> DeployOutput:
        """`labtui --flake FLAKE deploy ARGS... --json`, its events read as they come (`on_event` may act on the
        testbed meanwhile: cut a link when the confirm window opens)."""
        argv = [sys.executable, "-m", "labtui", "--flake", str(self.flake.path), "deploy", *args, "--json"]
        with tempfile.TemporaryFile("w+") as stderr:
            proc = subprocess.Popen(argv, cwd=REPO, env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, text=True)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(input)
            proc.stdin.close()
            events: list[dict[str, Any]] = []
            times: list[float] = []
            start = time.monotonic()
            deadline = start + timeout
            try:
                for line in proc.stdout:
                    if line.startswith("{"):
                        event = json.loads(line)
                        events.append(event)
                        times.append(time.monotonic() - start)
                        if on_event is not None:
                            on_event(event)
                    if time.monotonic() > deadline:
                        raise AssertionError(f"labtui deploy {' '.join(args)} ran over {timeout} s")
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            stderr.seek(0)
            return DeployOutput(code, events, stderr.read(), times)

    def deploy_rs(self, *args: str, timeout: float = 240.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real `deploy` in the flake's directory (targets as `.#hostN`)."""
        return _run(["deploy", *args], env=self.env(), cwd=self.flake.path, timeout=timeout, check=check)

    # ---- bring-up and teardown ---------------------------------------------------------------------------------

    def up(self) -> None:
        env = {**os.environ, "TB_DIR": str(self.dir), "TB_DELAY_MS": str(DELAY_MS), "TB_NIX": "1", "TB_SMOKE": "0"}
        self._up = True  # from here on, down() has something to undo even if up.sh fails half way
        _run([self.shared / "testbed" / "up.sh", str(len(self.hosts))], env=env, timeout=120)
        self._write_flake()

    def _write_flake(self) -> None:
        """make-flake.sh's deploy-rs flake, plus short timeouts, a short ssh connect timeout and
        nixosConfigurations (a plain testbed system and the nixos-rebuild script it re-executes)."""
        path = self.flake.path
        _run([self.shared / "deploy-rs" / "example" / "make-flake.sh", path, self.dir, str(len(self.hosts))],
             timeout=60)
        shutil.copy(self.nixos_rebuild_bin / "nixos-rebuild", path / "nixos-rebuild.sh")
        text = (path / "flake.nix").read_text()
        patches = {
            'sshOpts = [ "-F" ': f'sshOpts = [ "-o" "ConnectTimeout={CONNECT_TIMEOUT}" "-F" ',
            "profiles.system = {": (f"confirmTimeout = {CONFIRM_TIMEOUT}; activationTimeout = {ACTIVATION_TIMEOUT};\n"
                                    "        profiles.system = {"),
            "    in {\n": "    in {\n" + _NIXOS_CONFIGURATIONS.replace("@HOSTS@", " ".join(
                f'{h} = mkConfig "{h}";' for h in self.hosts)),
        }
        for anchor, replacement in patches.items():
            if text.count(anchor) != 1:
                raise RuntimeError(f"make-flake.sh's flake.nix changed: cannot find {anchor!r} once in it")
            text = text.replace(anchor, replacement)
        (path / "flake.nix").write_text(text)
        _run(["git", "-C", path, "add", "-A"])
        self.flake.configure()

    def prime(self, hosts: Sequence[str] | None = None) -> None:
        """Deploy hosts with deploy-rs (only those whose running system is not a deploy-rs profile): a rollback then
        re-activates a deploy-rs generation, as on a host that deploy-rs manages."""
        hosts = [h for h in (hosts or self.hosts) if not self._runs_deploy_rs_profile(h)]
        if not hosts:
            return
        self.flake.configure()
        targets = [f".#{h}" for h in hosts]
        self.deploy_rs("-s", *(["--targets", *targets] if len(targets) > 1 else targets))
        self.settle(hosts)

    def _runs_deploy_rs_profile(self, host: str) -> bool:
        script = "if test -x /nix/var/nix/profiles/system/deploy-rs-activate; then echo yes; fi"
        return self.in_host(host, script).strip() == "yes"

    def down(self) -> None:
        """Stop everything (also after a failed bring-up), then delete what the session built in the store."""
        if self._up:
            self.built |= self._generation_paths()
            subprocess.run([str(self.shared / "testbed" / "down.sh")], env={**os.environ, "TB_DIR": str(self.dir)},
                           capture_output=True, text=True, timeout=120)
            self._up = False
        self._delete_built()
        shutil.rmtree(self.root, ignore_errors=True)

    def _generation_paths(self) -> set[str]:
        paths: set[str] = set()
        for host in self.hosts:
            try:
                paths |= set(self.state(host).generations.values())
            except Exception:  # a host that did not come up
                continue
        return paths

    def _delete_built(self) -> None:
        """Delete the systems the session built (each with what only it references), one path at a time: paths still
        referenced elsewhere (the testbed's own systems, other users' builds) stay."""
        if not self.built:
            return
        env = {**os.environ, "NIX_CONFIG": NIX_CONFIG}
        for _ in range(3):  # a few passes: a path's dependencies go once it is gone
            closure = subprocess.run(["nix-store", "-qR", *sorted(self.built)], capture_output=True, text=True,
                                     env=env, timeout=60).stdout.split()
            deleted = False
            for path in closure:
                if not any(marker in path for marker in ("activatable-", "nixos-system-host", "-source")):
                    continue  # shared with every user of the example (activate, kernel stubs)
                proc = subprocess.run(["nix-store", "--delete", path], capture_output=True, env=env, timeout=60)
                deleted |= proc.returncode == 0
            if not deleted:
                break

    # ---- the truth, read inside a host -------------------------------------------------------------------------

    def sshd_pid(self, host: str) -> int:
        for line in (self.dir / "manifest").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "pid" and parts[3] == f"sshd-{host}":
                return int(parts[1])
        raise KeyError(host)

    def in_host(self, host: str, script: str, timeout: float = 30.0) -> str:
        """Run `script` with /bin/sh inside the host's network and mount namespaces (as the host sees itself)."""
        pid = self.sshd_pid(host)
        return _run(["nsenter", f"--net=/run/netns/tb-{host}", f"--mount=/proc/{pid}/ns/mnt", "--",
                     "/bin/sh", "-c", script], timeout=timeout).stdout

    def state(self, host: str) -> HostState:
        marks: dict[str, str] = {}
        gens: dict[int, str] = {}
        for line in self.in_host(host, _STATE_SCRIPT).splitlines():
            parts = line.split("\t")
            if parts[0] == "gen" and len(parts) == 3:
                gens[int(parts[1].removeprefix("system-").removesuffix("-link"))] = parts[2]
            elif len(parts) == 2:
                marks[parts[0]] = parts[1]
        profile = marks.get("profile", "")
        number = profile.removeprefix("system-").removesuffix("-link")
        return HostState(generation=int(number) if number.isdigit() else None, path=marks.get("path", ""),
                         current_system=marks.get("current", ""), booted_system=marks.get("booted", ""),
                         generations=gens)

    def switches(self, host: str) -> list[tuple[str, str]]:
        """Every switch-to-configuration call on the host so far: (action, system path)."""
        log = self.dir / host / "state" / "switch.log"
        calls = []
        for line in log.read_text().splitlines() if log.exists() else []:
            parts = line.split()
            if len(parts) == 3:
                calls.append((parts[1], parts[2]))
        return calls

    def processes(self, host: str) -> list[str]:
        """Command lines of the processes in the host's namespace, but its sshd."""
        main = self.sshd_pid(host)
        out = _run(["ip", "netns", "pids", f"tb-{host}"], check=False).stdout.split()
        found = []
        for pid in (int(p) for p in out):
            if pid == main:
                continue
            try:
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
            except OSError:
                continue
        return found

    def wait_switches(self, host: str, count: int, timeout: float = 60.0) -> list[tuple[str, str]]:
        """Wait until the host ran `count` switch-to-configuration calls in all (its switch.log), then return them."""
        deadline = time.monotonic() + timeout
        while len(calls := self.switches(host)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{host}: {len(calls)} switches after {timeout} s, expected {count}: {calls}")
            time.sleep(0.1)  # the host writes a file: poll it (no inotify in the standard library)
        return calls

    def wait_process(self, host: str, cmdline: str, timeout: float = 60.0) -> None:
        """Wait until a process with exactly this command line runs in the host (e.g. `sleep 8`: the switch stub
        read its switch-delay and sleeps; its switch.log line comes before that read, so it is no sign of it)."""
        deadline = time.monotonic() + timeout
        while cmdline not in self.processes(host):
            if time.monotonic() > deadline:
                raise AssertionError(f"{host}: no `{cmdline}` after {timeout} s: {self.processes(host)}")
            time.sleep(0.05)  # polling the host's process list: there is no event to wait on

    def busy(self, host: str) -> list[str]:
        """What may still change the host: anything but sshd sessions and an orphaned `activate wait` (it only waits
        for the canary file, up to the activation timeout, and changes nothing)."""
        return [p for p in self.processes(host) if not p.startswith("sshd:") and "/bin/activate wait " not in p]

    def settle(self, hosts: Sequence[str] | None = None, timeout: float = 90.0) -> None:
        """Wait until nothing runs on the hosts that could still change them (a target's own rollback)."""
        deadline = time.monotonic() + timeout
        hosts = list(hosts or self.hosts)
        while any(self.busy(h) for h in hosts):
            if time.monotonic() > deadline:
                raise AssertionError(f"hosts still busy after {timeout} s: "
                                     f"{ {h: self.busy(h) for h in hosts} }")
            time.sleep(0.2)  # polling the host's process list: there is no event to wait on

    # ---- faults ------------------------------------------------------------------------------------------------

    def fault(self, host: str, name: str, content: str = "") -> None:
        """Arm a fault on a host (FAULT_FILES; see ../shared/deploy-rs/example/make-flake.sh)."""
        assert name in FAULT_FILES, name
        (self.dir / host / "state" / name).write_text(content)

    def fault_off(self, host: str, name: str) -> None:
        (self.dir / host / "state" / name).unlink(missing_ok=True)

    def link(self, host: str, *, down: bool | None = None, delay_ms: int | None = None) -> None:
        """Cut or restore a host's link, or slow it."""
        settings = []
        if down is not None:
            settings.append(f"down={'true' if down else 'false'}")
        if delay_ms is not None:
            settings.append(f"delay_ms={delay_ms}")
        _run([sys.executable, self.shared / "testbed" / "netwire.py", "set", self.dir / "netwire.json", host,
              *settings])

    def reset(self) -> None:
        """Undo every fault: state files, a broken authorized_keys, canary files, link settings; settle the hosts."""
        for host in self.hosts:
            hd = self.dir / host
            for name in FAULT_FILES:
                (hd / "state" / name).unlink(missing_ok=True)
            broken = hd / "home" / ".ssh" / "authorized_keys.broken"
            if broken.exists():
                broken.replace(hd / "home" / ".ssh" / "authorized_keys")
            for canary in (hd / "tmp").glob("deploy-rs-canary*"):
                canary.unlink(missing_ok=True)
        self.link("all", down=False, delay_ms=DELAY_MS)
        self.settle()
        self.built |= self._generation_paths()


_NIXOS_CONFIGURATIONS = """      # nixos-rebuild: a plain testbed system, and the script it re-executes
      # (config.system.build.nixos-rebuild).
      nixosConfigurations = let
        mkConfig = host: { config.system.build = {
          toplevel = if builtins.elem host (settings.evalError or [ ]) then throw "testbed: evaluation error in ${host}"
            else if builtins.elem host (settings.failBuild or [ ]) then brokenSystem host else mkSystem host;
          nixos-rebuild = builtins.derivation {
            name = "nixos-rebuild"; inherit system; builder = "/bin/sh";
            args = [ "-c" ("PATH=/usr/bin:/bin; mkdir -p $out/bin; cp $script $out/bin/nixos-rebuild; "
              + "chmod 555 $out/bin/nixos-rebuild") ];
            script = ./nixos-rebuild.sh;
          };
        }; };
        brokenSystem = host: builtins.derivation {
          name = "nixos-system-${host}-broken"; inherit system; builder = "/bin/sh";
          tag = settings.tag;
          args = [ "-c" "echo 'testbed: building the system of ${host} fails' >&2; exit 1" ];
        };
      in { @HOSTS@ };
"""


class _Lock:
    """`flock /tmp/labtui-testbed.lock` for the session (one testbed per machine)."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    unavailable(f"{LOCK_PATH} is held by another testbed user for over {LOCK_WAIT:.0f} s")
                time.sleep(0.5)  # another session holds the testbed: flock has no timeout of its own
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def _requirements() -> tuple[Path, Path]:
    if os.geteuid() != 0:
        unavailable("needs root (network and mount namespaces)")
    shared = find_shared()
    if shared is None:
        unavailable("no ../shared/testbed beside the repository (or set LABTUI_SHARED)")
    for tool in ("nix", "nix-store", "nsenter", "ip", "git", "ssh"):
        if shutil.which(tool) is None:
            unavailable(f"`{tool}` is not installed; .ci/run installs nix-bin and openssh")
    if not (Path("/usr/sbin/sshd").exists() or shutil.which("sshd")):
        unavailable("`sshd` is not installed; .ci/run installs openssh-server")
    deploy = real_deploy(shared)
    if deploy is None:
        unavailable("no real deploy-rs `deploy` on PATH or in ../shared/deploy-rs/bin")
    if not (shared / "nixos-rebuild" / "nixos-rebuild").exists():
        unavailable("no ../shared/nixos-rebuild/nixos-rebuild")
    return shared, deploy


_ACTIVE: list[Testbed] = []  # the session's testbed, once up (a second instance of the fixture reuses it)


@pytest.fixture(scope="session")
def testbed_session() -> Iterator[Testbed]:
    if _ACTIVE:
        yield _ACTIVE[0]
        return
    shared, deploy = _requirements()
    lock = _Lock()
    lock.acquire()
    bed = Testbed(shared, Path(tempfile.mkdtemp(prefix="labtui-testbed-")), deploy)
    previous = signal.getsignal(signal.SIGTERM)
    # A SIGTERM to pytest must still reach the teardown (KeyboardInterrupt already does).
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        bed.up()
        bed.prime()
        _ACTIVE.append(bed)
        yield bed
    finally:
        _ACTIVE.clear()
        try:
            bed.down()
        finally:
            signal.signal(signal.SIGTERM, previous)
            lock.release()


@pytest.fixture
def testbed(testbed_session: Testbed) -> Iterator[Testbed]:
    """The session's testbed with no fault armed, hosts settled; faults are undone again after the test."""
    testbed_session.reset()
    yield testbed_session
    testbed_session.reset()
