"""Figures the swarm tests report (requests sent, failed), printed at the end of the run.

A module of its own: the tests and the conftest both import it by this one name,
so they share one dict (a test importing the conftest gets a second copy of it).
"""

from __future__ import annotations

RESULTS: dict[str, str] = {}
"""Test name -> what it measured."""
