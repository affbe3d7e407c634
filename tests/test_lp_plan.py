"""The LP-guided HiGHS solve of coverage and attendance (planning/lp_plan.py) against enumeration of every plan.

The reference optimum enumerates every set of site decisions on the model
itself (each decision fixed, the continuous rest solved as an LP: capacity
assignments, attendance shares), so budgets, caps, capacities and the
objective's tie-breaks are all the model's own. Each step of the solve is
reached: the LP plan proven by the LP bound (step 3), the floor-row solve
finding a better plan or proving the LP plan optimal (step 4), and step 4
stopped without a plan (its report built from a stopped solve).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toy import catalogue, facility_type, random_region

from optimizer.config.schema import BudgetConfig, ObjectiveConfig, UnitCap
from optimizer.planning import lp_plan
from optimizer.planning.count_bound import RESOLUTION, count_inputs, relaxation_count_bound
from optimizer.planning.lp_plan import (
    COUNT_ROW,
    FLOOR_ROW,
    _above_floor,
    lp_guided_pays,
    solve_lp_guided,
)
from optimizer.planning.lp_relaxation import lp_relaxation
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from optimizer.solvers import SolveReport
from optimizer.solvers.highs_bulk import constraint_dict
from optimizer.solvers.options import SolverOptions


def _scenario(seed: int, kind: str, n_sites: int = 4) -> Scenario:
    """Two types (one capacitated on odd seeds), a total budget, a county cap and a family cap."""
    region = random_region(seed, 30, n_sites, n_existing=1, types=("clinic", "school"))
    cat = catalogue(
        facility_type("clinic", cost=10, km=6, capacity=1500 if seed % 2 else None),
        facility_type("school", cost=7, urban_km=4, rural_km=7, serves="school_age", family="education"),
    )
    budget = BudgetConfig(
        total=31, per_unit=[UnitCap(levels=["county"], amount=20)], per_family={"education": 14 + 7 * (seed % 2)}
    )
    return Scenario(
        name="t", region=region, catalogue=cat, budget=budget, objective=ObjectiveConfig.model_validate({"kind": kind})
    )


def _enumerated_optimum(sc: Scenario) -> float:
    """The best objective over every set of site decisions, each fixed and the rest solved as an LP."""
    model = PlanningModel(sc)
    model.build()
    prob = model.problem
    sites = [v for ys in model.y.values() for v in ys]
    best = None
    for values in itertools.product((0.0, 1.0), repeat=len(sites)):
        if any(v.lowBound is not None and x < v.lowBound for v, x in zip(sites, values, strict=True)):
            continue
        report = lp_plan._solve_fixed(prob, sites, dict(enumerate(values)), SolverOptions(mip_gap=0))
        if report.has_solution and report.objective is not None:
            best = report.objective if best is None else max(best, report.objective)
    assert best is not None
    return float(best)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 2 frees only the fractional decisions (on these small models the default frees every site)."""
    monkeypatch.setattr(lp_plan, "NEIGHBOURHOOD", 0)
    monkeypatch.setattr(lp_plan, "MIN_FREE", 0)


def _guided(sc: Scenario) -> PlanningModel:
    """A model solved LP-guided whatever its size (small models take the plain solve by default)."""
    model = PlanningModel(sc)
    model.lp_guided = True
    return model


@pytest.fixture
def no_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 3 without the count bound (and so without the plan at its counts)."""
    monkeypatch.setattr(lp_plan, "relaxation_count_bound", lambda *args, **kwargs: None)


@pytest.mark.parametrize("counts", [True, False])
@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("kind", ["coverage", "attendance"])
@pytest.mark.parametrize("seed", range(5))
def test_lp_guided_solve_equals_enumeration_and_the_plain_solve(seed, kind, shrink, counts, monkeypatch):
    if shrink:  # step 2 frees only the fractional decisions: every exit of steps 3 and 4 happens among the seeds
        monkeypatch.setattr(lp_plan, "NEIGHBOURHOOD", 0)
        monkeypatch.setattr(lp_plan, "MIN_FREE", 0)
    if not counts:
        monkeypatch.setattr(lp_plan, "relaxation_count_bound", lambda *args, **kwargs: None)
    sc = _scenario(seed, kind)
    best = _enumerated_optimum(sc)
    result = _guided(sc).solve(SolverOptions(mip_gap=0.0))
    steps = result.report.extra["lp_plan"]
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best, rel=1e-9, abs=1e-6)
    # the bound is honest (never below the optimum) and proves the plan to the floor row's resolution
    assert best - 1e-6 <= result.bound <= best * (1 + 1.1e-6) + 1e-6
    assert steps["lp_bound"] >= best - 1e-6
    assert steps["lp_plan"] <= best + 1e-6
    assert steps.get("count_bound") is None or steps["count_bound"] >= best - 1e-6
    plain = PlanningModel(sc)
    plain.lp_guided = False
    assert plain.solve(SolverOptions(mip_gap=0.0)).objective == pytest.approx(best, rel=1e-9, abs=1e-6)


def test_lp_plan_within_the_gap_is_proven_by_the_lp_bound(narrow):
    """A 5 % gap: the LP plan is within it of the LP bound, so no branch and bound runs (step 3)."""
    sc = _scenario(2, "coverage")
    best = _enumerated_optimum(sc)
    result = _guided(sc).solve(SolverOptions(mip_gap=0.05))
    steps = result.report.extra["lp_plan"]
    assert "branch_and_bound_seconds" not in steps
    assert result.status == "optimal"
    assert result.bound == pytest.approx(steps["lp_bound"])
    assert result.bound >= best - 1e-6
    assert best - result.objective <= 0.05 * result.objective
    assert result.gap == pytest.approx((steps["lp_bound"] - result.objective) / result.objective)


def test_floor_row_solve_finds_the_better_plan_and_proves_the_lp_plan_optimal(narrow, no_counts):
    """Step 2 shrunk to the fractional decisions. Seed 4: the LP plan is below the optimum and the floor-row
    solve finds it; seed 2: the LP plan is the optimum, and the floor row ("at least the plan plus the gap")
    is infeasible, which proves it."""
    better, proven = _scenario(4, "coverage"), _scenario(2, "coverage")
    result = _guided(better).solve(SolverOptions(mip_gap=0.0))
    steps = result.report.extra["lp_plan"]
    assert steps["lp_plan"] < _enumerated_optimum(better) - 1.0
    assert result.objective == pytest.approx(_enumerated_optimum(better), rel=1e-9)
    assert steps["sites_fixed_by_reduced_cost"] >= 0 and "branch_and_bound_seconds" in steps
    model = _guided(proven)
    result = model.solve(SolverOptions(mip_gap=0.0))
    assert result.report.extra["lp_plan"]["lp_plan"] == pytest.approx(_enumerated_optimum(proven), rel=1e-9)
    assert result.report.message.startswith("no plan beats the plan of the LP's sub-MIP")
    assert result.status == "optimal"
    assert FLOOR_ROW not in constraint_dict(model.problem)  # the floor row is removed after the solve


def test_count_bound_proves_the_plan_or_finds_it_at_its_counts_or_caps_branch_and_bound(narrow):
    """Step 3's three exits (step 2 shrunk to the fractional decisions; seeds found by enumeration):
    coverage seed 2, the count bound is the sub-MIP plan's value, which it proves, no other solve runs;
    seed 4, the sub-MIP plan is 375 people short, the plan at the knapsack's counts is the optimum and the
    bound proves it; seed 3, the bound (5,185) stays above the optimum (4,926) and branch and bound runs
    from the better plan. Every report: the optimum, a bound never below it nor above the count bound,
    and no step-3 row left in the model."""
    for seed, exit_taken in ((2, "count_bound"), (4, "count_plan"), (3, "branch_and_bound")):
        sc = _scenario(seed, "coverage")
        best = _enumerated_optimum(sc)
        model = _guided(sc)
        result = model.solve(SolverOptions(mip_gap=0.0))
        steps = result.report.extra["lp_plan"]
        assert steps["lp_bound"] > best + 1.0  # the LP bound alone proves nothing
        assert result.status == "optimal" and result.objective == pytest.approx(best, rel=1e-9)
        assert best - 1e-6 <= result.bound <= steps["count_bound"] + 1e-6
        assert steps["count_bound"] >= best - 1e-6
        assert ("count_plan" in steps) == (exit_taken != "count_bound")
        assert ("branch_and_bound_seconds" in steps) == (exit_taken == "branch_and_bound")
        if exit_taken == "count_bound":
            assert steps["lp_plan"] == pytest.approx(best, rel=1e-9)
            assert steps["count_bound"] == pytest.approx(best, rel=1e-8)
        if exit_taken == "count_plan":
            assert steps["lp_plan"] < best - 1.0 and steps["count_plan"] == pytest.approx(best, rel=1e-9)
        if exit_taken == "branch_and_bound":
            assert steps["count_bound"] > best + 1.0
        rows = constraint_dict(model.problem)
        assert not any(name.startswith(COUNT_ROW) for name in rows)


def test_floor_row_solve_stopped_without_a_plan_keeps_the_lp_plan_and_an_honest_bound():
    """Step 4 stopped (no plan, a bound above the floor or none): the LP plan is restored, the bound is
    the solver's raised to the floor, never above the LP bound."""
    prob = pulp.LpProblem("p", pulp.LpMaximize)
    a, b = pulp.LpVariable("a", 0, 1, cat=pulp.LpInteger), pulp.LpVariable("b", 0, 1, cat=pulp.LpInteger)
    prob += 3 * a + 2 * b
    prob += (a + b <= 1, "one")
    a.varValue, b.varValue = 0.0, 1.0  # what the stopped solve left on the variables
    plan = {"a": 1.0, "b": 0.0}
    options = SolverOptions(mip_gap=0.01)
    for solver_bound, want in ((None, 3.5), (3.2, 3.2), (3.01, 3.03), (9.0, 3.5)):
        stopped = SolveReport("no_solution", None, solver_bound, None, 1.0, "highs", "1.16", "Time limit reached")
        report = _above_floor(prob, stopped, 3.0, plan, (3.03, 3.5), 1.0, options)
        assert (a.varValue, b.varValue) == (1.0, 0.0)
        assert report.objective == 3.0 and report.bound == pytest.approx(want)
        assert report.status == ("optimal" if want <= 3.03 else "feasible")
    infeasible = SolveReport("infeasible", None, None, None, 1.0, "highs", "1.16", "Infeasible")
    report = _above_floor(prob, infeasible, 3.0, plan, (3.03, 3.5), 1.0, options)
    assert report.status == "optimal" and report.bound == pytest.approx(3.03)


def test_coverage_takes_the_lp_guided_path_by_default_and_attendance_at_a_gap_only():
    coverage, attendance = PlanningModel(_scenario(0, "coverage")), PlanningModel(_scenario(0, "attendance"))
    assert coverage.lp_guided is None and lp_guided_pays(coverage, 0.0) and not lp_guided_pays(attendance, 0.0)
    assert lp_guided_pays(attendance, 5e-4)
    assert "lp_plan" in coverage.solve(SolverOptions(mip_gap=0.0)).report.extra
    assert "lp_plan" not in attendance.solve(SolverOptions(mip_gap=0.0)).report.extra
    assert "lp_plan" in attendance.solve(SolverOptions(mip_gap=5e-4)).report.extra
    access = PlanningModel(_scenario(0, "access"))
    access.lp_guided = True  # only coverage and attendance have the LP-guided solve
    assert not lp_guided_pays(access)
    coverage.size.nonzeros = lp_plan.LP_GUIDED_MAX_NONZEROS + 1  # too large for the LP to pay (the 1-km grid)
    assert not lp_guided_pays(coverage)
    coverage.lp_guided, attendance.lp_guided = False, True
    assert not lp_guided_pays(coverage) and lp_guided_pays(attendance)
    coverage.lp_guided = True
    assert lp_guided_pays(coverage)


def test_step_two_frees_the_fractional_decisions_and_the_cheapest_to_flip():
    xs = np.array([1.0, 0.0, 0.5, 0.0, 1.0, 0.25])
    rs = np.array([-3.0, 0.5, 0.0, -2.0, 0.1, 0.0])
    integral = np.flatnonzero((xs <= 1e-6) | (xs >= 1 - 1e-6))
    fixed = lp_plan._neighbourhood_fixed(xs, rs, integral)  # 2 fractional + 3 x 2 cheapest: all but none
    assert fixed == {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lp_plan, "NEIGHBOURHOOD", 1)
        mp.setattr(lp_plan, "MIN_FREE", 0)
        # 2 fractional + 2 cheapest to flip (|r| 0.1 and 0.5) free; |r| 2 and 3 fixed at their LP values
        assert lp_plan._neighbourhood_fixed(xs, rs, integral) == {0: 1.0, 3: 0.0}


def test_solve_without_sites_is_the_plain_solve():
    """A model whose budget buys no site has no free decision: the path still returns the plan of no sites."""
    sc = _scenario(3, "coverage")
    sc = Scenario(
        name="t", region=sc.region, catalogue=sc.catalogue, budget=BudgetConfig(total=1), objective=sc.objective
    )
    model = PlanningModel(sc)
    model.build()
    report = solve_lp_guided(model, SolverOptions(mip_gap=0.0))
    assert report.status == "optimal"
    assert all((v.varValue or 0.0) < 0.5 for ys in model.y.values() for v in ys)
    assert report.objective == pytest.approx(_enumerated_optimum(sc), rel=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["coverage", "attendance"]))
def test_count_bound_of_a_maximisation_lies_between_the_optimum_and_the_lp_bound(seed, kind):
    """The count bound of a maximisation (its negation's, sign turned back) over random regions: never below
    the optimum found by enumeration, never above the LP bound; its counts within the budget."""
    sc = _scenario(seed, kind)
    best = _enumerated_optimum(sc)
    model = PlanningModel(sc)
    model.build()
    relaxed = lp_relaxation(model.problem, SolverOptions())
    assert relaxed is not None
    counted = relaxation_count_bound(relaxed, count_inputs(model), math.inf)
    assert counted is not None
    assert best - 1e-6 <= counted.bound <= relaxed.bound + RESOLUTION * abs(relaxed.bound) + 1e-6  # its margin
    costs = [sc.catalogue[type_id].cost for type_id in model.y]
    assert sum(n * c for n, c in zip(counted.counts, costs, strict=True)) <= sc.budget.total + 1e-9
