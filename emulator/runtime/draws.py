"""Random numbers for traffic, drawn from numpy in blocks.

A call costs two draws (the gap to the next arrival, and the holding time if admitted), and
drawing them one at a time through random.Random (a call, a log and arithmetic each) was a
sixth of the time of a call through a fully enforcing unit. Here each kind of number comes
from its own numpy generator (PCG64), a block at a time, and the next one is a single
C-level call (an iterator over the block, refilled when it runs out).

The streams are independent (numpy's SeedSequence.spawn), one per kind: standard
exponentials (arrival gaps and exponential holding times, in the order the source uses
them), uniforms on [0, 1) (picking parties from a mix) and standard normals (lognormal
holding times). A source's calls depend on its `seed=` alone: the same seed gives the same
calls, whichever path admits them (anonymous or named, with or without events). A `seed=`
is an integer or a string (hashed with SHA-256: runs name each source's stream).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator

FIRST_BLOCK, LARGEST_BLOCK = 16, 256
"""Numbers drawn at a time: the first block is small and each next one twice as large, up to
256. A busy source soon draws 256 at a time (numpy's cost per call, about 2 us, is then
about 8 ns a number, and larger blocks gain 2 % at most); a fleet of lightly loaded sources
holds small blocks (8 KB a stream at most: the fleet's memory stays in the caches). numpy
draws these variates one after another from the generator's bits, so the numbers do not
depend on the block sizes (a test checks it)."""


def seed_entropy(key: int | str | None) -> int | None:
    """An integer for numpy's SeedSequence: an integer as it is, a string hashed (SHA-256),
    None for fresh entropy from the system."""
    if key is None or isinstance(key, int) and key >= 0:
        return key
    if isinstance(key, int):
        raise ValueError(f"seed= must be >= 0, got {key}")
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "big")


class Draws:
    """exponential(), uniform() and normal(): the next number of each stream."""

    __slots__ = ("_children", "_exponential", "_uniform", "_normal")

    def __init__(self, seed: int | str | None = None) -> None:
        import numpy

        self._children = numpy.random.SeedSequence(seed_entropy(seed)).spawn(3)
        self._exponential: Iterator[float] | None = None
        self._uniform: Iterator[float] | None = None
        self._normal: Iterator[float] | None = None

    @property
    def exponential(self) -> Callable[[], float]:
        """Standard exponentials (mean 1): multiply by the mean."""
        return self.exponentials.__next__

    @property
    def exponentials(self) -> Iterator[float]:
        """The same stream as an iterator: next(draws.exponentials) is exponential() (a loop
        that calls the builtin next() is specialised by CPython 3.11; a call of __next__ is not)."""
        if self._exponential is None:
            self._exponential = _stream(self._generator(0).standard_exponential)
        return self._exponential

    @property
    def uniform(self) -> Callable[[], float]:
        """Uniforms on [0, 1)."""
        if self._uniform is None:
            self._uniform = _stream(self._generator(1).random)
        return self._uniform.__next__

    @property
    def normal(self) -> Callable[[], float]:
        """Standard normals (mean 0, standard deviation 1)."""
        if self._normal is None:
            self._normal = _stream(self._generator(2).standard_normal)
        return self._normal.__next__

    def _generator(self, index: int):
        import numpy

        return numpy.random.Generator(numpy.random.PCG64(self._children[index]))


def _stream(draw: Callable[[int], object]) -> Iterator[float]:
    def blocks() -> Iterator[list[float]]:
        size = FIRST_BLOCK
        while True:
            yield draw(size).tolist()
            size = min(2 * size, LARGEST_BLOCK)

    return itertools.chain.from_iterable(blocks())
