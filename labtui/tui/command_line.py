"""The `:` command line (k9s' habit): `deploy web1`, `logs .#db1`, `rollback web1 86`, `reboot @edge`, `diff nas 53`.

Each verb is one row of VERBS: what it takes and the app action it runs. Hosts are named as everywhere else
(labtui.inventory.select: names, globs, `@tag`, deploy-rs's `.#web1`); none named means the marked hosts, else the
selected one, as the keys do. `parse` is pure (no Textual): a typed line in, a `Command` or one UserError line out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, assert_never

from labtui.errors import UserError
from labtui.inventory.model import Inventory
from labtui.inventory.select import select_host, select_hosts, split_targets
from labtui.tui.fleet import SORT_KEYS

Takes = Literal["hosts", "host", "host+numbers", "text", "nothing", "host?"]


@dataclass(frozen=True)
class Verb:
    name: str
    takes: Takes
    action: str  # the app's action: `deploy_names` runs action_deploy_names(...)
    help: str
    aliases: tuple[str, ...] = ()
    example: str = ""


VERBS: tuple[Verb, ...] = (
    Verb("deploy", "hosts", "deploy_names", "deploy hosts (the dialog asks how)", example="deploy web1 @edge"),
    Verb("logs", "host", "logs_host", "follow a host's journal", ("log",), "logs .#db1"),
    Verb("checks", "host", "checks_host", "run a host's health checks", ("check",)),
    Verb("generations", "host", "generations_host", "a host's system generations", ("gens", "gen")),
    Verb("details", "host", "details_host", "everything known about a host", ("describe",)),
    Verb("rollback", "host+numbers", "rollback_host", "switch a host back to the generation before (or GEN)",
         example="rollback web1 86"),
    Verb("reboot", "hosts", "reboot_names", "reboot hosts one at a time, following each back", example="reboot nas"),
    Verb("diff", "host+numbers", "diff_host", "what changed from generation A to B (B: the current one)",
         example="diff nas 52 54"),
    Verb("history", "host?", "history_host", "past deploy runs (of a host)"),
    Verb("exec", "text", "exec_command", "run a command line on the marked hosts (or the selected one)",
         ("run",), "exec uptime"),
    Verb("filter", "text", "set_filter", "filter the dashboard (as /)", example="filter @edge !nas"),
    Verb("sort", "text", "sort_by", f"sort the dashboard by {', '.join(SORT_KEYS)} (a leading - reverses)",
         example="sort -load"),
    Verb("help", "nothing", "help", "keys, glyphs and these commands", ("h", "?")),
    Verb("quit", "nothing", "quit", "leave labtui (asks first while a deploy runs)", ("q", "q!", "exit")),
)

_BY_NAME = {name: v for v in VERBS for name in (v.name, *v.aliases)}


@dataclass(frozen=True)
class Command:
    verb: Verb
    hosts: tuple[str, ...] = ()  # resolved host names; () when the verb takes none or none were named
    numbers: tuple[int, ...] = ()
    text: str = ""

    def action(self, default_hosts: Sequence[str]) -> str | None:
        """The app action to run (Textual's `name(args)` form); None when it needs hosts and has none."""
        v = self.verb
        hosts = list(self.hosts) or list(default_hosts)
        match v.takes:
            case "nothing":
                return v.action
            case "text":
                return f"{v.action}({self.text!r})"
            case "host?":
                return f"{v.action}({self.hosts[0]!r})" if self.hosts else f"{v.action}(None)"
            case "hosts":
                return f"{v.action}({hosts!r})" if hosts else None
            case "host":
                return f"{v.action}({hosts[0]!r})" if hosts else None
            case "host+numbers":
                return f"{v.action}({hosts[0]!r}, {list(self.numbers)!r})" if hosts else None
            case _:
                assert_never(v.takes)


def verb_names() -> list[str]:
    return [v.name for v in VERBS]


def parse(line: str, inventory: Inventory) -> Command:
    """A typed line as a command; UserError (one line: what, and how to fix it) when it is not one."""
    text = line.strip().lstrip(":").strip()
    if not text:
        raise UserError("type a command, e.g. `deploy web1`, `logs db1`, `rollback web1`; `help` lists them")
    word, _, rest = text.partition(" ")
    verb = _BY_NAME.get(word.lower())
    if verb is None:
        near = [v for v in verb_names() if v.startswith(word.lower()[:2])]
        hint = f"; did you mean `{near[0]}`?" if near else f"; one of {', '.join(verb_names())}"
        raise UserError(f"no command `{word}`{hint}")
    rest = rest.strip()
    here = inventory.flake_dir  # `.#web1` on the `:` line: `.` is the flake labtui shows, wherever it started
    match verb.takes:
        case "nothing":
            if rest:
                raise UserError(f"`{verb.name}` takes nothing after it")
            return Command(verb)
        case "text":
            if not rest and verb.name == "exec":
                raise UserError("`exec` needs a command line, e.g. `exec uptime`")
            return Command(verb, text=rest)
        case "hosts":
            words = split_targets(rest)
            return Command(verb, hosts=tuple(h.name for h in select_hosts(inventory, words, cwd=here)) if words else ())
        case "host" | "host?":
            words = split_targets(rest)
            if len(words) > 1:
                raise UserError(f"`{verb.name}` takes one host, got {len(words)}: {' '.join(words)}")
            return Command(verb, hosts=(select_host(inventory, words[0], cwd=here).name,) if words else ())
        case "host+numbers":
            words = split_targets(rest)
            numbers = [w for w in words if w.isdigit()]
            names = [w for w in words if not w.isdigit()]
            if len(names) > 1:
                raise UserError(f"`{verb.name}` takes one host, got {len(names)}: {' '.join(names)}")
            if len(numbers) > 2 or (verb.name == "rollback" and len(numbers) > 1):
                raise UserError(f"`{verb.name}` takes {'one generation' if verb.name == 'rollback' else 'two'}"
                                f" at most, e.g. `{verb.example}`")
            if verb.name == "diff" and not numbers:
                raise UserError(f"`diff` needs a generation to compare with, e.g. `{verb.example}`")
            host = (select_host(inventory, names[0], cwd=here).name,) if names else ()
            return Command(verb, hosts=host, numbers=tuple(int(n) for n in numbers))
        case _:
            assert_never(verb.takes)
