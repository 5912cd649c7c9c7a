"""Traffic's random numbers: a function of the seed alone, whatever the blocks they are drawn in."""

from __future__ import annotations

import math

import numpy
import pytest

from emulator.runtime import draws as draws_module
from emulator.runtime.draws import Draws, seed_entropy


def take(stream, count):
    return [stream() for _ in range(count)]


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    assert take(Draws(7).exponential, 5_000) == take(Draws(7).exponential, 5_000)
    assert take(Draws("run/source").uniform, 100) == take(Draws("run/source").uniform, 100)
    assert take(Draws(7).exponential, 100) != take(Draws(8).exponential, 100)
    assert take(Draws("a").exponential, 100) != take(Draws("b").exponential, 100)


def test_the_numbers_do_not_depend_on_the_block_sizes(monkeypatch):
    reference = take(Draws(3).exponential, 3_000)
    monkeypatch.setattr(draws_module, "FIRST_BLOCK", 1000)
    monkeypatch.setattr(draws_module, "LARGEST_BLOCK", 1000)
    assert take(Draws(3).exponential, 3_000) == reference


def test_kinds_are_independent_streams():
    """Using uniforms (a call mix) does not move the exponentials (arrivals, holding times)."""
    alone = take(Draws(11).exponential, 50)
    mixed = Draws(11)
    interleaved = []
    for _ in range(50):
        mixed.uniform()
        interleaved.append(mixed.exponential())
    assert interleaved == alone


def test_the_streams_have_their_distributions():
    d = Draws(2026)
    exponential, uniform, normal = (numpy.array(take(s, 200_000)) for s in (d.exponential, d.uniform, d.normal))
    assert exponential.mean() == pytest.approx(1.0, abs=0.01) and exponential.min() >= 0
    assert uniform.mean() == pytest.approx(0.5, abs=0.005) and 0 <= uniform.min() and uniform.max() < 1
    assert normal.mean() == pytest.approx(0.0, abs=0.01) and normal.std() == pytest.approx(1.0, abs=0.01)
    assert (exponential > math.log(2)).mean() == pytest.approx(0.5, abs=0.005)  # the median of Exp(1)


def test_seeds_are_integers_or_strings():
    assert seed_entropy(5) == 5 and seed_entropy(None) is None
    assert seed_entropy("x") == seed_entropy("x") != seed_entropy("y")
    with pytest.raises(ValueError, match="seed= must be >= 0, got -1"):
        seed_entropy(-1)
