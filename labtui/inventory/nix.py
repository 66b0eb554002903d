"""Running `nix` as an argv list with a timeout, and quoting values into Nix syntax."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.errors import ToolMissing, UserError

# Flakes are still "experimental" in Nix 2.8; enabling them per call keeps zero configuration working.
NIX_FLAGS = ["--extra-experimental-features", "nix-command flakes"]
NIX_DOWNLOAD = "https://nixos.org/download"
STDERR_TAIL_LINES = 15


def os_release(text: str | None = None) -> dict[str, str]:
    """The fields of /etc/os-release (or `text`), e.g. {"ID": "nixos"}; {} where there is none."""
    if text is None:
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                break
            except OSError:
                continue
    fields = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().isidentifier():
            fields[key.strip()] = value.strip().strip("'\"")
    return fields


def nix_how_to_get(release: dict[str, str] | None = None, system: str | None = None) -> str:
    """How to get `nix` on this machine (the end of "`nix` was not found on PATH; ..."): a NixOS user has it
    already and is not told to apt-get it."""
    system = system or platform.system()
    if system == "Darwin":
        return f"install Nix for macOS from {NIX_DOWNLOAD}, then open a new terminal"
    release = os_release() if release is None else release
    ids = {release.get("ID", "")} | set(release.get("ID_LIKE", "").split())
    if "nixos" in ids:
        return ("NixOS has it in /run/current-system/sw/bin: put that on PATH (a cron job, service or `env -i` "
                "shell starts without it)")
    if ids & {"debian", "ubuntu"}:
        return f"install it with `apt-get install nix-bin` or from {NIX_DOWNLOAD}"
    if "arch" in ids:
        return f"install it with `pacman -S nix` or from {NIX_DOWNLOAD}"
    return f"install it from {NIX_DOWNLOAD}"


def nix_timeout() -> float:
    """Seconds an evaluation may take; LABTUI_NIX_TIMEOUT overrides for very large fleets."""
    try:
        return float(os.environ.get("LABTUI_NIX_TIMEOUT", "180"))
    except ValueError:
        return 180.0


@dataclass(frozen=True)
class NixResult:
    returncode: int
    stdout: str
    stderr: str


# (argv, timeout) -> result. Tests inject their own to count or fake invocations.
NixRunner = Callable[[Sequence[str], float], NixResult]


def nix_argv(*args: str) -> list[str]:
    return ["nix", *NIX_FLAGS, *args]


def run_nix(argv: Sequence[str], timeout: float, log: CommandLog = COMMAND_LOG) -> NixResult:
    """Run nix synchronously; ToolMissing when it is not installed, UserError on timeout."""
    if shutil.which(argv[0]) is None:
        raise ToolMissing(argv[0], nix_how_to_get())
    log.local(argv)
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ToolMissing(argv[0], nix_how_to_get()) from None
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise UserError(f"`nix` did not finish within {timeout:g} s; set LABTUI_NIX_TIMEOUT to allow more "
                        "(or check the flake for an infinite recursion)", detail=stderr_tail(stderr)) from None
    return NixResult(proc.returncode, proc.stdout, proc.stderr)


def stderr_tail(stderr: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line for line in stderr.rstrip().splitlines()][-lines:]
    return "\n".join(kept)


def nix_string(value: str) -> str:
    """A Nix string literal for any text (JSON escapes plus `${` that Nix would interpolate)."""
    return json.dumps(value).replace("${", "\\${")


_PLAIN_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")


def nix_attr(name: str) -> str:
    """An attribute name as it must be written in an attribute path: `web1`, `"example.com"`."""
    return name if _PLAIN_ATTR.fullmatch(name) else nix_string(name)


def attr_path(*names: str) -> str:
    return ".".join(nix_attr(n) for n in names)
