"""Solving the coverage and attendance objectives with HiGHS, LP first: the LP's bound, a plan from the LP, the proof.

On the 1-km Zhejiang grid (benchmarks/README.md, "1-km Zhejiang grid") one
plain HiGHS solve spends its ten minutes on the root LP; its bound is 0.43 %
above the plan its randomized rounding finds, and no node is branched. The
gap is the plan's, not the bound's. So, in one time limit, as
:mod:`optimizer.planning.access_solve` does for ``access``:

1. the LP relaxation of the whole problem (user rows included), handed to
   HiGHS in bulk, gives the bound ``B`` and each site decision's reduced cost
   (at most :data:`LP_SHARE` of the time limit; an LP not solved by then
   leaves the rest to plain branch and bound);
2. the site decisions the LP sets to 0 or 1 are fixed, except the
   :data:`NEIGHBOURHOOD` times as many cheapest to flip by reduced cost, and
   the small rest is solved as a MIP: a plan of value ``P``, feasible for the
   whole problem (a heuristic: the fixing proves nothing; rounding only the
   fractional ones is 0.24 % off on the Zhejiang default, this 0.005 %);
3. if ``P`` is within ``mip_gap`` of ``B``, that plan is returned, proven by
   the LP bound; else the whole-count bound ``C``
   (:mod:`optimizer.planning.count_bound`: the coupling rows priced by the
   LP's duals, each type's LP at whole site counts, the budgets kept exact
   by a knapsack over those counts) is made, and if ``P`` is within
   ``mip_gap`` of it (or of its own margin, :data:`~.count_bound.RESOLUTION`)
   the plan is proven; else the whole problem is solved with each type's
   site count held at the knapsack's counts (at most :data:`COUNT_PLAN_SHARE`
   of the time left; a heuristic: the rows are taken out after it), and its
   plan, if better, replaces ``P`` and is tested against ``C`` the same way.
   On the Zhejiang default at ``mip_gap: 0`` the LP bound is 14,682 people
   above the sub-MIP's plan, ``C`` is the optimum to the person, and the
   plan at the knapsack's counts reaches it (benchmarks/README.md, session 19);
4. else the whole problem is solved for the time left with a *floor row*
   "objective at least ``P`` plus the gap" (the plan's value handed to HiGHS
   without a MIP start: HiGHS 1.16 defect, benchmarks/README.md) and with
   every site decision fixed at its LP value whose reduced cost says that
   flipping it alone drops the LP bound below the floor. Both are exact: a
   plan above the floor flips no such decision (the LP dual stays feasible),
   so the optimum is at most ``max(solver bound, floor)``, and "infeasible"
   proves the plan of step 2 optimal at ``mip_gap``. The better plan is
   reported with the better of that bound and ``C``. (No *ceiling row*
   "objective at most ``C``", which would let HiGHS stop at a plan within
   the gap of ``C``: on the Zhejiang default it makes the solve at the
   counts 4.6 times slower, 41 s against 9 s.)

Signs: everything below works in "gain" terms, ``s · objective`` with ``s =
+1`` for a maximisation (coverage, attendance) and ``-1`` for a minimisation,
so that larger is better and the LP's bound is an upper bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pulp

from ..solvers import SolveReport, SolverOptions, relative_gap
from ..solvers.highs_bulk import bulk_lp, constraint_dict, solve_highs_bulk
from .count_bound import RESOLUTION, CountBound, count_deadline, count_inputs, relaxation_count_bound
from .lp_relaxation import lp_relaxation, site_fixing

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = [
    "COUNT_PLAN_SHARE",
    "COUNT_ROW",
    "FLOOR_ROW",
    "LP_GUIDED_AT_ZERO_GAP",
    "LP_GUIDED_KINDS",
    "LP_GUIDED_MAX_NONZEROS",
    "LP_SHARE",
    "lp_guided_pays",
    "solve_lp_guided",
]

#: Share of the time limit the LP relaxation may take (the rest goes to plain branch and bound if it stops).
LP_SHARE = 2 / 3

#: Objectives solved LP-guided when ``PlanningModel.lp_guided`` is None (the default), the ones of
#: LP_GUIDED_AT_ZERO_GAP also at ``mip_gap: 0``. Measured on the shipped default (benchmarks/every_objective.py;
#: benchmarks/README.md, session 19, near idle): coverage 5.1 s at 5e-4 (the LP bound proves the sub-MIP's plan)
#: and 15.3 s at 0 (the count bound and the plan at its counts; the plain solve stops unproven at 300 s);
#: attendance 17.4 s LP-guided at 5e-4 (the count bound proves the sub-MIP's plan) against 34.3 s plain, but at 0
#: 212.7 s (the plan at the counts is worse, the floor-row solve 180 s) against 132.3 s plain.
LP_GUIDED_KINDS = frozenset({"coverage", "attendance"})
LP_GUIDED_AT_ZERO_GAP = frozenset({"coverage"})

#: ... and only models up to this many nonzeros (the largest measured). On the 1-km grid (1,384,443 nonzeros,
#: benchmarks/README.md "1-km Zhejiang grid", session 17) near idle: LP 253 s, sub-MIP 149 s, proven 0.062 % in
#: 440 s wall, where the plain solve stops at 0.428 % (its root LP is the same dual simplex, and no node is
#: branched). Under load 4-9 (session 15) the LP missed its 2/3 of the limit in two runs and the plain branch and
#: bound left over found a poor plan; the plain solve was not proven there either.
LP_GUIDED_MAX_NONZEROS = 2_000_000

#: Step 2 frees this many integral site decisions per fractional one (the cheapest to flip), at least MIN_FREE in all.
NEIGHBOURHOOD, MIN_FREE = 3, 40

#: Name of the row "objective at least the LP plan's value plus the gap" of step 4 (removed after it).
FLOOR_ROW = "lp_plan_floor"

#: Prefix of step 3's count rows (``<COUNT_ROW>_<type id>``: Σ y = the knapsack's count; removed after it).
COUNT_ROW = "lp_plan_count"

#: Share of the time left that step 3's solve at the knapsack's counts may take.
COUNT_PLAN_SHARE = 0.5

# A decision is at a bound of the LP within this; the least gap the floor row proves (HiGHS accepts rows
# 1e-7 off, so a floor closer to the plan could be met by the plan itself); a reduced-cost test must clear
# the gap by this share of |P| (rounding in the LP's duals).
_INTEGRAL = 1e-6
_FLOOR_RESOLUTION = 1e-6
_MARGIN = 1e-6


def lp_guided_pays(model: PlanningModel, mip_gap: float | None = None) -> bool:
    """Whether a coverage or attendance model is solved LP-guided: ``model.lp_guided`` if set, else as measured.

    With ``None`` (the default) the objectives of :data:`LP_GUIDED_KINDS`
    (at ``mip_gap`` 0 only those of :data:`LP_GUIDED_AT_ZERO_GAP`; ``None``:
    the scenario's) on models of at most :data:`LP_GUIDED_MAX_NONZEROS` nonzeros.
    """
    kind = model.scenario.objective.kind
    if kind not in ("coverage", "attendance"):
        return False
    if model.lp_guided is not None:
        return bool(model.lp_guided)
    gap = model.scenario.solver_options.mip_gap if mip_gap is None else mip_gap
    kinds = LP_GUIDED_KINDS if gap > 0 else LP_GUIDED_AT_ZERO_GAP
    return kind in kinds and model.size.nonzeros <= LP_GUIDED_MAX_NONZEROS


def solve_lp_guided(model: PlanningModel, options: SolverOptions, *, with_counts: bool = True) -> SolveReport:
    """Solve a built model with HiGHS in the four steps of the module docstring.

    Parameters
    ----------
    model
        A built planning model (coverage or attendance objective; any sense works).
    options
        HiGHS options; the time limit covers all steps.
    with_counts
        Whether step 3 tries the whole-count bound and the plan at its counts (equity stage 1's first solve,
        max t, goes without: its LP gap is not one of fractional counts).

    Returns
    -------
    SolveReport
        The plan (values set on the PuLP variables) with its proven bound and
        gap; ``extra["lp_plan"]`` records the steps (seconds, LP bound, the
        plan of the LP, how many decisions were fixed).
    """
    t0 = time.perf_counter()
    prob = model.problem
    sites = [v for ys in model.y.values() for v in ys]
    share = replace(options, time_limit=options.time_limit * LP_SHARE) if options.time_limit is not None else options
    variables = prob.variables()
    bulk = bulk_lp(prob, variables)  # one conversion for the LP and the sub-MIP (they differ in column bounds)
    relaxed = lp_relaxation(prob, share, bulk)
    if relaxed is None or not sites:  # infeasible, or stopped: branch and bound says what it is
        return _finish(solve_highs_bulk(prob, _left(options, t0)), t0, {"lp_seconds": time.perf_counter() - t0})
    sense = 1.0 if prob.sense == pulp.LpMaximize else -1.0
    bound = relaxed.bound
    steps: dict[str, float | int | None] = {"lp_seconds": time.perf_counter() - t0, "lp_bound": bound}
    index = np.array([v.index for v in sites], dtype=np.int64)
    xs, rs = relaxed.x[index], relaxed.reduced[index]
    integral = np.flatnonzero((xs <= _INTEGRAL) | (xs >= 1 - _INTEGRAL))
    steps["fractional_sites"] = len(sites) - len(integral)
    fixed = _neighbourhood_fixed(xs, rs, integral)
    steps["lp_plan_free_sites"] = len(sites) - len(fixed)
    first = solve_highs_bulk(prob, _left(options, t0), bulk=bulk, variables=variables, fixed=site_fixing(index, fixed))
    steps["lp_plan_seconds"] = first.seconds
    if not first.has_solution or first.objective is None:  # the rounding fits no plan: the whole MIP
        return _finish(solve_highs_bulk(prob, _left(options, t0)), t0, steps, bound, sense)
    value = float(first.objective)
    steps["lp_plan"] = value
    if relative_gap(value, bound) is not None and sense * (bound - value) <= options.mip_gap * max(abs(value), 1.0):
        # proven by the LP bound (the sub-MIP's own bound holds only with the decisions fixed)
        proven = sense * max(sense * bound, sense * value)
        return _finish(replace(first, status="optimal", bound=proven), t0, steps)
    plan = {v.name: float(v.varValue or 0.0) for v in variables}
    counted = None
    if with_counts:  # once the bound proves the plan, no more of the counts it takes from chords are solved
        proves = partial(_proven_by_count, value, sense=sense, mip_gap=options.mip_gap)
        counted = relaxation_count_bound(relaxed, count_inputs(model), count_deadline(options, t0), enough=proves)
    count_bound = steps["count_bound"] = counted.bound if counted is not None else None
    if counted is not None:
        if not _proven_by_count(value, counted.bound, sense, options.mip_gap):
            at_counts = _solve_at_counts(model, counted, _left(options, t0, COUNT_PLAN_SHARE))
            steps["count_plan_seconds"] = at_counts.seconds
            steps["count_plan"] = at_counts.objective if at_counts.has_solution else None
            if (
                at_counts.has_solution
                and at_counts.objective is not None
                and sense * at_counts.objective > sense * value
            ):
                first, value = at_counts, float(at_counts.objective)
                plan = {v.name: float(v.varValue or 0.0) for v in prob.variables()}
            else:
                for v in prob.variables():
                    v.varValue = plan.get(v.name, 0.0)
        if _proven_by_count(value, counted.bound, sense, options.mip_gap):
            proven = sense * max(sense * counted.bound, sense * value)  # never past the plan (the bound's margin)
            return _finish(replace(first, status="optimal", bound=proven), t0, steps)
    gap = max(options.mip_gap, _FLOOR_RESOLUTION) * max(abs(value), 1.0)
    floor = value + sense * gap
    # Flipping decision k from its LP bound lowers the LP's gain bound by at least its flip cost (the LP dual
    # stays feasible); a plan above the floor can only flip decisions whose cost is within bound - floor.
    flip_costs = sense * np.where(xs[integral] >= 1 - _INTEGRAL, rs[integral], -rs[integral])
    sure = integral[flip_costs > sense * (bound - floor) + _MARGIN * max(abs(value), 1.0)]
    steps["sites_fixed_by_reduced_cost"] = len(sure)
    held = {int(k): float(round(xs[k])) for k in sure}
    cons = constraint_dict(prob)
    prob += (prob.objective >= floor if sense > 0 else prob.objective <= floor, FLOOR_ROW)
    try:
        full = _solve_fixed(prob, sites, held, _left(options, t0))
    finally:
        cons.pop(FLOOR_ROW, None)
    steps["branch_and_bound_seconds"] = full.seconds
    limits = (floor, bound if count_bound is None else sense * min(sense * bound, sense * count_bound))
    return _finish(_above_floor(prob, full, value, plan, limits, sense, options), t0, steps)


def _proven_by_count(value: float, count: float, sense: float, mip_gap: float) -> bool:
    """Whether the plan's ``value`` is within ``mip_gap`` (or the bound's own margin) of the count bound."""
    return sense * (count - value) <= max(mip_gap * max(abs(value), 1.0), RESOLUTION * max(abs(count), 1.0))


def _solve_at_counts(model: PlanningModel, counted: CountBound, options: SolverOptions) -> SolveReport:
    """Step 3's plan: the whole problem with each type's site count held at the knapsack's (rows removed after).

    HiGHS' gap is at least the count bound's margin (:data:`~.count_bound.RESOLUTION`): a plan that close to
    the bound is proven by it.
    """
    prob = model.problem
    cons = constraint_dict(prob)
    names = []
    for (type_id, ys), n in zip(model.y.items(), counted.counts, strict=True):
        if ys:
            names.append(f"{COUNT_ROW}_{type_id}")
            prob += (pulp.lpSum(ys) == n, names[-1])
    try:
        return solve_highs_bulk(prob, replace(options, mip_gap=max(options.mip_gap, RESOLUTION)))
    finally:
        for name in names:
            cons.pop(name, None)


def _solve_fixed(
    prob: pulp.LpProblem, sites: list[pulp.LpVariable], values: dict[int, float], options: SolverOptions
) -> SolveReport:
    """``prob`` (converted afresh: it gained the floor row) with ``sites[k]`` fixed at ``values[k]`` in HiGHS only."""
    variables = prob.variables()
    bulk = bulk_lp(prob, variables)  # numbers the columns (v.index) of this conversion
    index = np.array([v.index for v in sites], dtype=np.int64)
    return solve_highs_bulk(prob, options, bulk=bulk, variables=variables, fixed=site_fixing(index, values))


def _left(options: SolverOptions, t0: float, share: float = 1.0) -> SolverOptions:
    """``options`` with ``share`` of the time limit left since ``t0`` (none left: 1 µs, so even a tiny limit is kept)."""
    if options.time_limit is None:
        return options
    return replace(options, time_limit=max(1e-6, share * (options.time_limit - (time.perf_counter() - t0))))


def _neighbourhood_fixed(xs: np.ndarray, rs: np.ndarray, integral: np.ndarray) -> dict[int, float]:
    """The site decisions step 2 fixes at their LP values: all but the fractional ones and the nearest to flipping.

    Free are the fractional decisions and the :data:`NEIGHBOURHOOD` times as
    many (at least :data:`MIN_FREE` in all) integral ones with the smallest
    reduced cost in absolute value (the cheapest to flip in the LP).
    Measured on the shipped default (176 fractional of 11,458; LP bound
    307,580,923): the fractional ones alone give 306,846,926 (0.24 % below the
    bound), with 3 × 176 more free 307,564,241 (0.005 %) in 2.8 s, with 10 ×
    or 30 × more the sub-MIP stops at its own gap further away (0.044 %, 0.053 %).
    """
    n_free = max(MIN_FREE, (1 + NEIGHBOURHOOD) * (len(xs) - len(integral)))
    by_cost = integral[np.argsort(np.abs(rs[integral]), kind="stable")]
    keep = by_cost[max(0, n_free - (len(xs) - len(integral))) :]
    return {int(k): float(round(xs[k])) for k in keep}


def _above_floor(
    prob: pulp.LpProblem,
    full: SolveReport,
    value: float,
    plan: dict[str, float],
    limits: tuple[float, float],
    sense: float,
    options: SolverOptions,
) -> SolveReport:
    """Step 4's report: the better of the floor-row solve's plan and the LP plan (``value``), the honest bound.

    ``limits`` = (floor, the better of the LP and count bounds). Every plan
    beyond the floor lies in the problem solved (floor row, decisions fixed by
    reduced cost), so the optimum is at most ``max(solver bound, floor)`` in
    gain terms, and never above the LP or count bound; "infeasible" leaves the
    floor as the bound.
    """
    floor, lp_bound = limits
    if full.status == "infeasible":
        gain_bound = sense * floor
    elif full.bound is not None and math.isfinite(full.bound):
        gain_bound = max(sense * full.bound, sense * floor)
    else:
        gain_bound = sense * lp_bound
    gain_bound = min(gain_bound, sense * lp_bound)
    if full.has_solution and full.objective is not None and sense * full.objective > sense * value:
        objective, message = float(full.objective), full.message
    else:
        for v in prob.variables():
            v.varValue = plan.get(v.name, 0.0)
        objective = value
        message = f"{full.message}; the plan of the LP's sub-MIP is kept (nothing beyond its value plus the gap found)"
        if full.status == "infeasible":
            message = "no plan beats the plan of the LP's sub-MIP by more than the gap: that plan is optimal"
    gain_bound = max(gain_bound, sense * objective)
    bound = sense * gain_bound
    gap = relative_gap(objective, bound)
    optimal = gap is not None and gap <= max(options.mip_gap, _FLOOR_RESOLUTION) * (1.0 + 1e-9)
    status = "optimal" if optimal else "feasible"
    prob.assignStatus(pulp.LpStatusOptimal, pulp.LpSolutionOptimal if optimal else pulp.LpSolutionIntegerFeasible)
    return replace(full, status=status, objective=objective, bound=bound, gap=gap, message=message)


def _finish(
    report: SolveReport,
    t0: float,
    steps: dict[str, float | int | None],
    lp_bound: float | None = None,
    sense: float = 1.0,
) -> SolveReport:
    """The report of the whole solve: its seconds, the LP bound where it is better, the steps in ``extra``.

    ``report`` is of the whole problem (its bound holds); ``lp_bound`` (gain
    sense ``sense``) replaces it where it is tighter or where there is none.
    """
    bound = report.bound
    if lp_bound is not None and report.objective is not None:
        whole = bound is not None and math.isfinite(bound)
        bound = sense * min(sense * bound, sense * lp_bound) if whole and bound is not None else lp_bound
        bound = sense * max(sense * bound, sense * report.objective)
    gap = relative_gap(report.objective, bound) if report.objective is not None else report.gap
    return replace(
        report, bound=bound, gap=gap, seconds=time.perf_counter() - t0, extra=dict(report.extra, lp_plan=steps)
    )
