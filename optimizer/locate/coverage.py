"""Coverage models: LSCP and MCLP."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InfeasibleError, InputError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ..solvers.options import SolveReport, relative_gap
from ._mclp_budget import mclp_budget_reduce
from ._mclp_reduce import (
    _mclp_greedy,
    _mclp_reduce,
)
from ._validate import (
    _check_p,
    _check_radius,
    _coverage_csr,
    _geo_column,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel, _merge_rows

# Guard on the work of the site-dominance test (sum over demand groups of the
# squared number of covering sites = the flops of the sparse product B^T B).
_DOMINANCE_WORK_LIMIT = 30_000_000


def _dominated_sites(cov: sp.csr_array, cost: np.ndarray, protected: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sites whose covered set is inside another site's at no lower cost.

    Uses a strict order (subset, then cost, then index) so that of two
    identical sites exactly one survives and every dropped site has a
    surviving dominator. ``protected`` sites (predefined) are never dropped.
    Returns ``(dropped mask, computed?)`` — the test is skipped (nothing
    dropped) when its sparse product would be too large.
    """
    m = cov.shape[1]
    dropped = np.zeros(m, dtype=bool)
    deg_rows = np.diff(cov.indptr)
    if int((deg_rows.astype(np.int64) ** 2).sum()) > _DOMINANCE_WORK_LIMIT:
        return dropped, False
    colcount = np.asarray(cov.sum(axis=0)).ravel()
    csc = sp.csc_array(cov, dtype=np.int64)
    inter = (csc.T @ csc).tocoo()  # |cover(j) ∩ cover(k)|
    j, k, c = inter.row, inter.col, inter.data
    cand = (j != k) & (c == colcount[j])  # cover(j) ⊆ cover(k)
    j, k = j[cand], k[cand]
    strict = (colcount[k] > colcount[j]) | (cost[k] < cost[j]) | (k < j)
    ok = (cost[k] <= cost[j]) & strict & ~protected[j]
    dropped[j[ok]] = True
    # Sites covering nothing are dominated by the cheapest site (ties: lowest index).
    empty = colcount == 0
    if empty.any():
        best = int(np.lexsort((np.arange(m), cost))[0])
        drop_empty = empty & ~protected & (cost >= cost[best])
        drop_empty[best] = False
        dropped |= drop_empty
    return dropped, True


def _dominated_rows(cov: sp.csr_array) -> np.ndarray:
    """Covering rows implied by another row: ``cover(k) ⊆ cover(i)``, ``i != k``, makes row ``i`` redundant.

    Any plan meeting row ``k`` meets row ``i``. Of two identical rows the
    higher index goes, so every dropped row keeps a surviving witness (the
    order, by size then index, is strict). Only the pattern of ``cov`` counts.
    """
    g = cov.shape[0]
    pattern = sp.csr_array((np.ones(cov.nnz, dtype=np.int64), cov.indices, cov.indptr), shape=cov.shape)
    size = np.diff(pattern.indptr)
    inter = (pattern @ pattern.T).tocoo()  # |cover(i) ∩ cover(k)|
    i, k, c = inter.row, inter.col, inter.data
    implied = (i != k) & (c == size[k]) & ((size[i] > size[k]) | (i > k))
    dropped = np.zeros(g, dtype=bool)
    dropped[i[implied]] = True
    return dropped


def _lscp_dominance_fixpoint(
    group_cov: sp.csr_array, dropped: np.ndarray, protected: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Alternate row and site dominance on a set-covering matrix until neither removes anything.

    Dropping an implied row keeps the set of feasible plans over the remaining
    sites; dropping a site whose remaining rows lie inside another kept site's
    keeps an optimum (swap it for that site). Each step is valid on the result
    of the previous one, so the reduced problem has the original optimum, and
    every optimum of it is feasible for the original rows (a dropped row ``i``
    contains a kept row's sites, which are never dropped from ``i``).
    Returns ``(kept rows, dropped sites, rounds)``; stops early, keeping what
    it has, when a sparse product would exceed the work guard.
    """
    rows = np.arange(group_cov.shape[0])
    dropped = dropped.copy()
    ones = np.ones(group_cov.shape[1])
    rounds = 0
    while True:
        sub = group_cov[rows]
        col_deg = np.bincount(sub.indices, minlength=sub.shape[1]).astype(np.int64)
        if int((col_deg**2).sum()) > _DOMINANCE_WORK_LIMIT:
            break
        rows_out = _dominated_rows(sub)
        if rows_out.any():
            rows = rows[~rows_out]
            sub = group_cov[rows]
        sites_out, computed = _dominated_sites(sub, ones, protected)
        sites_out &= ~dropped
        if not computed:
            break
        rounds += 1
        if sites_out.any():
            dropped |= sites_out
            group_cov = sp.csr_array(group_cov.multiply((~dropped)[None, :].astype(np.int32)))
            group_cov.eliminate_zeros()
            group_cov.sort_indices()
        elif not rows_out.any():
            break
    return rows, dropped, rounds


def _mclp_limits(
    p_facilities: int | None, facility_costs: Any, budget: float | None, m: int, pre: np.ndarray
) -> tuple[int | None, np.ndarray | None, float | None]:
    """Check MCLP's limits on the plan: ``(p, site costs, budget)``, each ``None`` when not given."""
    if p_facilities is None and budget is None:
        raise InputError(
            "give p_facilities, a budget (with facility_costs), or both",
            field="p_facilities",
            hint="e.g. p_facilities=5, or budget=1e8 with facility_costs=[...]",
        )
    p = _check_p(p_facilities, m, int(pre.sum())) if p_facilities is not None else None
    costs = None
    if budget is not None or facility_costs is not None:
        if budget is None or facility_costs is None:
            raise InputError(
                "a budget needs facility_costs and facility_costs need a budget",
                field="budget",
                hint="pass both budget= and facility_costs= (one cost per site), or neither",
            )
        costs = _vector(facility_costs, m, "facility_costs")
        try:
            budget = float(budget)
        except (TypeError, ValueError):
            raise InputError(
                f"budget must be a number, got {budget!r}",
                field="budget",
                hint="give the budget as a finite number, 0 or more, e.g. budget=1e8",
            ) from None
        if not math.isfinite(budget) or budget < 0:
            raise InputError(
                f"budget must be finite and non-negative, got {budget}",
                field="budget",
                hint="give the budget as a finite number, 0 or more, e.g. budget=1e8",
            )
        if costs[pre].sum() > budget + 1e-9 * max(1.0, budget):
            raise InfeasibleError(
                f"the predefined sites alone cost {costs[pre].sum():g}, more than the budget {budget:g}",
                field="budget",
                hint="raise the budget, or predefine fewer sites",
            )
    return p, costs, budget


class _Coverage(LocateModel):
    """Sparse coverage preprocessing shared by LSCP and MCLP."""

    def __init__(self, name: str, *, coverage: sp.csr_array, service_radius: float, predefined: np.ndarray) -> None:
        """Declare the coverage models' state: ``coverage`` is the clients × sites pattern of the pairs in reach."""
        n, m = coverage.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        self.service_radius = service_radius
        self._cov = coverage
        self._var_arr = np.empty(m, dtype=object)  # per site its variable (None for a dropped site)
        self._open_cov = sp.csr_array((n, m))  # coverage by the open sites (after solve)

    def _prepare(
        self,
        cov: sp.csr_array,
        weights: np.ndarray | None,
        predefined: np.ndarray,
        cost: np.ndarray,
        reduce: bool,
        dominance_ok: bool,
        min_sites: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, sp.csr_array, np.ndarray, np.ndarray]:
        n, m = cov.shape
        w = np.ones(n) if weights is None else weights
        covered_by_pre = np.zeros(n, dtype=bool)
        if predefined.any():
            covered_by_pre = np.asarray(cov[:, np.flatnonzero(predefined)].sum(axis=1)).ravel() > 0
        stats: dict[str, Any] = {"clients": n, "sites": m, "coverage_pairs": int(cov.nnz)}
        active = ~covered_by_pre
        if weights is not None and reduce:
            active &= w > 0  # weightless demand cannot change the objective
        rows = np.flatnonzero(active)
        sub = cov[rows] if len(rows) < n else cov
        dropped = np.zeros(m, dtype=bool)
        if reduce:
            codes, first = _merge_rows(sub)
            gw = np.bincount(codes, weights=w[rows], minlength=len(first))
            group_cov = sub[first]
            stats["demand_groups"] = len(first)
            if dominance_ok:
                dropped, computed = _dominated_sites(group_cov, cost, predefined)
                stats["dominance_test"] = "applied" if computed else "skipped (too large)"
                # Keep enough sites for an exact-p model: restoring dropped sites keeps it valid.
                free_left = int((~dropped & ~predefined).sum())
                need = min_sites - int(predefined.sum())
                if free_left < need:
                    back = np.flatnonzero(dropped)[: need - free_left]
                    dropped[back] = False
            else:
                stats["dominance_test"] = "not valid for this model"
            if dropped.any():
                # Dropping sites can make more groups identical: merge again.
                kept_cols = ~dropped
                pruned = sp.csr_array(group_cov.multiply(kept_cols[None, :].astype(np.int32)))
                pruned.eliminate_zeros()
                pruned.sort_indices()
                codes2, first2 = _merge_rows(pruned)
                gw = np.bincount(codes2, weights=gw, minlength=len(first2))
                group_cov = pruned[first2]
                codes = codes2[codes]
            stats["sites_dropped"] = int(dropped.sum())
        else:
            codes = np.arange(len(rows))
            gw = w[rows]
            group_cov = sub
        stats["model_rows"] = group_cov.shape[0]
        self.stats.update(stats)
        return rows, codes, gw, group_cov, dropped, covered_by_pre

    def _site_variables(self, dropped: np.ndarray) -> None:
        self._site_vars = {}
        var_arr = np.empty(self._m, dtype=object)
        for j in range(self._m):
            if dropped[j]:
                continue
            v = bulk_var(self.problem, f"y_{j}", 1 if self._predefined[j] else 0, 1, pulp.LpBinary)
            if self._predefined[j]:
                v.lowBound = 1
            self._site_vars[j] = v
            var_arr[j] = v
        self._var_arr = var_arr

    def _set_assignment(self, mask: np.ndarray) -> None:
        # A covered client points to a covering open site (the first such).
        cov = self._cov
        open_cov = sp.csr_array(cov.multiply(mask[None, :].astype(np.int32)))
        open_cov.eliminate_zeros()
        self._open_cov = open_cov
        counts = np.diff(open_cov.indptr)
        assign = np.full(self._n, -1, dtype=np.int64)
        has = counts > 0
        assign[has] = open_cov.indices[open_cov.indptr[:-1][has]]
        self.assignment = assign

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        oc = self._open_cov.tocoo()
        return oc.row, oc.col  # spopt lists every open site covering a client

    @property
    def covered(self) -> np.ndarray:
        """Boolean per client: within ``service_radius`` of an open facility."""
        return self.assignment >= 0

    @property
    def n_cli_uncov(self) -> int:
        """Number of clients not covered (spopt's attribute)."""
        return int((~self.covered).sum())

    @property
    def perc_cov(self) -> float:
        """Percentage of clients covered (spopt's attribute, by count not weight)."""
        return 100.0 * (1 - self.n_cli_uncov / self._n)


class LSCP(_Coverage):
    """Location set covering problem (Toregas et al. 1971).

    Minimise the number of open facilities such that every demand point is
    within ``service_radius`` of one (spopt's objective; predefined sites
    count). With ``reduce=True`` (default): demand points covered by a
    predefined site are dropped, demand points with identical covering sets
    are merged, and a site whose covered set is a subset of another site's is
    dropped (always valid here: swapping it for its dominator never uncovers
    anyone and never costs more). Then row and site dominance alternate until
    neither removes anything: a demand row whose covering sites include all of
    another row's is implied by it and dropped, which can make more sites
    dominated, and so on (``stats['dominance_rounds']``; each step keeps an
    optimum, and every plan of the reduced model covers every demand point).
    """

    sense = pulp.LpMinimize

    def __init__(
        self, name: str, *, coverage: sp.csr_array, service_radius: float, predefined: np.ndarray, reduce: bool
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`)."""
        super().__init__(name, coverage=coverage, service_radius=service_radius, predefined=predefined)
        m = coverage.shape[1]
        _, _, _, group_cov, dropped, _ = self._prepare(coverage, None, predefined, np.ones(m), reduce, True, 0)
        names = np.arange(group_cov.shape[0])
        if reduce:
            names, dropped, rounds = _lscp_dominance_fixpoint(group_cov, dropped, predefined)
            group_cov = sp.csr_array(group_cov[names].multiply((~dropped)[None, :].astype(np.int32)))
            group_cov.eliminate_zeros()
            group_cov.sort_indices()
            self.stats.update(
                {"dominance_rounds": rounds, "sites_dropped": int(dropped.sum()), "model_rows": group_cov.shape[0]}
            )
        self._site_variables(dropped)
        prob = self.problem
        prob.setObjective(bulk_affine(list(self._site_vars.values()), np.ones(len(self._site_vars))))
        add_bulk_rows(
            prob,
            self._var_arr,
            group_cov,
            pulp.LpConstraintGE,
            np.ones(group_cov.shape[0]),
            [f"cover_{g}" for g in names],
        )
        self._seal(reduce)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        service_radius: float,
        predefined_facilities_arr: Any = None,
        name: str = "lscp",
        reduce: bool = True,
    ) -> LSCP:
        """Build from a clients × sites cost matrix.

        Parameters
        ----------
        cost_matrix
            Dense array, or a scipy sparse matrix whose stored entries are the
            pairs in reach valued by distance (e.g.
            :func:`optimizer.distance.coverage_matrix`).
        service_radius
            Maximum service distance (``<=``).
        predefined_facilities_arr
            Sites that must be open: a 0/1 mask as long as the sites, or indices.
        name
            Problem name.
        reduce
            Apply the reductions described in the class docstring.

        Raises
        ------
        InfeasibleError
            When some demand point is within reach of no site; the message
            names them.
        """
        radius = _check_radius(service_radius)
        cov = _coverage_csr(cost_matrix, radius)
        _, m = cov.shape
        pre = _predefined_mask(predefined_facilities_arr, m)
        uncovered = np.flatnonzero(np.diff(cov.indptr) == 0)
        if len(uncovered):
            shown = ", ".join(str(int(i)) for i in uncovered[:10]) + (" …" if len(uncovered) > 10 else "")
            raise InfeasibleError(
                f"{len(uncovered)} demand point(s) are farther than {radius:g} from every candidate site, "
                f"so no plan covers everyone: {shown}",
                field="service_radius",
                hint="increase service_radius or add candidate sites near these demand points",
            )
        return cls(name, coverage=cov, service_radius=radius, predefined=pre, reduce=reduce)

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        service_radius: float,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "lscp",
        reduce: bool = True,
    ) -> LSCP:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        radius = _check_radius(service_radius)
        cost, _, pre = _geo_inputs(
            gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, None, predefined_facility_col, cutoff=radius
        )
        return cls.from_cost_matrix(cost, radius, pre, name=name, reduce=reduce)._labelled(gdf_demand, gdf_fac)


class MCLP(_Coverage):
    """Maximal covering location problem (Church & ReVelle 1974), optionally budgeted.

    Maximise the total weight of demand within ``service_radius`` of an open
    facility, with exactly ``p_facilities`` facilities (spopt's model) and/or
    total site cost within ``budget`` (``facility_costs``). Predefined sites
    are open and count towards ``p_facilities`` and the budget (give existing
    facilities cost 0).

    Reductions (``reduce=True``): demand covered by a predefined site and
    weightless demand become constants; demand points with identical covering
    sets are merged (weights summed); a site whose covered set is a subset of
    another's at no lower cost is dropped when that provably keeps an optimum
    — with ``p_facilities`` only (as long as at least ``p_facilities`` sites
    remain) or with ``budget`` only, but not when both bind with unequal
    costs. The test needs a sparse product and is skipped for very large
    coverage (``stats['dominance_test']`` says which).

    With ``p_facilities`` and no budget, the reductions go on to fix sites
    (LP-based probing against an incumbent), which is what makes the
    exact solve fast:

    1. *Incumbent*: the greedy plan, the LP relaxation rounded, an LP dive,
       each improved by best-improvement interchange (all swaps evaluated
       per pass in one count over the coverage pairs, :func:`_mclp_local_search`),
       then an iterated local search that closes 2–3 neighbouring sites and
       refills (again after each probing round, within the fixings).
    2. *Threshold*: with integer weights a better plan covers at least
       ``incumbent + 1``; otherwise at least the incumbent's value.
    3. *Fixing*: a site outside the incumbent is fixed closed (inside it:
       fixed open) when a certified LP bound with the site forced the other
       way is below the threshold — first from the LP reduced costs (free),
       then by re-solving the LP with the site forced ("probing", warm dual
       simplex on an equivalent LP reduced to the undecided rows,
       ``_mclp_probe``, two threads, in rounds while they pay off). Each bound is
       recomputed from the duals as a Lagrangian bound valid for any
       multipliers (:class:`_MclpRelaxation`), so it does not depend on LP
       tolerances. Every plan better than the incumbent obeys every fixing,
       and so does the incumbent: the model keeps an optimum. When the LP
       bound under the fixings falls below the threshold, no better plan
       exists and all sites are fixed to the incumbent.
    4. The model is built over what is left: closed sites have no variable,
       open ones are fixed at 1 and the demand they cover is a constant, and
       a row ``incumbent_cut`` asks for at least the incumbent's cover.

    ``stats`` records the LP bound, the incumbents found, probes, LP
    iterations and fixings; ``incumbent_sites`` holds the incumbent. Above
    ``_MCLP_LP_MAX_PAIRS`` coverage pairs the LP is too slow: the incumbent is
    the greedy plan after interchange and the iterated local search (with a
    larger budget, as nothing else improves it), and the bound
    is Lagrangian instead (relaxing the cover rows, Galvão & ReVelle 1996:
    ``L(u) = Σ_g max(0, w_g − u_g) + Σ of the k largest (Aᵀu)_j``, two sparse
    products per subgradient step, :mod:`._mclp_lagrange`): sites are fixed by
    the same forced-the-other-way test, and if that leaves at most
    ``_MCLP_LP_MAX_PAIRS`` pairs the LP steps above run on the rest. The
    Lagrangian bound also caps the reported bound when the solver stops with
    a weaker one. With ``budget`` and no ``p_facilities`` the incumbent is the
    ratio greedy (most new weight per unit cost) improved by interchange within
    the budget and by the same iterated local search, and the bound relaxes
    the cover rows the same way with Dantzig's bound for the knapsack part
    (:mod:`._mclp_budget`); sites are fixed by the same forced-the-other-way
    test (sites costing more than the budget leaves are fixed closed). If a
    time-limited solve ends with no plan or a worse one, the incumbent is reported (status ``feasible``, gap against
    the solver's bound, which is valid for the original model because every
    plan removed is no better than the incumbent).
    """

    sense = pulp.LpMaximize

    def __init__(
        self,
        name: str,
        *,
        coverage: sp.csr_array,
        weights: np.ndarray,
        service_radius: float,
        p_facilities: int | None,
        facility_costs: np.ndarray | None,
        budget: float | None,
        predefined: np.ndarray,
        reduce: bool,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`)."""
        super().__init__(name, coverage=coverage, service_radius=service_radius, predefined=predefined)
        n, m = coverage.shape
        p, costs, w = p_facilities, facility_costs, weights
        self.p_facilities, self.budget, self.facility_costs, self.weights = p, budget, costs, w
        # (sorted sites, covered weight) of the best plan known, and its sites
        self._incumbent: tuple[np.ndarray, float] | None = None
        self.incumbent_sites: np.ndarray | None = None
        self._z_groups = np.empty(0, dtype=np.int64)  # demand groups with a cover variable
        self._z = np.empty(0, dtype=object)  # their cover variables
        self._zcov = sp.csr_array((0, m))  # their coverage (groups × sites)
        if costs is None:
            dominance_ok, dom_cost = True, np.ones(m)
        elif p is None:
            dominance_ok, dom_cost = True, costs
        else:
            dominance_ok, dom_cost = bool(np.all(costs == costs[0])), costs
        _, _, gw, group_cov, dropped, covered_pre = self._prepare(
            coverage, w, predefined, dom_cost, reduce, dominance_ok, p or 0
        )
        constant = float(w[covered_pre].sum())
        group_cov, dropped, fixed_open = self._find_incumbent(group_cov, gw, dropped, constant, reduce)
        self._build_cover_model(group_cov, gw, dropped, fixed_open, constant, reduce)
        self._seal(reduce)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        service_radius: float,
        p_facilities: int | None = None,
        predefined_facilities_arr: Any = None,
        name: str = "mclp",
        *,
        facility_costs: Any = None,
        budget: float | None = None,
        reduce: bool = True,
    ) -> MCLP:
        """Build from a clients × sites cost matrix.

        Parameters
        ----------
        cost_matrix
            Dense array or scipy sparse matrix (stored entries = pairs in
            reach, valued by distance).
        weights
            Demand weight per client (non-negative).
        service_radius
            Maximum service distance (``<=``).
        p_facilities
            Exact number of open facilities (``None`` with a budget: any number).
        predefined_facilities_arr
            Sites that must be open (0/1 mask as long as the sites, or indices).
        name
            Problem name.
        facility_costs, budget
            Site costs and the budget over the open sites (predefined included).
        reduce
            Apply the reductions described in the class docstring.
        """
        radius = _check_radius(service_radius)
        cov = _coverage_csr(cost_matrix, radius)
        n, m = cov.shape
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p, costs, budget = _mclp_limits(p_facilities, facility_costs, budget, m, pre)
        return cls(
            name,
            coverage=cov,
            weights=w,
            service_radius=radius,
            p_facilities=p,
            facility_costs=costs,
            budget=budget,
            predefined=pre,
            reduce=reduce,
        )

    def _find_incumbent(
        self, group_cov: sp.csr_array, gw: np.ndarray, dropped: np.ndarray, constant: float, reduce: bool
    ) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
        """Incumbent (greedy; with reductions, improved and used to fix sites, see the class docstring).

        Sets ``_incumbent`` and ``incumbent_sites`` (exact ``p`` without costs only; ``None`` otherwise).
        Returns the group coverage without the sites fixed closed, the dropped sites (now including
        those fixed closed) and the sites fixed open.
        """
        p = self.p_facilities
        self._incumbent = None
        fixed_open = np.zeros(self._m, dtype=bool)
        if p is not None and self.facility_costs is None:
            greedy = _mclp_greedy(group_cov, gw, p, self._predefined, dropped)
            if greedy is not None:
                sites, value = greedy
                if reduce:
                    live = np.flatnonzero(np.diff(group_cov.indptr) > 0)
                    mask, value, fixed_closed, fixed_open = _mclp_reduce(
                        group_cov[live], gw[live], p, self._predefined, dropped, sites, constant, self.stats
                    )
                    sites = np.flatnonzero(mask)
                    dropped = dropped | fixed_closed
                    if fixed_closed.any():
                        group_cov = sp.csr_array(group_cov.multiply((~dropped)[None, :].astype(np.int32)))
                        group_cov.eliminate_zeros()
                self._incumbent = (np.sort(sites), value + constant)
                self.stats["heuristic_objective"] = value + constant
        elif p is None and self.facility_costs is not None and self.budget is not None:
            live = np.flatnonzero(np.diff(group_cov.indptr) > 0)
            mask, value, fixed_closed, fixed_open = mclp_budget_reduce(
                group_cov[live], gw[live], self.facility_costs, self.budget, self._predefined, dropped, constant,
                self.stats, reduce,
            )  # fmt: skip
            # Fixings leave at least one site in the model (HiGHS refuses a model without columns).
            if fixed_closed.any() and (fixed_open.any() or (~(dropped | fixed_closed) & ~self._predefined).any()):
                dropped = dropped | fixed_closed
                group_cov = sp.csr_array(group_cov.multiply((~dropped)[None, :].astype(np.int32)))
                group_cov.eliminate_zeros()
            self._incumbent = (np.flatnonzero(mask | self._predefined), value + constant)
            self.stats["heuristic_objective"] = value + constant
        self.incumbent_sites = None if self._incumbent is None else self._incumbent[0]
        return group_cov, dropped, fixed_open

    def _build_cover_model(
        self,
        group_cov: sp.csr_array,
        gw: np.ndarray,
        dropped: np.ndarray,
        fixed_open: np.ndarray,
        constant: float,
        reduce: bool,
    ) -> None:
        """Variables, objective and rows of the merged model: cover rows, ``p_facilities``, budget, incumbent cut."""
        p, costs = self.p_facilities, self.facility_costs
        self._site_variables(dropped)
        for j in np.flatnonzero(fixed_open):
            self._site_vars[int(j)].lowBound = 1
        prob = self.problem
        # Groups no site reaches stay uncovered, groups a site fixed open covers are covered:
        # no variable needed for either.
        reach = np.diff(group_cov.indptr) > 0
        if fixed_open.any():
            by_fixed = np.asarray(group_cov[:, np.flatnonzero(fixed_open)].sum(axis=1)).ravel() > 0
            constant += float(gw[by_fixed].sum())
            reach &= ~by_fixed
        z_groups = np.flatnonzero(reach)
        z = np.array([bulk_var(prob, f"z_{g}", 0, 1) for g in z_groups], dtype=object)
        prob.setObjective(bulk_affine(z, gw[z_groups], constant))
        # Rows  z_g - sum_{j covers g} y_j <= 0, as one CSR over [y | z] columns.
        sub = group_cov[z_groups]
        ng = len(z_groups)
        a = sp.hstack([-sub.astype(float), sp.identity(ng, format="csr")], format="csr")
        a.sort_indices()
        add_bulk_rows(
            prob,
            np.concatenate([self._var_arr, z]),
            a,
            pulp.LpConstraintLE,
            np.zeros(ng),
            [f"cover_{g}" for g in z_groups],
        )
        svars = list(self._site_vars.values())
        if p is not None:
            prob.addConstraint(
                pulp.LpConstraint(bulk_affine(svars, np.ones(len(svars))), pulp.LpConstraintEQ, "p_facilities", p)
            )
        if costs is not None:
            idx = list(self._site_vars.keys())
            prob.addConstraint(
                pulp.LpConstraint(bulk_affine(svars, costs[idx]), pulp.LpConstraintLE, "budget", self.budget)
            )
        undecided = any(v.lowBound != v.upBound for v in svars)
        if (
            reduce
            and self._incumbent is not None
            and undecided
            and ng
            and ("lp_bound" in self.stats or "lagrangian_bound" in self.stats)
        ):
            # The incumbent is feasible here and an optimum is at least as good: demanding that much
            # cover is valid and lets HiGHS prune by it from the start (10-25 % faster on the
            # hard 2,000 x 500 instances). The slack keeps the incumbent inside HiGHS' tolerances.
            need = self._incumbent[1] - constant
            need -= 1e-6 * max(1.0, abs(need))
            prob.addConstraint(
                pulp.LpConstraint(bulk_affine(z, gw[z_groups]), pulp.LpConstraintGE, "incumbent_cut", need)
            )
        self._z_groups, self._z, self._zcov = z_groups, z, sub

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        service_radius: float,
        p_facilities: int | None = None,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "mclp",
        *,
        facility_cost_col: str | None = None,
        budget: float | None = None,
        reduce: bool = True,
    ) -> MCLP:
        """Build from point layers (spopt's signature plus ``facility_cost_col`` / ``budget``)."""
        radius = _check_radius(service_radius)
        cost, weights, pre = _geo_inputs(
            gdf_demand,
            gdf_fac,
            demand_col,
            facility_col,
            distance_metric,
            weights_cols,
            predefined_facility_col,
            cutoff=radius,
        )
        fcost = _geo_column(gdf_fac, facility_cost_col, "facility_cost_col")
        return cls.from_cost_matrix(
            cost, weights, radius, p_facilities, pre, name=name, facility_costs=fcost, budget=budget, reduce=reduce
        )._labelled(gdf_demand, gdf_fac)

    def _improve_plan(self, report: SolveReport) -> None:
        # A solver stopped by its time limit may hold a plan worse than the
        # incumbent built with the model, or none at all: then the incumbent is
        # put on the variables. It is feasible for the model as built (it obeys
        # every fixing and the incumbent cut); with user-added constraints —
        # reduce=False — it is not used.
        if report.status not in ("feasible", "no_solution") or self._incumbent is None or not self._reduced:
            return
        if report.bound is None:
            # Stopped before it proved any bound (a short limit on a busy machine stops HiGHS in
            # presolve): the certified LP bound of the reductions, else all the weight any site
            # reaches, bounds every plan of the model as built — so the plan keeps a proven gap.
            reach = float(self.weights[np.diff(self._cov.indptr) > 0].sum())
            report.bound = min(
                self.stats.get("lp_bound", math.inf), self.stats.get("lagrangian_bound", math.inf), reach
            )
            report.extra["bound"] = (
                "from the reductions' LP or Lagrangian bound / the reachable weight (the solver had none)"
            )
            if report.status == "feasible" and report.objective is not None:
                report.gap = relative_gap(report.objective, report.bound)
        lagrangian = self.stats.get("lagrangian_bound", math.inf)
        if report.bound is not None and lagrangian < report.bound:
            # The solver stopped before its root LP reached the Lagrangian bound of the reductions,
            # which holds for every plan of the model as built.
            report.bound = lagrangian
            report.extra["bound"] = "the reductions' Lagrangian bound (tighter than the solver's)"
        sel, value = self._incumbent
        if report.status == "feasible":
            mask = self._predefined.copy()
            for j, v in self._site_vars.items():
                mask[j] |= (v.varValue or 0.0) > 0.5
            cov_now = float(self.weights[np.asarray(self._cov[:, np.flatnonzero(mask)].sum(axis=1)).ravel() > 0].sum())
            if value <= cov_now:
                return
            report.extra["plan"] = f"incumbent ({value:g}) kept: better than the solver's plan ({cov_now:g})"
        else:
            report.extra["plan"] = f"incumbent ({value:g}): the solver stopped ({report.message}) without a plan"
            report.status = "feasible"
            self.problem.assignStatus(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible)
        inc_mask = np.zeros(self._m, dtype=bool)
        inc_mask[sel] = True
        for j, v in self._site_vars.items():
            v.varValue = 1.0 if inc_mask[j] else 0.0
        zval = np.asarray(self._zcov[:, sel].sum(axis=1)).ravel() > 0
        for v, val in zip(self._z, zval, strict=False):
            v.varValue = float(val)
        report.objective = value
        report.gap = relative_gap(value, report.bound)

    def _objective_value(self) -> float:
        # The covered weight of the open set, recomputed from the plan: equal to
        # the model's objective at an integral solution, and immune to LP noise.
        return float(self.weights[self.assignment >= 0].sum())
