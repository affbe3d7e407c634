"""Equity stage 2: the full solve, then fix-and-optimise by facility family from its plan (or stage 1's).

Stage 2 of the equity objective maximises weighted coverage while holding
stage 1's minimum rate. HiGHS 1.16 takes no safe MIP start (see
benchmarks/README.md, "HiGHS 1.16 MIP-start defect"), so the full solve
starts without the stage-1 plan and, on the Zhejiang default, sometimes
ends its 300 s with no plan of its own: the stage-1 plan is then kept with
its far lower coverage (measured: 269.3 M against a bound of 283.2 M, a
5.1 % gap, where another run found 283.0 M).

This module improves the full solve's plan (stage 1's when the full solve
has none) after it, without any MIP start: each
*neighbourhood* frees the site decisions of one facility family (culture,
health, education, elder care) and fixes every other site decision at the
current plan; the problem is solved as it is (stage 2's objective, the hold
row and every row a study added) with those bounds. The current plan is
feasible there, so every sub-solve can only keep or improve it, and a
family alone is a much smaller MIP that HiGHS solves in seconds. The full
stage-2 solve runs first, for most of the time (measured on the default at
load 1.6 with the rounds first: they took 60 s and the full solve, left
240 s, found 268.2 M against 283.0 M with 300 s in an earlier run); its
bound is stage 2's bound (valid for the whole problem), and the better of
its plan and the improved one is kept. Nothing here proves anything: the
fixing only finds plans.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pulp

from ..solvers import SolveReport, SolverOptions, relative_gap, solve_problem

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = ["improve_by_family", "solve_stage2"]

#: Share of stage 2's time limit kept for the fix-and-optimise rounds after the full solve, and the
#: cap on one neighbourhood's solve as a share of the time limit.
LNS_SHARE, NEIGHBOURHOOD_SHARE = 0.2, 0.1

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
    """Equity stage 2 (the hold row and the main objective already set): the full solve, then its plan improved.

    The full solve gets ``1 − LNS_SHARE`` of the time limit; unless it proves
    its plan optimal, the fix-and-optimise rounds start from its plan (from
    stage 1's when it found none) for the time left.

    The report's bound is the full solve's (``None`` if it has none), its
    objective the better plan's, whose values are left on the variables;
    ``optimal`` only when the full solve says so and its plan is kept, or
    the kept plan is within ``mip_gap`` of the full solve's bound.
    """
    prob = model.problem
    t0 = time.perf_counter()
    limit = options.time_limit
    full_limit = None if limit is None else max(1.0, (1.0 - LNS_SHARE) * limit)
    full = solve_problem(prob, replace(options, time_limit=full_limit))
    full_value = full.objective if full.has_solution else None
    if full.status == "optimal" or limit is None:
        return replace(full, extra={**full.extra, "fix_and_optimise": [], "full_solve": full.to_dict()})
    full_plan = {v.name: v.varValue for v in prob.variables()} if full_value is not None else None
    seconds = max(1.0, limit - (time.perf_counter() - t0))
    value, plan, records = improve_by_family(model, full_plan or stage1_plan, options, seconds)
    extra = {**full.extra, "fix_and_optimise": records, "full_solve": full.to_dict()}
    elapsed = time.perf_counter() - t0
    if value is None or (full_value is not None and full_value >= value):
        if full_plan is not None:  # the rounds' solves left their own values on the variables
            for v in prob.variables():
                v.varValue = full_plan.get(v.name)
        return replace(full, seconds=elapsed, extra=extra)
    # The fixed plan is better (or the full solve found none): report it against the full solve's bound.
    for v in prob.variables():
        if v.name in plan:
            v.varValue = plan[v.name]
    bound = full.bound
    gap = relative_gap(value, bound)
    optimal = gap is not None and gap <= options.mip_gap * (1.0 + 1e-9)
    return replace(
        full,
        status="optimal" if optimal else "feasible",
        objective=value,
        bound=bound,
        gap=gap,
        seconds=elapsed,
        message=f"{full.message}; the plan of the fix-and-optimise rounds (one family free at a time) is kept",
        extra=extra,
    )
