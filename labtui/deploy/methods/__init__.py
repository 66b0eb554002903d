"""The deploy methods, in one registry: argparse choices, labtui.toml validation, the TUI's deploy dialog
and `labtui parse-log` all read `METHODS`. A new method is its module plus one line here
(docs/extending.md)."""

from labtui.deploy.methods.base import DeployMethod, Job, LogTimeouts, profiles_of
from labtui.deploy.methods.colmena import Colmena
from labtui.deploy.methods.deploy_rs import DeployRs
from labtui.deploy.methods.nixos_rebuild import NixosRebuild
from labtui.registry import Registry

METHODS: Registry[DeployMethod] = Registry("deploy method", DeployRs(), NixosRebuild(), Colmena())

__all__ = ["METHODS", "DeployMethod", "Job", "LogTimeouts", "profiles_of"]
