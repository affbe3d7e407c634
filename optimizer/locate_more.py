"""More classic location models, in spopt's vocabulary, solved exactly.

One model family per section (a later restructure moves each section into its
own module of an ``optimizer/locate/`` package):

:class:`LSCPB`              backup coverage (spopt's LSCP-B): with the LSCP's
                            minimum number of facilities, cover as many demand
                            points twice as possible.
:class:`PDispersion`        p-dispersion: open ``p`` sites as far apart as
                            possible (maximise the smallest pairwise distance).
:class:`KNearestPMedian`    p-median built only on each client's ``k`` nearest
                            sites, with opening constraints and an expansion
                            loop that proves the true p-median optimum.
:class:`CapacitatedMCLP`    maximal covering with facility capacities
                            (ArcGIS "maximize capacitated coverage").
:class:`MaxAttendance`      maximise attendance under linear, power or
                            exponential distance decay with a cutoff (ArcGIS
                            "maximize attendance").
:class:`MarketShare`        maximise Huff market share against competitor
                            facilities (ArcGIS "maximize market share").
:class:`TargetMarketShare`  fewest facilities that reach a target Huff market
                            share (ArcGIS "target market share").

All of them follow :mod:`optimizer.locate`: ``from_cost_matrix`` /
``from_geodataframe`` build a :class:`pulp.LpProblem` in bulk from sparse
(client, site) pairs in reach, :meth:`solve` runs HiGHS (bulk transfer) or CBC
and reports what was proven (``status``, ``objective``, ``bound``, ``gap``),
and ``fac2cli`` / ``cli2fac`` list the allocation.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pulp
import scipy.sparse as sp

from .errors import InfeasibleError, InputError
from .locate import (
    LSCP,
    LocateModel,
    SolverArg,
    _add_rows,
    _affine,
    _check_p,
    _check_radius,
    _coverage_csr,
    _dense_costs,
    _geo_column,
    _geo_cost,
    _geo_coverage,
    _merge_rows,
    _options,
    _predefined_mask,
    _solve_highs_bulk,
    _var,
    _vector,
)
from .solvers import SolveReport, relative_gap, solve_problem

__all__ = [
    "LSCPB",
    "CapacitatedMCLP",
    "KNearestPMedian",
    "MarketShare",
    "MaxAttendance",
    "PDispersion",
    "TargetMarketShare",
    "decay_weights",
]

Decay = Literal["linear", "power", "exponential"]


# =========================================================================== shared helpers


def _pairs_in_reach(cost_matrix: Any, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(client, site, distance) of the pairs with distance <= cutoff, sorted by client then site.

    A dense matrix is thresholded in bulk; a scipy sparse matrix is read as
    "stored entries are the pairs in reach, valued by their distance" (as
    :func:`optimizer.distance.coverage_matrix` returns), so cost grows with
    the pairs in reach, not with clients × sites.
    """
    if sp.issparse(cost_matrix):
        mat = sp.csr_array(cost_matrix)
        mat.sum_duplicates()
        if mat.ndim != 2 or 0 in mat.shape:
            raise InputError(f"cost_matrix must be a non-empty 2-D matrix, got shape {mat.shape}", field="cost_matrix")
        if np.isnan(mat.data).any() or (mat.data < 0).any():
            raise InputError("cost_matrix has NaN or negative entries", field="cost_matrix")
        rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
        keep = mat.data <= cutoff
        ii, jj, dd = rows[keep], mat.indices[keep].astype(np.int64), mat.data[keep].astype(float)
        order = np.lexsort((jj, ii))
        return ii[order], jj[order], dd[order], mat.shape
    arr = _dense_costs(cost_matrix, allow_inf=True)
    ii, jj = np.nonzero(arr <= cutoff)
    return ii.astype(np.int64), jj.astype(np.int64), arr[ii, jj], arr.shape


def _site_vars(model: LocateModel, m: int, pre: np.ndarray, prefix: str = "y") -> np.ndarray:
    """One binary per site (predefined ones fixed open); fills ``model._site_vars``."""
    y = np.empty(m, dtype=object)
    model._site_vars = {}
    for j in range(m):
        v = _var(model.problem, f"{prefix}_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
        if pre[j]:
            v.lowBound = 1  # PuLP resets a binary's bounds to 0..1
        y[j] = v
        model._site_vars[j] = v
    return y


def _p_row(problem: pulp.LpProblem, y: np.ndarray, p: int) -> None:
    problem.addConstraint(pulp.LpConstraint(_affine(y, np.ones(len(y))), pulp.LpConstraintEQ, "p_facilities",
                                            float(p)))


def _allocation_rows(problem: pulp.LpProblem, y: np.ndarray, x: np.ndarray, ii: np.ndarray, jj: np.ndarray,
                     n: int, assign_sense: int, demand: np.ndarray | None = None,
                     capacity: np.ndarray | None = None) -> None:
    """``Σ_j x_ij (sense) 1`` per client, ``x_ij <= y_j`` per pair, and optionally ``Σ_i d_i x_ij <= c_j y_j``."""
    m, k = len(y), len(x)
    allv = np.concatenate([y, x])
    clients = np.unique(ii)
    row_of = np.full(n, -1)
    row_of[clients] = np.arange(len(clients))
    assign = sp.csr_array((np.ones(k), (row_of[ii], m + np.arange(k))), shape=(len(clients), m + k))
    _add_rows(problem, allv, assign, assign_sense, np.ones(len(clients)), [f"assign_{i}" for i in clients])
    link = sp.csr_array((np.concatenate([np.ones(k), -np.ones(k)]),
                         (np.concatenate([np.arange(k)] * 2), np.concatenate([m + np.arange(k), jj]))),
                        shape=(k, m + k))
    link.sort_indices()
    _add_rows(problem, allv, link, pulp.LpConstraintLE, np.zeros(k), [f"link_{i}_{j}" for i, j in zip(ii, jj)])
    if capacity is not None and demand is not None:
        sites = np.unique(jj)
        srow = np.full(m, -1)
        srow[sites] = np.arange(len(sites))
        cap = sp.csr_array((np.concatenate([demand[ii], -capacity[sites]]),
                            (np.concatenate([srow[jj], np.arange(len(sites))]),
                             np.concatenate([m + np.arange(k), sites]))), shape=(len(sites), m + k))
        cap.sum_duplicates()
        cap.sort_indices()
        _add_rows(problem, allv, cap, pulp.LpConstraintLE, np.zeros(len(sites)), [f"capacity_{j}" for j in sites])


def _solve_once(problem: pulp.LpProblem, solver: SolverArg, time_limit: float | None, mip_gap: float | None,
                threads: int | None, msg: bool) -> SolveReport:
    options = _options(solver, time_limit, mip_gap, threads, msg)
    if options.name == "highs":
        return _solve_highs_bulk(problem, options, None)
    return solve_problem(problem, options)


def _var_values(x: np.ndarray) -> np.ndarray:
    return np.array([v.varValue or 0.0 for v in x], dtype=float)


def decay_weights(distance: np.ndarray, decay: Decay, beta: float, cutoff: float) -> np.ndarray:
    r"""Share of demand that attends a facility at ``distance`` (ArcGIS's impedance transformations).

    .. math::

        a(d) = \begin{cases}
            1 - d / d_{\max}                        & \text{linear} \\
            \min(1, d^{-\beta})                     & \text{power} \\
            e^{-\beta d}                            & \text{exponential}
        \end{cases}
        \qquad\text{and } a(d) = 0 \text{ for } d > d_{\max}.

    ArcGIS transforms the impedance into ``β·d``, ``d^β`` or ``e^{β d}`` and
    lets attendance fall in proportion to it; the power form is capped at 1
    (demand within one distance unit attends fully) so a share never exceeds
    the demand.

    Parameters
    ----------
    distance
        Distances (non-negative).
    decay
        ``"linear"``, ``"power"`` or ``"exponential"``.
    beta
        Decay parameter (ignored by ``"linear"``).
    cutoff
        Largest distance at which anyone attends (``inf`` allowed except for
        ``"linear"``).

    Returns
    -------
    numpy.ndarray
        The attending share per distance, in ``[0, 1]``.
    """
    d = np.asarray(distance, dtype=float)
    if decay == "linear":
        out = 1.0 - d / cutoff if cutoff > 0 else (d <= 0).astype(float)
    elif decay == "power":
        out = np.where(d <= 1.0, 1.0, np.power(np.maximum(d, 1.0), -beta))
    elif decay == "exponential":
        out = np.exp(-beta * d)
    else:
        raise InputError(f"decay must be 'linear', 'power' or 'exponential', got {decay!r}", field="decay")
    return np.where(d <= cutoff, np.clip(out, 0.0, 1.0), 0.0)


def _check_decay(decay: Any, beta: Any, cutoff: Any) -> tuple[str, float, float]:
    if decay not in ("linear", "power", "exponential"):
        raise InputError(f"decay must be 'linear', 'power' or 'exponential', got {decay!r}", field="decay")
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise InputError(f"beta must be a number, got {beta!r}", field="beta") from None
    if not math.isfinite(b) or b <= 0:
        raise InputError(f"beta must be positive and finite, got {beta!r}", field="beta")
    if cutoff is None:
        if decay == "linear":
            raise InputError("linear decay needs a cutoff (attendance falls to 0 at the cutoff)", field="cutoff")
        return decay, b, math.inf
    try:
        c = float(cutoff)
    except (TypeError, ValueError):
        raise InputError(f"cutoff must be a number, got {cutoff!r}", field="cutoff") from None
    if math.isnan(c) or c < 0 or (decay == "linear" and not math.isfinite(c)):
        raise InputError(f"cutoff must be non-negative{' and finite' if decay == 'linear' else ''}, got {cutoff!r}",
                         field="cutoff")
    return decay, b, c


# =========================================================================== LSCP-B (backup coverage)


class LSCPB(LocateModel):
    r"""Location set covering with backup (LSCP-B; Church & Murray 2018, as in spopt).

    First the LSCP gives the fewest facilities :math:`p` that cover every
    demand point; then, with exactly :math:`p` facilities, the number of
    demand points covered at least twice is maximised:

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_{i \in I^2} U_i \\
       \textbf{Subject to} & \sum_{j} a_{ij} Y_j \ge 1 + U_i & \forall i \in I^2 \\
                           & \sum_{j} a_{ij} Y_j \ge 1       & \forall i \in I \setminus I^2 \\
                           & \sum_j Y_j = p \\
                           & U_i \in \{0, 1\},\ Y_j \in \{0, 1\}
       \end{array}

    with :math:`a_{ij} = 1` when :math:`d_{ij} \le r` and :math:`I^2` the
    demand points within reach of at least two sites. Demand points with the
    same covering set are merged into one row whose :math:`U` counts them all.

    spopt's objective differs by a constant: spopt keeps :math:`U_i` in its
    objective also for demand points with fewer than two sites in reach,
    where nothing constrains it, so its value is
    ``objective + n_single`` (``spopt_objective`` here). The plans are the
    same. Only the pairs in reach are built (sparse rows).

    Attributes (after :meth:`solve`): ``lscp_obj_value`` (p), ``backup``
    (per client: covered twice), ``backup_perc`` (% of clients covered more
    than once, spopt's attribute), ``spopt_objective``.
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, service_radius: float, solver: SolverArg = "highs",
                         predefined_facilities_arr=None, name: str = "lscp-b") -> LSCPB:
        """Build from a clients × sites cost matrix (spopt's argument order; ``solver`` solves the LSCP step).

        Parameters
        ----------
        cost_matrix
            Dense array, or scipy sparse with the pairs in reach valued by distance.
        service_radius
            Maximum service distance (``<=``).
        solver
            Solver for the LSCP stage and default for :meth:`solve`.
        predefined_facilities_arr
            Sites that must be open (0/1 mask or indices).
        name
            Problem name.
        """
        radius = _check_radius(service_radius)
        lscp = LSCP.from_cost_matrix(cost_matrix, radius, predefined_facilities_arr, name=f"{name}-lscp").solve(solver)
        if lscp.status != "optimal":
            raise InfeasibleError(f"the LSCP stage ended {lscp.status}, so p is not known", field="solver")
        cov = _coverage_csr(cost_matrix, radius)
        n, m = cov.shape
        pre = _predefined_mask(predefined_facilities_arr, m)
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model._n, model._m, model._predefined, model._cov = n, m, pre, cov
        model._solver = solver
        model.service_radius = radius
        p = int(round(lscp.objective))
        model.lscp_obj_value = p
        y = _site_vars(model, m, pre)
        counts = np.diff(cov.indptr)
        model.n_single = int((counts < 2).sum())
        # Demand points with identical covering sets share one row and one U (weight = their number).
        codes, first = _merge_rows(cov)
        size = np.bincount(codes, minlength=len(first)).astype(float)
        gcov = cov[first]
        g = len(first)
        two = np.flatnonzero(np.diff(gcov.indptr) >= 2)
        u = np.array([_var(model.problem, f"u_{k}", 0, 1, pulp.LpBinary) for k in two], dtype=object)
        model._u = u
        model.problem.setObjective(_affine(u, size[two]))
        allv = np.concatenate([y, u])
        # Σ_j a_ij y_j - U_i >= 1 (U only where two sites are in reach).
        coo = gcov.tocoo()
        urow = np.full(g, -1)
        urow[two] = np.arange(len(two))
        rows = np.concatenate([coo.row, two])
        cols = np.concatenate([coo.col, m + urow[two]])
        vals = np.concatenate([np.ones(coo.nnz), -np.ones(len(two))])
        a = sp.csr_array((vals, (rows, cols)), shape=(g, m + len(two)))
        a.sort_indices()
        _add_rows(model.problem, allv, a, pulp.LpConstraintGE, np.ones(g), [f"backup_{k}" for k in range(g)])
        _p_row(model.problem, y, p)
        model.stats.update({"clients": n, "sites": m, "coverage_pairs": int(cov.nnz), "p": p, "demand_groups": g})
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, service_radius: float,
                          solver: SolverArg = "highs", predefined_facility_col: str | None = None,
                          distance_metric: str = "euclidean", name: str = "lscp-b") -> LSCPB:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, radius, solver, pre, name=name)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def solve(self, solver: SolverArg | None = None, **kwargs: Any) -> LSCPB:
        """Solve (default: the solver given at construction); see :meth:`LocateModel.solve`."""
        return super().solve(self._solver if solver is None else solver, **kwargs)

    def _set_assignment(self, mask: np.ndarray) -> None:
        open_cov = sp.csr_array(self._cov.multiply(mask[None, :].astype(np.int32)))
        open_cov.eliminate_zeros()
        self._open_cov = open_cov
        counts = np.diff(open_cov.indptr)
        self.backup = counts >= 2
        assign = np.full(self._n, -1, dtype=np.int64)
        has = counts > 0
        assign[has] = open_cov.indices[open_cov.indptr[:-1][has]]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.backup.sum())

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        oc = self._open_cov.tocoo()
        return oc.row, oc.col

    @property
    def backup_perc(self) -> float:
        """Percentage of clients covered by more than one open facility (spopt's attribute)."""
        return 100.0 * float(self.backup.sum()) / self._n

    @property
    def spopt_objective(self) -> float | None:
        """The value spopt's LSCPB reports for the same plan (see the class docstring)."""
        return None if self.objective is None else self.objective + self.n_single


# =========================================================================== p-dispersion


class PDispersion(LocateModel):
    r"""p-dispersion (Kuby 1987; formulation after Maliszewski et al. 2012, as in spopt).

    Open exactly :math:`p` sites so that the smallest distance between two open
    sites, :math:`D`, is as large as possible:

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & D \\
       \textbf{Subject to} & \sum_j Y_j = p \\
                           & D \le d_{ij} + (U - d_{ij})(2 - Y_i - Y_j) & \forall i < j:\ L \le d_{ij} < U \\
                           & Y_i + Y_j \le 1 & \forall i < j:\ d_{ij} < L \\
                           & L \le D \le U,\quad Y_j \in \{0, 1\}
       \end{array}

    spopt uses one big :math:`M = \max d` for every pair. Here :math:`U` is an
    upper bound (for any open site the distance to its nearest open
    neighbour is at most the :math:`(p-1)`-th largest distance from it, so
    :math:`D \le U = \max_i` of that) and :math:`L` the value of a greedy
    (farthest-point) plan. Pairs at :math:`d_{ij} \ge U` can never bind and
    are not built; pairs nearer than :math:`L` simply cannot both be open in a
    plan at least as good as the greedy one. The optimum is unchanged and the
    big-M rows are much tighter. Requires :math:`p \ge 2`.
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, p_facilities: int, predefined_facilities_arr=None,
                         name: str = "p-dispersion") -> PDispersion:
        """Build from a sites × sites distance matrix (symmetric; the upper triangle is used).

        Parameters
        ----------
        cost_matrix
            Dense (sites × sites) distances.
        p_facilities
            Number of sites to open (at least 2).
        predefined_facilities_arr
            Sites that must be open (0/1 mask or indices).
        name
            Problem name.
        """
        d = _dense_costs(cost_matrix)
        m = d.shape[1]
        if d.shape[0] != m:
            raise InputError(f"p-dispersion needs a square sites × sites matrix, got shape {d.shape}",
                             field="cost_matrix")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        if p < 2:
            raise InputError("p-dispersion needs p_facilities >= 2 (one site has no pairwise distance)",
                             field="p_facilities")
        d = np.minimum(d, d.T)  # one distance per pair
        iu, ju = np.triu_indices(m, 1)
        dist = d[iu, ju]
        off = d + np.diag(np.full(m, -np.inf))
        # U: (p-1)-th largest distance from each site, maximised over sites (over predefined ones if any).
        kth = -np.sort(-off, axis=1)[:, p - 2]
        upper = float(kth[pre].min()) if pre.any() else float(kth.max())
        plan = _dispersion_greedy(d, p, pre)
        sel = np.flatnonzero(plan)
        lower = float(d[np.ix_(sel, sel)][np.triu_indices(len(sel), 1)].min())
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model._n, model._m, model._predefined, model._d = m, m, pre, d
        y = _site_vars(model, m, pre)
        dvar = _var(model.problem, "D", lower, upper)
        model._dvar = dvar
        model.problem.setObjective(_affine([dvar], [1.0]))
        _p_row(model.problem, y, p)
        allv = np.concatenate([y, [dvar]])
        near = np.flatnonzero(dist < lower)
        mid = np.flatnonzero((dist >= lower) & (dist < upper))
        k = len(near)
        conf = sp.csr_array((np.ones(2 * k), (np.concatenate([np.arange(k)] * 2),
                                              np.concatenate([iu[near], ju[near]]))), shape=(k, m + 1))
        conf.sort_indices()
        _add_rows(model.problem, allv, conf, pulp.LpConstraintLE, np.ones(k),
                  [f"conflict_{iu[q]}_{ju[q]}" for q in near])
        # D + (U - d)(y_i + y_j) <= d + 2 (U - d)
        k2 = len(mid)
        mcoef = upper - dist[mid]
        rows = np.concatenate([np.arange(k2)] * 3)
        cols = np.concatenate([np.full(k2, m), iu[mid], ju[mid]])
        vals = np.concatenate([np.ones(k2), mcoef, mcoef])
        spread = sp.csr_array((vals, (rows, cols)), shape=(k2, m + 1))
        spread.sort_indices()
        _add_rows(model.problem, allv, spread, pulp.LpConstraintLE, dist[mid] + 2 * mcoef,
                  [f"spread_{iu[q]}_{ju[q]}" for q in mid])
        model._start = {f"y_{j}": 1.0 for j in sel}
        model.stats.update({"sites": m, "p": p, "lower": lower, "upper": upper, "conflict_rows": k,
                            "spread_rows": k2, "pairs": len(dist)})
        return model

    @classmethod
    def from_geodataframe(cls, gdf_fac, facility_col: str, p_facilities: int,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "p-dispersion") -> PDispersion:
        """Build from a point layer of sites (spopt's signature)."""
        cost = _geo_cost(gdf_fac, gdf_fac, facility_col, facility_col, distance_metric)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, p_facilities, pre, name=name)
        model.site_ids = gdf_fac.index.to_numpy()
        return model

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = np.where(mask, np.arange(self._m), -1)

    def _objective_value(self) -> float:
        sel = self.selected_site_indices
        sub = self._d[np.ix_(sel, sel)]
        return float(sub[np.triu_indices(len(sel), 1)].min())


def _dispersion_greedy(d: np.ndarray, p: int, pre: np.ndarray) -> np.ndarray:
    """Farthest-point greedy plan: start from the predefined sites (or the farthest pair), add the farthest site."""
    m = d.shape[0]
    mask = pre.copy()
    if mask.sum() == 0:
        i, j = np.unravel_index(np.argmax(d + np.diag(np.full(m, -np.inf))), d.shape)
        mask[[i, j]] = True
    elif mask.sum() == 1:
        i = int(np.flatnonzero(mask)[0])
        mask[int(np.argmax(np.where(mask, -np.inf, d[i])))] = True
    while mask.sum() < p:
        gap = np.where(mask, -np.inf, d[:, mask].min(axis=1))
        mask[int(np.argmax(gap))] = True
    return mask


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

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, p_facilities: int, k_array=None,
                         predefined_facilities_arr=None, facility_capacities=None,
                         name: str = "k-nearest-p-median") -> KNearestPMedian:
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
            raise InputError(f"k_array must hold {n} integers in 1..{m} (or one such integer)", field="k_array")
        cap = None
        if facility_capacities is not None:
            cap = _vector(facility_capacities, m, "facility_capacities")
            if np.sort(cap)[-p:].sum() < w.sum() - 1e-9:
                raise InfeasibleError(f"the {p} largest capacities hold {np.sort(cap)[-p:].sum():g}, "
                                      f"less than the total demand {w.sum():g}", field="facility_capacities")
        model = cls(name, pulp.LpProblem(name, pulp.LpMinimize))
        model._n, model._m, model._predefined = n, m, pre
        model._d, model.weights, model.p_facilities, model.capacities = d, w, p, cap
        model.k_array = k
        model._build()
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          p_facilities: int, facility_capacity_col: str | None = None, k_array=None,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "k-nearest-p-median") -> KNearestPMedian:
        """Build from point layers (spopt's argument names)."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        w = _geo_column(gdf_demand, weights_cols, "weights_cols")
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, w, p_facilities, k_array, pre, cap, name=name)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

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
        x = np.array([_var(self.problem, f"x_{i}_{j}", 0, 1, cat) for i, j in zip(ii, jj)], dtype=object)
        g = np.array([_var(self.problem, f"g_{i}", 0, 1) for i in has_g], dtype=object)
        self._pairs, self._x, self._g, self._has_g = (ii, jj), x, g, has_g
        self.problem.setObjective(_affine(np.concatenate([x, g]), np.concatenate([w[ii] * d[ii, jj], w[has_g] * dbar])))
        allv = np.concatenate([y, x, g])
        npx = len(x)
        grow = np.full(n, -1)
        grow[has_g] = np.arange(len(has_g))
        rows = np.concatenate([ii, has_g])
        cols = np.concatenate([m + np.arange(npx), m + npx + grow[has_g]])
        assign = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, len(allv)))
        assign.sort_indices()
        _add_rows(self.problem, allv, assign, pulp.LpConstraintEQ, np.ones(n), [f"assign_{i}" for i in range(n)])
        link = sp.csr_array((np.concatenate([np.ones(npx), -np.ones(npx)]),
                             (np.concatenate([np.arange(npx)] * 2), np.concatenate([m + np.arange(npx), jj]))),
                            shape=(npx, len(allv)))
        link.sort_indices()
        _add_rows(self.problem, allv, link, pulp.LpConstraintLE, np.zeros(npx),
                  [f"open_{i}_{j}" for i, j in zip(ii, jj)])
        if self.capacities is not None:
            sites = np.unique(jj)
            srow = np.full(m, -1)
            srow[sites] = np.arange(len(sites))
            capm = sp.csr_array((np.concatenate([w[ii], -self.capacities[sites]]),
                                 (np.concatenate([srow[jj], np.arange(len(sites))]),
                                  np.concatenate([m + np.arange(npx), sites]))), shape=(len(sites), len(allv)))
            capm.sum_duplicates()
            capm.sort_indices()
            _add_rows(self.problem, allv, capm, pulp.LpConstraintLE, np.zeros(len(sites)),
                      [f"capacity_{j}" for j in sites])
        _p_row(self.problem, y, self.p_facilities)
        self.stats.update({"pairs": npx, "k_max": int(k.max())})

    def solve(self, solver: SolverArg = "highs", *, time_limit: float | None = None, mip_gap: float | None = None,
              threads: int | None = None, msg: bool = False, results: bool = True) -> KNearestPMedian:
        """Solve, expanding ``k`` until the plan is proven optimal for the full p-median (see the class docstring)."""
        iterations = 0
        while True:
            iterations += 1
            super().solve(solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, msg=msg, results=False)
            if self.status != "optimal":
                break  # honest: the bound stays the relaxation's, the plan its true cost
            used = self._g_used()
            if not used.any() or (self.capacities is None and self.objective <= self.bound + 1e-9 * max(1.0, abs(
                    self.bound))):
                self.bound, self.gap = self.objective, 0.0
                break
            self.k_array = self.k_array.copy()
            self.k_array[used] = np.minimum(self._m, 2 * self.k_array[used])
            self._build()
        self.stats["iterations"] = iterations
        if self.report is not None and self.report.has_solution and self.capacities is not None \
                and self._g_used().any():
            # Stopped early with clients still on the placeholder: no full plan, only the bound.
            self.status, self.objective, self.gap = "no_solution", None, None
        if results and self.report is not None and self.report.has_solution:
            self._fac2cli()
        return self

    def _g_used(self) -> np.ndarray:
        used = np.zeros(self._n, dtype=bool)
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


# =========================================================================== capacitated MCLP


class CapacitatedMCLP(LocateModel):
    r"""Maximal covering with capacities (Current & Storbeck 1988; ArcGIS "maximize capacitated coverage").

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_i \sum_{j \in N_i} w_i X_{ij} \\
       \textbf{Subject to} & \sum_{j \in N_i} X_{ij} \le 1 & \forall i \\
                           & X_{ij} \le Y_j & \forall i, j \in N_i \\
                           & \sum_{i} w_i X_{ij} \le c_j Y_j & \forall j \\
                           & \sum_j Y_j = p,\quad Y_j \in \{0, 1\}
       \end{array}

    :math:`N_i` = sites within ``service_radius`` of client :math:`i`.
    With ``single_source=True`` (default; ArcGIS allocates a demand point
    wholly or not at all) :math:`X_{ij} \in \{0, 1\}`; otherwise
    :math:`X_{ij} \in [0, 1]` (demand may be split and partly covered).
    Without binding capacities this is spopt's MCLP. Only pairs in reach are
    built. ``objective`` = covered demand weight.
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, service_radius: float, p_facilities: int, capacities,
                         predefined_facilities_arr=None, name: str = "capacitated-mclp", *,
                         single_source: bool = True) -> CapacitatedMCLP:
        """Build from a clients × sites cost matrix (dense, or sparse pairs in reach).

        Parameters
        ----------
        cost_matrix
            Distances; a scipy sparse matrix stores only the pairs in reach.
        weights
            Demand per client.
        service_radius
            Coverage distance (``<=``).
        p_facilities
            Exact number of open sites.
        capacities
            Demand each site can serve.
        predefined_facilities_arr
            Sites that must be open.
        name
            Problem name.
        single_source
            A client is covered wholly by one site, or not at all.
        """
        radius = _check_radius(service_radius)
        ii, jj, _, (n, m) = _pairs_in_reach(cost_matrix, radius)
        w = _vector(weights, n, "weights")
        cap = _vector(capacities, m, "capacities")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model._n, model._m, model._predefined = n, m, pre
        model.weights, model.capacities, model.service_radius = w, cap, radius
        y = _site_vars(model, m, pre)
        cat = pulp.LpBinary if single_source else pulp.LpContinuous
        x = np.array([_var(model.problem, f"x_{i}_{j}", 0, 1, cat) for i, j in zip(ii, jj)], dtype=object)
        model._pairs, model._x = (ii, jj), x
        model.problem.setObjective(_affine(x, w[ii]))
        if len(x):
            _allocation_rows(model.problem, y, x, ii, jj, n, pulp.LpConstraintLE, w, cap)
        _p_row(model.problem, y, p)
        model.stats.update({"clients": n, "sites": m, "pairs": len(ii)})
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          service_radius: float, p_facilities: int, facility_capacity_col: str,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "capacitated-mclp", *, single_source: bool = True) -> CapacitatedMCLP:
        """Build from point layers; a k-d tree finds the pairs in reach."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        w = _geo_column(gdf_demand, weights_cols, "weights_cols")
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, w, radius, p_facilities, cap, pre, name=name, single_source=single_source)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def _set_assignment(self, mask: np.ndarray) -> None:
        ii, jj = self._pairs
        frac = np.clip(_var_values(self._x), 0.0, 1.0)
        frac[~mask[jj]] = 0.0
        self._frac = frac
        self.allocation = sp.csr_array((frac, (ii, jj)), shape=(self._n, self._m))
        self.allocation.eliminate_zeros()
        assign = np.full(self._n, -1, dtype=np.int64)
        pos = frac > 1e-9
        # the site serving the largest share of each client
        order = np.lexsort((-frac[pos], ii[pos]))
        ci, cj = ii[pos][order], jj[pos][order]
        first = np.ones(len(ci), dtype=bool)
        first[1:] = ci[1:] != ci[:-1]
        assign[ci[first]] = cj[first]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.weights[self._pairs[0]] @ self._frac)

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.allocation.tocoo()
        return a.row, a.col


# =========================================================================== maximize attendance


class MaxAttendance(LocateModel):
    r"""Maximise attendance with distance decay (Holmes, Williams & Brown 1972; ArcGIS "maximize attendance").

    Demand goes to its nearest open facility and attends in the share
    :math:`a(d)` given by :func:`decay_weights` (linear :math:`1 - d/d_{\max}`,
    power :math:`\min(1, d^{-\beta})` or exponential :math:`e^{-\beta d}`,
    and 0 beyond the cutoff :math:`d_{\max}`):

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_i \sum_{j \in N_i} w_i a(d_{ij}) X_{ij} \\
       \textbf{Subject to} & \sum_{j \in N_i} X_{ij} \le 1 & \forall i \\
                           & X_{ij} \le Y_j & \forall i, j \in N_i \\
                           & \sum_j Y_j = p,\quad Y_j \in \{0, 1\},\ X_{ij} \ge 0
       \end{array}

    Because :math:`a` decreases with distance, an optimal :math:`X` picks the
    nearest open site, so the value is exactly
    :math:`\sum_i w_i a(\min_{j\ \text{open}} d_{ij})`. :math:`N_i` holds the
    sites within the cutoff with :math:`a > 0`; cost grows with these pairs.
    ``objective`` = attending demand.
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, p_facilities: int, cutoff: float | None = None,
                         decay: Decay = "linear", beta: float = 1.0, predefined_facilities_arr=None,
                         name: str = "max-attendance") -> MaxAttendance:
        """Build from a clients × sites cost matrix (dense, or sparse pairs in reach).

        Parameters
        ----------
        cost_matrix
            Distances or travel times.
        weights
            Demand per client.
        p_facilities
            Exact number of open sites.
        cutoff
            Largest impedance at which demand attends (required for linear decay).
        decay, beta
            Decay form and parameter (see :func:`decay_weights`).
        predefined_facilities_arr
            Sites that must be open.
        name
            Problem name.
        """
        decay, beta, cut = _check_decay(decay, beta, cutoff)
        ii, jj, dd, (n, m) = _pairs_in_reach(cost_matrix, cut)
        a = decay_weights(dd, decay, beta, cut)
        pos = a > 0
        ii, jj, dd, a = ii[pos], jj[pos], dd[pos], a[pos]
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model._n, model._m, model._predefined = n, m, pre
        model.weights, model.decay, model.beta, model.cutoff = w, decay, beta, cut
        y = _site_vars(model, m, pre)
        x = np.array([_var(model.problem, f"x_{i}_{j}", 0, 1) for i, j in zip(ii, jj)], dtype=object)
        model._pairs, model._x, model._dist, model._share = (ii, jj), x, dd, a
        model.problem.setObjective(_affine(x, w[ii] * a))
        if len(x):
            _allocation_rows(model.problem, y, x, ii, jj, n, pulp.LpConstraintLE)
        _p_row(model.problem, y, p)
        model.stats.update({"clients": n, "sites": m, "pairs": len(ii)})
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          p_facilities: int, cutoff: float | None = None, decay: Decay = "linear", beta: float = 1.0,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "max-attendance") -> MaxAttendance:
        """Build from point layers (a k-d tree finds the pairs within a finite cutoff)."""
        _, _, cut = _check_decay(decay, beta, cutoff)
        if math.isfinite(cut):
            cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, cut)
        else:
            cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        w = _geo_column(gdf_demand, weights_cols, "weights_cols")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, w, p_facilities, cutoff, decay, beta, pre, name=name)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def _set_assignment(self, mask: np.ndarray) -> None:
        ii, jj = self._pairs
        ok = mask[jj]
        # nearest open site in reach (largest share; ties to the lower index)
        order = np.lexsort((jj[ok], -self._share[ok], ii[ok]))
        ci, cj, ca = ii[ok][order], jj[ok][order], self._share[ok][order]
        first = np.ones(len(ci), dtype=bool)
        first[1:] = ci[1:] != ci[:-1]
        assign = np.full(self._n, -1, dtype=np.int64)
        assign[ci[first]] = cj[first]
        self.attending_share = np.zeros(self._n)
        self.attending_share[ci[first]] = ca[first]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.weights @ self.attending_share)


# =========================================================================== market share (Huff)


def _huff_utilities(cost_matrix: Any, attractiveness: np.ndarray, decay: str, beta: float, cutoff: float):
    """Sparse (client, site, utility) with utility = A_j · a(d_ij) for pairs in reach with a > 0."""
    ii, jj, dd, (n, m) = _pairs_in_reach(cost_matrix, cutoff)
    a = decay_weights(dd, decay, beta, cutoff) * attractiveness[jj]
    pos = a > 0
    return ii[pos], jj[pos], a[pos], (n, m)


class MarketShare(LocateModel):
    r"""Maximise Huff market share against competitors (Huff 1964; ArcGIS "maximize market share").

    A client :math:`i` with demand :math:`w_i` patronises facility :math:`j`
    with probability proportional to its utility
    :math:`u_{ij} = A_j\, a(d_{ij})` (attractiveness times the decay of
    :func:`decay_weights`; 0 beyond the cutoff), among the open candidate
    sites and the competitors :math:`C_i = \sum_{k \in K} A_k a(d_{ik})`:

    .. math::

       \textbf{Maximize}\quad \sum_i w_i \frac{U_i}{U_i + C_i},\qquad
       U_i = \sum_j u_{ij} Y_j,\qquad \sum_j Y_j = p,\ Y_j \in \{0, 1\}.

    (A client with :math:`C_i = 0` is captured wholly as soon as one open
    site reaches it.) The objective is concave in :math:`U_i`, so it is solved
    exactly by outer approximation (Duran & Grossmann 1986; as for maximum
    capture, Ljubić & Moreno 2018): :math:`\max \sum_i w_i t_i` with tangent
    cuts :math:`t_i \le s_i(\bar U) + s_i'(\bar U)(U_i - \bar U)` of
    :math:`s_i(U) = U/(U + C_i)`, starting from :math:`\bar U = 0` and the
    client's largest reachable :math:`U`; each MIP optimum is an upper bound,
    its plan's true value a lower bound; cuts at the plan's :math:`U_i` are
    added until they meet (finitely many plans, each cut exact at its plan).
    ``objective`` = captured demand; ``market_share`` = its share of all demand
    (ArcGIS's measure, in %); ``stats["iterations"]`` counts the MIPs.
    Predefined sites are the chain's own existing facilities and count in p.
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, p_facilities: int, competitor_cost_matrix=None,
                         attractiveness=None, competitor_attractiveness=None, decay: Decay = "power",
                         beta: float = 1.0, cutoff: float | None = None, predefined_facilities_arr=None,
                         name: str = "market-share") -> MarketShare:
        """Build from a clients × candidate-sites cost matrix and a clients × competitors one.

        Parameters
        ----------
        cost_matrix
            Distances from clients to candidate sites (dense, or sparse pairs in reach).
        weights
            Demand per client.
        p_facilities
            Exact number of own open sites (predefined ones included).
        competitor_cost_matrix
            Distances from clients to competitor facilities (``None``: no competitors).
        attractiveness, competitor_attractiveness
            Attractiveness per candidate site / competitor (default 1).
        decay, beta, cutoff
            Distance decay of the utility (see :func:`decay_weights`; default power, β = 1).
        predefined_facilities_arr
            Own sites that must be open.
        name
            Problem name.
        """
        decay, beta, cut = _check_decay(decay, beta, cutoff)
        m = (cost_matrix.shape[1] if sp.issparse(cost_matrix) else np.asarray(cost_matrix).shape[1])
        att = np.ones(m) if attractiveness is None else _vector(attractiveness, m, "attractiveness")
        ii, jj, u, (n, m) = _huff_utilities(cost_matrix, att, decay, beta, cut)
        w = _vector(weights, n, "weights")
        comp = np.zeros(n)
        if competitor_cost_matrix is not None:
            q = (competitor_cost_matrix.shape[1] if sp.issparse(competitor_cost_matrix)
                 else np.asarray(competitor_cost_matrix).shape[1])
            catt = np.ones(q) if competitor_attractiveness is None else _vector(
                competitor_attractiveness, q, "competitor_attractiveness")
            ci, _, cu, (cn, _) = _huff_utilities(competitor_cost_matrix, catt, decay, beta, cut)
            if cn != n:
                raise InputError(f"competitor_cost_matrix has {cn} clients, cost_matrix {n}",
                                 field="competitor_cost_matrix")
            comp = np.bincount(ci, weights=cu, minlength=n)
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model._n, model._m, model._predefined = n, m, pre
        model.weights, model.competitor_utility, model.p_facilities = w, comp, p
        model.decay, model.beta, model.cutoff = decay, beta, cut
        model._u = sp.csr_array((u, (ii, jj)), shape=(n, m))
        model._build()
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          p_facilities: int, gdf_competitor=None, competitor_col: str | None = None,
                          attractiveness_col: str | None = None, competitor_attractiveness_col: str | None = None,
                          decay: Decay = "power", beta: float = 1.0, cutoff: float | None = None,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "market-share") -> MarketShare:
        """Build from point layers of demand, candidate sites and (optionally) competitors."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        comp = None
        if gdf_competitor is not None:
            comp = _geo_cost(gdf_demand, gdf_competitor, demand_col, competitor_col or "geometry", distance_metric)
        model = cls.from_cost_matrix(
            cost, _geo_column(gdf_demand, weights_cols, "weights_cols"), p_facilities, comp,
            _geo_column(gdf_fac, attractiveness_col, "attractiveness_col"),
            None if gdf_competitor is None else _geo_column(gdf_competitor, competitor_attractiveness_col,
                                                            "competitor_attractiveness_col"),
            decay, beta, cutoff, _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col"),
            name=name)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    # -- the concave share and its tangent cuts
    def _share(self, big_u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        c = self.competitor_utility[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(c > 0, big_u / (big_u + c), (big_u > 0).astype(float))
        return np.nan_to_num(s)

    def _build(self) -> None:
        n, m, u = self._n, self._m, self._u
        self.problem = pulp.LpProblem(self.name, pulp.LpMaximize)
        y = _site_vars(self, m, self._predefined)
        reach = np.flatnonzero((np.diff(u.indptr) > 0) & (self.weights > 0))
        t = np.array([_var(self.problem, f"t_{i}", 0, 1) for i in reach], dtype=object)
        self._y, self._t, self._reach, self._cuts = y, t, reach, 0
        self.problem.setObjective(_affine(t, self.weights[reach]))
        _p_row(self.problem, y, self.p_facilities)
        c = self.competitor_utility[reach]
        sub = u[reach]
        # Clients without competitors: captured iff a reaching site is open.
        free = np.flatnonzero(c == 0)
        if len(free):
            pattern = sp.csr_array(sub[free])
            pattern.data[:] = 1.0
            self._add_cuts(free, pattern, np.zeros(len(free)))
        comp = np.flatnonzero(c > 0)
        if len(comp):
            top = np.array([np.sort(sub[[r]].data)[-self.p_facilities:].sum() for r in comp])
            for ubar in (np.zeros(len(comp)), top):
                self._tangent(comp, ubar)

    def _tangent(self, local: np.ndarray, ubar: np.ndarray) -> None:
        """Cuts t_i - s'(Ū) U_i <= s(Ū) - s'(Ū) Ū for the reach-local clients ``local``."""
        rows = self._reach[local]
        c = self.competitor_utility[rows]
        s = ubar / (ubar + c)
        slope = c / (ubar + c) ** 2
        coef = sp.csr_array(self._u[rows].multiply(slope[:, None]))
        self._add_cuts(local, coef, s - slope * ubar)

    def _add_cuts(self, local: np.ndarray, coef: sp.csr_array, rhs: np.ndarray) -> None:
        """Rows ``t_i - coef_i · y <= rhs_i``."""
        m, k = self._m, len(local)
        coo = sp.coo_array(coef)
        rows = np.concatenate([np.arange(k), coo.row])
        cols = np.concatenate([m + local, coo.col])
        vals = np.concatenate([np.ones(k), -coo.data])
        a = sp.csr_array((vals, (rows, cols)), shape=(k, m + len(self._t)))
        a.sum_duplicates()
        a.sort_indices()
        names = [f"cut{self._cuts}_{i}" for i in range(k)]
        self._cuts += 1
        _add_rows(self.problem, np.concatenate([self._y, self._t]), a, pulp.LpConstraintLE, rhs, names)

    def captured(self, mask: np.ndarray) -> float:
        """Demand captured by the open own sites ``mask`` (bool per site), by the Huff rule."""
        big_u = self._u @ mask.astype(float)
        return float(self.weights @ self._share(big_u, np.arange(self._n)))

    def solve(self, solver: SolverArg = "highs", *, time_limit: float | None = None, mip_gap: float | None = None,
              threads: int | None = None, msg: bool = False, results: bool = True,
              tolerance: float = 1e-7, max_iterations: int = 500) -> MarketShare:
        """Solve by outer approximation until upper and lower bound meet within ``tolerance`` (relative)."""
        best_mask, best_val, upper = None, -math.inf, math.inf
        iterations = 0
        report = None
        while iterations < max_iterations:
            iterations += 1
            report = _solve_once(self.problem, solver, time_limit, mip_gap, threads, msg)
            if not report.has_solution:
                break
            mask = self._open_mask()
            val = self.captured(mask)
            if val > best_val:
                best_mask, best_val = mask, val
            if report.status != "optimal":
                upper = report.bound if report.bound is not None else math.inf
                break
            upper = min(upper, float(report.bound if report.bound is not None else report.objective))
            if upper - best_val <= tolerance * max(1.0, abs(best_val)):
                break
            big_u = (self._u @ mask.astype(float))[self._reach]
            tv = _var_values(self._t)
            viol = np.flatnonzero(tv > self._share(big_u, self._reach) + 1e-9)
            viol = viol[self.competitor_utility[self._reach[viol]] > 0]
            if not len(viol):  # pragma: no cover - an optimal MIP above the plan's value violates a cut
                break
            self._tangent(viol, big_u[viol])
        self.report, self.stats["iterations"] = report, iterations
        if best_mask is None:
            self.status, self.objective = (report.status if report else "no_solution"), None
            return self
        for j, v in self._site_vars.items():
            v.varValue = 1.0 if best_mask[j] else 0.0
        self._collect()
        self.objective = best_val
        self.bound = upper if math.isfinite(upper) else None
        self.gap = relative_gap(self.objective, self.bound)
        self.status = "optimal" if self.gap is not None and self.gap <= max(tolerance, 1e-9) else "feasible"
        if results:
            self._fac2cli()
        return self

    def _set_assignment(self, mask: np.ndarray) -> None:
        # each client's most likely own facility (largest utility among open sites)
        u = sp.csr_array(self._u.multiply(mask[None, :].astype(float)))
        u.eliminate_zeros()
        self._open_u = u
        assign = np.full(self._n, -1, dtype=np.int64)
        has = np.diff(u.indptr) > 0
        if has.any():
            assign[has] = np.asarray(u.argmax(axis=1)).ravel()[has]
        self.assignment = assign
        big_u = u.sum(axis=1)
        self.capture_probability = self._share(np.asarray(big_u).ravel(), np.arange(self._n))

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        oc = self._open_u.tocoo()
        return oc.row, oc.col

    @property
    def market_share(self) -> float | None:
        """Captured demand as a percentage of all demand (ArcGIS's market share)."""
        total = float(self.weights.sum())
        return None if self.objective is None or total == 0 else 100.0 * self.objective / total


class TargetMarketShare(MarketShare):
    r"""Fewest own facilities that reach a target Huff market share (ArcGIS "target market share").

    .. math::

       \textbf{Minimize}\ \sum_j Y_j \quad\text{s.t.}\quad
       \sum_i w_i \frac{U_i}{U_i + C_i} \ge \tau \sum_i w_i

    with :math:`U_i`, :math:`C_i` as in :class:`MarketShare`. The best share
    with :math:`p` facilities never falls as :math:`p` grows (more open sites
    only raise every :math:`U_i`), so a binary search over :math:`p`, each
    step an exact :class:`MarketShare` solve, finds the smallest :math:`p`;
    the plan returned is the one with the largest share at that :math:`p`
    (ArcGIS's tie-break). ``objective`` = the number of facilities;
    ``market_share`` = the share reached.
    """

    sense = pulp.LpMinimize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, target_market_share: float, competitor_cost_matrix=None,
                         attractiveness=None, competitor_attractiveness=None, decay: Decay = "power",
                         beta: float = 1.0, cutoff: float | None = None, predefined_facilities_arr=None,
                         name: str = "target-market-share") -> TargetMarketShare:
        """As :meth:`MarketShare.from_cost_matrix`, with the target share in percent instead of ``p``."""
        try:
            tau = float(target_market_share)
        except (TypeError, ValueError):
            raise InputError(f"target_market_share must be a percentage, got {target_market_share!r}",
                             field="target_market_share") from None
        if not 0 < tau <= 100:
            raise InputError(f"target_market_share must be in (0, 100], got {target_market_share!r}",
                             field="target_market_share")
        m = (cost_matrix.shape[1] if sp.issparse(cost_matrix) else np.asarray(cost_matrix).shape[1])
        pre = _predefined_mask(predefined_facilities_arr, m)
        model = super().from_cost_matrix(cost_matrix, weights, max(1, int(pre.sum())), competitor_cost_matrix,
                                         attractiveness, competitor_attractiveness, decay, beta, cutoff, pre,
                                         name=name)
        model.target_market_share = tau
        return model

    def solve(self, solver: SolverArg = "highs", *, time_limit: float | None = None, mip_gap: float | None = None,
              threads: int | None = None, msg: bool = False, results: bool = True,
              tolerance: float = 1e-7, max_iterations: int = 500) -> TargetMarketShare:
        """Binary search over p with exact market-share solves; raises InfeasibleError when all sites fall short."""
        target = self.target_market_share / 100.0 * float(self.weights.sum())
        all_open = self.captured(np.ones(self._m, dtype=bool))
        if all_open < target - tolerance * max(1.0, target):
            raise InfeasibleError(f"even all {self._m} sites capture only {100 * all_open / self.weights.sum():.4g}% "
                                  f"of demand, below the target {self.target_market_share:g}%",
                                  field="target_market_share")
        lo, hi = max(1, int(self._predefined.sum())), self._m
        found: dict[int, tuple] = {}
        iterations = 0
        while lo < hi:
            mid = (lo + hi) // 2
            self.p_facilities = mid
            self._build()
            MarketShare.solve(self, solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, msg=msg,
                              results=False, tolerance=tolerance, max_iterations=max_iterations)
            iterations += self.stats["iterations"]
            if self.status != "optimal":
                break
            if self.objective >= target - tolerance * max(1.0, target):
                hi = mid
                found[mid] = (self.selected_site_indices.copy(), self.objective)
            else:
                lo = mid + 1
        if self.status not in (None, "optimal") and lo < hi:
            return self  # honest: the search could not be completed
        if lo in found:
            sel, val = found[lo]
        else:
            self.p_facilities = lo
            self._build()
            MarketShare.solve(self, solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, msg=msg,
                              results=False, tolerance=tolerance, max_iterations=max_iterations)
            iterations += self.stats["iterations"]
            if self.status != "optimal":
                return self
            sel, val = self.selected_site_indices.copy(), self.objective
        mask = np.zeros(self._m, dtype=bool)
        mask[sel] = True
        for j, v in self._site_vars.items():
            v.varValue = 1.0 if mask[j] else 0.0
        self.p_facilities = lo
        self._collect()
        self.captured_demand = val
        self.objective, self.bound, self.gap, self.status = float(lo), float(lo), 0.0, "optimal"
        self.stats["iterations"] = iterations
        if results:
            self._fac2cli()
        return self

    @property
    def market_share(self) -> float | None:
        """Captured demand of the plan as a percentage of all demand."""
        total = float(self.weights.sum())
        val = getattr(self, "captured_demand", None)
        return None if val is None or total == 0 else 100.0 * val / total
