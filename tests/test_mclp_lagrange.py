"""Lagrangian bound and site fixing of large MCLPs (optimizer/locate/_mclp_lagrange.py), against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import optimizer.locate._mclp_reduce as mclp_reduce
from optimizer.locate._mclp_lagrange import lagrangian_fixing
from optimizer.locate.coverage import MCLP

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Each example of the end-to-end test builds and solves an MCLP (about 0.1 s at idle): fewer of them.
SOLVES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all_plans(a: np.ndarray, w: np.ndarray, k: int) -> dict[tuple[int, ...], float]:
    """Every k-subset of the sites and the weight it covers."""
    return {s: float(w[a[:, list(s)].any(axis=1)].sum()) for s in itertools.combinations(range(a.shape[1]), k)}


def _towns(seed: int, towns: int, n: int, m: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Demand in ``towns`` clusters (normal, sd ``spread``) and uniform sites on a 100 x 100 square:
    ``(demand x sites distances, weights 1..1000)``."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 100, (towns, 2))
    demand = np.clip(centres[rng.integers(0, towns, n)] + rng.normal(0, spread, (n, 2)), 0, 100)
    d = cdist(demand, rng.uniform(0, 100, (m, 2)))
    return d, rng.integers(1, 1001, n)


@FAST
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 14),
    m=st.integers(2, 8),
    iterations=st.sampled_from([0, 3, 60]),
    start=st.sampled_from(["best", "worst", "random"]),
)
def test_bound_holds_and_fixings_keep_every_plan_worth_keeping(seed, n, m, iterations, start):
    rng = np.random.default_rng(seed)
    a = rng.random((n, m)) < 0.35
    w = rng.integers(1, 20, n).astype(float)
    k = int(rng.integers(1, m))
    plans = _all_plans(a, w, k)
    optimum = max(plans.values())
    chosen = {
        "best": max(plans, key=plans.get),
        "worst": min(plans, key=plans.get),
        "random": list(plans)[int(rng.integers(len(plans)))],
    }[start]
    plan = np.zeros(m, dtype=bool)
    plan[list(chosen)] = True
    threshold = plans[chosen] + 1.0 - 1e-9 * max(1.0, plans[chosen])  # integer weights: strictly better
    stats: dict = {}
    bound, close, keep_open = lagrangian_fixing(
        sp.csr_array(a.astype(float)), w, k, plan, threshold, stats, 0.0, iterations
    )
    assert bound >= optimum - 1e-9
    assert stats["lagrangian_bound"] == bound
    assert not (close & plan).any() and not (keep_open & ~plan).any()  # the incumbent's way
    for s, value in plans.items():
        if value >= threshold:
            mask = np.zeros(m, dtype=bool)
            mask[list(s)] = True
            assert not (mask & close).any() and (mask[keep_open]).all(), (s, value)


def test_a_proven_incumbent_fixes_every_site():
    # One site covers everything: L(u) at the incumbent's level proves it, so every site is fixed.
    a = np.zeros((6, 4))
    a[:, 0] = 1
    a[0, 1] = a[1, 2] = a[2, 3] = 1
    w = np.array([5.0, 4, 3, 2, 1, 1])
    plan = np.array([True, False, False, False])
    bound, close, keep_open = lagrangian_fixing(sp.csr_array(a), w, 1, plan, 16.0 + 1 - 1e-9, {}, 0.0, 200)
    assert bound == pytest.approx(16.0, abs=1e-6)
    assert close.tolist() == [False, True, True, True] and keep_open.tolist() == [True, False, False, False]
    # The caller's incumbent value gives the same steps as the one computed from the plan.
    again = lagrangian_fixing(sp.csr_array(a), w, 1, plan, 16.0 + 1 - 1e-9, {}, 0.0, 200, value=16.0)
    assert again[0] == bound and (again[1] == close).all() and (again[2] == keep_open).all()


@SOLVES
@given(seed=st.integers(0, 10**6), n=st.integers(1, 25), m=st.integers(2, 9), limit=st.sampled_from([0, 30]))
def test_mclp_with_lagrangian_reductions_matches_brute_force(seed, n, m, limit):
    # The path of the large instances (no LP at first), forced on small ones by lowering the limit:
    # limit 0 keeps the Lagrangian fixings only, 30 runs the LP reductions on what is left.
    rng = np.random.default_rng(seed)
    d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    w = rng.integers(1, 50, n)
    radius = float(rng.uniform(1, 5))
    p = int(rng.integers(1, m + 1))
    best = max(_all_plans(d <= radius, w, p).values())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mclp_reduce, "_MCLP_LP_MAX_PAIRS", limit)
        model = MCLP.from_cost_matrix(d, w, radius, p)
    model.solve()
    assert model.status == "optimal"
    assert model.objective == best
    if "lagrangian_bound" in model.stats:
        assert model.stats["lagrangian_bound"] >= best - 1e-9


def test_large_instance_path_fixes_sites_and_keeps_the_optimum():
    # A clustered instance: dominance drops most sites, and the Lagrangian bound (within one unit of
    # weight of the greedy plan) fixes every other one, so the model has the unreduced optimum at once.
    d, w = _towns(3, 8, 400, 150, 2.0)
    full = MCLP.from_cost_matrix(d, w, 6.0, 8, reduce=False).solve()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mclp_reduce, "_MCLP_LP_MAX_PAIRS", 0)
        reduced = MCLP.from_cost_matrix(d, w, 6.0, 8)
    st_ = reduced.stats
    assert st_["sites_dropped"] == 130 and st_["lagrangian_fixed_closed"] == 12 and st_["lagrangian_fixed_open"] == 8
    reduced.solve()
    assert full.status == reduced.status == "optimal"
    assert reduced.objective == full.objective
    assert full.objective <= st_["lagrangian_bound"] < full.objective + 1


def test_large_instance_path_searches_past_the_interchange_optimum():
    # Above _MCLP_LP_MAX_PAIRS no LP guides the incumbent, so the iterated local search is what lifts it
    # past the greedy plan's interchange optimum (19,056 here) to the optimum brute force finds.
    d, w = _towns(21, 6, 80, 14, 6.0)
    best = max(_all_plans(d <= 18.0, w, 4).values())
    assert best == 19218
    heuristic = {}
    for work in (0.0, mclp_reduce._MCLP_ILS_WORK_NO_LP):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(mclp_reduce, "_MCLP_LP_MAX_PAIRS", 0)
            mp.setattr(mclp_reduce, "_MCLP_ILS_WORK_NO_LP", work)
            model = MCLP.from_cost_matrix(d, w, 18.0, 4)
        heuristic[work] = model.stats["heuristic_objective"]
        assert "lp_bound" not in model.stats
    assert heuristic == {0.0: 19056, mclp_reduce._MCLP_ILS_WORK_NO_LP: best}
    assert model.stats["incumbent_sources"] == ["greedy: 19056", "iterated local search: 19218"]
    model.solve()
    assert model.status == "optimal" and model.objective == best
