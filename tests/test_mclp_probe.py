"""The reduced probe LP of MCLP probing (optimizer/locate/_mclp_probe.py) against the full relaxation and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from optimizer.locate._mclp_probe import _ProbeLp
from optimizer.locate._mclp_reduce import _MclpRelaxation
from optimizer.locate.coverage import MCLP

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _instance(seed: int, n_groups: int, n_sites: int) -> tuple[np.random.Generator, sp.csr_array, np.ndarray]:
    """Random 0/1 coverage (dense enough for repeated and single-site rows) and integer weights."""
    rng = np.random.default_rng(seed)
    a = rng.random((n_groups, n_sites)) < 0.3
    a[np.arange(n_groups), rng.integers(0, n_sites, n_groups)] = True
    a[: n_groups // 3] = a[n_groups // 3 : 2 * (n_groups // 3)]  # identical rows, merged by the probe LP
    return rng, sp.csr_array(a.astype(float)), rng.integers(1, 30, n_groups).astype(float)


def _best(a: sp.csr_array, w: np.ndarray, k: int, lo: np.ndarray, up: np.ndarray) -> float:
    """Brute force: the best covered weight over the plans of ``k`` sites obeying the bounds."""
    best = -math.inf
    for combo in itertools.combinations(range(a.shape[1]), k):
        plan = np.zeros(a.shape[1], dtype=bool)
        plan[list(combo)] = True
        if np.all(plan[lo > 0.5]) and not np.any(plan[up < 0.5]):
            best = max(best, float(w[(a @ plan.astype(float)) > 0].sum()))
    return best


def _fix_random(rng: np.random.Generator, relax: _MclpRelaxation, share: float) -> None:
    """Fix a random share of the sites open or closed, keeping the exact-k choice possible."""
    for j in range(relax.ns):
        if rng.random() < share:
            value = float(rng.random() < 0.4)
            lo, up = relax.lo.copy(), relax.up.copy()
            lo[j] = up[j] = value
            if relax.certified(np.zeros(relax.ng), lo, up) > -math.inf:
                relax.set_bounds(j, value, value)


def _check_every_probe(a: sp.csr_array, w: np.ndarray, k: int, relax: _MclpRelaxation, probe_lp: _ProbeLp) -> None:
    """Every free site forced either way: the probe LP's bound is the full relaxation's and bounds brute force."""
    for j in np.flatnonzero((relax.lo < 0.5) & (relax.up > 0.5)):
        for value in (0.0, 1.0):
            lo, up = relax.lo.copy(), relax.up.copy()
            lo[j] = up[j] = value
            bound = probe_lp.probe(int(j), value, -math.inf)  # no threshold: to the LP optimum
            assert bound == pytest.approx(relax.probe(int(j), value, -math.inf), rel=1e-7, abs=1e-6)
            best = _best(a, w, k, lo, up)
            if best > -math.inf:
                assert bound >= best - 1e-6
            else:
                assert bound == -math.inf


def _solved_relaxation(seed: int, n_groups: int, n_sites: int, share: float) -> tuple | None:
    """A random instance, ``k``, and its relaxation with ``share`` of the sites fixed at random, solved (None: no plan)."""
    rng, a, w = _instance(seed, n_groups, n_sites)
    k = int(rng.integers(1, n_sites))
    relax = _MclpRelaxation(a, w, k)
    _fix_random(rng, relax, share)
    if relax.solve() == -math.inf:
        return None
    return rng, a, w, k, relax


@FAST
@given(seed=st.integers(0, 10**6), n_groups=st.integers(3, 18), n_sites=st.integers(3, 8))
@example(seed=1888, n_groups=11, n_sites=3)  # the random fixing leaves no site free (found by hypothesis)
def test_probe_lp_bounds_equal_the_full_relaxation_and_bound_brute_force(seed, n_groups, n_sites):
    case = _solved_relaxation(seed, n_groups, n_sites, 0.4)
    if case is None:
        return
    rng, a, w, k, relax = case
    probe_lp = _ProbeLp(relax)
    assert probe_lp.n_rows <= relax.ng
    _check_every_probe(a, w, k, relax, probe_lp)
    # A later fixing reaches the probe LP by fix() and a warm base re-solve; a worker thread's
    # copy answers the same.
    free = np.flatnonzero((relax.lo < 0.5) & (relax.up > 0.5))
    if len(free) < 2:  # the random fixing left at most one site free: nothing to fix later
        return
    j = int(free[0])
    value = float(relax.y[j] > 0.5)
    lo, up = relax.lo.copy(), relax.up.copy()
    lo[j] = up[j] = value
    if relax.certified(np.zeros(relax.ng), lo, up) == -math.inf:
        return
    relax.set_bounds(j, value, value)
    relax.solve()
    probe_lp.fix(j, value)
    probe_lp.solve_base()
    _check_every_probe(a, w, k, relax, probe_lp.copy())
    _check_every_probe(a, w, k, relax, probe_lp)


@FAST
@given(seed=st.integers(0, 10**6), n_groups=st.integers(3, 18), n_sites=st.integers(3, 8))
def test_probe_lp_early_stop_is_certified(seed, n_groups, n_sites):
    # With a threshold, a probe may stop as soon as HiGHS' objective bound is reached; what it
    # reports is still an upper bound on every plan with that site forced (weak duality), and it
    # falls below the threshold exactly when the LP optimum does.
    case = _solved_relaxation(seed, n_groups, n_sites, 0.25)
    if case is None:
        return
    rng, a, w, k, relax = case
    probe_lp = _ProbeLp(relax)
    for j in np.flatnonzero((relax.lo < 0.5) & (relax.up > 0.5)):
        value = float(rng.random() < 0.5)
        optimum = probe_lp.probe(int(j), value, -math.inf)
        if optimum == -math.inf:
            continue
        threshold = optimum + float(rng.uniform(-5.0, 5.0))
        bound = probe_lp.probe(int(j), value, threshold)
        lo, up = relax.lo.copy(), relax.up.copy()
        lo[j] = up[j] = value
        assert bound >= _best(a, w, k, lo, up) - 1e-6
        assert bound >= optimum - 1e-6
        if optimum < threshold - 1e-6:
            assert bound < threshold
        if optimum > threshold + 1e-6:
            assert bound >= threshold


def test_reduced_and_unreduced_mclp_agree_on_a_probing_instance():
    # 600 demand points x 150 sites, p = 16, r = 8 (the benchmark's recipe, smaller): the LP bound
    # is above the incumbent, so the reductions probe; the model built with them must have the
    # optimum of the model built without.
    rng = np.random.default_rng(2)
    d = cdist(rng.uniform(0, 100, (600, 2)), rng.uniform(0, 100, (150, 2)))
    w = rng.integers(1, 1001, 600)
    reduced = MCLP.from_cost_matrix(d, w, 8.0, 16)
    assert reduced.stats["probes"] > 0 and reduced.stats["probe_lp_builds"] >= 1
    reduced.solve()
    full = MCLP.from_cost_matrix(d, w, 8.0, 16, reduce=False).solve()
    assert reduced.status == full.status == "optimal"
    assert reduced.objective == full.objective
    covered = (d[:, reduced.selected_site_indices] <= 8.0).any(axis=1)
    assert float(w[covered].sum()) == reduced.objective
