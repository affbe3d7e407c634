"""The planning model honours rows a study adds to ``model.problem``, in every objective and stage.

Each test adds a row (here: "not both sites s0 and s1") to the built problem, solves, and checks
that the reported objective is the solved problem's, that every row of the problem holds at the
reported plan, and that the plan is as good as the best one found by enumerating every plan that
obeys the row.
"""

from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
from test_model import _layout
from toy import catalogue, facility_type, random_region

from optimizer.config.schema import BudgetConfig, EquityConfig, ObjectiveConfig
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario

M = 4  # candidate sites


def _scenario(seed: int, kind: str, capacity: float | None = None) -> Scenario:
    region = random_region(seed, 10, M, n_existing=1)
    cat = catalogue(facility_type("clinic", cost=10, km=8, capacity=capacity))
    obj = ObjectiveConfig(
        kind=kind,
        equity=EquityConfig(levels=["county"]),
        access_cap_km=30,
        coverage_targets={"clinic": 0.5} if kind == "min_cost" else {},
    )
    return Scenario(
        name="t",
        region=region,
        catalogue=cat,
        budget=BudgetConfig(total=1000 if kind == "min_cost" else 20),
        objective=obj,
    )


def _solve_with_row(sc: Scenario):
    model = PlanningModel(sc)
    y = {v.name: v for v in model.problem.variables()}
    model.problem += (y["y_0_0"] + y["y_0_1"] <= 1, "study_not_both_s0_s1")
    return model, model.solve()


def _allowed_plans(budget_sites: int):
    for r in range(budget_sites + 1):
        for combo in itertools.combinations(range(M), r):
            if not {0, 1} <= set(combo):
                yield [(j, "clinic") for j in combo]


def _assert_rows_hold(model, result, tol: float = 1e-6) -> None:
    values = {v.name: float(v.varValue or 0.0) for v in model.problem.variables()}
    chosen = set(result.chosen_sites["site_id"])
    for v, j in zip(model.y["clinic"], model.types["clinic"].sites, strict=False):
        values[v.name] = 1.0 if model.site_ids[j] in chosen else 0.0
    broken = []
    for name, con in model.problem.constraints.items():
        lhs = sum(coef * values[v.name] for v, coef in con.items()) + con.constant
        scale = tol * max(1.0, abs(con.constant))
        if (
            (con.sense == pulp.LpConstraintEQ and abs(lhs) > scale)
            or (con.sense == pulp.LpConstraintLE and lhs > scale)
            or (con.sense == pulp.LpConstraintGE and lhs < -scale)
        ):
            broken.append((name, lhs))
    assert not broken, broken
    assert not {"s0", "s1"} <= chosen
    assert result.status == "optimal"
    assert result.objective == pytest.approx(float(pulp.value(model.problem.objective)), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("capacity", [None, 800.0])
def test_coverage_keeps_user_row(seed, capacity):
    sc = _scenario(seed, "coverage", capacity)
    model, result = _solve_with_row(sc)
    _assert_rows_hold(model, result)
    pop = sc.region.demand["population"].to_numpy(float)
    if capacity is None:
        best = max(_layout(sc, c).served["clinic"].sum() for c in _allowed_plans(2))
        assert result.after.served["clinic"].sum() == pytest.approx(best, abs=1e-6)
    else:
        # Capacity: the model's own assignment counts the people served; at most what is in reach.
        assert result.objective <= max(_layout(sc, c).served["clinic"].sum() for c in _allowed_plans(2)) + 1e-6
        assert result.objective <= pop.sum() + 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_equity_both_stages_keep_user_row(seed):
    sc = _scenario(seed, "equity")
    model, result = _solve_with_row(sc)
    _assert_rows_hold(model, result)
    units = sc.region.demand["unit_id"].to_numpy()
    pop = sc.region.demand["population"].to_numpy(float)
    best = None
    for combo in _allowed_plans(2):
        served = _layout(sc, combo).served["clinic"]
        rates = [served[units == u].sum() / pop[units == u].sum() for u in ("A", "B") if pop[units == u].sum() > 0]
        key = (round(min(rates), 9), served.sum())
        best = key if best is None else max(best, key)
    served = result.after.served["clinic"]
    rates = [served[units == u].sum() / pop[units == u].sum() for u in ("A", "B") if pop[units == u].sum() > 0]
    assert min(rates) == pytest.approx(best[0], abs=1e-6)
    assert served.sum() == pytest.approx(best[1], abs=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_min_cost_keeps_user_row(seed):
    sc = _scenario(seed, "min_cost")
    total = sc.region.demand["population"].sum()
    costs = [10 * len(c) for c in _allowed_plans(M) if _layout(sc, c).served["clinic"].sum() >= 0.5 * total - 1e-9]
    if not costs:
        pytest.skip("no plan obeying the row meets the target")  # seeds are fixed: see the count below
    model, result = _solve_with_row(sc)
    _assert_rows_hold(model, result)
    assert result.budget_used == min(costs)


def test_min_cost_seeds_are_not_all_skipped():
    met = 0
    for seed in range(5):
        sc = _scenario(seed, "min_cost")
        total = sc.region.demand["population"].sum()
        met += any(_layout(sc, c).served["clinic"].sum() >= 0.5 * total - 1e-9 for c in _allowed_plans(M))
    assert met >= 3


@pytest.mark.parametrize("seed", range(5))
def test_access_keeps_user_row(seed):
    sc = _scenario(seed, "access")
    model, result = _solve_with_row(sc)
    _assert_rows_hold(model, result)
    pop = sc.region.demand["population"].to_numpy(float)
    best = min(float((pop * np.minimum(_layout(sc, c).nearest_km["clinic"], 30.0)).sum()) for c in _allowed_plans(2))
    got = float((pop * np.minimum(result.after.nearest_km["clinic"], 30.0)).sum())
    assert got == pytest.approx(best, rel=1e-7, abs=1e-6)


def test_equity_solves_again_after_a_row_is_added():
    # A notebook solves, adds a row, solves again: both stages run afresh on the problem as it is.
    sc = _scenario(1, "equity")
    model = PlanningModel(sc)
    first = model.solve()
    assert first.status == "optimal"
    again = model.solve()  # nothing changed: the same plan, not a duplicate-row error
    assert again.objective == pytest.approx(first.objective, rel=1e-9)
    assert list(again.chosen_sites["site_id"]) == list(first.chosen_sites["site_id"])
    y = {v.name: v for v in model.problem.variables()}
    model.problem += (y["y_0_0"] + y["y_0_1"] <= 1, "study_not_both_s0_s1")
    result = model.solve()
    _assert_rows_hold(model, result)
    fresh_model, fresh = _solve_with_row(sc)
    assert result.objective == pytest.approx(fresh.objective, rel=1e-9)
