"""Modal dialogs: deploy options, typing a critical host's name, deploy-rs' plan, sudo password, quit."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from labtui.deploy.methods import METHODS, DeployMethod
from labtui.deploy.methods.deploy_rs import DeployRs
from labtui.deploy.request import Action
from labtui.deploy.waves import describe_plan, plan_waves
from labtui.errors import UserError
from labtui.inventory.model import Host
from labtui.runs.events import Prompt
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui.format import rich_style, short_store_path
from labtui.tui.preview_view import DiffScreen, PreviewPanel
from labtui.tui.sources import MODES, DeployChoice, PreviewSource


class _MarkedToggle:
    """Radio buttons and checkboxes whose state reads without colour too: (*)/( ) and [x]/[ ]."""

    OPEN, ON, OFF, CLOSE = "(", "*", " ", ")"

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")  # type: ignore[attr-defined]
        mark = self.ON if self.value else self.OFF  # type: ignore[attr-defined]
        return Content.assemble(self.OPEN, (mark, style), self.CLOSE)


class Radio(_MarkedToggle, RadioButton):
    pass


class Check(_MarkedToggle, Checkbox):
    OPEN, ON, OFF, CLOSE = "[", "x", " ", "]"


def _rollback_options(method: DeployMethod) -> bool:
    """The method takes deploy-rs' options (magic and auto rollback, skipping flake checks)."""
    return isinstance(method, DeployRs)


# Options shown as checkboxes: (attribute of DeployChoice, label, whether the method has it)
_OPTIONS: tuple[tuple[str, str, Callable[[DeployMethod], bool]], ...] = (
    ("magic_rollback", "magic rollback (confirm or roll back)", _rollback_options),
    ("auto_rollback", "auto rollback on activation failure", _rollback_options),
    ("skip_checks", "skip flake checks (-s)", _rollback_options),
    ("show_plan", "show deploy-rs' plan and ask before deploying", lambda m: m.supports_interactive),
)


def _can_deploy(method: DeployMethod, hosts: list[Host]) -> bool:
    for host in hosts:
        try:
            method.validate(host)
        except UserError:
            return False
    return True


class DeployDialog(ModalScreen[DeployChoice | None]):
    """Choose how to deploy the selected hosts. Enter deploys, esc cancels; every field by keyboard.

    Methods and their actions come from the method registry (labtui.deploy.methods.METHODS)."""

    BINDINGS = actions.DEPLOY_DIALOG.bindings()

    def __init__(self, hosts: list[Host], default_method: str = "deploy-rs", *,
                 preview: PreviewSource | None = None, parallel: int = 4) -> None:
        super().__init__()
        self.hosts = hosts
        self.preview_source = preview  # closure diffs per host (labtui.tui.preview_view), when available
        # At most this many hosts at once (parallel mode; never more than there are); + and - change it.
        self.parallel = max(1, min(parallel, len(hosts)))
        # The methods that can deploy every chosen host (a Colmena hive node needs colmena, ...); all if none can.
        self.methods = [m for m in METHODS if _can_deploy(m, hosts)] or list(METHODS)
        names = [m.name for m in self.methods]
        self.default_method = default_method if default_method in names else names[0]
        # Every action some method has, in Action's order; those the chosen method lacks are disabled.
        self.actions = [a.value for a in Action if any(a in m.actions for m in self.methods)]

    def compose(self) -> ComposeResult:
        names = ", ".join(h.name + (" (critical)" if h.critical else "") for h in self.hosts)
        with Vertical(id="dialog"):
            yield Label(Text.assemble(("Deploy ", "bold"), (f"{len(self.hosts)} host(s): ", ""), (names, "bold")),
                        id="dialog-title")
            with Horizontal(id="dialog-choices"):
                with Vertical(classes="choice"):
                    yield Label("method [b]m[/b]")
                    with RadioSet(id="method"):
                        for m in self.methods:
                            yield Radio(m.name, value=m.name == self.default_method)
                with Vertical(classes="choice"):
                    yield Label("action [b]a[/b]")
                    with RadioSet(id="action"):
                        for a in self.actions:
                            yield Radio(a, value=a == Action.SWITCH.value)
                with Vertical(classes="choice"):
                    yield Label("hosts [b]p[/b]")
                    with RadioSet(id="mode"):
                        for mode in MODES:
                            yield Radio(mode, value=mode == "parallel")
                    yield Static(id="dialog-parallel")
            with Vertical(id="dialog-options"):
                for attr, label, _ in _OPTIONS:
                    yield Check(label, value=getattr(DeployChoice(hosts=()), attr), id=f"opt-{attr}")
                yield Check("roll back a host (a wave) whose health checks fail", value=False, id="opt-rollback")
            with Horizontal(id="dialog-waves"):
                yield Label("waves [b]w[/b] ")
                yield Input(placeholder="all at once; e.g. 1,25%,100% (hosts done after each wave)", id="waves")
            if self.preview_source is not None:
                yield PreviewPanel(self.preview_source, self.hosts, id="preview")
                yield Check("skip hosts that already run what the flake would deploy", value=True,
                            id="opt-skip-unchanged")
            yield Static(id="dialog-note")
            yield Static("[b]enter[/b] deploy  [b]esc[/b] cancel  [b]tab[/b] next field  [b]space[/b] toggle  "
                         "[b]+ -[/b] at once", id="dialog-keys")

    def on_mount(self) -> None:
        self._refresh_note()
        self.query_one("#method", RadioSet).focus()
        if self.preview_source is not None:
            self.query_one(PreviewPanel).start(self.method.name)

    @on(RadioSet.Changed, "#method")
    def _method_changed(self) -> None:
        if self.preview_source is not None:  # another method deploys another attribute: compare again
            self.query_one(PreviewPanel).start(self.method.name)

    @on(Input.Changed, "#waves")
    @on(PreviewPanel.Ready)
    def _waves_changed(self) -> None:
        self._refresh_note()

    @on(Input.Submitted, "#waves")
    def _waves_submitted(self) -> None:
        self.action_confirm()

    def action_focus_waves(self) -> None:
        self.query_one("#waves", Input).focus()

    def action_show_diff(self) -> None:
        panel = self.query(PreviewPanel).first() if self.preview_source is not None else None
        current = panel.current if panel is not None else None
        if current is None:
            self.notify("no diff yet: it shows once the build is done", severity="information")
            return
        self.app.push_screen(DiffScreen(current))

    def _deployed_hosts(self) -> list[str]:
        """The hosts the deploy takes: all of them, but those already running it when they are to be skipped."""
        names = [h.name for h in self.hosts]
        if self.preview_source is None or not self.query_one("#opt-skip-unchanged", Checkbox).value:
            return names
        unchanged = self.query_one(PreviewPanel).unchanged
        return [n for n in names if n not in unchanged]

    def _wave_plan(self) -> tuple[list[list[str]], str]:
        """(the waves, the mistake in the spec or "")."""
        spec = self.query_one("#waves", Input).value.strip()
        if not spec:
            return [], ""
        try:
            return plan_waves(self._deployed_hosts(), spec), ""
        except UserError as exc:
            return [], exc.message

    def _pressed(self, set_id: str) -> str:
        rs = self.query_one(f"#{set_id}", RadioSet)
        button = rs.pressed_button
        return str(button.label) if button is not None else ""

    @property
    def method(self) -> DeployMethod:
        return METHODS.get(self._pressed("method"))

    def action_cycle(self, set_id: str) -> None:
        rs = self.query_one(f"#{set_id}", RadioSet)
        buttons = list(rs.query(RadioButton))
        index = rs.pressed_index
        for step in range(1, len(buttons) + 1):
            button = buttons[(index + step) % len(buttons)]
            if not button.disabled:
                button.value = True
                break
        self._refresh_note()

    @on(RadioSet.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._refresh_note()

    def action_parallel(self, step: int) -> None:
        self.parallel = max(1, min(len(self.hosts), self.parallel + step))
        self._refresh_note()

    def _refresh_note(self) -> None:
        method = self.method
        self._offer_actions_of(method)
        action, mode = self._pressed("action"), self._pressed("mode")
        parallel = mode == "parallel" or not method.supports_atomic
        self.query_one("#dialog-parallel", Static).update(
            Text(f"{self.parallel} at once (+ -)", style=rich_style("" if parallel else "$text-muted")))
        for attr, _, applies in _OPTIONS:
            self.query_one(f"#opt-{attr}", Checkbox).disabled = not applies(method)
        notes = []
        if self._lacks(method, action):
            notes.append(f"{method.name} has no {action}: choose another action (a)")
        if _rollback_options(method):
            if mode == "atomic" and method.supports_atomic:
                notes.append(f"atomic: one {method.name} run over all hosts; a failure rolls back those that "
                             "succeeded")
            else:
                notes.append(f"parallel: one {method.name} per host at the same time; each succeeds or fails alone")
            if action != Action.SWITCH.value:
                notes.append(f"{action}: no magic rollback (nothing to confirm)")
        else:
            notes.append(f"{method.name}: no rollback safety net; a broken config stays until you roll back")
        if mode == "atomic" and not method.supports_atomic:
            notes.append(f"{method.name} has no atomic mode: hosts are deployed one after another")
        waiting = len(self.hosts) - self.parallel
        if parallel and waiting > 0:
            plan = (": every host's plan is asked first, in one question" if self._show_plan(method) else "")
            notes.append(f"{len(self.hosts)} hosts, {self.parallel} at once: {waiting} wait for a free slot{plan}")
        crit = [h.name for h in self.hosts if h.critical]
        if crit:
            notes.append(f"critical: you will type {', '.join(crit)} to confirm")
        waves, mistake = self._wave_plan()
        if mistake:
            notes.append(mistake)
        elif waves:
            gate = "rolled back" if self.query_one("#opt-rollback", Checkbox).value else "stops the run"
            notes.append(f"{len(waves)} waves: {describe_plan(waves)}; an unhealthy wave {gate}")
        if self.preview_source is not None:
            skipped = [h.name for h in self.hosts if h.name not in self._deployed_hosts()]
            if skipped:
                notes.append(f"skipping {', '.join(skipped)}: already running what the flake would deploy")
        self.query_one("#dialog-note", Static).update(Text("\n".join(notes)))

    def _offer_actions_of(self, method: DeployMethod) -> None:
        """Disable the actions the method lacks (a chosen one stays chosen: the note says so, enter refuses it)."""
        for button in self.query_one("#action", RadioSet).query(RadioButton):
            button.disabled = Action(str(button.label)) not in method.actions

    def _show_plan(self, method: DeployMethod) -> bool:
        return method.supports_interactive and self.query_one("#opt-show_plan", Checkbox).value

    def _lacks(self, method: DeployMethod, action: str) -> bool:
        return Action(action) not in method.actions

    def choice(self) -> DeployChoice:
        method = self.method
        values = {attr: self.query_one(f"#opt-{attr}", Checkbox).value for attr, _, _ in _OPTIONS}
        if not method.supports_interactive:
            values["show_plan"] = False
        return DeployChoice(hosts=tuple(self._deployed_hosts()), method=method.name,
                            action=self._pressed("action"), mode=self._pressed("mode"), parallel=self.parallel,
                            magic_rollback=values["magic_rollback"], auto_rollback=values["auto_rollback"],
                            skip_checks=values["skip_checks"], show_plan=values["show_plan"],
                            waves=self.query_one("#waves", Input).value.strip(),
                            rollback_unhealthy=self.query_one("#opt-rollback", Checkbox).value)

    def action_confirm(self) -> None:
        choice = self.choice()
        if self._lacks(self.method, choice.action):
            self.notify(f"{choice.method} has no {choice.action}: choose another action (a) or method (m)",
                        severity="warning")
            return
        _, mistake = self._wave_plan()
        if mistake:
            self.notify(mistake, severity="warning", markup=False)
            return
        if not choice.hosts:
            self.notify("every host already runs what the flake would deploy: nothing to deploy (untick the skip "
                        "to deploy them anyway)", severity="information")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TypeNameDialog(ModalScreen[bool]):
    """Critical hosts: the operator types each name (k9s' "type the name to delete" habit)."""

    BINDINGS = actions.TYPE_NAME_DIALOG.bindings()

    def __init__(self, names: list[str], doing: str = "deploy", question: str = "") -> None:
        super().__init__()
        self.names = names
        self.doing = doing  # "deploy", "roll back", "reboot"
        self.question = question  # what is about to happen, above the request

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="narrow"):
            if self.question:
                yield Label(Text(self.question))
            yield Label(Text.assemble(("Critical host" + ("s" if len(self.names) > 1 else ""), "bold red"),
                                      (": type ", ""), (" ".join(self.names), "bold"), (f" to {self.doing}", "")))
            yield Input(placeholder=" ".join(self.names), id="typed")
            yield Static("[b]enter[/b] confirm  [b]esc[/b] cancel", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.split()
        if sorted(typed) == sorted(self.names):
            self.dismiss(True)
        else:
            self.notify(f"that is not {' '.join(self.names)}; type the name(s) exactly or press esc",
                        severity="warning")
            event.input.value = ""

    def action_cancel(self) -> None:
        self.dismiss(False)


class PlanDialog(ModalScreen[bool]):
    """deploy-rs --interactive printed its plan: show it and answer by key (y deploys, n/esc cancels)."""

    BINDINGS = actions.PLAN_DIALOG.bindings()

    def __init__(self, prompt: Prompt) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(Text("The plan deploy-rs printed", style="bold"))
            with VerticalScroll(id="plan-box"):
                yield Static(id="plan")
            yield Label(Text(harmless(self.prompt.question)))  # deploy-rs's words: Text, never markup
            yield Static("[b]y[/b] deploy  [b]n[/b] cancel  [b]e[/b] full store paths", id="dialog-keys")

    full_paths = False

    def on_mount(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()

    def plan_text(self, width: int) -> Text:
        """Each target on a line (node.profile, where it goes, as whom), its store path under it: the hash prefix
        and the name kept whole as far as the width allows (e: the full paths, wrapped)."""
        out = Text()
        for i, e in enumerate(self.prompt.plan):  # read from deploy-rs's output: Text (never markup), harmless
            via = f"{e.ssh_user}@{e.hostname}" if e.ssh_user else (e.hostname or "-")
            out.append("\n" if i else "")
            out.append(harmless(f"{e.node}.{e.profile}"), style="bold")
            out.append(harmless(f"  ssh {via}  as {e.user or '-'}\n"))
            path = harmless(e.path or "-") if self.full_paths else short_store_path(e.path, max(20, width - 2))
            out.append(f"  {path}", style=rich_style("$text-muted"))
        return out

    def _show(self) -> None:
        self.query_one("#plan", Static).update(self.plan_text(self.query_one("#plan-box").size.width or 70))

    def action_expand(self) -> None:
        self.full_paths = not self.full_paths
        self._show()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PasswordDialog(ModalScreen[str | None]):
    """A sudo password (interactiveSudo), in a masked field."""

    BINDINGS = actions.PASSWORD_DIALOG.bindings()

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="narrow"):
            yield Label(Text.assemble(("sudo password", "bold"), (" for ", ""), (harmless(self.host), "bold")))
            yield Input(password=True, id="password")
            yield Static("[b]enter[/b] send  [b]esc[/b] cancel the deploy", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitDialog(ModalScreen[str]):
    """Quitting while a deploy runs: leave it running, cancel it, or stay."""

    BINDINGS = actions.QUIT_DIALOG.bindings()

    def __init__(self, hosts: list[str], detachable: bool) -> None:
        super().__init__()
        self.hosts = hosts
        self.detachable = detachable

    def compose(self) -> ComposeResult:
        leave = ("it keeps running; `labtui history` and the history view follow it" if self.detachable
                 else "labtui stops following it; in the demo lab it is cancelled")
        with Vertical(id="dialog", classes="narrow"):
            yield Label(Text.assemble(("A deploy is running", "bold yellow"), (f" on {', '.join(self.hosts)}", "")))
            yield Static(f"[b]l[/b]  quit and leave it running ({leave})\n"
                         "[b]x[/b]  cancel the deploy, then quit\n"
                         "[b]esc[/b] stay", id="dialog-keys")

    def action_choose(self, what: str) -> None:
        self.dismiss(what)


class YesNoDialog(ModalScreen[bool]):
    """A yes/no question (cancel a deploy?)."""

    BINDINGS = actions.YES_NO_DIALOG.bindings()

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="narrow"):
            yield Label(Text(self.question))  # host names, reasons: text, never markup
            yield Static("[b]y[/b] yes  [b]n[/b] no", id="dialog-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CommandLine(ModalScreen[str | None]):
    """The `:` line at the bottom (k9s): a command and hosts; up/down go through the lines typed before."""

    BINDINGS = actions.COMMAND_LINE.bindings()

    def __init__(self, history: list[str], verbs: list[str], hosts: list[str]) -> None:
        super().__init__()
        self.history = history  # the app's list: what was typed before, oldest first (this adds to it)
        self.verbs = verbs
        self.hosts = hosts
        self._back = len(history)  # where up/down are in the history (len: the line being typed)

    def compose(self) -> ComposeResult:
        with Vertical(id="command-line"):
            with Horizontal(id="command-row"):
                yield Static(":", id="command-prompt")
                yield Input(placeholder="deploy web1 | logs .#db1 | rollback web1 [GEN] | reboot nas | diff nas A [B]"
                                        " | help", id="command")
            yield Static("[b]enter[/b] run  [b]esc[/b] close  [b]tab[/b] complete  [b]up down[/b] earlier lines",
                         id="command-keys")

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()

    def _show(self, text: str) -> None:
        box = self.query_one("#command", Input)
        box.value = text
        box.cursor_position = len(text)

    def action_older(self) -> None:
        if self._back > 0:
            self._back -= 1
            self._show(self.history[self._back])

    def action_newer(self) -> None:
        if self._back < len(self.history):
            self._back += 1
            self._show(self.history[self._back] if self._back < len(self.history) else "")

    def action_complete(self) -> None:
        """The verb, then a host name, completed as far as it is unambiguous."""
        text = self.query_one("#command", Input).value
        head, _, word = text.rpartition(" ")
        choices = self.verbs if not head.strip() else self.hosts
        matches = [c for c in choices if c.startswith(word)]
        if not matches:
            return
        common = matches[0]
        for m in matches[1:]:
            while not m.startswith(common):
                common = common[:-1]
        done = len(matches) == 1
        self._show(f"{head} {common}".lstrip() + (" " if done else ""))
        if not done:
            self.notify("  ".join(matches[:12]), timeout=3)

    @on(Input.Submitted, "#command")
    def _submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self.dismiss(line or None)

    def action_cancel(self) -> None:
        self.dismiss(None)

