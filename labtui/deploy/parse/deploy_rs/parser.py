"""deploy-rs output → run events (docs/deploy-rs-output.md §3-§7, §9, §10; deploy-rs d5eff7f).

deploy-rs prints unstructured log records (`🚀 ℹ️ [deploy] [INFO] Building profile `system` for node
`web1``), relays the target's `[activate]`/`[wait]`/`[revoke]` records over ssh without naming the
node, mixes in nix, ssh and switch-to-configuration output, can exit 0 after a rollback, and its
`Deployment confirmed.` is not final (a Rust panic may still turn it into a failure). This parser
follows one run's merged stdout+stderr and reports what really happened to every node/profile.

Outcome rules (also in docs/events.md):
- build/push failure: the target whose build or push failed `failed` at that stage, every other target
  `not_deployed` (deploy-rs builds all, then pushes all, then activates one by one, so nothing was activated);
  check/eval failure (the flake, no one target): every target `not_deployed`;
- an activation failure: that profile `rolled_back` when a rollback was seen (or is implied by the
  target's exit status), else `failed`; profiles after it `not_deployed`; profiles before it
  `rolled_back` (kind revoke) when deploy-rs revoked them;
- `Deployment confirmed.` gives a `confirmed` event; the `succeeded` result follows only when
  deploy-rs goes on to the next profile or exits 0;
- a rollback seen in the output wins over exit status 0;
- a declined `--interactive` prompt: all `not_deployed`, run `cancelled`;
- the activation timeout (`Waiting over SSH resulted in a bad exit code`) while the target is still activating:
  deploy-rs gives up and exits, the target goes on and, unconfirmed, rolls back by itself. The parser follows the
  target's lines past the final error and the exit (`follow_after_exit`) and reports what it ended as;
- a profile confirmed (`Deployment confirmed.`) whose activation session then died (`SSHActivateExit(Some(255))`,
  no rollback seen) keeps its new generation: `succeeded`, whatever deploy-rs's final error says.
A profile already reported `succeeded` can get a second, superseding `node_result` (`rolled_back`,
stage `revoke`) when a later failure makes deploy-rs revoke it: the last result per profile counts.

Why this module is long (about 900 lines): it is one state machine over one table of targets. Every
record can move several targets (a failure ends the profile being activated, revokes earlier ones and
leaves later ones undeployed), so the handlers for records, errors, revocation and the final judgement
all read and write the same state; split across modules they would have to pass it around whole. What
stands apart is apart: the record vocabulary (`records`), the plan's TOML (`plan`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labtui.deploy.parse import generation_switch
from labtui.deploy.parse.ansi import clean_line
from labtui.deploy.parse.deploy_rs.plan import PlanReader
from labtui.deploy.parse.deploy_rs.records import (
    ACTIVATE_NOT_FINAL_ERROR,
    ACTIVATION_ERRORS,
    CANCEL_ERRORS,
    CONFIRM_TIMEOUT_TEXT,
    DRY_ACTIVATE_OUTPUT_RE,
    EARLY_ERRORS,
    GLUED_RE,
    LOG_FILE_RE,
    LOG_RE,
    PANIC_BODY_RE,
    PANIC_EXIT_RE,
    PANIC_START_RE,
    PROMPT_ERRORS,
    PROMPT_PREFIX,
    QUESTION,
    QUESTION_AGAIN,
    RE_ACTIVATE,
    RE_BUILD,
    RE_BUILD_2026,
    RE_BUILD_FAILED,
    RE_CHECK,
    RE_DEPLOY_FAILED,
    RE_DEPLOY_FAILED_LEGACY,
    RE_EVAL,
    RE_GEN_REMOVED,
    RE_PROFILE_NAME,
    RE_PUSH,
    RE_PUSH_FAILED,
    RE_PUSH_FAILED_LEGACY,
    RE_REVOKE_FAILED,
    RE_REVOKE_FAILED_LEGACY,
    RE_ROLLED_BACK,
    RE_SPINNER,
    RE_STORE_PATH,
    RE_TIMEOUT_FLAG,
    ROLLED_BACK_LEGACY,
    SUDO_PROMPT_RE,
    WAIT_FAILED,
    maybe_structural,
)
from labtui.inventory.model import DEFAULT_ACTIVATION_TIMEOUT, DEFAULT_CONFIRM_TIMEOUT
from labtui.runs.events import (
    GOOD_OUTCOMES,
    ActivationWindow,
    Confirmed,
    ConfirmWindow,
    NodeResult,
    Output,
    PlanEntry,
    Prompt,
    Rollback,
    RunEvent,
    RunOutcome,
    RunResult,
    StageChanged,
)

Key = tuple[str, str | None]

# How long to follow a target after deploy-rs gave up on it (activation timeout), beyond its confirm timeout: its
# switch may still be running (the target rolls back `confirmTimeout` seconds after the switch ends).
FOLLOW_MARGIN = 60
DEFAULT_SOURCE = "deploy-rs's default"

@dataclass
class _Target:
    node: str
    profile: str | None
    stage: str | None = None
    # pending → building → pushing → activating → confirming → confirmed/done → (result) ; or failed
    status: str = "pending"
    magic: bool = False  # `Creating activation waiter` seen: two ssh sessions, canary protocol
    confirm_open: bool = False  # the target started waiting for confirmation
    magic_timeout: bool = False  # the target reported the confirmation timeout
    rollback_kind: str | None = None  # a rollback of this profile was seen (auto, magic, revoke)
    rollback_emitted: bool = False
    generation_removed: int | None = None
    rollback_failed: str | None = None
    remote_error: str | None = None
    error: str | None = None  # the local activation-stage error
    dry: bool = False
    result: NodeResult | None = None
    revoke_pending: bool = False
    confirmed: bool = False  # `Deployment confirmed.`: the canary was removed, the target will not roll back
    activation_window_sent: bool = False
    activate_ended: bool = False  # activate-rs printed its final ERROR
    activation_done: bool = False  # `Activation succeeded!`: the switch is over, the confirmation wait begins
    following: bool = False  # deploy-rs gave up on it (activation timeout) while it still activates

    @property
    def key(self) -> Key:
        return (self.node, self.profile)

    @property
    def label(self) -> str:
        return f"{self.node}.{self.profile}" if self.profile else self.node


class DeployRsParser:
    """Streaming parser of one deploy-rs run. See the module docstring for the outcome rules."""

    def __init__(self, targets: list[tuple[str, str | None]] | None = None, *,
                 confirm_timeouts: dict[tuple[str, str], int] | None = None,
                 activation_timeouts: dict[tuple[str, str], int] | None = None,
                 auto_rollbacks: dict[tuple[str, str], bool] | None = None,
                 dry_activate: bool = False, boot: bool = False,
                 confirm_sources: dict[tuple[str, str], str] | None = None,
                 activation_sources: dict[tuple[str, str], str] | None = None,
                 default_source: str = DEFAULT_SOURCE,
                 default_confirm: tuple[int, str] | None = None,
                 default_activation: tuple[int, str] | None = None) -> None:
        """`confirm_timeouts`/`activation_timeouts` per (node, profile); `*_sources` say where each came from (the
        flake, a command-line option, ...). Targets without one get `default_confirm`/`default_activation`
        ((seconds, source), e.g. an option given to `labtui parse-log`), else deploy-rs's defaults (`default_source`).
        The events and messages name the source. A `-d` log's constructed commands override all (source `log`)."""
        self._targets: list[_Target] = []
        self._index: dict[Key, _Target] = {}
        for node, profile in targets or []:
            if (node, profile) not in self._index:
                self._add(_Target(node, profile))
        self._given = {t.key for t in self._targets}  # keys named by the caller (their order is kept)
        self._confirm_timeouts: dict[Key, int] = {k: v for k, v in (confirm_timeouts or {}).items()}
        self._activation_timeouts: dict[Key, int] = {k: v for k, v in (activation_timeouts or {}).items()}
        self._auto_rollbacks: dict[Key, bool] = {k: v for k, v in (auto_rollbacks or {}).items()}
        self._sources: dict[str, dict[Key, str]] = {
            "confirm": {k: v for k, v in (confirm_sources or {}).items()},
            "activation": {k: v for k, v in (activation_sources or {}).items()}}
        self._default_source = default_source
        self._defaults = {"confirm": default_confirm or (DEFAULT_CONFIRM_TIMEOUT, default_source),
                          "activation": default_activation or (DEFAULT_ACTIVATION_TIMEOUT, default_source)}
        self.dry_activate = dry_activate
        self.boot = boot
        self.plan: list[PlanEntry] = []  # deploy-rs's plan, once printed (with or without --interactive)
        self.repos: list[str] = []  # flakes named by `Running checks for` / `Evaluating flake in`
        self._plan: PlanReader | None = None
        self._awaiting = False
        self._run_stage: str | None = None
        self._ctx: tuple[str | None, str | None, str | None] = (None, None, None)
        self._building: _Target | None = None
        self._pushing: _Target | None = None
        self._current: _Target | None = None  # the profile being activated
        self._deploy_order: list[_Target] = []  # build (else push) order = activation order
        self._activated: list[_Target] = []  # in activation order
        self._revoke_queue: list[_Target] | None = None
        self._revoking: _Target | None = None
        self._revoke_cmd_seen = False
        self._panic_lines = 0  # lines of a panic message still to drop
        self._panic_exit: int | None = None
        self._last_nix_error: str | None = None
        self._last_error: str | None = None  # last [deploy] ERROR message
        self._failure: tuple[str, str | None, str] | None = None  # (kind, stage, reason) of the run failure
        self._run_reason: str | None = None
        self._declined = False
        self._terminal = False  # the final error of the run was printed
        self._exit_overruled = False  # deploy-rs exited non-zero, but every profile it failed is known to be fine
        self._finished = False

    # ------------------------------------------------------------------ public API

    @property
    def awaiting_answer(self) -> bool:
        return self._awaiting

    def mark_answered(self) -> None:
        """The runner wrote the operator's answer; stop reporting `awaiting_answer`."""
        self._awaiting = False

    @property
    def follow_after_exit(self) -> float | None:
        """Seconds to keep reading after deploy-rs exited, for a target it gave up on (activation timeout) that is
        still activating: its own lines (success, confirmation wait, rollback) arrive through the orphaned ssh
        session and say what it ended as. None when there is nothing to follow."""
        following = [t for t in self._targets if t.following and t.result is None]
        if not following:
            return None
        return float(max(self._window("confirm", t)[0] for t in following) + FOLLOW_MARGIN)

    @property
    def results(self) -> dict[Key, NodeResult]:
        """The latest `node_result` of every target that has one."""
        return {t.key: t.result for t in self._targets if t.result is not None}

    @property
    def targets(self) -> list[Key]:
        """Known targets in order: the ones given, then the ones learned from the output."""
        return [t.key for t in self._targets]

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        text = clean_line(line) if ("\x1b" in line or "\r" in line or line.endswith("\n")) else line
        if self._plan is None and not self._panic_lines and not maybe_structural(text):
            # Fast path for the bulk of a log (nix build output): nothing but an `output` event.
            if self._finished:
                return [self._output(text, ts, "raw")] if text.strip() else []
            if self._terminal:
                return self._raw_after_end(text, ts)
            return self._raw(text, ts)
        if self._finished:
            return [self._output(text, ts, "raw")] if text.strip() else []
        # The `> ` prompt has no newline: the next record is glued to it (`> 🚀 ℹ️ [deploy] ...`).
        while text.startswith(PROMPT_PREFIX) and LOG_RE.match(text[2:].lstrip()):
            text = text[2:].lstrip()
        # Likewise the sudo prompt deploy-rs writes to the terminal, when it runs in a pty (§5.2).
        m = SUDO_PROMPT_RE.match(text)
        if m and LOG_RE.match(text[m.end():]):
            text = text[m.end():]
        if text.rstrip() == ">":
            return []
        events: list[RunEvent] = []
        if not LOG_RE.match(text) and not PANIC_START_RE.match(text):
            # A record glued to the end of another program's unfinished line (a nix progress line, an
            # orphaned ssh child writing into the same pipe): the head is raw output, then the record.
            glued = GLUED_RE.search(text, 1)
            if glued is not None and LOG_RE.match(text[glued.start():]):
                head, text = text[:glued.start()], text[glued.start():]
                events.extend(self.feed(head, ts))
        if self._plan is not None:
            if self._plan.take(text):
                return [self._output(text, ts, "local")] if text.strip() else []
            events.extend(self._end_plan(ts))
        if self._panic_lines:
            self._panic_lines -= 1
            if PANIC_BODY_RE.match(text):
                self._note_panic(text)
                self._panic_lines = max(self._panic_lines, 2)  # a RUST_BACKTRACE=1 backtrace goes on
                return events
        if PANIC_START_RE.match(text):
            self._panic_lines = 3  # its two other lines, maybe with another process's line between
            self._note_panic(text)
            return events
        m = LOG_RE.match(text) if "[" in text else None
        if m is not None:
            tag, level, message = m.group(1), m.group(2), m.group(3).rstrip()
        else:
            mf = LOG_FILE_RE.match(text) if text[:1] in "EWIDT" else None
            if mf is None:
                events.extend(self._raw_after_end(text, ts) if self._terminal else self._raw(text, ts))
                return events
            level, tag, message = mf.group(1), mf.group(2), mf.group(3).rstrip()
        self._awaiting = False
        if self._terminal:
            following = self._following()
            if following is not None and tag == "activate":
                # deploy-rs gave up on this target (activation timeout), which goes on activating: its lines say
                # how it ends (§6).
                events.extend(self._remote(tag, level, message, text, ts))
                events.extend(self._follow_end(following, ts))
                return events
            # Other orphaned ssh children keep printing after the run's final error (§6): shown, but they change
            # no outcome.
            events.append(self._output(text, ts, "local" if tag == "deploy" else tag))
            return events
        if tag == "deploy":
            events.extend(self._local(level, message, text, ts))
        else:
            events.extend(self._remote(tag, level, message, text, ts))
        return events

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        if self._finished:
            return []
        events: list[RunEvent] = []
        if self._plan is not None:
            events.extend(self._end_plan(ts))
        self._finished = True
        self._awaiting = False
        ok_exit = exit_code == 0 and not cancelled
        if ok_exit and self._current is not None and self._current.status in ("confirmed", "done"):
            events.extend(self._succeed(self._current, ts))
        events.extend(self._finalize(ts, exit_code, cancelled, final=True))
        outcomes = [t.result.outcome for t in self._targets if t.result is not None]
        run: RunOutcome
        if cancelled or self._declined:
            run = "cancelled"
        elif (ok_exit or self._exit_overruled) and outcomes and all(o in GOOD_OUTCOMES for o in outcomes):
            run = "succeeded"
        else:
            run = "failed"
        events.append(RunResult(ts=ts, outcome=run, exit_code=exit_code, message=self._run_message(run, exit_code)))
        return events

    def _run_message(self, run: str, exit_code: int | None) -> str:
        if run == "succeeded":
            return ""
        if self._declined:
            return "declined at the deploy-rs prompt"
        if run == "cancelled":
            return "cancelled by the operator"
        bad = [t for t in self._targets if t.result is not None and t.result.outcome not in GOOD_OUTCOMES]
        if self._run_reason:
            return self._run_reason
        if self._failure is not None and self._failure[0] not in ("activate",):
            return self._failure[2]
        if bad:
            first = bad[0]
            if exit_code == 0:
                return f"deploy-rs exited 0, but {first.label} {first.result.outcome.replace('_', ' ')}"  # type: ignore[union-attr]
            return f"{first.label}: {first.result.outcome.replace('_', ' ')}: {first.result.message}"  # type: ignore[union-attr]
        if self._last_error:
            return self._last_error
        return self._exit_text(exit_code, False)

    # ------------------------------------------------------------------ targets

    def _add(self, t: _Target, after: _Target | None = None) -> _Target:
        if after is None:
            self._targets.append(t)
        else:
            self._targets.insert(self._targets.index(after) + 1, t)
        self._index[t.key] = t
        return t

    def _target(self, node: str, profile: str | None) -> _Target:
        """The target (node, profile), learning it (or its profile) from the output if new."""
        t = self._index.get((node, profile))
        if t is not None:
            return t
        if profile is not None:
            placeholder = self._index.get((node, None))
            if placeholder is not None and placeholder.result is None:
                # `deploy .#web1` deploys every profile of web1: the first one seen takes its place.
                del self._index[(node, None)]
                placeholder.profile = profile
                self._index[placeholder.key] = placeholder
                if (node, None) in self._given:
                    self._given.add(placeholder.key)
                return placeholder
            same_node = [x for x in self._targets if x.node == node]
            if (node, None) in self._given:  # another profile of a node the caller named
                self._given.add((node, profile))
            return self._add(_Target(node, profile), after=same_node[-1] if same_node else None)
        return self._add(_Target(node, None))

    def _timeout(self, table: dict[Key, int], t: _Target, default: int) -> int:
        for key in ((t.node, t.profile), (t.node, None)):
            if key in table:
                return table[key]
        return default

    def _window(self, which: str, t: _Target) -> tuple[int, str]:
        """The confirm or activation timeout of `t` and where it came from ("" when the caller did not say)."""
        table = self._confirm_timeouts if which == "confirm" else self._activation_timeouts
        for key in ((t.node, t.profile), (t.node, None)):
            if key in table:
                return table[key], self._sources[which].get(key, "")
        return self._defaults[which]

    def _seconds(self, which: str, t: _Target) -> str:
        """`30 s (deploy-rs's default)`: a timeout as messages give it, with its source."""
        seconds, source = self._window(which, t)
        return f"{seconds} s ({source})" if source else f"{seconds} s"

    # ------------------------------------------------------------------ plan and prompt

    def _end_plan(self, ts: float) -> list[RunEvent]:
        reader, self._plan = self._plan, None
        assert reader is not None
        entries = reader.entries()
        for entry in entries:
            self._target(entry.node, entry.profile)
        # deploy-rs prints one plan per run, but keep every one seen (interleaved runs, several prints)
        known = {(e.node, e.profile) for e in entries}
        self.plan = [e for e in self.plan if (e.node, e.profile) not in known] + entries
        return []

    # ------------------------------------------------------------------ events helpers

    def _output(self, text: str, ts: float, source: str, t: _Target | None = None) -> Output:
        if t is not None:
            return _new_output(ts, t.node, t.stage, text, source)
        node, _profile, stage = self._ctx
        return _new_output(ts, node, stage, text, source)

    def _stage(self, t: _Target | None, stage: str, ts: float) -> StageChanged:
        if t is None:
            self._run_stage = stage
            self._ctx = (None, None, stage)
            return StageChanged(ts=ts, node=None, profile=None, stage=stage)
        t.stage = stage
        self._ctx = (t.node, t.profile, stage)
        return StageChanged(ts=ts, node=t.node, profile=t.profile, stage=stage)

    def _result(self, t: _Target, outcome: str, ts: float, message: str = "", stage: str | None = None) -> NodeResult:
        r = NodeResult(ts=ts, node=t.node, profile=t.profile, outcome=outcome,  # type: ignore[arg-type]
                       stage=stage if stage is not None else (t.stage or self._run_stage), message=message)
        t.result = r
        return r

    def _activation_window(self, t: _Target, ts: float) -> list[RunEvent]:
        if t.activation_window_sent:
            return []
        t.activation_window_sent = True
        seconds, source = self._window("activation", t)
        return [ActivationWindow(ts=ts, node=t.node, profile=t.profile or "", seconds=seconds, source=source)]

    def _rollback_event(self, t: _Target, ts: float) -> list[RunEvent]:
        if t.rollback_kind is None or t.rollback_emitted:
            return []
        t.rollback_emitted = True
        return [Rollback(ts=ts, node=t.node, profile=t.profile, rollback_kind=t.rollback_kind,  # type: ignore[arg-type]
                         generation_removed=t.generation_removed)]

    # ------------------------------------------------------------------ raw lines

    def _raw(self, text: str, ts: float) -> list[RunEvent]:
        if not text or text.isspace():
            return []
        if "error" in text and self._last_nix_error is None:
            # nix names the root cause first (`error: builder for ... failed`); later errors are
            # consequences (`1 dependencies of derivation ... failed to build`).
            stripped = text.strip()
            if stripped.startswith(("error:", "error (")) and stripped != "error:":
                self._last_nix_error = stripped
        events: list[RunEvent] = []
        if self.dry_activate and "would" in text and DRY_ACTIVATE_OUTPUT_RE.match(text) \
                and (self._current is None or self._current.status not in ("activating", "confirming")):
            events.extend(self._start_dry(ts))
        if "profile '" in text:
            m = RE_SPINNER.match(text)
            if m:  # 2026 deploy-rs: build/push progress lines instead of log records
                t = self._target(m.group(3), m.group(2))
                progress = "build" if m.group(1) == "Building" else "push"
                if t.stage != progress and t.result is None:
                    events.extend(self._begin_build_or_push(t, progress, ts))
        node, _profile, stage = self._ctx
        events.append(_new_output(ts, node, stage, text, "raw"))
        switch = generation_switch(text, ts, node)
        if switch is not None:
            events.append(switch)
        return events

    def _raw_after_end(self, text: str, ts: float) -> list[RunEvent]:
        """A raw line after the run's final error (orphans): shown, and a generation switch still counts."""
        if not text.strip():
            return []
        out = self._output(text, ts, "raw")
        switch = generation_switch(text, ts, out.node)
        return [out] if switch is None else [out, switch]

    def _note_panic(self, text: str) -> None:
        m = PANIC_EXIT_RE.search(text)
        if m:
            self._panic_exit = int(m.group(1))

    # ------------------------------------------------------------------ local [deploy] records

    def _local(self, level: str, message: str, text: str, ts: float) -> list[RunEvent]:
        if level == "ERROR":
            return self._local_error(message, text, ts)
        events: list[RunEvent] = []
        out = None
        t: _Target | None
        if (m := RE_BUILD.match(message)) or (m := RE_BUILD_2026.match(message)):
            t = self._target(m.group(2), m.group(1))
            events.extend(self._begin_build_or_push(t, "build", ts))
        elif m := RE_PUSH.match(message):
            events.extend(self._begin_build_or_push(self._target(m.group(2), m.group(1)), "push", ts))
        elif m := RE_ACTIVATE.match(message):
            events.extend(self._begin_activation(self._target(m.group(2), m.group(1)), ts))
        elif m := RE_CHECK.match(message):
            # deploy-rs checks and evaluates once per target (#318): one stage event is enough
            self._add_repo(m.group(1))
            if self._run_stage != "check":
                events.append(self._stage(None, "check", ts))
        elif m := RE_EVAL.match(message):
            self._add_repo(m.group(1))
            if self._run_stage != "eval":
                events.append(self._stage(None, "eval", ts))
        elif message.startswith("The following profiles are going to be deployed:"):
            self._plan = PlanReader()
            rest = message.split(":", 1)[1].strip()
            if rest:
                self._plan.take(rest)
        elif message == QUESTION or message.startswith(QUESTION_AGAIN):
            events.append(self._output(text, ts, "local"))
            events.append(Prompt(ts=ts, plan=list(self.plan), question=message))
            self._awaiting = True
            return events
        elif message == "Creating activation waiter":
            # deploy-rs starts the target's `wait` now (its `[wait]` line is skipped when the canary file already
            # exists, §6): the activation countdown starts from this line, which is always printed.
            if self._current is not None:
                self._current.magic = True
                events.extend(self._activation_window(self._current, ts))
        elif message.startswith("Constructed activation command:") and self._current is not None:
            self._learn_timeout(self._confirm_timeouts, "confirm", message, self._current)
        elif message.startswith("Constructed wait command:") and self._current is not None:
            self._learn_timeout(self._activation_timeouts, "activation", message, self._current)
        elif message == "Success activating, attempting to confirm activation":
            t = self._current
            if t is not None:
                t.status = "confirming"
                if t.stage != "confirm":
                    events.append(self._stage(t, "confirm", ts))
        elif message == "Deployment confirmed.":
            t = self._current
            if t is not None and t.rollback_kind is None:
                t.status = "confirmed"
                t.confirmed = True
                out = self._output(text, ts, "local", t)
                events.extend([out, Confirmed(ts=ts, node=t.node, profile=t.profile or "")])
                return events
        elif message in ("Success activating, done!", "Success activating for next boot, done!"):
            t = self._current
            if t is not None:
                t.status = "done"
                out = self._output(text, ts, "local", t)
                note = "activated for next boot" if "next boot" in message else ""
                return [out, *self._succeed(t, ts, note)]
        elif message == "Completed dry-activate!":
            self.dry_activate = True
            events.extend(self._start_dry(ts))
            t = self._current
            if t is not None:
                t.status = "done"
                events.append(self._output(text, ts, "local", t))
                events.extend(self._succeed(t, ts))
                return events
        elif message == "dry run, not rolling back":
            self.dry_activate = True
        elif message == "Revoking previous deploys":
            events.append(self._output(text, ts, "local"))
            events.extend(self._begin_revoke_phase(ts))
            return events
        elif message.startswith("Constructed revoke command:"):
            events.extend(self._next_revoke(ts, command=message))
            self._revoke_cmd_seen = True
        events.insert(_after_stages(events), out or self._output(text, ts, "local"))
        return events

    def _add_repo(self, repo: str) -> None:
        if repo not in self.repos:
            self.repos.append(repo)

    def _learn_timeout(self, table: dict[Key, int], which: str, command: str, t: _Target) -> None:
        m = RE_TIMEOUT_FLAG[which].search(command)
        if m and t.profile is not None:
            table[(t.node, t.profile)] = int(m.group(1))
            self._sources[which][(t.node, t.profile)] = "log"

    def _begin_build_or_push(self, t: _Target, stage: str, ts: float) -> list[RunEvent]:
        if t not in self._deploy_order:
            if t.key not in self._given:
                # learned from the plan, whose order is random: keep learned targets in deployment order
                self._targets.remove(t)
                earlier = [x for x in self._deploy_order if x in self._targets]
                if earlier:
                    self._targets.insert(self._targets.index(earlier[-1]) + 1, t)
                else:
                    learned = [i for i, x in enumerate(self._targets) if x.key not in self._given]
                    self._targets.insert(learned[0] if learned else len(self._targets), t)
            self._deploy_order.append(t)
        t.status = "building" if stage == "build" else "pushing"
        if stage == "build":
            self._building = t
        else:
            self._pushing, self._building = t, None
        self._last_nix_error = None
        return [self._stage(t, stage, ts)]

    def _begin_activation(self, t: _Target, ts: float) -> list[RunEvent]:
        events: list[RunEvent] = []
        prev = self._current
        if prev is not None and prev is not t and prev.status in ("confirmed", "done") and prev.result is None:
            # deploy-rs went on to the next profile: the previous one is final.
            events.extend(self._succeed(prev, ts))
        self._building = self._pushing = None
        self._current = t
        t.status = "activating"
        t.dry = self.dry_activate
        if t not in self._activated:
            self._activated.append(t)
        self._last_nix_error = None
        events.append(self._stage(t, "activate", ts))
        return events

    def _rolled_back_anyway(self, t: _Target, ts: float) -> list[RunEvent]:
        """A rollback was seen without a local error for it."""
        events = self._rollback_event(t, ts)
        kind = "magic rollback" if t.rollback_kind == "magic" else "automatic rollback"
        why = f": {t.remote_error}" if t.remote_error else ""
        if t.rollback_failed:
            events.append(self._result(t, "failed", ts, f"the target tried to roll back ({kind}) and failed: "
                                       f"{t.rollback_failed}"))
        else:
            events.append(self._result(t, "rolled_back", ts, f"the target rolled back ({kind}){why}"))
        return events

    def _start_dry(self, ts: float) -> list[RunEvent]:
        """With --dry-activate deploy-rs prints no `Activating profile` line: the next profile in
        deployment order starts when its target output (or `Completed dry-activate!`) shows up."""
        cur = self._current
        if not self.dry_activate or (cur is not None and cur.status == "activating"):
            return []
        for t in self._deploy_order:
            if t.status in ("building", "pushing", "pending") and t.result is None:
                return self._begin_activation(t, ts)
        return []

    def _succeed(self, t: _Target, ts: float, note: str = "") -> list[RunEvent]:
        if t.result is not None:
            return []
        if t.rollback_kind is not None:
            # e.g. deploy-rs before PR #246: `Deployment confirmed.`, then the target timed out,
            # rolled back and exited 0 (#214). The rollback is what happened.
            return self._rolled_back_anyway(t, ts)
        if t.dry or self.dry_activate:
            return [self._result(t, "dry_activated", ts, note or "dry activation completed", stage="activate")]
        stage = "confirm" if t.magic or t.stage == "confirm" else "activate"
        default = "confirmed" if stage == "confirm" else ("activated for next boot" if self.boot else "activated")
        return [self._result(t, "succeeded", ts, note or default, stage=stage)]

    # ------------------------------------------------------------------ errors

    def _local_error(self, message: str, text: str, ts: float) -> list[RunEvent]:
        self._last_error = message
        events: list[RunEvent] = []
        cur = self._current
        if message.startswith(ACTIVATION_ERRORS):
            t = cur if cur is not None else self._start_dry_target()
            events.append(self._output(text, ts, "local", t))
            if t is not None and t.error is None:
                t.error = message
                t.status = "failed"
                if message.startswith(WAIT_FAILED) and t.magic and not (t.activation_done or t.activate_ended) \
                        and t.rollback_kind is None:
                    t.following = True  # the target is still activating: its end comes after deploy-rs's
                else:
                    events.extend(self._judge_activation_failure(t, message, ts))
            return events
        events.append(self._output(text, ts, "local", cur))
        if (m := RE_DEPLOY_FAILED.match(message)) or (m2 := RE_DEPLOY_FAILED_LEGACY.match(message)):
            cause = m.group(3) if m else m2.group(1)  # type: ignore[union-attr]
            t = cur
            if t is not None and t.error is None:
                t.error, t.status = cause, "failed"
                events.extend(self._judge_activation_failure(t, cause, ts))
            self._failure = ("activate", "activate", f"{t.label if t else 'a profile'} failed to activate")
            events.extend(self._terminate(ts))
        elif RE_ROLLED_BACK.match(message) or message == ROLLED_BACK_LEGACY:
            events.extend(self._finish_revokes(ts, all_done=True))
            self._failure = ("activate", "activate", f"{cur.label if cur else 'a profile'} failed to activate")
            events.extend(self._terminate(ts))
        elif (m := RE_REVOKE_FAILED.match(message)) or (m2 := RE_REVOKE_FAILED_LEGACY.match(message)):
            events.extend(self._revoke_failed(m.group(2) if m else None, message, ts))
            self._failure = ("revoke", "revoke", message)
            events.extend(self._terminate(ts))
        elif (m := RE_BUILD_FAILED.match(message)) or (m := RE_PUSH_FAILED.match(message)) \
                or (m2 := RE_PUSH_FAILED_LEGACY.match(message)):
            stage = "build" if message.startswith("Failed to build") else "push"
            if m is not None:
                node, profile = m.group(2), m.group(1)
                t = self._building_or_pushing(stage, node, profile)
            else:
                t = self._pushing
            events.extend(self._fail_before_activation(t, stage, message, ts))
        elif message.startswith(CANCEL_ERRORS):
            self._declined = True
            self._failure = ("cancel", self._run_stage, "declined at the deploy-rs prompt")
            events.extend(self._terminate(ts))
        elif message.startswith(PROMPT_ERRORS):
            self._failure = ("prompt", self._run_stage, message)
            events.extend(self._terminate(ts))
        else:
            for prefix, early_stage in EARLY_ERRORS:
                if message.startswith(prefix):
                    events.extend(self._fail_before_activation(None, early_stage or self._run_stage, message, ts))
                    break
            # Anything else (e.g. `Cannot use both --dry-activate & --boot!`) is not fatal by itself;
            # if deploy-rs exits non-zero after it, `finish` reports it as the reason.
        return events

    def _start_dry_target(self) -> _Target | None:
        if not self.dry_activate:
            return None
        for t in self._deploy_order:
            if t.result is None and t.status in ("building", "pushing", "pending"):
                self._current = t
                t.dry = True
                t.stage = "activate"
                return t
        return None

    def _building_or_pushing(self, stage: str, node: str, profile: str | None) -> _Target:
        cur = self._building if stage == "build" else self._pushing
        if profile is None and cur is not None and cur.node == node:
            return cur
        if profile is None:
            same = [t for t in self._targets if t.node == node]
            return same[-1] if same else self._target(node, None)
        return self._target(node, profile)

    def _fail_before_activation(self, t: _Target | None, stage: str | None, message: str, ts: float) -> list[RunEvent]:
        reason = message
        if self._last_nix_error and self._last_nix_error not in message:
            reason = f"{message} ({self._last_nix_error})"
        if t is not None:
            t.stage = stage
            t.status = "failed"
            # Its own step failed: `failed` at that stage (nothing was activated); the others are `not_deployed`.
            events: list[RunEvent] = [self._result(t, "failed", ts, reason, stage=stage)]
            self._failure = (stage or "error", stage, f"not deployed: {stage} of {t.label} failed")
            self._run_reason = f"{stage} of {t.label} failed: {reason}"
        else:
            events = []
            self._failure = (stage or "error", stage, reason)
        events.extend(self._terminate(ts))
        return events

    def _judge_activation_failure(self, t: _Target, message: str, ts: float) -> list[RunEvent]:
        """Decide, from everything seen, whether the failing profile is back on its old generation."""
        if t.rollback_failed:
            t.status = "failed"
            return []
        if t.rollback_kind is None:
            if "RecvError" in message and (self._panic_exit == 1 or t.magic_timeout):
                # activate-rs exits 1 after the confirmation timeout, once it has rolled back.
                t.rollback_kind = "magic"
            elif t.magic_timeout:
                t.rollback_kind = "magic"
        return self._rollback_event(t, ts)

    def _activation_failure_result(self, t: _Target, ts: float) -> NodeResult:
        err = t.error or "activation failed"
        detail = f"{err}; target: {t.remote_error}" if t.remote_error and t.remote_error not in err else err
        if t.dry and t.rollback_kind is None:
            # a dry activation changes nothing on the host, whatever went wrong
            return self._result(t, "not_deployed", ts, f"dry activation failed: {detail}")
        if t.rollback_failed:
            return self._result(t, "failed", ts, f"{detail}; the rollback failed too: {t.rollback_failed}")
        if t.rollback_kind == "magic":
            return self._result(t, "rolled_back", ts,
                                f"no confirmation within {self._seconds('confirm', t)}: the target rolled back by "
                                f"itself (magic rollback); {err}")
        if t.confirmed and not t.magic_timeout and (self._panic_exit == 255 or "Some(255)" in err):
            # The confirmation reached the target (the canary is gone), then the activation's ssh session died:
            # nothing rolls the target back, whatever deploy-rs's final error says (docs/deploy-rs-output.md §7).
            self._exit_overruled = True
            return self._result(t, "succeeded", ts,
                                "confirmed; the activation's ssh session died afterwards (exit 255), which deploy-rs "
                                "reports as a failure and a rollback that did not happen: a confirmed target keeps "
                                "the new generation", stage="confirm")
        if t.rollback_kind == "auto":
            return self._result(t, "rolled_back", ts, f"activation failed and was rolled back: {detail}")
        if err.startswith("Waiting over SSH"):
            return self._result(t, "failed", ts,
                                f"{err}: activation did not finish within {self._seconds('activation', t)}; the target "
                                "may still be activating and should roll back by itself when unconfirmed; check the "
                                "host")
        if "RecvError" in err:
            code = f" (exit {self._panic_exit})" if self._panic_exit is not None else ""
            return self._result(t, "failed", ts,
                                f"{err}: the activation ssh session ended badly{code} after confirmation; the host "
                                "may be on the new generation or may have rolled back by itself; check it")
        if t.magic and "Some(255)" in err and not t.confirm_open:
            return self._result(t, "failed", ts,
                                f"{detail}: the activation's ssh session died; deploy-rs reports a rollback it did not "
                                "see: if activate-rs lived on, the target rolls back by itself once unconfirmed for "
                                f"{self._seconds('confirm', t)}, else it keeps the new generation; check the host")
        if t.magic and (t.confirm_open or "Some(255)" in err):
            return self._result(t, "failed", ts,
                                f"{detail}; the target should roll back by itself within "
                                f"{self._seconds('confirm', t)} (magic rollback), but that was not seen; check the "
                                "host")
        return self._result(t, "failed", ts, f"{detail}; no rollback seen: the host may be left on the new generation")

    def _following(self) -> _Target | None:
        return next((t for t in self._targets if t.following and t.result is None), None)

    def _follow_end(self, t: _Target, ts: float) -> list[RunEvent]:
        """The result of a target deploy-rs gave up on, once activate-rs printed its final error."""
        if not t.activate_ended:
            return []
        t.following = False
        return [*self._rollback_event(t, ts), self._following_result(t, ts)]

    def _following_result(self, t: _Target, ts: float) -> NodeResult:
        gave_up = f"deploy-rs gave up at its activation timeout of {self._seconds('activation', t)}"
        if t.rollback_failed:
            return self._result(t, "failed", ts, f"{gave_up}; the target went on, then failed to roll back: "
                                f"{t.rollback_failed}")
        if t.rollback_kind == "magic":
            return self._result(t, "rolled_back", ts, f"{gave_up} while the target was still activating; the target "
                                f"finished, was not confirmed within {self._seconds('confirm', t)} and rolled back "
                                "by itself (magic rollback)")
        if t.rollback_kind is not None:
            why = f": {t.remote_error}" if t.remote_error else ""
            return self._result(t, "rolled_back", ts, f"{gave_up}; the target's activation then failed and it rolled "
                                f"back{why}")
        if t.activate_ended:
            return self._result(t, "failed", ts, f"{gave_up}; the target's activation ended with: {t.remote_error}; "
                                "no rollback seen: the host may be on the new generation; check it")
        return self._result(t, "failed", ts, f"{gave_up} while the target was still activating; its output ended "
                            "before it did: unconfirmed, it rolls back by itself; check the host")

    def _terminate(self, ts: float) -> list[RunEvent]:
        """The run's final error was printed: every target gets its result now (but one it is still following)."""
        self._terminal = True
        return self._finalize(ts, 1, False)

    def _finalize(self, ts: float, exit_code: int | None, cancelled: bool, final: bool = False) -> list[RunEvent]:
        events: list[RunEvent] = []
        failing = self._current if self._current is not None and self._current.status == "failed" else None
        events.extend(self._finish_revokes(ts, all_done=False))
        for t in self._targets:
            if t.result is not None:
                continue
            if t.following:
                if final:  # the follow is over without the target's end
                    t.following = False
                    events.extend(self._rollback_event(t, ts))
                    events.append(self._following_result(t, ts))
                continue
            events.extend(self._rollback_event(t, ts))
            if t.status == "failed" and t.error is not None:
                events.append(self._activation_failure_result(t, ts))
            elif t.rollback_kind is not None:
                events.extend(self._rolled_back_anyway(t, ts))
            elif t.status in ("confirmed", "done"):
                if exit_code == 0 and not cancelled:
                    events.extend(self._succeed(t, ts))
                else:
                    events.append(self._result(t, "failed", ts, self._exit_text(exit_code, cancelled) +
                                               " right after it was confirmed; check the host"))
            elif t.status in ("activating", "confirming"):
                if exit_code == 0 and not cancelled:
                    events.extend(self._succeed(t, ts, "deploy-rs exited 0"))
                else:
                    hint = ""
                    if t.magic:
                        within = self._seconds("confirm", t)
                        hint = f"; unconfirmed, the target should roll back by itself within {within}"
                    events.append(self._result(t, "failed", ts, self._exit_text(exit_code, cancelled) +
                                               f" during activation; the host may be on the new generation{hint}"))
            else:
                reason = self._not_deployed_reason(failing, exit_code, cancelled)
                events.append(self._result(t, "not_deployed", ts, reason, stage=t.stage or self._run_stage))
        return events

    def _exit_text(self, exit_code: int | None, cancelled: bool) -> str:
        if cancelled:
            return "cancelled"
        if exit_code is None:
            return "deploy-rs was killed"
        return f"deploy-rs exited with code {exit_code}"

    def _not_deployed_reason(self, failing: _Target | None, exit_code: int | None, cancelled: bool) -> str:
        if self._declined:
            return "declined at the deploy-rs prompt"
        if failing is not None:
            return f"not activated: {failing.label} failed first"
        if self._failure is not None:
            return self._failure[2]
        if cancelled:
            return "cancelled before activation"
        if exit_code == 0:
            return "deploy-rs exited 0 without deploying it"
        reason = self._exit_text(exit_code, cancelled) + " before activating it"
        if exit_code == 2:
            reason = "deploy rejected its command line (exit 2)"
        last = self._last_error or self._last_nix_error
        return f"{reason}: {last}" if last else reason

    # ------------------------------------------------------------------ revocation (§4.6)

    def _begin_revoke_phase(self, ts: float) -> list[RunEvent]:
        failing = self._current
        self._revoke_queue = [
            t for t in self._activated
            if t is not failing and t.status in ("confirmed", "done")
            and self._auto_rollbacks.get((t.node, t.profile or ""), True)
        ]
        # deploy-rs prints `Revoking previous deploys` even when there is nothing to revoke.
        return [self._stage(None, "revoke", ts)] if self._revoke_queue else []

    def _next_revoke(self, ts: float, command: str | None = None) -> list[RunEvent]:
        events = self._finish_revokes(ts, all_done=False, current_only=True)
        queue = self._revoke_queue or []
        if not queue:
            self._revoking = None
            return events
        t = queue[0]
        if command is not None:  # `-d`: the revoke command names the profile and its store path
            t = self._match_revoke_command(command, queue) or t
        queue.remove(t)
        self._revoking = t
        t.revoke_pending = True
        t.rollback_kind, t.rollback_emitted, t.generation_removed = "revoke", False, None
        events.append(self._stage(t, "revoke", ts))
        return events

    def _match_revoke_command(self, command: str, queue: list[_Target]) -> _Target | None:
        paths = {e.path: (e.node, e.profile) for e in self.plan if e.path}
        m = RE_STORE_PATH.search(command)
        if m and m.group(1) in paths:
            key = paths[m.group(1)]
            for t in queue:
                if t.key == key:
                    return t
        m = RE_PROFILE_NAME.search(command)
        if m:
            for t in queue:
                if t.profile == m.group(1):
                    return t
        return None

    def _finish_revokes(self, ts: float, *, all_done: bool, current_only: bool = False) -> list[RunEvent]:
        """Report the revoked profiles: the one being revoked, and with `all_done` (deploy-rs said
        it rolled back) the rest of the queue too."""
        events: list[RunEvent] = []
        done = [self._revoking] if self._revoking is not None else []
        if all_done and not current_only:
            done += list(self._revoke_queue or [])
            self._revoke_queue = []
        for t in done:
            if not t.revoke_pending:
                t.revoke_pending = True
                t.rollback_kind, t.rollback_emitted = "revoke", False
            t.revoke_pending = False
            t.stage = "revoke"
            events.extend(self._rollback_event(t, ts))
            events.append(self._result(t, "rolled_back", ts,
                                       "revoked by deploy-rs after a later profile failed", stage="revoke"))
        self._revoking = None
        return events

    def _revoke_failed(self, node: str | None, message: str, ts: float) -> list[RunEvent]:
        t = self._revoking
        if t is None and self._revoke_queue:
            candidates = [x for x in self._revoke_queue if node is None or x.node == node]
            t = candidates[0] if candidates else None
        if t is None:
            return []
        self._revoking = None
        t.revoke_pending = False
        return [self._result(t, "failed", ts, f"{message}; the host may be left on the new generation",
                             stage="revoke")]

    # ------------------------------------------------------------------ remote records

    def _remote(self, tag: str, level: str, message: str, text: str, ts: float) -> list[RunEvent]:
        events: list[RunEvent] = []
        if tag == "revoke":
            if message == "De-activating due to error" and not self._revoke_cmd_seen:
                events.extend(self._next_revoke(ts))
            elif message == "De-activating due to error":
                self._revoke_cmd_seen = False
            t = self._revoking
        else:
            current = self._current
            if current is None or (self.dry_activate and current.status not in ("activating", "confirming")):
                events.extend(self._start_dry(ts))
            t = self._current
        out = self._output(text, ts, tag, t)
        if t is None:
            return [*events, out]
        n_lead = len(events)
        if message == "Waiting for confirmation event...":
            if tag == "activate":
                t.confirm_open = True
                if t.stage != "confirm":
                    events.append(self._stage(t, "confirm", ts))
                    n_lead += 1
                    out = self._output(text, ts, tag, t)
                seconds, source = self._window("confirm", t)
                events.append(ConfirmWindow(ts=ts, node=t.node, profile=t.profile or "", seconds=seconds,
                                            source=source))
            elif tag == "wait":
                events.extend(self._activation_window(t, ts))  # a log without `Creating activation waiter`
        elif message == "Activation succeeded!" and tag == "activate":
            t.activation_done = True
        elif message == "De-activating due to error" and tag == "activate":
            t.rollback_kind = "magic" if (t.confirm_open or t.magic_timeout) else "auto"
            t.rollback_emitted = False
        elif m := RE_GEN_REMOVED.match(message):
            t.generation_removed = int(m.group(1))
            events.extend(self._rollback_event(t, ts))
        elif message == "Attempting to re-activate the last generation":
            events.extend(self._rollback_event(t, ts))
        elif level == "ERROR":
            if tag == "activate" and not message.startswith(ACTIVATE_NOT_FINAL_ERROR):
                t.activate_ended = True
            if CONFIRM_TIMEOUT_TEXT in message and tag == "activate":
                # activate-rs rolls back unconditionally on this timeout (after printing it, before
                # PR #246; before printing it since): a magic rollback, even if its lines are lost.
                t.magic_timeout = True
                if t.rollback_kind != "magic":
                    t.rollback_kind, t.rollback_emitted = "magic", False
            if message.startswith(("There was an error de-activating", "Error de-activating due to another error")):
                t.rollback_failed = message
            elif tag == "activate":
                t.remote_error = message
            elif tag == "wait" and t.remote_error is None:
                t.remote_error = message
        events.insert(n_lead, out)
        return events


def _new_output(ts: float, node: str | None, stage: str | None, line: str, source: str) -> Output:
    """An `Output` without the frozen-dataclass __init__ (it costs as much as the rest of the parse
    of a raw line); same fields, same object."""
    event = object.__new__(Output)
    event.__dict__.update(ts=ts, node=node, stage=stage, line=line, source=source)
    return event


def _after_stages(events: list[RunEvent]) -> int:
    """Where a line's `output` event goes: after the stage change it caused, so it carries the new stage."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], StageChanged):
            return i + 1
    return 0
