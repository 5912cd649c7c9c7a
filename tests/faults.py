"""Broken admissions, for tests that show a run catches them (its end-of-run invariants).

The admission code is generated (licensing/pool.py PoolCode) and compiled once per shape;
these doubles change what is generated and stop the compiled code being shared, so every
route compiled while they are in place is broken the same way.
"""

from __future__ import annotations

import re

import emulator.licensing.pool as pool
from emulator.licensing.pool import PoolCode


class _NoCache(dict):
    def get(self, key, default=None):
        return default

    def __setitem__(self, key, value) -> None:
        pass


def _compile_afresh(monkeypatch) -> None:
    monkeypatch.setattr(pool, "FACTORIES", _NoCache())


def ignore_limits(monkeypatch) -> None:
    """Admissions take every pool, whatever its limit."""
    real_take = PoolCode.take

    def take_ignoring_limits(self, refusal, *args, **kwargs):
        return [line for line in real_take(self, refusal, *args, **kwargs) if not line.startswith("if ")]

    monkeypatch.setattr(PoolCode, "take", take_ignoring_limits)
    _compile_afresh(monkeypatch)


def forget_trunk_channels(monkeypatch) -> None:
    """Hanging up gives back every pool but the line's channel (trunk:<name>)."""
    real_give = PoolCode.give

    def give_but_the_trunk(self, *args, **kwargs):
        trunks = {name for name, pool in zip(self.names, self.distinct, strict=True) if pool.pool_id.startswith("trunk:")}
        return [line for line in real_give(self, *args, **kwargs) if not trunks & set(re.findall(r"\bg?(\w+)\b", line))]

    monkeypatch.setattr(PoolCode, "give", give_but_the_trunk)
    _compile_afresh(monkeypatch)
