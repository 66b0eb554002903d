"""Running checks: morph's model, whatever the kind.

Each check has a `period`, a per-attempt `timeout` and `retries`; a failing check is tried again every
period until it passes or its retries are used up (1 + retries attempts in all). Results stream as each
check finishes, so a slow check never hides a fast failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from labtui.inventory.config import MAX_CHECK_PERIOD, MAX_CHECK_RETRIES, MAX_CHECK_TIMEOUT
from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import type_problem
from labtui.ops.checks.base import CheckFailed, CheckResult
from labtui.ops.checks.registry import CHECK_KINDS
from labtui.ops.clock import REAL_CLOCK, Clock
from labtui.ssh.api import RemoteShell


def validate_check(spec: CheckSpec) -> str | None:
    """What is wrong with a check definition (one line, without file/line), or None when it is usable.

    labtui.toml's loader checks the same (with file and line); this covers checks built in Python."""
    declarable = [k.name for k in CHECK_KINDS if k.declarable]
    if spec.kind not in CHECK_KINDS:
        return f"check `{spec.name}`: unknown kind `{spec.kind}`; use one of {', '.join(declarable)}"
    kind = CHECK_KINDS.get(spec.kind)
    problem: str | None = None
    if not (0 < spec.period <= MAX_CHECK_PERIOD and 0 < spec.timeout <= MAX_CHECK_TIMEOUT):
        problem = (f"`period` and `timeout` must be more than 0 and at most {MAX_CHECK_PERIOD:g} and "
                   f"{MAX_CHECK_TIMEOUT:g} seconds, got {spec.period!r} and {spec.timeout!r}")
    elif not 0 <= spec.retries <= MAX_CHECK_RETRIES:
        problem = f"`retries` must be between 0 and {MAX_CHECK_RETRIES}, got {spec.retries!r}"
    else:
        params: dict[str, object] = {}
        for key, param in kind.params.items():
            value = spec.params.get(key)
            if value is None:
                if param.required:
                    problem = f"`{key}` is required"
                    break
                value = param.default
            else:
                wrong = type_problem(key, param, value)
                if wrong is not None:
                    problem = f"`{wrong.key}` {wrong.text}"
                    break
            params[key] = value
        else:
            found = kind.problem(params)
            problem = f"`{found.key}` {found.text}" if found is not None else None
    return f"check `{spec.name}` ({spec.kind}): {problem}" if problem else None


async def run_check(host: Host, spec: CheckSpec, shell: RemoteShell, *, clock: Clock = REAL_CLOCK) -> CheckResult:
    """Try `spec` until it passes or 1 + retries attempts failed, `period` apart; each attempt gets `timeout`."""
    start = clock.monotonic()
    if spec.kind not in CHECK_KINDS:
        return CheckResult(host.name, spec.name, spec.kind, False, 0, f"unknown check kind `{spec.kind}`", 0.0)
    kind = CHECK_KINDS.get(spec.kind)
    attempts = 0
    message = ""
    while True:
        attempts += 1
        try:
            message = await asyncio.wait_for(kind.attempt(host, spec, shell), spec.timeout)
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


async def _as_completed(coros: list[Coroutine[Any, Any, CheckResult]]) -> AsyncIterator[CheckResult]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
