"""Figures used throughout the course: periodic-table heatmaps, parity plots, learning curves.

Every function draws on a matplotlib ``Axes`` (a new figure if none is given) and returns it, so
notebooks can restyle or save the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .elements import SYMBOLS, check_symbol

__all__ = ["learning_curve", "parity_plot", "periodic_table_heatmap", "periodic_table_position"]


def periodic_table_position(symbol: str) -> tuple[int, int]:
    """(row, column) of an element in the 18-column table drawn by :func:`periodic_table_heatmap`.

    Rows 0-6 are periods 1-7; lanthanides (La-Lu) go to row 8 and actinides (Ac-Lr) to row 9,
    columns 2-16, below the main table as usually printed.
    """
    from pymatgen.core.periodic_table import Element

    z = SYMBOLS.index(check_symbol(symbol)) + 1
    if 57 <= z <= 71:
        return 8, z - 57 + 2
    if 89 <= z <= 103:
        return 9, z - 89 + 2
    el = Element(symbol)
    return el.row - 1, el.group - 1


def periodic_table_heatmap(
    values: Mapping[str, float],
    ax=None,
    cmap: str = "viridis",
    label: str = "",
    title: str = "",
    fmt: str | None = "{:.2g}",
    vmin: float | None = None,
    vmax: float | None = None,
    show_missing: bool = True,
):
    """Colour each element's cell of the periodic table by a value.

    Parameters
    ----------
    values
        ``{symbol: value}``; elements not listed are drawn grey (if ``show_missing``).
    ax
        Axes to draw on; a new ``(12, 6.5)`` figure if None.
    cmap, vmin, vmax
        Colour map and its limits (default: min and max of ``values``).
    label
        Colour-bar label, with units, e.g. ``"mean |error| (eV/atom)"``.
    title
        Axes title.
    fmt
        Format of the number printed under each symbol; None prints none.
    show_missing
        Draw elements without a value as grey cells.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 6.5))
    finite = {s: float(v) for s, v in values.items() if np.isfinite(v)}
    for s in finite:
        check_symbol(s)
    if not finite:
        raise ValueError("periodic_table_heatmap: no finite values to draw")
    arr = np.array(list(finite.values()))
    norm = Normalize(vmin=arr.min() if vmin is None else vmin, vmax=arr.max() if vmax is None else vmax)
    colormap = plt.get_cmap(cmap)
    for sym in SYMBOLS:
        row, col = periodic_table_position(sym)
        if sym in finite:
            face = colormap(norm(finite[sym]))
        elif show_missing:
            face = (0.88, 0.88, 0.88, 1.0)
        else:
            continue
        ax.add_patch(plt.Rectangle((col, row), 0.95, 0.95, facecolor=face, edgecolor="white"))
        dark = sum(face[:3]) / 3 < 0.5
        ax.text(col + 0.475, row + 0.38, sym, ha="center", va="center", fontsize=9,
                color="white" if dark else "black", weight="bold")
        if fmt and sym in finite:
            ax.text(col + 0.475, row + 0.72, fmt.format(finite[sym]), ha="center", va="center",
                    fontsize=6, color="white" if dark else "black")
    ax.set_xlim(-0.1, 18)
    ax.set_ylim(10, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    ax.figure.colorbar(sm, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, label=label)
    if title:
        ax.set_title(title)
    return ax


def parity_plot(
    y_true: Sequence[float],
    y_pred: Sequence[float],
    ax=None,
    units: str = "",
    label: str = "",
    title: str = "",
):
    """Predicted against true values with the y = x line and the MAE in the legend.

    Parameters
    ----------
    y_true, y_pred
        Arrays of the same length.
    ax
        Axes to draw on; a new square figure if None.
    units
        Units of the target, e.g. ``"eV/atom"``, used in the axis labels and the MAE.
    label
        Name of the model for the legend.
    title
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(
            f"parity_plot needs two 1-d arrays of the same non-zero length, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    mae = np.mean(np.abs(y_true - y_pred))
    u = f" ({units})" if units else ""
    name = f"{label}: " if label else ""
    ax.scatter(y_true, y_pred, s=8, alpha=0.5, label=f"{name}MAE = {mae:.3g}{' ' + units if units else ''}")
    lo = min(y_true.min(), y_pred.min())
    hi = max(y_true.max(), y_pred.max())
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="black", lw=1, ls="--")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"true{u}")
    ax.set_ylabel(f"predicted{u}")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def learning_curve(
    train_sizes: Sequence[float],
    errors: Mapping[str, Sequence[float]] | Sequence[float],
    spread: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    ax=None,
    ylabel: str = "test MAE",
    log: bool = True,
    title: str = "",
):
    """Test error against training-set size, one line per representation.

    Parameters
    ----------
    train_sizes
        Number of training samples at each point.
    errors
        One curve (a sequence) or ``{label: curve}``; each curve has one error per size.
    spread
        Optional error bars (e.g. standard deviation over seeds), same shape as ``errors``.
    ax
        Axes to draw on; a new figure if None.
    ylabel
        Y-axis label with units.
    log
        Log-log axes, on which learning curves are usually straight lines.
    title
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    sizes = np.asarray(train_sizes, dtype=float)
    curves = errors if isinstance(errors, Mapping) else {"": errors}
    spreads = spread if isinstance(spread, Mapping) or spread is None else {"": spread}
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    for name, curve in curves.items():
        curve = np.asarray(curve, dtype=float)
        if curve.shape != sizes.shape:
            raise ValueError(
                f"curve {name!r} has {curve.shape[0] if curve.ndim else 0} points but there are "
                f"{len(sizes)} training sizes"
            )
        err = None if spreads is None else np.asarray(spreads[name], dtype=float)
        ax.errorbar(sizes, curve, yerr=err, marker="o", capsize=3, label=name or None)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("training-set size")
    ax.set_ylabel(ylabel)
    if any(curves):
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
