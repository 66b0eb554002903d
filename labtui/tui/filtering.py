"""The `/` filter of the host table: regex on names, `@tag` (prefix or glob), `!` to negate (k9s/Colmena habits).

Words are ANDed: `@prod !proxy` keeps prod hosts whose name does not match `proxy`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from labtui.inventory.model import Host


@dataclass(frozen=True)
class Filter:
    text: str
    error: str | None = None  # an invalid regex: the word is matched literally and this says so

    def matches(self, host: Host) -> bool:
        return all(_word_matches(word, host) for word in self.text.split())


def _word_matches(word: str, host: Host) -> bool:
    negate = word.startswith("!")
    if negate:
        word = word[1:]
    if not word:
        return True
    if word.startswith("@"):
        pattern = word[1:]
        if not any(c in pattern for c in "*?["):
            pattern += "*"  # `@serv` already matches while the operator is still typing `@server`
        hit = any(fnmatch.fnmatchcase(tag, pattern) for tag in host.tags)
        if "critical".startswith(pattern.rstrip("*")) and pattern.rstrip("*"):
            hit = hit or host.critical
    else:
        try:
            rx = re.compile(word, re.IGNORECASE)
            hit = bool(rx.search(host.name) or rx.search(host.hostname))
        except re.error:
            hit = word.lower() in host.name.lower()
    return hit != negate


def parse(text: str) -> Filter:
    text = text.strip()
    for word in text.split():
        body = word.lstrip("!")
        if body and not body.startswith("@"):
            try:
                re.compile(body)
            except re.error as exc:
                return Filter(text, error=f"`{body}` is not a valid regex ({exc}); matching it literally")
    return Filter(text)
