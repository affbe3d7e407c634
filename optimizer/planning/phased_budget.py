"""Budget rows of a phased plan: spending per period (with or without carry-over), family and unit caps.

Split from :mod:`optimizer.planning.phased` (one job: the money side of the
multi-period program); the functions take the :class:`PhasedPlanningModel`
being built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulp

if TYPE_CHECKING:  # pragma: no cover - annotations only (phased.py imports this module)
    from .phased import PhasedPlanningModel

__all__ = ["add_budget_rows"]


def add_budget_rows(
    model: PhasedPlanningModel, prob: pulp.LpProblem
) -> tuple[pulp.LpAffineExpression, list[pulp.LpAffineExpression]]:
    """Budget rows per period (with or without carry-over) and horizon caps.

    Returns gross spending (every build and repurposing, for the tie-break)
    and net spending per period.
    """
    sc = model.scenario
    T = len(model.phases)
    spend, gross, by_family, by_site, by_fac = _spending(model)
    budgets = [p.budget for p in model.phases]
    for t in range(T):
        if model.periods.carry_over:
            prob += (pulp.lpSum(spend[: t + 1]) <= float(sum(budgets[: t + 1])), f"budget_{t}")
        else:
            prob += (spend[t] <= float(budgets[t]), f"budget_{t}")
    prob += (pulp.lpSum(spend) <= float(sc.budget.total), "budget_total")
    for family, amount in sc.budget.per_family.items():
        if by_family.get(family):
            prob += (_sum_terms(by_family[family]) <= amount, f"family_{family}")
    if sc.budget.per_unit:
        _unit_caps(model, prob, by_site, by_fac)
    return gross, spend


def _sum_terms(terms: list[tuple[pulp.LpVariable, float]]) -> pulp.LpAffineExpression:
    """``Σ c·v`` over ``terms``, adding up repeated variables (``LpAffineExpression(terms)`` keeps the last)."""
    e = pulp.LpAffineExpression()
    for v, c in terms:
        e.addterm(v, c)
    return e


def _spending(
    model: PhasedPlanningModel,
) -> tuple[
    list[pulp.LpAffineExpression],
    pulp.LpAffineExpression,
    dict[str, list[tuple[pulp.LpVariable, float]]],
    list[tuple[int, pulp.LpVariable, float]],
    list[tuple[int, pulp.LpVariable, float]],
]:
    """Net spending per period (closure values returned), gross spending, and its terms by family, site, facility."""
    sc = model.scenario
    base = model.base
    T = len(model.phases)
    spend = [pulp.LpAffineExpression() for _ in range(T)]
    gross = pulp.LpAffineExpression()
    by_family: dict[str, list[tuple[pulp.LpVariable, float]]] = {}
    by_site: list[tuple[int, pulp.LpVariable, float]] = []  # candidate row, variable, cost
    by_fac: list[tuple[int, pulp.LpVariable, float]] = []  # facility row, variable, cost
    for type_id, per_site in model.x.items():
        td = base.types[type_id]
        cost = td.ftype.cost
        if not cost:
            continue
        for pos, xs in enumerate(per_site):
            for t in range(len(xs)):
                for v, c in model.built_terms(type_id, pos, t):
                    spend[t].addterm(v, c * cost)
                    gross.addterm(v, c * cost)
                    by_family.setdefault(td.ftype.family, []).append((v, c * cost))
                    by_site.append((int(td.sites[pos]), v, c * cost))
    for e, qs in model.repurpose.items():
        rule = model.periods.closures[model.fac_types[e]]
        family = sc.catalogue[rule.repurpose_to].family
        for t, v in enumerate(qs):
            if rule.repurpose_cost:
                spend[t].addterm(v, rule.repurpose_cost)
                gross.addterm(v, rule.repurpose_cost)
                by_family.setdefault(family, []).append((v, rule.repurpose_cost))
                by_fac.append((e, v, rule.repurpose_cost))
    for e, cs in model.close.items():
        value = model.periods.closures[model.fac_types[e]].value
        for t, v in enumerate(cs):
            if value:
                spend[t].addterm(v, -value)
    return spend, gross, by_family, by_site, by_fac


def _unit_caps(
    model: PhasedPlanningModel,
    prob: pulp.LpProblem,
    by_site: list[tuple[int, pulp.LpVariable, float]],
    by_fac: list[tuple[int, pulp.LpVariable, float]],
) -> None:
    """One row per budget.per_unit cap and unit: over the horizon, spending inside the unit within the cap."""
    sc = model.scenario
    base = model.base
    units = sc.region.admin_units
    sites_by_unit = base.site_units.groupby("unit_id")["row"].apply(lambda s: set(s.tolist())).to_dict()
    fac_by_unit = base.fac_units.groupby("unit_id")["row"].apply(lambda s: set(s.tolist())).to_dict()
    for i, cap in enumerate(sc.budget.per_unit):
        for unit_id in units.index[units["level"].isin(cap.levels)].astype(str):
            amount = cap.overrides.get(unit_id, cap.amount)
            if amount is None:
                continue
            inside, facs = sites_by_unit.get(unit_id, set()), fac_by_unit.get(unit_id, set())
            terms = [(v, c) for j, v, c in by_site if j in inside] + [(v, c) for e, v, c in by_fac if e in facs]
            if terms:
                prob += (_sum_terms(terms) <= amount, f"cap_{i}_{unit_id}")
