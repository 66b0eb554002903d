"""The Nix internal-json parser and the per-node build tracker, on logs recorded from Nix 2.8
(tests/deploy/logs/nix/, README there) and on samples of newer Nix written from its source (labelled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.deploy.build import BuildParser, BuildTracker, NodePlan, parse_plan
from labtui.deploy.parse.nix_log import (
    BuildFailed,
    BuildLogLine,
    BuildPhase,
    BuildsProgress,
    BuildStarted,
    BuildStopped,
    CopyProgress,
    DependencyFailed,
    NixEvent,
    NixLogParser,
    NixMessage,
    PlainLine,
    Planned,
    SubstituteStarted,
    SubstituteStopped,
    drv_name,
)
from labtui.runs.events import BuildProgress, Output

LOGS = Path(__file__).parent / "logs" / "nix"


def lines(scenario: str, name: str = "output.raw") -> list[str]:
    return (LOGS / scenario / name).read_text().splitlines()


def parse_all(text_lines: list[str]) -> list[NixEvent]:
    parser = NixLogParser()
    events = [e for line in text_lines for e in parser.feed(line)]
    return events + parser.finish()


def plans_of(scenario: str) -> dict[str, NodePlan]:
    """Each host's share as recorded (plan-HOST.raw) and its top-level derivation (from the realise command)."""
    argv = (LOGS / scenario / "cmd.txt").read_text().splitlines()[1].split()
    drvs = [a for a in argv if a.endswith(".drv")]
    plans = {}
    for plan_file in sorted((LOGS / scenario).glob("plan-*.raw")):
        host = plan_file.stem.removeprefix("plan-")
        planned = parse_plan(plan_file.read_text())
        top = next(d for d in drvs if f"-{host}-" in d)
        plans[host] = NodePlan(host, (top,), (top.removesuffix(".drv"),), frozenset(planned.will_build),
                               frozenset(planned.will_fetch), planned.unpacked_bytes or 0)
    return plans


def run_tracker(scenario: str, *, progress_every: float = 0.0) -> tuple[BuildParser, list[object]]:
    parser = BuildParser(plans_of(scenario), progress_every=progress_every)
    events: list[object] = []
    for ts, line in enumerate(lines(scenario)):
        events += parser.feed(line, float(ts))
    exit_code = int((LOGS / scenario / "exit_code").read_text())
    events += parser.finish(exit_code, 1e6)
    return parser, events


# ---- the parser, on Nix 2.8's own words --------------------------------------------------------------


def test_a_dry_run_is_one_plan_in_internal_json_and_in_plain_text():
    (json_plan,) = [e for e in parse_all(lines("dry-run-one-host")) if isinstance(e, Planned)]
    assert len(json_plan.will_build) == 5 and not json_plan.will_fetch
    assert {drv_name(d) for d in json_plan.will_build} == {
        "nixos-system-host1-24.11.20241201.9abcdef", "activatable-nixos-system-host1-24.11.20241201.9abcdef",
        "nginx-1.26.2", "openssl-3.0.15", "htop-3.3.0"}
    (plain,) = [e for e in parse_all(lines("dry-run-plain")) if isinstance(e, Planned)]
    assert len(plain.will_build) == 7  # two hosts share the three packages


def test_a_fetch_plan_has_its_sizes():
    planned = parse_plan((LOGS / "dry-run-substitute" / "output.raw").read_text())
    assert len(planned.will_build) == 1 and len(planned.will_fetch) == 3
    assert planned.download_bytes is not None and planned.unpacked_bytes is not None
    assert 800_000 < planned.unpacked_bytes < 1_000_000  # "0.89 MiB unpacked"


def test_builds_start_log_and_stop():
    events = parse_all(lines("realise-three-hosts"))
    started = [e.drv for e in events if isinstance(e, BuildStarted)]
    stopped = [e.drv for e in events if isinstance(e, BuildStopped)]
    assert len(started) == 9 and sorted(started) == sorted(stopped)  # 3 packages + 2 per host, each once
    logs = [e for e in events if isinstance(e, BuildLogLine)]
    assert len(logs) == 15 and logs[0].line == "compiling unit 1 of 5"
    assert isinstance(events[-1], PlainLine) and events[-1].text.startswith("/nix/store/")  # stdout: the outputs
    finals = [e for e in events if isinstance(e, BuildsProgress)][-1]
    assert (finals.done, finals.expected, finals.failed) == (9, 9, 0)


def test_a_failure_names_its_derivation_even_when_it_comes_last():
    events = parse_all(lines("realise-one-fails-keep-going"))
    (failed,) = [e for e in events if isinstance(e, BuildFailed)]
    assert drv_name(failed.drv).startswith("activatable-nixos-system-host2") and failed.reason == "with exit code 1"
    errors = [e for e in events if isinstance(e, NixMessage) and e.level == 0]
    assert errors and "\x1b" not in errors[0].text and errors[0].text.startswith("error: builder for")


def test_substitution_reports_bytes_per_path():
    events = parse_all(lines("realise-substitute"))
    subs = [e for e in events if isinstance(e, SubstituteStarted)]
    assert len(subs) == 3 and all(e.source == "file://<cache>" for e in subs)
    assert len([e for e in events if isinstance(e, SubstituteStopped)]) == 3
    copies = [e for e in events if isinstance(e, CopyProgress)]
    assert copies and all(0 < c.done <= c.expected for c in copies)


@pytest.mark.parametrize("scenario", sorted(p.name for p in LOGS.iterdir() if p.is_dir()))
def test_every_recording_parses_without_unknown_lines(scenario):
    parser = NixLogParser()
    for line in lines(scenario):
        parser.feed(line)
    assert parser.bad_lines == 0


# ---- newer Nix, from its source (src/libutil/logging.cc, build/derivation-goal.cc): hand-written samples ----

NEWER_NIX = [  # hand-written from Nix's source (2.24+): `parent` on every start, the `Cannot build` errors
    '@nix {"action":"start","id":7,"level":0,"parent":0,"text":"","type":104}',
    '@nix {"action":"start","fields":["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv","",1,1],"id":8,'
    '"level":3,"parent":7,"text":"building \'/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv\'","type":105}',
    '@nix {"action":"result","fields":["configurePhase"],"id":8,"type":104}',
    '@nix {"action":"result","fields":["checking for gcc... no"],"id":8,"type":101}',
    '@nix {"action":"result","fields":["post-build hook says hi"],"id":8,"type":107}',
    '@nix {"action":"start","fields":["/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-x","https://cache"],"id":9,'
    '"level":4,"parent":0,"text":"querying","type":109}',
    '@nix {"action":"result","fields":[1,2],"id":9,"type":108}',
    '@nix {"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":"\\u001b[31;1merror:\\u001b[0m '
    'Cannot build \'/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv\'.\\n       Reason: builder failed '
    'with exit code 2.\\n       Output paths:\\n         /nix/store/cccccccccccccccccccccccccccccccc-hello-2.12",'
    '"raw_msg":"Cannot build \'/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv\'.\\nReason: builder '
    'failed with exit code 2.","trace":[]}',
    '@nix {"action":"msg","level":0,"msg":"error: Cannot build \'/nix/store/dddddddddddddddddddddddddddddddd-top.drv\''
    '.\\n       Reason: 1 dependency failed."}',
    '@nix {"action":"stop","id":8}',
    "@nix not json",
]


def test_newer_nix_samples():
    parser = NixLogParser()
    events = [e for line in NEWER_NIX for e in parser.feed(line)]
    hello = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv"
    assert BuildStarted(hello) in events and BuildPhase(hello, "configurePhase") in events
    assert BuildLogLine(hello, "checking for gcc... no") in events
    assert BuildLogLine(hello, "post-build hook says hi") in events
    assert BuildFailed(hello, "builder failed with exit code 2") in events
    assert DependencyFailed("/nix/store/dddddddddddddddddddddddddddddddd-top.drv") in events
    assert BuildStopped(hello) in events
    assert parser.bad_lines == 1 and isinstance(events[-1], PlainLine)


def test_drv_names():
    assert drv_name("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv") == "hello-2.12"
    assert drv_name("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello") == "hello"
    assert drv_name("weird") == "weird"


# ---- the tracker: each node's share ------------------------------------------------------------------


def test_each_host_counts_its_own_share_and_ends_complete():
    parser, events = run_tracker("realise-three-hosts")
    progress = [e for e in events if isinstance(e, BuildProgress)]
    finals = {e.node: e for e in progress if e.done}
    assert set(finals) == {"host1", "host2", "host3"}
    for final in finals.values():
        assert final.built == final.to_build == 5 and not final.running and not final.failed
    for host in finals:  # counts only go up while it builds
        built = [e.built for e in progress if e.node == host]
        assert built == sorted(built)
    # A package all three hosts need is one build, counted for each of them.
    assert len([e for e in events if isinstance(e, Output) and e.line.startswith("nginx-")]) == 0
    assert [e.line for e in events if isinstance(e, Output)][:1] == [
        "activatable-nixos-system-host1-24.11.20241201.9abcdef> compiling unit 1 of 5"]


def test_running_builds_show_their_last_line():
    parser, events = run_tracker("realise-three-hosts")
    seen = [b for e in events if isinstance(e, BuildProgress) for b in e.running if b.last_line]
    assert any(b.last_line == "compiling unit 5 of 5" and b.name.startswith("activatable-") for b in seen)


def test_top_level_builds_count_as_built_before_nix_ends():
    """Nix 2.8 stops a top-level Build activity only at the end: the counters say it finished earlier."""
    parser, events = run_tracker("realise-three-hosts")
    before_end = [e for e in events if isinstance(e, BuildProgress) and not e.done]
    assert {e.node for e in before_end if e.built == e.to_build} == {"host1", "host2", "host3"}


def test_a_failed_host_names_the_derivation_and_its_log_tail_and_the_others_finish():
    parser, events = run_tracker("realise-one-fails-keep-going")
    finals = {e.node: e for e in events if isinstance(e, BuildProgress) and e.done}
    assert finals["host1"].built == finals["host1"].to_build and not finals["host1"].failed
    assert finals["host3"].built == finals["host3"].to_build and not finals["host3"].failed
    (failed,) = finals["host2"].failed
    assert failed.name.startswith("activatable-nixos-system-host2") and failed.reason == "with exit code 1"
    assert failed.tail[-1] == "testbed: intentional build failure of " + failed.name
    message = parser.failure_of("host2")
    assert message.startswith("build of activatable-nixos-system-host2") and "(with exit code 1)" in message
    assert message.endswith(": testbed: intentional build failure of " + failed.name)
    assert parser.tail_of("host2")[-1].startswith("testbed: intentional build failure")


def test_fetches_count_paths_and_bytes():
    parser, events = run_tracker("realise-substitute")
    progress = [e for e in events if isinstance(e, BuildProgress)]
    final = progress[-1]
    assert final.done and final.fetched == final.to_fetch == 3 and final.built == final.to_build == 1
    assert final.bytes_to_fetch > 800_000
    assert any(0 < e.bytes_fetched < e.bytes_to_fetch for e in progress)  # seen part way


def test_a_busy_log_does_not_flood_progress_events():
    plans = {"web1": NodePlan("web1", ("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-top.drv",), (),
                              frozenset({"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-top.drv"}))}
    tracker = BuildTracker(plans, progress_every=0.5)
    drv = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-top.drv"
    events = tracker.apply(BuildStarted(drv), 0.0)
    for i in range(1000):
        events += tracker.apply(BuildLogLine(drv, f"line {i}"), i / 1000)  # one second of lines
    progress = [e for e in events if isinstance(e, BuildProgress)]
    assert 2 <= len(progress) <= 4  # the start, then about two per second
    assert len([e for e in events if isinstance(e, Output)]) == 1000
