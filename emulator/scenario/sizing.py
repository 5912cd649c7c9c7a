"""Sizing with Erlang-B: how many channels an offered load needs for a grade of service.

The generic method [S34][S35]: A (erlangs) = busy-hour calls x mean holding time / 3600;
choose the smallest N with Erlang-B(N, A) <= the target blocking. VCM channels are sized the
same way, for the share of calls that need one.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CHANNELS = 10_000


def erlang_b(channels: int, erlangs: float) -> float:
    """Blocking probability of an M/M/N/N loss system, by the stable recursion
    B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))."""
    if channels < 0 or erlangs < 0:
        raise ValueError("channels and erlangs must be >= 0")
    blocking = 1.0
    for n in range(1, channels + 1):
        ab = erlangs * blocking
        blocking = ab / (n + ab)
    return blocking


def channels_for(erlangs: float, grade_of_service: float) -> int:
    """The fewest channels whose Erlang-B blocking at this load is at most the grade of service."""
    if not 0 < grade_of_service < 1:
        raise ValueError("the grade of service is a blocking probability between 0 and 1")
    if erlangs < 0:
        raise ValueError("offered load must be >= 0 erlangs")
    blocking = 1.0
    for n in range(1, MAX_CHANNELS + 1):
        ab = erlangs * blocking
        blocking = ab / (n + ab)
        if blocking <= grade_of_service:
            return n
    raise ValueError(f"more than {MAX_CHANNELS} channels would be needed")


@dataclass(frozen=True)
class SizingAdvice:
    erlangs: float
    grade_of_service: float
    sip_channels: int
    sip_blocking: float
    vcm_erlangs: float
    vcm_channels: int


def size(erlangs: float, grade_of_service: float = 0.01, vcm_share: float = 1.0) -> SizingAdvice:
    """SIP trunk channels and VCM channels for a load.

    vcm_share: the fraction of calls that hold a VCM channel throughout (SIP calls to
    analog/digital phones, codec mismatches); 1.0 when every call does.
    """
    if not 0 <= vcm_share <= 1:
        raise ValueError("the VCM share is a fraction between 0 and 1")
    sip = channels_for(erlangs, grade_of_service)
    vcm_load = erlangs * vcm_share
    vcm = channels_for(vcm_load, grade_of_service) if vcm_load > 0 else 0
    return SizingAdvice(erlangs, grade_of_service, sip, erlang_b(sip, erlangs), vcm_load, vcm)


def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t, from the normal one by its Cornish-Fisher expansion in 1/df.

    Accurate to about 1e-3 for df >= 5, plenty for confidence intervals over batches.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(p)
    z2 = z * z
    terms = (
        (z2 + 1) * z / 4,
        ((5 * z2 + 16) * z2 + 3) * z / 96,
        (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384,
    )
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def batch_means_interval(outcomes: bytes | bytearray, *, batches: int = 20, confidence: float = 0.99,
                         warm_up: float = 0.05) -> tuple[float, float, float]:
    """(mean, low, high): a confidence interval for the blocking ratio of a run.

    outcomes: 1 for each blocked attempt, 0 for each admitted one, in arrival order. The
    first `warm_up` share is dropped; the rest is cut into equal batches, whose ratios are
    close to independent, and a Student-t interval is formed over them.
    """
    from statistics import fmean, stdev

    start = int(len(outcomes) * warm_up)
    size_ = (len(outcomes) - start) // batches
    if size_ < 1 or batches < 2:
        raise ValueError("not enough attempts for the batches asked for")
    ratios = [sum(outcomes[start + k * size_: start + (k + 1) * size_]) / size_ for k in range(batches)]
    mean = fmean(ratios)
    half = student_t_quantile(1 - (1 - confidence) / 2, batches - 1) * stdev(ratios) / batches ** 0.5
    return mean, mean - half, mean + half
