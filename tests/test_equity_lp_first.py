"""Equity stage 1 with the LP-guided first solve (planning/equity_bound.py, ``LP_GUIDED_FIRST``).

Checked against brute force over all plans of small random regions, in every
``compare`` mode: the first solve's bound is never below the best minimum
rate and its plan's level is the layout's true minimum rate or less, whatever
the time limit and gap; stage 1 ends at the brute-force optimum, proven, with
the first solve as it is and with it stopped unproven (then the search behind
it takes over).
"""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_equity_bound import CASES, _instance
from test_model import _layout

import optimizer.planning.equity_bound as equity_bound
from optimizer.planning.model import PlanningModel
from optimizer.solvers import SolverOptions


def _chosen(model: PlanningModel) -> list[tuple[int, str]]:
    """The sites the variables' values build, as (candidate, type) pairs (as ``PlanningModel.solve`` reads them)."""
    return [
        (int(model.types[type_id].sites[pos]), type_id)
        for type_id, ys in model.y.items()
        for pos, v in enumerate(ys)
        if v.varValue is not None and v.varValue > 0.5
    ]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1e-3, 0.05, 1.0]), st.sampled_from([0.0, 5e-4, 0.05]))
def test_lp_guided_first_solve_bound_and_plan_are_honest(
    seed, n, m, budget, split, levels, compare, time_limit, mip_gap
):
    """Whatever the time and gap: bound ≥ the best minimum rate, the plan's level ≤ its true minimum rate."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    model = PlanningModel(sc)
    assert model.problem is not None
    report = equity_bound._first_solve(model, SolverOptions(time_limit=time_limit, mip_gap=mip_gap))
    assert "lp_plan" in report.extra
    if report.bound is not None:
        assert report.bound >= best - 1e-6
    if report.has_solution:
        assert report.objective <= best + 1e-6
        assert report.objective <= min_rate(_layout(sc, _chosen(model)).served) + 1e-6
    if report.status == "optimal":
        assert report.objective >= best - max(mip_gap, 1e-6) - 1e-6


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_stage1_with_the_lp_guided_first_solve_reaches_the_brute_force_optimum(
    seed, n, m, budget, split, levels, compare
):
    """The default path: stage 1 (and the equity objective) ends at the best minimum rate, proven."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    result = PlanningModel(sc).solve()
    stage1 = result.stages[0]
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert stage1.bound >= best - 1e-6
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    assert "lp_plan" in stage1.extra or "lp_plan" in stage1.extra["first_solve"]["extra"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES)
def test_lp_guided_first_solve_stopped_unproven_leaves_the_search_exact(seed, n, m, budget, split, levels, compare):
    """The LP-guided first solve reported unproven with the trivial bound t ≤ 1: the search still ends optimal."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare)
    real = equity_bound.solve_lp_guided
    calls = []

    def stopped(model, options, **kwargs):
        report = real(model, options, **kwargs)
        calls.append(report.status)
        if not report.has_solution:
            return report
        return replace(report, status="feasible", bound=1.0, gap=None)

    with mock.patch.object(equity_bound, "solve_lp_guided", stopped):
        result = PlanningModel(sc).solve()
    stage1 = result.stages[0]
    assert len(calls) == 1
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    assert "lagrangian" in stage1.extra
