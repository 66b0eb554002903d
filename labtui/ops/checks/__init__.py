"""Health checks: is a unit active, does a URL answer, does a port accept, does a command pass, are disk,
memory and load below their thresholds, did no unit newly fail.

HTTP and TCP checks run from the jump host (this machine); the others run one small command on the host.
One class per kind (labtui.ops.checks.base.CheckKind), all in one registry (`CHECK_KINDS`).
"""

from labtui.ops.checks.base import CheckFailed, CheckKind, CheckResult
from labtui.ops.checks.failed_units import (
    FAILED_UNITS_COMMAND,
    FAILED_UNITS_KIND,
    failed_units_check,
    parse_failed_units,
    snapshot_failed_units,
)
from labtui.ops.checks.registry import CHECK_KINDS
from labtui.ops.checks.resources import LOAD_COMMAND, MEMORY_COMMAND, parse_df, parse_load, parse_meminfo
from labtui.ops.checks.run import run_check, run_checks, run_fleet_checks, validate_check

__all__ = [
    "CHECK_KINDS", "FAILED_UNITS_COMMAND", "FAILED_UNITS_KIND", "LOAD_COMMAND", "MEMORY_COMMAND", "CheckFailed",
    "CheckKind", "CheckResult", "failed_units_check", "parse_df", "parse_failed_units", "parse_load",
    "parse_meminfo", "run_check", "run_checks", "run_fleet_checks", "snapshot_failed_units", "validate_check",
]
