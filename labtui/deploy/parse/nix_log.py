"""Nix's structured log (`--log-format internal-json`) as typed events: a pure, streaming parser.

Nix writes one `@nix {json}` object per line on stderr (anything else is a plain line, e.g. a warning
printed before the logger was set up, or a store path `nix-store --realise` prints on stdout):

- `msg` (`level`, `msg`; errors add `raw_msg`, `file`, `line`, `column` and, in newer Nix, `trace`);
- `start` (`id`, `type`, `level`, `text`, `fields`; newer Nix adds `parent`) and `stop` (`id`) of an
  activity: 105 Build (fields: drv path, machine, round, rounds), 104 Builds (all of them), 108 Substitute
  (store path, substituter), 100 CopyPath (path, from, to), 101 FileTransfer, 102 Realise, 103 CopyPaths,
  0 Unknown ("querying info about missing paths"); newer Nix adds 109-113;
- `result` (`id`, `type`, `fields`) on an activity: 101 BuildLogLine (a line of the builder's stdout or
  stderr), 104 SetPhase (stdenv phases), 105 Progress (done, expected, running, failed; bytes for a
  CopyPath), 106 SetExpected, 107 PostBuildLogLine; newer Nix adds 108 FetchStatus.

Recorded from Nix 2.8 (tests/deploy/logs/nix/); newer formats from Nix's source, labelled as such there.
What Nix 2.8 does that a reader must not trip over: a Build activity of a *top-level* derivation (one
named on the command line) is stopped only when the whole command ends, long after that build finished,
and with `--keep-going` the `builder for '…' failed` error may come after every stop. So `BuildStopped`
means "finished" for intermediate derivations only; the Builds activity's progress counters say when
builds end; the error messages say which derivation failed (`BuildFailed`) or could not be built because
a dependency failed (`DependencyFailed`).

`nix-store --realise` (and its `--dry-run`) print what they will do as `msg`s: "these N derivations will be
built:" / "this path will be fetched (X MiB download, Y MiB unpacked):" followed by one `  /nix/store/…`
line each; the block is reported as one `Planned` event when it ends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from labtui.deploy.parse.ansi import strip_ansi

PREFIX = "@nix "

# Activity types (Nix's ActivityType) and result types (ResultType) this parser reads.
ACT_COPY_PATH = 100
ACT_BUILDS = 104
ACT_BUILD = 105
ACT_SUBSTITUTE = 108
RES_BUILD_LOG_LINE = 101
RES_SET_PHASE = 104
RES_PROGRESS = 105
RES_POST_BUILD_LOG_LINE = 107
LEVEL_ERROR = 0

_MIB = 1024 * 1024
_PLAN_HEADER = re.compile(
    r"^(?:this derivation|these (?:\d+ )?derivations) will be built:$"
    r"|^(?:this path|these (?:\d+ )?paths) will be fetched"
    r"(?: \((?P<download>[\d.]+) MiB download, (?P<unpacked>[\d.]+) MiB unpacked\))?:$"
    r"|^don't know how to build these paths")
_DRV = r"'(/nix/store/[^']+\.drv)'"
_BUILDER_FAILED = re.compile(rf"builder for {_DRV} failed(?P<reason>[^\n]*)")
_CANNOT_BUILD = re.compile(rf"Cannot build {_DRV}\.?\s*(?:Reason: (?P<reason>[^\n]*))?")
_DEPENDENCIES = re.compile(rf"\d+ dependencies of derivation {_DRV} failed to build")


@dataclass(frozen=True, slots=True)
class BuildStarted:
    drv: str
    machine: str = ""  # "" for this machine, else the remote builder


@dataclass(frozen=True, slots=True)
class BuildStopped:
    drv: str


@dataclass(frozen=True, slots=True)
class BuildLogLine:
    drv: str
    line: str  # ANSI kept: the face decides how to show it


@dataclass(frozen=True, slots=True)
class BuildPhase:
    drv: str
    phase: str


@dataclass(frozen=True, slots=True)
class BuildFailed:
    """An error message named a derivation whose builder failed (the reason: `with exit code 1`, ...)."""

    drv: str
    reason: str


@dataclass(frozen=True, slots=True)
class DependencyFailed:
    """A derivation was not built because one of its dependencies failed."""

    drv: str


@dataclass(frozen=True, slots=True)
class SubstituteStarted:
    path: str
    source: str


@dataclass(frozen=True, slots=True)
class SubstituteStopped:
    path: str


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """Bytes of a store path copied so far (substitution or `nix copy`)."""

    path: str
    done: int
    expected: int


@dataclass(frozen=True, slots=True)
class BuildsProgress:
    """The Builds activity's counters over the whole command."""

    done: int
    expected: int
    running: int
    failed: int


@dataclass(frozen=True, slots=True)
class Planned:
    """What `nix-store --realise` (or `--dry-run`) said it will build and fetch."""

    will_build: tuple[str, ...] = ()
    will_fetch: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    download_bytes: int | None = None
    unpacked_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class NixMessage:
    level: int  # 0 error, 1 warn, 2 notice, 3 info, 4 talkative, 5 chatty, 6 debug, 7 vomit
    text: str  # without ANSI escapes; may span lines (errors)


@dataclass(frozen=True, slots=True)
class PlainLine:
    text: str


NixEvent = (BuildStarted | BuildStopped | BuildLogLine | BuildPhase | BuildFailed | DependencyFailed
            | SubstituteStarted | SubstituteStopped | CopyProgress | BuildsProgress | Planned | NixMessage | PlainLine)


class NixLogParser:
    """Lines of a Nix command's output (internal-json on stderr, maybe plain stdout merged in) → NixEvents."""

    def __init__(self) -> None:
        self._activities: dict[int, tuple[int, str]] = {}  # id -> (type, drv or store path)
        self._plan: dict[str, list[str]] | None = None  # the plan block being read
        self._plan_kind = ""
        self._sizes: tuple[int | None, int | None] = (None, None)
        self.lines = 0
        self.bad_lines = 0  # `@nix ` lines that were not JSON objects (shown as plain lines)

    def feed(self, line: str) -> list[NixEvent]:
        """The events of one line (without its newline)."""
        self.lines += 1
        if not line.startswith(PREFIX):
            return self._plain(line)
        try:
            data = json.loads(line[5:])
        except ValueError:
            self.bad_lines += 1
            return self._plain(line)
        if not isinstance(data, dict):
            self.bad_lines += 1
            return self._plain(line)
        action = data.get("action")
        if action == "result":
            return self._result(data)
        out: list[NixEvent] = []
        if self._plan is not None:
            if self._plan_item(data):
                return []
            out = self._end_plan()
        if action == "msg":
            out += self._msg(data)
        elif action == "start":
            out += self._start(data)
        elif action == "stop":
            out += self._stop(data)
        return out

    def finish(self) -> list[NixEvent]:
        """The command ended: whatever was still being read (a plan block at the very end)."""
        return self._end_plan() if self._plan is not None else []

    # ---- the actions ----------------------------------------------------------------------------------

    def _plain(self, line: str) -> list[NixEvent]:
        text = strip_ansi(line).rstrip("\r")
        out: list[NixEvent] = []
        if self._plan is not None:
            if text.startswith("  /nix/store/"):
                self._plan[self._plan_kind].append(text.strip())
                return []
            out = self._end_plan()
        if _PLAN_HEADER.match(text):  # `nix-store --realise` without internal-json prints the same words
            self._begin_plan(text)
            return out
        out.append(PlainLine(text))
        return out

    def _msg(self, data: dict[str, Any]) -> list[NixEvent]:
        level = data.get("level")
        level = level if isinstance(level, int) else 3
        text = strip_ansi(str(data.get("msg", "")))
        if level == 3 and _PLAN_HEADER.match(text):
            self._begin_plan(text)
            return []
        out: list[NixEvent] = []
        if level == LEVEL_ERROR:
            raw = strip_ansi(str(data.get("raw_msg") or text))
            out += _failures(raw if ("'/nix/store/" in raw) else text)
        out.append(NixMessage(level, text))
        return out

    def _start(self, data: dict[str, Any]) -> list[NixEvent]:
        act, kind, fields = data.get("id"), data.get("type"), data.get("fields") or []
        if not isinstance(act, int) or not isinstance(kind, int):
            return []
        first = fields[0] if fields and isinstance(fields[0], str) else ""
        if kind == ACT_BUILD and first:
            self._activities[act] = (kind, first)
            machine = fields[1] if len(fields) > 1 and isinstance(fields[1], str) else ""
            return [BuildStarted(first, machine)]
        if kind == ACT_SUBSTITUTE and first:
            self._activities[act] = (kind, first)
            source = fields[1] if len(fields) > 1 and isinstance(fields[1], str) else ""
            return [SubstituteStarted(first, source)]
        if kind in (ACT_COPY_PATH, ACT_BUILDS):
            self._activities[act] = (kind, first)
        return []

    def _stop(self, data: dict[str, Any]) -> list[NixEvent]:
        known = self._activities.pop(data.get("id"), None)  # type: ignore[arg-type]  # a non-int id is unknown
        if known is None:
            return []
        kind, key = known
        if kind == ACT_BUILD:
            return [BuildStopped(key)]
        if kind == ACT_SUBSTITUTE:
            return [SubstituteStopped(key)]
        return []

    def _result(self, data: dict[str, Any]) -> list[NixEvent]:
        known = self._activities.get(data.get("id"))  # type: ignore[arg-type]
        if known is None:
            return []
        kind, key = known
        rtype, fields = data.get("type"), data.get("fields") or []
        if kind == ACT_BUILD:
            if rtype in (RES_BUILD_LOG_LINE, RES_POST_BUILD_LOG_LINE) and fields and isinstance(fields[0], str):
                return [BuildLogLine(key, fields[0])]
            if rtype == RES_SET_PHASE and fields and isinstance(fields[0], str):
                return [BuildPhase(key, fields[0])]
            return []
        if rtype != RES_PROGRESS or len(fields) < 2 or not all(isinstance(f, int) for f in fields):
            return []
        if kind == ACT_BUILDS and len(fields) >= 4:
            return [BuildsProgress(fields[0], fields[1], fields[2], fields[3])]
        if kind == ACT_COPY_PATH and key:
            return [CopyProgress(key, fields[0], fields[1])]
        return []

    # ---- plan blocks ----------------------------------------------------------------------------------

    def _begin_plan(self, header: str) -> None:
        if self._plan is None:
            self._plan = {"build": [], "fetch": [], "unknown": []}
        m = _PLAN_HEADER.match(header)
        if "built" in header:
            self._plan_kind = "build"
        elif "fetched" in header:
            self._plan_kind = "fetch"
            if m is not None and m.group("download") is not None:
                self._sizes = (int(float(m.group("download")) * _MIB), int(float(m.group("unpacked")) * _MIB))
        else:
            self._plan_kind = "unknown"

    def _plan_item(self, data: dict[str, Any]) -> bool:
        """A message inside a plan block: a path of the list, or the next list's header (consumed here)."""
        if data.get("action") != "msg":
            return False
        text = strip_ansi(str(data.get("msg", "")))
        assert self._plan is not None
        if text.startswith("  /nix/store/"):
            self._plan[self._plan_kind].append(text.strip())
            return True
        if _PLAN_HEADER.match(text):
            self._begin_plan(text)
            return True
        return False

    def _end_plan(self) -> list[NixEvent]:
        plan, self._plan = self._plan, None
        assert plan is not None
        download, unpacked = self._sizes
        self._sizes = (None, None)
        return [Planned(tuple(plan["build"]), tuple(plan["fetch"]), tuple(plan["unknown"]), download, unpacked)]


def _failures(text: str) -> list[NixEvent]:
    """The derivations an error message says failed (several `Cannot build` blocks may share one message)."""
    out: list[NixEvent] = []
    for m in _BUILDER_FAILED.finditer(text):
        out.append(BuildFailed(m.group(1), m.group("reason").strip(" ;.")))
    for m in _CANNOT_BUILD.finditer(text):
        reason = (m.group("reason") or "").strip(" .")
        if "dependenc" in reason:
            out.append(DependencyFailed(m.group(1)))
        elif not any(isinstance(e, BuildFailed) and e.drv == m.group(1) for e in out):
            out.append(BuildFailed(m.group(1), reason))
    for m in _DEPENDENCIES.finditer(text):
        out.append(DependencyFailed(m.group(1)))
    return out


def drv_name(path: str) -> str:
    """`/nix/store/<hash>-hello-2.12.drv` → `hello-2.12` (what `nix build -L` prefixes lines with)."""
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".drv"):
        base = base[:-4]
    return base.split("-", 1)[1] if len(base) > 33 and base[32] == "-" else base
