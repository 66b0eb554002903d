"""Runs: the event vocabulary of every run, its files and journal, host locks, and detached supervisors.

Below `labtui.deploy` and `labtui.ops` (which both produce runs) and above `labtui.status`. No Textual.
"""
