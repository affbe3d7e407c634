r"""Equity stage 1's plan search: fix-and-optimise around the bottleneck units, from the plain solve's plan.

Stage 1 maximises ``t``, the lowest coverage rate among the compared units.
Its plain solve (:func:`~optimizer.planning.equity_bound.solve_stage1`'s first
step) ends with a plan well below the best known on the Zhejiang default
(0.309 against 0.324, under load), and branch and bound on the whole problem
raises it only slowly: ninety counties sit near the level and one county's
rise moves nothing. This module raises it by *neighbourhoods*: every site
decision outside the neighbourhood fixed at the current plan, the problem
solved as it is (every row kept) with

.. math::

   \max t \quad\text{s.t.}\quad t \ge t_0 + \delta,

:math:`t_0` the current plan's level and :math:`\delta` the gap to prove.
Every plan a neighbourhood finds is thus an improvement by more than the gap,
and "infeasible" ends the neighbourhood at once. A neighbourhood frees

- the *home* areas: the capped units (``PlanningModel.unit_caps``, the
  prefecture cities on the default) that hold a *bottleneck* unit, one whose
  rate is within the gap of :math:`t_0` (they all have to rise), and
- one *donor*: another capped unit (most headroom first: the highest lowest
  rate among its units), or one facility family region-wide (money moves
  between cities only through the shared total and family budgets).

After an improvement the bottleneck units are found again and the donors
asked again from the first (the donor that paid goes first). The search ends
when every neighbourhood of a pass is infeasible or stopped, or at its
deadline. It proves nothing (the bounds do); every plan it returns is scored
on the whole problem (:func:`~optimizer.planning.equity_search.score_plan`)
and it never returns a plan below its start. The problem is restored after
every sub-solve (bounds of the fixed decisions, the floor row, the objective).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pulp

from ..solvers import SolverOptions
from ..solvers.highs_bulk import constraint_dict
from .equity_lns import _site_areas, _site_families, _solve_fixed
from .equity_search import LEVEL_RESOLUTION, equity_row_units, score_plan

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = ["improve_stage1", "unit_rates"]

#: Name of the row ``t ≥ level + gap`` of a neighbourhood's solve (removed after it).
PLAN_FLOOR_ROW = "equity_plan_floor"
#: Share of stage 1's time left after the plain solve for this search (see :func:`search_deadline`; 0 switches it
#: off). Measured on the Zhejiang default from the plain solve's 0.30927 (benchmarks/README.md, session 16): alone
#: for 120 s at load 2-4, 0.3161 in 5 s, 0.3200 in 67 s; inside stage 1 (~83 s, load 2.4-3.7) 0.3183, below the 0.3202
#: the probes reached without it in the A/B run: not yet at the goal (0.324), so off by default (0.3 was measured).
STAGE1_SHARE = 0.0
#: Cap on one neighbourhood's solve, as a share of the search's time.
NEIGHBOURHOOD_SHARE = 0.25
#: ... and at least this many seconds (a model of the default's size takes a few seconds to pass to HiGHS).
NEIGHBOURHOOD_SECONDS = 5.0


def unit_rates(model: PlanningModel, values: dict[str, float | None]) -> dict[str, float]:
    """Each compared unit's coverage rate at ``values``, by equity row name (units with a positive denominator)."""
    rates = {}
    for key, expr in model.unit_expr.items():
        d = model.unit_denominator.get(key, 0.0)
        if d <= 0:
            continue
        total = float(expr.constant) + sum(float(c) * float(values.get(v.name) or 0.0) for v, c in expr.items())
        rates[f"equity_{key}"] = total / d
    return rates


def _unit_areas(model: PlanningModel, areas: dict[str, list[pulp.LpVariable]]) -> dict[str, set[str]]:
    """The areas holding each compared unit, by equity row name (empty: a unit under no capped unit)."""
    labels = equity_row_units(model)
    chains = model.scenario.region.ancestors_of(labels.values())
    return {name: {a for a in chains.get(label, []) if a in areas} for name, label in labels.items()}


def _neighbourhoods(
    model: PlanningModel,
    areas: dict[str, list[pulp.LpVariable]],
    unit_areas: dict[str, set[str]],
    rates: dict[str, float],
    level: float,
    target: float,
    first: str | None,
) -> list[tuple[str, list[pulp.LpVariable]]]:
    """The neighbourhoods to ask at ``level``, each a name and its free site decisions (home areas + one donor)."""
    bottleneck = [name for name, rate in rates.items() if rate < level + target]
    home: set[str] = set().union(*(unit_areas.get(name, set()) for name in bottleneck)) if bottleneck else set()
    home_vars = [v for a in sorted(home) for v in areas[a]]
    headroom: dict[str, float] = {}
    for name, rate in rates.items():
        for a in unit_areas.get(name, set()):
            headroom[a] = min(headroom.get(a, math.inf), rate)
    donors = sorted((a for a in areas if a not in home), key=lambda a: -headroom.get(a, math.inf))
    out: list[tuple[str, list[pulp.LpVariable]]] = [(f"area {a}", home_vars + areas[a]) for a in donors]
    home_names = {v.name for v in home_vars}
    for family, ys in _site_families(model).items():
        out.append((f"family {family}", home_vars + [v for v in ys if v.name not in home_names]))
    if not out and home_vars:
        out.append(("home", home_vars))
    if first is not None:
        out.sort(key=lambda item: item[0] != first)
    return out


def search_deadline(deadline: float) -> float | None:
    """When the search stops in a stage 1 ending at ``deadline``: :data:`STAGE1_SHARE` of the time left (``None``: off)."""
    if STAGE1_SHARE <= 0:
        return None
    now = time.perf_counter()
    return now + STAGE1_SHARE * max(0.0, deadline - now)


def improve_stage1(
    model: PlanningModel,
    plan: dict[str, float | None],
    lo: float,
    options: SolverOptions,
    deadline: float,
) -> tuple[dict[str, float | None], float, list[dict]]:
    """Raise stage 1's plan ``plan`` (level ``lo`` on the whole problem) by neighbourhoods until ``deadline``.

    Parameters
    ----------
    model
        The stage-1 model (objective ``t``).
    plan
        A plan's variable values (its integer decisions are what counts).
    lo
        That plan's level on the whole problem (:func:`~optimizer.planning.equity_search.score_plan`).
    options
        Solver options (``mip_gap`` sets the improvement each neighbourhood must bring).
    deadline
        ``time.perf_counter()`` value at which the search stops.

    Returns
    -------
    plan, lo, records
        The best plan (``plan`` itself if none beat it) and its level, scored
        on the whole problem, and one record per neighbourhood solve.
    """
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    areas = _site_areas(model)
    unit_areas = _unit_areas(model, areas)
    sites = [v for ys in model.y.values() for v in ys]
    target = max(options.mip_gap, LEVEL_RESOLUTION) * max(1.0, abs(lo))
    cap = max(NEIGHBOURHOOD_SECONDS, NEIGHBOURHOOD_SHARE * (deadline - time.perf_counter()))
    records: list[dict] = []
    best, level = plan, lo
    first: str | None = None
    improved = True
    while improved:
        improved = False
        rates = unit_rates(model, best)
        for name, free in _neighbourhoods(model, areas, unit_areas, rates, level, target, first):
            left = deadline - time.perf_counter()
            if left < 1.0:
                improved = False
                break
            found, value, record = _ask(model, name, free, sites, best, level + target, options, min(left, cap))
            records.append(record)
            if found is not None and value is not None and value >= level + target * (1.0 - 1e-9):
                best, level, first, improved = found, value, name, True
                break
    return _scored(model, t_expr, plan, lo, best, options, deadline, records)


def _ask(
    model: PlanningModel,
    name: str,
    free: list[pulp.LpVariable],
    sites: list[pulp.LpVariable],
    plan: dict[str, float | None],
    floor: float,
    options: SolverOptions,
    seconds: float,
) -> tuple[dict[str, float | None] | None, float | None, dict]:
    """Max t above ``floor`` with every site decision but ``free`` fixed at ``plan``; its plan, level and record."""
    prob = model.problem
    cons = constraint_dict(prob)
    t0 = time.perf_counter()
    free_names = {v.name for v in free}
    fixed = [v for v in sites if v.name not in free_names]
    objective = prob.objective
    prob += (model.t >= floor, PLAN_FLOOR_ROW)
    prob.setObjective(pulp.LpAffineExpression([(model.t, 1.0)]))
    try:
        report, values = _solve_fixed(model, fixed, plan, replace(options, time_limit=seconds))
    finally:
        cons.pop(PLAN_FLOOR_ROW, None)
        prob.setObjective(objective)
    value = float(report.objective) if values is not None and report.objective is not None else None
    record = {
        "neighbourhood": name,
        "free": len(free),
        "floor": floor,
        "status": report.status,
        "value": value,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return values, value, record


def _scored(
    model: PlanningModel,
    t_expr: pulp.LpAffineExpression,
    start: dict[str, float | None],
    lo: float,
    best: dict[str, float | None],
    options: SolverOptions,
    deadline: float,
    records: list[dict],
) -> tuple[dict[str, float | None], float, list[dict]]:
    """The best plan scored on the whole problem, or the start if it scores no better."""
    if best is start:
        return start, lo, records
    prob = model.problem
    objective = prob.objective
    # The score is an LP with every decision fixed: it gets its time even past the deadline (seconds on the default).
    left = max(30.0, deadline - time.perf_counter())
    try:
        value, values = score_plan(prob, t_expr, best, replace(options, time_limit=left))
    finally:
        prob.setObjective(objective)
    if value is None or value <= lo:
        return start, lo, records
    return values, value, records
