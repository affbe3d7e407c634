"""Equity stage 1's plan search (planning/equity_plan.py): fix-and-optimise around the bottleneck units.

Checked against brute force over all plans of small random regions, in every
``compare`` mode, with and without county caps: the search never returns a
plan below its start, every plan it returns has on the whole problem the
level it claims (the true minimum rate of its layout, within the budgets),
never above the brute-force optimum, and the problem is left exactly as it
was. Stage 1 with the search (run whenever the plain solve stops unproven)
still ends at the brute-force optimum, proven.
"""

from __future__ import annotations

import time
from unittest import mock

import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_equity_bound import (  # _plain_first_solve: the autouse fixture, for these tests too
    CASES,
    _first_solve_building_nothing,
    _instance,
    _plain_first_solve,  # noqa: F401
    _stopped_first_solve_once,
)
from test_model import _layout

import optimizer.planning.equity_bound as equity_bound
import optimizer.planning.equity_plan as equity_plan
from optimizer.planning.equity_search import score_plan
from optimizer.planning.model import PlanningModel
from optimizer.solvers import SolverOptions, solve_problem


def _snapshot(prob: pulp.LpProblem) -> tuple:
    """Everything a sub-solve may touch: rows (name, terms, sense, constant), bounds, objective."""
    rows = tuple(
        (name, tuple(sorted((v.name, c) for v, c in con.items())), con.sense, con.constant)
        for name, con in prob.constraints.items()
    )
    bounds = tuple((v.name, v.lowBound, v.upBound, v.cat) for v in prob.variables())
    objective = tuple(sorted((v.name, c) for v, c in prob.objective.items()))
    return rows, bounds, objective, prob.objective.constant


def _combo(model: PlanningModel, plan: dict) -> list[tuple[int, str]]:
    """The new facilities of ``plan``: (candidate row, type) of every site decision at 1."""
    out = []
    for type_id, ys in model.y.items():
        for j, v in zip(model.types[type_id].sites.tolist(), ys, strict=False):
            if round(plan.get(v.name) or 0.0) == 1:
                out.append((int(j), type_id))
    return out


def _start(model: PlanningModel, options: SolverOptions, kind: str) -> dict:
    """A start plan: nothing built, or the plain solve's (optimal) plan."""
    prob = model.problem
    if kind == "optimal":
        solve_problem(prob, options)
        return {v.name: v.varValue for v in prob.variables()}
    return {v.name: (v.lowBound or 0.0) if v.cat == pulp.LpInteger else 0.0 for v in prob.variables()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1]), st.sampled_from(["nothing", "optimal"]))
def test_plan_search_never_loses_and_claims_only_true_levels(seed, n, m, budget, split, levels, compare, cap, start):
    """From nothing or the optimum: never below the start, the level claimed is the layout's, the problem restored."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare, county_cap=cap)
    model = PlanningModel(sc)
    prob = model.problem
    options = SolverOptions(time_limit=60, mip_gap=0.0)
    t_expr = pulp.LpAffineExpression([(model.t, 1.0)])
    plan = _start(model, options, start)
    lo, _ = score_plan(prob, t_expr, plan, options)
    assert lo is not None
    before = _snapshot(prob)
    found, value, records = equity_plan.improve_stage1(model, plan, lo, options, time.perf_counter() + 60)
    assert _snapshot(prob) == before
    assert value >= lo - 1e-12
    assert value <= best + 1e-6
    combo = _combo(model, found)
    assert min_rate(_layout(sc, combo).served) == pytest.approx(value, abs=1e-6)
    assert 10 * len(combo) <= sc.budget.total + 1e-9
    assert 10 * sum(t == "clinic" for _, t in combo) <= sc.budget.per_family["health"] + 1e-9
    rescored, _ = score_plan(prob, t_expr, found, options)
    assert rescored == pytest.approx(value, abs=1e-6)
    if start == "optimal":
        assert value == pytest.approx(best, abs=1e-6)
    for record in records:  # every neighbourhood's plan beats the level it was asked above
        assert record["value"] is None or record["value"] >= record["floor"] - 1e-6, record


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1]))
def test_stage1_with_the_plan_search_reaches_the_brute_force_optimum(seed, n, m, budget, split, levels, compare, cap):
    """The plain solve stopped with the plan that builds nothing: the search runs, stage 1 still ends optimal."""
    sc, best, min_rate = _instance(seed, n, m, budget, split, levels, compare, county_cap=cap)
    model = PlanningModel(sc)
    calls = []
    real = equity_bound.improve_stage1

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out[1])
        return out

    with (
        mock.patch.object(equity_bound, "solve_problem", _stopped_first_solve_once(_first_solve_building_nothing)),
        mock.patch.object(equity_bound, "improve_stage1", spy),
        mock.patch.object(equity_plan, "STAGE1_SHARE", 0.3),  # measured share; off by default
    ):
        result = model.solve()
    stage1 = result.stages[0]
    assert len(calls) == 1
    assert 0.0 <= calls[0] <= best + 1e-6
    assert stage1.status == "optimal", stage1.message
    assert stage1.objective == pytest.approx(best, abs=1e-6)
    assert min_rate(result.after.served) == pytest.approx(best, abs=1e-6)
    assert stage1.extra["plan_search"] is not None


def test_plan_search_raises_a_poor_plan_with_county_caps():
    """A case where the start is below the optimum: the search moves it up (to the optimum here)."""
    for seed in range(40):
        sc, best, _ = _instance(seed, 9, 3, 2, ("A", "B"), ["township"], "units", county_cap=1)
        if best > 0.05:
            break
    model = PlanningModel(sc)
    options = SolverOptions(time_limit=60, mip_gap=0.0)
    plan = _start(model, options, "nothing")
    lo, _ = score_plan(model.problem, pulp.LpAffineExpression([(model.t, 1.0)]), plan, options)
    assert lo is not None and lo < best - 1e-3
    _, value, records = equity_plan.improve_stage1(model, plan, lo, options, time.perf_counter() + 60)
    assert value == pytest.approx(best, abs=1e-6)
    assert any(r["value"] is not None for r in records)


def test_plan_search_is_off_by_default():
    """Measured below the probes alone in the one A/B on the default (benchmarks/README.md): no search time by default."""
    assert equity_plan.STAGE1_SHARE == 0.0
    assert equity_plan.search_deadline(time.perf_counter() + 100.0) is None
    with mock.patch.object(equity_plan, "STAGE1_SHARE", 0.3):
        now = time.perf_counter()
        until = equity_plan.search_deadline(now + 100.0)
        assert until is not None and now + 29.0 < until < now + 31.0
