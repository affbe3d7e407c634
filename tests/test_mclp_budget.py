"""Budgeted MCLP: incumbent, Lagrangian bound and site fixing (optimizer/locate/_mclp_budget.py), against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from optimizer.locate._mclp_budget import (
    _Knapsack,
    budget_greedy,
    budget_iterated_local_search,
    budget_lagrangian_fixing,
    budget_local_search,
)
from optimizer.locate.coverage import MCLP

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOLVES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # two HiGHS solves each


def _plans_within(a: np.ndarray, w: np.ndarray, cost: np.ndarray, budget: float) -> dict[tuple[int, ...], float]:
    """Every plan within the budget and the weight it covers."""
    m = a.shape[1]
    out = {}
    for r in range(m + 1):
        for s in itertools.combinations(range(m), r):
            if cost[list(s)].sum() <= budget + 1e-9:
                out[s] = float(w[a[:, list(s)].any(axis=1)].sum()) if s else 0.0
    return out


def _random_instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, sp.csr_array]:
    """A random budgeted instance ``(coverage, weights, costs, budget, coverage as CSR)``."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, m)) < 0.35
    w = rng.integers(1, 20, n).astype(float)
    cost = rng.integers(1, 6, m).astype(float)
    budget = float(rng.integers(1, int(cost.sum()) + 1))
    return a, w, cost, budget, sp.csr_array(a.astype(float))


@FAST
@given(seed=st.integers(0, 10**6), m=st.integers(1, 9), zero_cost=st.booleans())
def test_dantzig_bounds_with_a_site_forced_either_way_hold(seed, m, zero_cost):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 20, m).astype(float)
    cost = rng.integers(1, 10, m).astype(float)
    if zero_cost:
        cost[rng.integers(0, m)] = 0.0
    budget = float(rng.integers(0, int(cost.sum()) + 2))
    ks = _Knapsack(c, cost, budget)
    best = dict.fromkeys(range(m), -np.inf), dict.fromkeys(range(m), -np.inf)
    overall = -np.inf
    for r in range(m + 1):
        for s in itertools.combinations(range(m), r):
            if cost[list(s)].sum() > budget:
                continue
            v = float(c[list(s)].sum())
            overall = max(overall, v)
            for j in range(m):
                side = 0 if j in s else 1
                best[side][j] = max(best[side][j], v)
    assert ks.bound(budget)[0] >= overall - 1e-9
    opened, closed = ks.forced()
    for j in range(m):
        assert opened[j] >= best[0][j] - 1e-9, ("open", j)
        assert closed[j] >= best[1][j] - 1e-9, ("closed", j)
        if cost[j] > budget:
            assert opened[j] == -np.inf


@FAST
@given(seed=st.integers(0, 10**6), n=st.integers(1, 14), m=st.integers(1, 8), iterations=st.sampled_from([0, 5, 80]))
def test_budget_bound_holds_and_fixings_keep_every_plan_worth_keeping(seed, n, m, iterations):
    a, w, cost, budget, csr = _random_instance(seed, n, m)
    plans = _plans_within(a, w, cost, budget)
    optimum = max(plans.values())
    plan, value = budget_local_search(csr, w, budget_greedy(csr, w, cost, budget), cost, budget)
    assert cost[plan].sum() <= budget + 1e-9
    assert value == plans[tuple(np.flatnonzero(plan))]
    threshold = value + 1.0 - 1e-9 * max(1.0, value)
    stats: dict = {}
    bound, close, keep_open = budget_lagrangian_fixing(
        sp.csr_array(a.astype(float)), w, cost, budget, plan, value, threshold, stats, 0.0, iterations
    )
    assert bound >= optimum - 1e-9
    assert stats["lagrangian_bound"] == bound
    assert not (close & plan).any() and not (keep_open & ~plan).any()  # the incumbent's way
    for s, v in plans.items():
        if v >= threshold:
            mask = np.zeros(m, dtype=bool)
            mask[list(s)] = True
            assert not (mask & close).any() and mask[keep_open].all(), (s, v)


@SOLVES
@given(seed=st.integers(0, 10**6), n=st.integers(1, 20), m=st.integers(1, 8), predefined=st.booleans())
def test_budgeted_mclp_matches_brute_force_with_and_without_reductions(seed, n, m, predefined):
    rng = np.random.default_rng(seed)
    d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    w = rng.integers(1, 50, n)
    radius = float(rng.uniform(1, 5))
    cost = rng.integers(1, 8, m).astype(float)
    pre = np.zeros(m, dtype=bool)
    if predefined:
        pre[0] = True
        cost[0] = 0.0
    budget = float(rng.integers(0, int(cost.sum()) + 2))
    covers = d <= radius
    best = max(
        v for s, v in _plans_within(covers, w.astype(float), cost, budget).items() if set(np.flatnonzero(pre)) <= set(s)
    )
    for reduce in (True, False):
        model = MCLP.from_cost_matrix(
            d, w, radius, None, facility_costs=cost, budget=budget, predefined_facilities_arr=pre, reduce=reduce
        )
        model.solve()
        assert model.status == "optimal"
        assert model.objective == best, reduce
        if reduce:
            assert model.stats["heuristic_objective"] <= best <= model.stats.get("lagrangian_bound", np.inf) + 1e-9


@FAST
@given(seed=st.integers(0, 10**6), n=st.integers(1, 14), m=st.integers(1, 8), kicks=st.sampled_from([0, 1, 40]))
def test_budget_iterated_local_search_keeps_to_the_budget_and_reports_true_values(seed, n, m, kicks):
    a, w, cost, budget, csr = _random_instance(seed, n, m)
    plans = _plans_within(a, w, cost, budget)
    start, start_value = budget_local_search(csr, w, budget_greedy(csr, w, cost, budget), cost, budget)
    plan, value, found = budget_iterated_local_search(csr, w, cost, budget, start, kicks, seed=seed)
    assert cost[plan].sum() <= budget + 1e-9
    assert value == plans[tuple(np.flatnonzero(plan))]
    assert start_value <= value <= max(plans.values())
    assert found == sorted(set(found)) and (not found or found[-1] == value)
    if kicks == 0:
        assert (plan == start).all() and not found


def test_budget_iterated_local_search_leaves_the_interchange_optimum():
    # Interchange stops at 1,473 here; the kicks reach the optimum brute force finds.
    rng = np.random.default_rng(9)
    a = rng.random((40, 10)) < 0.3
    w = rng.integers(1, 100, 40).astype(float)
    cost = rng.integers(1, 6, 10).astype(float)
    budget = float(rng.integers(4, 12))
    best = max(_plans_within(a, w, cost, budget).values())
    csr = sp.csr_array(a.astype(float))
    start, start_value = budget_local_search(csr, w, budget_greedy(csr, w, cost, budget), cost, budget)
    plan, value, found = budget_iterated_local_search(csr, w, cost, budget, start, 200)
    assert (start_value, value, found, best) == (1473.0, 1480.0, [1480.0], 1480.0)
    assert cost[plan].sum() <= budget


def test_budget_iterated_local_search_stops_at_once_when_every_demand_is_covered(monkeypatch):
    # No plan covers more than all the weight: no kick is tried (each would cost a local search).
    import optimizer.locate._mclp_budget as mclp_budget

    calls = []
    monkeypatch.setattr(mclp_budget, "budget_local_search", lambda *args, **kw: calls.append(1))
    a = sp.csr_array(np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=float))
    plan = np.array([True, True, False])
    out, value, found = budget_iterated_local_search(a, np.array([3.0, 2.0, 1.0]), np.ones(3), 2.0, plan, 50)
    assert (out == plan).all() and value == 6.0 and found == [] and calls == []
