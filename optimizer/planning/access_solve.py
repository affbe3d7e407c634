"""Solving the access objective with HiGHS: LP bound, a plan from the LP, a count bound, then branch and bound.

On the Zhejiang default the access model's LP relaxation is nearly integral
(24 of 11,458 site decisions fractional; bound within 0.07 % of the best
plan), but HiGHS spends its time limit on the root LP and its heuristics find
plans 14 % worse. So, in one time limit:

1. the LP relaxation of the whole problem (user rows included) gives the
   bound ``LB`` and each site decision's reduced cost (at most two thirds of
   the time limit; an LP not solved by then leaves the rest to plain branch and bound);
2. the site decisions the LP sets to 0 or 1 are fixed and the small rest
   solved as a MIP: a plan of value ``UB`` (a heuristic, nothing proven);
   the access levels those decisions settle are fixed too, and the fixed
   columns taken out of the model before HiGHS sees it (the same MIP; on
   the Zhejiang default 1,219 rows instead of 280,341, and solved to
   optimality there);
   the count bound of step 3 needs only the LP, so it is made in a second
   thread meanwhile (HiGHS releases the GIL; on two cores the steps overlap)
   and given up if the LP bound proves the plan;
3. if ``UB − LB`` is within ``mip_gap``, that plan is returned, proven;
   else the whole-count bound (:mod:`optimizer.planning.count_bound`, at
   most 90 % of the time left) — each type's LP at whole site counts, the
   budgets kept exact over those counts, each started from its part of the
   LP's basis — is tried: where the LP's gap comes
   from budget spent on fractions of facilities (the Zhejiang default), it
   proves the plan of step 2;
4. otherwise every site decision whose reduced cost ``r`` says that flipping
   it costs more than the gap (``LB + |r| > UB``) is fixed at its LP value
   — no plan better than ``UB`` flips it (the LP dual stays feasible, so its
   bound holds with the decision flipped) — and the reduced MIP is solved
   from the plan of step 2. Its bound holds for every plan better than ``UB``,
   so it is a bound on the whole problem, and the gap reported is honest.
   No MIP start is passed (the HiGHS 1.16 defect); where HiGHS finds nothing as
   good as the step-2 plan in time, that plan is reported.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import highspy
import numpy as np
import pulp

from ..solvers import SolveReport, SolverOptions, relative_gap
from ..solvers.highs import highs_lp, lp_matrix
from ..solvers.highs_bulk import BulkLp, bulk_lp, solve_highs_bulk
from .access_radius import forced_levels
from .count_bound import CountBound, count_deadline, count_inputs, relaxation_count_bound
from .lp_relaxation import Relaxation, lp_relaxation, site_fixing

if TYPE_CHECKING:
    from .model import PlanningModel

# A decision is at a bound of the LP within this; a reduced-cost test must clear the gap by this share of |UB|.
_INTEGRAL = 1e-6
_MARGIN = 1e-6
# A plan's sub-MIP with at most this many site decisions left is solved to optimality (0 gap).
_EXACT_SUB_MIP = 64
# The LP relaxation's share of the time limit.
_LP_SHARE = 2 / 3


def _proven(ub: float, bound: float, mip_gap: float) -> bool:
    """Whether the plan's value ``ub`` (a minimisation's) is within ``mip_gap`` of the lower ``bound``."""
    return ub - bound <= mip_gap * max(abs(ub), 1.0)


def _with_settled_levels(
    model: PlanningModel, fixing: tuple[np.ndarray, np.ndarray], values: dict[int, float], n_sites: int
) -> tuple[np.ndarray, np.ndarray]:
    """``fixing`` (of site decisions ``k`` at ``values[k]``) with the access levels' ``z`` it settles fixed too.

    The sub-MIP keeps its optimal value and plans (:func:`~.access_radius.forced_levels`); HiGHS' presolve
    of the 280,000 chain rows of the Zhejiang default is what the sub-MIP spent its time on.
    """
    site_values = np.full(n_sites, np.nan)
    site_values[np.fromiter(values, dtype=np.int64, count=len(values))] = list(values.values())
    columns, fixed_at = [fixing[0]], [fixing[1]]
    start = 0
    for type_id, ys in model.y.items():
        levels = model.types[type_id].levels
        if levels is not None and levels.z is not None and levels.n_sets:
            z = forced_levels(levels, site_values[start : start + len(ys)])
            settled = np.flatnonzero(~np.isnan(z))
            columns.append(np.array([v.index for v in levels.z[settled]], dtype=np.int64))
            fixed_at.append(z[settled])
        start += len(ys)
    return np.concatenate(columns), np.concatenate(fixed_at)


def _without_fixed(
    bulk: BulkLp, variables: list[pulp.LpVariable], fixed: tuple[np.ndarray, np.ndarray]
) -> tuple[BulkLp, list[pulp.LpVariable]] | None:
    """``bulk`` with the columns ``fixed`` = (columns, values) taken out, and the variables left; None if infeasible.

    The same problem: the fixed columns' share of each row moves to its bounds and of the objective to the
    offset, and rows left without columns are dropped (None where one of them is broken). The fixed
    variables get their values here (``varValue``); the solve sets the others.
    """
    lp = bulk.lp
    csc = lp_matrix(lp)
    columns, values = fixed
    at = np.zeros(lp.num_col_)
    at[columns] = values
    free = np.ones(lp.num_col_, bool)
    free[columns] = False
    activity = csc @ at
    row_lower, row_upper = np.asarray(lp.row_lower_) - activity, np.asarray(lp.row_upper_) - activity
    sub = csc[:, np.flatnonzero(free)]
    used = np.bincount(sub.indices, minlength=lp.num_row_) > 0
    tol = 1e-9 * np.maximum(1.0, np.abs(activity))
    if ((row_lower > tol) & ~used).any() or ((row_upper < -tol) & ~used).any():
        return None
    kept = [v for v, f in zip(variables, free.tolist(), strict=True) if f]
    for v, value in zip((variables[c] for c in columns.tolist()), values.tolist(), strict=True):
        v.varValue = value
    cost = bulk.cost[free]
    integer = np.array([v.cat == pulp.LpInteger for v in kept], dtype=bool)
    reduced = highs_lp(
        cost,
        (np.asarray(lp.col_lower_)[free], np.asarray(lp.col_upper_)[free]),
        (row_lower[used], row_upper[used]),
        sub[np.flatnonzero(used)],
        maximize=lp.sense_ == highspy.ObjSense.kMaximize,
        integer=integer if integer.any() else None,
        offset=bulk.constant + float(bulk.cost @ at),
    )
    return BulkLp(reduced, cost, bulk.constant + float(bulk.cost @ at), bool(integer.any()), sub.nnz), kept


def _left(options: SolverOptions, t0: float) -> SolverOptions:
    """``options`` with the time limit that is left since ``t0`` (at least 1 s)."""
    if options.time_limit is None:
        return options
    return replace(options, time_limit=max(1.0, options.time_limit - (time.perf_counter() - t0)))


def solve_access(model: PlanningModel, options: SolverOptions) -> SolveReport:
    """Solve the access model (a minimisation) with HiGHS in the four steps of the module docstring.

    Parameters
    ----------
    model
        A built planning model with the access objective.
    options
        HiGHS options; the time limit covers all steps.

    Returns
    -------
    SolveReport
        The plan (values set on the PuLP variables) with its proven bound and gap.
    """
    t0 = time.perf_counter()
    prob = model.problem
    sites = [v for ys in model.y.values() for v in ys]
    # At most 2/3 of the time on the LP: past it, branch and bound gets the rest (and finds plans of its own).
    # Plain branch and bound is far worse on the Zhejiang default (59.8 % at 300 s under load) than the LP path.
    share = replace(options, time_limit=options.time_limit * _LP_SHARE) if options.time_limit is not None else options
    # One conversion of the model for every HiGHS run below (the runs differ in column bounds only).
    variables = prob.variables()
    bulk = bulk_lp(prob, variables)

    def run(fixed: tuple[np.ndarray, np.ndarray] | None = None) -> SolveReport:
        return solve_highs_bulk(prob, _left(options, t0), bulk=bulk, variables=variables, fixed=fixed)

    def run_reduced(fixed: tuple[np.ndarray, np.ndarray]) -> SolveReport:
        reduced = _without_fixed(bulk, variables, fixed)
        if reduced is None:  # a row the fixing breaks: HiGHS says so on the whole model
            return run(fixed)
        # Few site decisions left (23 and 1,219 rows on the Zhejiang default): solved to optimality, so the plan
        # is the sub-MIP's optimum, not whichever plan within the gap HiGHS' search meets first.
        left = _left(options, t0)
        if sum(v.cat == pulp.LpInteger for v in reduced[1]) <= _EXACT_SUB_MIP:
            left = replace(left, mip_gap=0.0)
        return solve_highs_bulk(prob, left, bulk=reduced[0], variables=reduced[1])

    relaxed = lp_relaxation(prob, share, bulk)
    if relaxed is None or not sites:  # infeasible, or stopped: branch and bound says what it is
        return _finish(run(), t0, None)
    lb, x, reduced = relaxed.bound, relaxed.x, relaxed.reduced
    lp_seconds = time.perf_counter() - t0
    index = np.array([v.index for v in sites], dtype=np.int64)
    xs, rs = x[index], reduced[index]
    integral = np.flatnonzero((xs <= _INTEGRAL) | (xs >= 1 - _INTEGRAL))
    fixed = {int(k): float(round(xs[k])) for k in integral}
    # Steps 2 and 3 need only the LP: the count bound runs in a second thread beside the plan's sub-MIP.
    counting = _CountingBeside(model, relaxed, options, t0)
    try:
        first = run_reduced(_with_settled_levels(model, site_fixing(index, fixed), fixed, len(sites)))
        if not first.has_solution or first.objective is None:
            counting.cancel()
            return _finish(run(), t0, lb)
        ub = first.objective
        counting.plan_found(ub)
        steps: dict[str, float | None] = {"lp": lp_seconds, "lp_plan": first.seconds}
        if _proven(ub, lb, options.mip_gap):  # proven by the LP bound (the sub-MIP's own bound is not)
            counting.cancel()
            return _finish(
                replace(first, status="optimal", bound=lb, extra=dict(first.extra, access_seconds=steps)), t0, lb
            )
        counted = counting.result()
    finally:
        counting.cancel()
    plan = [float(v.varValue or 0.0) for v in variables]
    steps["count_bound"] = counted.seconds if counted is not None else None
    if counted is not None and _proven(ub, counted.bound, options.mip_gap):  # proven by whole counts
        proven = replace(first, status="optimal", bound=min(counted.bound, ub))
        extra = dict(first.extra, access_seconds=steps, access_count_bound=counted.bound)
        return _finish(replace(proven, extra=extra), t0, lb)
    # Flipping decision k from its LP bound raises the LP bound by at least |r_k|.
    margin = _MARGIN * max(abs(ub), 1.0)
    flip_costs = np.where(xs[integral] >= 1 - _INTEGRAL, -rs[integral], rs[integral])
    sure = integral[lb + flip_costs > ub + margin]
    reduced_fixed = {int(k): float(round(xs[k])) for k in sure}
    # No MIP start: HiGHS 1.16 prunes against a start's value taken without presolve's offset and then
    # reports a worse plan as optimal (benchmarks/README.md, "HiGHS 1.16 MIP-start defect"; seen here on
    # tests/test_access_radius.py seed 95: 49,747.9 "optimal" against 48,109.7).
    final = run(site_fixing(index, reduced_fixed))
    if not final.has_solution or final.objective is None or final.objective > ub:
        # HiGHS found nothing as good in time: the plan of step 2 stands
        for v, value in zip(variables, plan, strict=True):
            v.varValue = value
        prob.assignStatus(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible)
        bound = lb if final.bound is None else max(lb, min(final.bound, ub))
        final = replace(final, status="feasible", objective=ub, bound=bound)
    steps["branch_and_bound"] = final.seconds
    count = counted.bound if counted is not None else None
    final = replace(
        final, extra=dict(final.extra, access_seconds=steps, access_plan_of_lp=ub, access_count_bound=count)
    )
    if count is not None and final.objective is not None and (final.bound is None or final.bound < count):
        final = replace(final, bound=min(count, final.objective))
    return _finish(final, t0, lb, fixed=len(sure))


class _CountingBeside:
    """The count bound (:func:`~.count_bound.relaxation_count_bound`) made in a second thread beside the sub-MIP.

    HiGHS releases the GIL while it solves, so on two cores the two steps
    overlap. The PuLP model is read (row names, site columns) here, before
    the thread starts: the sub-MIP then writes values on the PuLP variables,
    which the count bound does not read. :meth:`cancel` stops the bound
    before its next LP and waits for the thread, so no HiGHS run outlives
    the solve (also on Ctrl-C). Once told the plan's value
    (:meth:`plan_found`), the bound stops rising as soon as it proves it.
    """

    def __init__(self, model: PlanningModel, relaxed: Relaxation, options: SolverOptions, t0: float) -> None:
        inputs, deadline = count_inputs(model), count_deadline(options, t0)
        self._stop = threading.Event()
        self._outcome: list[CountBound | None] = []
        self._errors: list[BaseException] = []
        self._plan: list[float] = []
        gap = options.mip_gap

        def proves(bound: float) -> bool:
            return bool(self._plan) and _proven(self._plan[0], bound, gap)

        def work() -> None:
            try:
                self._outcome.append(relaxation_count_bound(relaxed, inputs, deadline, self._stop, enough=proves))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the solving thread by result()
                self._errors.append(exc)

        self._thread = threading.Thread(target=work, name="access-count-bound", daemon=True)
        self._thread.start()

    def plan_found(self, value: float) -> None:
        """The plan's value (a minimisation's): a bound within ``mip_gap`` of it needs no more counts solved."""
        self._plan.append(value)

    def result(self) -> CountBound | None:
        """The bound (None if not made in time); waits for the thread."""
        self._thread.join()
        if self._errors:
            raise self._errors[0]
        return self._outcome[0] if self._outcome else None

    def cancel(self) -> None:
        """Give the bound up before its next LP and wait for the thread (a no-op once it has ended)."""
        self._stop.set()
        self._thread.join()


def _finish(report: SolveReport, t0: float, lb: float | None, fixed: int | None = None) -> SolveReport:
    """The report of the whole solve: its seconds, the LP bound where it is better, and what was fixed."""
    bound = report.bound
    if lb is not None and report.objective is not None and (bound is None or not math.isfinite(bound) or lb > bound):
        bound = min(lb, report.objective)
    gap = relative_gap(report.objective, bound) if report.objective is not None else report.gap
    extra = dict(report.extra, access_lp_bound=lb, access_sites_fixed_by_reduced_cost=fixed)
    return replace(report, bound=bound, gap=gap, seconds=time.perf_counter() - t0, extra=extra)
