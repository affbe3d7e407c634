"""The p-center problem."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pulp
import scipy.sparse as sp
from scipy.optimize import linprog

from ..errors import ModelTooLargeError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._common import _site_vars
from ._validate import (
    _MAX_NONZEROS,
    _check_p,
    _dense_costs,
    _geo_inputs,
    _predefined_mask,
)
from .base import LocateModel, _nearest_open

# =========================================================================== p-center


def _pcenter_heuristic(d: np.ndarray, p: int, fixed: np.ndarray) -> tuple[np.ndarray, float]:
    """Greedy minimax construction, then best-improvement swaps on the max distance."""
    n, m = d.shape
    picked = [int(j) for j in np.flatnonzero(fixed)]
    d1 = d[:, picked].min(axis=1) if picked else np.full(n, np.inf)
    while len(picked) < p:
        worst = np.minimum(d, d1[:, None]).max(axis=0)
        worst[picked] = np.inf
        j = int(np.argmin(worst))
        picked.append(j)
        d1 = np.minimum(d1, d[:, j])
    sel = np.array(picked, dtype=np.int64)
    best = float(d[:, sel].min(axis=1).max())
    if n * m * p <= 20_000_000:
        for _ in range(50):
            improved = False
            for r in range(len(sel)):
                if fixed[sel[r]]:
                    continue
                rest = np.delete(sel, r)
                base = d[:, rest].min(axis=1) if len(rest) else np.full(n, np.inf)
                worst = np.minimum(d, base[:, None]).max(axis=0)
                worst[sel] = np.inf
                j = int(np.argmin(worst))
                if worst[j] < best - 1e-12:
                    sel[r], best, improved = j, float(worst[j]), True
            if not improved:
                break
    return sel, best


# Radius searches (greedy cover / LP cover per probe) run up to this many pairs.
_PCENTER_SEARCH_LIMIT = 5_000_000


def _pcenter_bounds(
    d: np.ndarray, p: int, fixed: np.ndarray, sel: np.ndarray, ub: float, lower: float
) -> tuple[np.ndarray, float, float]:
    """Tighten the radius range by binary searches over the candidate radii.

    Upper bound: the smallest radius at which a greedy set cover needs at most
    ``p`` sites (padded to exactly ``p``, it is a plan). Lower bound: the
    smallest radius at which the LP relaxation of the covering problem needs at
    most ``p`` sites — the LP value only falls as the radius grows, and at any
    radius where it exceeds ``p`` no plan exists.
    """

    n, m = d.shape
    radii = np.unique(d[(d >= lower) & (d <= ub)])

    def greedy(r: float) -> np.ndarray | None:
        a = d <= r
        chosen = [int(j) for j in np.flatnonzero(fixed)]
        covered = a[:, chosen].any(axis=1) if chosen else np.zeros(n, dtype=bool)
        while not covered.all():
            if len(chosen) >= p:
                return None
            gains = a[~covered].sum(axis=0)
            gains[chosen] = -1
            j = int(np.argmax(gains))
            if gains[j] <= 0:
                return None
            chosen.append(j)
            covered |= a[:, j]
        rest = np.setdiff1d(np.arange(m), chosen)[: p - len(chosen)]
        return np.concatenate([np.array(chosen, dtype=np.int64), rest])

    lo, hi = 0, len(radii) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        plan = greedy(radii[mid])
        if plan is not None:
            hi = mid
            value = float(d[:, plan].min(axis=1).max())
            if value < ub:
                sel, ub = plan, value
        else:
            lo = mid + 1
    radii = radii[radii <= ub]

    def lp_needs_more(r: float) -> bool:
        a = (d <= r).astype(float)
        bounds = [(1.0, 1.0) if f else (0.0, 1.0) for f in fixed]
        res = linprog(np.ones(m), A_ub=-sp.csr_array(a), b_ub=-np.ones(n), bounds=bounds, method="highs")
        return res.status == 2 or (res.status == 0 and res.fun > p + 1e-7)

    lo, hi = 0, len(radii) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if lp_needs_more(radii[mid]):
            lo = mid + 1
        else:
            hi = mid
    if len(radii):
        lower = max(lower, float(radii[lo]))
    return sel, ub, lower


class PCenter(LocateModel):
    """p-center problem (Hakimi 1965).

    Open exactly ``p_facilities`` sites to minimise the largest distance from
    a client to its nearest open site (spopt's objective; unweighted).

    Formulation: sorted distance levels (Elloumi, Labbé & Pochet 2004). With
    candidate radii ``ρ_1 < … < ρ_K`` (distinct distances between a lower
    bound and an upper bound), ``u_k = 1`` when the radius is at
    least ``ρ_k``; objective ``ρ_1 + Σ_k (ρ_k − ρ_{k−1}) u_k``; rows
    ``u_{k+1} + Σ_{j: d_ij ≤ ρ_k} y_j ≥ 1`` (``u_{K+1} = 0``) and
    ``u_k ≥ u_{k+1}``. A client's row at level ``k`` is left out when its
    covering set at ``ρ_k`` equals that at ``ρ_{k+1}`` (the next row and
    monotonicity imply it) or holds every site.

    Bounds: without ``reduce``, from the largest nearest-site distance to the
    largest distance. With ``reduce`` (default), the upper bound is the best
    of a greedy + swap heuristic and a binary search for the smallest radius
    a greedy set cover meets with ``p`` sites; the lower bound is the smallest
    radius whose covering LP needs at most ``p`` sites (binary search; no plan
    exists below it). Both searches run up to 5 million pairs.
    """

    sense = pulp.LpMinimize

    def __init__(
        self, name: str, *, costs: np.ndarray, p_facilities: int, predefined: np.ndarray, reduce: bool
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``costs`` is clients × sites."""
        d, p, pre = costs, p_facilities, predefined
        n, m = d.shape
        super().__init__(name, n=n, m=m, predefined=pre)
        self._d, self.p_facilities = d, p
        lower = float(d.min(axis=1).max())  # no plan beats every client's nearest site
        sel, ub = _pcenter_heuristic(d, p, pre)
        if reduce and n * m <= _PCENTER_SEARCH_LIMIT:
            sel, ub, lower = _pcenter_bounds(d, p, pre, sel, ub, lower)
        upper = ub if reduce else float(d.max())
        radii = np.unique(d[(d >= lower) & (d <= upper)])
        if len(radii) == 0:
            radii = np.array([upper])
        K = len(radii)
        stats: dict[str, Any] = {
            "clients": n,
            "sites": m,
            "lower_bound": lower,
            "heuristic_objective": ub,
            "radii": K,
        }  # lower: LP-cover bound when reduce, else nearest-site bound
        y = _site_vars(self, m, pre)
        u = np.array([bulk_var(self.problem, f"u_{k}", 0, 1) for k in range(1, K)], dtype=object)  # u_2..u_K
        # Sites within each radius, per client: counts via sorted distances.
        order = np.argsort(d, axis=1, kind="stable")
        dsort = np.take_along_axis(d, order, axis=1)
        counts = np.stack([np.searchsorted(dsort[i], radii, side="right") for i in range(n)])  # (n, K)
        keep = np.ones((n, K), dtype=bool)
        keep[:, :-1] = counts[:, :-1] != counts[:, 1:]
        keep &= counts < m  # a row holding every site is implied by the p_facilities row
        ii, kk = np.nonzero(keep)
        lens = counts[ii, kk]
        nnz = int(lens.sum())
        if nnz > _MAX_NONZEROS:
            raise ModelTooLargeError(
                f"the p-center self would have {nnz:,} nonzeros", hint="use fewer clients or sites"
            )
        nrow = len(ii)
        rows_y = np.repeat(np.arange(nrow), lens)
        start = np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.arange(nnz) - start
        cols_y = order[np.repeat(ii, lens), pos]
        has_u = kk < K - 1  # row at level k carries u_{k+1}
        rows_u = np.flatnonzero(has_u)
        cols_u = m + kk[has_u]  # row at radius radii[k] carries u[k]
        a_mat = sp.csr_array(
            (np.ones(nnz + len(rows_u)), (np.concatenate([rows_y, rows_u]), np.concatenate([cols_y, cols_u]))),
            shape=(nrow, m + K - 1),
        )
        a_mat.sort_indices()
        prob = self.problem
        # u[k] = 1 means the radius is at least radii[k + 1].
        prob.setObjective(bulk_affine(u, np.diff(radii), radii[0]))
        add_bulk_rows(
            prob,
            np.concatenate([y, u]),
            a_mat,
            pulp.LpConstraintGE,
            np.ones(nrow),
            [f"radius_{i}_{k}" for i, k in zip(ii, kk, strict=False)],
        )
        for k in range(len(u) - 1):
            prob.addConstraint(
                pulp.LpConstraint(bulk_affine([u[k], u[k + 1]], [1.0, -1.0]), pulp.LpConstraintGE, f"monotone_{k}", 0.0)
            )
        prob.addConstraint(pulp.LpConstraint(bulk_affine(y, np.ones(m)), pulp.LpConstraintEQ, "p_facilities", p))
        start_vals = {f"y_{j}": 1.0 for j in sel}
        for k in range(K - 1):
            if radii[k + 1] <= ub:
                start_vals[u[k].name] = 1.0
        self._start = start_vals
        stats.update({"rows": nrow + len(u) + 1, "nonzeros": int(a_mat.nnz)})
        self.stats.update(stats)
        self._seal(reduce)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        p_facilities: int,
        predefined_facilities_arr: Any = None,
        name: str = "p-center",
        *,
        reduce: bool = True,
    ) -> PCenter:
        """Build from a dense clients × sites cost matrix (see the class docstring)."""
        d = _dense_costs(cost_matrix)
        n, m = d.shape
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        return cls(name, costs=d, p_facilities=p, predefined=pre, reduce=reduce)

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        p_facilities: int,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "p-center",
        *,
        reduce: bool = True,
    ) -> PCenter:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        cost, _, pre = _geo_inputs(
            gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, None, predefined_facility_col
        )
        return cls.from_cost_matrix(cost, p_facilities, pre, name=name, reduce=reduce)._labelled(gdf_demand, gdf_fac)

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = _nearest_open(self._d, mask)

    def _objective_value(self) -> float:
        return float(self._d[np.arange(self._n), self.assignment].max())
