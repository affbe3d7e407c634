"""Equity stage 1 past the plain solve (planning/equity_bound.py): Lagrangian level test and level search.

Every claim is checked against brute force over all plans of small random
regions, in every ``compare`` mode: a level the test calls out of reach is
above the best plan's minimum rate, and the search (forced past the plain
solve) ends at the brute-force optimum, proven.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from unittest import mock

import numpy as np
import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_model import YES_NO, _layout, _own_chain, _own_finest_unit, nested_region, nested_units
from toy import X0, Y0, catalogue, facility_type

import optimizer.planning.equity_bound as equity_bound
import optimizer.planning.equity_search as equity_search
from optimizer.config.schema import BudgetConfig, EquityConfig, ObjectiveConfig, UnitCap
from optimizer.planning.equity_bound import UnitBlocks, relaxation_bound, unit_groups
from optimizer.planning.equity_search import equity_row_names
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from optimizer.solvers import SolveReport, SolverOptions, solve_problem


@pytest.fixture(autouse=True)
def _plain_first_solve():
    """The tests here force the *plain* first solve of stage 1 past its end (they mock ``solve_problem``); the
    LP-guided first solve (``equity_bound.LP_GUIDED_FIRST``, the default) is tested in test_equity_lp_first.py."""
    with mock.patch.object(equity_bound, "LP_GUIDED_FIRST", False):
        yield


def _instance(seed: int, n: int, m: int, budget_sites: int, split: tuple, levels, compare: str, county_cap=None):
    """A random nested region, its scenario, and the best minimum rate over every plan (brute force).

    ``county_cap``: at most that many new facilities per county (a per-unit budget cap, ``cap_0_A``/``cap_0_B``).
    """
    if levels is not None and "township" in levels and not split:
        levels = ["county"]
    rng = np.random.default_rng(seed)
    county_flags = {u: bool(rng.random() < 0.5) for u in ("A", "B")}
    flags = {"C": "no", **{u: ("yes" if f else "no") for u, f in county_flags.items()}}
    flags.update({f"{c}{i}": (None if rng.random() < 0.5 else "no") for c in split for i in (1, 2)})
    units = nested_units(split=split, flags=flags)
    demand_xy = rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0]
    site_xy = rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0]
    pop = rng.integers(0, 1000, n).astype(float)
    rng.random(2)  # (the existing clinic's place in test_model's generator; here a fixed interior point)
    ex = (X0 + 5_000.0, Y0 + 5_000.0)
    urban = ["yes" if u else "no" for u in rng.random(n) < 0.3]
    region = nested_region(units, demand_xy, pop, site_xy, existing=[("clinic", ex[0], ex[1])], urban=urban)
    cat = catalogue(
        facility_type("clinic", cost=10, urban_km=4, rural_km=8),
        facility_type("school", cost=10, km=6, serves="school_age", family="education"),
    )
    obj = ObjectiveConfig(
        kind="equity",
        weights={"school": 2.0},
        equity=EquityConfig(levels=levels, compare=compare, group=None if compare == "units" else "mountain"),
    )
    budget = BudgetConfig(
        total=10 * budget_sites,
        per_family={"health": 10.0 * max(1, budget_sites - 1)},
        per_unit=[] if county_cap is None else [UnitCap(levels=["county"], amount=10.0 * county_cap)],
    )
    sc = Scenario(name="t", region=region, catalogue=cat, budget=budget, objective=obj)

    finest = [_own_finest_unit(split, x) for x in demand_xy[:, 0]]
    chains = [_own_chain(units, u) for u in finest]
    in_group = np.array([any(YES_NO[flags.get(a)] for a in chain) for chain in chains])
    level_of = dict(zip(units["unit_id"], units["level"], strict=False))
    if compare == "group_vs_rest":
        members = {"group": in_group, "rest": ~in_group}
    else:
        use = levels or (["county"] if not split else ["township"] if len(split) == 2 else ["township", "county"])
        compared = [u for u in units["unit_id"] if level_of[u] in use]
        if compare == "units_in_group":
            compared = [u for u in compared if any(YES_NO[flags.get(a)] for a in _own_chain(units, u))]
        members = {u: np.array([u in chain for chain in chains]) for u in compared}
    weights = {"clinic": 1.0, "school": 2.0}
    group_pop = {"clinic": pop, "school": np.floor(pop * 0.3)}

    def min_rate(served) -> float:
        rates = []
        for mask in members.values():
            den = sum(weights[t] * group_pop[t][mask].sum() for t in weights)
            if den > 0:
                rates.append(sum(weights[t] * served[t][mask].sum() for t in weights) / den)
        return min(rates) if rates else 1.0

    best = -1.0
    pairs = [(j, t) for j in range(m) for t in ("clinic", "school")]
    for r in range(budget_sites + 1):
        for combo in itertools.combinations(pairs, r):
            if 10 * sum(t == "clinic" for _, t in combo) > budget.per_family["health"]:
                continue
            west = sum(site_xy[j, 0] < X0 + 20_000 for j, _ in combo)
            if county_cap is not None and max(west, len(combo) - west) > county_cap:
                continue
            best = max(best, min_rate(_layout(sc, combo).served))
    return sc, best, min_rate


CASES = [
    st.integers(0, 10_000),  # seed
    st.integers(2, 9),  # demand points
    st.integers(1, 3),  # sites
    st.integers(1, 3),  # budget in facilities
    st.sampled_from([(), ("A",), ("B",), ("A", "B")]),  # counties with township polygons
    st.sampled_from([None, ["county"], ["county", "city"], ["township"], ["township", "county"]]),
    st.sampled_from(["units", "group_vs_rest", "units_in_group"]),
]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.floats(0.0, 1.0))
def test_level_test_never_declares_a_reachable_level_out_of_reach(seed, n, m, budget, split, levels, compare, above):
    """Levels up to the brute-force optimum are never "out of reach"; above the LP's maximum they always are."""
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    prob = model.problem
    blocks = UnitBlocks(prob, model.t, equity_row_names(model))
    for level in (0.0, best * 0.5, best):
        result = blocks.test(level)
        assert not result.out_of_reach, (level, best, result)
    # The LP maximum of t: any level above it is out of reach for the LP already.
    relaxed = [v for v in prob.variables() if v.cat == "Integer"]
    for v in relaxed:
        v.cat = "Continuous"
    lp = solve_problem(prob)
    for v in relaxed:
        v.cat = "Integer"
    lp_max = float(lp.objective)
    if lp_max < 1.0 - 1e-3:
        level = lp_max + 1e-3 + above * (1.0 - lp_max - 1e-3)
        assert blocks.test(level).out_of_reach
    # In between, "out of reach" only ever above the optimum.
    for level in np.linspace(best, min(1.0, lp_max), 5)[1:]:
        result = blocks.test(float(level))
        assert not result.out_of_reach or level > best + 1e-9


def _stopped_first_solve(problem, options=None):
    """The plain first solve as if stopped by its time limit: its plan, no proof, the trivial bound t ≤ 1."""
    report = solve_problem(problem, options)
    if not report.has_solution:
        return report
    return SolveReport("feasible", report.objective, 1.0, None, report.seconds, report.solver, "test", "Time limit")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_level_search_reaches_the_brute_force_optimum(seed, n, m, budget, split, levels, compare):
    """Forced past the plain solve, stage 1 (Lagrangian bound + level probes) ends at the best plan, proven."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    with mock.patch.object(equity_bound, "solve_problem", _stopped_first_solve):
        result = PlanningModel(sc).solve()
    stage1 = result.stages[0]
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    assert "first_solve" in stage1.extra and "lagrangian" in stage1.extra
    for test in stage1.extra["lagrangian"]:
        assert not test["out_of_reach"] or test["level"] > best + 1e-9


def test_plain_solve_that_proves_ends_stage1_as_before():
    """A model the first solve proves optimal runs no Lagrangian test and no probe (small scenarios as before)."""
    sc, best, _ = _instance(7, 6, 3, 2, ("A",), None, "units")
    result = PlanningModel(sc).solve()
    stage1 = result.stages[0]
    assert stage1.status == "optimal"
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert "lagrangian" not in stage1.extra


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(4, 12), st.integers(2, 5), st.sampled_from(["units", "group_vs_rest"]))
def test_level_test_is_valid_with_capacity_rows_shared_across_units(seed, n, m, compare):
    """Capacitated schools serve several units (capacity rows couple the blocks): never past the exact optimum.

    The optimum here is the stage-1 MIP solved to a zero gap (the brute force of a capacitated plan would
    have to re-solve the assignment per plan, which is what that MIP does).
    """
    rng = np.random.default_rng(seed)
    units = nested_units(split=("A",), flags={"C": "no", "A": "yes", "B": "no"})
    demand_xy = rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0]
    site_xy = rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0]
    pop = rng.integers(50, 1000, n).astype(float)
    region = nested_region(units, demand_xy, pop, site_xy, existing=[("clinic", X0, Y0)])
    cat = catalogue(
        facility_type("clinic", cost=10, km=8),
        facility_type("school", cost=10, km=15, capacity=150, serves="school_age", family="education"),
    )
    obj = ObjectiveConfig(
        kind="equity", equity=EquityConfig(compare=compare, group=None if compare == "units" else "mountain")
    )
    budget = BudgetConfig(total=30, per_family={"health": 10.0, "education": 20.0})
    sc = Scenario(name="t", region=region, catalogue=cat, budget=budget, objective=obj)
    model = PlanningModel(sc)
    prob = model.problem
    blocks = UnitBlocks(prob, model.t, equity_row_names(model))
    exact = solve_problem(prob, SolverOptions(mip_gap=0.0))
    assert exact.is_optimal
    best = float(exact.objective)
    assert not blocks.test(best - 1e-6).out_of_reach
    for level in np.linspace(best, 1.0, 6)[1:]:
        result = blocks.test(float(level))
        assert not result.out_of_reach or level > best + 1e-7


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_last_solve_above_the_best_plan_reaches_the_optimum(seed, n, m, budget, split, levels, compare):
    """Probes that stop unproven leave the time to branch and bound over ``lo + gap ≤ t ≤ hi``: still exact."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    real = equity_bound.bisect_maximum

    def stalled(prob, expr, options, *, start=None, upper=None, probe_seconds=None, lazy=None, check_span=None):
        # Only the start is scored: the search "stops at its first probe", unproven, with the bound it was given.
        report, plan = real(prob, expr, replace(options, time_limit=1e-3), start=start, upper=upper)
        return replace(report, status="feasible", bound=1.0, gap=None), plan

    with (
        mock.patch.object(equity_bound, "solve_problem", _stopped_first_solve_once()),
        mock.patch.object(equity_bound, "bisect_maximum", stalled),
    ):
        result = PlanningModel(sc).solve()
    stage1 = result.stages[0]
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    assert "finish" in stage1.extra


def _stopped_first_solve_once(first=None):
    """``first`` (:func:`_stopped_first_solve`) for the first call only; later solves (the last one) are real."""
    calls = []
    first = first or _stopped_first_solve

    def solve(problem, options=None):
        calls.append(1)
        return first(problem, options) if len(calls) == 1 else solve_problem(problem, options)

    return solve


def _first_solve_building_nothing(problem, options=None):
    """The plain first solve as if stopped with the plan that builds nothing, reported at level 0, bound t ≤ 1."""
    report = solve_problem(problem, options)
    for v in problem.variables():
        if v.cat == pulp.LpInteger:
            v.varValue = 0.0
    return SolveReport("feasible", 0.0, 1.0, None, report.seconds, report.solver, "test", "Time limit")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_probes_stopped_by_their_cap_are_never_asked_again(seed, n, m, budget, split, levels, compare):
    """Every probe above the optimum stops unproven (as if capped): the search asks each level once and keeps the optimum.

    The check probe at the best plan's value plus the gap is the search's last question: it gets the time left,
    not the per-probe cap (a capped check would only be asked again).
    """
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    prob = model.problem
    asked: list[tuple[float, float]] = []

    def capped(problem, options=None):
        row = problem.constraints.get(equity_search.PROBE_ROW)
        if row is None:
            return solve_problem(problem, options)
        level = -float(row.constant)
        asked.append((level, options.time_limit))
        if level > best + 1e-7:
            return SolveReport("no_solution", None, None, None, 0.0, "highs", "test", "Time limit reached")
        return solve_problem(problem, options)

    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    with mock.patch.object(equity_search, "solve_problem", capped):
        report, plan = equity_search.bisect_maximum(
            prob, t_expr, SolverOptions(time_limit=600.0), upper=1.0, probe_seconds=1.0
        )
    assert plan is not None
    target = max(SolverOptions().mip_gap, equity_search.LEVEL_RESOLUTION) * max(1.0, best)
    assert best - target - 1e-9 <= report.objective <= best + 1e-6
    levels_asked = [level for level, _ in asked]
    assert len(levels_asked) == len(set(levels_asked)), asked
    # Above the optimum every probe stops unproven: capped at 1 s, except the search's last, the check probe.
    uncapped = [i for i, (level, limit) in enumerate(asked) if level > best + 1e-7 and limit > 1.0 + 1e-9]
    assert uncapped in ([], [len(asked) - 1]), asked
    if uncapped:
        assert asked[-1][0] == pytest.approx(report.objective + target, abs=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.lists(st.sampled_from([-1.0, 0.0, 0.3, 0.6, 0.9, 2.0]), min_size=8, max_size=8))
def test_probes_with_lazy_equity_rows_reach_the_same_optimum(seed, n, m, budget, split, levels, compare, eases):
    """Probes that leave equity rows out until a plan breaks them end where the full probes end: the brute force.

    ``ease`` is arbitrary here (2.0: the row is left out at every level, -1.0: always kept), so the relaxed
    probes' plans break rows and the rows are added back; "no plan" of a relaxed probe is never below the
    optimum, and the plan found is the whole problem's.
    """
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare)
    t_target = max(SolverOptions().mip_gap, equity_search.LEVEL_RESOLUTION) * max(1.0, best)
    results = []
    for with_lazy in (False, True):
        model = PlanningModel(sc)
        prob = model.problem
        names = equity_row_names(model)
        rows = prob.constraints
        lazy = equity_search.LazyRows(
            {name: rows[name] for name in names}, model.t, {name: eases[i % 8] for i, name in enumerate(names)}
        )
        t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
        report, plan = equity_search.bisect_maximum(
            prob, t_expr, SolverOptions(), upper=1.0, lazy=lazy if with_lazy else None
        )
        assert report.status == "optimal", report.message
        assert best - t_target - 1e-9 <= report.objective <= best + 1e-6
        assert report.bound >= best - 1e-9
        for probe in report.extra["probes"]:
            assert probe["outcome"] != "no plan" or probe["level"] is None or probe["level"] > best - 1e-9, probe
        # The plan is the whole problem's: every equity row back in place holds at the reported level.
        assert set(names) <= set(prob.constraints)
        value, _ = equity_search.score_plan(prob, t_expr, plan, SolverOptions())
        assert value == pytest.approx(report.objective, abs=1e-6)
        results.append(report.objective)
    assert results[1] == pytest.approx(results[0], abs=t_target + 1e-9)


def test_a_relaxed_probe_whose_plan_breaks_left_out_rows_asks_again():
    """Every equity row left out: the first probe's plan breaks some, they are kept, and the search still ends optimal."""
    sc, best, _ = _instance(7, 6, 3, 2, ("A",), None, "units")
    model = PlanningModel(sc)
    prob = model.problem
    names = equity_row_names(model)
    lazy = equity_search.LazyRows({name: prob.constraints[name] for name in names}, model.t, dict.fromkeys(names, 2.0))
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    # Started from the plan that builds nothing, with the bound t ≤ 1: the first probe is a level, relaxed.
    nothing = {v.name: 0.0 for v in prob.variables() if v.cat == pulp.LpInteger}
    report, _ = equity_search.bisect_maximum(prob, t_expr, SolverOptions(), start=nothing, upper=1.0, lazy=lazy)
    outcomes = [p["outcome"] for p in report.extra["probes"]]
    assert any(o.startswith("relaxed plan") for o in outcomes), outcomes
    assert lazy.kept and lazy.kept <= set(names)
    assert report.status == "optimal"
    assert report.objective == pytest.approx(best, abs=1e-6)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_level_search_with_lazy_rows_reaches_the_brute_force_optimum(seed, n, m, budget, split, levels, compare):
    """Stage 1 past its plain solve, where the later solves are real (the rates without spending, the probes)."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    with (
        mock.patch.object(equity_bound, "solve_problem", _stopped_first_solve_once()),
        mock.patch.object(equity_bound, "LAZY_EQUITY_ROWS", True),
        mock.patch.object(equity_bound, "_lazy_equity_rows", wraps=equity_bound._lazy_equity_rows) as spy,
    ):
        result = PlanningModel(sc).solve()
    assert spy.called
    stage1 = result.stages[0]
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1]), st.lists(st.booleans(), min_size=8, max_size=8), st.floats(0.0, 1.0))
def test_few_cities_relaxation_is_never_below_the_optimum(seed, n, m, budget, split, levels, compare, cap, keep, below):
    """Max t over any subset of the equity rows (every other row kept) bounds the brute-force optimum from above.

    With a floor (a level a plan reaches, at or below the optimum) the relaxation asks only above floor + gap:
    its bound is still never below the optimum, and "infeasible" only when the optimum is within the gap of it.
    The relaxation's plan, scored on the whole problem, is a plan: never above the optimum.
    """
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare, county_cap=cap)
    model = PlanningModel(sc)
    prob = model.problem
    names = equity_row_names(model)
    kept = {name for i, name in enumerate(names) if keep[i % 8]}
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    target = max(SolverOptions().mip_gap, equity_search.LEVEL_RESOLUTION)
    rows_before = list(prob.constraints)
    for floor in (None, best * below):
        report, plan = relaxation_bound(model, kept, SolverOptions(), floor=floor, ceiling=1.0)
        assert list(prob.constraints) == rows_before  # every row back, in its order
        assert report.bound is not None
        assert report.bound >= best - 1e-6, (floor, report)
        if report.status == "infeasible":
            assert floor is not None and best <= floor + target + 1e-6
        if plan is not None:
            value, _ = equity_search.score_plan(prob, t_expr, plan, SolverOptions())
            assert value is not None and value <= best + 1e-6
    # Every row kept is the whole problem: its bound is the optimum's (within the gap).
    report, _ = relaxation_bound(model, set(names), SolverOptions())
    assert best - 1e-6 <= report.bound <= best + target + 1e-6


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1]), st.booleans())
def test_stage1_with_few_cities_relaxations_reaches_the_brute_force_optimum(
    seed, n, m, budget, split, levels, compare, cap, from_nothing
):
    """Stage 1 past its plain solve (LP duals, relaxations, probes with the check probe first): the optimum, proven.

    Every relaxation's bound is at or above the brute-force optimum; the groups are the compared units under a
    binding county cap (the hierarchy) or single weighted units. ``from_nothing``: the plain solve stops with the
    plan that builds nothing, so the relaxations' and the probes' plans have to find the optimum.
    """
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare, county_cap=cap)
    model = PlanningModel(sc)
    groups: list[list[list[str]]] = []
    real_groups = equity_bound.unit_groups

    def spy(model_, lp):
        out = real_groups(model_, lp)
        groups.append(out)
        return out

    with (
        mock.patch.object(
            equity_bound,
            "solve_problem",
            _stopped_first_solve_once(_first_solve_building_nothing if from_nothing else None),
        ),
        mock.patch.object(equity_bound, "unit_groups", spy),
    ):
        result = model.solve()
    stage1 = result.stages[0]
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    for record in stage1.extra["relaxations"]:
        assert record["bound"] is None or record["bound"] >= best - 1e-6, record
        assert record.get("plan_value") is None or record["plan_value"] <= best + 1e-6, record
    names = set(equity_row_names(model))
    labels = {f"equity_{key}": str(model.compare_labels[key]) for key in model.unit_expr}
    chains = sc.region.ancestors_of(labels.values())
    for group in groups[0] if groups else []:
        assert set(group) <= names and group
        if len(group) > 1:  # a cap's group: the units inside one capped unit
            common = set.intersection(*(set(chains[labels[name]]) for name in group))
            assert common, group


def test_unit_groups_follow_the_binding_caps_in_order_of_dual_times_limit():
    """Caps ordered by dual × limit; a cap's group is every compared unit inside it; weighted units left over alone."""
    sc, _, _ = _instance(4, 9, 3, 2, ("A", "B"), ["township"], "units", county_cap=1)
    model = PlanningModel(sc)
    names = equity_row_names(model)
    labels = {f"equity_{key}": str(model.compare_labels[key]) for key in model.unit_expr}
    by_unit = {label: name for name, label in labels.items()}
    lp = equity_bound._LpUpper(
        0.5,
        {by_unit["A1"]: 0.2, by_unit["B2"]: 0.5, by_unit["B1"]: 0.3},
        {"cap_0_A": 1.0, "cap_0_B": 3.0, "budget_total": 9.0, "family_health": 0.5},
        0.0,
    )
    groups = unit_groups(model, lp)
    assert [sorted(labels[n] for n in g) for g in groups] == [["B1", "B2"], ["A1", "A2"]]
    lp.budget = {"cap_0_B": 3.0}
    groups = unit_groups(model, lp)
    assert [sorted(labels[n] for n in g) for g in groups] == [["B1", "B2"], ["A1"]]
    assert set().union(*groups) <= set(names)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([0.0, 0.05, 1.0]))
def test_check_probe_that_maximises_reaches_the_brute_force_optimum(seed, n, m, budget, split, levels, compare, span):
    """From the plan that builds nothing, the check probe (max t above the best plan) asked whenever the interval is
    at most ``span``: the search ends at the brute-force optimum, proven, and no level at or below it is "no plan"."""
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    prob = model.problem
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    nothing = {v.name: 0.0 for v in prob.variables() if v.cat == pulp.LpInteger}
    report, plan = equity_search.bisect_maximum(
        prob, t_expr, SolverOptions(), start=nothing, upper=1.0, check_span=span
    )
    target = max(SolverOptions().mip_gap, equity_search.LEVEL_RESOLUTION) * max(1.0, best)
    assert report.status == "optimal", report.message
    assert best - target - 1e-9 <= report.objective <= best + 1e-6
    assert report.bound >= best - 1e-9
    assert equity_search.PROBE_CEILING_ROW not in prob.constraints and equity_search.PROBE_ROW not in prob.constraints
    for probe in report.extra["probes"]:
        assert probe["outcome"] != "no plan" or probe["level"] > best - 1e-9, probe
    probes = report.extra["probes"]
    if span >= 1.0 and len(probes) > 1:  # the interval is never wider than 1: the first probe is the check probe
        lo0 = probes[0]["value"]
        gap0 = max(SolverOptions().mip_gap, equity_search.LEVEL_RESOLUTION) * max(1.0, abs(lo0))
        assert probes[1]["level"] == pytest.approx(lo0 + gap0, abs=1e-12)
    value, _ = equity_search.score_plan(prob, t_expr, plan, SolverOptions())
    assert value == pytest.approx(report.objective, abs=1e-6)
