"""A registry of named extensions (deploy methods, check kinds): one place that lists them, in order.

Everything that offers a choice (argparse choices, config validation, the TUI's dialog) reads the
registry, so adding an extension is its own module plus one registration line. A base module: it imports
nothing of labtui but the errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from labtui.errors import UserError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Extensions by name, in registration order. `what` names them in messages ("deploy method")."""

    def __init__(self, what: str, *items: T) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        for item in items:
            self.register(item)

    def register(self, item: T) -> T:
        if item.name in self._items:
            raise ValueError(f"a {self.what} named `{item.name}` is registered already")
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        del self._items[name]

    def get(self, name: str) -> T:
        """The extension called `name`; UserError naming the nearest one (or all) otherwise."""
        try:
            return self._items[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(self._items), n=1, cutoff=0.5)
        hint = f"did you mean `{close[0]}`?" if close else f"use one of {', '.join(self._items)}"
        raise UserError(f"unknown {self.what} `{name}`; {hint}")

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
