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
removed.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pulp
import scipy.sparse as sp

from .errors import InfeasibleError, InputError, ModelTooLargeError, SolverError
from .solvers import (
    SolveReport,
    SolverOptions,
    relative_gap,
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
        raise InputError(f"{what} must be a numeric (clients × sites) array", field=what) from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{what} must be a non-empty 2-D array (clients × sites), got shape {arr.shape}", field=what)
    if np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise InputError(f"{what} has NaN at client {i}, site {j}", field=what)
    if not allow_inf and np.isinf(arr).any():
        i, j = np.argwhere(np.isinf(arr))[0]
        raise InputError(f"{what} has an infinite cost at client {i}, site {j}", field=what,
                         hint="every client must be reachable from every site in this model")
    if (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise InputError(f"{what} has a negative value {arr[i, j]:g} at client {i}, site {j}", field=what)
    return arr


def _vector(values: Any, n: int, what: str, *, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric", field=what) from None
    if arr.shape != (n,):
        raise InputError(f"{what} has {arr.size} values, expected {n}", field=what)
    if not np.isfinite(arr).all():
        k = int(np.argmax(~np.isfinite(arr)))
        raise InputError(f"{what}[{k}] is not finite", field=what)
    if (arr < 0).any() or (positive and (arr <= 0).any()):
        k = int(np.argmax(arr <= 0 if positive else arr < 0))
        raise InputError(f"{what}[{k}] = {arr[k]:g} must be {'positive' if positive else 'non-negative'}", field=what)
    return arr


def _predefined_mask(predefined: Any, m: int) -> np.ndarray:
    """spopt's convention: an array as long as the sites is a 0/1 mask, a shorter one holds indices."""
    if predefined is None:
        return np.zeros(m, dtype=bool)
    arr = np.asarray(predefined)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError("predefined_facilities_arr must be 1-D", field="predefined_facilities_arr")
    if arr.size == m:
        if not np.isin(arr, (0, 1, True, False)).all():
            raise InputError("predefined_facilities_arr as long as the sites must be a 0/1 mask",
                             field="predefined_facilities_arr")
        return arr.astype(bool)
    if arr.size > m:
        raise InputError(f"predefined_facilities_arr has {arr.size} entries but there are only {m} sites",
                         field="predefined_facilities_arr")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= m):
        raise InputError(f"predefined_facilities_arr shorter than the sites must hold site indices in 0..{m - 1}",
                         field="predefined_facilities_arr")
    mask = np.zeros(m, dtype=bool)
    mask[arr.astype(np.int64)] = True
    return mask


def _check_p(p: Any, m: int, n_pre: int, what: str = "p_facilities") -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) and not (isinstance(p, float) and p.is_integer()):
        raise InputError(f"{what} must be an integer, got {p!r}", field=what)
    p = int(p)
    if not 1 <= p <= m:
        raise InputError(f"{what} must be in 1..{m} (the number of candidate sites), got {p}", field=what)
    if p < n_pre:
        raise InputError(f"{what} = {p} is fewer than the {n_pre} predefined (required) sites", field=what)
    return p


def _check_radius(radius: Any) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise InputError(f"service_radius must be a number, got {radius!r}", field="service_radius") from None
    if not math.isfinite(r) or r < 0:
        raise InputError(f"service_radius must be finite and non-negative, got {radius!r}", field="service_radius")
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
            raise InputError(f"cost_matrix must be a non-empty 2-D matrix, got shape {mat.shape}", field="cost_matrix")
        if np.isnan(mat.data).any():
            raise InputError("cost_matrix has NaN entries", field="cost_matrix")
        keep = mat.data <= radius
        rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))[keep]
        cols = mat.indices[keep]
        shape = mat.shape
    else:
        arr = np.asarray(cost_matrix, dtype=float)
        if arr.ndim != 2 or 0 in arr.shape:
            raise InputError(f"cost_matrix must be a non-empty 2-D array (clients × sites), got shape {arr.shape}",
                             field="cost_matrix")
        if np.isnan(arr).any():
            raise InputError("cost_matrix has NaN entries", field="cost_matrix")
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
            raise InputError(f"{what} must be a GeoDataFrame", field=what)
        if col not in gdf.columns:
            raise InputError(f"{what} has no geometry column {col!r}", field=col)
        if len(gdf) == 0:
            raise InputError(f"{what} is empty", field=what)
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
        raise InputError(f"unknown distance_metric {distance_metric!r} ({exc})", field="distance_metric") from None


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

_BANNER_SHOWN = False


def _new_highs(msg: bool):
    """A ``highspy.Highs``; the first one in a process prints a banner on C stdout, which we swallow
    unless the user asked for solver output (it would corrupt e.g. JSON lines on stdout)."""
    global _BANNER_SHOWN
    import highspy

    if _BANNER_SHOWN or msg:
        _BANNER_SHOWN = True
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN = True
    return h


def _run_interruptible(h) -> None:
    """``h.run()``, but stoppable by Ctrl-C / SIGTERM (as :mod:`optimizer.solvers` does for PuLP's path).

    ``Highs.run`` is one C++ call during which Python delivers no signal; in
    the main thread HiGHS runs in highspy's solver thread instead, and on an
    interrupt the solve is cancelled through HiGHS' user-interrupt callback
    and the interrupt re-raised, so nothing is reported as a result.
    """
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(h, "startSolve"):
        h.run()
        return
    h.HandleUserInterrupt = True
    h.startSolve()
    try:
        while not h.wait(0.1)[0]:
            pass
    except BaseException:
        h.cancelSolve()
        deadline = time.monotonic() + 10.0
        try:
            while time.monotonic() < deadline and not h.wait(0.1)[0]:
                pass
        except KeyboardInterrupt:  # asked twice: stop waiting for HiGHS
            pass
        raise


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

    h = _new_highs(options.msg)
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
    _run_interruptible(h)
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
    if model_status == ms.kOptimal:
        status, pulp_status = "optimal", (pulp.LpStatusOptimal, pulp.LpSolutionOptimal)
        bound = obj_value if bound is None else bound
    elif model_status == ms.kInfeasible:
        status, pulp_status = "infeasible", (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible)
    elif model_status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
        status = "unbounded" if model_status == ms.kUnbounded else "infeasible"
        pulp_status = (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded) if status == "unbounded" else (
            pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible)
    elif model_status in (ms.kTimeLimit, ms.kIterationLimit, ms.kInterrupt, ms.kSolutionLimit, ms.kObjectiveBound,
                          ms.kObjectiveTarget):
        status = "feasible" if has_primal else "no_solution"
        pulp_status = (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible) if has_primal else (
            pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)
    else:
        status, pulp_status = "error", (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)
    problem.assignStatus(*pulp_status)
    gap = None
    if status == "optimal":
        gap = relative_gap(obj_value, bound)
        gap = 0.0 if gap is None else gap
    elif status == "feasible":
        gap = relative_gap(obj_value, bound)
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
        self._fingerprint: tuple | None = None
        self._start: dict[str, float] | None = None

    # -- construction helpers
    def _seal(self, reduced: bool) -> None:
        """Remember the model as built, to detect user edits before solving a reduced model."""
        self._reduced = reduced
        self._fingerprint = (frozenset(_constraint_dict(self.problem).keys()), id(self.problem.objective),
                             self.problem.sense)

    def _check_unmodified(self) -> None:
        if not self._reduced or self._fingerprint is None:
            return
        now = (frozenset(_constraint_dict(self.problem).keys()), id(self.problem.objective), self.problem.sense)
        if now != self._fingerprint:
            raise SolverError(
                f"{type(self).__name__} {self.name!r} was built with reductions that assume the model as built, "
                "but its constraints or objective were changed",
                field="reduce",
                hint=f"build it with {type(self).__name__}.from_cost_matrix(..., reduce=False) before adding "
                "constraints",
            )

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
        self._check_unmodified()
        if options.name == "highs":
            # The heuristic plan is NOT passed as a MIP start: HiGHS 1.16
            # evaluates a start in its presolved space without presolve's
            # objective offset and then prunes against that wrong value —
            # on pmed20 it returned 1790 as "optimal" (true optimum 1789).
            # The start stays in ``self._start`` for when that is fixed.
            report = _solve_highs_bulk(self.problem, options, None)
        else:
            report = solve_problem(self.problem, options)
        self.report = report
        self.status = report.status
        self.bound = report.bound
        self.gap = report.gap
        if report.has_solution:
            self._improve_plan(report)
            self._collect()
            self.objective = self._objective_value()
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
        """Hook: replace a time-limited solver plan by a better known one (see :class:`MCLP`)."""

    # -- results
    def _open_mask(self) -> np.ndarray:
        mask = self._predefined.copy()
        for j, v in self._site_vars.items():
            if v.varValue is not None and v.varValue > 0.5:
                mask[j] = True
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
            raise InputError("give p_facilities, a budget (with facility_costs), or both", field="p_facilities")
        p = _check_p(p_facilities, m, int(pre.sum())) if p_facilities is not None else None
        costs = None
        if budget is not None or facility_costs is not None:
            if budget is None or facility_costs is None:
                raise InputError("a budget needs facility_costs and facility_costs need a budget", field="budget")
            costs = _vector(facility_costs, m, "facility_costs")
            try:
                budget = float(budget)
            except (TypeError, ValueError):
                raise InputError(f"budget must be a number, got {budget!r}", field="budget") from None
            if not math.isfinite(budget) or budget < 0:
                raise InputError(f"budget must be finite and non-negative, got {budget}", field="budget")
            if costs[pre].sum() > budget + 1e-9 * max(1.0, budget):
                raise InfeasibleError(
                    f"the predefined sites alone cost {costs[pre].sum():g}, more than the budget {budget:g}",
                    field="budget")
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
        model._site_variables(dropped)
        prob = model.problem
        # Groups no site reaches stay uncovered: no variable needed.
        reach = np.diff(group_cov.indptr) > 0
        z_groups = np.flatnonzero(reach)
        z = np.array([_var(prob, f"z_{g}", 0, 1) for g in z_groups], dtype=object)
        constant = float(w[covered_pre].sum())
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
        model._z_groups, model._z, model._zcov = z_groups, z, sub
        model._greedy = _mclp_greedy(group_cov, gw, p, pre, dropped) if p is not None and costs is None else None
        if model._greedy is not None:
            model.stats["heuristic_objective"] = model._greedy[1] + constant
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
        # greedy one built with the model: then the greedy plan is put on the
        # variables (it is feasible for the model as built; with user-added
        # constraints — reduce=False — it is not used).
        if report.status != "feasible" or self._greedy is None or not self._reduced:
            return
        sel, _ = self._greedy
        current = self._site_vars
        mask = self._predefined.copy()
        for j, v in current.items():
            mask[j] |= (v.varValue or 0.0) > 0.5
        cov_now = float(self.weights[np.asarray(self._cov[:, np.flatnonzero(mask)].sum(axis=1)).ravel() > 0].sum())
        greedy_mask = np.zeros(self._m, dtype=bool)
        greedy_mask[sel] = True
        cov_greedy = float(self.weights[np.asarray(self._cov[:, sel].sum(axis=1)).ravel() > 0].sum())
        if cov_greedy <= cov_now:
            return
        for j, v in current.items():
            v.varValue = 1.0 if greedy_mask[j] else 0.0
        zval = np.asarray(self._zcov[:, np.flatnonzero(greedy_mask)].sum(axis=1)).ravel() > 0
        for v, val in zip(self._z, zval):
            v.varValue = float(val)
        report.extra["plan"] = f"greedy heuristic ({cov_greedy:g}) kept: better than the solver's plan ({cov_now:g})"

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


# =========================================================================== p-median


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
        open_idx = np.flatnonzero(mask)
        self.assignment = open_idx[np.argmin(self._d[:, open_idx], axis=1)]

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
        open_idx = np.flatnonzero(mask)
        self.assignment = open_idx[np.argmin(self._d[:, open_idx], axis=1)]

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
            raise InputError(f"cost_kind must be 'unit' or 'total', got {cost_kind!r}", field="cost_kind")
        if uncapacitated:
            cap = np.full(m, np.inf)
        else:
            if facility_capacity is None:
                raise InputError("facility_capacity is required unless uncapacitated=True", field="facility_capacity")
            cap = np.asarray(facility_capacity, dtype=float).reshape(-1)
            if cap.shape != (m,) or np.isnan(cap).any() or (cap < 0).any():
                raise InputError(f"facility_capacity must hold {m} non-negative numbers", field="facility_capacity")
        total = c * dem[:, None] if cost_kind == "unit" else c.copy()
        if cost_kind == "unit":
            total[np.isinf(c)] = np.inf
            total[(dem[:, None] == 0) & np.isfinite(c)] = 0.0
        allowed = np.isfinite(total)
        unreachable = np.flatnonzero(~allowed.any(axis=1))
        if len(unreachable):
            raise InfeasibleError(f"client(s) {', '.join(map(str, unreachable[:10]))} can be served by no site",
                                  field="cost_matrix")
        if not uncapacitated and cap.sum() < dem.sum() - 1e-9 * max(1.0, dem.sum()):
            raise InfeasibleError(f"total capacity {cap.sum():g} is below total demand {dem.sum():g}",
                                  field="facility_capacity")
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
        frac = self._polish(mask)
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
