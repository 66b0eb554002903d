"""Errors a user can cause and fix. The CLI prints them as one line, never a traceback."""

from __future__ import annotations

# Exit codes shared by every verb.
EXIT_OK = 0
EXIT_FAILED = 1  # the operation ran and something is not fine (host down, deploy failed)
EXIT_USAGE = 2  # usage or configuration error: nothing was done


class UserError(Exception):
    """A mistake in input, configuration or environment, with a message that says how to fix it.

    `message` is one line: what is wrong, where, and how to fix it.
    `detail` is optional extra text (e.g. the tail of nix's stderr) printed below it.
    """

    def __init__(self, message: str, *, detail: str = "", exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(UserError):
    """labtui.toml or the flake's deploy settings are wrong; names file and position when known."""


class ToolMissing(UserError):
    """An external program (nix, deploy, nixos-rebuild, ssh) is not on PATH."""

    def __init__(self, tool: str, how_to_get: str) -> None:
        super().__init__(f"`{tool}` was not found on PATH; {how_to_get}")
        self.tool = tool
