"""Figures of the research records (experiments/): what the library's plots do not need to offer its users."""

from __future__ import annotations

import matplotlib.pyplot as plt

from deblur import plots


def grouped_bars(tables, *, metric="mse", xlabel="model", ylim_from_zero=False, path=None):
    """Side-by-side bars: a metric of each series (e.g. plain and ensemble) in each group (e.g. model).

    Parameters
    ----------
    tables : dict of str -> dict
        Series name -> group label -> metrics (as for :func:`deblur.plots.metric_by_group`); a group missing from a series is left
        empty.
    metric : str, default "mse"
    xlabel : str, default "model"
    ylim_from_zero : bool, default False
        Start the y axis at zero; by default just below the smallest bar, so that small differences show.
    path : str or os.PathLike, optional
    """
    if not tables:
        raise ValueError("tables is empty; pass {series: {group: metrics}}.")
    groups = list(dict.fromkeys(g for table in tables.values() for g in table))
    width = 0.8 / len(tables)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    values = []
    for i, (name, table) in enumerate(tables.items()):
        x = [j + (i - (len(tables) - 1) / 2) * width for j, g in enumerate(groups) if g in table]
        heights = [table[g][metric] for g in groups if g in table]
        values += heights
        ax.bar(x, heights, width=width, label=name)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(plots.METRIC_LABELS.get(metric, metric))
    if not ylim_from_zero:
        low, high = min(values), max(values)
        ax.set_ylim(low - 0.1 * (high - low + 1e-12), high + 0.05 * (high - low + 1e-12))
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        plots.save_figure(fig, path)
    return fig
