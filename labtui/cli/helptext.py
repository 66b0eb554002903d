"""The examples and exit-status sections of every verb's --help (and of the man page).

Each verb module says, next to its `configure`:

    EXAMPLES: Examples = (("labtui deploy web1", "deploy web1, showing deploy-rs's plan first"), ...)
    EXIT_STATUS: ExitStatus = {0: "every host deployed", 1: "a host failed or was rolled back"}

Status 2 (usage or configuration error) and 130 (interrupted) mean the same for every verb and are added
unless the verb says otherwise. An optional `NOTES` string is shown above the examples.
tests/cli/test_help.py holds every verb to this (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

Examples = tuple[tuple[str, str], ...]
ExitStatus = Mapping[int, str]

COMMON_EXIT_STATUS: dict[int, str] = {
    2: "usage or configuration error, said in one line on stderr; nothing was done",
    130: "interrupted (Ctrl-C)",
}

TOP_EXAMPLES: Examples = (
    ("labtui", "the full-screen TUI on the fleet of the flake in the current directory"),
    ("labtui --flake ~/lab status", "the live status of every host of ~/lab's flake"),
    ("labtui deploy web1 db1", "deploy two hosts, showing deploy-rs's plan first"),
    ("labtui demo", "try it on an embedded simulated lab (no network, no root, no Nix)"),
    ("labtui VERB --help", "a verb's options, examples and exit status"),
)
TOP_EXIT_STATUS: ExitStatus = {
    0: "all is well",
    1: "the verb ran and something is not well (a host down, a deploy failed)",
}


def examples(module: ModuleType) -> Examples:
    return tuple(getattr(module, "EXAMPLES", ()))


def exit_status(module: ModuleType) -> dict[int, str]:
    """The verb's exit statuses, with the common ones it does not redefine."""
    return {**COMMON_EXIT_STATUS, **dict(getattr(module, "EXIT_STATUS", {}))}


def render(examples_: Examples, status: Mapping[int, str], notes: str = "") -> str:
    lines = [notes, ""] if notes else []
    lines.append("examples:")
    for command, what in examples_:
        lines += [f"  {command}", f"      {what}"]
    lines += ["", "exit status:"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in sorted(status.items())]
    return "\n".join(lines)


def verb_epilog(name: str, module: ModuleType) -> str:
    return render(examples(module), exit_status(module), str(getattr(module, "NOTES", "")))


def top_epilog() -> str:
    return render(TOP_EXAMPLES, {**COMMON_EXIT_STATUS, **TOP_EXIT_STATUS})
