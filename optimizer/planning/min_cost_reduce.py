"""``min_cost``: solve by facility type, with count cuts; budget rows checked and added only when violated.

Why the full model is hard (Zhejiang default, issue 14): its LP bound sits
3.6 % below the best plan after 300 s and branch and bound does not move it,
HiGHS' presolve of the whole model alone takes 35-50 s on a loaded machine,
and it finds its first plan late. Taken one facility type at a time the
same rows are small programs, and the types only meet in the budget rows
(total, per family, per unit).

Two exact devices:

Count cuts
    Every site of a type costs the same (``ftype.cost``), so cost is
    ``cost_k`` times the number of sites of type ``k``. The LP lets the last
    facility be built in part (and two half-open sites cover their shared
    demand in full), so its bound sits up to one facility per type below the
    optimum and branch and bound climbs it in steps of the small
    soft-standard penalties. ``min Σ_j y[k, j]`` over the type's own rows
    (coverage or assignment and capacity rows, the target row) is a
    relaxation of the model; its proven dual bound, rounded up, gives
    ``Σ_j y[k, j] ≥ N_k``, which every plan of the full model satisfies, so
    no plan is cut off. The count objective is integral, so HiGHS closes that
    program within seconds (heritage halls: 0.05 s for 23, where the LP
    allows 22.1; with the cut the heritage-hall program is solved in 0.6 s
    instead of a 2.4 % gap after 60 s).
Decomposition with row generation
    Rows that involve the variables of more than one type (the budget rows,
    and any such row a user added) are set aside; the rest split into one
    program per type, each solved with its count cut. The union of their
    plans is checked against the rows set aside: if it meets them all it is
    optimal for the whole model (the programs together are a relaxation of
    it), with the sum of their bounds as the bound. Otherwise the violated
    rows are added, the types they join are merged into one program, and
    only the merged programs are solved again, until no row is violated — at
    worst the whole model, with its count cuts.

Moving plans out of a violated row
    When the union breaks a set-aside row (Zhejiang default: Wenzhou's
    1-billion city cap), the types in it are re-planned one at a time,
    largest share first, at no more than their own optimum and with the other
    set-aside rows holding: first with their sites in the row closed, else
    minimising their share of it. If every row then holds, the union is still
    within the per-type gap of the summed bound: optimal. Else a greedy repair
    (:func:`_repair`), then merged programs as above; a repaired plan that is
    not proven stands if the merged programs find none.

Plans are also sought by diving on the LP (:func:`_lp_dive`): on the
Zhejiang default the middle schools reach their least count, 12, in
seconds, where branch and bound ends at 15 after 60 s. (``x[r, j] ≤ y[k, j]``
in the capacitated programs, measured once, made the whole solve slower:
338 s and a 4.52 % gap against 98 s and optimal at load ~6.)

A variable that belongs to no type (one a user added) leaves the model whole:
then only the count cuts are added.

Default with HiGHS (``PlanningModel.min_cost_count_cuts``): on the Zhejiang
default min_cost targets it proves 5,088,700,000 optimal (bound
5,088,055,179, 0.013 %) where the whole model ends at a 3.63 % gap after
300 s; 38.8 s end to end at load ~3 (benchmarks/README.md, "Every objective on the Zhejiang default").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import highspy
import pulp

from ..solvers.highs import new_highs
from ..solvers.highs_bulk import PULP_STATUS, bulk_lp, constraint_dict, solve_highs_bulk
from ..solvers.options import SolveReport, SolverOptions, relative_gap

if TYPE_CHECKING:
    from .model import PlanningModel

# Each count program gets at most this share of the scenario's time limit (and at most the cap, in s).
_COUNT_SHARE = 0.05
_COUNT_CAP_S = 10.0
# A proven bound is rounded up after this much slack, so solver round-off never cuts off a plan.
_COUNT_TOL = 1e-6
# Beyond this many sites of a type only the count program's LP is solved (its rounded-up optimum is the cut).
_COUNT_MIP_MAX_SITES = 500
# A set-aside row counts as met by the union of the plans within this tolerance (relative to its right side).
_ROW_TOL = 1e-6
_CUT_PREFIX = "count_"
# An LP-rounded plan that misses the target is tried again with up to this many more sites (a plan, not a proof).
_ROUND_EXTRA = 3

_Row = tuple[str, pulp.LpConstraint]


def _type_of_variables(model: PlanningModel) -> dict[str, str] | None:
    """Facility type of every variable of the problem (sites, coverage, shortfalls); ``None`` if one has none."""
    owner: dict[str, str] = {}
    for type_id, ys in model.y.items():
        owner.update((v.name, type_id) for v in ys)
        owner.update((v.name, type_id) for v in model.coverage_expr[type_id])
    for std, s in model.shortfall.items():
        owner[s.name] = std.facility_type
    if any(v.name not in owner for v in model.problem.variables()):
        return None
    return owner


def _copy_rows(problem: pulp.LpProblem, rows: list[_Row]) -> None:
    """Add ``rows`` (of the model) to ``problem``, sharing the model's variables."""
    for name, c in rows:
        # ``c.expr`` holds the left side's constant too; ``c.constant`` is left side minus right side
        expr = pulp.LpAffineExpression(list(c.expr.items()))
        problem.addConstraint(pulp.LpConstraint(expr, c.sense, rhs=-c.constant), name=name)


def least_sites(
    ys: list[pulp.LpVariable], rows: list[_Row], options: SolverOptions, lp_limit: float | None = None
) -> int:
    """A proven lower bound on ``Σ ys`` over ``rows`` (a relaxation of the model: rows of one type only).

    Solves the LP of ``min Σ ys`` s.t. ``rows`` (within ``lp_limit`` s) and,
    for at most :data:`_COUNT_MIP_MAX_SITES` sites, the integer program for
    at most ``options.time_limit`` seconds; rounds the better proven bound
    up. The variables keep the values they had.
    """
    count = pulp.LpProblem("count_sites", pulp.LpMinimize)
    _copy_rows(count, rows)
    count.setObjective(pulp.lpSum(ys))
    relaxed = _lp_bound(count, replace(options, time_limit=lp_limit))
    lp_count = 0 if relaxed is None else max(0, math.ceil(relaxed[0] - _COUNT_TOL * max(1.0, abs(relaxed[0]))))
    values = {v.name: v.varValue for v in count.variables()}
    if len(ys) > _COUNT_MIP_MAX_SITES:
        return lp_count
    try:
        report = solve_highs_bulk(count, options)
    finally:
        for v in count.variables():
            v.varValue = values[v.name]
    if report.status == "infeasible" or report.bound is None or not math.isfinite(report.bound):
        return lp_count  # an infeasible model is reported by the main solve, with its diagnosis
    return max(lp_count, math.ceil(report.bound - _COUNT_TOL * max(1.0, abs(report.bound))))


def _count_options(options: SolverOptions) -> SolverOptions:
    """Settings of the count programs: no gap, a short time limit, no output."""
    limit = _COUNT_CAP_S if options.time_limit is None else min(_COUNT_CAP_S, _COUNT_SHARE * options.time_limit)
    return replace(options, time_limit=limit, mip_gap=0.0, msg=False)


def _count_cut(ys: list[pulp.LpVariable], rows: list[_Row], options: SolverOptions) -> pulp.LpConstraint | None:
    """``Σ ys ≥ N`` with ``N`` from :func:`least_sites`, or ``None`` when the required sites already give ``N``."""
    n = least_sites(ys, rows, _count_options(options), options.time_limit)
    if n <= sum(v.lowBound or 0 for v in ys):
        return None
    return pulp.LpConstraint(pulp.lpSum(ys), pulp.LpConstraintGE, rhs=n)


def _violated(row: pulp.LpConstraint) -> bool:
    """Whether the current variable values break ``row`` (beyond :data:`_ROW_TOL`)."""
    value = sum((v.varValue or 0.0) * a for v, a in row.expr.items()) + row.constant
    tol = _ROW_TOL * max(1.0, abs(row.constant))
    if row.sense == pulp.LpConstraintLE:
        return value > tol
    if row.sense == pulp.LpConstraintGE:
        return value < -tol
    return abs(value) > tol


class _Split:
    """The model's rows by facility type, the rows that join types, and the count cut of each type."""

    def __init__(self, model: PlanningModel, owner: dict[str, str]) -> None:
        self.model = model
        self.owner = owner
        self.own: dict[str, list[_Row]] = {t: [] for t in model.y}
        self.joining: list[tuple[_Row, frozenset[str]]] = []
        self.empty: list[pulp.LpConstraint] = []
        for name, c in constraint_dict(model.problem).items():
            types = frozenset(owner[v.name] for v in c.expr)
            if not types:
                self.empty.append(c)
            elif len(types) == 1:
                self.own[next(iter(types))].append((name, c))
            else:
                self.joining.append(((name, c), types))
        self.cuts: dict[str, pulp.LpConstraint | None] = {}

    def add_count_cuts(self, options: SolverOptions) -> None:
        """The count cut of every type with a coverage target (see the module docstring)."""
        for type_id in self.model.scenario.objective.coverage_targets:
            if self.model.y.get(type_id):
                self.cuts[type_id] = _count_cut(self.model.y[type_id], self.own[type_id], options)

    def program(self, types: frozenset[str], joining: list[_Row]) -> pulp.LpProblem:
        """The min-cost program of ``types``: their rows, count cuts, the added joining rows, their objective."""
        prob = pulp.LpProblem("min_cost_" + "_".join(sorted(types)), pulp.LpMinimize)
        for t in sorted(types):
            _copy_rows(prob, self.own[t])
            cut = self.cuts.get(t)
            if cut is not None:
                _copy_rows(prob, [(f"{_CUT_PREFIX}{t}", cut)])
        _copy_rows(prob, joining)
        objective = self.model.problem.objective
        prob.setObjective(
            pulp.LpAffineExpression([(v, a) for v, a in objective.items() if self.owner[v.name] in types])
        )
        return prob


def _components(types: list[str], added: list[frozenset[str]]) -> list[frozenset[str]]:
    """Groups of types joined by the added rows (union-find)."""
    parent = {t: t for t in types}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for group in added:
        first, *rest = sorted(group)
        for t in rest:
            parent[find(t)] = find(first)
    comps: dict[str, set[str]] = {}
    for t in types:
        comps.setdefault(find(t), set()).add(t)
    return [frozenset(c) for c in comps.values()]


def _remaining(options: SolverOptions, t0: float) -> SolverOptions:
    """``options`` with the time limit less what has been spent since ``t0`` (at least 1 s)."""
    if options.time_limit is None:
        return options
    return replace(options, time_limit=max(1.0, options.time_limit - (time.perf_counter() - t0)))


def _share(options: SolverOptions, t0: float, programs: int) -> SolverOptions:
    """The time left since ``t0`` split evenly among ``programs`` still to solve (what one leaves, the next gets)."""
    left = _remaining(options, t0)
    if left.time_limit is None:
        return left
    return replace(left, time_limit=max(1.0, left.time_limit / max(1, programs)))


def _solve_whole(model: PlanningModel, options: SolverOptions, t0: float) -> SolveReport:
    """The whole model with the count cuts of its types (a user variable keeps it whole)."""
    cons = constraint_dict(model.problem)
    for name in [n for n in cons if n.startswith(_CUT_PREFIX)]:
        cons.pop(name)
    rows: dict[str, list[_Row]] = {t: [] for t in model.y}
    owner = {v.name: t for t, ys in model.y.items() for v in ys}
    owner.update((v.name, t) for t in model.y for v in model.coverage_expr[t])
    for name, c in cons.items():
        types = {owner.get(v.name) for v in c.expr}
        only = next(iter(types)) if len(types) == 1 else None
        if only is not None:
            rows[only].append((name, c))
    for t in model.scenario.objective.coverage_targets:
        if model.y.get(t):
            cut = _count_cut(model.y[t], rows[t], options)
            if cut is not None:
                model.problem.addConstraint(cut, name=f"{_CUT_PREFIX}{t}")
    report = solve_highs_bulk(model.problem, _remaining(options, t0))
    report.seconds = time.perf_counter() - t0
    return report


def solve_min_cost(model: PlanningModel, options: SolverOptions) -> SolveReport:
    """Solve a ``min_cost`` model exactly by type (see the module docstring), within the scenario's time limit.

    Variable values are set on the model's variables and the problem's
    status assigned, as :func:`~optimizer.solvers.solve_problem` does.
    """
    t0 = time.perf_counter()
    owner = _type_of_variables(model)
    if owner is None:
        return _solve_whole(model, options, t0)
    split = _Split(model, owner)
    if any(_violated(c) for c in split.empty):
        return _solve_whole(model, options, t0)  # reports the infeasible model with its diagnosis
    split.add_count_cuts(options)
    added: list[tuple[_Row, frozenset[str]]] = []
    reports: dict[frozenset[str], SolveReport] = {}
    rounds = 0
    fallback: tuple[SolveReport, dict[str, float | None]] | None = None  # the repaired plan, if not proven
    while True:
        rounds += 1
        comps = _components(list(model.y), [types for _row, types in added])
        pending = [comp for comp in comps if comp not in reports]  # the others' plans and bounds stand
        for k, comp in enumerate(pending):
            rows = [row for row, types in added if types <= comp]
            reports[comp] = _solve_program(split.program(comp, rows), _share(options, t0, len(pending) - k))
            if not reports[comp].has_solution:
                return _stopped(model, reports[comp], t0) if fallback is None else _restored(model, *fallback)
        reports = {c: r for c, r in reports.items() if c in comps}
        names = {name for (name, _c), _types in added}
        violated = [(row, types) for row, types in split.joining if _violated(row[1]) and row[0] not in names]
        if not violated:
            break
        if rounds == 1 and _shift(model, split, reports, options, t0):
            return _combined(model, list(reports.values()), t0, rounds, 0)
        if rounds == 1:
            repaired = _repair(model, split, violated, reports, options, t0)
            if repaired is not None and repaired.is_optimal:
                return repaired
            if repaired is not None:
                fallback = (repaired, {v.name: v.varValue for v in model.problem.variables()})
        added.extend(violated)
        # a program that gains rows is solved again, even when no types merge into it
        reports = {c: r for c, r in reports.items() if not any(types & c for _row, types in violated)}
    return _combined(model, list(reports.values()), t0, rounds, len(added))


def _site_variables(problem: pulp.LpProblem) -> list[pulp.LpVariable]:
    """The integer variables of ``problem`` (the site decisions)."""
    return [v for v in problem.variables() if v.cat == pulp.LpInteger]


def _lp_solve(
    problem: pulp.LpProblem, options: SolverOptions
) -> tuple[highspy.Highs, list[pulp.LpVariable], float] | None:
    """The LP relaxation of ``problem`` solved by HiGHS: the solver (for warm starts), the columns, the optimum."""
    variables = problem.variables()
    bulk = bulk_lp(problem, variables)
    bulk.lp.integrality_ = []
    h = new_highs(False)
    h.setOptionValue("output_flag", False)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    h.passModel(bulk.lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return h, variables, float(h.getInfo().objective_function_value) + bulk.constant


def _lp_bound(problem: pulp.LpProblem, options: SolverOptions) -> tuple[float, dict[str, float]] | None:
    """The LP relaxation's optimum of ``problem`` and its site values; ``None`` if it has none."""
    relaxed = _lp_solve(problem, options)
    if relaxed is None:
        return None
    h, variables, value = relaxed
    x = h.getSolution().col_value
    return value, {v.name: float(x[k]) for k, v in enumerate(variables) if v.cat == pulp.LpInteger}


def _lp_dive(
    h: highspy.Highs, variables: list[pulp.LpVariable], root: float, options: SolverOptions
) -> dict[str, int] | None:
    """A plan by diving on the LP: round the largest fractional site up while the LP stays within the gap of
    ``root``, else down; warm-started re-solves until every site is integral. ``None`` at a dead end.

    Zhejiang middle schools: 26 re-solves in 1.5 s to a plan at the least
    count (12), where the LP's own support holds none.
    """
    sites = [k for k, v in enumerate(variables) if v.cat == pulp.LpInteger]
    offset = root - float(h.getInfo().objective_function_value)
    limit = root + options.mip_gap * max(1.0, abs(root))
    lower = list(h.getLp().col_lower_)  # the bounds before the dive (a copy of the LP, taken once)
    t0 = time.perf_counter()
    for _ in range(2 * len(sites) + 1):
        x = h.getSolution().col_value
        frac = [(x[k] - math.floor(x[k]), k) for k in sites if _COUNT_TOL < x[k] - math.floor(x[k]) < 1 - _COUNT_TOL]
        if not frac:
            return {variables[k].name: round(x[k]) for k in sites}
        if options.time_limit is not None and time.perf_counter() - t0 > options.time_limit:
            return None
        _f, k = max(frac)
        h.changeColBounds(k, math.ceil(x[k]), math.ceil(x[k]))
        h.run()
        optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        if optimal and h.getInfo().objective_function_value + offset <= limit:
            continue
        h.changeColBounds(k, lower[k], math.floor(x[k]))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
    return None


def _fixed_solve(problem: pulp.LpProblem, plan: dict[str, int], options: SolverOptions) -> SolveReport:
    """Solve ``problem`` with its site variables fixed to ``plan`` (values set on the variables); bounds restored."""
    sites = _site_variables(problem)
    bounds = [(v.lowBound, v.upBound) for v in sites]
    try:
        for v in sites:
            v.lowBound = v.upBound = plan[v.name]
        return solve_highs_bulk(problem, options)
    finally:
        for v, (low, up) in zip(sites, bounds, strict=False):
            v.lowBound, v.upBound = low, up


def _rounded_plan(problem: pulp.LpProblem, y: dict[str, float], extra: int = 0) -> dict[str, int]:
    """Open the sites of largest LP value, as many per count cut as it asks (at least the LP's sum, rounded up),
    plus ``extra`` more."""
    plan = {name: int(value > 1 - _COUNT_TOL) for name, value in y.items()}
    for name, c in constraint_dict(problem).items():
        if not name.startswith(_CUT_PREFIX):
            continue
        names = [v.name for v in c.expr]
        want = max(-c.constant, math.ceil(sum(y[n] for n in names) - _COUNT_TOL)) + extra
        for n in sorted(names, key=lambda n: -y[n])[: int(want)]:
            plan[n] = 1
    return plan


def _certified(fixed: SolveReport, bound: float, options: SolverOptions, t0: float) -> SolveReport | None:
    """``fixed`` (a plan) reported optimal if within the gap of the LP ``bound``; else ``None``."""
    if not fixed.has_solution or fixed.objective is None:
        return None
    if fixed.objective - bound > options.mip_gap * max(abs(fixed.objective), 1.0):
        return None
    fixed.status, fixed.bound, fixed.gap = "optimal", bound, relative_gap(fixed.objective, bound)
    fixed.extra = {**fixed.extra, "lp_rounded": True}
    fixed.seconds = time.perf_counter() - t0
    return fixed


def _support_solve(problem: pulp.LpProblem, y: dict[str, float], options: SolverOptions) -> SolveReport:
    """Branch and bound among the sites the LP opens at all (the others closed); bounds restored.

    A small program (Zhejiang middle schools: 18 of 2,479 sites); its plan is
    a plan of ``problem``, optimal if it reaches the gap of the LP bound.
    """
    closed = [v for v in _site_variables(problem) if y[v.name] <= _COUNT_TOL and not v.lowBound]
    ups = [v.upBound for v in closed]
    try:
        for v in closed:
            v.upBound = 0
        return solve_highs_bulk(problem, options)
    finally:
        for v, up in zip(closed, ups, strict=False):
            v.upBound = up


def _plan_value(problem: pulp.LpProblem, y: dict[str, float], extra: int) -> float:
    """The site cost of the rounded plan with ``extra`` more sites (a lower bound on its objective)."""
    plan = _rounded_plan(problem, y, extra)
    objective = problem.objective
    return sum(a * plan[v.name] for v, a in objective.items() if v.name in plan) if objective is not None else 0.0


def _solve_program(problem: pulp.LpProblem, options: SolverOptions) -> SolveReport:
    """Solve one program: an LP-rounded plan or one among the LP's sites (optimal if within the gap of the LP
    bound), else branch and bound; stopped without a plan, the best of the former with the best bound."""
    t0 = time.perf_counter()
    relaxed = _lp_solve(problem, options) if _site_variables(problem) else None
    if relaxed is None:
        return solve_highs_bulk(problem, _remaining(options, t0))
    h, variables, bound = relaxed
    x = h.getSolution().col_value
    y = {v.name: float(x[k]) for k, v in enumerate(variables) if v.cat == pulp.LpInteger}
    fixed = _fixed_solve(problem, _rounded_plan(problem, y), _remaining(options, t0))
    done = _certified(fixed, bound, options, t0)
    if done is not None:
        return done
    best: tuple[float, dict[str, float | None]] | None = None

    def tries() -> Iterator[SolveReport]:
        yield fixed
        dived = _lp_dive(h, variables, bound, _remaining(options, t0))
        if dived is not None:
            yield _fixed_solve(problem, dived, _remaining(options, t0))
        yield _support_solve(problem, y, _remaining(options, t0))
        for extra in range(1, _ROUND_EXTRA + 1):
            if best is None or best[0] > _plan_value(problem, y, extra):
                yield _fixed_solve(problem, _rounded_plan(problem, y, extra), _remaining(options, t0))

    for report in tries():
        if report.has_solution and report.objective is not None and (best is None or report.objective < best[0]):
            best = (report.objective, {v.name: v.varValue for v in problem.variables()})
            done = _certified(report, bound, options, t0)
            if done is not None:
                return done
    mip = solve_highs_bulk(problem, _remaining(options, t0))
    mip_bound = max(bound, mip.bound) if mip.bound is not None else bound
    if best is None or (mip.has_solution and mip.objective is not None and mip.objective <= best[0]):
        if mip.has_solution and mip.objective is not None:
            mip.bound, mip.gap = mip_bound, relative_gap(mip.objective, mip_bound)
        return mip
    for v in problem.variables():
        v.varValue = best[1][v.name]
    problem.assignStatus(*PULP_STATUS["feasible"])
    return replace(
        mip,
        status="feasible",
        objective=best[0],
        bound=mip_bound,
        gap=relative_gap(best[0], mip_bound),
        seconds=time.perf_counter() - t0,
    )


def _repair(
    model: PlanningModel,
    split: _Split,
    violated: list[tuple[_Row, frozenset[str]]],
    reports: dict[frozenset[str], SolveReport],
    options: SolverOptions,
    t0: float,
) -> SolveReport | None:
    """Re-plan the types of the violated rows one at a time within what the others leave; ``None`` unless proven.

    The types of the violated rows are taken out of them (their sites closed
    in the set-aside rows' view) and re-planned in turn, smallest share of
    the violated rows first, each with every set-aside row holding for the
    types already placed and the ones left alone. The per-type bounds of the
    first round stay a bound of the model: the repaired plan is optimal if it
    is within the gap of their sum, else feasible with that gap. ``None``
    (values restored) when a type finds no plan in what is left.
    """
    touched = sorted({t for _row, types in violated for t in types})
    bound_sum = sum(r.bound for r in reports.values() if r.bound is not None)
    saved = {v.name: v.varValue for v in model.problem.variables()}
    share = {
        t: sum(
            abs(a) * (v.varValue or 0.0)
            for (_n, c), _ in violated
            for v, a in c.expr.items()
            if split.owner[v.name] == t
        )
        for t in touched
    }
    placed = set(model.y) - set(touched)
    pending = sorted(touched, key=lambda t: share[t])
    for k, t in enumerate(pending):
        for v in model.problem.variables():
            if split.owner[v.name] in set(touched) - placed - {t}:
                v.varValue = 0.0
            elif split.owner[v.name] == t:
                v.varValue = saved[v.name]
        if not any(_violated(c) for (_n, c), types in split.joining if types & placed and t in types):
            placed.add(t)  # its first-round plan fits in what the types placed before it leave
            continue
        prob = split.program(frozenset({t}), [])
        for (name, c), types in split.joining:
            if t not in types:
                continue
            fixed = sum(a * (v.varValue or 0.0) for v, a in c.expr.items() if split.owner[v.name] != t)
            own = [(v, a) for v, a in c.expr.items() if split.owner[v.name] == t]
            prob.addConstraint(
                pulp.LpConstraint(pulp.LpAffineExpression(own), c.sense, rhs=-c.constant - fixed), name=name
            )
        report = _solve_program(prob, _share(options, t0, len(pending) - k))
        if not report.has_solution:
            for v in model.problem.variables():
                v.varValue = saved[v.name]
            return None
        placed.add(t)
    if any(_violated(c) for (_n, c), _ in split.joining):
        for v in model.problem.variables():
            v.varValue = saved[v.name]
        return None
    objective = model.problem.objective
    constant = float(objective.constant) if objective is not None else 0.0
    value = pulp.value(objective)
    bound = bound_sum + constant
    gap = relative_gap(value, bound)
    status = "optimal" if gap is not None and value - bound <= options.mip_gap * max(abs(value), 1.0) else "feasible"
    model.problem.assignStatus(*PULP_STATUS[status])
    first = next(iter(reports.values()))
    return SolveReport(
        status,
        value,
        bound,
        gap,
        time.perf_counter() - t0,
        first.solver,
        first.solver_version,
        "repaired",
        extra={"programs": len(reports), "repaired_types": touched},
    )


def _row_terms(row: pulp.LpConstraint, owner: dict[str, str], t: str) -> tuple[pulp.LpAffineExpression, float]:
    """Type ``t``'s part of ``row`` and the value of the other types' part (at the current plan)."""
    own = pulp.LpAffineExpression([(v, a) for v, a in row.expr.items() if owner[v.name] == t])
    others = sum(a * (v.varValue or 0.0) for v, a in row.expr.items() if owner[v.name] != t)
    return own, others


def _shift_program(
    split: _Split, t: str, report: SolveReport, violated: list[_Row], minimise_share: bool
) -> tuple[pulp.LpProblem, pulp.LpAffineExpression]:
    """Type ``t``'s program with every other set-aside row that involves ``t`` holding at the others' plans.

    ``minimise_share``: its objective kept no worse than its plan's
    (``report``) as a row, minimising its share of the ``violated`` rows
    instead. Returns the program and ``t``'s objective (its part of the
    model's).
    """
    prob = split.program(frozenset({t}), [])
    own_objective = prob.objective
    assert own_objective is not None and report.objective is not None
    shift = pulp.LpAffineExpression()
    for (name, c), types in split.joining:
        if t not in types:
            continue
        own, others = _row_terms(c, split.owner, t)
        if name in {n for n, _c in violated}:
            scale = max(1.0, abs(c.constant))
            shift += (own if c.sense == pulp.LpConstraintLE else -own) / scale
        else:
            prob.addConstraint(pulp.LpConstraint(own, c.sense, rhs=-c.constant - others), name=name)
    if minimise_share:
        keep = report.objective + _ROW_TOL * max(1.0, abs(report.objective))
        prob.addConstraint(pulp.LpConstraint(own_objective, pulp.LpConstraintLE, rhs=keep), name="keep_objective")
        prob.setObjective(shift)
    return prob, own_objective


def _closed_in(violated: list[_Row], sites: list[pulp.LpVariable]) -> list[pulp.LpVariable]:
    """The optional ``sites`` that spend in the violated ``≤`` rows (closing them lowers every one)."""
    names = {v.name for v in sites}
    spend = {
        v.name
        for _n, c in violated
        if c.sense == pulp.LpConstraintLE
        for v, a in c.expr.items()
        if a > 0 and v.name in names
    }
    return [v for v in sites if v.name in spend and not v.lowBound]


def _shift_type(
    split: _Split, t: str, report: SolveReport, violated: list[_Row], options: SolverOptions
) -> float | None:
    """Re-plan type ``t`` out of the ``violated`` rows at no more than its plan's value; its new value, or ``None``.

    First with every site of ``t`` in those rows closed (a program like the
    first round's, solved the same way: Zhejiang middle schools, none of 12
    in Wenzhou); else minimising its share with its value kept (branch and
    bound from the plan as it is). ``None`` (values restored) when neither
    finds a plan at that value.
    """
    t0 = time.perf_counter()
    keep = report.objective
    assert keep is not None
    keep += _ROW_TOL * max(1.0, abs(keep))
    prob, own_objective = _shift_program(split, t, report, violated, minimise_share=False)
    before = {v.name: v.varValue for v in prob.variables()}
    closed = _closed_in(violated, split.model.y[t])
    ups = [v.upBound for v in closed]
    try:
        for v in closed:
            v.upBound = 0
        result = _solve_program(prob, options)
    finally:
        for v, up in zip(closed, ups, strict=False):
            v.upBound = up
    if result.has_solution and pulp.value(own_objective) <= keep:
        return float(pulp.value(own_objective))
    prob, own_objective = _shift_program(split, t, report, violated, minimise_share=True)
    result = solve_highs_bulk(prob, _remaining(options, t0), start={n: x or 0.0 for n, x in before.items()})
    if result.has_solution and pulp.value(own_objective) <= keep:
        return float(pulp.value(own_objective))
    for v in prob.variables():
        v.varValue = before[v.name]
    return None


def _shift(
    model: PlanningModel,
    split: _Split,
    reports: dict[frozenset[str], SolveReport],
    options: SolverOptions,
    t0: float,
) -> bool:
    """Move the per-type plans out of the violated set-aside rows, each type staying at its own value.

    Type by type, largest share of the violated rows first, each single-type
    program is solved again (:func:`_shift_type`) at no more than its plan's
    value (so its count stays at the least count, and its bound stands) with
    the other set-aside rows holding (Zhejiang default: Wenzhou's 1-billion
    cap, met after township health centres, middle schools and heritage halls
    move). Stops when no row is violated: the union is then a plan of the
    model whose value is the sum of the per-type values, within their gap of
    the sum of the per-type bounds. ``reports`` is updated with the new
    values. ``False`` (every value restored) when rows stay violated.
    """
    saved = {v.name: v.varValue for v in model.problem.variables()}

    def open_rows() -> list[tuple[_Row, frozenset[str]]]:
        return [(row, types) for row, types in split.joining if _violated(row[1])]

    def share(t: str) -> float:
        return sum(
            abs(a) * abs(v.varValue or 0.0) / max(1.0, abs(c.constant))
            for (_n, c), _types in open_rows()
            for v, a in c.expr.items()
            if split.owner[v.name] == t
        )

    order = sorted((t for t in model.y if frozenset({t}) in reports), key=share, reverse=True)
    for k, t in enumerate(order):
        violated = [row for row, types in open_rows() if t in types]
        report = reports[frozenset({t})]
        if not violated or report.objective is None or share(t) == 0:
            continue
        value = _shift_type(split, t, report, violated, _share(options, t0, len(order) - k))
        if value is not None:
            reports[frozenset({t})] = replace(report, objective=value)
    if open_rows():
        for v in model.problem.variables():
            v.varValue = saved[v.name]
        return False
    return True


def _restored(model: PlanningModel, report: SolveReport, values: dict[str, float | None]) -> SolveReport:
    """The repaired plan (``values``) and its report, when the merged programs stop without a plan."""
    for v in model.problem.variables():
        v.varValue = values[v.name]
    model.problem.assignStatus(*PULP_STATUS[report.status])
    return report


def _stopped(model: PlanningModel, report: SolveReport, t0: float) -> SolveReport:
    """A program without a plan (infeasible, time limit, error): the model has none either; that report."""
    model.problem.assignStatus(*PULP_STATUS.get(report.status, PULP_STATUS["error"]))
    report.seconds = time.perf_counter() - t0
    return report


def _combined(model: PlanningModel, reports: list[SolveReport], t0: float, rounds: int, added: int) -> SolveReport:
    """The union of the programs' plans: the model's objective, the sum of their bounds."""
    objective = model.problem.objective
    constant = float(objective.constant) if objective is not None else 0.0
    value = sum(r.objective or 0.0 for r in reports) + constant  # the programs split the objective's terms
    bound: float | None = sum(r.bound for r in reports if r.bound is not None) + constant
    if any(r.bound is None for r in reports):
        bound = None
    status = "optimal" if all(r.is_optimal for r in reports) else "feasible"
    gap = relative_gap(value, bound)
    model.problem.assignStatus(*PULP_STATUS[status])
    first = reports[0]
    return SolveReport(
        status,
        value,
        bound,
        0.0 if status == "optimal" and gap is None else gap,
        time.perf_counter() - t0,
        first.solver,
        first.solver_version,
        "; ".join(sorted({r.message for r in reports})),
        extra={"programs": len(reports), "rounds": rounds, "joining_rows_added": added},
    )
