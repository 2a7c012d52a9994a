"""Robust statistics for error tables where a few outliers dominate (chapter 10).

- median;
- Tukey's trimean :math:`(Q_1 + 2 Q_2 + Q_3)/4` (quartiles by linear interpolation, numpy's
  default);
- the median absolute deviation :math:`\\mathrm{MAD} = \\mathrm{median}(|x_i - \\mathrm{median}(x)|)`,
  times ``scale`` (``"normal"``: 1.4826, which makes it estimate the standard deviation of normally
  distributed data).

All carry the unit of the data. :func:`error_table` puts them beside the mean absolute error and
the root-mean-square error of several predictions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["NORMAL_MAD_SCALE", "error_table", "mad", "median", "trimean"]

#: 1 / Phi^-1(3/4): MAD x this estimates the standard deviation of a normal distribution.
NORMAL_MAD_SCALE = 1.482602218505602


def _values(x, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise ValueError(f"{name} is empty; a statistic of no values is undefined")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; drop them first (e.g. x[np.isfinite(x)])")
    return a


def median(x) -> float:
    """The median of the values."""
    return float(np.median(_values(x)))


def trimean(x) -> float:
    """Tukey's trimean ``(Q1 + 2*median + Q3) / 4``."""
    q1, q2, q3 = np.percentile(_values(x), [25, 50, 75])
    return float((q1 + 2 * q2 + q3) / 4)


def mad(x, scale: float | str = 1.0) -> float:
    """Median absolute deviation from the median, times ``scale`` (a number or ``"normal"``)."""
    if isinstance(scale, str):
        if scale != "normal":
            raise ValueError(f"scale must be a number or 'normal', got {scale!r}")
        scale = NORMAL_MAD_SCALE
    a = _values(x)
    return float(scale * np.median(np.abs(a - np.median(a))))


def error_table(y_true, predictions: Mapping[str, object]):
    """Errors of several predictions of the same targets, plain and robust.

    Parameters
    ----------
    y_true
        The targets, ``(n,)``.
    predictions
        ``{name: predicted values (n,)}``.

    Returns
    -------
    pandas.DataFrame
        One row per prediction; columns ``MAE``, ``RMSE``, ``median AE``, ``trimean AE`` (of the
        absolute errors) and ``MAD`` (of the signed errors), in the unit of the targets.
    """
    import pandas as pd

    y = _values(y_true, "y_true")
    if not predictions:
        raise ValueError("no predictions given")
    rows = {}
    for name, pred in predictions.items():
        p = _values(pred, f"predictions[{name!r}]")
        if p.shape != y.shape:
            raise ValueError(f"predictions[{name!r}] has {p.size} values, y_true {y.size}")
        err = p - y
        ae = np.abs(err)
        rows[name] = {"MAE": ae.mean(), "RMSE": float(np.sqrt(np.mean(err ** 2))),
                      "median AE": median(ae), "trimean AE": trimean(ae), "MAD": mad(err)}
    return pd.DataFrame.from_dict(rows, orient="index")
