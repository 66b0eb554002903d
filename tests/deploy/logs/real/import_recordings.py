"""Turn recordings of the real tools into this directory's test data (run by hand; see README.md).

    python tests/deploy/logs/real/import_recordings.py RECORDINGS_DIR

RECORDINGS_DIR holds `<tool>/<scenario>/` folders as the recording sessions wrote them (output.raw, exit_code,
timing.json, chunks.jsonl, host_state_{before,at_exit,after}.txt, cmd.txt; parallel runs in `a/` and `b/`). For each
run this writes `<tool>/<scenario>.log` (output.raw byte for byte, but the recording machine's temporary directories
replaced by placeholders) and one entry of `index.json`: the argv, the exit code, when each line arrived, how many
lines arrived before the process exited, and every host's real state before, at the exit and once settled.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = ("deploy-rs", "nixos-rebuild")
SKIP = {"nix-version"}
# The recording machine's temporary directories, as placeholders (same length is not needed: nothing counts bytes).
PLACEHOLDERS = [
    (re.compile(rb"/tmp/labtui-rec-[a-z0-9_]+"), b"/tmp/labtui-rec-RUN"),
    (re.compile(rb"/tmp/nixos-rebuild\.[A-Za-z0-9]{6}"), b"/tmp/nixos-rebuild.XXXXXX"),
    (re.compile(rb"(?<![\w.])/[\w/.-]*/shared/"), b"../shared/"),  # where the shared tools were
]


def scrub(data: bytes) -> bytes:
    for pattern, placeholder in PLACEHOLDERS:
        data = pattern.sub(placeholder, data)
    return data


def host_states(path: Path) -> dict[str, dict[str, object]]:
    states: dict[str, dict[str, object]] = {}
    host = None
    if not path.exists():
        return states
    for line in path.read_text().splitlines():
        key, _, value = line.partition(": ")
        if key == "host":
            host = value.strip()
            states[host] = {}
        elif host and key == "current_generation":
            states[host]["generation"] = int(value) if value.strip().isdigit() else None
        elif host and key == "run_current_system":
            states[host]["current_system"] = scrub(value.strip().encode()).decode()
    return states


def import_run(directory: Path, name: str, index: dict[str, object]) -> None:
    raw = (directory / "output.raw").read_bytes()
    timing = json.loads((directory / "timing.json").read_text())
    (run,) = timing["runs"].values() if len(timing["runs"]) == 1 else (None,)
    if run is None:
        return
    exit_at = run["exit_at"]
    times: list[float] = []
    before_exit = 0
    for line in (directory / "chunks.jsonl").read_text().splitlines():
        chunk = json.loads(line)
        newlines = base64.b64decode(chunk["b64"]).count(b"\n")
        times += [round(chunk["t"] - run["start"], 3)] * newlines
        if chunk["t"] <= exit_at:
            before_exit += newlines
    states = {label: host_states(directory / f"host_state_{label}.txt") for label in ("before", "at_exit", "after")}
    hosts = sorted(set().union(*states.values()))
    stdin = re.search(r"# stdin: b'([^']*)'", (directory / "cmd.txt").read_text())
    out = HERE / f"{name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(scrub(raw))
    index[name] = {
        "argv": [scrub(a.encode()).decode() for a in run["argv"]],
        "stdin": stdin.group(1).encode().decode("unicode_escape") if stdin else None,
        "exit_code": run["exit_code"],
        "exit_at": round(exit_at - run["start"], 3),
        "lines_before_exit": before_exit,
        "line_times": times,
        "hosts": {h: {label: states[label].get(h) for label in states} for h in hosts},
    }


def main(recordings: Path) -> None:
    index: dict[str, object] = {}
    for tool in TOOLS:
        for scenario in sorted(p for p in (recordings / tool).iterdir() if p.is_dir() and p.name not in SKIP):
            if (scenario / "a").is_dir():
                for part in sorted(p for p in scenario.iterdir() if p.is_dir()):
                    import_run(part, f"{tool}/{scenario.name}-{part.name}", index)
            else:
                import_run(scenario, f"{tool}/{scenario.name}", index)
    (HERE / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"{len(index)} runs")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
