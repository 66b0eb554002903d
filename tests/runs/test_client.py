"""How a face starts a supervisor: labtui's own entry point, with the face's import path handed over."""

from __future__ import annotations

import os
import subprocess
import sys

import labtui
from labtui.runs.client import BOOTSTRAP, SUPERVISE_VERB, import_path, supervisor_command


def test_the_supervisor_is_labtuis_entry_point_with_this_import_path():
    argv = supervisor_command("20260101-000000-abcd", 7)
    assert argv[:4] == [sys.executable, "-P", "-c", BOOTSTRAP]
    assert argv[4].split(os.pathsep) == import_path() and all(os.path.isabs(p) for p in import_path())
    assert argv[5:] == [SUPERVISE_VERB, "20260101-000000-abcd", "--ready-fd", "7"]


def test_it_imports_this_labtui_and_not_the_working_directorys(tmp_path):
    (tmp_path / "labtui").mkdir()
    (tmp_path / "labtui" / "__init__.py").write_text("raise SystemExit('wrong labtui')\n")
    argv = supervisor_command("x", 0)
    probe = argv[:3] + [BOOTSTRAP.replace("from labtui.cli.main import main\nsys.exit(main(sys.argv[2:]))\n",
                                          "import labtui\nprint(labtui.__file__)\n"), argv[4]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == labtui.__file__


# A deploy under a nixpkgs-style wrapper: tests/packaging/test_nixpkgs_wrapper.py.


def test_a_face_ahead_of_the_events_file_still_gets_the_lost_ending():
    """The face had more events over the socket than the supervisor's recorder had written when it died; the lost
    ending went after what was written. Counting events alone skipped the ending's node result."""
    import asyncio
    import json

    from labtui.runs.client import _follow_file, _Seen
    from labtui.runs.events import NodeResult, Output, RunResult, RunStarted, StageChanged
    from labtui.runs.files import events_path
    from labtui.runs.lost import lost_ending

    run_id = "20260101-000000-lost"
    started = RunStarted(ts=1.0, run_id=run_id, method="deploy-rs", nodes=["web1", "web2"], argv=["deploy"])
    stage = StageChanged(ts=2.0, node="web1", profile=None, stage="activate")
    done = NodeResult(ts=2.5, node="web2", profile=None, outcome="succeeded", stage=None, message="")
    written = [started, stage, done]
    seen = _Seen()
    for event in [*written, *(Output(ts=3.0, node="web1", stage="activate", line=f"line {i}") for i in range(3))]:
        seen.add(event)  # three lines more than the file got
    path = events_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e.to_dict(), default=str) for e in [*written, *lost_ending(seen.open_nodes(), 4242, ts=4.0)]]
    path.write_text("\n".join(lines) + "\n")

    async def follow() -> list[object]:
        return [e async for e in _follow_file(run_id, seen, from_start=True, poll=0.01)]

    events = asyncio.run(asyncio.wait_for(follow(), 10))
    assert [(e.node, e.outcome) for e in events if isinstance(e, NodeResult)] == [("web1", "unknown")]
    assert isinstance(events[-1], RunResult) and events[-1].outcome == "lost"
