"""--plot: in-use against limit over time, one small panel per pool (matplotlib, an optional extra).

Each panel has its own scale, so a 4-channel license shows as clearly as a 128-channel one.
Per unit, the pools that were used are drawn, busiest (peak / limit) first.
"""

from __future__ import annotations

from emulator.output_files import write_whole

import math
from pathlib import Path

MAX_POOLS_PER_UNIT = 6
COLUMNS = 3


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
    panels = []
    for unit in data["units"]:
        used = [p for p in unit["pools"] if p["peak"] > 0 and f"{unit['name']}/{p['pool']}" in samples]
        used.sort(key=lambda p: (-(p["peak"] / p["effective"] if p["effective"] else 1.0), p["pool"]))
        panels += [(unit, pool) for pool in used[:MAX_POOLS_PER_UNIT]]
    if not panels:
        panels = [(data["units"][0], None)]
    rows = math.ceil(len(panels) / COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (unit, pool) in zip(axes.flat, panels, strict=False):
        if pool is None:
            ax.text(0.5, 0.5, "no pool was used", ha="center", va="center")
            ax.axis("off")
            continue
        in_use, limit = samples[f"{unit['name']}/{pool['pool']}"]
        ax.step(hours, limit, where="post", linestyle="--", color="tab:red", label="limit")
        ax.step(hours, in_use, where="post", color="tab:blue", label="in use")
        ax.set_ylim(0, max(max(limit, default=1), max(in_use, default=1)) * 1.15 + 0.5)
        refused = sum(pool["refused"].values())
        ax.set_title(f"{unit['name']}: {pool['pool']}" + (f" ({refused} refused)" if refused else ""), fontsize=9)
        ax.set_xlabel("hours", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if panels[0][1] is not None:  # a panel with lines to name
        axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(data["scenario"], fontsize=11)
    fig.tight_layout()
    try:
        write_whole(path, lambda fh: fig.savefig(fh, dpi=100, format="png"), binary=True)
    except OSError as exc:
        raise PlotUnavailableError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
