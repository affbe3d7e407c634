"""LSCP-B's exact reductions (optimizer.locate.backup_coverage) against brute-force enumeration.

Every fixing of :func:`_cover_reductions` must hold for *every* cover of ``p`` sites (not just for
one optimum), every certified bound must bound every plan it claims to, and the model built with
and without the reductions must reach the brute-force optimum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import optimizer.locate.backup_coverage as backup_coverage
from optimizer.errors import SolverError
from optimizer.locate._validate import _coverage_csr
from optimizer.locate.backup_coverage import (
    LSCPB,
    _backup_bound,
    _cover_reductions,
    _CoverRelaxation,
    _fix_to_incumbent,
    _implied_rows,
)
from optimizer.locate.base import _merge_rows


@st.composite
def instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A 0/1 reach pattern (every client reaches a site) as a cost matrix (1 in reach, 9 not), and predefined sites."""
    n = draw(st.integers(1, 12))
    m = draw(st.integers(2, 8))
    density = draw(st.floats(0.15, 0.7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.random((n, m)) < density
    a[np.arange(n), rng.integers(0, m, n)] = True
    if draw(st.booleans()):  # duplicate clients: merged groups of several
        a = np.vstack([a, a[rng.integers(0, n, draw(st.integers(1, 4)))]])
    pre = np.zeros(m, dtype=bool)
    pre[rng.choice(m, size=draw(st.integers(0, 2)), replace=False)] = True
    return np.where(a, 1.0, 9.0), pre


def _min_covers(a: np.ndarray, pre: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """The LSCP optimum p and every cover of p sites (predefined ones included), by enumeration."""
    m = a.shape[1]
    for k in range(1, m + 1):
        covers = []
        for s in itertools.combinations(range(m), k):
            mask = np.zeros(m, dtype=bool)
            mask[list(s)] = True
            if (pre & ~mask).any() or not a[:, mask].any(axis=1).all():
                continue
            covers.append(mask)
        if covers:
            return k, covers
    raise AssertionError("every client reaches a site, so all sites cover everyone")


def _backed_up(a: np.ndarray, mask: np.ndarray) -> int:
    return int((a[:, mask].sum(axis=1) >= 2).sum())


@settings(max_examples=60)
@given(instances(), st.booleans())
def test_lscpb_with_and_without_reductions_matches_brute_force(inst, reduce):
    d, pre = inst
    a = d <= 1.0
    p, covers = _min_covers(a, pre)
    best = max(_backed_up(a, s) for s in covers)
    model = LSCPB.from_cost_matrix(d, 1.0, predefined_facilities_arr=pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.lscp_obj_value == p
    assert model.objective == best
    sel = np.zeros(a.shape[1], dtype=bool)
    sel[model.selected_site_indices] = True
    assert sel.sum() == p and not (pre & ~sel).any() and a[:, sel].any(axis=1).all()
    assert _backed_up(a, sel) == best
    assert model.spopt_objective == best + int((a.sum(axis=1) < 2).sum())


@settings(max_examples=40)
@given(instances(), st.booleans(), st.booleans())
def test_every_path_of_the_reductions_matches_brute_force(inst, find_cover, fix_all):
    # Small instances nearly always have a tight LP, an integral probe and an LP bound that proves
    # the incumbent: switch those off to exercise the LSCP MIP with the fixings kept and the model
    # built with the site fixings only.
    d, pre = inst
    a = d <= 1.0
    p, covers = _min_covers(a, pre)
    best = max(_backed_up(a, s) for s in covers)
    with pytest.MonkeyPatch.context() as mp:
        if not find_cover:
            mp.setattr(backup_coverage, "_as_cover", lambda *args: None)
        if not fix_all:
            mp.setattr(backup_coverage, "_fix_to_incumbent", lambda *args: None)
        model = LSCPB.from_cost_matrix(d, 1.0, predefined_facilities_arr=pre).solve()
    assert model.stats["p_proof"] == ("LSCP MIP" if not find_cover else model.stats["p_proof"])
    assert (model.status, model.lscp_obj_value, model.objective) == ("optimal", p, best)
    sel = np.zeros(a.shape[1], dtype=bool)
    sel[model.selected_site_indices] = True
    assert sel.sum() == p and not (pre & ~sel).any() and a[:, sel].any(axis=1).all()
    assert _backed_up(a, sel) == best


def test_lp_gap_above_one_falls_back_to_the_lscp_mip():
    # Clients = every pair of 6 sites, each reached by both sites of its pair: a cover must leave at
    # most one site out (p = 5), while y = 1/2 everywhere is an LP cover of value 3.
    pairs = list(itertools.combinations(range(6), 2))
    d = np.full((len(pairs), 6), 9.0)
    for i, (j, k) in enumerate(pairs):
        d[i, [j, k]] = 1.0
    a = d <= 1.0
    p, covers = _min_covers(a, np.zeros(6, dtype=bool))
    assert p == 5
    red = _cover_reductions(_coverage_csr(d, 1.0), np.zeros(6, dtype=bool))
    assert red.lower < p and red.cover is None
    model = LSCPB.from_cost_matrix(d, 1.0).solve()
    assert model.stats["p_proof"] == "LSCP MIP" and model.lscp_obj_value == 5
    assert model.objective == max(_backed_up(a, s) for s in covers)


@settings(max_examples=120)
@given(instances())
def test_cover_fixings_hold_for_every_cover_of_p_sites(inst):
    d, pre = inst
    a = d <= 1.0
    p, covers = _min_covers(a, pre)
    red = _cover_reductions(_coverage_csr(d, 1.0), pre)
    assert red.lower <= p  # a lower bound on p, always
    if red.cover is not None:  # a cover of `lower` sites proves p
        assert red.lower == p
        assert any((red.cover == s).all() for s in covers)
    if red.fixings is None or red.lower != p:
        return  # fixings are claimed only for covers of `lower` sites
    fx = red.fixings
    assert not (fx.opened & pre).any()
    for s in covers:
        assert not (s & fx.closed).any()
        assert not (fx.opened & ~s).any()
        assert (a[fx.single][:, s].sum(axis=1) == 1).all()
    # And the incumbent fixing, when it fires, keeps an optimum.
    best = max(_backed_up(a, s) for s in covers)
    all_fixed = _fix_to_incumbent(red, _coverage_csr(d, 1.0), pre, p)
    if all_fixed is not None:
        plan = ~all_fixed.closed
        assert any((plan == s).all() for s in covers)
        assert _backed_up(a, plan) == best
        assert (plan == (all_fixed.opened | pre)).all()


@settings(max_examples=80)
@given(instances(), st.integers(0, 2**32 - 1))
def test_certified_bounds_hold_for_any_duals_and_bounds(inst, seed):
    d, pre = inst
    a = d <= 1.0
    p, covers = _min_covers(a, pre)
    rng = np.random.default_rng(seed)
    cov = _coverage_csr(d, 1.0)
    codes, first = _merge_rows(cov)
    group_cov = sp.csr_array(cov[first])
    relax = _CoverRelaxation(group_cov, pre)
    m = a.shape[1]
    # Random bounds (some sites forced open or closed) and random non-negative duals: L(u) must
    # stay below the size of every cover of p sites within the bounds.
    lo, up = pre.astype(float), np.ones(m)
    lo[rng.random(m) < 0.2] = 1.0
    up[(rng.random(m) < 0.2) & (lo < 0.5)] = 0.0
    u = rng.exponential(0.5, group_cov.shape[0]) * (rng.random(group_cov.shape[0]) < 0.7)
    inside = [s for s in covers if not (s & (up < 0.5)).any() and not ((lo > 0.5) & ~s).any()]
    bound = relax.lower(u, lo, up, p)
    if inside:
        assert bound <= p + 1e-9
    assert relax.lower(u, lo, up, None) <= min((int(s.sum()) for s in inside), default=np.inf) + 1e-9
    # The backup LP's certified bound is above every such plan's backed-up demand.
    weight = np.bincount(codes).astype(float)
    ok = np.diff(group_cov.indptr) >= 2
    ub, _ = _backup_bound(group_cov, weight, ok, lo, up, p)
    for s in inside:
        assert ub >= _backed_up(a, s) - 1e-7


def test_implied_rows():
    # Client 0 reaches {0, 1}; client 1 reaches {0}: covering client 1 covers client 0.
    g = sp.csr_array(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]]))
    assert _implied_rows(g).tolist() == [True, False, True, False]


def _spread(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cdist(rng.uniform(0, 100, (n, 2)), rng.uniform(0, 100, (m, 2)))


def test_lp_proves_p_and_fixes_on_a_spread_instance():
    # 300 demand points x 40 sites in a 100 x 100 square, radius 25 (the benchmark's recipe, smaller).
    d = _spread(300, 40, 0)
    reduced = LSCPB.from_cost_matrix(d, 25.0).solve()
    full = LSCPB.from_cost_matrix(d, 25.0, reduce=False).solve()
    assert reduced.status == full.status == "optimal"
    assert reduced.lscp_obj_value == full.lscp_obj_value
    assert reduced.objective == full.objective
    assert reduced.stats["sites_fixed_closed"] + reduced.stats["sites_fixed_open"] > 0
    assert "p_proof" in reduced.stats and "p_proof" not in full.stats


@pytest.mark.parametrize("seed", range(6))
def test_reduced_equals_full_on_spread_instances(seed):
    d = _spread(120, 25, seed)
    radius = max(22.0, float(d.min(axis=1).max()))
    a = LSCPB.from_cost_matrix(d, radius).solve()
    b = LSCPB.from_cost_matrix(d, radius, reduce=False).solve()
    assert (a.lscp_obj_value, a.objective) == (b.lscp_obj_value, b.objective)


def test_reduced_model_refuses_user_edits_unreduced_honours_them():
    d = _spread(60, 12, 1)
    radius = max(35.0, float(d.min(axis=1).max()))
    model = LSCPB.from_cost_matrix(d, radius)
    y = next(iter(model._site_vars.values()))
    model.problem += y <= 0, "close_one"
    with pytest.raises(SolverError, match="reduce=False"):
        model.solve()
    free = LSCPB.from_cost_matrix(d, radius, reduce=False)
    assert not free.changed()
    free.problem += free._site_vars[0] <= 0, "close_site_0"
    free.solve()
    assert free.changed() and free.status == "optimal"
    assert 0 not in free.selected_site_indices
    assert free.objective == pytest.approx(pulp.value(free.problem.objective))
