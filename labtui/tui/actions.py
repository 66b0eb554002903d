"""Every key of the TUI in one table: it generates each screen's bindings, the command palette and the help screen.

A new action is one `Action` in its screen's `Scope` (plus the `action_...` method it runs): its key, footer label,
palette entry and help line follow from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rich.markup import escape
from textual.binding import Binding, BindingType

from labtui.deploy.methods import METHODS
from labtui.deploy.request import Action as DeployAction
from labtui.runs.outcomes import NODE_LOOKS, QUEUED, RUN_LOOKS, RUNNING
from labtui.tui.command_line import VERBS
from labtui.tui.format import STATE_STYLE
from labtui.tui.glyphs import Glyphs

# How the help screen writes Textual's key names.
_KEY_NAMES = {"question_mark": "?", "slash": "/", "at": "@", "escape": "esc", "exclamation_mark": "!",
              "colon": ":"}


@dataclass(frozen=True)
class Action:
    action: str  # the Textual action it runs: "deploy" (action_deploy of the scope's screen or app), "app.pop_screen"
    keys: str = ""  # Textual key names, comma-separated; "" for an action reached from the palette only
    label: str = ""  # the footer's word for it
    help: str = ""  # what it does: the help screen's line and the palette's explanation
    title: str = ""  # the palette's entry; "" keeps it out of the palette
    footer: bool = False  # shown in the footer
    per_host: bool = False  # the palette also offers "<title> HOST" for each host (runs `<action>_host('HOST')`)
    priority: bool = False  # bound before the focused widget's own keys
    bind: bool = True  # False: Textual binds the key itself (ctrl+p, tab); listed in the help only
    help_keys: str = ""  # how the help writes the keys, when the key names alone do not say it

    def shown_keys(self) -> str:
        if self.help_keys:
            return self.help_keys
        return " ".join(_KEY_NAMES.get(k, k) for k in self.keys.split(",") if k)

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.label, show=self.footer, priority=self.priority)


@dataclass(frozen=True)
class Scope:
    """The keys of one screen (or widget)."""

    title: str  # the help screen's heading; "" keeps the scope out of the help
    actions: tuple[Action, ...]
    note: str = ""  # lines under the scope's keys in the help

    def bindings(self) -> list[BindingType]:
        return [a.binding() for a in self.actions if a.keys and a.bind]


# Keys that work on every full screen (not over a dialog): they open something new, never act on a hidden screen.
GLOBAL = Scope("Everywhere", (
    Action("help", "question_mark", "Help", "keys and glyphs (this help)", "Help", footer=True),
    Action("command_line", "colon", "Cmd", "the command line (below): `deploy web1`, `logs db1`, ...",
           "Command line", footer=True),
    Action("command_palette", "ctrl+p", help="command palette: this screen's actions, and any host's", bind=False),
    Action("toggle_ascii", help="toggle plain ASCII glyphs (for terminals without good Unicode)",
           title="ASCII glyphs"),
    Action("screenshot", help="save an SVG picture of the screen in the current directory", title="Screenshot"),
))

# The dashboard screen's keys; its actions live on the app (it owns the fleet model and the controller).
DASHBOARD = Scope("Dashboard", (
    Action("app.filter", "slash", "Filter", "filter: regex on names, @tag, !word negates; words are ANDed", "Filter",
           footer=True),
    Action("app.mark", "space", "Mark", "mark or unmark the selected host, then move down", "Mark host"),
    Action("app.mark_all", "ctrl+a", "Mark all", "mark every shown host, or none", "Mark all shown"),
    Action("app.details", "enter", "Details", "everything known about the selected host", "Details", per_host=True),
    Action("app.deploy", "D", "Deploy", "deploy the marked hosts (or the selected one)", "Deploy", footer=True,
           per_host=True),
    Action("app.show_deploy", "p", "Deploy pane", "show the deploy pane of the current or last run", "Deploy pane"),
    Action("app.logs", "l", "Logs", "follow the journal of the selected host", "Logs", footer=True, per_host=True),
    Action("app.checks", "c", "Checks", "run the health checks of the selected host", "Checks", per_host=True),
    Action("app.generations", "g", "Gens", "list the system generations of the selected host", "Generations",
           per_host=True),
    Action("app.refresh", "r", "Refresh", "probe the hosts again now (the marked ones, else all)", "Refresh"),
    Action("app.sort", "s", "Sort", "sort by the next column (name, state, load, mem, disk, ...)", "Sort"),
    Action("app.sort_reverse", "S", "Reverse sort", "reverse the sort order", "Reverse sort"),
    Action("app.history", "h", "Hist", "past deploy runs from the journal", "History", footer=True),
    Action("app.command_log", "at", "Cmds", "every command labtui ran, copyable", "Command log", footer=True),
    Action("app.clear", "escape", "Clear", "close the filter, else clear it, else clear the marks",
           "Clear filter and marks"),
    Action("app.rollback", "R", "Rollback", "roll the selected host back to the generation before (asks first)",
           "Rollback", per_host=True),
    Action("app.reboot", "B", "Reboot", "reboot the marked hosts (or the selected one), following each back "
           "(asks first)", "Reboot", per_host=True),
    Action("app.exec", "exclamation_mark", "Exec", "run a command on the marked hosts (or the selected one), "
           "output per host", "Run command", per_host=True),
    # For the `:` line (`exec uptime`): runs a command line on the marked hosts (or the selected one) at once.
    Action("app.exec_command", help="run the command line given on the marked hosts", bind=False),
    Action("app.cancel_deploy", help="cancel the running deploy", title="Cancel deploy"),
    Action("app.quit", "q", "Quit", "leave labtui (asks first while a deploy runs)", "Quit", footer=True),
))

TABLE = Scope("Tables", (
    Action("cursor_down", "j", "Down", "move down (arrows too)"),
    Action("cursor_up", "k", "Up", "move up"),
))

HOST_TABLE = Scope("", (*TABLE.actions, Action("scroll_bottom", "G", "Bottom", "go to the last row")))

# Scrolling text (logs, checks, generations, deploy logs).
TEXT_KEYS = Scope("", (
    Action("scroll_down", "j", "Down", "scroll down"),
    Action("scroll_up", "k", "Up", "scroll up"),
))

DETAILS = Scope("", (
    Action("app.pop_screen", "escape", "Back", footer=True),
    Action("logs", "l", "Logs", footer=True),
    Action("checks", "c", "Checks", footer=True),
    Action("generations", "g", "Generations", footer=True),
    Action("deploy", "D", "Deploy", footer=True),
    Action("rollback", "R", "Rollback", footer=True),
    Action("reboot", "B", "Reboot"),
))

GENERATIONS = Scope("Generations", (
    Action("app.pop_screen", "escape", "Back", "back", footer=True),
    Action("diff", "d", "Diff", "what changed from the highlighted generation to the current one "
           "(the current: from the one before)", footer=True),
    Action("rollback", "R", "Roll back to it", "switch the host to the highlighted generation (asks first)",
           footer=True),
    Action("copy", "y", "Copy", "copy the list", footer=True),
))

DEPLOY_DIALOG = Scope("Deploy dialog", (
    Action("cancel", "escape", "Cancel", "cancel", footer=True),
    Action("confirm", "ctrl+s,enter", "Deploy", "deploy", footer=True, priority=True, help_keys="enter"),
    Action("cycle('method')", "m", "Method", f"method: {', '.join(METHODS.names())}", footer=True),
    Action("cycle('action')", "a", "Action", f"action: {', '.join(a.value for a in DeployAction)} (as the method has)",
           footer=True),
    Action("cycle('mode')", "p", "Parallel/atomic", "parallel: a deploy per host; atomic: one run, all roll back",
           footer=True),
    Action("parallel(1)", "plus,equals_sign", "More at once", "parallel: one more host at once", help_keys="+"),
    Action("parallel(-1)", "minus", "Fewer at once", "parallel: one host fewer at once", help_keys="-"),
    Action("focus_waves", "w", "Waves", "waves (1,25%,100%): each starts when the one before is healthy",
           footer=True),
    Action("show_diff", "d", "Diff", "what the deploy changes on the highlighted host (packages, sizes, reboot)",
           footer=True),
    Action("focus_next", "tab", help="next field; space toggles it", bind=False),
), note="Hosts marked critical ask you to type their name.")

DEPLOY_PANE = Scope("Deploy pane", (
    Action("app.pop_screen", "escape", "Back", "back to the dashboard (the deploy goes on)", footer=True),
    Action("open_log", "enter", "Host log", "the full log of the host", footer=True),
    Action("first_failure", "f", "First failure", "the log of the first host that did not succeed", footer=True),
    Action("run_output", "o", "Run output", "output not tied to a host (when there is some)", footer=True),
    Action("cancel_run", "x", "Cancel run", "cancel the run (asks first)", footer=True),
    Action("cancel_host", "c", "Cancel host", "cancel the selected host only; the others go on (asks first)",
           footer=True),
    Action("toggle_builds", "b", "Builds", "show or hide the tree of running builds while labtui builds"),
), note="A row per host: stage, steps, time, the confirm (C) or activation (A)\n"
        "timeout counting down, a rollback badge that stays, the last output.")

HOST_LOG = Scope("Deploy log", (
    Action("app.pop_screen", "escape", "Back", "back", footer=True),
    Action("end", "G", "Follow", "follow the end again", footer=True),
    Action("copy", "y", "Copy log", "copy the log (OSC 52: works over SSH)", footer=True),
))

TEXT_VIEW = Scope("Logs, checks, generations", (
    Action("back", "escape", "Back", "close the filter, else clear it, else back (stops following)", footer=True),
    Action("filter", "slash", "Filter", "show only the lines that match (a regex, any case)", footer=True),
    Action("copy", "y", "Copy", "copy what is shown", footer=True),
))

HISTORY = Scope("History", (
    Action("app.pop_screen", "escape", "Back", "back", footer=True),
    Action("open_run", "enter", "Open run", "replay a finished run, follow one still going", footer=True),
    Action("reload", "r", "Reload", "read the journal again", footer=True),
))

COMMAND_LOG = Scope("Command log", (
    Action("back", "escape", "Back", "close the filter, else clear it, else back", footer=True),
    Action("filter", "slash", "Filter", "show only the commands that match", footer=True),
    Action("copy_one", "y,enter", "Copy line", "copy the command as you would run it", footer=True),
    Action("copy_all", "Y", "Copy all", "copy every command shown", footer=True),
))

HELP = Scope("", (Action("app.pop_screen", "escape,q,question_mark", "Close", footer=True),))

PLAN_DIALOG = Scope("", (
    Action("answer(True)", "y", "Deploy", footer=True),
    Action("answer(False)", "n", "Cancel", footer=True),
    Action("answer(False)", "escape", "Cancel"),
    Action("expand", "e", "Full paths", footer=True),
))

PASSWORD_DIALOG = Scope("", (Action("cancel", "escape", "Cancel", footer=True),))

TYPE_NAME_DIALOG = Scope("", (Action("cancel", "escape", "Cancel", footer=True),))

QUIT_DIALOG = Scope("", (
    Action("choose('leave')", "l", "Quit, leave it running", footer=True),
    Action("choose('cancel')", "x", "Cancel deploy and quit", footer=True),
    Action("choose('stay')", "escape,n", "Stay", footer=True),
))

COMMAND_LINE = Scope("", (
    Action("cancel", "escape", "Close", footer=True),
    Action("older", "up", "Earlier", priority=True),
    Action("newer", "down", "Later", priority=True),
    Action("complete", "tab", "Complete", priority=True),
))

YES_NO_DIALOG = Scope("", (
    Action("answer(True)", "y", "Yes", footer=True),
    Action("answer(False)", "n,escape", "No", footer=True),
))

# The help screen's sections, in this order.
EXEC_DIALOG = Scope("", (
    Action("cancel", "escape", "Cancel", footer=True),
    Action("run", "ctrl+s", "Run", footer=True),
))

EXEC_VIEW = Scope("Exec", (
    Action("app.pop_screen", "escape", "Back", "back (hosts still running are stopped; the history keeps the run)",
           footer=True),
    Action("copy", "y", "Copy output", "copy the highlighted host's output", footer=True),
), note="A row per host: status, exit code, time, last line; below, the highlighted host's output.")

HELP_SCOPES: tuple[Scope, ...] = (GLOBAL, DASHBOARD, TABLE, DEPLOY_DIALOG, DEPLOY_PANE, HOST_LOG, HISTORY,
                                  COMMAND_LOG, TEXT_VIEW, GENERATIONS, EXEC_VIEW)


@dataclass(frozen=True)
class PaletteEntry:
    title: str
    help: str
    action: str  # run on the app


def _on_screen(action: str) -> str:
    """A screen's own action, run from the palette (which runs actions on the app)."""
    return action if action.startswith(("app.", "screen.")) else f"screen.{action}"


def palette_entries(scope: Scope | None, hosts: Iterable[str]) -> Iterator[PaletteEntry]:
    """The active screen's actions, the global ones, then each per-host action for every host (they open a view of
    that host, so they make sense on any screen)."""
    for a in scope.actions if scope is not None else ():
        if a.title:
            yield PaletteEntry(a.title, a.help, _on_screen(a.action))
    for a in GLOBAL.actions:
        if a.title:
            yield PaletteEntry(a.title, a.help, a.action)
    per_host = [a for a in DASHBOARD.actions if a.per_host]
    for host in hosts:
        for a in per_host:
            yield PaletteEntry(f"{a.title} {host}", f"{a.title.lower()} of {host}", f"{a.action}_host({host!r})")


INTRO = "[b]labtui[/b]: the fleet at a glance, deploys you can watch, by keyboard."
KEY_WIDTH = 8


def help_text(g: Glyphs) -> str:
    """The help screen (Textual markup): each scope's keys, then the glyphs."""
    out = [INTRO, ""]
    for scope in HELP_SCOPES:
        out.append(f"[b]{scope.title}[/b]")
        for a in scope.actions:
            if a.help and a.keys:
                keys = a.shown_keys()
                out.append(f"  [b]{keys}[/b]{' ' * max(1, KEY_WIDTH - len(keys))}{a.help}")
        out += [f"  {line}" for line in scope.note.splitlines()]
        out.append("")
    out.append("[b]Command line[/b] (:)  hosts as everywhere: web1, web*, @tag, .#web1; none: the marked, else "
               "the selected")
    for verb in VERBS:
        usage = verb.example or verb.name
        out.append(f"  [b]{escape(usage)}[/b]{' ' * max(1, 20 - len(usage))}{escape(verb.help)}")
    out.append("")
    out.append("[b]Glyphs[/b]")
    hosts = [f"{getattr(g, attr)} {word}" for attr, word, _ in STATE_STYLE.values()]
    hosts += [f"{g.drift} outdated", f"{g.in_sync} in sync", f"{g.reboot} reboot needed", f"{g.unknown} unknown",
              f"{g.mark} marked"]
    out += _wrapped("hosts", hosts)
    deploys = [f"{look.mark(g.ascii)} {look.word}" for look in (RUNNING, QUEUED, *NODE_LOOKS.values())]
    out += _wrapped("deploys", [*deploys, f"{g.stall} stalled (no output)"])
    out += _wrapped("runs", [f"{look.mark(g.ascii)} {look.word}" for look in RUN_LOOKS.values()])
    out.append("  [b]name![/b] critical host (deploying it asks you to type its name)")
    return "\n".join(out) + "\n"


def _wrapped(label: str, items: list[str], width: int = 74) -> list[str]:
    """`  label  a  b  c` lines of at most `width` columns, continued under the first item."""
    lines, line = [], f"  {label:<8}"
    for item in items:
        if len(line) + len(item) + 2 > width and line.strip() != label:
            lines.append(line.rstrip())
            line = " " * 10
        line += f"{item}  "
    lines.append(line.rstrip())
    return lines
