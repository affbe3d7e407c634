"""Equity stage 2: fix-and-optimise by facility family and by capped area from stage 1's plan, then the full solve.

Stage 2 of the equity objective maximises weighted coverage while holding
stage 1's minimum rate. HiGHS 1.16 takes no safe MIP start (see
benchmarks/README.md, "HiGHS 1.16 MIP-start defect"), so a plain full solve
starts without the stage-1 plan and, on the Zhejiang default, often ends
its 300 s with no plan of its own or a poor one (measured: none in 240 s
and in 300 s; 268.2 M against a bound of 284.8 M in 240 s; 283.0 M once).

This module first improves stage 1's plan without any MIP start: each
*neighbourhood* frees some site decisions and fixes every other one at the
current plan; the problem is solved as it is (stage 2's objective, the hold
row and every row a study added) with those bounds. The current plan is
feasible there, so every sub-solve can only keep or improve it, and a
neighbourhood is a much smaller MIP that HiGHS solves in seconds. The
neighbourhoods (:func:`stage2_neighbourhoods`) are each facility family
region-wide (culture, health, education, elder care: money moves between
the types of a family budget) and then each *capped area*, a unit with a
budget cap (the prefecture cities on the default), every type in it free
(money moves between types and towns under the city's cap). Families alone
stop where a city's cap binds: on the default with ``compare:
units_in_group`` they end at 267.0 M, and with the areas after them the
same 75 s reach 268.3 M (benchmarks/README.md, session 24).

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

__all__ = ["improve_by_neighbourhoods", "solve_stage2", "stage2_neighbourhoods"]

#: Share of stage 2's time limit for the fix-and-optimise rounds before the full solve, and the
#: cap on one neighbourhood's solve as a share of the time limit (on the default most take 1–7 s; one
#: city once ran 30 s without a plan, so a low cap keeps it from eating the rounds).
LNS_SHARE, NEIGHBOURHOOD_SHARE = 0.25, 0.05

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


def _site_areas(model: PlanningModel) -> dict[str, list[pulp.LpVariable]]:
    """The site decisions of each capped unit (a site in no capped unit is in the area ``""``)."""
    capped = set(model.unit_caps.values())
    rows = model.site_units
    area_of: dict[int, str] = {}
    for row, unit in zip(rows["row"].tolist(), rows["unit_id"].astype(str).tolist(), strict=False):
        if unit in capped and row not in area_of:
            area_of[int(row)] = unit
    areas: dict[str, list[pulp.LpVariable]] = {}
    for type_id, ys in model.y.items():
        for j, v in zip(model.types[type_id].sites.tolist(), ys, strict=False):
            areas.setdefault(area_of.get(int(j), ""), []).append(v)
    return areas


def stage2_neighbourhoods(model: PlanningModel) -> list[tuple[str, list[pulp.LpVariable]]]:
    """Stage 2's neighbourhoods, each a name and its free site decisions: every family, then every capped area (by id).

    An area is left out where it holds every site (one cap over the whole
    region: that neighbourhood would be the whole problem), and so are the
    sites in no capped unit (they are free in their families).
    """
    families = _site_families(model)
    n_sites = sum(len(ys) for ys in families.values())
    out = [(f"family {family}", ys) for family, ys in families.items()]
    out += [(f"area {a}", ys) for a, ys in sorted(_site_areas(model).items()) if a and len(ys) < n_sites]
    return out


def improve_by_neighbourhoods(
    model: PlanningModel, plan: dict[str, float | None], options: SolverOptions, seconds: float
) -> tuple[float | None, dict[str, float | None], list[dict]]:
    """Fix-and-optimise ``plan`` on the problem's current objective, one neighbourhood free at a time.

    Rounds over :func:`stage2_neighbourhoods` until a round improves nothing
    or ``seconds`` run out; each solve at most :data:`NEIGHBOURHOOD_SHARE` of
    ``options.time_limit``.

    Returns
    -------
    value, plan, records
        The best plan's objective (``None`` if no neighbourhood solve found
        a plan), its variable values (``plan`` itself without one) and one
        record per neighbourhood solve.
    """
    deadline = time.perf_counter() + seconds
    neighbourhoods = stage2_neighbourhoods(model)
    all_sites = [v for ys in model.y.values() for v in ys]
    cap = None if options.time_limit is None else max(1.0, NEIGHBOURHOOD_SHARE * options.time_limit)
    best_value: float | None = None
    best = plan
    records: list[dict] = []
    improved = True
    while improved:
        improved = False
        for name, free in neighbourhoods:
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
                {"neighbourhood": name, "status": report.status, "value": value, "seconds": time.perf_counter() - t0}
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

    1. Fix-and-optimise rounds (:func:`improve_by_neighbourhoods`) from stage 1's
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
        else (improve_by_neighbourhoods(model, stage1_plan, options, max(1.0, LNS_SHARE * limit)))
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
        message = f"{full.message}; the plan of the fix-and-optimise rounds (one family or capped area free at a time) is kept"
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
