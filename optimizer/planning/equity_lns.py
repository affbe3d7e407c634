"""Equity stage 2: fix-and-optimise by facility family from stage 1's plan, then the full solve above it.

Stage 2 of the equity objective maximises weighted coverage while holding
stage 1's minimum rate. HiGHS 1.16 takes no safe MIP start (see
benchmarks/README.md, "HiGHS 1.16 MIP-start defect"), so a plain full solve
starts without the stage-1 plan and, on the Zhejiang default, often ends
its 300 s with no plan of its own or a poor one (measured: none in 240 s
and in 300 s; 268.2 M against a bound of 284.8 M in 240 s; 283.0 M once).

This module first improves stage 1's plan without any MIP start: each
*neighbourhood* frees the site decisions of one facility family (culture,
health, education, elder care) and fixes every other site decision at the
current plan; the problem is solved as it is (stage 2's objective, the hold
row and every row a study added) with those bounds. The current plan is
feasible there, so every sub-solve can only keep or improve it, and a
family alone is a much smaller MIP that HiGHS solves in seconds (measured
on the default: 3–13 s each, 274 M → 278.5 M in three rounds).

The full solve then runs for the time left with a floor row, "objective ≥
the rounds' value plus the gap to prove" — the one thing a MIP start would
give (pruning against a known plan) without the start mechanism: every plan
it finds beats the rounds' plan, and "no such plan" proves the rounds' plan
optimal. Its bound, raised to the floor, bounds the whole problem (every
plan outside the floor row is below the floor). The fixing itself proves
nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pulp

from ..solvers import SolveReport, SolverOptions, relative_gap, solve_problem
from ..solvers.highs_bulk import constraint_dict

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = ["improve_by_family", "solve_stage2"]

#: Share of stage 2's time limit for the fix-and-optimise rounds before the full solve, and the
#: cap on one neighbourhood's solve as a share of the time limit.
LNS_SHARE, NEIGHBOURHOOD_SHARE = 0.25, 0.1

#: Name of the row "objective ≥ the rounds' value plus the gap" of the full solve (removed after it).
FLOOR_ROW = "equity_stage2_floor"

#: The least gap the floor row proves (relative, HiGHS' convention), whatever ``mip_gap``: HiGHS accepts
#: rows 1e-7 off, so a floor closer than this to the rounds' value could be met by their own plan,
#: and HiGHS' own branch and bound stops at an absolute gap of 1e-6 in any case.
FLOOR_RESOLUTION = 1e-6

#: An improvement counts when it beats the plan by this much (relative, HiGHS' convention).
IMPROVEMENT = 1e-7


def _site_families(model: PlanningModel) -> dict[str, list[pulp.LpVariable]]:
    """The site decisions of each facility family (in catalogue order)."""
    families: dict[str, list[pulp.LpVariable]] = {}
    for type_id, ys in model.y.items():
        families.setdefault(model.types[type_id].ftype.family, []).extend(ys)
    return families


def _solve_fixed(
    model: PlanningModel, fixed: list[pulp.LpVariable], plan: dict[str, float | None], options: SolverOptions
) -> tuple[SolveReport, dict[str, float | None] | None]:
    """The problem with ``fixed`` held at ``plan`` (rounded); its report and every variable's value."""
    prob = model.problem
    bounds = [(v.lowBound, v.upBound) for v in fixed]
    try:
        for v in fixed:
            v.lowBound = v.upBound = float(round(plan.get(v.name) or 0.0))
        report = solve_problem(prob, options)
        values = {v.name: v.varValue for v in prob.variables()} if report.has_solution else None
    finally:
        for v, (low, up) in zip(fixed, bounds, strict=False):
            v.lowBound, v.upBound = low, up
    return report, values


def improve_by_family(
    model: PlanningModel, plan: dict[str, float | None], options: SolverOptions, seconds: float
) -> tuple[float | None, dict[str, float | None], list[dict]]:
    """Fix-and-optimise ``plan`` on the problem's current objective, one facility family free at a time.

    Rounds over the families until a round improves nothing or ``seconds``
    run out; each solve at most :data:`NEIGHBOURHOOD_SHARE` of
    ``options.time_limit``.

    Returns
    -------
    value, plan, records
        The best plan's objective (``None`` if no neighbourhood solve found
        a plan), its variable values (``plan`` itself without one) and one
        record per neighbourhood solve.
    """
    deadline = time.perf_counter() + seconds
    families = _site_families(model)
    all_sites = [v for ys in families.values() for v in ys]
    cap = None if options.time_limit is None else max(1.0, NEIGHBOURHOOD_SHARE * options.time_limit)
    best_value: float | None = None
    best = plan
    records: list[dict] = []
    improved = True
    while improved:
        improved = False
        for family, free in families.items():
            left = deadline - time.perf_counter()
            if left <= 1.0:
                return best_value, best, records
            t0 = time.perf_counter()
            free_names = {v.name for v in free}
            fixed = [v for v in all_sites if v.name not in free_names]
            limit = left if cap is None else min(left, cap)
            report, values = _solve_fixed(model, fixed, best, replace(options, time_limit=limit))
            value = report.objective
            records.append(
                {"family": family, "status": report.status, "value": value, "seconds": time.perf_counter() - t0}
            )
            if value is None or values is None:
                continue
            if best_value is None or value > best_value + IMPROVEMENT * max(1.0, abs(best_value)):
                # Another round only after a real gain (the first value found is the plan's own, or better).
                improved = improved or best_value is not None
                best_value, best = float(value), values
    return best_value, best, records


def solve_stage2(model: PlanningModel, stage1_plan: dict[str, float | None], options: SolverOptions) -> SolveReport:
    """Equity stage 2 (the hold row and the main objective already set): rounds from stage 1's plan, then the full solve.

    1. Fix-and-optimise rounds (:func:`improve_by_family`) from stage 1's
       plan, for at most :data:`LNS_SHARE` of the time limit.
    2. The full solve for the time left, with a *floor row*
       (:data:`FLOOR_ROW`): the objective at least the rounds' value plus the
       gap to prove. This hands the solver the rounds' value without a MIP
       start (HiGHS 1.16 defect): it only searches plans that beat the
       rounds' by more than the gap, and prunes every node below that.

    Exact either way: every plan outside the floor row is within the gap of
    the rounds' plan, so the optimum is at most ``max(bound, floor)`` for the
    full solve's bound on the rows it was given; "no such plan" (infeasible)
    proves the rounds' plan optimal at ``mip_gap``. Without a plan from the
    rounds (or without a time limit) the full solve runs alone, as before.

    The report's bound is that bound (``None`` if the full solve has none),
    its objective the better plan's, whose values are left on the variables.
    """
    prob = model.problem
    t0 = time.perf_counter()
    limit = options.time_limit
    value, plan, records = (
        (None, stage1_plan, [])
        if limit is None
        else (improve_by_family(model, stage1_plan, options, max(1.0, LNS_SHARE * limit)))
    )
    left = None if limit is None else max(1.0, limit - (time.perf_counter() - t0))
    if value is None:
        full = solve_problem(prob, replace(options, time_limit=left))
        extra = {**full.extra, "fix_and_optimise": records, "full_solve": full.to_dict()}
        return replace(full, seconds=time.perf_counter() - t0, extra=extra)
    floor = value + _gap_to_prove(options) * max(1.0, abs(value))
    cons = constraint_dict(prob)
    prob += (prob.objective >= floor, FLOOR_ROW)
    try:
        full = solve_problem(prob, replace(options, time_limit=left))
        full_plan = {v.name: v.varValue for v in prob.variables()} if full.has_solution else None
    finally:
        cons.pop(FLOOR_ROW, None)
    extra = {**full.extra, "fix_and_optimise": records, "full_solve": full.to_dict(), "floor": floor}
    return _stage2_report(prob, full, full_plan, value, plan, floor, options, time.perf_counter() - t0, extra)


def _gap_to_prove(options: SolverOptions) -> float:
    """The gap stage 2 proves: ``mip_gap``, at least :data:`FLOOR_RESOLUTION`."""
    return max(options.mip_gap, FLOOR_RESOLUTION)


def _stage2_report(
    prob: pulp.LpProblem,
    full: SolveReport,
    full_plan: dict[str, float | None] | None,
    value: float,
    plan: dict[str, float | None],
    floor: float,
    options: SolverOptions,
    seconds: float,
    extra: dict,
) -> SolveReport:
    """Stage 2's report from the floor-row solve ``full`` and the rounds' plan (``value``, ``plan``)."""
    if full.status == "infeasible":
        bound: float | None = floor  # no plan beats the rounds' by more than the gap
    elif full.bound is not None and math.isfinite(full.bound):
        bound = max(float(full.bound), floor)
    else:
        bound = None
    if full_plan is not None and full.objective is not None and full.objective > value:
        objective, kept, message = float(full.objective), full_plan, full.message
    else:
        objective, kept = value, plan
        message = f"{full.message}; the plan of the fix-and-optimise rounds (one family free at a time) is kept"
        if full.status == "infeasible":
            message = "the full solve above the plan of the fix-and-optimise rounds is infeasible: that plan is optimal"
    for v in prob.variables():
        if v.name in kept:
            v.varValue = kept[v.name]
    bound = None if bound is None else max(bound, objective)
    gap = relative_gap(objective, bound)
    optimal = gap is not None and gap <= _gap_to_prove(options) * (1.0 + 1e-9)
    return replace(
        full,
        status="optimal" if optimal else "feasible",
        objective=objective,
        bound=bound,
        gap=gap,
        seconds=seconds,
        message=message,
        extra=extra,
    )
