"""The check kinds, in one registry: labtui.toml's schema, `labtui check` and the health gate read it.
A new kind is its module plus one line here (docs/extending.md)."""

from labtui.ops.checks.base import CheckKind
from labtui.ops.checks.command import Command
from labtui.ops.checks.failed_units import FailedUnits
from labtui.ops.checks.http import Http
from labtui.ops.checks.resources import Disk, Load, Memory
from labtui.ops.checks.tcp import Tcp
from labtui.ops.checks.unit import Unit
from labtui.registry import Registry

CHECK_KINDS: Registry[CheckKind] = Registry(
    "check kind", Unit(), Http(), Tcp(), Command(), Disk(), Memory(), Load(), FailedUnits())
