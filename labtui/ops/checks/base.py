"""What a check kind is: its parameters (labtui.toml schema), their validation, and one attempt.

A kind is a class with a `name`, a `params` schema, `problem(params)` for what the types cannot say, and
`attempt(host, spec, shell)` that returns what passed or raises CheckFailed. The registry
(labtui.ops.checks.registry.CHECK_KINDS) is the one list of kinds; labtui.toml's schema reads it
(labtui.inventory.schema), and labtui.ops.checks.run runs any kind the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.ops.retry import is_transient
from labtui.ssh.api import CommandResult, RemoteShell, SshError
from labtui.text import clip


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


MAX_MESSAGE = 1024  # characters of a check's one-line reason


class CheckFailed(Exception):
    """One attempt failed; the message says why in a few words. `permanent`: retrying cannot help
    (wrong SSH settings, keys or host key), so the check stops at once."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(clip(message, MAX_MESSAGE))  # it may quote the host's output
        self.permanent = permanent


class CheckKind(ABC):
    """One kind of health check. Stateless: one instance in the registry."""

    name: ClassVar[str]
    params: ClassVar[Mapping[str, Param]] = {}
    declarable: ClassVar[bool] = True  # False: built in (labtui adds it), labtui.toml may not declare it

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        """What is wrong with typed parameters (defaults filled in) beyond their types, else None."""
        return None

    def complete(self, params: Mapping[str, object], hostname: str) -> dict[str, object]:
        """The parameters for one host; by default as declared."""
        return dict(params)

    def default_name(self, params: Mapping[str, object]) -> str:
        """The check's name when labtui.toml gives none."""
        return self.name

    @abstractmethod
    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        """One try: what passed ("nginx.service active"), or CheckFailed saying why not."""


# ---- helpers for kinds -----------------------------------------------------------------------------------


async def remote(shell: RemoteShell, host: str, command: str, timeout: float) -> CommandResult:
    """Run `command` on the host; an SSH failure is a failed attempt (permanent when retrying cannot help)."""
    try:
        return await shell.run(host, command, timeout=timeout)
    except SshError as exc:
        raise CheckFailed(exc.message, permanent=not is_transient(exc)) from None


def number(params: Mapping[str, object], key: str) -> float:
    """A numeric parameter (the schema made sure it is one)."""
    value = params[key]
    assert isinstance(value, (int, float))
    return float(value)


def threshold(what: str, value: float, limit: float, unit: str = "%") -> str:
    """"disk / 41% (max 90%)" when `value` is within `limit`, else CheckFailed with the same text."""
    text = f"{what} {value:.0f}{unit} (max {limit:g}{unit})" if unit == "%" else f"{what} {value:.2f} (max {limit:g})"
    if value > limit:
        raise CheckFailed(text)
    return text


def percent_problem(params: Mapping[str, object], key: str = "max_percent") -> ParamProblem | None:
    value = number(params, key)
    return None if 0 < value <= 100 else ParamProblem(key, f"must be between 0 and 100, got {params[key]!r}")
