"""Fixtures of the fault suite (tests/faults/harness.py)."""

from tests.faults.harness import hostile_hosts  # noqa: F401  (fixture)
