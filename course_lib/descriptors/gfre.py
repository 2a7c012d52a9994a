r"""Global feature-space reconstruction error (GFRE).

Goscinski, Fraux, Imbalzano & Ceriotti, "The role of feature space in atomistic learning",
Mach. Learn.: Sci. Technol. 2, 025028 (2021).

The GFRE asks how much of feature space :math:`B` can be recovered *linearly* from feature space
:math:`A`, for the same samples (structures or atomic environments):

1. split the samples into a training and a test half (random, seeded);
2. centre both feature matrices and scale each to unit total variance, using the training
   statistics: :math:`\tilde{X} = (X - \bar{X}_\text{train}) / s_\text{train}` with
   :math:`s^2 = \frac{1}{n_\text{train}} \sum_{i \in \text{train}} \lVert x_i -
   \bar{x}\rVert^2`, so that the mean squared norm of the training rows is 1;
3. fit the linear map :math:`P = \arg\min_P \lVert \tilde{X}_B - \tilde{X}_A P
   \rVert^2` on the training half (least squares, regularised by discarding singular values of
   :math:`\tilde{X}_A` below a relative cutoff chosen by 2-fold cross-validation within the
   training half, as in the paper and scikit-matter);
4. report the root-mean-square reconstruction error on the test half,

.. math::

    \mathrm{GFRE}(A \to B) = \sqrt{\frac{1}{n_\text{test}} \sum_{i \in \text{test}}
    \bigl\lVert \tilde{x}^B_i - \tilde{x}^A_i P \bigr\rVert^2 }.

Because of the scaling, :math:`\mathrm{GFRE} \approx 0` when :math:`B` is a linear function of
:math:`A` and :math:`\mathrm{GFRE} \approx 1` when :math:`A` carries no linear information about
:math:`B`. The measure is asymmetric: compare :math:`\mathrm{GFRE}(A \to B)` with
:math:`\mathrm{GFRE}(B \to A)` to see which space is richer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gfre"]

_DEFAULT_CUTOFFS = np.geomspace(1e-9, 0.9, 20)


def gfre(
    X_a,
    X_b,
    *,
    train_fraction: float = 0.5,
    seed: int | None = 0,
    train_idx=None,
    test_idx=None,
    cutoffs=None,
) -> float:
    r"""Global feature-space reconstruction error of ``X_b`` from ``X_a``.

    Parameters
    ----------
    X_a : array-like
        Source features, shape ``(n_samples, n_features_a)``.
    X_b : array-like
        Target features, shape ``(n_samples, n_features_b)``; same samples in the same order.
    train_fraction : float
        Fraction of the samples used for fitting (default 0.5, as in the paper).
    seed : int, optional
        Seed of the random split.
    train_idx, test_idx : array-like of int, optional
        Explicit split (overrides ``train_fraction``/``seed``); if only one is given the other is
        its complement.
    cutoffs : array-like of float, optional
        Candidate relative singular-value cutoffs of the regularised least squares (default: 20
        values from 1e-9 to 0.9, log-spaced); the best is chosen by 2-fold cross-validation on the
        training samples.

    Returns
    -------
    float
        The GFRE (0 = perfect linear reconstruction, about 1 = no linear information).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(200, 5))
    >>> round(gfre(A, A @ rng.normal(size=(5, 3))), 6)
    0.0
    >>> gfre(A, rng.normal(size=(200, 3))) > 0.9
    True
    """
    a = _as_matrix(X_a, "X_a")
    b = _as_matrix(X_b, "X_b")
    n = len(a)
    if len(b) != n:
        raise ValueError(f"X_a and X_b must describe the same samples: {n} rows vs {len(b)} rows.")
    train, test = _split(n, train_fraction, seed, train_idx, test_idx)
    a_train, a_test = _standardize(a[train], a[test])
    b_train, b_test = _standardize(b[train], b[test])
    cut = _choose_cutoff(a_train, b_train, _DEFAULT_CUTOFFS if cutoffs is None else np.asarray(cutoffs, float), seed)
    proj = _fit(a_train, b_train, cut)
    resid = b_test - a_test @ proj
    return float(np.sqrt(np.sum(resid * resid) / len(test)))


def _as_matrix(x, name):
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf.")
    if len(arr) < 4:
        raise ValueError(f"{name} has {len(arr)} samples; the GFRE needs at least 4 (train/test split).")
    return arr


def _split(n, frac, seed, train_idx, test_idx):
    if train_idx is None and test_idx is None:
        if not 0 < frac < 1:
            raise ValueError(f"train_fraction must be in (0, 1), got {frac!r}.")
        perm = np.random.default_rng(seed).permutation(n)
        k = min(max(2, int(round(frac * n))), n - 1)
        return np.sort(perm[:k]), np.sort(perm[k:])
    all_idx = np.arange(n)
    if train_idx is None:
        test_idx = np.asarray(test_idx, dtype=np.int64)
        train_idx = np.setdiff1d(all_idx, test_idx)
    elif test_idx is None:
        train_idx = np.asarray(train_idx, dtype=np.int64)
        test_idx = np.setdiff1d(all_idx, train_idx)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    if len(train_idx) < 2 or len(test_idx) < 1:
        raise ValueError("the split needs at least 2 training and 1 test samples.")
    return train_idx, test_idx


def _standardize(train, test):
    mean = train.mean(axis=0)
    train = train - mean
    test = test - mean
    scale = np.sqrt(np.sum(train * train) / len(train))
    if scale == 0:
        raise ValueError("a feature matrix is constant on the training samples; the GFRE is undefined.")
    return train / scale, test / scale


def _fit(a, b, cutoff):
    """Least squares with singular values below ``cutoff * s_max`` discarded."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = s > cutoff * s[0] if len(s) and s[0] > 0 else np.zeros(len(s), bool)
    return (vt[keep].T / s[keep]) @ (u[:, keep].T @ b)


def _choose_cutoff(a, b, cutoffs, seed):
    if len(cutoffs) == 1:
        return float(cutoffs[0])
    n = len(a)
    if n < 4:
        return float(cutoffs[0])
    perm = np.random.default_rng(None if seed is None else seed + 1).permutation(n)
    folds = (perm[: n // 2], perm[n // 2 :])
    errors = np.zeros(len(cutoffs))
    for fit_idx, val_idx in (folds, folds[::-1]):
        u, s, vt = np.linalg.svd(a[fit_idx], full_matrices=False)
        utb = u.T @ b[fit_idx]
        for k, c in enumerate(cutoffs):
            keep = s > c * s[0] if s[0] > 0 else np.zeros(len(s), bool)
            proj = (vt[keep].T / s[keep]) @ utb[keep]
            r = b[val_idx] - a[val_idx] @ proj
            errors[k] += np.sum(r * r)
    return float(cutoffs[int(np.argmin(errors))])
