"""deploy-rs's plan: the TOML it prints after `The following profiles are going to be deployed:`.

It ends with an empty line, but toml 0.8 also puts one between tables, and values may span lines; the
reader takes lines until the TOML is complete, then gives one `PlanEntry` per profile.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from labtui.runs.events import PlanEntry

PLAN_HEADER_RE = re.compile(r"^\[[^\]]+\]\s*$")
PLAN_KV_RE = re.compile(r"^[A-Za-z0-9_\"'.-]+\s*=")


@dataclass
class PlanReader:
    lines: list[str] = field(default_factory=list)
    blank: bool = False
    open_brackets: int = 0

    def take(self, text: str) -> bool:
        """Whether `text` still belongs to the plan's TOML (then it is kept)."""
        stripped = text.strip()
        if not stripped:
            if self.open_brackets > 0:
                return True
            self.blank = True
            return True
        header = PLAN_HEADER_RE.match(stripped)
        if self.open_brackets > 0 or header or (not self.blank and PLAN_KV_RE.match(stripped)):
            self.blank = False
            self.lines.append(text)
            self.open_brackets += _bracket_balance(stripped) if not header else 0
            return True
        return False

    def entries(self) -> list[PlanEntry]:
        """One entry per profile of the plan (none when its TOML does not parse)."""
        try:
            data = tomllib.loads("\n".join(self.lines))
        except tomllib.TOMLDecodeError:
            data = {}
        entries = []
        for node, profiles in data.items():
            if not isinstance(profiles, dict):
                continue
            for profile, settings in profiles.items():
                if not isinstance(settings, dict):
                    continue
                opts = settings.get("ssh_opts", [])
                entries.append(PlanEntry(
                    node=node, profile=profile, user=_str_or_none(settings.get("user")),
                    ssh_user=_str_or_none(settings.get("ssh_user")), path=_str_or_none(settings.get("path")),
                    hostname=_str_or_none(settings.get("hostname")),
                    ssh_opts=[str(o) for o in opts] if isinstance(opts, list) else []))
        return entries


def _bracket_balance(text: str) -> int:
    depth = 0
    in_str = False
    for c in text:
        if c == '"':
            in_str = not in_str
        elif not in_str:
            depth += (c == "[") - (c == "]")
    return depth


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
