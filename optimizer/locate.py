"""Classic facility-location models, solved exactly with sparse, strong formulations.

The five models speak spopt 0.7's vocabulary — ``from_cost_matrix`` /
``from_geodataframe`` with the same argument names, ``fac2cli`` and
``cli2fac`` after solving, and the same objective definitions — so a result
here compares one to one with spopt's:

:class:`LSCP`     location set covering: fewest facilities that cover every
                  demand point within ``service_radius``.
:class:`MCLP`     maximal covering: most demand weight covered with exactly
                  ``p_facilities`` facilities — or, beyond spopt, within a
                  ``budget`` over site costs.
:class:`PMedian`  p-median: exactly ``p_facilities`` facilities minimising the
                  weighted sum of distances from each client to its nearest one.
:class:`PCenter`  p-center: exactly ``p_facilities`` facilities minimising the
                  largest client-to-nearest-facility distance.
:class:`CFLP`     capacitated fixed-charge facility location (multi-source),
                  with an uncapacitated (UFLP) mode.

Every model accepts required ("predefined") sites, builds its
:class:`pulp.LpProblem` at construction — ``model.problem`` is there before
:meth:`solve`, so a user can add constraints — and solves it with HiGHS or CBC,
reporting honestly what was proven (``status``, ``gap``, ``bound``, ``report``).

What makes them fast
--------------------
* **Coverage models** never touch demand × site pairs out of range: coverage
  is a sparse matrix (from a dense cost matrix in bulk, a scipy sparse matrix,
  or a k-d tree for geodata). Demand points covered by a required site are
  constants; demand points with identical covering sets are merged (weights
  summed); sites covering a subset of another site's set at no lower cost are
  dropped where that provably keeps an optimum (see :class:`MCLP` and
  :class:`LSCP` for exactly when).
* **MCLP with p facilities** also gets a strong incumbent (LP rounding and
  dives, vectorised interchange, iterated local search) and exact site fixing
  by LP reduced costs and probing with certified Lagrangian bounds, so HiGHS
  usually receives a model with few or no undecided sites (see :class:`MCLP`).
* **p-median** uses the radius formulation of García, Labbé & Marín (2011),
  in Elloumi's (2010) incremental form: per client, one continuous variable
  per distinct distance level and one row per level holding the sites at that
  level, so nonzeros stay O(clients × sites) instead of O(clients × sites²),
  with the LP bound of the classic assignment model. Before building, a
  greedy + interchange heuristic gives an incumbent, a Lagrangian relaxation a
  lower bound, and Lagrangian reduction tests then remove sites and distance
  levels that no plan at least as good as the incumbent can use; when the
  bound is still far from the incumbent, each surviving site is probed
  (Lagrangian bound re-optimised with the site forced open). The incumbent is
  not given to HiGHS as a MIP start: HiGHS 1.16 mishandles starts on presolved
  models (see :meth:`LocateModel.solve`).
* **p-center** uses sorted distance levels (Elloumi, Labbé & Pochet 2004)
  restricted to radii between a lower bound and a heuristic's value, keeping
  only the level rows that are not implied by the next level.
* **CFLP** uses the strong linking ``x_ij <= y_j`` (tightened to
  ``x_ij <= min(1, s_j / d_i) y_j``) plus the aggregate capacity cut.

All models are built in bulk from numpy arrays, and HiGHS receives them as one
CSC matrix (``Highs.passModel``) rather than row by row; the solution is
written back onto the PuLP variables.

Reductions assume the model as built. If you add your own constraints to
``model.problem``, build it with ``reduce=False`` — :meth:`solve` refuses to
solve a reduced model whose constraints or objective were changed, because an
optimum of the changed model might need a site or distance level that was
removed. Any change counts (rows added or removed, coefficients, right-hand
sides or variable bounds edited in place, the objective replaced or extended;
:meth:`LocateModel.changed` tells), detected by a fingerprint of the problem
taken when it was built. A changed model is solved as it is and read as
solved: ``objective`` is ``pulp.value(problem.objective)``, the open sites and
CFLP's shares are the solver's, and the post-processing that assumes the built
formulation (the MCLP incumbent kept after a time limit, CFLP's re-solved
shares, objective values recomputed from the open sites) is skipped
(``report.extra['post_processing']`` says so).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Sequence
from itertools import chain
from typing import Any, Literal

import numpy as np
import pulp
import scipy.sparse as sp

from .errors import InfeasibleError, InputError, ModelTooLargeError, SolverError
from .solvers import (
    SolveReport,
    SolverOptions,
    highs_outcome,
    new_highs,
    relative_gap,
    run_highs_interruptibly,
    solve_problem,
    solver_versions_cached,
)

__all__ = ["CFLP", "LSCP", "MCLP", "LocateModel", "PCenter", "PMedian"]

SolverArg = Literal["highs", "cbc"] | SolverOptions | str

# Guard on the work of the site-dominance test (sum over demand groups of the
# squared number of covering sites = the flops of the sparse product B^T B).
_DOMINANCE_WORK_LIMIT = 30_000_000
# Guard on model size: beyond this many nonzeros PuLP alone would need many GiB.
_MAX_NONZEROS = 60_000_000


# =========================================================================== validation


def _dense_costs(cost_matrix: Any, what: str = "cost_matrix", *, allow_inf: bool = False) -> np.ndarray:
    if sp.issparse(cost_matrix):
        raise InputError(
            f"{what} must be a dense (clients × sites) array for this model",
            field=what,
            hint="call .toarray() on the sparse matrix; only the coverage models (LSCP, MCLP) take sparse input",
        )
    try:
        arr = np.asarray(cost_matrix, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a numeric (clients × sites) array", field=what,
                         hint="pass a 2-D array of numbers: one row per client, one column per site") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{what} must be a non-empty 2-D array (clients × sites), got shape {arr.shape}", field=what,
                         hint="pass a 2-D array of numbers: one row per client, one column per site")
    if np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise InputError(f"{what} has NaN at client {i}, site {j}", field=what,
                         hint="fill in every cost (np.inf marks a pair that is out of reach, where the model allows it)")
    if not allow_inf and np.isinf(arr).any():
        i, j = np.argwhere(np.isinf(arr))[0]
        raise InputError(f"{what} has an infinite cost at client {i}, site {j}", field=what,
                         hint="every client must be reachable from every site in this model")
    if (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise InputError(f"{what} has a negative value {arr[i, j]:g} at client {i}, site {j}", field=what,
                         hint="costs and distances must be 0 or more; check how the matrix was computed")
    return arr


def _vector(values: Any, n: int, what: str, *, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric", field=what,
                         hint="pass one number per client or site, e.g. a list or a 1-D array") from None
    if arr.shape != (n,):
        raise InputError(f"{what} has {arr.size} values, expected {n}", field=what,
                         hint="give one value per client (a row of the cost matrix) or per site (a column), as the argument says")
    if not np.isfinite(arr).all():
        k = int(np.argmax(~np.isfinite(arr)))
        raise InputError(f"{what}[{k}] is not finite", field=what, hint="replace inf or NaN with a finite number")
    if (arr < 0).any() or (positive and (arr <= 0).any()):
        k = int(np.argmax(arr <= 0 if positive else arr < 0))
        raise InputError(f"{what}[{k}] = {arr[k]:g} must be {'positive' if positive else 'non-negative'}", field=what,
                         hint="give values of 0 or more (weights and demands) or more than 0 where the argument needs it")
    return arr


def _predefined_mask(predefined: Any, m: int) -> np.ndarray:
    """spopt's convention: an array as long as the sites is a 0/1 mask, a shorter one holds indices."""
    if predefined is None:
        return np.zeros(m, dtype=bool)
    arr = np.asarray(predefined)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError("predefined_facilities_arr must be 1-D", field="predefined_facilities_arr",
                         hint="pass a 0/1 mask as long as the sites, or a shorter array of site indices")
    if arr.size == m:
        if not np.isin(arr, (0, 1, True, False)).all():
            raise InputError("predefined_facilities_arr as long as the sites must be a 0/1 mask",
                             field="predefined_facilities_arr",
                             hint="use 0/1 (or False/True) for every site, or pass a shorter array of site indices")
        return arr.astype(bool)
    if arr.size > m:
        raise InputError(f"predefined_facilities_arr has {arr.size} entries but there are only {m} sites",
                         field="predefined_facilities_arr",
                         hint="pass a 0/1 mask as long as the sites, or a shorter array of site indices")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= m):
        raise InputError(f"predefined_facilities_arr shorter than the sites must hold site indices in 0..{m - 1}",
                         field="predefined_facilities_arr",
                         hint="site indices are column numbers of the cost matrix, counted from 0")
    mask = np.zeros(m, dtype=bool)
    mask[arr.astype(np.int64)] = True
    return mask


def _check_p(p: Any, m: int, n_pre: int, what: str = "p_facilities") -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) and not (isinstance(p, float) and p.is_integer()):
        raise InputError(f"{what} must be an integer, got {p!r}", field=what,
                         hint="give a whole number of facilities to open, e.g. p_facilities=5")
    p = int(p)
    if not 1 <= p <= m:
        raise InputError(f"{what} must be in 1..{m} (the number of candidate sites), got {p}", field=what,
                         hint="open at least one facility and at most one per candidate site")
    if p < n_pre:
        raise InputError(f"{what} = {p} is fewer than the {n_pre} predefined (required) sites", field=what,
                         hint="raise p_facilities, or predefine fewer sites")
    return p


def _check_radius(radius: Any) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise InputError(f"service_radius must be a number, got {radius!r}", field="service_radius",
                         hint="give the service radius in the units of the cost matrix, e.g. service_radius=5000") from None
    if not math.isfinite(r) or r < 0:
        raise InputError(f"service_radius must be finite and non-negative, got {radius!r}", field="service_radius",
                         hint="give the service radius in the units of the cost matrix, 0 or more, e.g. service_radius=5000")
    return r


def _coverage_csr(cost_matrix: Any, radius: float) -> sp.csr_array:
    """Boolean-pattern CSR (clients × sites) of the pairs with cost <= radius.

    A dense matrix is thresholded in bulk. A scipy sparse matrix is read as
    "stored entries are the pairs in reach, valued by their distance" (what
    :func:`optimizer.distance.coverage_matrix` returns): explicit zeros are
    pairs at distance 0, missing entries are out of reach.
    """
    if sp.issparse(cost_matrix):
        mat = sp.csr_array(cost_matrix)
        mat.sum_duplicates()
        if mat.ndim != 2 or 0 in mat.shape:
            raise InputError(f"cost_matrix must be a non-empty 2-D matrix, got shape {mat.shape}", field="cost_matrix",
                             hint="pass a clients × sites matrix with at least one row and one column")
        if np.isnan(mat.data).any():
            raise InputError("cost_matrix has NaN entries", field="cost_matrix",
                             hint="replace NaN with the distance (in a sparse matrix, leave out pairs that are out of reach)")
        keep = mat.data <= radius
        rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))[keep]
        cols = mat.indices[keep]
        shape = mat.shape
    else:
        arr = np.asarray(cost_matrix, dtype=float)
        if arr.ndim != 2 or 0 in arr.shape:
            raise InputError(f"cost_matrix must be a non-empty 2-D array (clients × sites), got shape {arr.shape}",
                             field="cost_matrix",
                             hint="pass a clients × sites matrix with at least one row and one column")
        if np.isnan(arr).any():
            raise InputError("cost_matrix has NaN entries", field="cost_matrix",
                             hint="replace NaN with the distance (in a sparse matrix, leave out pairs that are out of reach)")
        rows, cols = np.nonzero(arr <= radius)
        shape = arr.shape
    data = np.ones(len(rows), dtype=np.int32)
    out = sp.csr_array((data, (rows.astype(np.int64), cols.astype(np.int64))), shape=shape)
    out.sum_duplicates()
    out.data[:] = 1
    out.sort_indices()
    return out


# =========================================================================== geodata


def _geo_xy(gdf_demand, gdf_fac, demand_col: str, facility_col: str):
    """Planar coordinates (metres) of both layers, after checking their CRS."""
    import geopandas as gpd

    from .distance import planar_xy, projected_crs

    for gdf, col, what in ((gdf_demand, demand_col, "gdf_demand"), (gdf_fac, facility_col, "gdf_fac")):
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise InputError(f"{what} must be a GeoDataFrame", field=what, hint="pass a geopandas.GeoDataFrame, e.g. gpd.read_file('sites.gpkg')")
        if col not in gdf.columns:
            raise InputError(f"{what} has no geometry column {col!r}", field=col, hint="name the layer's geometry column (default 'geometry')")
        if len(gdf) == 0:
            raise InputError(f"{what} is empty", field=what, hint="give at least one row")
    dem = gdf_demand.set_geometry(demand_col)
    fac = gdf_fac.set_geometry(facility_col)
    if (dem.crs is None) != (fac.crs is None) or (dem.crs is not None and not dem.crs.equals(fac.crs)):
        raise InputError(
            f"demand CRS ({dem.crs}) and facility CRS ({fac.crs}) differ",
            field="crs",
            hint="reproject one layer with .to_crs() so both use the same CRS",
        )
    if dem.crs is None:
        # Without a CRS the coordinates are taken as planar, as spopt does.
        def xy(g):
            geoms = g.geometry if (g.geometry.geom_type == "Point").all() else g.geometry.representative_point()
            return np.column_stack([geoms.x.to_numpy(), geoms.y.to_numpy()])

        return xy(dem), xy(fac)
    crs = projected_crs(dem)  # geographic data gets its UTM zone, projected data stays as it is
    return planar_xy(dem, crs), planar_xy(fac, crs)


def _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric: str) -> np.ndarray:
    from scipy.spatial.distance import cdist

    dxy, fxy = _geo_xy(gdf_demand, gdf_fac, demand_col, facility_col)
    try:
        return cdist(dxy, fxy, metric=distance_metric)
    except ValueError as exc:
        raise InputError(f"unknown distance_metric {distance_metric!r} ({exc})", field="distance_metric", hint="use a metric of scipy.spatial.distance.cdist, e.g. 'euclidean' or 'cityblock'") from None


def _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric: str, radius: float):
    """Coverage for geodata: a k-d tree for Euclidean distance, dense cdist otherwise."""
    if distance_metric == "euclidean":
        from .distance import coverage_matrix

        dxy, fxy = _geo_xy(gdf_demand, gdf_fac, demand_col, facility_col)
        return coverage_matrix(dxy, fxy, radius)
    return _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)


def _geo_column(gdf, col: str | None, what: str):
    if col is None:
        return None
    if col not in gdf.columns:
        raise InputError(f"column {col!r} not found", field=col, hint=f"{what} must name a column of the layer")
    return gdf[col].to_numpy()


# =========================================================================== HiGHS transfer


# PuLP's (status, solution status) for each outcome, as its own HiGHS interface would set them.
_PULP_STATUS = {
    "optimal": (pulp.LpStatusOptimal, pulp.LpSolutionOptimal),
    "feasible": (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible),
    "infeasible": (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible),
    "unbounded": (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded),
    "no_solution": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
    "error": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
}


def _solve_highs_bulk(problem: pulp.LpProblem, options: SolverOptions,
                      start: dict[str, float] | None = None) -> SolveReport:
    """Solve ``problem`` with HiGHS, passing the whole model as one CSC matrix.

    Same outcome as :func:`optimizer.solvers.solve_problem` with HiGHS — values
    set on the PuLP variables, ``problem.status`` assigned, an honest
    :class:`SolveReport` — but without PuLP's row-by-row ``addRow`` transfer,
    and with an optional MIP start (variable name -> value; unnamed variables
    start at 0; HiGHS ignores a start that is infeasible).
    """
    import highspy

    t0 = time.perf_counter()
    variables = problem.variables()
    ncol = len(variables)
    for k, v in enumerate(variables):
        v.index = k
    inf = highspy.kHighsInf
    lower = np.array([-inf if v.lowBound is None else v.lowBound for v in variables], dtype=float)
    upper = np.array([inf if v.upBound is None else v.upBound for v in variables], dtype=float)
    integer = np.array([v.cat == pulp.LpInteger for v in variables], dtype=bool)
    cost = np.zeros(ncol)
    objective = problem.objective
    constant = 0.0
    if objective is not None:
        constant = float(objective.constant)
        if len(objective):
            idx = np.fromiter((v.index for v in objective), dtype=np.int64, count=len(objective))
            cost[idx] = np.fromiter(objective.values(), dtype=float, count=len(objective))
    constraints = list(_constraint_dict(problem).values())
    lengths = np.fromiter((len(c.expr) for c in constraints), dtype=np.int64, count=len(constraints))
    nnz = int(lengths.sum())
    cols = np.fromiter((v.index for c in constraints for v in c.expr), dtype=np.int64, count=nnz)
    vals = np.fromiter((x for c in constraints for x in c.expr.values()), dtype=float, count=nnz)
    row_lower = np.array([-inf if c.getLb() is None else c.getLb() for c in constraints], dtype=float)
    row_upper = np.array([inf if c.getUb() is None else c.getUb() for c in constraints], dtype=float)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    csc = sp.csr_array((vals, cols, indptr), shape=(len(constraints), ncol)).tocsc()

    h = new_highs(options.msg)
    h.setOptionValue("output_flag", bool(options.msg))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.mip_gap == 0:
        h.setOptionValue("mip_abs_gap", 0.0)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = len(constraints)
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    # The objective constant is added back below (kept out of HiGHS' offset
    # so the bookkeeping stays in one place).
    lp.offset_ = 0.0
    lp.sense_ = highspy.ObjSense.kMaximize if problem.sense == pulp.LpMaximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32) if csc.nnz < 2**31 else csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    is_mip = bool(integer.any())
    if is_mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    h.passModel(lp)
    if start and is_mip:
        x0 = np.zeros(ncol)
        for k, v in enumerate(variables):
            x0[k] = start.get(v.name, 0.0)
        sol = highspy.HighsSolution()
        sol.col_value = x0.tolist()
        sol.value_valid = True
        h.setSolution(sol)
    run_highs_interruptibly(h)
    seconds = time.perf_counter() - t0
    problem.solverModel = h
    ms = highspy.HighsModelStatus
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if has_primal:
        values = h.getSolution().col_value
        for v, x in zip(variables, values):
            v.varValue = x
    obj_value = None
    if has_primal:
        obj_value = pulp.value(problem.objective) if objective is not None and len(objective) else constant
    # HiGHS 1.16 reports objective and dual bound in its presolved space when
    # a MIP start was given, i.e. without the constant its presolve moved out
    # of the objective (pmed14: 168 reported for a plan whose c·x is 242; the
    # search itself is consistent, only the reported numbers are shifted).
    # The plan's value is recomputed from the solution, and the bound is
    # shifted by the same amount.
    shift = 0.0
    if has_primal and math.isfinite(info.objective_function_value):
        cx = float(np.dot(cost, np.asarray(h.getSolution().col_value)))
        shift = cx - float(info.objective_function_value)
    bound = None
    if is_mip:
        if math.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound) + shift + constant
    elif model_status == ms.kOptimal:
        bound = obj_value
    status, bound, gap = highs_outcome(model_status, has_primal, obj_value, bound)
    problem.assignStatus(*_PULP_STATUS[status])
    return SolveReport(status, obj_value, bound, gap, seconds, "highs", solver_versions_cached("highs"),
                       h.modelStatusToString(model_status),
                       extra={"transfer": "bulk passModel", "nonzeros": nnz, "mip_start": bool(start),
                              "highs_objective_shift": shift})


# =========================================================================== shared model machinery


def _var(problem: pulp.LpProblem, name: str, low: float | None, up: float | None,
         cat: str = pulp.LpContinuous) -> pulp.LpVariable:
    """A variable; PuLP >= 3.3 wants them made by the problem (no deprecation warning per variable)."""
    make = getattr(problem, "add_variable", None)
    if make is not None:
        return make(name, low, up, cat)
    return pulp.LpVariable(name, low, up, cat)  # pragma: no cover - PuLP < 3.3


def _affine(variables: Sequence[pulp.LpVariable] | np.ndarray, coefs: Sequence[float] | np.ndarray,
            constant: float = 0.0) -> pulp.LpAffineExpression:
    """An expression from parallel sequences, built in one dict update (no per-term Python arithmetic)."""
    e = pulp.LpAffineExpression(zip(variables, np.asarray(coefs, dtype=float).tolist()))
    e.constant = float(constant)
    return e


def _add_rows(problem: pulp.LpProblem, var_arr: np.ndarray, csr: sp.csr_array, sense: int,
              rhs: np.ndarray, names: Sequence[str]) -> None:
    """Add one constraint per CSR row: ``row · var_arr  sense  rhs``, in bulk."""
    indptr, indices, data = csr.indptr, csr.indices, csr.data.astype(float)
    cons = _constraint_dict(problem)
    rhs = np.asarray(rhs, dtype=float)
    for r in range(csr.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        expr = pulp.LpAffineExpression(zip(var_arr[indices[a:b]], data[a:b].tolist()))
        con = pulp.LpConstraint(expr, sense, names[r], float(rhs[r]))
        cons[names[r]] = con
    # addConstraint would register each row's variables; PuLP's variables()
    # collects them from the constraints anyway, so skip the per-row work.


def _constraint_dict(problem: pulp.LpProblem) -> dict:
    """The problem's name -> constraint dict (PuLP 3.3 deprecates dict access through ``.constraints``)."""
    cons = getattr(problem, "_constraints", None)
    return cons if isinstance(cons, dict) else problem.constraints


def _problem_fingerprint(problem: pulp.LpProblem) -> bytes:
    """A digest of everything that defines ``problem``: rows, objective, sense, variable bounds and types.

    Identity-based for the row and variable objects (a row or variable replaced
    by an equal-looking one counts as a change) and value-based for names,
    senses, right-hand sides, coefficients and bounds, so edits in place are
    caught too. Objective terms with coefficient 0 and PuLP's ``__dummy``
    variable are left out: CBC's interface adds that to a constant objective
    and leaves it behind at coefficient 0, which changes nothing. Built from
    flat numpy arrays (C-level passes over the terms) and hashed with BLAKE2b —
    not Python's ``hash``, under which e.g. -1 and -2 collide.
    """
    cons = _constraint_dict(problem)
    exprs = [c.expr for c in cons.values()]
    obj = problem.objective
    obj_terms = [] if obj is None else [(v, a) for v, a in obj.items() if a != 0]
    # The variables of the rows and the objective (what problem.variables() collects, without its sort).
    variables = [v for v in dict.fromkeys(chain((v for v, _ in obj_terms), chain.from_iterable(exprs)))
                 if v.name != "__dummy"]

    def ids(items) -> bytes:
        return np.fromiter(map(id, items), dtype=np.uint64).tobytes()

    def floats(items) -> bytes:
        return np.fromiter(items, dtype=np.float64).tobytes()

    def bounds(values) -> bytes:  # None (no bound) is NaN here: no finite bound equals it
        return floats(math.nan if b is None else b for b in values)

    digest = hashlib.blake2b(digest_size=20)
    for part in (
        "\x00".join(cons.keys()).encode("utf-8", "surrogatepass"),
        ids(cons.values()), ids(exprs),
        np.fromiter((c.sense for c in cons.values()), dtype=np.int8).tobytes(),
        floats(c.constant for c in cons.values()),
        np.fromiter(map(len, exprs), dtype=np.int64).tobytes(),
        ids(chain.from_iterable(exprs)), floats(chain.from_iterable(e.values() for e in exprs)),
        b"no objective" if obj is None else floats([obj.constant]),
        ids(v for v, _ in obj_terms), floats(a for _, a in obj_terms),
        ids(variables), bounds(v.lowBound for v in variables), bounds(v.upBound for v in variables),
        "".join("I" if v.cat == pulp.LpInteger else "C" for v in variables).encode(),
        str(problem.sense).encode(),
    ):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.digest()


def _options(solver: SolverArg, time_limit, mip_gap, threads, msg) -> SolverOptions:
    if isinstance(solver, SolverOptions):
        if time_limit is None and mip_gap is None and threads is None and not msg:
            return solver
        return SolverOptions(
            name=solver.name,
            time_limit=solver.time_limit if time_limit is None else time_limit,
            mip_gap=solver.mip_gap if mip_gap is None else mip_gap,
            threads=solver.threads if threads is None else threads,
            msg=solver.msg or msg,
        )
    return SolverOptions(name=str(solver).lower(), time_limit=time_limit, mip_gap=0.0 if mip_gap is None else mip_gap,
                         threads=threads, msg=msg)


class LocateModel:
    """Shared behaviour of the location models; not used directly.

    Attributes (after :meth:`solve`)
    --------------------------------
    status : str
        ``optimal``, ``feasible`` (time limit; see ``gap``), ``infeasible``,
        ``unbounded``, ``no_solution`` or ``error`` — see
        :class:`optimizer.solvers.SolveReport`.
    objective, bound, gap : float or None
        Value of the plan found in the model's own objective (same definition
        as spopt's), best proven bound and relative gap.
    selected_sites : numpy.ndarray
        Site ids of the open facilities (the facility layer's index labels
        when built from a GeoDataFrame, positional indices otherwise).
    selected_site_indices : numpy.ndarray
        Positional indices of the open facilities.
    assignment : numpy.ndarray
        Per client, the positional index of its facility (nearest open one,
        a covering one, or the main supplier), ``-1`` when none.
    fac2cli, cli2fac : list of list of int
        spopt's facility → clients and client → facilities lists (positional).
    report : SolveReport
        Everything the solver proved.
    problem : pulp.LpProblem
        The model; built at construction.
    stats : dict
        What the formulation and its reductions did (sizes, bounds, times).
    """

    sense = pulp.LpMinimize

    def __init__(self, name: str, problem: pulp.LpProblem):
        self.name = name
        self.problem = problem
        self.status: str | None = None
        self.objective: float | None = None
        self.bound: float | None = None
        self.gap: float | None = None
        self.report: SolveReport | None = None
        self.selected_site_indices = np.empty(0, dtype=np.int64)
        self.selected_sites = np.empty(0)
        self.assignment = np.empty(0, dtype=np.int64)
        self.fac2cli: list[list[int]] = []
        self.cli2fac: list[list[int]] = []
        self.stats: dict[str, Any] = {}
        self.site_ids: np.ndarray | None = None
        self.client_ids: np.ndarray | None = None
        self._reduced = False
        self._fingerprint: bytes | None = None
        # Set by solve(): the problem was changed after it was built (by the user), so the
        # results come from the solver's plan as it is (see changed()).
        self._changed = False
        self._start: dict[str, float] | None = None

    # -- construction helpers
    def _seal(self, reduced: bool) -> None:
        """Remember the model as built, to detect any user edit before solving (see :meth:`changed`)."""
        self._reduced = reduced
        self._fingerprint = _problem_fingerprint(self.problem)

    def changed(self) -> bool:
        """Whether ``problem`` differs from the model as built (rows, objective, sense or variable bounds).

        Rows added or removed, a coefficient, right-hand side or bound changed in
        place, an objective replaced or extended: all count. A changed model is
        solved as it is, and its results are read from the solver's plan as it
        is (no post-processing that assumes the built formulation); a reduced
        one is refused.
        """
        return self._fingerprint is not None and _problem_fingerprint(self.problem) != self._fingerprint

    def _check_unmodified(self) -> bool:
        """Refuse a changed reduced model; return whether the model was changed (see :meth:`changed`)."""
        changed = self.changed()
        if changed and self._reduced:
            raise SolverError(
                f"{type(self).__name__} {self.name!r} was built with reductions that assume the model as built, "
                "but its constraints or objective were changed",
                field="reduce",
                hint=f"build it with {type(self).__name__}.from_cost_matrix(..., reduce=False) before adding "
                "constraints",
            )
        return changed

    def solve(self, solver: SolverArg = "highs", *, time_limit: float | None = None, mip_gap: float | None = None,
              threads: int | None = None, msg: bool = False, results: bool = True):
        """Solve the model and fill in the results.

        Parameters
        ----------
        solver
            ``"highs"`` (default), ``"cbc"``, or a
            :class:`~optimizer.solvers.SolverOptions`.
        time_limit
            Seconds of solver wall time.
        mip_gap
            Relative gap at which to stop (default 0: prove optimality).
        threads, msg
            Solver threads; echo the solver log.
        results
            Compute ``fac2cli`` / ``cli2fac`` (spopt's flag; cheap here).

        Returns
        -------
        self
        """
        options = _options(solver, time_limit, mip_gap, threads, msg)
        self._changed = self._check_unmodified()
        if options.name == "highs":
            # The heuristic plan is NOT passed as a MIP start: HiGHS 1.16
            # evaluates a start in its presolved space without presolve's
            # objective offset and then prunes against that wrong value —
            # on pmed20 it returned 1790 as "optimal" (true optimum 1789).
            # The start stays in ``self._start`` for when that is fixed.
            report = _solve_highs_bulk(self.problem, options, None)
        else:
            report = solve_problem(self.problem, options)
        if self._changed:
            # Every shortcut after the solve (incumbent kept, shares re-solved, values recomputed
            # from the open sites) assumes the model as built; a changed one is read as solved.
            report.extra["post_processing"] = "skipped: the problem was changed after it was built"
        else:
            self._improve_plan(report)
        self.report = report
        self.status = report.status
        self.bound = report.bound
        self.gap = report.gap
        if report.has_solution:
            self._collect()
            self.objective = float(pulp.value(self.problem.objective) or 0.0) if self._changed \
                else self._objective_value()
            if report.status == "feasible":
                # The plan's own value (recomputed from the open sites) may beat
                # the solver's view of it; the gap is measured from that plan.
                self.gap = relative_gap(self.objective, self.bound)
            if results:
                self._fac2cli()
        else:
            self.objective = None
        return self

    def _improve_plan(self, report: SolveReport) -> None:
        """Hook: replace a time-limited solver plan — or the lack of one — by a better known one (see :class:`MCLP`)."""

    # -- results
    def _open_mask(self) -> np.ndarray:
        mask = self._predefined.copy()
        for j, v in self._site_vars.items():
            if v.varValue is not None and v.varValue > 0.5:
                mask[j] = True
            elif self._changed:
                mask[j] = False  # a user may have released a predefined site: the solver's plan decides
        return mask

    def _collect(self) -> None:
        mask = self._open_mask()
        self.selected_site_indices = np.flatnonzero(mask)
        ids = self.site_ids if self.site_ids is not None else np.arange(self._m)
        self.selected_sites = np.asarray(ids)[self.selected_site_indices]
        self._set_assignment(mask)

    def _objective_value(self) -> float:
        return float(pulp.value(self.problem.objective))

    def _fac2cli(self) -> None:
        self.fac2cli = [[] for _ in range(self._m)]
        self.cli2fac = [[] for _ in range(self._n)]
        for i, j in zip(*self._served_pairs()):
            self.fac2cli[j].append(int(i))
            self.cli2fac[i].append(int(j))

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        ok = self.assignment >= 0
        return np.flatnonzero(ok), self.assignment[ok]

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r}: {self._n} clients, {self._m} sites, "
                f"status={self.status}, objective={self.objective}>")


# =========================================================================== coverage models


def _merge_rows(cov: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Group rows with identical column sets: (group id per row, first row of each group)."""
    import pandas as pd

    indptr, indices = cov.indptr, cov.indices.astype(np.int64)
    keys = [indices[indptr[r]:indptr[r + 1]].tobytes() for r in range(cov.shape[0])]
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    first = np.full(len(uniques), -1, dtype=np.int64)
    order = np.arange(len(codes))[::-1]
    first[codes[order]] = order  # the last assignment (smallest row) wins
    return codes.astype(np.int64), first


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


class _Coverage(LocateModel):
    """Sparse coverage preprocessing shared by LSCP and MCLP."""

    def _prepare(self, cov: sp.csr_array, weights: np.ndarray | None, predefined: np.ndarray,
                 cost: np.ndarray, reduce: bool, dominance_ok: bool, min_sites: int):
        n, m = cov.shape
        self._n, self._m = n, m
        self._cov = cov
        self._predefined = predefined
        w = np.ones(n) if weights is None else weights
        covered_by_pre = np.zeros(n, dtype=bool)
        if predefined.any():
            covered_by_pre = np.asarray(cov[:, np.flatnonzero(predefined)].sum(axis=1)).ravel() > 0
        stats = {"clients": n, "sites": m, "coverage_pairs": int(cov.nnz)}
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
        self._site_vars: dict[int, pulp.LpVariable] = {}
        var_arr = np.empty(self._m, dtype=object)
        for j in range(self._m):
            if dropped[j]:
                continue
            v = _var(self.problem, f"y_{j}", 1 if self._predefined[j] else 0, 1, pulp.LpBinary)
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

    def _served_pairs(self):
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
    anyone and never costs more).
    """

    sense = pulp.LpMinimize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, service_radius: float, predefined_facilities_arr=None,
                         name: str = "lscp", reduce: bool = True) -> LSCP:
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
        model = cls(name, pulp.LpProblem(name, pulp.LpMinimize))
        model.service_radius = radius
        _, _, _, group_cov, dropped, _ = model._prepare(cov, None, pre, np.ones(m), reduce, True, 0)
        model._site_variables(dropped)
        prob = model.problem
        prob.setObjective(_affine(list(model._site_vars.values()), np.ones(len(model._site_vars))))
        _add_rows(prob, model._var_arr, group_cov, pulp.LpConstraintGE, np.ones(group_cov.shape[0]),
                  [f"cover_{g}" for g in range(group_cov.shape[0])])
        model._seal(reduce)
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, service_radius: float,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "lscp", reduce: bool = True) -> LSCP:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, radius, pre, name=name, reduce=reduce)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model


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
       with sparse products per pass, :func:`_mclp_local_search`), then an
       iterated local search that closes 2–3 neighbouring sites and refills.
    2. *Threshold*: with integer weights a better plan covers at least
       ``incumbent + 1``; otherwise at least the incumbent's value.
    3. *Fixing*: a site outside the incumbent is fixed closed (inside it:
       fixed open) when a certified LP bound with the site forced the other
       way is below the threshold — first from the LP reduced costs (free),
       then by re-solving the LP with the site forced ("probing", warm dual
       simplex, two threads, in rounds while they pay off). Each bound is
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
    iterations and fixings; ``incumbent_sites`` holds the incumbent. The LP
    step is skipped above ``_MCLP_LP_MAX_PAIRS`` coverage pairs (only the
    local search runs then). If a time-limited solve ends with no plan or a
    worse one, the incumbent is reported (status ``feasible``, gap against
    the solver's bound, which is valid for the original model because every
    plan removed is no better than the incumbent).
    """

    sense = pulp.LpMaximize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, service_radius: float, p_facilities: int | None = None,
                         predefined_facilities_arr=None, name: str = "mclp", *, facility_costs=None,
                         budget: float | None = None, reduce: bool = True) -> MCLP:
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
        if p_facilities is None and budget is None:
            raise InputError("give p_facilities, a budget (with facility_costs), or both", field="p_facilities",
                             hint="e.g. p_facilities=5, or budget=1e8 with facility_costs=[...]")
        p = _check_p(p_facilities, m, int(pre.sum())) if p_facilities is not None else None
        costs = None
        if budget is not None or facility_costs is not None:
            if budget is None or facility_costs is None:
                raise InputError("a budget needs facility_costs and facility_costs need a budget", field="budget",
                                 hint="pass both budget= and facility_costs= (one cost per site), or neither")
            costs = _vector(facility_costs, m, "facility_costs")
            try:
                budget = float(budget)
            except (TypeError, ValueError):
                raise InputError(f"budget must be a number, got {budget!r}", field="budget",
                                 hint="give the budget as a finite number, 0 or more, e.g. budget=1e8") from None
            if not math.isfinite(budget) or budget < 0:
                raise InputError(f"budget must be finite and non-negative, got {budget}", field="budget",
                                 hint="give the budget as a finite number, 0 or more, e.g. budget=1e8")
            if costs[pre].sum() > budget + 1e-9 * max(1.0, budget):
                raise InfeasibleError(
                    f"the predefined sites alone cost {costs[pre].sum():g}, more than the budget {budget:g}",
                    field="budget", hint="raise the budget, or predefine fewer sites")
        if costs is None:
            dominance_ok, dom_cost = True, np.ones(m)
        elif p is None:
            dominance_ok, dom_cost = True, costs
        else:
            dominance_ok, dom_cost = bool(np.all(costs == costs[0])), costs
        model = cls(name, pulp.LpProblem(name, pulp.LpMaximize))
        model.service_radius, model.p_facilities, model.budget = radius, p, budget
        model.facility_costs, model.weights = costs, w
        _, _, gw, group_cov, dropped, covered_pre = model._prepare(
            cov, w, pre, dom_cost, reduce, dominance_ok, p or 0)
        constant = float(w[covered_pre].sum())
        # Incumbent (greedy; with reductions, improved and used to fix sites, see the class docstring).
        model._incumbent = None
        fixed_open = np.zeros(m, dtype=bool)
        if p is not None and costs is None:
            greedy = _mclp_greedy(group_cov, gw, p, pre, dropped)
            if greedy is not None:
                sites, value = greedy
                if reduce:
                    live = np.flatnonzero(np.diff(group_cov.indptr) > 0)
                    mask, value, fixed_closed, fixed_open = _mclp_reduce(
                        group_cov[live], gw[live], p, pre, dropped, sites, constant, model.stats)
                    sites = np.flatnonzero(mask)
                    dropped = dropped | fixed_closed
                    if fixed_closed.any():
                        group_cov = sp.csr_array(group_cov.multiply((~dropped)[None, :].astype(np.int32)))
                        group_cov.eliminate_zeros()
                model._incumbent = (np.sort(sites), value + constant)
                model.stats["heuristic_objective"] = value + constant
        model.incumbent_sites = None if model._incumbent is None else model._incumbent[0]
        model._site_variables(dropped)
        for j in np.flatnonzero(fixed_open):
            model._site_vars[j].lowBound = 1
        prob = model.problem
        # Groups no site reaches stay uncovered, groups a site fixed open covers are covered:
        # no variable needed for either.
        reach = np.diff(group_cov.indptr) > 0
        if fixed_open.any():
            by_fixed = np.asarray(group_cov[:, np.flatnonzero(fixed_open)].sum(axis=1)).ravel() > 0
            constant += float(gw[by_fixed].sum())
            reach &= ~by_fixed
        z_groups = np.flatnonzero(reach)
        z = np.array([_var(prob, f"z_{g}", 0, 1) for g in z_groups], dtype=object)
        prob.setObjective(_affine(z, gw[z_groups], constant))
        # Rows  z_g - sum_{j covers g} y_j <= 0, as one CSR over [y | z] columns.
        sub = group_cov[z_groups]
        ng = len(z_groups)
        a = sp.hstack([-sub.astype(float), sp.identity(ng, format="csr")], format="csr")
        a.sort_indices()
        _add_rows(prob, np.concatenate([model._var_arr, z]), a, pulp.LpConstraintLE, np.zeros(ng),
                  [f"cover_{g}" for g in z_groups])
        svars = list(model._site_vars.values())
        if p is not None:
            prob.addConstraint(pulp.LpConstraint(_affine(svars, np.ones(len(svars))), pulp.LpConstraintEQ,
                                                 "p_facilities", p))
        if costs is not None:
            idx = list(model._site_vars.keys())
            prob.addConstraint(pulp.LpConstraint(_affine(svars, costs[idx]), pulp.LpConstraintLE, "budget", budget))
        undecided = any(v.lowBound != v.upBound for v in svars)
        if reduce and model._incumbent is not None and undecided and ng and "lp_bound" in model.stats:
            # The incumbent is feasible here and an optimum is at least as good: demanding that much
            # cover is valid and lets HiGHS prune by it from the start (10-25 % faster on the
            # hard 2,000 x 500 instances). The slack keeps the incumbent inside HiGHS' tolerances.
            need = model._incumbent[1] - constant
            need -= 1e-6 * max(1.0, abs(need))
            prob.addConstraint(pulp.LpConstraint(_affine(z, gw[z_groups]), pulp.LpConstraintGE, "incumbent_cut",
                                                 need))
        model._z_groups, model._z, model._zcov = z_groups, z, sub
        model._seal(reduce)
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          service_radius: float, p_facilities: int | None = None,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "mclp", *, facility_cost_col: str | None = None, budget: float | None = None,
                          reduce: bool = True) -> MCLP:
        """Build from point layers (spopt's signature plus ``facility_cost_col`` / ``budget``)."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        weights = _geo_column(gdf_demand, weights_cols, "weights_cols")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        fcost = _geo_column(gdf_fac, facility_cost_col, "facility_cost_col")
        model = cls.from_cost_matrix(cost, weights, radius, p_facilities, pre, name=name, facility_costs=fcost,
                                     budget=budget, reduce=reduce)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

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
            report.bound = min(self.stats.get("lp_bound", math.inf), reach)
            report.extra["bound"] = "from the reductions' LP bound / the reachable weight (the solver had none)"
            if report.status == "feasible" and report.objective is not None:
                report.gap = relative_gap(report.objective, report.bound)
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
        for v, val in zip(self._z, zval):
            v.varValue = float(val)
        report.objective = value
        report.gap = relative_gap(value, report.bound)

    def _objective_value(self) -> float:
        # The covered weight of the open set, recomputed from the plan: equal to
        # the model's objective at an integral solution, and immune to LP noise.
        return float(self.weights[self.assignment >= 0].sum())


def _mclp_greedy(b: sp.csr_array, wg: np.ndarray, p: int, fixed: np.ndarray, dropped: np.ndarray):
    """Greedy MCLP plan on the reduced coverage: repeatedly open the site covering most new weight.

    Returns ``(site indices, covered weight of the model's groups)``; ``O(p · nnz)`` with sparse products.
    """
    bc = sp.csc_array(b)
    m = b.shape[1]
    chosen = list(np.flatnonzero(fixed))
    uncovered = np.ones(b.shape[0], dtype=bool)
    if chosen:
        uncovered &= np.asarray(bc[:, chosen].sum(axis=1)).ravel() == 0
    blocked = dropped.copy()
    blocked[chosen] = True
    while len(chosen) < p and not blocked.all():
        gain = bc.T @ (wg * uncovered)
        gain[blocked] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        blocked[j] = True
        col = bc.indices[bc.indptr[j]:bc.indptr[j + 1]]
        uncovered[col] = False
    if len(chosen) < p:
        return None
    return np.array(chosen[:m]), float(wg[~uncovered].sum())


# --------------------------------------------------------------------------- MCLP: incumbent and exact fixing

# Beyond this many coverage pairs (merged model) no LP relaxation is solved at build time: the
# 50,000 x 5,000 scaling model (2.1M pairs) would need minutes for its root LP alone.
_MCLP_LP_MAX_PAIRS = 400_000
# Flops budget of the interchange local search (per run), and cap on its dense gain matrix.
_MCLP_SWAP_WORK = 3e8
_MCLP_SWAP_MAX_CELLS = 20_000_000
# Probing budget in simplex iterations: this many times the root LP's (so probing costs at most
# about that many root LP solves), but at least the floor (small models).
_MCLP_PROBE_ITER_FACTOR = 25
_MCLP_PROBE_ITER_FLOOR = 20_000
# Probes are solved in batches; each batch runs on up to this many threads against the same
# state, so the fixings do not depend on thread timing.
_MCLP_PROBE_BATCH = 16
_MCLP_PROBE_THREADS = max(1, min(2, os.cpu_count() or 1))
# Simplex iterations after which a probe first checks its certified bound (a dual simplex
# iterate already bounds the probe; most hopeless sites are proven within ~40 iterations).
_MCLP_PROBE_EARLY_ITERS = 40
# Iterated local search: kicks, and the work budget (coverage pairs + gain-matrix cells per kick)
# that caps them on larger models.
_MCLP_ILS_ITERATIONS = 200
_MCLP_ILS_WORK = 1e8
# ... and it stops after this many kicks in a row without a better plan.
_MCLP_ILS_STALL = 100
# A probing round ends early when fewer than this share of its last window of probes fixed a
# site: probes come likeliest-first, so the rest of the round would mostly be wasted LP solves.
_MCLP_PROBE_WINDOW = 48
_MCLP_PROBE_MIN_YIELD = 0.1
# Share of the gap (LP bound - threshold) a round must close to earn another round.
_MCLP_ROUND_MIN_PROGRESS = 0.05


def _mclp_local_search(a: sp.csr_array, w: np.ndarray, open_: np.ndarray, locked: np.ndarray,
                       allowed: np.ndarray, max_passes: int | None = None,
                       transposes: tuple[sp.csc_array, sp.csr_array] | None = None
                       ) -> tuple[np.ndarray, float, np.ndarray]:
    """Best-improvement interchange ("fast swap") for MCLP, to a local optimum.

    Parameters
    ----------
    a
        Groups x sites 0/1 coverage (CSR).
    w
        Group weights.
    open_
        Start plan (mask over the sites); it keeps its size.
    locked
        Open sites that may not leave the plan (predefined).
    allowed
        Sites that may enter the plan.
    max_passes
        Cap on the swaps made (default: from :data:`_MCLP_SWAP_WORK`); 0
        only evaluates ``flip``.
    transposes
        ``(a as CSC, aᵀ as CSR)`` when the caller already has them (repeated calls).

    Returns
    -------
    (plan mask, covered weight, flip) — ``flip[j]`` is the best change in
    covered weight of one swap through site ``j`` from the returned plan
    (``-inf`` where none is possible); all ``<= 0`` at a local optimum.

    Notes
    -----
    With cover counts ``c`` of the plan ``S``: opening ``j`` gains
    ``add_j = Σ_{g∋j, c_g=0} w_g``, closing ``k`` loses
    ``loss_k = Σ_{g∋k, c_g=1} w_g``, and the swap (``j`` in, ``k`` out)
    changes the covered weight by ``add_j − loss_k + M_jk`` with
    ``M = Aᵀ · diag(w·[c=1]) · A_S`` (groups only ``k`` covers that ``j``
    covers too). ``A_S`` restricted to ``c = 1`` has one entry per row, so a
    pass costs ``O(nnz(A) + |sites|·|S|)``.
    """
    if transposes is None:
        a = sp.csr_array(a, dtype=np.float64)
        acsc = a.tocsc()
        at = sp.csr_array(acsc.T)
    else:
        acsc, at = transposes
    n_sites = a.shape[1]
    plan = open_.copy()
    c = a @ plan.astype(np.float64)
    flip = np.full(n_sites, -np.inf)
    size = int(plan.sum())
    if size == 0 or size * n_sites > _MCLP_SWAP_MAX_CELLS:
        return plan, float(w[c > 0].sum()), flip
    if max_passes is None:
        max_passes = max(1, int(_MCLP_SWAP_WORK / (a.nnz + n_sites * size + 1)))
    eps = 1e-9 * max(1.0, float(w.sum()))
    for swaps in range(max_passes + 1):
        one = c == 1
        add = at @ (w * (c == 0))
        open_idx = np.flatnonzero(plan)
        b = acsc[:, open_idx]
        b = sp.csc_array((b.data * (w * one)[b.indices], b.indices, b.indptr), shape=b.shape)
        b.eliminate_zeros()
        loss = np.asarray(b.sum(axis=0)).ravel()
        gain = (at @ b).toarray()
        gain += add[:, None]
        gain -= loss[None, :]
        gain[plan | ~allowed, :] = -np.inf
        gain[:, locked[open_idx]] = -np.inf
        best = int(np.argmax(gain))
        j, r = divmod(best, len(open_idx))
        if not gain[j, r] > eps or swaps == max_passes:
            flip[:] = gain.max(axis=1)
            flip[open_idx] = gain.max(axis=0)
            break
        k = open_idx[r]
        plan[j], plan[k] = True, False
        c[acsc.indices[acsc.indptr[j]:acsc.indptr[j + 1]]] += 1
        c[acsc.indices[acsc.indptr[k]:acsc.indptr[k + 1]]] -= 1
    return plan, float(w[c > 0].sum()), flip


class _MclpRelaxation:
    """LP relaxation of the merged MCLP over its free sites, in highspy (bounds, dives, probing).

    Columns ``[y (free sites) | z (groups)]``, rows ``z_g − Σ_{j covers g} y_j <= 0`` and
    ``Σ y = k``; maximise ``Σ w_g z_g``. Every bound it reports is *certified*: it is
    recomputed from the row duals ``u`` as the Lagrangian bound (cover rows relaxed)

        L(u) = Σ_g max(0, w_g − u_g) + Σ_{y_j fixed 1} s_j + (sum of the largest
               k − #fixed-1 values s_j over the unfixed sites),   s = Aᵀu,

    which is an upper bound on every plan obeying the current fixings for *any* ``u >= 0``:
    for such a plan ``Σ w_g z_g <= Σ w_g z_g + Σ_g u_g (Σ_{j covers g} y_j − z_g)
    = Σ_g (w_g − u_g) z_g + Σ_j s_j y_j``, and maximising the two sums separately over
    ``z ∈ [0, 1]`` and over ``y`` with the fixings and ``Σ y = k`` gives ``L(u)``. So a
    bound does not rely on the LP solver's tolerances or on the duals being optimal —
    an iteration-limited dual simplex iterate is good enough — and at the LP optimum it
    equals the LP value.
    """

    def __init__(self, a: sp.csr_array, w: np.ndarray, k: int):
        import highspy

        self.a = sp.csr_array(a, dtype=np.float64)
        self.at = sp.csr_array(self.a.T)
        self.w = np.asarray(w, dtype=np.float64)
        self.k = int(k)
        self.ng, self.ns = self.a.shape
        self.lo = np.zeros(self.ns)
        self.up = np.ones(self.ns)
        self.iterations = 0
        self.runs = 0
        self._highspy = highspy
        h = new_highs(False)
        h.setOptionValue("output_flag", False)
        # Warm-started re-solves after bound changes: presolve would discard the basis.
        h.setOptionValue("presolve", "off")
        inf = highspy.kHighsInf
        ng, ns = self.ng, self.ns
        mat = sp.vstack([sp.hstack([-self.a, sp.identity(ng, format="csr")]),
                         sp.hstack([sp.csr_array(np.ones((1, ns))), sp.csr_array((1, ng))])], format="csc")
        lp = highspy.HighsLp()
        lp.num_col_ = ns + ng
        lp.num_row_ = ng + 1
        lp.col_cost_ = np.concatenate([np.zeros(ns), self.w])
        lp.col_lower_ = np.zeros(ns + ng)
        lp.col_upper_ = np.ones(ns + ng)
        lp.row_lower_ = np.concatenate([np.full(ng, -inf), [float(self.k)]])
        lp.row_upper_ = np.concatenate([np.zeros(ng), [float(self.k)]])
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        h.passModel(lp)
        self.h = h
        self.basis = None
        self.u = np.zeros(ng)
        self.y = np.zeros(ns)
        self.value = math.inf

    def clone(self) -> _MclpRelaxation:
        """A second copy (own HiGHS instance) with the same fixings and base basis, for a worker thread."""
        other = _MclpRelaxation(self.a, self.w, self.k)
        for j in np.flatnonzero((self.lo > 0) | (self.up < 1)):
            other.set_bounds(int(j), self.lo[j], self.up[j])
        other.basis, other.y, other.value, other.u = self.basis, self.y, self.value, self.u
        return other

    def set_bounds(self, j: int, lo: float, up: float) -> None:
        self.lo[j], self.up[j] = lo, up
        self.h.changeColBounds(int(j), float(lo), float(up))

    def _run(self, iteration_limit: int | None) -> np.ndarray:
        """Run the dual simplex (warm); return the cover rows' duals (zeros if HiGHS gave none —
        the certificate stays valid, only weak)."""
        h = self.h
        h.setOptionValue("simplex_iteration_limit", int(iteration_limit) if iteration_limit else 2**31 - 1)
        h.run()
        self.runs += 1
        self.iterations += max(0, int(h.getInfo().simplex_iteration_count))
        duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
        return duals[: self.ng] if len(duals) > self.ng else np.zeros(self.ng)

    def certified(self, u: np.ndarray, lo: np.ndarray, up: np.ndarray) -> float:
        """The Lagrangian bound L(u) for the fixings ``lo``/``up`` (``-inf``: no plan obeys them)."""
        u = np.maximum(u, 0.0)
        s = self.at @ u
        forced = lo > 0.5
        need = self.k - int(forced.sum())
        free = ~forced & (up > 0.5)
        n_free = int(free.sum())
        if need < 0 or need > n_free:
            return -math.inf
        total = float(np.maximum(self.w - u, 0.0).sum() + s[forced].sum())
        if need:
            sf = s[free]
            total += float(np.partition(sf, n_free - need)[n_free - need:].sum())
        return total

    def solve(self) -> float:
        """Solve (warm) under the current fixings; keep the basis as the base for probes and dives."""
        if self.basis is not None:
            self.h.setBasis(self.basis)
        u = self._run(None)
        self.basis = self.h.getBasis()
        y = np.asarray(self.h.getSolution().col_value, dtype=np.float64)[: self.ns]
        self.y = y if len(y) == self.ns else np.zeros(self.ns)
        self.u = np.maximum(u, 0.0)
        self.value = self.certified(u, self.lo, self.up)
        return self.value

    def reduced_cost_tests(self, plan: np.ndarray, threshold: float) -> list[int]:
        """Free sites whose flip away from ``plan`` has a certified bound below ``threshold``.

        Uses the base duals ``u`` for every site at once (no LP solve): with
        ``t`` the values ``s = Aᵀu`` of the free sites sorted downwards and
        ``need`` free sites to pick, forcing a site outside the top ``need``
        open replaces ``t_need`` by ``s_j`` in L(u), forcing one inside it
        closed replaces ``s_j`` by ``t_{need+1}`` — the same bound as
        :meth:`certified` with that one fixing added.
        """
        free = np.flatnonzero((self.lo < 0.5) & (self.up > 0.5))
        if not len(free) or not math.isfinite(self.value):
            return []
        s = self.at @ self.u
        forced = self.lo > 0.5
        need = self.k - int(forced.sum())
        sf = s[free]
        order = np.argsort(-sf, kind="stable")
        top = np.zeros(len(free), dtype=bool)
        top[order[:need]] = True
        base = self.value
        t_need = sf[order[need - 1]] if need > 0 else math.inf
        t_next = sf[order[need]] if need < len(free) else -math.inf
        # Force open (sites outside the plan) / force closed (sites in the plan).
        b_open = np.where(top, base, base - t_need + sf)
        b_close = np.where(top, base - sf + t_next, base)
        bound = np.where(plan[free], b_close, b_open)
        return [int(j) for j in free[bound < threshold]]

    def probe(self, j: int, value: float, threshold: float) -> float:
        """Certified bound on the plans obeying the fixings with ``y_j = value`` (early exit below ``threshold``)."""
        lo, up = self.lo.copy(), self.up.copy()
        lo[j] = up[j] = value
        if self.certified(np.zeros(self.ng), lo, up) == -math.inf:
            return -math.inf  # cardinality alone rules it out
        h = self.h
        h.setBasis(self.basis)
        h.changeColBounds(int(j), float(value), float(value))
        try:
            u = self._run(_MCLP_PROBE_EARLY_ITERS)
            bound = self.certified(u, lo, up)
            if bound >= threshold and h.getModelStatus() == self._highspy.HighsModelStatus.kIterationLimit:
                u = self._run(None)
                bound = min(bound, self.certified(u, lo, up))
        finally:
            h.changeColBounds(int(j), float(self.lo[j]), float(self.up[j]))
        return bound

    def dive(self) -> np.ndarray | None:
        """LP diving: open the largest fractional site, re-solve, until the LP plan is integral.

        Returns the plan (mask over the free sites) or None; the relaxation's
        bounds and base basis are restored afterwards.
        """
        saved_lo, saved_up, saved_basis = self.lo.copy(), self.up.copy(), self.basis
        saved_y, saved_value, saved_u = self.y, self.value, self.u
        try:
            y = self.y
            for _ in range(self.k + 1):
                frac = np.flatnonzero((y > 1e-6) & (y < 1 - 1e-6))
                if not len(frac):
                    plan = y > 0.5
                    return plan if int(plan.sum()) == self.k else None
                j = int(frac[np.argmax(y[frac])])
                self.set_bounds(j, 1.0, 1.0)
                if self.solve() == -math.inf:
                    return None
                y = self.y
            return None
        finally:
            for j in np.flatnonzero((self.lo != saved_lo) | (self.up != saved_up)):
                self.set_bounds(int(j), saved_lo[j], saved_up[j])
            self.basis, self.y, self.value, self.u = saved_basis, saved_y, saved_value, saved_u


class _MclpReducer:
    """Incumbent and exact site fixing for a merged MCLP over its free sites (see :class:`MCLP`).

    Keeps the invariant: every plan worth keeping — value ``>= threshold``,
    i.e. strictly better than the incumbent with integer weights, at least as
    good otherwise — obeys all fixings made so far. Each fixing is proven by a
    certified LP bound below the threshold (:class:`_MclpRelaxation`), and a
    better incumbent found later only raises the threshold, so earlier
    fixings stay valid and the new incumbent obeys them.
    """

    def __init__(self, a: sp.csr_array, w: np.ndarray, k: int, stats: dict[str, Any], offset: float = 0.0):
        self.a = sp.csr_array(a, dtype=np.float64)
        self.w = np.asarray(w, dtype=np.float64)
        self.k = int(k)
        self.ns = self.a.shape[1]
        self.stats = stats
        self.offset = offset
        acsc = self.a.tocsc()
        self._transposes = (acsc, sp.csr_array(acsc.T))
        self.integral = bool(np.all(self.w == np.round(self.w)) and self.w.sum() < 2.0**52)
        self.plan = np.zeros(self.ns, dtype=bool)
        self.value = -math.inf
        self.flip = np.full(self.ns, -np.inf)
        self.relax: _MclpRelaxation | None = None

    @property
    def threshold(self) -> float:
        eps = 1e-9 * max(1.0, abs(self.value))
        return self.value + 1.0 - eps if self.integral else self.value - eps

    def offer(self, plan: np.ndarray, source: str) -> bool:
        """Improve ``plan`` by local search (within the fixings) and keep it if it beats the incumbent."""
        if plan is None or int(plan.sum()) != self.k:
            return False
        if self.relax is not None:
            locked, allowed = self.relax.lo > 0.5, self.relax.up > 0.5
            if (plan & ~allowed).any() or (locked & ~plan).any():
                return False
        else:
            locked, allowed = np.zeros(self.ns, dtype=bool), np.ones(self.ns, dtype=bool)
        plan, value, flip = _mclp_local_search(self.a, self.w, plan, locked, allowed, transposes=self._transposes)
        return self._record(plan, value, flip, source)

    def _record(self, plan: np.ndarray, value: float, flip: np.ndarray, source: str) -> bool:
        if not value > self.value + 1e-9 * max(1.0, abs(value)):
            return False
        self.plan, self.value, self.flip = plan, value, flip
        self.stats.setdefault("incumbent_sources", []).append(f"{source}: {value + self.offset:g}")
        return True

    def iterated_local_search(self, iterations: int, seed: int = 0) -> None:
        """Iterated local search around the incumbent: close up to 3 open sites near each other
        (sharing demand within two overlap steps), refill greedily, interchange to a local optimum,
        accept when not worse. Swap-optimal MCLP plans are often stuck because two neighbouring
        facilities must move together; a local kick moves them. Seeded: reproducible."""
        if self.k < 2 or iterations <= 0:
            return
        rng = np.random.default_rng(seed)
        a = self.a
        acsc, at = self._transposes
        ov = sp.csr_array(at @ a)
        ov.data[:] = 1.0
        none = np.zeros(self.ns, dtype=bool)
        allowed = np.ones(self.ns, dtype=bool)
        cur, cur_val = self.plan.copy(), self.value
        stall = 0
        for _ in range(iterations):
            if stall >= _MCLP_ILS_STALL:
                break
            stall += 1
            opened = np.flatnonzero(cur)
            k0 = int(rng.choice(opened))
            e = np.zeros(self.ns)
            e[k0] = 1.0
            near = (ov @ (ov @ e)) > 0
            cand = opened[near[opened]]
            out = rng.choice(cand, min(3, len(cand)), replace=False)
            plan = cur.copy()
            plan[out] = False
            uncovered = (a @ plan.astype(np.float64)) == 0
            banned = plan.copy()
            banned[out] = True
            for _ in range(len(out)):
                gain = at @ (self.w * uncovered)
                gain[banned] = -1.0
                j = int(np.argmax(gain))
                plan[j] = banned[j] = True
                uncovered[acsc.indices[acsc.indptr[j]:acsc.indptr[j + 1]]] = False
            plan, value, flip = _mclp_local_search(a, self.w, plan, none, allowed, transposes=(acsc, at))
            if value > cur_val:
                stall = 0
            if value >= cur_val:  # plateaus are walked: equal plans may lead on
                cur, cur_val = plan, value
            self._record(plan, value, flip, "iterated local search")

    def probe_all(self, iteration_budget: int) -> None:
        """Fix sites by LP probing, in rounds, with dives for better incumbents between rounds.

        For a site outside the incumbent the bound with the site forced open is
        computed, for a site in it the bound with it forced closed; a bound
        below the threshold fixes the site the incumbent's way. Probes run in
        batches of :data:`_MCLP_PROBE_BATCH` on up to
        :data:`_MCLP_PROBE_THREADS` threads, each probe of a batch against the
        state at the batch start, so the result does not depend on thread timing.
        """
        relax = self.relax
        workers = [relax] + [relax.clone() for _ in range(_MCLP_PROBE_THREADS - 1)]
        start_iters = relax.iterations
        probes = rounds = 0
        exhausted = False

        def spent() -> int:
            return sum(r.iterations for r in workers) - start_iters

        if relax.value < self.threshold:
            self.fix_all_to_incumbent(workers)
            exhausted = True
        while not exhausted:
            rounds += 1
            fixed_this_round = 0
            lp_start, value_start = relax.value, self.value
            free = (relax.lo < 0.5) & (relax.up > 0.5)
            # Sites the LP uses first (fixing them lowers the LP bound for every later probe),
            # then the ones whose best swap loses most (likeliest to be fixed, cheapest to prove),
            # then the incumbent's own sites (probed closed).
            cls = np.where(self.plan, 2, np.where(relax.y > 1e-9, 0, 1))
            ranked = np.lexsort((self.flip, cls))
            ranked = ranked[free[ranked]]
            for c in (0, 1, 2):
                members = [int(j) for j in ranked if cls[j] == c]
                outcomes: list[bool] = []
                for b0 in range(0, len(members), _MCLP_PROBE_BATCH):
                    recent = outcomes[-_MCLP_PROBE_WINDOW:]
                    if len(recent) == _MCLP_PROBE_WINDOW and sum(recent) < _MCLP_PROBE_MIN_YIELD * len(recent):
                        break  # this class has stopped paying off in this round
                    if spent() > iteration_budget:
                        exhausted = True
                        break
                    fixed = self._probe_batch(workers, members[b0:b0 + _MCLP_PROBE_BATCH], outcomes)
                    probes += len(members[b0:b0 + _MCLP_PROBE_BATCH])
                    fixed_this_round += fixed
                    if fixed and relax.value < self.threshold:
                        self.fix_all_to_incumbent(workers)
                        exhausted = True
                    if exhausted:
                        break
                if exhausted:
                    break
            if not fixed_this_round or exhausted:
                break
            # The fixed LP is tighter: a dive from it is a better incumbent candidate.
            if self.offer(relax.dive(), f"dive after probing round {rounds}"):
                if relax.value < self.threshold:
                    self.fix_all_to_incumbent(workers)
                    break
                self.apply(workers, relax.reduced_cost_tests(self.plan, self.threshold))
            # Another round re-probes the sites that failed; worth it only when the probes'
            # starting point moved: a better incumbent, or an LP bound that closed part of its gap.
            if self.value == value_start and \
                    lp_start - relax.value < _MCLP_ROUND_MIN_PROGRESS * (lp_start - self.threshold):
                break
        self.stats["probing_rounds"] = rounds
        self.stats["probes"] = probes
        self.stats["probe_lp_iterations"] = spent()
        self.stats["probing_stopped_by_budget"] = exhausted and bool((relax.lo < relax.up).any())

    def _probe_batch(self, workers: list[_MclpRelaxation], items: list[int], outcomes: list[bool]) -> int:
        """Probe ``items`` (split over the workers, all against the current state); apply the fixings.

        Appends one outcome per probe to ``outcomes``; returns the number of sites fixed.
        """
        relax = workers[0]
        items = [j for j in items if relax.lo[j] < 0.5 and relax.up[j] > 0.5]
        plan, threshold = self.plan, self.threshold
        results: dict[int, float] = {}

        errors: list[Exception] = []

        def work(wk: _MclpRelaxation, part: list[int]) -> None:
            try:
                for j in part:
                    results[j] = wk.probe(j, 0.0 if plan[j] else 1.0, threshold)
            except Exception as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)

        n = len(workers)
        # HiGHS releases the GIL while it solves, so the probes of a batch really run in parallel.
        threads = [threading.Thread(target=work, args=(workers[i], items[i::n]), daemon=True) for i in range(1, n)]
        for t in threads:
            t.start()
        work(relax, items[0::n])
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        newly = [j for j in items if results[j] < threshold]
        outcomes.extend(results[j] < threshold for j in items)
        if newly:
            self.apply(workers, newly)
        return len(newly)

    def apply(self, workers: list[_MclpRelaxation], sites: list[int]) -> None:
        """Fix ``sites`` the incumbent's way in every worker, re-solve the base LP, and repeat
        with the reduced-cost tests of the new base duals while they fix something."""
        relax = workers[0]
        while sites:
            for wk in workers:
                for j in sites:
                    v = 1.0 if self.plan[j] else 0.0
                    wk.set_bounds(j, v, v)
            relax.solve()
            for wk in workers[1:]:
                wk.basis, wk.y, wk.value, wk.u = relax.basis, relax.y, relax.value, relax.u
            if relax.value < self.threshold:
                return
            sites = relax.reduced_cost_tests(self.plan, self.threshold)
            self.stats["reduced_cost_fixings"] = self.stats.get("reduced_cost_fixings", 0) + len(sites)

    def fix_all_to_incumbent(self, workers) -> None:
        # LP bound below the threshold: no plan worth keeping differs from the incumbent.
        for j in np.flatnonzero(self.relax.lo < self.relax.up):
            v = 1.0 if self.plan[j] else 0.0
            for wk in workers:
                wk.set_bounds(int(j), v, v)


def _mclp_reduce(a_full: sp.csr_array, w: np.ndarray, p: int, pre: np.ndarray, dropped: np.ndarray,
                 greedy_sites: np.ndarray | None, offset: float,
                 stats: dict[str, Any]) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Incumbent and exact site fixing for the merged exact-``p`` MCLP (see :class:`MCLP`).

    Parameters
    ----------
    a_full
        Demand groups × sites coverage of the groups some site reaches
        (predefined and dropped sites have empty columns).
    w
        Group weights.
    p
        Number of open sites, predefined included.
    pre, dropped
        Predefined sites; sites already removed (dominance).
    greedy_sites
        The greedy plan's sites (start of the first local search).
    offset
        Weight covered anyway (by predefined sites), only for the values in ``stats``.
    stats
        Filled with what was done.

    Returns
    -------
    (incumbent mask over the sites, its covered group weight, sites fixed closed, sites fixed open)
        Every plan strictly better than the incumbent (integer weights) or at
        least as good (other weights) obeys the fixings, and so does the
        incumbent itself, so a model restricted by them keeps an optimum.
    """
    t0 = time.perf_counter()
    m = a_full.shape[1]
    free_idx = np.flatnonzero(~pre & ~dropped)
    k = p - int(pre.sum())
    fix0 = np.zeros(m, dtype=bool)
    fix1 = np.zeros(m, dtype=bool)
    a = sp.csr_array(a_full[:, free_idx], dtype=np.float64)
    nf = len(free_idx)

    def to_mask(local: np.ndarray) -> np.ndarray:
        mask = pre.copy()
        mask[free_idx[local]] = True
        return mask

    red = _MclpReducer(a, w, k, stats, offset)
    if k <= 0 or k >= nf:  # nothing to choose
        plan = np.zeros(nf, dtype=bool)
        plan[: max(k, 0)] = True
        return to_mask(plan), float(w[(a @ plan.astype(np.float64)) > 0].sum()), fix0, fix1
    start = np.zeros(nf, dtype=bool)
    if greedy_sites is not None:
        start[np.isin(free_idx, greedy_sites)] = True
    if int(start.sum()) != k:
        start[:] = False
        start[np.argsort(-np.asarray(a.sum(axis=0)).ravel(), kind="stable")[:k]] = True
    red.offer(start, "greedy")
    if a.nnz > _MCLP_LP_MAX_PAIRS:
        stats["lp_reductions"] = f"skipped (more than {_MCLP_LP_MAX_PAIRS:,} coverage pairs)"
        stats["reduction_seconds"] = time.perf_counter() - t0
        return to_mask(red.plan), red.value, fix0, fix1
    relax = _MclpRelaxation(a, w, k)
    root = relax.solve()
    root_iters = relax.iterations
    stats["lp_bound"] = root + offset
    stats["lp_iterations"] = root_iters
    rounded = np.zeros(nf, dtype=bool)
    rounded[np.argsort(-relax.y, kind="stable")[:k]] = True
    red.offer(rounded, "LP rounding")
    red.relax = relax
    red.offer(relax.dive(), "LP dive")
    if root >= red.threshold:  # the incumbent may not be optimal: look harder before probing
        red.iterated_local_search(int(min(_MCLP_ILS_ITERATIONS, _MCLP_ILS_WORK / (a.nnz + nf * k))))
    if root < red.threshold:
        red.fix_all_to_incumbent([relax])
        stats["probing"] = "not needed (LP bound below the incumbent's threshold)"
    else:
        red.apply([relax], relax.reduced_cost_tests(red.plan, red.threshold))
        red.probe_all(max(_MCLP_PROBE_ITER_FLOOR, _MCLP_PROBE_ITER_FACTOR * root_iters))
    fix0[free_idx[relax.up < 0.5]] = True
    fix1[free_idx[relax.lo > 0.5]] = True
    stats["sites_fixed_closed"] = int(fix0.sum())
    stats["sites_fixed_open"] = int(fix1.sum())
    stats["reduction_seconds"] = time.perf_counter() - t0
    return to_mask(red.plan), red.value, fix0, fix1


# =========================================================================== p-median


def _nearest_open(d: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each client's nearest open site (p-median and p-center assignments)."""
    open_idx = np.flatnonzero(mask)
    return open_idx[np.argmin(d[:, open_idx], axis=1)]


def _pmedian_local_search(d: np.ndarray, w: np.ndarray, p: int, fixed: np.ndarray, allowed: np.ndarray,
                          start: np.ndarray | None = None, max_iter: int = 10_000) -> tuple[np.ndarray, float]:
    """Greedy construction + best-improvement vertex substitution (Teitz & Bart).

    ``fixed`` sites are always open and never swapped out; only ``allowed``
    sites may enter. Swap gains are evaluated for all (in, out) pairs at once
    with one matrix product per iteration.
    """
    n = d.shape[0]
    sel = list(np.flatnonzero(fixed)) if start is None else list(start)
    d1 = d[:, sel].min(axis=1) if sel else np.full(n, np.inf)
    while len(sel) < p:
        cand = np.where(np.isfinite(d1)[:, None], np.minimum(d, d1[:, None]), d)
        total = w @ cand
        total[sel] = np.inf
        total[~allowed] = np.inf
        j = int(np.argmin(total))
        sel.append(j)
        d1 = np.minimum(d1, d[:, j])
    sel = np.array(sel, dtype=np.int64)
    movable = ~fixed[sel]
    if p == 1 or not movable.any():
        return sel, float(w @ d[:, sel].min(axis=1))
    wpos = w > 0
    dw = d[wpos]
    ww = w[wpos]
    rr = np.arange(dw.shape[0])
    for _ in range(max_iter):
        ds = dw[:, sel]
        if len(sel) > 1:
            two = np.argpartition(ds, 1, axis=1)[:, :2]
            a, b = ds[rr, two[:, 0]], ds[rr, two[:, 1]]
            c1 = np.where(a <= b, two[:, 0], two[:, 1])
            d1, d2 = np.minimum(a, b), np.maximum(a, b)
        else:
            c1 = np.zeros(len(rr), dtype=np.int64)
            d1, d2 = ds[:, 0], np.full(len(rr), np.inf)
        near = np.minimum(dw, d1[:, None])
        gain = ww @ (near - d1[:, None])  # change from opening j (<= 0)
        loss_mat = ww[:, None] * (np.minimum(dw, d2[:, None]) - near)
        onehot = np.zeros((len(rr), len(sel)))
        onehot[rr, c1] = 1.0
        delta = gain[:, None] + loss_mat.T @ onehot  # (sites, open positions)
        delta[sel, :] = np.inf
        delta[~allowed, :] = np.inf
        delta[:, ~movable] = np.inf
        k = int(np.argmin(delta))
        j, r = divmod(k, len(sel))
        if not delta[j, r] < -1e-9 * max(1.0, float(ww @ d1)):
            break
        sel[r] = j
    return sel, float(w @ d[:, sel].min(axis=1))


def _pmedian_lagrangian(c: np.ndarray, p: int, fixed: np.ndarray, ub: float, lam: np.ndarray,
                        iterations: int, stop_above: float = math.inf) -> tuple[float, np.ndarray, np.ndarray]:
    """Subgradient optimisation of the Lagrangian dual (assignment rows relaxed).

    ``L(λ) = Σ λ_i + min over feasible open sets S of Σ_{j∈S} ρ_j``, with
    ``ρ_j = Σ_i min(0, c_ij − λ_i)``; any λ gives a valid lower bound.
    Returns the best bound, its λ and the best open set of the relaxation.
    """
    n_fixed = int(fixed.sum())
    free = np.flatnonzero(~fixed)
    k = p - n_fixed
    best, best_lam, best_set = -np.inf, lam.copy(), None
    mu, stall = 2.0, 0
    for _ in range(iterations):
        rho = np.minimum(0.0, c - lam[:, None]).sum(axis=0)
        if k > 0:
            pick = free[np.argpartition(rho[free], k - 1)[:k]] if k < len(free) else free
            chosen = np.concatenate([np.flatnonzero(fixed), pick])
        else:
            chosen = np.flatnonzero(fixed)
        value = float(lam.sum() + rho[chosen].sum())
        if value > best + 1e-9 * max(1.0, abs(best) if math.isfinite(best) else 1.0):
            best, best_lam, best_set, stall = value, lam.copy(), chosen, 0
            if best > stop_above:
                break
        else:
            stall += 1
            if stall >= 40:
                mu, stall = mu / 2, 0
        g = 1.0 - (c[:, chosen] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0 or mu < 1e-4 or ub - best <= 1e-9 * max(1.0, abs(ub)):
            break
        lam = lam + mu * max(ub - value, 1e-6 * max(1.0, abs(ub))) / norm * g
    return best, best_lam, best_set


class PMedian(LocateModel):
    """p-median problem (Hakimi 1964; ReVelle & Swain 1970).

    Open exactly ``p_facilities`` sites to minimise ``Σ_i w_i · min_{j open} d_ij``
    — spopt's objective (``Σ w_i d_ij x_ij`` at an optimal assignment).

    Formulation: radius formulation (García, Labbé & Marín 2011) in
    Elloumi's (2010) incremental form. For client ``i`` with sorted distinct
    distances ``D_i^0 < D_i^1 < …`` to the sites kept, ``z_ik`` = 1 when no
    open site is nearer than ``D_i^k``; the objective is
    ``Σ_i w_i (D_i^0 + Σ_k (D_i^k − D_i^{k−1}) z_ik)`` and each level row is
    ``z_ik − z_i,k−1 + Σ_{j: d_ij = D_i^{k−1}} y_j ≥ 0`` (``z_i0 = 1``), so each
    site appears once per client. Its LP bound equals the assignment model's.

    Reductions (``reduce=True``): a greedy + interchange heuristic gives an
    incumbent of value ``UB``; subgradient optimisation of the Lagrangian dual
    gives multipliers ``λ``; a site is removed when forcing it open raises the
    Lagrangian bound above ``UB``, and a (client, site) pair when forcing the
    client onto that site does — so each client's distance is capped at the
    farthest pair left, and the levels above the cap are not built. Every plan
    of value ``<= UB`` survives, so the optimum is unchanged. When bound and
    incumbent are still more than 0.2 % apart, every surviving site is probed:
    the dual is re-optimised with the site forced open, which removes sites
    and tightens the caps further (:func:`_pmedian_probe`). ``stats`` records
    the heuristic value, the Lagrangian bound, the probing and the sizes.
    """

    sense = pulp.LpMinimize

    @classmethod
    def from_cost_matrix(cls, cost_matrix, weights, p_facilities: int, predefined_facilities_arr=None,
                         name: str = "p-median", *, reduce: bool = True) -> PMedian:
        """Build from a dense clients × sites cost matrix.

        Parameters
        ----------
        cost_matrix
            Dense, finite, non-negative (clients × sites) distances.
        weights
            Demand weight per client (non-negative).
        p_facilities
            Exact number of open facilities (predefined included).
        predefined_facilities_arr
            Sites that must be open (0/1 mask as long as the sites, or indices).
        name
            Problem name.
        reduce
            Run the heuristic + Lagrangian reductions (see the class docstring).
        """
        t0 = time.perf_counter()
        d = _dense_costs(cost_matrix)
        n, m = d.shape
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        model = cls(name, pulp.LpProblem(name, pulp.LpMinimize))
        model._n, model._m, model._d, model.weights, model.p_facilities = n, m, d, w, p
        model._predefined = pre
        stats: dict[str, Any] = {"clients": n, "sites": m}

        # Incumbent: greedy + interchange, best of a few deterministic starts.
        allowed = np.ones(m, dtype=bool)
        sel, ub = _pmedian_local_search(d, w, p, pre, allowed)
        alive = np.ones(m, dtype=bool)
        cap = d.max(axis=1)
        if reduce:
            c = w[:, None] * d
            iters = int(np.clip(2.5e9 / (n * m), 150, 3000))
            lam0 = w * d[:, sel].min(axis=1)
            lb, lam, lag_set = _pmedian_lagrangian(c, p, pre, ub, lam0, iters)
            if lag_set is not None and len(lag_set) == p:
                # A second local search started from the relaxation's open set.
                sel2, ub2 = _pmedian_local_search(d, w, p, pre, allowed, start=lag_set)
                if ub2 < ub - 1e-9:
                    sel, ub = sel2, ub2
            stats["lagrangian_bound"] = lb
            alive, cap = _pmedian_reduce(c, d, p, pre, lam, ub, lb)
            stats["sites_after_tests"] = int(alive.sum())
            if (ub - lb) >= _PROBE_MIN_GAP * max(1.0, abs(ub)):
                alive, cap = _pmedian_probe(c, d, p, pre, alive, cap, lam, ub, stats)
            else:
                stats["probing"] = "skipped (gap already small)"
            stats["sites_kept"] = int(alive.sum())
        stats["heuristic_objective"] = ub
        model._build_radius(d, w, p, pre, alive, cap, stats)
        start = {f"y_{j}": 1.0 for j in sel}
        dist0 = d[:, sel].min(axis=1)
        for i, (lv, names) in model._levels.items():
            for value, nm in zip(lv[1:], names):
                if value <= dist0[i]:
                    start[nm] = 1.0
        model._start = start
        model.incumbent_sites = np.sort(sel)
        stats["build_seconds"] = time.perf_counter() - t0
        model.stats.update(stats)
        model._seal(reduce)
        return model

    def _build_radius(self, d, w, p, pre, alive, cap, stats) -> None:

        sites = np.flatnonzero(alive)
        ds = d[:, sites]
        order = np.argsort(ds, axis=1, kind="stable")
        dsort = np.take_along_axis(ds, order, axis=1)
        active_clients = np.flatnonzero(w > 0)  # weightless clients cannot change the objective
        dsort, order, capa = dsort[active_clients], order[active_clients], cap[active_clients]
        # Never cap below a client's nearest kept site (cannot happen with a valid
        # cap, but float noise must not produce an empty row).
        capa = np.maximum(capa, dsort[:, 0])
        inr = dsort <= capa[:, None]
        newlev = np.ones_like(inr)
        newlev[:, 1:] = dsort[:, 1:] > dsort[:, :-1]
        lev = np.cumsum(newlev, axis=1) - 1
        nlev = np.where(inr, lev + 1, 0).max(axis=1)  # rows per client
        nz = nlev - 1  # z variables per client
        ms = len(sites)
        ytot = int(inr.sum())
        if ytot + 2 * int(nz.sum()) > _MAX_NONZEROS:
            raise ModelTooLargeError(f"the p-median model would have {ytot + 2 * int(nz.sum()):,} nonzeros",
                                     hint="reduce the number of clients or sites (e.g. aggregate demand)")
        y = np.empty(ms, dtype=object)
        self._site_vars = {}
        for k, j in enumerate(sites):
            v = _var(self.problem, f"y_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
            if pre[j]:
                v.lowBound = 1
            y[k] = v
            self._site_vars[int(j)] = v
        # Level values per active client, and z variable names.
        level_vals = [dsort[a][newlev[a] & inr[a]] for a in range(len(active_clients))]
        ztot = int(nz.sum())
        znames = [f"z_{active_clients[a]}_{k}" for a in range(len(active_clients)) for k in range(1, nlev[a])]
        zvars = np.array([_var(self.problem, nm, 0, 1) for nm in znames], dtype=object)
        zoff = (np.cumsum(nz) - nz).astype(np.int64)
        roff = (np.cumsum(nlev) - nlev).astype(np.int64)
        nrow = int(nlev.sum())
        # y entries: site at level L of client a sits in row roff[a] + L.
        aa, kk = np.nonzero(inr)
        yr = roff[aa] + lev[aa, kk]
        yc = order[aa, kk]
        # z_k (k = 1..nlev-1): +1 in row k-1, -1 in row k.
        za = np.repeat(np.arange(len(active_clients)), nz)
        zk = np.arange(ztot) - np.repeat(zoff, nz)
        zc = ms + np.arange(ztot)
        rows = np.concatenate([yr, roff[za] + zk, roff[za] + zk + 1])
        cols = np.concatenate([yc, zc, zc])
        vals = np.concatenate([np.ones(len(yr)), np.ones(ztot), -np.ones(ztot)])
        a_mat = sp.csr_array((vals, (rows, cols)), shape=(nrow, ms + ztot))
        a_mat.sort_indices()
        rhs = np.zeros(nrow)
        rhs[roff] = 1.0
        names = [f"lvl_{active_clients[a]}_{k}" for a in range(len(active_clients)) for k in range(1, nlev[a] + 1)]
        zcost = np.concatenate([w[active_clients[a]] * np.diff(level_vals[a]) for a in range(len(active_clients))]) \
            if ztot else np.empty(0)
        constant = float(sum(w[active_clients[a]] * level_vals[a][0] for a in range(len(active_clients))))
        prob = self.problem
        prob.setObjective(_affine(zvars, zcost, constant))
        _add_rows(prob, np.concatenate([y, zvars]), a_mat, pulp.LpConstraintGE, rhs, names)
        prob.addConstraint(pulp.LpConstraint(_affine(y, np.ones(ms)), pulp.LpConstraintEQ, "p_facilities", p))
        self._levels = {int(active_clients[a]): (level_vals[a], znames[zoff[a]:zoff[a] + nz[a]])
                        for a in range(len(active_clients))}
        stats.update({"levels": ztot, "rows": nrow + 1, "nonzeros": int(a_mat.nnz + ms)})

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          p_facilities: int, predefined_facility_col: str | None = None,
                          distance_metric: str = "euclidean", name: str = "p-median", *,
                          reduce: bool = True) -> PMedian:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        weights = _geo_column(gdf_demand, weights_cols, "weights_cols")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, weights, p_facilities, pre, name=name, reduce=reduce)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = _nearest_open(self._d, mask)

    def _objective_value(self) -> float:
        # The p-median objective of the open set: equals the model objective at
        # an integral solution, without LP round-off.
        return float(self.weights @ self._d[np.arange(self._n), self.assignment])

    @property
    def mean_dist(self) -> float:
        """Weighted mean distance (spopt's attribute)."""
        return self.objective / self.weights.sum() if self.weights.sum() > 0 else 0.0


def _pmedian_reduce(c, d, p, fixed, lam, ub, lb):
    """Lagrangian reduction tests; returns (sites kept, per-client distance cap)."""
    tol = 1e-7 * max(1.0, abs(ub))
    rho = np.minimum(0.0, c - lam[:, None]).sum(axis=0)
    free = np.flatnonzero(~fixed)
    k = p - int(fixed.sum())
    lag = float(lam.sum() + rho[fixed].sum())
    in_set = fixed.copy()
    if k > 0:
        ordered = free[np.argsort(rho[free], kind="stable")]
        chosen = ordered[:k]
        in_set[chosen] = True
        lag += float(rho[chosen].sum())
        worst_in = float(rho[ordered[k - 1]])
        # Forcing an unchosen site open replaces the worst chosen free site.
        forced = np.where(in_set, lag, lag + rho - worst_in)
    else:
        forced = np.where(in_set, lag, np.inf)  # no free slot: other sites can never open
    alive = forced <= ub + tol
    alive |= fixed
    # Forcing client i onto site j also pays max(0, c_ij - λ_i).
    pair_lb = forced[None, :] + np.maximum(0.0, c - lam[:, None])
    keep = (pair_lb <= ub + tol) & alive[None, :]
    cap = np.where(keep, d, -np.inf).max(axis=1)
    # A client with no kept pair (float noise) keeps all its alive sites.
    bad = ~np.isfinite(cap)
    if bad.any():
        cap[bad] = np.where(alive[None, :], d[bad], -np.inf).max(axis=1)
    return alive, cap


# Probing budget: sites probed × iterations × clients × sites kept (flops-ish).
_PROBE_WORK_LIMIT = 3e10
# Probe only when the incumbent and the Lagrangian bound are this far apart
# (relative): below it the reduced MIP is small and easy, and probing costs more.
_PROBE_MIN_GAP = 2e-3


def _pmedian_probe(c, d, p, fixed, alive, cap, lam, ub, stats, iterations: int = 300):
    """Lagrangian probing: force each surviving site open and re-optimise the multipliers.

    The first-order tests of :func:`_pmedian_reduce` use one λ for all sites;
    re-optimising λ with site ``j`` forced open gives the Lagrangian (= LP)
    bound of the branch ``y_j = 1``. When it exceeds the incumbent value the
    site is removed; otherwise its (client, site) pairs are re-tested with
    that branch's multipliers, which tightens the per-client distance caps.
    Both tests keep every plan of value ``<= ub``. Skipped when too costly
    (large p: the LP gap is small there and the MIP is easy anyway).
    """
    sites = np.flatnonzero(alive)
    k = len(sites)
    n = c.shape[0]
    n_fixed = int(fixed.sum())
    if k <= p or float(k) * k * n * iterations > _PROBE_WORK_LIMIT or n_fixed == p:
        stats["probing"] = "skipped"
        return alive, cap
    t0 = time.perf_counter()
    tol = 1e-7 * max(1.0, abs(ub))
    ca, da = c[:, sites], d[:, sites]
    fixed_a = fixed[sites]
    keep_site = np.ones(k, dtype=bool)
    new_cap = np.full(n, -np.inf)
    for t in range(k):
        fx = fixed_a.copy()
        fx[t] = True
        if fx.sum() > p:
            continue  # pragma: no cover - p > fixed checked above
        b, lam_t, _ = _pmedian_lagrangian(ca, p, fx, ub, lam.copy(), iterations, stop_above=ub + tol)
        if b > ub + tol and not fixed_a[t]:
            keep_site[t] = False
            continue
        pair_ok = b + np.maximum(0.0, ca[:, t] - lam_t) <= ub + tol
        new_cap = np.maximum(new_cap, np.where(pair_ok, da[:, t], -np.inf))
    out_alive = np.zeros_like(alive)
    out_alive[sites[keep_site]] = True
    # Caps only shrink; a client left without any kept pair (float noise) keeps its old cap.
    cap = np.where(np.isfinite(new_cap), np.minimum(cap, new_cap), cap)
    stats["probing"] = f"{k - int(keep_site.sum())} of {k} sites removed in {time.perf_counter() - t0:.1f} s"
    return out_alive, cap


# =========================================================================== p-center


def _pcenter_heuristic(d: np.ndarray, p: int, fixed: np.ndarray) -> tuple[np.ndarray, float]:
    """Greedy minimax construction, then best-improvement swaps on the max distance."""
    n, m = d.shape
    sel = list(np.flatnonzero(fixed))
    d1 = d[:, sel].min(axis=1) if sel else np.full(n, np.inf)
    while len(sel) < p:
        worst = np.minimum(d, d1[:, None]).max(axis=0)
        worst[sel] = np.inf
        j = int(np.argmin(worst))
        sel.append(j)
        d1 = np.minimum(d1, d[:, j])
    sel = np.array(sel, dtype=np.int64)
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


def _pcenter_bounds(d: np.ndarray, p: int, fixed: np.ndarray, sel: np.ndarray, ub: float, lower: float):
    """Tighten the radius range by binary searches over the candidate radii.

    Upper bound: the smallest radius at which a greedy set cover needs at most
    ``p`` sites (padded to exactly ``p``, it is a plan). Lower bound: the
    smallest radius at which the LP relaxation of the covering problem needs at
    most ``p`` sites — the LP value only falls as the radius grows, and at any
    radius where it exceeds ``p`` no plan exists.
    """
    from scipy.optimize import linprog

    n, m = d.shape
    radii = np.unique(d[(d >= lower) & (d <= ub)])

    def greedy(r):
        a = d <= r
        chosen = list(np.flatnonzero(fixed))
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

    def lp_needs_more(r):
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

    @classmethod
    def from_cost_matrix(cls, cost_matrix, p_facilities: int, predefined_facilities_arr=None,
                         name: str = "p-center", *, reduce: bool = True) -> PCenter:
        """Build from a dense clients × sites cost matrix (see the class docstring)."""
        d = _dense_costs(cost_matrix)
        n, m = d.shape
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        model = cls(name, pulp.LpProblem(name, pulp.LpMinimize))
        model._n, model._m, model._d, model.p_facilities, model._predefined = n, m, d, p, pre
        lower = float(d.min(axis=1).max())  # no plan beats every client's nearest site
        sel, ub = _pcenter_heuristic(d, p, pre)
        if reduce and n * m <= _PCENTER_SEARCH_LIMIT:
            sel, ub, lower = _pcenter_bounds(d, p, pre, sel, ub, lower)
        upper = ub if reduce else float(d.max())
        radii = np.unique(d[(d >= lower) & (d <= upper)])
        if len(radii) == 0:
            radii = np.array([upper])
        K = len(radii)
        stats: dict[str, Any] = {"clients": n, "sites": m, "lower_bound": lower, "heuristic_objective": ub,
                                 "radii": K}  # lower: LP-cover bound when reduce, else nearest-site bound
        y = np.empty(m, dtype=object)
        model._site_vars = {}
        for j in range(m):
            v = _var(model.problem, f"y_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
            if pre[j]:
                v.lowBound = 1
            y[j] = v
            model._site_vars[j] = v
        u = np.array([_var(model.problem, f"u_{k}", 0, 1) for k in range(1, K)], dtype=object)  # u_2..u_K
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
            raise ModelTooLargeError(f"the p-center model would have {nnz:,} nonzeros",
                                     hint="use fewer clients or sites")
        nrow = len(ii)
        rows_y = np.repeat(np.arange(nrow), lens)
        start = np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.arange(nnz) - start
        cols_y = order[np.repeat(ii, lens), pos]
        has_u = kk < K - 1  # row at level k carries u_{k+1}
        rows_u = np.flatnonzero(has_u)
        cols_u = m + kk[has_u]  # row at radius radii[k] carries u[k]
        a_mat = sp.csr_array((np.ones(nnz + len(rows_u)), (np.concatenate([rows_y, rows_u]),
                                                           np.concatenate([cols_y, cols_u]))), shape=(nrow, m + K - 1))
        a_mat.sort_indices()
        prob = model.problem
        # u[k] = 1 means the radius is at least radii[k + 1].
        prob.setObjective(_affine(u, np.diff(radii), radii[0]))
        _add_rows(prob, np.concatenate([y, u]), a_mat, pulp.LpConstraintGE, np.ones(nrow),
                  [f"radius_{i}_{k}" for i, k in zip(ii, kk)])
        for k in range(len(u) - 1):
            prob.addConstraint(pulp.LpConstraint(_affine([u[k], u[k + 1]], [1.0, -1.0]), pulp.LpConstraintGE,
                                                 f"monotone_{k}", 0.0))
        prob.addConstraint(pulp.LpConstraint(_affine(y, np.ones(m)), pulp.LpConstraintEQ, "p_facilities", p))
        start_vals = {f"y_{j}": 1.0 for j in sel}
        for k in range(K - 1):
            if radii[k + 1] <= ub:
                start_vals[u[k].name] = 1.0
        model._start = start_vals
        stats.update({"rows": nrow + len(u) + 1, "nonzeros": int(a_mat.nnz)})
        model.stats.update(stats)
        model._seal(reduce)
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, p_facilities: int,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "p-center", *, reduce: bool = True) -> PCenter:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, p_facilities, pre, name=name, reduce=reduce)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = _nearest_open(self._d, mask)

    def _objective_value(self) -> float:
        return float(self._d[np.arange(self._n), self.assignment].max())


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

    @classmethod
    def from_cost_matrix(cls, cost_matrix, demand, facility_capacity, fixed_cost, predefined_facilities_arr=None,
                         name: str = "cflp", *, uncapacitated: bool = False,
                         cost_kind: Literal["unit", "total"] = "unit") -> CFLP:
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
            raise InputError(f"cost_kind must be 'unit' or 'total', got {cost_kind!r}", field="cost_kind", hint="use cost_kind='unit' (cost per unit of demand) or cost_kind='total' (cost of serving all of it)")
        if uncapacitated:
            cap = np.full(m, np.inf)
        else:
            if facility_capacity is None:
                raise InputError("facility_capacity is required unless uncapacitated=True", field="facility_capacity",
                                 hint="pass facility_capacity= (one capacity per site), or uncapacitated=True")
            cap = np.asarray(facility_capacity, dtype=float).reshape(-1)
            if cap.shape != (m,) or np.isnan(cap).any() or (cap < 0).any():
                raise InputError(f"facility_capacity must hold {m} non-negative numbers", field="facility_capacity",
                                 hint="give one capacity per site (a column of the cost matrix), each 0 or more")
        total = c * dem[:, None] if cost_kind == "unit" else c.copy()
        if cost_kind == "unit":
            total[np.isinf(c)] = np.inf
            total[(dem[:, None] == 0) & np.isfinite(c)] = 0.0
        allowed = np.isfinite(total)
        unreachable = np.flatnonzero(~allowed.any(axis=1))
        if len(unreachable):
            raise InfeasibleError(f"client(s) {', '.join(map(str, unreachable[:10]))} can be served by no site",
                                  field="cost_matrix",
                                  hint="give each such client at least one finite cost (np.inf marks a forbidden pair)")
        if not uncapacitated and cap.sum() < dem.sum() - 1e-9 * max(1.0, dem.sum()):
            raise InfeasibleError(f"total capacity {cap.sum():g} is below total demand {dem.sum():g}",
                                  field="facility_capacity",
                                  hint="raise the capacities or add sites: every client must be served in full")
        model = cls(name, pulp.LpProblem(name, pulp.LpMinimize))
        model._n, model._m, model._predefined = n, m, pre
        model.demand, model.facility_capacity, model.fixed_cost = dem, cap, fixed
        model.uncapacitated, model.cost_kind, model._total = uncapacitated, cost_kind, total
        y = np.empty(m, dtype=object)
        model._site_vars = {}
        for j in range(m):
            v = _var(model.problem, f"y_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
            if pre[j]:
                v.lowBound = 1
            y[j] = v
            model._site_vars[j] = v
        ii, jj = np.nonzero(allowed)
        npair = len(ii)
        if 3 * npair > _MAX_NONZEROS:
            raise ModelTooLargeError(f"the CFLP model would have {npair:,} assignment variables",
                                     hint="restrict the allowed pairs (inf costs) or aggregate clients")
        x = np.array([_var(model.problem, f"x_{i}_{j}", 0, 1) for i, j in zip(ii, jj)], dtype=object)
        model._pairs, model._x = (ii, jj), x
        prob = model.problem
        prob.setObjective(_affine(np.concatenate([y, x]), np.concatenate([fixed, total[ii, jj]])))
        allv = np.concatenate([y, x])
        # Assignment rows: Σ_j x_ij = 1 (pairs come sorted by client).
        assign = sp.csr_array((np.ones(npair), (ii, m + np.arange(npair))), shape=(n, m + npair))
        _add_rows(prob, allv, assign, pulp.LpConstraintEQ, np.ones(n), [f"assign_{i}" for i in range(n)])
        # Linking rows: x_ij - min(1, s_j/d_i) y_j <= 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dem[ii] > 0, cap[jj] / np.where(dem[ii] > 0, dem[ii], 1.0), np.inf)
        coef = np.minimum(1.0, ratio)
        link = sp.csr_array((np.concatenate([np.ones(npair), -coef]),
                             (np.concatenate([np.arange(npair)] * 2), np.concatenate([m + np.arange(npair), jj]))),
                            shape=(npair, m + npair))
        link.sort_indices()
        _add_rows(prob, allv, link, pulp.LpConstraintLE, np.zeros(npair), [f"link_{i}_{j}" for i, j in zip(ii, jj)])
        if not uncapacitated:
            # One row per site with a finite capacity (inf = that site is unlimited).
            finite = np.isfinite(cap)
            sel = finite[jj]
            q = np.flatnonzero(sel)
            rows_of = np.cumsum(finite) - 1
            fin_sites = np.flatnonzero(finite)
            capr = sp.csr_array((np.concatenate([dem[ii[q]], -cap[fin_sites]]),
                                 (np.concatenate([rows_of[jj[q]], np.arange(len(fin_sites))]),
                                  np.concatenate([m + q, fin_sites]))), shape=(len(fin_sites), m + npair))
            capr.sum_duplicates()
            capr.sort_indices()
            _add_rows(prob, allv, capr, pulp.LpConstraintLE, np.zeros(len(fin_sites)),
                      [f"capacity_{j}" for j in fin_sites])
            if finite.all():
                # Valid cut: the open capacity must hold all demand; strengthens the LP a lot.
                prob.addConstraint(pulp.LpConstraint(_affine(y, cap), pulp.LpConstraintGE, "aggregate_capacity",
                                                     float(dem.sum())))
        model.stats.update({"clients": n, "sites": m, "pairs": npair})
        model._seal(False)
        return model

    @classmethod
    def from_geodataframe(cls, gdf_demand, gdf_fac, demand_col: str, facility_col: str, weights_cols: str,
                          facility_capacity_col: str | None, fixed_cost_col: str,
                          predefined_facility_col: str | None = None, distance_metric: str = "euclidean",
                          name: str = "cflp", *, uncapacitated: bool = False,
                          cost_kind: Literal["unit", "total"] = "unit") -> CFLP:
        """Build from point layers; distance (metres) × demand is the assignment cost by default."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        demand = _geo_column(gdf_demand, weights_cols, "weights_cols")
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        fixed = _geo_column(gdf_fac, fixed_cost_col, "fixed_cost_col")
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, demand, cap, fixed, pre, name=name, uncapacitated=uncapacitated,
                                     cost_kind=cost_kind)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def _polish(self, mask: np.ndarray) -> np.ndarray | None:
        """Optimal shares for the open set, re-solved as an LP (or in closed form without capacities).

        MIP solvers return shares only up to their tolerances (CBC's plan for
        cap41 evaluated to 1040444.3735 instead of 1040444.375); with the sites
        fixed, the assignment is an LP whose exact optimum is cheap to get.
        Returns ``None`` when the LP cannot be solved (the MIP's shares stay).
        """
        from scipy.optimize import linprog

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
        res = linprog(cost, A_ub=a_ub, b_ub=self.facility_capacity[sites], A_eq=a_eq, b_eq=np.ones(self._n),
                      bounds=(0, 1), method="highs")
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

    def _served_pairs(self):
        a = self.allocation.tocoo()
        keep = a.data > 1e-9
        return a.row[keep], a.col[keep]


def __getattr__(name: str) -> Any:  # re-export optimizer.locate_more's models lazily (it imports this module)
    from . import locate_more
    return getattr(locate_more, name)
