"""--plot: in-use against limit over time, per pool (matplotlib, an optional extra)."""

from __future__ import annotations

from pathlib import Path

MAX_POOLS_PER_UNIT = 8


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def plot(data: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError("--plot needs matplotlib: pip install 'ipo-emu[plot]'") from None
    samples = data["samples"]
    hours = [t / 3600.0 for t in samples["t"]]
    units = data["units"]
    fig, axes = plt.subplots(len(units), 1, figsize=(11, 3.6 * len(units)), squeeze=False)
    for ax, unit in zip(axes[:, 0], units, strict=True):
        pools = sorted(unit["pools"], key=lambda p: (-p["peak"], p["pool"]))[:MAX_POOLS_PER_UNIT]
        for pool in pools:
            in_use, limit = samples[f"{unit['name']}/{pool['pool']}"]
            (line,) = ax.step(hours, in_use, where="post", label=f"{pool['pool']} in use")
            ax.step(hours, limit, where="post", linestyle="--", color=line.get_color(), alpha=0.6,
                    label=f"{pool['pool']} limit")
        ax.set_title(f"{data['scenario']} — unit {unit['name']} ({unit['model']} {unit['release']})")
        ax.set_xlabel("hours from start")
        ax.set_ylabel("instances")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
