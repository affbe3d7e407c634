"""LSCP's row/site dominance fixpoint keeps the optimum: brute force on small random instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from optimizer.locate.coverage import LSCP, _dominated_rows, _lscp_dominance_fixpoint

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fewest_covering(a: np.ndarray, pre: np.ndarray) -> int:
    """Brute force: the fewest sites (predefined ones included) covering every row of ``a``."""
    m = a.shape[1]
    forced = list(np.flatnonzero(pre))
    free = [j for j in range(m) if not pre[j]]
    for k in range(len(free) + 1):
        for combo in itertools.combinations(free, k):
            if a[:, forced + list(combo)].any(axis=1).all():
                return len(forced) + k
    raise AssertionError("infeasible instance")


@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), m=st.integers(1, 12), n_pre=st.integers(0, 2))
def test_lscp_with_dominance_fixpoint_matches_brute_force(seed: int, n: int, m: int, n_pre: int) -> None:
    rng = np.random.default_rng(seed)
    d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    # Every client reaches its nearest site, plus a random margin: coverage sets of varied size.
    radius = float(d.min(axis=1).max()) + float(rng.uniform(0, 4))
    a = d <= radius
    pre = np.zeros(m, dtype=bool)
    pre[rng.choice(m, size=min(n_pre, m), replace=False)] = True
    best = _fewest_covering(a, pre)
    model = LSCP.from_cost_matrix(d, radius, pre).solve()
    assert model.status == "optimal"
    assert model.objective == best
    assert len(model.selected_site_indices) == best
    assert a[:, model.selected_site_indices].any(axis=1).all()  # the plan covers every original client
    assert set(np.flatnonzero(pre)) <= set(model.selected_site_indices)
    assert model.stats["model_rows"] <= model.stats["demand_groups"]


def test_dominated_rows_keeps_one_of_identical_rows_and_the_smallest_set() -> None:
    # Rows: {0,1}, {0}, {0,1,2}, {0} (again), {2}
    a = sp.csr_array(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]]))
    assert list(_dominated_rows(a)) == [True, False, True, True, False]


def test_fixpoint_needs_several_rounds_and_keeps_the_optimum() -> None:
    # Sites 0..3; rows {0,1}, {1,2}, {2,3}, {0,3}, {1}. Row {1} makes {0,1} and {1,2} redundant; then
    # site 0 covers only {0,3} ⊆ site 3's rows {2,3},{0,3}, and site 2 only {2,3} ⊆ site 3's: both go.
    # Then rows {2,3} and {0,3} are both {3}: one remains. Left: rows {1}, {3}; sites 1, 3 -> 2 sites.
    cov = sp.csr_array(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 0]]))
    rows, dropped, rounds = _lscp_dominance_fixpoint(cov, np.zeros(4, dtype=bool), np.zeros(4, dtype=bool))
    assert rounds >= 2
    assert list(np.flatnonzero(~dropped)) == [1, 3]
    assert len(rows) == 2
    d = np.where(cov.toarray() > 0, 1.0, 5.0)
    model = LSCP.from_cost_matrix(d, 1.0).solve()
    assert model.objective == 2 and list(model.selected_site_indices) == [1, 3]
    assert model.stats["model_rows"] == 2 and model.stats["dominance_rounds"] >= 2


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_reduced_and_unreduced_lscp_agree_on_a_larger_instance(solver: str) -> None:
    rng = np.random.default_rng(0)
    d = cdist(rng.uniform(0, 100, (300, 2)), rng.uniform(0, 100, (40, 2)))
    radius = float(d.min(axis=1).max())
    reduced = LSCP.from_cost_matrix(d, radius).solve(solver)
    plain = LSCP.from_cost_matrix(d, radius, reduce=False).solve(solver)
    assert reduced.status == plain.status == "optimal"
    assert reduced.objective == plain.objective
    assert reduced.stats["model_rows"] < reduced.stats["demand_groups"]
