"""Whatever lines arrive (cut, reordered, mixed with junk), the parsers never raise and always end
with one result per known target and one run_result."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from labtui.deploy.parse.deploy_rs import DeployRsParser
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.runs.events import NodeResult, RunResult

LOGS = Path(__file__).parent / "logs"
ALL_LINES = sorted({line for p in LOGS.glob("*.log") for line in p.read_text(encoding="utf-8").splitlines()})
line = st.one_of(st.sampled_from(ALL_LINES), st.text(max_size=40),
                 st.sampled_from(ALL_LINES).map(lambda s: "> " + s),
                 st.sampled_from(ALL_LINES).map(lambda s: s[: len(s) // 2]))


@settings(max_examples=300, deadline=None)
@given(st.lists(line, max_size=60), st.one_of(st.none(), st.integers(0, 255)), st.booleans(),
       st.sampled_from([None, [("web1", "system")], [("web1", None), ("db1", "system")]]))
def test_deploy_rs_parser_total(lines, exit_code, cancelled, targets):
    parser = DeployRsParser(targets)
    events = []
    for text in lines:
        events += parser.feed(text, 1.0)
    tail = parser.finish(exit_code, 2.0, cancelled=cancelled)
    assert isinstance(tail[-1], RunResult) and not any(isinstance(e, RunResult) for e in events + tail[:-1])
    assert set(parser.results) == set(parser.targets)
    assert all(isinstance(r, NodeResult) for r in parser.results.values())
    assert all(e.kind == "output" for e in parser.feed("🚀 ℹ️ [deploy] [INFO] Deployment confirmed.", 3.0))
    if cancelled:
        assert tail[-1].outcome == "cancelled"


@settings(max_examples=100, deadline=None)
@given(st.lists(line, max_size=40), st.one_of(st.none(), st.integers(0, 255)),
       st.sampled_from(["switch", "boot", "test", "dry-activate"]))
def test_nixos_rebuild_parser_total(lines, exit_code, action):
    parser = NixosRebuildParser("web1", action)
    for text in lines:
        parser.feed(text, 1.0)
    tail = parser.finish(exit_code, 2.0)
    assert [e.kind for e in tail] == ["node_result", "run_result"]
