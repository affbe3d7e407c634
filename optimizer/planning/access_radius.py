"""The access objective in radius form, with the levels of all demand points that share a set merged.

Per demand point ``i`` with capped baseline ``b_i`` (distance to its nearest
existing facility) and distinct distances ``D_1 < … < D_K < b_i`` to the
candidate sites closer than that, the distance it travels is

``D_1 + Σ_k (D_{k+1} − D_k) z_{S_k}``  (``D_{K+1} = b_i``),

where ``S_k`` is the set of sites within ``D_k`` and ``z_S = 1`` when no site
of ``S`` is open: ``z_S ≥ 1 − Σ_{j∈S} y_j``, ``z_S ≥ 0`` (the radius
formulation of García, Labbé & Marín 2011, in Elloumi's 2010 incremental
form: ``z_S − z_{S'} + Σ_{j∈S∖S'} y_j ≥ 0`` along a chain ``S' ⊂ S``, ``z_∅ =
1``, so each site enters once per chain). Its LP relaxation equals the
assignment model's (``x_ij ≤ y_j``, ``Σ_j x_ij ≤ 1``).

Nearby demand points reach their nearest sites in the same order: the set
``S_k`` (order-k Voronoi cell) is the same for many of them. One ``z_S``
serves every demand point whose levels include ``S``, its objective
coefficient the sum of theirs. Whatever chain defines it, the least ``z_S``
for given ``y`` is ``max(0, 1 − Σ_{j∈S} y_j)``, so the merged model has the
same LP relaxation and the same integer optimum as one ``z`` per demand point
and level; the model grows with the distinct sets, not with the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, numbered_vars


@dataclass
class AccessLevels:
    """The merged levels of one facility type's access term (see the module docstring).

    Attributes
    ----------
    constant
        The people-distance if every level's ``z`` were 0: ``Σ_i P_i D_1(i)``
        over the demand points with pairs plus ``Σ_i P_i b_i`` over the others.
    cost
        Objective coefficient of each merged set's ``z`` (people × distance).
    parent
        The set each set's row chains from (-1: the empty set, ``z_∅ = 1``).
    indptr, sites
        CSR of each set's sites that are not in its parent (positions in the
        type's ``sites``).
    z
        Each set's ``z`` variable once :func:`add_access_levels` has added them (None before).
    """

    constant: float
    cost: np.ndarray
    parent: np.ndarray
    indptr: np.ndarray
    sites: np.ndarray
    z: np.ndarray | None = None

    @property
    def n_sets(self) -> int:
        """The number of merged sets (``z`` variables and rows)."""
        return len(self.cost)


def _set_hashes(rows: np.ndarray, cols: np.ndarray, n_cols: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit order-free hashes of every prefix ``{cols[start_i], …, cols[p]}`` of each demand point's pairs.

    ``rows``/``cols`` are sorted by demand point; the prefix of pair ``p``
    holds the sites of its demand point up to and including ``p``.
    """
    rng = np.random.default_rng(seed)
    r1 = rng.integers(0, 2**63 - 1, size=max(n_cols, 1), dtype=np.int64).astype(np.uint64)
    r2 = rng.integers(0, 2**63 - 1, size=max(n_cols, 1), dtype=np.int64).astype(np.uint64)
    first = np.r_[True, rows[1:] != rows[:-1]]
    with np.errstate(over="ignore"):
        h1 = np.cumsum(r1[cols], dtype=np.uint64)
        h2 = np.cumsum(r2[cols] * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
        # restart the running sums at each demand point: subtract the total before its first pair
        starts = np.flatnonzero(first)
        before1 = np.r_[np.uint64(0), h1[:-1]][starts]
        before2 = np.r_[np.uint64(0), h2[:-1]][starts]
        owner = np.cumsum(first) - 1
        h1 = h1 - before1[owner]
        h2 = h2 - before2[owner]
    return h1, h2


def access_levels(
    rows: np.ndarray,
    cols: np.ndarray,
    dist: np.ndarray,
    baseline: np.ndarray,
    population: np.ndarray,
    n_cols: int,
    seed: int = 1,
) -> AccessLevels:
    """Merged radius levels of one type's access term from its (demand point, site) pairs.

    Parameters
    ----------
    rows, cols, dist
        Pairs closer than the demand point's baseline: demand index, site
        position, distance (any unit; the result is population × that unit).
    baseline
        Capped distance to the nearest existing facility, per demand point.
    population
        People per demand point (pairs of empty demand points carry no cost).
    n_cols
        The number of sites (the hashes' range).
    seed
        Seed of the set hashes (the merge does not depend on it).

    Returns
    -------
    AccessLevels
        The merged sets, their costs and chains.
    """
    keep = population[rows] > 0
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    order = np.lexsort((cols, dist, rows))
    rows, cols, dist = rows[order], cols[order], dist[order]
    n = len(rows)
    if n == 0:
        empty = np.empty(0, np.int64)
        return AccessLevels(float(population @ baseline), np.empty(0), empty, np.zeros(1, np.int64), empty)
    h1, h2 = _set_hashes(rows, cols, n_cols, seed)
    # A level ends at a demand point's last pair of each distinct distance: ties enter the same set.
    last = np.r_[(rows[1:] != rows[:-1]) | (dist[1:] != dist[:-1]), True]
    first_of_row = np.r_[True, rows[1:] != rows[:-1]]
    ends = np.flatnonzero(last)
    lv_row = rows[ends]
    lv_dist = dist[ends]
    nxt_same = np.r_[lv_row[1:] == lv_row[:-1], False]
    lv_next = np.where(nxt_same, np.r_[lv_dist[1:], 0.0], baseline[lv_row])
    pop = population[lv_row]
    lv_cost = pop * (lv_next - lv_dist)
    lv_first = np.r_[True, ~nxt_same[:-1]]  # first level of its demand point
    # P_i b_i, less P_i (b_i − D_1) where a site is nearer than the baseline
    constant = float(population @ baseline - (pop * (baseline[lv_row] - lv_dist))[lv_first].sum())
    # One set per distinct (hash, hash); the first level with it defines its chain.
    codes = pd.DataFrame({"a": h1[ends], "b": h2[ends]}).groupby(["a", "b"], sort=False).ngroup().to_numpy(np.int64)
    n_sets = int(codes.max()) + 1
    cost = np.bincount(codes, weights=lv_cost, minlength=n_sets)
    first_level = np.full(n_sets, -1, np.int64)
    first_level[codes[::-1]] = np.arange(len(codes))[::-1]
    prev_code = np.where(lv_first, -1, np.r_[-1, codes[:-1]])
    parent = prev_code[first_level]
    # Sites of a set beyond its parent: the pairs between the previous level's end and this one's.
    level_start = np.where(lv_first, np.flatnonzero(first_of_row)[np.cumsum(lv_first) - 1], np.r_[0, ends[:-1] + 1])
    starts, stops = level_start[first_level], ends[first_level] + 1
    counts = stops - starts
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    take = np.repeat(starts - indptr[:-1], counts) + np.arange(int(indptr[-1]))
    return AccessLevels(constant, cost, parent, indptr, cols[take].astype(np.int64))


def add_access_levels(
    prob: pulp.LpProblem, ys: list[pulp.LpVariable], levels: AccessLevels, var_prefix: str, row_prefix: str
) -> pulp.LpAffineExpression:
    """Add the merged sets' ``z`` variables and chain rows to ``prob``; returns ``Σ cost_S z_S`` (no constant).

    Row of set ``S`` with parent ``S'``: ``z_S − z_{S'} + Σ_{j∈S∖S'} y_j ≥ 0``
    (``≥ 1`` without parent, ``z_∅ = 1``), added in bulk
    (:func:`optimizer.solvers.highs_bulk.add_bulk_rows`).
    """
    k = levels.n_sets
    if k == 0:
        return pulp.LpAffineExpression()
    zs = numbered_vars(prob, var_prefix, k, 0, 1)
    levels.z = zs
    m = len(ys)
    counts = np.diff(levels.indptr)
    has_parent = levels.parent >= 0
    own = np.arange(k)
    r = np.concatenate([np.repeat(own, counts), own, own[has_parent]])
    c = np.concatenate([levels.sites, m + own, m + levels.parent[has_parent]])
    v = np.concatenate([np.ones(len(levels.sites)), np.ones(k), -np.ones(int(has_parent.sum()))])
    a_mat = sp.csr_array((v, (r, c)), shape=(k, m + k))
    a_mat.sum_duplicates()
    a_mat.sort_indices()
    rhs = np.where(has_parent, 0.0, 1.0)
    columns = np.concatenate([np.array(ys, dtype=object), zs])
    add_bulk_rows(prob, columns, a_mat, pulp.LpConstraintGE, rhs, [f"{row_prefix}_{s}" for s in range(k)])
    return bulk_affine(zs, levels.cost)


def forced_levels(levels: AccessLevels, site_values: np.ndarray) -> np.ndarray:
    """Each set's ``z`` where fixing some site decisions settles it: 0, 1, or NaN (still open).

    ``site_values`` holds each site's fixed value (0 or 1) or NaN where it is
    free. A set holding a site fixed at 1 gets ``z = 0``: its row and its
    descendants' rows then hold for every value of the other sites, and ``z``
    costs ``≥ 0``, so some optimum has it there. A set all of whose sites are
    fixed at 0 gets ``z = 1``: its row forces it (``z ≥ 1 − Σ y``, ``z ≤ 1``).
    So with these ``z`` fixed as well, the problem keeps its optimal value
    and an optimal plan for every fixing of the sites.
    """
    k = levels.n_sets
    own = np.repeat(np.arange(k), np.diff(levels.indptr))
    values = site_values[levels.sites]
    opened = np.bincount(own, weights=values == 1, minlength=k) > 0
    free = np.bincount(own, weights=np.isnan(values), minlength=k) > 0
    has_parent = levels.parent >= 0
    parent = np.where(has_parent, levels.parent, 0)
    # A set holds its parent's sites: pass the flags down the chains (parents come first, so one pass per depth).
    while True:
        opened_new = opened | (has_parent & opened[parent])
        free_new = free | (has_parent & free[parent])
        if (opened_new == opened).all() and (free_new == free).all():
            break
        opened, free = opened_new, free_new
    return np.where(opened, 0.0, np.where(free, np.nan, 1.0))
