"""`disk`, `memory`, `load`: a resource of the host below its threshold (one small command each)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.ops.checks.base import CheckFailed, CheckKind, number, percent_problem, remote, threshold
from labtui.ssh.api import RemoteShell

DEFAULT_MAX_PERCENT = 90
DEFAULT_MAX_PER_CPU = 2.0
MEMORY_COMMAND = "cat /proc/meminfo"
LOAD_COMMAND = "cat /proc/loadavg && nproc"
_MOUNT_RE = re.compile(r"^/[^\x00\n]*$")


def disk_command(mount: str) -> str:
    return f"df -Pk -- {shlex.quote(mount)}"


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


class Disk(CheckKind):
    name = "disk"
    params = {"mount": Param((str,), "/"), "max_percent": Param((int, float), DEFAULT_MAX_PERCENT, bounds=(0, 100))}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        mount = params["mount"]
        if not isinstance(mount, str) or not _MOUNT_RE.match(mount):
            return ParamProblem("mount", f"must be an absolute path, got {mount!r}")
        return percent_problem(params)

    def default_name(self, params: Mapping[str, object]) -> str:
        return f"disk {params['mount']}"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        mount = str(spec.params.get("mount", "/"))
        result = await remote(shell, host.name, disk_command(mount), spec.timeout)
        if not result.ok:
            raise CheckFailed(f"df {mount}: {result.stderr.strip() or 'failed'}")
        limit = number(spec.params, "max_percent") if "max_percent" in spec.params else DEFAULT_MAX_PERCENT
        return threshold(f"disk {mount}", parse_df(result.stdout), limit)


class Memory(CheckKind):
    name = "memory"
    params = {"max_percent": Param((int, float), DEFAULT_MAX_PERCENT, bounds=(0, 100))}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        return percent_problem(params)

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        result = await remote(shell, host.name, MEMORY_COMMAND, spec.timeout)
        if not result.ok:
            raise CheckFailed(f"/proc/meminfo: {result.stderr.strip() or 'unreadable'}")
        limit = number(spec.params, "max_percent") if "max_percent" in spec.params else DEFAULT_MAX_PERCENT
        return threshold("memory", parse_meminfo(result.stdout), limit)


class Load(CheckKind):
    name = "load"
    params = {"max_per_cpu": Param((int, float), DEFAULT_MAX_PER_CPU, bounds=(0, 1000))}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        if number(params, "max_per_cpu") <= 0:
            return ParamProblem("max_per_cpu", f"must be more than 0, got {params['max_per_cpu']!r}")
        return None

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        result = await remote(shell, host.name, LOAD_COMMAND, spec.timeout)
        if not result.ok:
            raise CheckFailed(f"load: {result.stderr.strip() or 'unreadable'}")
        load1, cpus = parse_load(result.stdout)
        limit = number(spec.params, "max_per_cpu") if "max_per_cpu" in spec.params else DEFAULT_MAX_PER_CPU
        return threshold("load per cpu", load1 / cpus, limit, unit="")
