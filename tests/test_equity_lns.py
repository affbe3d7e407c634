"""Equity stage 2 from stage 1's plan (planning/equity_lns.py): fix-and-optimise by family, then the full solve.

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
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from test_equity_bound import CASES, _instance
from test_model import _layout

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


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_fixed_family_plan_is_reported_when_the_full_stage2_solve_finds_none(
    seed, n, m, budget, split, levels, compare
):
    """The full stage-2 solve stopped without a plan: the fix-and-optimise plan, true to its numbers."""
    sc, best_min, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    best_cov = _best_coverage(sc, best_min, min_rate)
    model = PlanningModel(sc)
    assert model.problem is not None  # built: the site decisions exist
    sites = [v for ys in model.y.values() for v in ys]
    bound = best_cov + 7.0  # what a stopped full solve could report: above the optimum
    full_solves = []

    def full_without_plan(problem, options=None):
        if any(v.lowBound == v.upBound for v in sites):  # a neighbourhood: some family fixed
            return solve_problem(problem, options)
        full_solves.append(1)
        return SolveReport("no_solution", None, bound, None, 0.0, "highs", "test", "Time limit reached")

    with mock.patch.object(equity_lns, "solve_problem", full_without_plan):
        result = model.solve()
    stage2 = result.stages[-1]
    assert full_solves == [1]
    assert stage2.extra["fix_and_optimise"], stage2.extra
    assert min_rate(result.after.served) >= best_min - sc.objective.equity.tolerance - 1e-9
    covered = _covered(result.after.served)
    assert covered <= best_cov + 1e-6
    # The objective is the plan's weighted coverage less the cost tie-break (at most 1e-3 per facility).
    assert covered - 1e-3 * len(result.chosen_sites) - 1e-6 <= stage2.objective <= covered + 1e-6
    assert stage2.bound == bound
    assert stage2.gap == pytest.approx(relative_gap(stage2.objective, bound))
    assert stage2.status == "feasible"
    assert result.gap is not None and result.gap >= stage2.gap - 1e-12
    assert "fix-and-optimise" in stage2.message


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_stage2_with_and_without_fix_and_optimise_reaches_the_brute_force_optimum(
    seed, n, m, budget, split, levels, compare
):
    """With the fix-and-optimise rounds and without them, stage 2 ends at the brute-force optimum, proven."""
    sc, best_min, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    best_cov = _best_coverage(sc, best_min, min_rate)

    def without_rounds(model, plan, options, seconds):
        return None, plan, []

    for rounds in (True, False):
        with mock.patch.object(
            equity_lns, "improve_by_family", equity_lns.improve_by_family if rounds else without_rounds
        ):
            result = PlanningModel(sc).solve()
        records = result.stages[-1].extra["fix_and_optimise"]
        # The rounds follow the full solve, and only when it did not prove its plan optimal.
        full_proven = result.stages[-1].extra["full_solve"]["status"] == "optimal"
        assert (len(records) > 0) == (rounds and not full_proven)
        assert result.status == "optimal"
        assert min_rate(result.after.served) == pytest.approx(best_min, abs=1e-6)
        assert _covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_rounds_after_an_unproven_full_solve_keep_its_plan_when_they_find_nothing_better(
    seed, n, m, budget, split, levels, compare
):
    """The full solve stopped with its (here optimal) plan unproven: the rounds start from it, find nothing
    better, and the full solve's plan is reported with its own values, against its bound."""
    sc, best_min, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    best_cov = _best_coverage(sc, best_min, min_rate)
    model = PlanningModel(sc)
    assert model.problem is not None
    sites = [v for ys in model.y.values() for v in ys]

    def full_unproven(problem, options=None):
        report = solve_problem(problem, options)
        if any(v.lowBound == v.upBound for v in sites) or not report.has_solution:  # a neighbourhood
            return report
        bound = report.objective + 5.0
        return dataclasses.replace(report, status="feasible", bound=bound, gap=relative_gap(report.objective, bound))

    with mock.patch.object(equity_lns, "solve_problem", full_unproven):
        result = model.solve()
    stage2 = result.stages[-1]
    if stage2.extra["full_solve"]["objective"] is None:
        return  # stage 2 had no plan to start from (e.g. nothing to build)
    assert stage2.extra["fix_and_optimise"]
    assert stage2.status == "feasible" and "fix-and-optimise" not in stage2.message
    assert _covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)
    assert min_rate(result.after.served) >= best_min - sc.objective.equity.tolerance - 1e-9
