"""The capacitated facility location problem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pulp
import scipy.sparse as sp
from scipy.optimize import linprog

from ..errors import InfeasibleError, InputError, ModelTooLargeError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._common import _site_vars
from ._validate import (
    _MAX_NONZEROS,
    _dense_costs,
    _geo_column,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== CFLP


class CFLP(LocateModel):
    """Capacitated fixed-charge facility location, multi-source; UFLP with ``uncapacitated=True``.

    Minimise ``Σ_j f_j y_j + Σ_ij c_ij x_ij`` where ``x_ij ∈ [0, 1]`` is the
    share of client ``i``'s demand served by site ``j``: ``Σ_j x_ij = 1``,
    ``Σ_i d_i x_ij ≤ s_j y_j``. Strong formulation: every pair carries the
    linking row ``x_ij ≤ min(1, s_j / d_i) y_j``, and the aggregate cut
    ``Σ_j s_j y_j ≥ Σ_i d_i`` is added. Pairs with infinite cost are not
    allowed (not built).

    ``cost_kind`` says what ``cost_matrix`` holds: ``"unit"`` (default) — cost
    per unit of demand, so ``c_ij = cost_matrix[i, j] · d_i``; ``"total"`` —
    the cost of serving all of client ``i`` from ``j`` (OR-Library's
    convention), used as it is.
    """

    sense = pulp.LpMinimize

    def __init__(
        self,
        name: str,
        *,
        demand: np.ndarray,
        facility_capacity: np.ndarray,
        fixed_cost: np.ndarray,
        total: np.ndarray,
        predefined: np.ndarray,
        uncapacitated: bool,
        cost_kind: Literal["unit", "total"],
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`).

        ``total`` is the cost of serving each client wholly from each site
        (``inf`` = not allowed).
        """
        n, m = total.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        dem, cap, fixed = demand, facility_capacity, fixed_cost
        self.demand, self.facility_capacity, self.fixed_cost = dem, cap, fixed
        self.uncapacitated, self.cost_kind, self._total = uncapacitated, cost_kind, total
        y = _site_vars(self, m, predefined)
        ii, jj = np.nonzero(np.isfinite(total))
        npair = len(ii)
        x = np.array([bulk_var(self.problem, f"x_{i}_{j}", 0, 1) for i, j in zip(ii, jj, strict=False)], dtype=object)
        self._pairs, self._x = (ii, jj), x
        self._frac = np.zeros(npair)
        prob = self.problem
        prob.setObjective(bulk_affine(np.concatenate([y, x]), np.concatenate([fixed, total[ii, jj]])))
        allv = np.concatenate([y, x])
        # Assignment rows: Σ_j x_ij = 1 (pairs come sorted by client).
        assign = sp.csr_array((np.ones(npair), (ii, m + np.arange(npair))), shape=(n, m + npair))
        add_bulk_rows(prob, allv, assign, pulp.LpConstraintEQ, np.ones(n), [f"assign_{i}" for i in range(n)])
        # Linking rows: x_ij - min(1, s_j/d_i) y_j <= 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dem[ii] > 0, cap[jj] / np.where(dem[ii] > 0, dem[ii], 1.0), np.inf)
        coef = np.minimum(1.0, ratio)
        link = sp.csr_array(
            (
                np.concatenate([np.ones(npair), -coef]),
                (np.concatenate([np.arange(npair)] * 2), np.concatenate([m + np.arange(npair), jj])),
            ),
            shape=(npair, m + npair),
        )
        link.sort_indices()
        add_bulk_rows(
            prob,
            allv,
            link,
            pulp.LpConstraintLE,
            np.zeros(npair),
            [f"link_{i}_{j}" for i, j in zip(ii, jj, strict=False)],
        )
        if not uncapacitated:
            # One row per site with a finite capacity (inf = that site is unlimited).
            finite = np.isfinite(cap)
            sel = finite[jj]
            q = np.flatnonzero(sel)
            rows_of = np.cumsum(finite) - 1
            fin_sites = np.flatnonzero(finite)
            capr = sp.csr_array(
                (
                    np.concatenate([dem[ii[q]], -cap[fin_sites]]),
                    (np.concatenate([rows_of[jj[q]], np.arange(len(fin_sites))]), np.concatenate([m + q, fin_sites])),
                ),
                shape=(len(fin_sites), m + npair),
            )
            capr.sum_duplicates()
            capr.sort_indices()
            add_bulk_rows(
                prob, allv, capr, pulp.LpConstraintLE, np.zeros(len(fin_sites)), [f"capacity_{j}" for j in fin_sites]
            )
            if finite.all():
                # Valid cut: the open capacity must hold all demand; strengthens the LP a lot.
                prob.addConstraint(
                    pulp.LpConstraint(bulk_affine(y, cap), pulp.LpConstraintGE, "aggregate_capacity", float(dem.sum()))
                )
        self.stats.update({"clients": n, "sites": m, "pairs": npair})
        self._seal(False)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike,
        demand: ArrayLike,
        facility_capacity: ArrayLike | None,
        fixed_cost: ArrayLike,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "cflp",
        *,
        uncapacitated: bool = False,
        cost_kind: Literal["unit", "total"] = "unit",
    ) -> CFLP:
        """Build from a clients × sites cost matrix.

        Parameters
        ----------
        cost_matrix
            Dense (clients × sites); ``inf`` marks a pair that may not be used.
        demand
            Demand per client (non-negative).
        facility_capacity
            Capacity per site (ignored with ``uncapacitated=True``; may be
            ``None`` then).
        fixed_cost
            Opening cost per site.
        predefined_facilities_arr
            Sites that must be open (0/1 mask as long as the sites, or indices).
        uncapacitated
            Solve the UFLP: no capacity rows.
        cost_kind
            ``"unit"`` or ``"total"`` (see the class docstring).
        """
        c = _dense_costs(cost_matrix, allow_inf=True)
        n, m = c.shape
        dem = _vector(demand, n, "demand")
        fixed = _vector(fixed_cost, m, "fixed_cost")
        pre = _predefined_mask(predefined_facilities_arr, m)
        if cost_kind not in ("unit", "total"):
            raise InputError(
                f"cost_kind must be 'unit' or 'total', got {cost_kind!r}",
                field="cost_kind",
                hint="use cost_kind='unit' (cost per unit of demand) or cost_kind='total' (cost of serving all of it)",
            )
        if uncapacitated:
            cap = np.full(m, np.inf)
        else:
            if facility_capacity is None:
                raise InputError(
                    "facility_capacity is required unless uncapacitated=True",
                    field="facility_capacity",
                    hint="pass facility_capacity= (one capacity per site), or uncapacitated=True",
                )
            cap = np.asarray(facility_capacity, dtype=float).reshape(-1)
            if cap.shape != (m,) or np.isnan(cap).any() or (cap < 0).any():
                raise InputError(
                    f"facility_capacity must hold {m} non-negative numbers",
                    field="facility_capacity",
                    hint="give one capacity per site (a column of the cost matrix), each 0 or more",
                )
        total = c * dem[:, None] if cost_kind == "unit" else c.copy()
        if cost_kind == "unit":
            total[np.isinf(c)] = np.inf
            total[(dem[:, None] == 0) & np.isfinite(c)] = 0.0
        allowed = np.isfinite(total)
        unreachable = np.flatnonzero(~allowed.any(axis=1))
        if len(unreachable):
            raise InfeasibleError(
                f"client(s) {', '.join(map(str, unreachable[:10]))} can be served by no site",
                field="cost_matrix",
                hint="give each such client at least one finite cost (np.inf marks a forbidden pair)",
            )
        if not uncapacitated and cap.sum() < dem.sum() - 1e-9 * max(1.0, dem.sum()):
            raise InfeasibleError(
                f"total capacity {cap.sum():g} is below total demand {dem.sum():g}",
                field="facility_capacity",
                hint="raise the capacities or add sites: every client must be served in full",
            )
        npair = int(allowed.sum())
        if 3 * npair > _MAX_NONZEROS:
            raise ModelTooLargeError(
                f"the CFLP model would have {npair:,} assignment variables",
                hint="restrict the allowed pairs (inf costs) or aggregate clients",
            )
        return cls(
            name,
            demand=dem,
            facility_capacity=cap,
            fixed_cost=fixed,
            total=total,
            predefined=pre,
            uncapacitated=uncapacitated,
            cost_kind=cost_kind,
        )

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        facility_capacity_col: str | None,
        fixed_cost_col: str,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "cflp",
        *,
        uncapacitated: bool = False,
        cost_kind: Literal["unit", "total"] = "unit",
    ) -> CFLP:
        """Build from point layers; distance (metres) × demand is the assignment cost by default."""
        cost, demand, pre = _geo_inputs(
            gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, weights_cols, predefined_facility_col
        )
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        fixed = _geo_column(gdf_fac, fixed_cost_col, "fixed_cost_col")
        return cls.from_cost_matrix(
            cost, demand, cap, fixed, pre, name=name, uncapacitated=uncapacitated, cost_kind=cost_kind
        )._labelled(gdf_demand, gdf_fac)

    def _polish(self, mask: np.ndarray) -> np.ndarray | None:
        """Optimal shares for the open set, re-solved as an LP (or in closed form without capacities).

        MIP solvers return shares only up to their tolerances (CBC's plan for
        cap41 evaluated to 1040444.3735 instead of 1040444.375); with the sites
        fixed, the assignment is an LP whose exact optimum is cheap to get.
        Returns ``None`` when the LP cannot be solved (the MIP's shares stay).
        """

        ii, jj = self._pairs
        use = mask[jj]
        pi, pj = ii[use], jj[use]
        cost = self._total[pi, pj]
        frac = np.zeros(len(ii))
        if self.uncapacitated or not np.isfinite(self.facility_capacity[mask]).any():
            # Each client to its cheapest open site.
            order = np.lexsort((cost, pi))
            first = np.ones(len(order), dtype=bool)
            first[1:] = pi[order][1:] != pi[order][:-1]
            chosen = np.flatnonzero(use)[order[first]]
            frac[chosen] = 1.0
            return frac
        k = len(pi)
        a_eq = sp.csr_array((np.ones(k), (pi, np.arange(k))), shape=(self._n, k))
        finite = np.isfinite(self.facility_capacity[pj])
        sites = np.flatnonzero(mask & np.isfinite(self.facility_capacity))
        row_of = np.full(self._m, -1)
        row_of[sites] = np.arange(len(sites))
        q = np.flatnonzero(finite)
        a_ub = sp.csr_array((self.demand[pi[q]], (row_of[pj[q]], q)), shape=(len(sites), k))
        res = linprog(
            cost,
            A_ub=a_ub,
            b_ub=self.facility_capacity[sites],
            A_eq=a_eq,
            b_eq=np.ones(self._n),
            bounds=(0, 1),
            method="highs",
        )
        if res.status != 0:  # pragma: no cover - the MIP plan proves the LP feasible
            return None
        frac[np.flatnonzero(use)] = np.clip(res.x, 0.0, 1.0)
        return frac

    def _set_assignment(self, mask: np.ndarray) -> None:
        ii, jj = self._pairs
        # The polish re-solves the shares under the built rows only: with rows a user added
        # (e.g. "fill this site to capacity") it could break them, so a changed model keeps
        # the solver's shares, which satisfy every row of the problem.
        frac = None if self._changed else self._polish(mask)
        if frac is None:
            frac = np.clip(np.array([v.varValue or 0.0 for v in self._x]), 0.0, 1.0)
        self._frac = frac
        self.allocation = sp.csr_array((frac, (ii, jj)), shape=(self._n, self._m))
        self.allocation.eliminate_zeros()
        alloc = self.allocation.toarray() if self._n * self._m <= 50_000_000 else None
        if alloc is not None:
            self.assignment = np.where(alloc.max(axis=1) > 0, alloc.argmax(axis=1), -1)
        else:  # pragma: no cover - huge instances
            self.assignment = np.asarray(self.allocation.argmax(axis=1)).ravel()

    def _objective_value(self) -> float:
        # Fixed costs of the open sites plus the (polished) assignment cost.
        ii, jj = self._pairs
        return float(self.fixed_cost[self.selected_site_indices].sum() + self._frac @ self._total[ii, jj])

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.allocation.tocoo()
        keep = a.data > 1e-9
        return a.row[keep], a.col[keep]
