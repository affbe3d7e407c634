"""The k-nearest p-median problem, with the opening constraints and k expanded until exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InfeasibleError, InputError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._common import _p_row, _site_vars, _var_values
from ._validate import (
    _check_p,
    _dense_costs,
    _geo_column,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel, SolverArg

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== k-nearest p-median


class KNearestPMedian(LocateModel):
    r"""p-median on each client's :math:`k` nearest sites, proven optimal by expansion (Church 2018's near-far idea).

    Each client :math:`i` gets assignment variables only to its set
    :math:`K_i` of the :math:`k_i` nearest sites, plus a placeholder
    :math:`g_i` standing for "served farther away", priced at the
    distance to the :math:`(k_i+1)`-th nearest site, :math:`\bar d_i`:

    .. math::

       \begin{array}{lll}
       \textbf{Minimize}   & \sum_i \sum_{j \in K_i} w_i d_{ij} X_{ij} + \sum_i w_i \bar d_i g_i \\
       \textbf{Subject to} & \sum_{j \in K_i} X_{ij} + g_i = 1 & \forall i \\
                           & X_{ij} \le Y_j & \forall i, j \in K_i \quad\text{(opening)} \\
                           & \sum_i w_i X_{ij} \le c_j Y_j & \forall j \quad\text{(only with capacities)} \\
                           & \sum_j Y_j = p,\quad Y_j \in \{0, 1\},\ X_{ij}, g_i \ge 0
       \end{array}

    (:math:`X_{ij}` binary with capacities — single sourcing, as spopt —
    continuous otherwise; a client with :math:`k_i` = all sites has no
    :math:`g_i`.) spopt 0.8 prices :math:`g_i` at :math:`w_i d_{ik_i} + 1`
    and (spopt #419) leaves out the opening rows :math:`X_{ij} \le Y_j`, so
    a client may be assigned to a closed site and a tie at the
    :math:`(k+1)`-th distance can stop the loop early. Here, because
    :math:`\bar d_i` is the smallest distance any site outside :math:`K_i`
    can have, the model is a **relaxation** of the p-median: its optimum is a
    lower bound. :meth:`solve` repeats: solve; if no :math:`g_i` is used the
    plan is feasible at the bound, hence optimal; without capacities it is
    also optimal as soon as the plan's true cost (every client to its nearest
    open site) equals the bound; otherwise :math:`k_i` is doubled for the
    clients using :math:`g_i` and the model rebuilt. It ends with the true
    (capacitated) p-median optimum — ``stats["iterations"]`` and
    ``stats["k_max"]`` say how much of the matrix was needed.
    """

    sense = pulp.LpMinimize

    # Set by _build, which solve() calls again with larger k.
    _pairs: tuple[np.ndarray, np.ndarray]
    _x: np.ndarray
    _g: np.ndarray
    _has_g: np.ndarray

    def __init__(
        self,
        name: str,
        *,
        costs: np.ndarray,
        weights: np.ndarray,
        p_facilities: int,
        k_array: np.ndarray,
        capacities: np.ndarray | None,
        predefined: np.ndarray,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``costs`` is clients × sites."""
        n, m = costs.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        self._d, self.weights, self.p_facilities, self.capacities = costs, weights, p_facilities, capacities
        self.k_array = k_array
        self._build()

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike,
        weights: ArrayLike,
        p_facilities: int,
        k_array: int | ArrayLike | None = None,
        predefined_facilities_arr: ArrayLike | None = None,
        facility_capacities: ArrayLike | None = None,
        name: str = "k-nearest-p-median",
    ) -> KNearestPMedian:
        """Build from a dense clients × sites cost matrix (spopt has only ``from_geodataframe``).

        Parameters
        ----------
        cost_matrix
            Dense, finite, non-negative distances.
        weights
            Demand per client.
        p_facilities
            Exact number of open sites.
        k_array
            Initial ``k`` per client (an int for all, or one per client;
            default 5, at most the number of sites).
        predefined_facilities_arr
            Sites that must be open.
        facility_capacities
            Capacity per site (optional; single sourcing when given).
        name
            Problem name.
        """
        d = _dense_costs(cost_matrix)
        n, m = d.shape
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        k = np.full(n, min(5, m), dtype=np.int64) if k_array is None else np.asarray(k_array, dtype=np.int64)
        if k.ndim == 0:
            k = np.full(n, int(k), dtype=np.int64)
        if k.shape != (n,) or (k < 1).any() or (k > m).any():
            raise InputError(
                f"k_array must hold {n} integers in 1..{m} (or one such integer)",
                field="k_array",
                hint="give one k for all clients (e.g. k_array=5) or one per client, each from 1 to the number of sites",
            )
        cap = None
        if facility_capacities is not None:
            cap = _vector(facility_capacities, m, "facility_capacities")
            if np.sort(cap)[-p:].sum() < w.sum() - 1e-9:
                raise InfeasibleError(
                    f"the {p} largest capacities hold {np.sort(cap)[-p:].sum():g}, "
                    f"less than the total demand {w.sum():g}",
                    field="facility_capacities",
                    hint="raise the capacities, open more facilities (p_facilities) or add sites",
                )
        return cls(name, costs=d, weights=w, p_facilities=p, k_array=k, capacities=cap, predefined=pre)

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        p_facilities: int,
        facility_capacity_col: str | None = None,
        k_array: int | ArrayLike | None = None,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "k-nearest-p-median",
    ) -> KNearestPMedian:
        """Build from point layers (spopt's argument names)."""
        cost, w, pre = _geo_inputs(
            gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, weights_cols, predefined_facility_col
        )
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        return cls.from_cost_matrix(cost, w, p_facilities, k_array, pre, cap, name=name)._labelled(gdf_demand, gdf_fac)

    def _build(self) -> None:
        n, m, d, w, k = self._n, self._m, self._d, self.weights, self.k_array
        self.problem = pulp.LpProblem(self.name, pulp.LpMinimize)
        # Each client's k nearest sites (ties broken by site index), via one sort per row.
        order = np.argsort(d, axis=1, kind="stable")
        keep = np.arange(m)[None, :] < k[:, None]
        ii = np.repeat(np.arange(n), k)
        jj = order[keep]
        srt = np.lexsort((jj, ii))
        ii, jj = ii[srt], jj[srt]
        has_g = np.flatnonzero(k < m)
        dbar = d[has_g, order[has_g, k[has_g]]]
        y = _site_vars(self, m, self._predefined)
        cat = pulp.LpBinary if self.capacities is not None else pulp.LpContinuous
        x = np.array(
            [bulk_var(self.problem, f"x_{i}_{j}", 0, 1, cat) for i, j in zip(ii, jj, strict=False)], dtype=object
        )
        g = np.array([bulk_var(self.problem, f"g_{i}", 0, 1) for i in has_g], dtype=object)
        self._pairs, self._x, self._g, self._has_g = (ii, jj), x, g, has_g
        self.problem.setObjective(
            bulk_affine(np.concatenate([x, g]), np.concatenate([w[ii] * d[ii, jj], w[has_g] * dbar]))
        )
        allv = np.concatenate([y, x, g])
        npx = len(x)
        grow = np.full(n, -1)
        grow[has_g] = np.arange(len(has_g))
        rows = np.concatenate([ii, has_g])
        cols = np.concatenate([m + np.arange(npx), m + npx + grow[has_g]])
        assign = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, len(allv)))
        assign.sort_indices()
        add_bulk_rows(self.problem, allv, assign, pulp.LpConstraintEQ, np.ones(n), [f"assign_{i}" for i in range(n)])
        link = sp.csr_array(
            (
                np.concatenate([np.ones(npx), -np.ones(npx)]),
                (np.concatenate([np.arange(npx)] * 2), np.concatenate([m + np.arange(npx), jj])),
            ),
            shape=(npx, len(allv)),
        )
        link.sort_indices()
        add_bulk_rows(
            self.problem,
            allv,
            link,
            pulp.LpConstraintLE,
            np.zeros(npx),
            [f"open_{i}_{j}" for i, j in zip(ii, jj, strict=False)],
        )
        if self.capacities is not None:
            sites = np.unique(jj)
            srow = np.full(m, -1)
            srow[sites] = np.arange(len(sites))
            capm = sp.csr_array(
                (
                    np.concatenate([w[ii], -self.capacities[sites]]),
                    (np.concatenate([srow[jj], np.arange(len(sites))]), np.concatenate([m + np.arange(npx), sites])),
                ),
                shape=(len(sites), len(allv)),
            )
            capm.sum_duplicates()
            capm.sort_indices()
            add_bulk_rows(
                self.problem, allv, capm, pulp.LpConstraintLE, np.zeros(len(sites)), [f"capacity_{j}" for j in sites]
            )
        _p_row(self.problem, y, self.p_facilities)
        self.stats.update({"pairs": npx, "k_max": int(k.max())})

    def solve(
        self,
        solver: SolverArg = "highs",
        *,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        threads: int | None = None,
        msg: bool = False,
        results: bool = True,
    ) -> KNearestPMedian:
        """Solve, expanding ``k`` until the plan is proven optimal for the full p-median (see the class docstring)."""
        iterations = 0
        while True:
            iterations += 1
            super().solve(solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, msg=msg, results=False)
            if self.status != "optimal":
                break  # honest: the bound stays the relaxation's, the plan its true cost
            used = self._g_used()
            if not used.any() or (self.capacities is None and self._plan_meets_bound()):
                self.bound, self.gap = self.objective, 0.0
                break
            self.k_array = self.k_array.copy()
            self.k_array[used] = np.minimum(self._m, 2 * self.k_array[used])
            self._build()
        self.stats["iterations"] = iterations
        if (
            self.report is not None
            and self.report.has_solution
            and self.capacities is not None
            and self._g_used().any()
        ):
            # Stopped early with clients still on the placeholder: no full plan, only the bound.
            self.status, self.objective, self.gap = "no_solution", None, None
        if results and self.report is not None and self.report.has_solution:
            self._fac2cli()
        return self

    def _plan_meets_bound(self) -> bool:
        """The plan's true cost (each client to its nearest open site) equals the relaxation's bound."""
        assert self.objective is not None and self.bound is not None  # called after an optimal solve only
        return self.objective <= self.bound + 1e-9 * max(1.0, abs(self.bound))

    def _g_used(self) -> np.ndarray:
        """Per client: served by the placeholder ``g_i`` ("farther away") in the solver's plan."""
        used = np.zeros(self._n, dtype=np.bool_)
        if len(self._g):
            used[self._has_g[_var_values(self._g) > 0.5]] = True
        return used

    def _set_assignment(self, mask: np.ndarray) -> None:
        if self.capacities is None:
            open_idx = np.flatnonzero(mask)
            self.assignment = open_idx[np.argmin(self._d[:, open_idx], axis=1)]
            return
        ii, jj = self._pairs
        xv = _var_values(self._x) > 0.5
        assign = np.full(self._n, -1, dtype=np.int64)
        assign[ii[xv]] = jj[xv]
        self.assignment = assign

    def _objective_value(self) -> float:
        ok = self.assignment >= 0
        idx = np.flatnonzero(ok)
        return float(self.weights[idx] @ self._d[idx, self.assignment[idx]])

    @property
    def mean_dist(self) -> float:
        """Weighted mean distance to the assigned facility (spopt's attribute)."""
        return float(self.objective / self.weights.sum()) if self.weights.sum() > 0 else 0.0
