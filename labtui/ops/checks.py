"""Health checks: is a unit active, does a URL answer, does a port accept, does a command pass,
are disk, memory and load below their thresholds.

morph's model: each check has a `period`, a per-attempt `timeout` and `retries`; a failing check is
tried again every period until it passes or its retries are used up (1 + retries attempts in all).
HTTP and TCP checks run from the jump host (this machine); the others run one small command on the host.
Results stream as each check finishes, so a slow check never hides a fast failure.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from labtui.inventory.model import CheckSpec, Host
from labtui.ops.clock import REAL_CLOCK, Clock
from labtui.ops.retry import is_transient
from labtui.ssh.api import RemoteShell, SshError

USER_KINDS = ("unit", "http", "tcp", "command", "disk", "memory", "load")
# Thresholds when a check leaves them out (the same defaults labtui.inventory.config fills in).
DEFAULT_MAX_PERCENT = 90.0
DEFAULT_MAX_PER_CPU = 2.0
FAILED_UNITS_KIND = "failed-units"  # built in: the post-deploy gate adds it, users cannot declare it
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")
_MOUNT_RE = re.compile(r"^/[^\x00\n]*$")


@dataclass(frozen=True)
class CheckResult:
    host: str
    check: str  # the check's name
    kind: str
    ok: bool
    attempts: int
    message: str  # why it failed, or what passed ("active", "HTTP 200", "disk / 41% <= 90%")
    duration: float  # seconds, all attempts included

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "check": self.check, "kind": self.kind, "ok": self.ok,
                "attempts": self.attempts, "message": self.message, "duration": round(self.duration, 3)}


class CheckFailed(Exception):
    """One attempt failed; the message says why in a few words. `permanent`: retrying cannot help
    (wrong SSH settings, keys or host key), so the check stops at once."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# ---------------------------------------------------------------------------------------------
# Validation (semantics; the inventory loader validates the TOML schema and adds file and line)


def _number(params: dict, key: str, *, required: bool, low: float, high: float | None = None) -> str | None:
    value = params.get(key)
    if value is None:
        return f"`{key}` is required" if required else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"`{key}` must be a number, not {value!r}"
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        return f"`{key}` must be {bound}, not {value!r}"
    return None


def validate_check(spec: CheckSpec) -> str | None:
    """What is wrong with a check definition (one line, without file/line), or None when it is usable."""
    p = dict(spec.params)
    if spec.kind not in USER_KINDS:
        return f"check `{spec.name}`: unknown kind `{spec.kind}`; use one of {', '.join(USER_KINDS)}"
    problem: str | None = None
    if spec.period <= 0 or spec.timeout <= 0:
        problem = "`period` and `timeout` must be positive"
    elif spec.retries < 0:
        problem = "`retries` must be 0 or more"
    elif spec.kind == "unit":
        unit = p.get("unit")
        if not isinstance(unit, str) or not _UNIT_RE.match(unit) or unit.startswith("-"):
            problem = f"`unit` must be a systemd unit name such as `nginx.service`, not {unit!r}"
    elif spec.kind == "http":
        url = p.get("url")
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.hostname:
            problem = f"`url` must be an http:// or https:// URL with a host, not {url!r}"
        else:
            problem = _number(p, "status", required=False, low=100, high=599)
            body = p.get("body")
            if problem is None and body is not None:
                if not isinstance(body, str):
                    problem = "`body` must be a regular expression string"
                else:
                    try:
                        re.compile(body)
                    except re.error as exc:
                        problem = f"`body` is not a valid regular expression ({exc})"
    elif spec.kind == "tcp":
        problem = _number(p, "port", required=True, low=1, high=65535)
        if problem is None and not isinstance(p["port"], int):
            problem = "`port` must be a whole number"
        host = p.get("host")
        if problem is None and host is not None and (not isinstance(host, str) or not host or host.startswith("-")):
            problem = f"`host` must be a host name or address, not {host!r}"
    elif spec.kind == "command":
        command = p.get("command")
        if not isinstance(command, str) or not command.strip():
            problem = "`command` must be a non-empty shell command"
    elif spec.kind == "disk":
        mount = p.get("mount", "/")
        if not isinstance(mount, str) or not _MOUNT_RE.match(mount):
            problem = f"`mount` must be an absolute path, not {mount!r}"
        else:
            problem = _number(p, "max_percent", required=False, low=0, high=100)
    elif spec.kind == "memory":
        problem = _number(p, "max_percent", required=False, low=0, high=100)
    elif spec.kind == "load":
        problem = _number(p, "max_per_cpu", required=False, low=0)
    return f"check `{spec.name}` ({spec.kind}): {problem}" if problem else None


# ---------------------------------------------------------------------------------------------
# Remote commands (also answered by labtui.sim.ops)


def unit_command(unit: str) -> str:
    return f"systemctl is-active -- {shlex.quote(unit)}"


def disk_command(mount: str) -> str:
    return f"df -Pk -- {shlex.quote(mount)}"


MEMORY_COMMAND = "cat /proc/meminfo"
LOAD_COMMAND = "cat /proc/loadavg && nproc"
FAILED_UNITS_COMMAND = "systemctl list-units --state=failed --plain --no-legend --no-pager"


def parse_failed_units(stdout: str) -> frozenset[str]:
    units = set()
    for line in stdout.splitlines():
        fields = line.replace("●", " ").split()
        if fields:
            units.add(fields[0])
    return frozenset(units)


def parse_df(stdout: str) -> float:
    """Used percent from `df -Pk` (second line, fifth column like `41%`)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) < 2:
        raise CheckFailed("df printed no usage line")
    fields = lines[-1].split()
    try:
        used, avail = int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        raise CheckFailed(f"unexpected df output: {lines[-1]!r}") from None
    # df's own percent rounds up and counts reserved blocks; used/(used+avail) is what users see.
    return 100.0 * used / (used + avail) if used + avail else 0.0


def parse_meminfo(stdout: str) -> float:
    values: dict[str, int] = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0])
    total, avail = values.get("MemTotal"), values.get("MemAvailable")
    if not total or avail is None:
        raise CheckFailed("no MemTotal/MemAvailable in /proc/meminfo")
    return 100.0 * (total - avail) / total


def parse_load(stdout: str) -> tuple[float, int]:
    lines = stdout.split("\n")
    try:
        load1 = float(lines[0].split()[0])
        cpus = int(lines[1].strip())
    except (IndexError, ValueError):
        raise CheckFailed(f"unexpected load output: {stdout.strip()!r}") from None
    return load1, max(cpus, 1)


# ---------------------------------------------------------------------------------------------
# One attempt of each kind


async def _remote(shell: RemoteShell, host: str, command: str, timeout: float):
    try:
        return await shell.run(host, command, timeout=timeout)
    except SshError as exc:
        raise CheckFailed(exc.message, permanent=not is_transient(exc)) from None


async def _attempt_unit(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    unit = str(spec.params["unit"])
    result = await _remote(shell, host.name, unit_command(unit), spec.timeout)
    state = result.stdout.strip() or "unknown"
    if result.ok and state == "active":
        return f"{unit} active"
    raise CheckFailed(f"{unit} is {state}")


def _http_get(url: str, timeout: float, insecure: bool) -> tuple[int, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # the expected status may be a 30x: report it as is
            return None

    context = ssl.create_default_context()
    if insecure:  # `insecure = true`: a lab's self-signed certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers={"User-Agent": "labtui-check"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1 << 20) if exc.fp else b""
    except urllib.error.URLError as exc:
        raise CheckFailed(f"{url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise CheckFailed(f"{url}: {exc}") from None


async def _attempt_http(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    url = str(spec.params["url"])
    expected = int(spec.params.get("status", 200))  # type: ignore[arg-type]
    status, body = await asyncio.to_thread(_http_get, url, spec.timeout, bool(spec.params.get("insecure", False)))
    if status != expected:
        raise CheckFailed(f"{url} answered HTTP {status}, expected {expected}")
    pattern = spec.params.get("body")
    if pattern and not re.search(str(pattern), body.decode("utf-8", "replace")):
        raise CheckFailed(f"{url} body does not match /{pattern}/")
    return f"HTTP {status}" + (f", body matches /{pattern}/" if pattern else "")


async def _attempt_tcp(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    target = str(spec.params.get("host") or host.hostname)
    port = int(spec.params["port"])  # type: ignore[arg-type]
    try:
        _, writer = await asyncio.open_connection(target, port)
    except OSError as exc:
        raise CheckFailed(f"{target}:{port} refused ({exc.strerror or exc})") from None
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return f"{target}:{port} accepts"


async def _attempt_command(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    command = str(spec.params["command"])
    result = await _remote(shell, host.name, command, spec.timeout)
    if result.ok:
        return "exit 0"
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    status = "killed" if result.exit_status is None else f"exit {result.exit_status}"
    raise CheckFailed(f"{status}: {tail[0]}".rstrip(": "))


def _threshold(what: str, value: float, limit: float, unit: str = "%") -> str:
    text = f"{what} {value:.0f}{unit} (max {limit:g}{unit})" if unit == "%" else f"{what} {value:.2f} (max {limit:g})"
    if value > limit:
        raise CheckFailed(text)
    return text


async def _attempt_disk(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    mount = str(spec.params.get("mount", "/"))
    result = await _remote(shell, host.name, disk_command(mount), spec.timeout)
    if not result.ok:
        raise CheckFailed(f"df {mount}: {result.stderr.strip() or 'failed'}")
    return _threshold(f"disk {mount}", parse_df(result.stdout), float(spec.params.get("max_percent", DEFAULT_MAX_PERCENT)))  # type: ignore[arg-type]


async def _attempt_memory(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    result = await _remote(shell, host.name, MEMORY_COMMAND, spec.timeout)
    if not result.ok:
        raise CheckFailed(f"/proc/meminfo: {result.stderr.strip() or 'unreadable'}")
    return _threshold("memory", parse_meminfo(result.stdout), float(spec.params.get("max_percent", DEFAULT_MAX_PERCENT)))  # type: ignore[arg-type]


async def _attempt_load(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    result = await _remote(shell, host.name, LOAD_COMMAND, spec.timeout)
    if not result.ok:
        raise CheckFailed(f"load: {result.stderr.strip() or 'unreadable'}")
    load1, cpus = parse_load(result.stdout)
    return _threshold("load per cpu", load1 / cpus, float(spec.params.get("max_per_cpu", DEFAULT_MAX_PER_CPU)), unit="")  # type: ignore[arg-type]


async def _attempt_failed_units(host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
    before = frozenset(spec.params.get("before", ()))  # type: ignore[arg-type]
    result = await _remote(shell, host.name, FAILED_UNITS_COMMAND, spec.timeout)
    if not result.ok:
        reason = result.stderr.strip().splitlines()[:1] or [f"exit {result.exit_status}"]
        raise CheckFailed(f"cannot list failed units: {reason[0]}")
    new = sorted(parse_failed_units(result.stdout) - before)
    if new:
        raise CheckFailed("new failed units: " + ", ".join(new))
    return "no new failed units" + (f" ({len(before)} failed before)" if before else "")


_ATTEMPTS = {
    "unit": _attempt_unit, "http": _attempt_http, "tcp": _attempt_tcp, "command": _attempt_command,
    "disk": _attempt_disk, "memory": _attempt_memory, "load": _attempt_load,
    FAILED_UNITS_KIND: _attempt_failed_units,
}


def failed_units_check(before: Iterable[str], *, period: float = 2.0, timeout: float = 5.0,
                       retries: int = 3) -> CheckSpec:
    """The built-in post-deploy check: fails when units failed that had not failed before the deploy."""
    return CheckSpec(kind=FAILED_UNITS_KIND, name="no new failed units", params={"before": sorted(before)},
                     period=period, timeout=timeout, retries=retries)


async def snapshot_failed_units(shell: RemoteShell, host: str, timeout: float = 10.0) -> frozenset[str] | None:
    """The host's failed units now, or None when it cannot be asked."""
    try:
        result = await shell.run(host, FAILED_UNITS_COMMAND, timeout=timeout)
    except SshError:
        return None
    if not result.ok:  # no systemd (or no bus): nothing to compare against
        return None
    return parse_failed_units(result.stdout)


# ---------------------------------------------------------------------------------------------
# Running checks


async def run_check(host: Host, spec: CheckSpec, shell: RemoteShell, *, clock: Clock = REAL_CLOCK) -> CheckResult:
    """Try `spec` until it passes or 1 + retries attempts failed, `period` apart; each attempt gets `timeout`."""
    attempt_fn = _ATTEMPTS.get(spec.kind)
    start = clock.monotonic()
    if attempt_fn is None:
        return CheckResult(host.name, spec.name, spec.kind, False, 0, f"unknown check kind `{spec.kind}`", 0.0)
    attempts = 0
    message = ""
    while True:
        attempts += 1
        try:
            message = await asyncio.wait_for(attempt_fn(host, spec, shell), spec.timeout)
            ok = True
        except CheckFailed as exc:
            message, ok = str(exc), False
            if exc.permanent:
                break
        except TimeoutError:
            message, ok = f"no answer within {spec.timeout:g} s", False
        if ok or attempts > spec.retries:
            break
        await clock.sleep(spec.period)
    return CheckResult(host.name, spec.name, spec.kind, ok, attempts, message, clock.monotonic() - start)


async def run_checks(host: Host, shell: RemoteShell, specs: Sequence[CheckSpec] | None = None, *,
                     clock: Clock = REAL_CLOCK) -> AsyncIterator[CheckResult]:
    """Run the host's checks (or `specs`) concurrently; yield each result as it finishes."""
    specs = host.checks if specs is None else specs
    async for result in _as_completed([run_check(host, s, shell, clock=clock) for s in specs]):
        yield result


async def run_fleet_checks(hosts: Sequence[Host], shell: RemoteShell, *,
                           clock: Clock = REAL_CLOCK) -> AsyncIterator[CheckResult]:
    """Every check of every host, concurrently, streamed as they finish."""
    coros = [run_check(h, s, shell, clock=clock) for h in hosts for s in h.checks]
    async for result in _as_completed(coros):
        yield result


async def _as_completed(coros: list) -> AsyncIterator[CheckResult]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
