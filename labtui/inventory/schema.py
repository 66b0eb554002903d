"""What labtui.toml may name beyond its fixed keys: deploy methods and check kinds.

The inventory is the bottom layer, so it cannot import the registries that know them
(labtui.deploy.methods.METHODS, labtui.ops.checks.CHECK_KINDS); the caller that loads the inventory hands
them over as a `ConfigSchema` (labtui.cli.common.config_schema). The registries' entries fit the two
protocols below, so a new method or check kind is validated in labtui.toml without touching this layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from labtui.inventory.model import Host


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: object = _Required()  # a Param's default when the key must be given


@dataclass(frozen=True)
class Param:
    """One parameter of a check kind in labtui.toml: its TOML types and default (REQUIRED: must be given).

    A number needs `bounds` (lowest, highest, both allowed): TOML reads `nan`, `inf` and `1e308` as numbers, and
    a value no host or person means (a timeout of 1e308 s, 1e11 retries) must be refused, not silently used."""

    types: tuple[type, ...]
    default: object = REQUIRED
    example: str = ""  # how to write it, shown when it is missing: 'e.g. url = "https://web1.lan/health"'
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if (int in self.types or float in self.types) and self.bounds is None:
            raise TypeError("a numeric check parameter needs bounds=(lowest, highest)")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class ParamProblem:
    """What is wrong with one parameter, to be shown as "`key` <where> text" (text: "must be 1-65535, got 0")."""

    key: str
    text: str


def type_text(types: tuple[type, ...]) -> str:
    """How a value of `types` is described to a person: "a number", "a string"..."""
    if float in types:
        return "a number"
    return {str: "a string", bool: "true or false", int: "a whole number", list: "a list"}.get(
        types[0], types[0].__name__)


def type_problem(key: str, param: Param, value: object) -> ParamProblem | None:
    """A value of the wrong type (bool is no number here, though Python says it is an int), or a number out of the
    parameter's bounds (nan and the infinities included)."""
    if (isinstance(value, bool) and bool not in param.types) or not isinstance(value, param.types):
        return ParamProblem(key, f"must be {type_text(param.types)}, got {value!r}")
    if param.bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        text = bounds_problem(value, *param.bounds)
        if text is not None:
            return ParamProblem(key, text)
    return None


def bounds_problem(value: float, lowest: float, highest: float) -> str | None:
    """"must be between 1 and 100, got nan" when `value` is not a finite number within [lowest, highest]."""
    if (isinstance(value, float) and not math.isfinite(value)) or not lowest <= value <= highest:
        return f"must be between {lowest:g} and {highest:g}, got {value!r}"
    return None


class CheckKindSchema(Protocol):
    """A check kind as labtui.toml sees it (labtui.ops.checks.base.CheckKind)."""

    @property
    def name(self) -> str: ...

    @property
    def declarable(self) -> bool:
        """Whether labtui.toml may declare it (built-in kinds such as failed-units may not)."""
        ...

    @property
    def params(self) -> Mapping[str, Param]: ...

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        """What is wrong with typed parameters (defaults filled in), else None."""
        ...

    def complete(self, params: Mapping[str, object], hostname: str) -> dict[str, object]:
        """The parameters for one host (e.g. a TCP check's host defaults to the host's own)."""
        ...

    def default_name(self, params: Mapping[str, object]) -> str:
        """A readable name when labtui.toml gives none: "http https://web1/health", "tcp web1:443"."""
        ...


class MethodSchema(Protocol):
    """A deploy method as labtui.toml sees it (labtui.deploy.methods.base.DeployMethod)."""

    @property
    def name(self) -> str: ...

    def flake_lacks(self, host: Host) -> str | None:
        """What the flake would need for this method to deploy `host` (e.g. `deploy.nodes.web1`), else None."""
        ...


@dataclass(frozen=True)
class ConfigSchema:
    """The deploy methods and check kinds labtui.toml may name, in the registries' order."""

    methods: Sequence[MethodSchema]
    check_kinds: Sequence[CheckKindSchema]

    def method_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.methods)

    def method(self, name: str) -> MethodSchema | None:
        return next((m for m in self.methods if m.name == name), None)

    def declarable_kinds(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.check_kinds if k.declarable)

    def check_kind(self, name: str) -> CheckKindSchema | None:
        return next((k for k in self.check_kinds if k.name == name), None)
