"""Equity stage 2 from stage 1's plan (planning/equity_lns.py): fix-and-optimise by family and capped area, then
the full solve.

Checked against brute force over all plans of small random regions, in every
``compare`` mode: with the full stage-2 solve stopped without a plan, the plan
of the fix-and-optimise rounds is reported — it holds the minimum rate, its
objective is its true coverage, it never passes the brute-force optimum, and
its gap is measured against the full solve's bound. (With the real full solve
the whole equity objective is checked against brute force in
tests/test_model.py.)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from test_equity_bound import CASES, _instance
from test_model import _layout
from toy import X0

import optimizer.planning.equity_lns as equity_lns
from optimizer.planning.model import PlanningModel
from optimizer.solvers import SolveReport, relative_gap, solve_problem

WEIGHTS = {"clinic": 1.0, "school": 2.0}


def _covered(served) -> float:
    return sum(w * served[t].sum() for t, w in WEIGHTS.items())


def _best_coverage(sc, best_min: float, min_rate) -> float:
    """The largest weighted coverage of any plan holding the best minimum rate (brute force)."""
    m = len(sc.region.candidates)
    budget_sites = int(sc.budget.total // 10)
    pairs = [(j, t) for j in range(m) for t in ("clinic", "school")]
    best = -1.0
    for r in range(budget_sites + 1):
        for combo in itertools.combinations(pairs, r):
            if 10 * sum(t == "clinic" for _, t in combo) > sc.budget.per_family["health"]:
                continue
            served = _layout(sc, combo).served
            if min_rate(served) >= best_min - sc.objective.equity.tolerance:
                best = max(best, _covered(served))
    return best


Stage2Case = tuple[Any, float, Callable[[Any], float], float]


@pytest.fixture(scope="module")
def stage2_case() -> Callable[..., Stage2Case]:
    """The shared setup of the stage-2 tests: a random instance and its brute-force optima.

    Returns a function of the hypothesis case (seed, n, m, budget, split,
    levels, compare) giving the scenario, the best minimum rate, the
    minimum-rate function and the best weighted coverage holding that rate
    (module-scoped: hypothesis draws the case, the fixture builds it).
    """

    def build(*case: Any) -> Stage2Case:
        sc, best_min, min_rate = _instance(*case)
        return sc, best_min, min_rate, _best_coverage(sc, best_min, min_rate)

    return build


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_fixed_family_plan_is_reported_when_the_full_stage2_solve_finds_none(
    stage2_case, seed, n, m, budget, split, levels, compare
):
    """The full stage-2 solve stopped without a plan: the fix-and-optimise plan, true to its numbers."""
    sc, best_min, min_rate, best_cov = stage2_case(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    assert model.problem is not None  # built: the site decisions exist
    sites = [v for ys in model.y.values() for v in ys]
    bound = best_cov + 7.0  # what a stopped full solve could report: above the optimum
    full_solves = []

    def full_without_plan(problem, options=None):
        if any(v.lowBound == v.upBound for v in sites):  # a neighbourhood: some family fixed
            return solve_problem(problem, options)
        full_solves.append(equity_lns.FLOOR_ROW in problem.constraints)  # the full solve, above the rounds' plan
        return SolveReport("no_solution", None, bound, None, 0.0, "highs", "test", "Time limit reached")

    with mock.patch.object(equity_lns, "solve_problem", full_without_plan):
        result = model.solve()
    stage2 = result.stages[-1]
    assert full_solves == [True]
    assert stage2.extra["fix_and_optimise"], stage2.extra
    assert equity_lns.FLOOR_ROW not in model.problem.constraints  # taken out again
    assert min_rate(result.after.served) >= best_min - sc.objective.equity.tolerance - 1e-9
    covered = _covered(result.after.served)
    assert covered <= best_cov + 1e-6
    # The objective is the plan's weighted coverage less the cost tie-break (at most 1e-3 per facility).
    assert covered - 1e-3 * len(result.chosen_sites) - 1e-6 <= stage2.objective <= covered + 1e-6
    # The full solve's bound holds above the floor; every plan below it is below the floor.
    assert stage2.bound == max(bound, stage2.extra["floor"])
    assert stage2.extra["floor"] > stage2.objective
    assert stage2.gap == pytest.approx(relative_gap(stage2.objective, stage2.bound))
    assert stage2.status == "feasible"
    assert result.gap is not None and result.gap >= stage2.gap - 1e-12
    assert "fix-and-optimise" in stage2.message


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_stage2_with_and_without_fix_and_optimise_reaches_the_brute_force_optimum(
    stage2_case, seed, n, m, budget, split, levels, compare
):
    """With the fix-and-optimise rounds and without them, stage 2 ends at the brute-force optimum, proven."""
    sc, best_min, min_rate, best_cov = stage2_case(seed, n, m, budget, split, levels, compare)

    def without_rounds(model, plan, options, seconds):
        return None, plan, []

    for rounds in (True, False):
        with mock.patch.object(
            equity_lns, "improve_by_neighbourhoods", equity_lns.improve_by_neighbourhoods if rounds else without_rounds
        ):
            result = PlanningModel(sc).solve()
        stage2 = result.stages[-1]
        # The rounds come first; with a plan from them the full solve runs above it (floor row).
        assert (len(stage2.extra["fix_and_optimise"]) > 0) == rounds
        assert ("floor" in stage2.extra) == rounds
        assert result.status == "optimal"
        assert stage2.bound is not None and stage2.bound >= best_cov - 1e-2  # never below the optimum
        assert min_rate(result.after.served) == pytest.approx(best_min, abs=1e-6)
        assert _covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)


def _rounds_keep_the_plan(model, plan, options, seconds):
    """Rounds that improve nothing: stage 1's plan with its stage-2 value (its sites fixed, the rest solved)."""
    sites = [v for ys in model.y.values() for v in ys]
    report, values = equity_lns._solve_fixed(model, sites, plan, options)
    return (
        report.objective,
        values,
        [{"neighbourhood": "all fixed", "status": report.status, "value": report.objective}],
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_full_solve_above_a_poor_plan_reaches_the_brute_force_optimum(
    stage2_case, seed, n, m, budget, split, levels, compare
):
    """Rounds that keep stage 1's plan as it is: the full solve above it (floor row) finds the optimum, or
    proves that plan optimal by finding nothing above it."""
    sc, best_min, min_rate, best_cov = stage2_case(seed, n, m, budget, split, levels, compare)
    with mock.patch.object(equity_lns, "improve_by_neighbourhoods", _rounds_keep_the_plan):
        result = PlanningModel(sc).solve()
    stage2 = result.stages[-1]
    assert stage2.status == "optimal", stage2.message
    assert _covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)
    assert min_rate(result.after.served) >= best_min - sc.objective.equity.tolerance - 1e-9
    assert stage2.bound >= best_cov - 1e-2
    if stage2.extra["full_solve"]["status"] == "infeasible":
        assert stage2.bound == stage2.extra["floor"]
        assert "that plan is optimal" in stage2.message


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_unproven_full_solve_above_the_rounds_reports_its_bound_raised_to_the_floor(
    stage2_case, seed, n, m, budget, split, levels, compare
):
    """The full solve above stage 1's plan stopped unproven with a plan: that plan (it beats the rounds'),
    against its bound or the floor, whichever is higher — never below the brute-force optimum."""
    sc, best_min, min_rate, best_cov = stage2_case(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    assert model.problem is not None

    def full_unproven(problem, options=None):
        report = solve_problem(problem, options)
        if equity_lns.FLOOR_ROW not in problem.constraints or not report.has_solution:
            return report  # a neighbourhood, or nothing above the floor
        bound = report.objective + 5.0
        return dataclasses.replace(report, status="feasible", bound=bound, gap=relative_gap(report.objective, bound))

    with (
        mock.patch.object(equity_lns, "improve_by_neighbourhoods", _rounds_keep_the_plan),
        mock.patch.object(equity_lns, "solve_problem", full_unproven),
    ):
        result = model.solve()
    stage2 = result.stages[-1]
    floor = stage2.extra["floor"]
    assert stage2.bound >= best_cov - 1e-2
    assert min_rate(result.after.served) >= best_min - sc.objective.equity.tolerance - 1e-9
    if stage2.extra["full_solve"]["status"] == "infeasible":
        assert stage2.status == "optimal" and stage2.bound == floor
        return
    full_value = stage2.extra["full_solve"]["objective"]
    rounds_value = stage2.extra["fix_and_optimise"][-1]["value"]
    assert full_value >= floor - 1e-6  # the floor row held (within HiGHS' row tolerance)
    assert stage2.bound == pytest.approx(max(full_value + 5.0, floor))
    assert stage2.status == "feasible"
    # The better plan is kept: the full solve's, unless it meets the floor only within the tolerance.
    assert stage2.objective == max(full_value, rounds_value)
    assert ("fix-and-optimise" in stage2.message) == (full_value <= rounds_value)
    if full_value > rounds_value:
        assert _covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)


@pytest.mark.parametrize("cap_levels", [None, ["county"], ["city"]])
def test_stage2_neighbourhoods_are_the_families_then_each_capped_area(cap_levels):
    """Families region-wide, then one neighbourhood per capped county holding exactly its sites' decisions (both
    types); a cap over the whole region (the city) and no cap at all give no area neighbourhood."""
    sc, _, _ = _instance(3, 8, 6, 3, (), None, "units", county_cap=None if cap_levels is None else 2)
    if cap_levels == ["city"]:
        sc = sc.replace(**{"budget.per_unit": [{"levels": ["city"], "amount": 20.0}]})
    model = PlanningModel(sc)
    assert model.problem is not None  # built: the site decisions exist
    hoods = equity_lns.stage2_neighbourhoods(model)
    names = [name for name, _ in hoods]
    xs = sc.region.candidates.to_crs(32651).geometry.x.to_numpy()  # the instance is drawn in UTM 51N
    west = int((xs < X0 + 20_000).sum())
    if cap_levels == ["county"]:
        assert names == ["family health", "family education", "area A", "area B"]
        sizes = {name: len(free) for name, free in hoods}
        assert sizes == {"family health": 6, "family education": 6, "area A": 2 * west, "area B": 2 * (6 - west)}
        area_a = {v.name for v in dict(hoods)["area A"]}
        for type_id, ys in model.y.items():
            for j, v in zip(model.types[type_id].sites.tolist(), ys, strict=True):
                assert (v.name in area_a) == (xs[j] < X0 + 20_000)
    else:
        assert names == ["family health", "family education"]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_rounds_free_each_capped_county_and_keep_the_plan_true(stage2_case, seed, n, m, budget, split, levels, compare):
    """With county caps the rounds ask every family and both counties (where each has a site); with the full
    solve stopped without a plan, the rounds' plan holds the rate and each county's cap, and never passes the
    optimum without caps where the caps keep the best rate."""
    _, best_min, _, best_cov = stage2_case(seed, n, m, budget, split, levels, compare)
    sc, capped_min, min_rate = _instance(seed, n, m, budget, split, levels, compare, county_cap=max(1, budget - 1))

    def full_without_plan(problem, options=None):
        if equity_lns.FLOOR_ROW in problem.constraints:
            return SolveReport("no_solution", None, None, None, 0.0, "highs", "test", "Time limit reached")
        return solve_problem(problem, options)

    with mock.patch.object(equity_lns, "solve_problem", full_without_plan):
        result = PlanningModel(sc).solve()
    stage2 = result.stages[-1]
    asked = {r["neighbourhood"] for r in stage2.extra["fix_and_optimise"]}
    west_sites = int((sc.region.candidates.to_crs(32651).geometry.x < X0 + 20_000).sum())
    both = 0 < west_sites < m  # one county holding every site is the whole problem: no area of its own
    assert asked == {"family health", "family education"} | ({"area A", "area B"} if both else set())
    assert min_rate(result.after.served) >= capped_min - sc.objective.equity.tolerance - 1e-9
    west = int((result.chosen_sites.to_crs(32651).geometry.x < X0 + 20_000).sum())
    assert max(west, len(result.chosen_sites) - west) <= max(1, budget - 1)
    if capped_min >= best_min - 1e-9:  # the caps keep the best rate: the uncapped optimum bounds the plan
        assert _covered(result.after.served) <= best_cov + 1e-6
