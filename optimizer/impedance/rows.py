"""Demand points that reach the same sites: one row of a model instead of many.

Every model here (the planning model, its phased form, the classic coverage
models) merges demand points whose in-reach sites are the same set — their
populations add up and the model gets one row for them. The sets come as the
rows of a sparse (CSR) pattern: ``indptr`` and ``indices``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def row_keys(indptr: np.ndarray, indices: np.ndarray, m: int, seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each CSR row's column set (order-free).

    Rows with equal keys have the same covering set with overwhelming
    probability (2^-128 per pair), which is what merging needs; computed in
    bulk with numpy rather than row by row in Python.

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        The rows' pattern in CSR form.
    m : int
        The number of columns (at least 1).
    seed : int
        Seed of the random column weights.

    Returns
    -------
    tuple of numpy.ndarray
        The two hashes per row (``uint64``).
    """
    rng = np.random.default_rng(seed)
    r1 = rng.integers(0, 2**63 - 1, size=m, dtype=np.int64).astype(np.uint64)
    r2 = rng.integers(0, 2**63 - 1, size=m, dtype=np.int64).astype(np.uint64)
    n = len(indptr) - 1
    h1 = np.zeros(n, dtype=np.uint64)
    h2 = np.zeros(n, dtype=np.uint64)
    counts = np.diff(indptr)
    nonempty = counts > 0
    if len(indices):
        with np.errstate(over="ignore"):
            s1 = np.add.reduceat(r1[indices], indptr[:-1][nonempty])
            s2 = np.add.reduceat(r2[indices] * np.uint64(0x9E3779B97F4A7C15), indptr[:-1][nonempty])
        h1[nonempty] = s1
        h2[nonempty] = s2 ^ counts[nonempty].astype(np.uint64)
    return h1, h2


def merge_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    n_cols: int,
    *,
    keys: np.ndarray | None = None,
    seed: int = 12345,
) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a CSR pattern that have the same column set (and, with ``keys``, the same key).

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        The rows' pattern in CSR form.
    n_cols : int
        The number of columns.
    keys : numpy.ndarray, optional
        One value per row that must also agree (e.g. the compared units of a
        demand point, so that an equity term can still tell them apart).
    seed : int
        Seed of :func:`row_keys` (the grouping does not depend on it).

    Returns
    -------
    tuple of numpy.ndarray
        The group of each row, groups numbered in the order they first occur,
        and the first row of each group.
    """
    h1, h2 = row_keys(np.asarray(indptr), np.asarray(indices, dtype=np.int64), max(int(n_cols), 1), seed=seed)
    frame = pd.DataFrame({"h1": h1, "h2": h2})
    group_cols = ["h1", "h2"]
    if keys is not None:
        frame["key"] = keys
        group_cols.append("key")
    codes = frame.groupby(group_cols, sort=False).ngroup().to_numpy().astype(np.int64)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = np.full(n_groups, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # the last assignment (smallest row) wins
    return codes, first
