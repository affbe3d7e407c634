"""Why a plan cannot exist: unmet hard standards and budget shortfalls, summarised to fit a screen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd
import pulp

from ..errors import InfeasibleError
from ..scenario import Standard
from ..solvers.options import SolverOptions
from ..solvers.pulp_path import solve_problem

if TYPE_CHECKING:
    from .model import PlanningModel

#: A diagnosis lists at most this many standards (and budget scopes); ``regionopt validate --details`` lists all.
DIAGNOSIS_LIMIT = 10
#: What a diagnosis line tells of a standard besides the standard (e.g. how many are missing).
Payload = TypeVar("Payload")
#: A standard of the model: the standard, how many facilities it misses, the build variables that count for it.
StandardRow = tuple[Standard, int, list[pulp.LpVariable]]
DETAILS_COMMAND = "regionopt validate --details"


def _plural(level: str) -> str:
    """``township`` -> ``townships``, ``county`` -> ``counties``; a level not in plain English -> ``units of level 'x'``."""
    if not level.isascii() or not level.replace("_", "").isalpha():
        return f"units of level {level!r}"
    if level.endswith("y") and level[-2:-1] not in ("a", "e", "i", "o", "u"):
        return level[:-1] + "ies"
    if level.endswith(("s", "x", "ch", "sh")):
        return level + "es"
    return level + "s"


def _examples(group: Sequence[tuple[Standard, object]], names: pd.Series, shown: int = 3) -> str:
    """``West 2 (c1-2), West 3 (c1-3), West 4 (c1-4) and 8 more``: the first units of a summarised group."""
    listed = ", ".join(f"{names.get(std.unit_id, std.unit_id)} ({std.unit_id})" for std, _ in group[:shown])
    return listed + (f" and {len(group) - shown} more" if len(group) > shown else "")


def summarise_standards(
    items: list[tuple[Standard, Payload]],
    units: pd.DataFrame,
    *,
    one: Callable[[Standard, Payload], str],
    many: Callable[[str, str, str, list[tuple[Standard, Payload]]], str],
    details: bool = False,
) -> list[str]:
    """Diagnosis lines for standards: one each when few, else grouped by level, type and parent unit.

    Parameters
    ----------
    items
        ``(standard, payload)`` in the order to report them.
    units
        The admin units (``name``, ``parent_id``), indexed by ``unit_id``.
    one
        The line for a single standard.
    many
        The line for a group: ``many(plural_level, parent, facility_type, items)``, with
        ``plural_level`` e.g. ``"townships"`` and ``parent`` e.g. ``"舟山市 (330900)"``.
    details
        One line per standard, however many (``regionopt validate --details``).

    Returns
    -------
    list of str
        At most :data:`DIAGNOSIS_LIMIT` lines plus a last "… and N more" line
        naming ``regionopt validate --details``, unless ``details``.
    """
    if details or len(items) <= DIAGNOSIS_LIMIT:
        return [one(std, payload) for std, payload in items]
    groups: dict[tuple[str, str, str | None], list[tuple[Standard, Payload]]] = {}
    for std, payload in items:
        parent = units["parent_id"].get(std.unit_id) if "parent_id" in units else None
        parent = None if parent is None or pd.isna(parent) else str(parent)
        groups.setdefault((std.level, std.facility_type, parent), []).append((std, payload))
    lines = []
    for (level, type_id, parent), group in groups.items():
        if len(group) == 1:
            lines.append(one(*group[0]))
            continue
        where = "the region" if parent is None else f"{units['name'].get(parent, parent)} ({parent})"
        lines.append(many(_plural(level), where, type_id, group))
    if len(lines) > DIAGNOSIS_LIMIT:
        rest = len(lines) - DIAGNOSIS_LIMIT
        lines = lines[:DIAGNOSIS_LIMIT] + [
            f"… and {rest} more such line{'s' if rest > 1 else ''} ({DETAILS_COMMAND} lists every standard)"
        ]
    return lines


def _min_cost_of_standards(
    model: PlanningModel, rows: list[StandardRow], required: list[pulp.LpVariable]
) -> float | None:
    """Least cost (a proven lower bound) of meeting ``rows`` (hard standards) with the ``required`` sites built."""
    lp = pulp.LpProblem("min_cost_standards", pulp.LpMinimize)
    seen: dict[str, pulp.LpVariable] = {}

    def var(v: pulp.LpVariable) -> pulp.LpVariable:
        if v.name not in seen:
            seen[v.name] = pulp.LpVariable(v.name, lowBound=v.lowBound, upBound=1, cat=pulp.LpInteger)
        return seen[v.name]

    for _std, need, ys in rows:
        lp += pulp.lpSum(var(v) for v in ys) >= need
    for v in required:
        var(v)
    lp.setObjective(pulp.LpAffineExpression([(v, model._var_cost[name]) for name, v in seen.items()]))
    rep = solve_problem(lp, SolverOptions(time_limit=60))
    if not rep.has_solution:
        return None
    return rep.bound if rep.bound is not None else rep.objective


def _budget_shortfalls(model: PlanningModel, details: bool = False) -> list[str]:
    """Hard standards that the budget cannot pay for, with the shortfall in yuan.

    For the total budget, each family cap and each per-unit cap, the
    cheapest way to meet the hard standards in its scope (required sites
    included, coverage ignored) is computed exactly by a small integer
    program; where it exceeds the cap, the finding names the scope, the
    cheapest cost, the cap and the shortfall, followed by the standards
    in that scope (unit, facility type, how many are missing, their cost).
    An empty list means money is not why the hard standards fail.

    Parameters
    ----------
    details
        List every standard of every scope. By default a scope with more
        than :data:`DIAGNOSIS_LIMIT` standards is summarised by level,
        type and parent unit, and at most that many lines and scopes are
        listed, each list ending with "… and N more".
    """
    model.problem  # noqa: B018 - make sure standards are enumerated
    sc = model.scenario
    units = sc.region.admin_units
    names = units["name"]
    hard = [(std, need, ys) for std, need, ys in model.standard_rows if std.hard]
    if not hard:
        return []
    model._var_cost = {v.name: model.types[t].ftype.cost for t, ys in model.y.items() for v in ys}
    family_of = {v.name: model.types[t].ftype.family for t, ys in model.y.items() for v in ys}
    site_of = {v.name: int(model.types[t].sites[pos]) for t, ys in model.y.items() for pos, v in enumerate(ys)}
    required = [v for ys in model.y.values() for v in ys if (v.lowBound or 0) >= 1]
    cost_of = lambda std, need: need * sc.catalogue[std.facility_type].cost  # noqa: E731

    def describe(std: Standard, need: int) -> str:
        return (
            f"standard '{std.facility_type}' in {names.get(std.unit_id, std.unit_id)} ({std.unit_id}, {std.level}): "
            f"{need} missing, {cost_of(std, need):,.0f} yuan"
        )

    def describe_group(plural: str, parent: str, type_id: str, group: list[tuple[Standard, int]]) -> str:
        missing = sum(need for _std, need in group)
        cost = sum(cost_of(std, need) for std, need in group)
        return (
            f"{len(group)} {plural} of {parent}: standard '{type_id}' {missing} missing, {cost:,.0f} yuan: "
            + _examples(group, names)
        )

    findings: list[str] = []
    scopes_short = 0

    def check(rows: list[StandardRow], req: list[pulp.LpVariable], cap: float, scope: str, cap_name: str) -> None:
        nonlocal scopes_short
        if not rows:
            return
        cheapest = model._min_cost_of_standards(rows, req)
        if cheapest is None or cheapest <= cap + 1e-6:
            return
        scopes_short += 1
        if scopes_short > DIAGNOSIS_LIMIT and not details:
            return  # counted, summarised after the loop
        findings.append(
            f"meeting {scope} costs at least {cheapest:,.0f} yuan"
            + (" (with the required sites)" if req else "")
            + f"; {cap_name} is {cap:,.0f} yuan — short by {cheapest - cap:,.0f} yuan"
        )
        ordered = [(std, need) for std, need, _ys in sorted(rows, key=lambda r: -cost_of(r[0], r[1]))]
        findings.extend(
            summarise_standards(
                ordered, units, one=lambda std, need: describe(std, need), many=describe_group, details=details
            )
        )

    check(hard, required, float(sc.budget.total), "every hard standard", "the budget")
    for family, amount in sc.budget.per_family.items():
        rows = [r for r in hard if sc.catalogue[r[0].facility_type].family == family]
        req = [v for v in required if family_of[v.name] == family]
        check(
            rows, req, float(amount), f"the hard standards of family '{family}'", f"its cap budget.per_family.{family}"
        )
    if sc.budget.per_unit:
        # Sites inside each unit (ancestors included), and the units inside each unit.
        inside = model.site_units.groupby("unit_id")["row"].apply(lambda r: set(r.tolist())).to_dict()
        for i, cap in enumerate(sc.budget.per_unit):
            for unit_id in units.index[units["level"].isin(cap.levels)].astype(str):
                unit_amount = cap.overrides.get(unit_id, cap.amount)
                if unit_amount is None:
                    continue
                sites = inside.get(unit_id, set())
                rows = [r for r in hard if r[2] and all(site_of[v.name] in sites for v in r[2])]
                req = [v for v in required if site_of[v.name] in sites]
                check(
                    rows,
                    req,
                    float(unit_amount),
                    f"the hard standards in {names.get(unit_id, unit_id)} ({unit_id})",
                    f"its cap budget.per_unit[{i}]",
                )
    if scopes_short > DIAGNOSIS_LIMIT and not details:
        findings.append(
            f"… and {scopes_short - DIAGNOSIS_LIMIT} more budgets or caps too small for their hard "
            f"standards ({DETAILS_COMMAND} lists every one)"
        )
    return findings


def _diagnose(model: PlanningModel, details: bool = False) -> list[str]:
    """Plain-language reasons why no plan can satisfy the hard constraints.

    Hard standards without enough sites are listed one per line when
    there are at most :data:`DIAGNOSIS_LIMIT` of them (or ``details``);
    otherwise summarised by level, type and parent unit ("35 townships
    of 舟山市 (330900) have no candidate site for 'cultural_station'"),
    at most that many lines, ending with "… and N more".
    """
    model.problem  # noqa: B018 - make sure standards are enumerated
    sc = model.scenario
    units = sc.region.admin_units
    names = units["name"]
    findings: list[str] = []
    hard_unmet = [(std, need, ys) for std, need, ys in model.standard_rows if std.hard]
    no_sites = [(std, (need, len(ys))) for std, need, ys in hard_unmet if len(ys) < need]

    def one(std: Standard, need_sites: tuple[int, int]) -> str:
        need, n_sites = need_sites
        return (
            f"standard '{std.facility_type}' in {names.get(std.unit_id, std.unit_id)} ({std.unit_id}, "
            f"{std.level}) needs {need} more, but only {n_sites} candidate site(s) there may host one"
        )

    def many(plural: str, parent: str, type_id: str, group: list) -> str:
        short = sum(need - n_sites for _std, (need, n_sites) in group)
        if all(n_sites == 0 for _std, (_need, n_sites) in group):
            return (
                f"{len(group)} {plural} of {parent} have no candidate site for '{type_id}' ({short} missing): "
                + _examples(group, names)
            )
        return (
            f"{len(group)} {plural} of {parent} have too few candidate sites for '{type_id}' "
            f"({short} missing beyond the sites there): " + _examples(group, names)
        )

    findings.extend(summarise_standards(no_sites, units, one=one, many=many, details=details))
    if hard_unmet and not findings:
        findings.extend(model.budget_shortfalls(details=details))
    if sc.objective.kind == "min_cost":
        for type_id, share in sc.objective.coverage_targets.items():
            td = model.types[type_id]
            reach = np.zeros(len(td.population), bool)
            reach[td.rows] = True
            reach[td.ex_rows] = True
            best = float(td.population[reach].sum())
            total = model.total_population[type_id]
            if total and best < share * total - 1e-6:
                findings.append(
                    f"coverage target for '{type_id}' is {share:.1%}, but even building at every eligible "
                    f"site covers only {best / total:.1%}"
                )
    if not findings:
        # No single cause found: name the constraints that are in play together.
        parts = ["the budget (budget.total)"]
        if sc.budget.per_unit:
            parts.append("the caps per unit (budget.per_unit)")
        if sc.budget.per_family:
            parts.append("the caps per family (budget.per_family)")
        if sc.sites.required:
            parts.append("the required sites (sites.required)")
        if any(std.hard for std, _need, _ys in model.standard_rows):
            parts.append("the hard standards")
        if sc.objective.kind == "min_cost" and sc.objective.coverage_targets:
            parts.append("the coverage targets (objective.coverage_targets)")
        listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        findings.append(f"these cannot all hold together: {listed}; relax one of them")
    return findings


def _check_hard_standards(model: PlanningModel, details: bool = False) -> None:
    """Raise :class:`InfeasibleError` if the hard standards cannot hold, before any solve.

    Two exact checks: a standard with fewer eligible sites in its unit
    than facilities missing, and hard standards the budget (total,
    family or unit caps) cannot pay for. ``details``: the diagnosis lists
    every standard instead of a summary (``regionopt validate --details``).
    """
    model.problem  # noqa: B018 - standards are enumerated while building
    source = model.scenario.source_path
    if any(s.hard and len(ys) < need for s, need, ys in model.standard_rows):
        raise InfeasibleError(
            "no plan can meet the hard standards",
            diagnosis=model.diagnose(details=details),
            file=source,
            hint="add candidate sites in these units, allow the type at more site kinds "
            "(facility_types.<type>.sites), or make the standards soft (standards.mode: soft)",
        )
    shortfalls = model.budget_shortfalls(details=details)
    if shortfalls:
        raise InfeasibleError(
            "no plan can meet the hard standards within the budget",
            diagnosis=shortfalls,
            file=source,
            hint="raise the budget or cap by the shortfall, or make the standards soft (standards.mode: soft)",
        )
