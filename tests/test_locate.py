"""The location models against brute-force enumeration on small random instances."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pulp
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.spatial.distance import cdist
from shapely.geometry import Point

import optimizer.locate._mclp_reduce as _mclp_reduce_module
from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.locate._mclp_reduce import (
    _mclp_local_search,
    _MclpReducer,
    _MclpRelaxation,
)
from optimizer.locate.cflp import CFLP
from optimizer.locate.coverage import LSCP, MCLP
from optimizer.locate.p_center import PCenter
from optimizer.locate.p_median import PMedian
from optimizer.solvers.options import SolveReport

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _instance(seed: int, n: int, m: int, integer: bool):
    rng = np.random.default_rng(seed)
    if integer:
        # Small integer distances: many ties, the hard case for level-based formulations.
        d = rng.integers(0, 6, size=(n, m)).astype(float)
    else:
        d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    w = rng.integers(0, 5, size=n).astype(float)
    return rng, d, w


def _predefined(rng, m: int, p: int) -> np.ndarray:
    k = int(rng.integers(0, min(p, 2) + 1))
    mask = np.zeros(m, dtype=bool)
    mask[rng.choice(m, size=k, replace=False)] = True
    return mask


def _subsets(m: int, p: int, pre: np.ndarray):
    for combo in itertools.combinations(range(m), p):
        if pre[list(combo)].sum() == pre.sum():
            yield list(combo)


# --------------------------------------------------------------------------- p-median


@FAST
@given(
    seed=st.integers(0, 10**6), n=st.integers(1, 15), m=st.integers(1, 8), integer=st.booleans(), reduce=st.booleans()
)
def test_pmedian_matches_brute_force(seed, n, m, integer, reduce):
    rng, d, w = _instance(seed, n, m, integer)
    p = int(rng.integers(1, m + 1))
    pre = _predefined(rng, m, p)
    best = min(float(w @ d[:, s].min(axis=1)) for s in _subsets(m, p, pre))
    model = PMedian.from_cost_matrix(d, w, p, pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best, abs=1e-6)
    sel = model.selected_site_indices
    assert len(sel) == p and set(np.flatnonzero(pre)) <= set(sel)
    # The reported value is the p-median objective of the reported plan.
    assert float(w @ d[np.arange(n), model.assignment]) == pytest.approx(model.objective)
    assert np.all(np.isin(model.assignment, sel))
    assert model.report.bound == pytest.approx(best, abs=1e-5)


def test_pmedian_fac2cli_and_cbc():
    rng = np.random.default_rng(3)
    d = cdist(rng.uniform(0, 10, (30, 2)), rng.uniform(0, 10, (8, 2)))
    w = rng.integers(1, 9, 30).astype(float)
    best = min(float(w @ d[:, list(s)].min(axis=1)) for s in itertools.combinations(range(8), 3))
    for solver in ("highs", "cbc"):
        model = PMedian.from_cost_matrix(d, w, 3).solve(solver)
        assert model.status == "optimal" and model.report.solver == solver
        assert model.objective == pytest.approx(best)
        assert sorted(i for cl in model.fac2cli for i in cl) == list(range(30))
        for i, facs in enumerate(model.cli2fac):
            assert facs == [model.assignment[i]]


def test_pmedian_reductions_shrink_model_but_keep_optimum():
    rng = np.random.default_rng(7)
    d = cdist(rng.uniform(0, 100, (120, 2)), rng.uniform(0, 100, (40, 2)))
    w = rng.integers(1, 10, 120).astype(float)
    full = PMedian.from_cost_matrix(d, w, 4, reduce=False).solve()
    red = PMedian.from_cost_matrix(d, w, 4).solve()
    assert red.objective == pytest.approx(full.objective)
    assert red.stats["nonzeros"] < full.stats["nonzeros"]
    assert red.stats["lagrangian_bound"] <= red.objective + 1e-6


# --------------------------------------------------------------------------- p-center


@FAST
@given(
    seed=st.integers(0, 10**6), n=st.integers(1, 15), m=st.integers(1, 8), integer=st.booleans(), reduce=st.booleans()
)
def test_pcenter_matches_brute_force(seed, n, m, integer, reduce):
    rng, d, _ = _instance(seed, n, m, integer)
    p = int(rng.integers(1, m + 1))
    pre = _predefined(rng, m, p)
    best = min(float(d[:, s].min(axis=1).max()) for s in _subsets(m, p, pre))
    model = PCenter.from_cost_matrix(d, p, pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best, abs=1e-9)
    assert len(model.selected_site_indices) == p
    assert set(np.flatnonzero(pre)) <= set(model.selected_site_indices)
    assert pulp.value(model.problem.objective) == pytest.approx(best, abs=1e-6)


def test_pcenter_radius_search_keeps_optimum():
    rng = np.random.default_rng(5)
    d = cdist(rng.uniform(0, 10, (40, 2)), rng.uniform(0, 10, (15, 2)))
    fast = PCenter.from_cost_matrix(d, 3).solve()
    full = PCenter.from_cost_matrix(d, 3, reduce=False).solve()
    assert fast.objective == pytest.approx(full.objective)
    assert fast.stats["lower_bound"] <= fast.objective <= fast.stats["heuristic_objective"]
    assert fast.stats["radii"] < full.stats["radii"]


# --------------------------------------------------------------------------- coverage


def _covered(a: np.ndarray, s) -> np.ndarray:
    return a[:, list(s)].any(axis=1) if len(s) else np.zeros(a.shape[0], dtype=bool)


@FAST
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 15),
    m=st.integers(1, 8),
    integer=st.booleans(),
    reduce=st.booleans(),
    sparse=st.booleans(),
)
def test_mclp_matches_brute_force(seed, n, m, integer, reduce, sparse):
    rng, d, w = _instance(seed, n, m, integer)
    radius = float(rng.choice([1.0, 2.0, 3.0])) if integer else float(rng.uniform(1, 6))
    a = d <= radius
    p = int(rng.integers(1, m + 1))
    pre = _predefined(rng, m, p)
    best = max(float(w[_covered(a, s)].sum()) for s in _subsets(m, p, pre))
    cost = sp.csr_array(np.where(a, d, 0.0)) if sparse else d
    if sparse:  # stored entries are the pairs in reach, zeros included
        rows, cols = np.nonzero(a)
        cost = sp.csr_array((d[rows, cols], (rows, cols)), shape=d.shape)
    model = MCLP.from_cost_matrix(cost, w, radius, p, pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best)
    assert pulp.value(model.problem.objective) == pytest.approx(best)
    sel = model.selected_site_indices
    assert len(sel) == p and set(np.flatnonzero(pre)) <= set(sel)
    assert float(w[_covered(a, sel)].sum()) == pytest.approx(best)


@FAST
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 15),
    m=st.integers(1, 8),
    with_p=st.booleans(),
    equal_costs=st.booleans(),
    reduce=st.booleans(),
)
def test_mclp_budget_matches_brute_force(seed, n, m, with_p, equal_costs, reduce):
    rng, d, w = _instance(seed, n, m, False)
    radius = float(rng.uniform(1, 6))
    a = d <= radius
    costs = np.full(m, 2.0) if equal_costs else rng.integers(0, 6, m).astype(float)
    pre = _predefined(rng, m, 1)
    budget = float(costs[pre].sum() + rng.integers(0, 12))
    p = int(rng.integers(max(1, pre.sum()), m + 1)) if with_p else None
    best = -math.inf
    for k in [p] if p else range(m + 1):
        for s in _subsets(m, k, pre):
            if costs[s].sum() <= budget + 1e-9:
                best = max(best, float(w[_covered(a, s)].sum()))
    model = MCLP.from_cost_matrix(d, w, radius, p, pre, facility_costs=costs, budget=budget, reduce=reduce)
    model.solve()
    if best == -math.inf:
        assert model.status == "infeasible"
        return
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best)
    sel = model.selected_site_indices
    assert costs[sel].sum() <= budget + 1e-6
    assert p is None or len(sel) == p


@FAST
@given(
    seed=st.integers(0, 10**6), n=st.integers(1, 15), m=st.integers(1, 8), integer=st.booleans(), reduce=st.booleans()
)
def test_lscp_matches_brute_force(seed, n, m, integer, reduce):
    rng, d, _ = _instance(seed, n, m, integer)
    radius = float(d.min(axis=1).max()) + (0.0 if integer else float(rng.uniform(0, 2)))
    a = d <= radius
    pre = _predefined(rng, m, m)
    best = next(k for k in range(m + 1) for s in _subsets(m, k, pre) if _covered(a, s).all())
    model = LSCP.from_cost_matrix(d, radius, pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best)
    assert _covered(a, model.selected_site_indices).all()
    assert model.n_cli_uncov == 0 and model.perc_cov == 100.0
    assert len(model.selected_site_indices) == best


def test_coverage_reductions_merge_and_drop():
    # Clients 0 and 1 share a covering set; site 2 covers a subset of site 0's set.
    d = np.array([[1.0, 9.0, 1.0], [1.0, 9.0, 1.0], [1.0, 9.0, 9.0], [9.0, 1.0, 9.0]])
    model = MCLP.from_cost_matrix(d, [1, 2, 3, 4], 2.0, 1)
    assert model.stats["demand_groups"] == 3
    assert model.stats["sites_dropped"] == 1
    assert model.solve().objective == 6.0 and list(model.selected_site_indices) == [0]
    # With p = 3 every site must open, so no site may be dropped for good.
    model3 = MCLP.from_cost_matrix(d, [1, 2, 3, 4], 2.0, 3).solve()
    assert model3.objective == 10.0 and len(model3.selected_site_indices) == 3


def test_mclp_spopt_style_results():
    d = np.array([[1.0, 9.0], [2.0, 1.0], [9.0, 1.0]])
    model = MCLP.from_cost_matrix(d, [5, 1, 1], 2.0, 1).solve("cbc")
    assert model.status == "optimal" and model.objective == 6.0
    assert model.fac2cli == [[0, 1], []]
    assert model.cli2fac == [[0], [0], []]
    assert model.n_cli_uncov == 1


# --------------------------------------------------------------------------- CFLP


def _cflp_brute(c_total, dem, cap, fixed, pre, uncap):
    n, m = c_total.shape
    best = math.inf
    for k in range(1, m + 1):
        for s in _subsets(m, k, pre):
            if uncap:
                best = min(best, fixed[s].sum() + c_total[:, s].min(axis=1).sum())
                continue
            if cap[s].sum() < dem.sum() - 1e-9:
                continue
            # LP over x_ij (i client, j in s): sum_j x_ij = 1, sum_i d_i x_ij <= cap_j.
            ns = len(s)
            obj = c_total[:, s].ravel()
            a_eq = np.kron(np.eye(n), np.ones(ns))
            a_ub = np.kron(dem[None, :], np.eye(ns)) if n else None
            a_ub = np.zeros((ns, n * ns))
            for i in range(n):
                for t in range(ns):
                    a_ub[t, i * ns + t] = dem[i]
            res = linprog(obj, A_ub=a_ub, b_ub=cap[s], A_eq=a_eq, b_eq=np.ones(n), bounds=(0, 1), method="highs")
            if res.status == 0:
                best = min(best, fixed[s].sum() + res.fun)
    return best


@FAST
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 10),
    m=st.integers(1, 6),
    uncap=st.booleans(),
    kind=st.sampled_from(["unit", "total"]),
)
def test_cflp_matches_brute_force(seed, n, m, uncap, kind):
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 20, (n, m)).astype(float)
    dem = rng.integers(0, 10, n).astype(float)
    cap = rng.integers(1, 25, m).astype(float)
    fixed = rng.integers(0, 40, m).astype(float)
    pre = _predefined(rng, m, m)
    c_total = c * dem[:, None] if kind == "unit" else c
    best = _cflp_brute(c_total, dem, cap, fixed, pre, uncap)
    if not uncap and cap.sum() < dem.sum():
        with pytest.raises(InfeasibleError, match="below total demand"):
            CFLP.from_cost_matrix(c, dem, cap, fixed, pre, uncapacitated=uncap, cost_kind=kind)
        return
    model = CFLP.from_cost_matrix(c, dem, cap, fixed, pre, uncapacitated=uncap, cost_kind=kind).solve()
    if best == math.inf:
        assert model.status == "infeasible"
        return
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best, rel=1e-7, abs=1e-6)
    alloc = model.allocation.toarray()
    assert np.allclose(alloc.sum(axis=1), 1.0, atol=1e-6)
    if not uncap:
        assert np.all(dem @ alloc <= cap + 1e-6)
    opened = np.zeros(m, dtype=bool)
    opened[model.selected_site_indices] = True
    assert np.all(alloc[:, ~opened] <= 1e-9) and np.all(opened[pre])


def test_cflp_forbidden_pairs_and_cbc():
    c = np.array([[1.0, np.inf], [np.inf, 1.0], [3.0, 1.0]])
    model = CFLP.from_cost_matrix(c, [1, 1, 1], [2, 2], [10, 10], cost_kind="total").solve("cbc")
    assert model.status == "optimal" and model.objective == pytest.approx(23.0)  # 10 + 10 + 1 + 1 + 1
    assert list(model.assignment) == [0, 1, 1]
    with pytest.raises(InfeasibleError, match="client"):
        CFLP.from_cost_matrix(np.full((1, 2), np.inf), [1], [2, 2], [1, 1])


# --------------------------------------------------------------------------- errors and safety


def test_lscp_names_uncovered_demand():
    d = np.array([[1.0, 2.0], [9.0, 8.0], [1.0, 1.0], [7.0, 9.5]])
    with pytest.raises(
        InfeasibleError, match=r"2 demand point\(s\) are farther than 5 from every candidate site.*: 1, 3"
    ):
        LSCP.from_cost_matrix(d, 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: PMedian.from_cost_matrix(np.ones((3, 2)), [1, 1, 1], 3), r"p_facilities must be in 1\.\.2"),
        (lambda: PMedian.from_cost_matrix(np.ones((3, 2)), [1, 1], 1), "weights has 2 values, expected 3"),
        (lambda: PMedian.from_cost_matrix(np.array([[1.0, np.nan]]), [1], 1), "NaN at client 0, site 1"),
        (lambda: PMedian.from_cost_matrix(np.array([[1.0, -1.0]]), [1], 1), "negative value"),
        (lambda: PMedian.from_cost_matrix(np.ones((2, 3)), [1, 1], 1, [0, 1]), "fewer than the 2 predefined"),
        (lambda: PCenter.from_cost_matrix(sp.csr_array(np.ones((2, 2))), 1), "must be a dense"),
        (lambda: MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 1.0), "give p_facilities, a budget"),
        (lambda: MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], -1.0, 1), "service_radius must be finite"),
        (lambda: MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 1.0, budget=3), "needs facility_costs"),
        (
            lambda: MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 1.0, None, [0], facility_costs=[5, 1], budget=3),
            "predefined sites alone cost 5",
        ),
        (lambda: CFLP.from_cost_matrix(np.ones((2, 2)), [1, 1], None, [1, 1]), "facility_capacity is required"),
        (lambda: CFLP.from_cost_matrix(np.ones((2, 2)), [1, 1], [1, 1], [1, 1], cost_kind="x"), "cost_kind"),
        (lambda: LSCP.from_cost_matrix(np.ones((2, 2)), 1, [0, 0, 1]), "3 entries but there are only 2 sites"),
    ],
)
def test_input_errors(call, message):
    with pytest.raises((InputError, InfeasibleError), match=message):
        call()


def test_reduced_model_refuses_user_constraints_unreduced_honours_them():
    d = np.array([[1.0, 5.0, 9.0], [5.0, 1.0, 9.0], [9.0, 9.0, 1.0]])
    w = [1, 1, 1]
    model = PMedian.from_cost_matrix(d, w, 2)
    model.problem += model.problem.variablesDict()["y_2"] >= 1, "open_site_2"
    with pytest.raises(SolverError, match="reduce=False"):
        model.solve()
    free = PMedian.from_cost_matrix(d, w, 2, reduce=False)
    y = free.problem.variablesDict()
    free.problem += y["y_0"] + y["y_1"] <= 1, "not_both"
    free.solve()
    assert free.status == "optimal" and 2 in free.selected_site_indices
    assert free.objective == pytest.approx(min(w @ d[:, [0, 2]].min(axis=1), w @ d[:, [1, 2]].min(axis=1)))


def test_time_limit_reports_honestly(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(1)
    d = cdist(rng.uniform(0, 100, (3000, 2)), rng.uniform(0, 100, (600, 2)))
    # The reductions run in full before the solve (and its time limit); on this instance their probing
    # spends 126,779 simplex iterations (over 80 % of the test's time) to fix 59 of 600 sites. The
    # probing floor alone keeps the reduced model (with its incumbent as MIP start) that the time
    # limit then stops, which is what this test is about.
    monkeypatch.setattr(_mclp_reduce_module, "_MCLP_PROBE_ITER_FACTOR", 0)
    model = MCLP.from_cost_matrix(d, rng.integers(1, 100, 3000), 9.0, 30).solve(time_limit=0.3)
    assert model.status in ("optimal", "feasible", "no_solution")
    if model.status == "feasible":
        assert model.gap is not None and model.gap >= 0
        assert model.bound >= model.objective - 1e-6
        # Never worse than the greedy plan built with the model.
        assert model.objective >= model.stats["heuristic_objective"] - 1e-6
        assert model.objective == pytest.approx(float(pulp.value(model.problem.objective)))


# --------------------------------------------------------------------------- geodata


def _layers(crs):
    rng = np.random.default_rng(11)
    lon = 120.1 + rng.uniform(0, 0.05, 25)
    lat = 30.2 + rng.uniform(0, 0.05, 25)
    dem = gpd.GeoDataFrame(
        {"pop": rng.integers(1, 50, 25)}, geometry=[Point(x, y) for x, y in zip(lon, lat, strict=False)], crs=crs
    )
    fac = gpd.GeoDataFrame(
        {"must": [False] * 5 + [True]},
        geometry=[Point(x, y) for x, y in zip(lon[:6], lat[:6], strict=False)],
        crs=crs,
        index=[f"s{k}" for k in range(6)],
    )
    return dem, fac


def test_from_geodataframe_projects_geographic_data():
    dem, fac = _layers("EPSG:4326")
    utm = dem.estimate_utm_crs()
    d = cdist(
        np.column_stack([dem.to_crs(utm).geometry.x, dem.to_crs(utm).geometry.y]),
        np.column_stack([fac.to_crs(utm).geometry.x, fac.to_crs(utm).geometry.y]),
    )
    w = dem["pop"].to_numpy()
    geo = MCLP.from_geodataframe(
        dem, fac, "geometry", "geometry", "pop", 1500.0, 2, predefined_facility_col="must"
    ).solve()
    ref = MCLP.from_cost_matrix(d, w, 1500.0, 2, fac["must"].to_numpy()).solve()
    assert geo.objective == pytest.approx(ref.objective)
    assert "s5" in geo.selected_sites
    pm = PMedian.from_geodataframe(dem, fac, "geometry", "geometry", "pop", 2).solve()
    assert pm.objective == pytest.approx(PMedian.from_cost_matrix(d, w, 2).solve().objective, rel=1e-9)
    pc = PCenter.from_geodataframe(dem, fac, "geometry", "geometry", 2).solve()
    assert pc.objective == pytest.approx(PCenter.from_cost_matrix(d, 2).solve().objective, rel=1e-9)
    ls = LSCP.from_geodataframe(dem, fac, "geometry", "geometry", 4000.0).solve()
    assert ls.objective == LSCP.from_cost_matrix(d, 4000.0).solve().objective


def test_from_geodataframe_rejects_crs_mismatch():
    dem, fac = _layers("EPSG:4326")
    with pytest.raises(InputError, match="CRS"):
        MCLP.from_geodataframe(dem, fac.to_crs(3857), "geometry", "geometry", "pop", 1000.0, 1)
    with pytest.raises(InputError, match="no geometry column 'geom'"):
        MCLP.from_geodataframe(dem, fac, "geom", "geometry", "pop", 1000.0, 1)


# --------------------------------------------------------------------------- MCLP incumbent and exact fixing


def _coverage_instance(seed: int, n_groups: int, n_sites: int, density: float, integer: bool):
    rng = np.random.default_rng(seed)
    a = rng.random((n_groups, n_sites)) < density
    a[np.arange(n_groups), rng.integers(0, n_sites, n_groups)] = True  # every group reachable
    w = rng.integers(1, 20, n_groups).astype(float) if integer else rng.uniform(0.1, 20.0, n_groups)
    return rng, sp.csr_array(a.astype(float)), w


def _plans(n_sites: int, k: int):
    for combo in itertools.combinations(range(n_sites), k):
        mask = np.zeros(n_sites, dtype=bool)
        mask[list(combo)] = True
        yield mask


def _value(a: sp.csr_array, w: np.ndarray, mask: np.ndarray) -> float:
    return float(w[(a @ mask.astype(float)) > 0].sum())


@FAST
@given(seed=st.integers(0, 10**6), n_groups=st.integers(1, 14), n_sites=st.integers(2, 8), integer=st.booleans())
def test_mclp_local_search_returns_a_local_optimum(seed, n_groups, n_sites, integer):
    rng, a, w = _coverage_instance(seed, n_groups, n_sites, 0.35, integer)
    k = int(rng.integers(1, n_sites))
    start = np.zeros(n_sites, dtype=bool)
    start[rng.choice(n_sites, k, replace=False)] = True
    locked = start & (rng.random(n_sites) < 0.3)
    allowed = rng.random(n_sites) < 0.8
    plan, value, flip = _mclp_local_search(a, w, start, locked, allowed)
    assert plan.sum() == k and np.all(plan[locked])
    assert np.all(plan[~start] <= allowed[~start])  # only allowed sites entered
    assert value == pytest.approx(_value(a, w, plan))
    assert value >= _value(a, w, start) - 1e-9
    # No single swap (allowed site in, unlocked site out) improves the plan, and `flip` holds the
    # best change of a swap through each site.
    best = np.full(n_sites, -np.inf)
    for j in np.flatnonzero(~plan & allowed):
        for out in np.flatnonzero(plan & ~locked):
            other = plan.copy()
            other[j], other[out] = True, False
            change = _value(a, w, other) - value
            assert change <= 1e-9 * max(1.0, w.sum())
            best[j], best[out] = max(best[j], change), max(best[out], change)
    finite = np.isfinite(best)
    assert np.array_equal(finite, np.isfinite(flip))
    assert flip[finite] == pytest.approx(best[finite])


@FAST
@given(seed=st.integers(0, 10**6), n_groups=st.integers(1, 12), n_sites=st.integers(2, 7), integer=st.booleans())
def test_mclp_certified_bound_is_an_upper_bound(seed, n_groups, n_sites, integer):
    rng, a, w = _coverage_instance(seed, n_groups, n_sites, 0.35, integer)
    k = int(rng.integers(1, n_sites + 1))
    relax = _MclpRelaxation(a, w, k)
    lp = relax.solve()
    # At the LP optimum the certificate is the LP value (and bounds every plan).
    best = max(_value(a, w, s) for s in _plans(n_sites, k))
    assert lp >= best - 1e-9
    # Any multipliers u >= 0 and any fixings give a bound on every plan obeying the fixings.
    lo = (rng.random(n_sites) < 0.2).astype(float)
    up = np.where(rng.random(n_sites) < 0.2, 0.0, 1.0)
    up = np.maximum(up, lo)
    u = rng.uniform(0, 25, n_groups) * (rng.random(n_groups) < 0.7)
    bound = relax.certified(u, lo, up)
    obeying = [_value(a, w, s) for s in _plans(n_sites, k) if np.all(s[lo > 0]) and not np.any(s[up < 1])]
    if obeying:
        assert bound >= max(obeying) - 1e-9
    else:
        assert bound == -math.inf


def _reducer_with_incumbent(a, w, k, plan, integer):
    stats: dict = {}
    red = _MclpReducer(a, w, k, stats)
    red.integral = integer
    red.plan, red.value = plan.copy(), _value(a, w, plan)
    red.flip = _mclp_local_search(a, w, plan, np.zeros_like(plan), np.ones_like(plan), max_passes=0)[2]
    red.relax = _MclpRelaxation(a, w, k)
    red.relax.solve()
    return red, stats


@FAST
@given(seed=st.integers(0, 10**6), n_groups=st.integers(2, 16), n_sites=st.integers(3, 9), integer=st.booleans())
def test_mclp_fixing_keeps_every_plan_worth_keeping(seed, n_groups, n_sites, integer):
    # The reducer is given a random (usually poor) incumbent, so the reduced-cost tests and the
    # probes have work to do; brute force then checks the invariant the exactness rests on.
    rng, a, w = _coverage_instance(seed, n_groups, n_sites, 0.3, integer)
    k = int(rng.integers(1, n_sites))
    plan = np.zeros(n_sites, dtype=bool)
    plan[rng.choice(n_sites, k, replace=False)] = True
    red, _ = _reducer_with_incumbent(a, w, k, plan, integer)
    red.apply([red.relax], red.relax.reduced_cost_tests(red.plan, red.threshold))
    red.probe_all(10**6)
    lo, up = red.relax.lo, red.relax.up
    values = {tuple(s): _value(a, w, s) for s in _plans(n_sites, k)}
    for s, v in values.items():
        s = np.array(s)
        if v >= red.threshold:  # worth keeping: strictly better (integer weights) or as good
            assert np.all(s[lo > 0.5]) and not np.any(s[up < 0.5])
    # The incumbent obeys every fixing, so the restricted optimum is the true optimum.
    assert np.all(red.plan[lo > 0.5]) and not np.any(red.plan[up < 0.5])
    restricted = max(
        v for s, v in values.items() if np.all(np.array(s)[lo > 0.5]) and not np.any(np.array(s)[up < 0.5])
    )
    assert restricted == pytest.approx(max(values.values()))


def test_mclp_fixing_does_real_work_and_keeps_the_optimum(monkeypatch):
    # 70 groups x 14 sites, k = 4, LP bound 481.7 > optimum 454. Started from the 5th-best plan
    # (447), the reduced-cost tests and probes fix some sites and must keep every better plan.
    # (The local search between probing rounds would find the optimum and fix every site: off.)
    monkeypatch.setattr(_mclp_reduce_module, "_MCLP_ILS_ROUND_ITERATIONS", 0)
    _, a, w = _coverage_instance(3, 70, 14, 0.12, True)
    values = {tuple(s): _value(a, w, s) for s in _plans(14, 4)}
    ranked = sorted(values.values())
    optimum, start_value = ranked[-1], ranked[-5]
    assert (optimum, start_value) == (454.0, 447.0)
    plan = np.array(next(s for s, v in values.items() if v == start_value))
    red, stats = _reducer_with_incumbent(a, w, 4, plan, True)
    assert red.relax.value == pytest.approx(481.6666667)
    red.apply([red.relax], red.relax.reduced_cost_tests(red.plan, red.threshold))
    red.probe_all(10**6)
    lo, up = red.relax.lo, red.relax.up
    n_fixed = int((lo == up).sum())
    assert stats["probes"] > 0 and 5 <= n_fixed < 14
    for s, v in values.items():
        if v >= red.threshold:
            s = np.array(s)
            assert np.all(s[lo > 0.5]) and not np.any(s[up < 0.5])
    restricted = [v for s, v in values.items() if np.all(np.array(s)[lo > 0.5]) and not np.any(np.array(s)[up < 0.5])]
    assert max(restricted) == optimum and len(restricted) < len(values)
    # End to end: the model built with the reductions has the brute-force optimum.
    d = np.where(a.toarray() > 0, 1.0, 9.0)
    model = MCLP.from_cost_matrix(d, w, 2.0, 4).solve()
    assert model.status == "optimal" and model.objective == optimum
    assert model.stats["heuristic_objective"] <= optimum <= model.stats["lp_bound"] + 1e-9


@FAST
@given(seed=st.integers(0, 10**6), n=st.integers(1, 15), m=st.integers(2, 8), reduce=st.booleans())
def test_mclp_float_weights_match_brute_force(seed, n, m, reduce):
    # Non-integer weights: the reductions keep plans at least as good as the incumbent.
    rng = np.random.default_rng(seed)
    d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    w = rng.uniform(0, 5, n)
    radius = float(rng.uniform(1, 6))
    a = d <= radius
    p = int(rng.integers(1, m + 1))
    pre = _predefined(rng, m, p)
    best = max(float(w[_covered(a, s)].sum()) for s in _subsets(m, p, pre))
    model = MCLP.from_cost_matrix(d, w, radius, p, pre, reduce=reduce).solve()
    assert model.status == "optimal"
    assert model.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert model.bound >= best - 1e-6


def test_mclp_benchmark_like_instance_reductions():
    rng = np.random.default_rng(2)
    d = cdist(rng.uniform(0, 100, (600, 2)), rng.uniform(0, 100, (150, 2)))
    w = rng.integers(1, 1001, 600)
    full = MCLP.from_cost_matrix(d, w, 12.0, 12, reduce=False).solve()
    red = MCLP.from_cost_matrix(d, w, 12.0, 12)
    assert red.stats["sites_fixed_closed"] + red.stats["sites_dropped"] > 100
    red.solve()
    assert full.status == red.status == "optimal"
    assert red.objective == full.objective
    assert red.stats["heuristic_objective"] <= red.objective <= red.stats["lp_bound"] + 1e-6
    covered = (d[:, red.selected_site_indices] <= 12.0).any(axis=1)
    assert float(w[covered].sum()) == red.objective


def test_mclp_time_limit_without_a_plan_reports_the_incumbent():
    rng = np.random.default_rng(4)
    d = cdist(rng.uniform(0, 100, (500, 2)), rng.uniform(0, 100, (120, 2)))
    w = rng.integers(1, 100, 500)
    model = MCLP.from_cost_matrix(d, w, 10.0, 8)
    # What a solver stopped by its time limit before finding any plan reports.
    report = SolveReport("no_solution", None, 1e9, None, 0.1, "highs", "1.16.0", "Time limit reached")
    model._improve_plan(report)
    assert report.status == "feasible"
    assert report.objective == model.stats["heuristic_objective"]
    assert report.gap == pytest.approx((1e9 - report.objective) / report.objective)
    model._collect()
    assert model._objective_value() == report.objective
    assert sorted(model.selected_site_indices) == sorted(model.incumbent_sites)


@pytest.mark.parametrize("lp", [True, False])
def test_mclp_stop_without_any_bound_still_reports_a_proven_gap(lp, monkeypatch):
    # A short time limit on a busy machine can stop HiGHS before it has any bound (in presolve):
    # the plan kept must still carry a proven gap — from the reductions' certified LP bound, or
    # (no LP at build time) from all the weight any site reaches.
    import optimizer.locate._mclp_reduce as mclp_reduce
    import optimizer.locate.base as locate_base

    if not lp:
        monkeypatch.setattr(mclp_reduce, "_MCLP_LP_MAX_PAIRS", 0)
    rng = np.random.default_rng(4)
    d = cdist(rng.uniform(0, 100, (500, 2)), rng.uniform(0, 100, (120, 2)))
    w = rng.integers(1, 100, 500).astype(float)
    model = MCLP.from_cost_matrix(d, w, 10.0, 8)
    assert ("lp_bound" in model.stats) == lp
    stopped = SolveReport("no_solution", None, None, None, 0.1, "highs", "1.16.0", "Time limit reached")
    monkeypatch.setattr(locate_base, "solve_highs_bulk", lambda problem, options, start=None: stopped)
    model.solve(time_limit=1.0)
    reach = w[(d <= 10.0).any(axis=1)].sum()
    assert model.status == "feasible" and model.objective == model.stats["heuristic_objective"]
    # Without the LP the Lagrangian bound of the reductions (issue 14) bounds the plan when it beats the reach.
    no_lp = min(model.stats["lagrangian_bound"], reach) if not lp else None
    assert model.bound == pytest.approx(model.stats["lp_bound"] if lp else no_lp)
    assert model.bound <= reach + 1e-9 and model.bound >= model.objective
    assert model.gap == pytest.approx((model.bound - model.objective) / model.objective)


# --------------------------------------------------------------------------- user-added rows (model.problem)


def _reported_values(model) -> dict[str, float]:
    """The reported plan as values of the problem's variables: open sites from ``selected_site_indices``,
    CFLP shares from ``allocation``, everything else as solved."""
    values = {v.name: float(v.varValue or 0.0) for v in model.problem.variables()}
    open_ = {int(j) for j in model.selected_site_indices}
    for j, v in model._site_vars.items():
        values[v.name] = 1.0 if j in open_ else 0.0
    if isinstance(model, CFLP):
        alloc = model.allocation.toarray()
        for i, j, x in zip(*model._pairs, model._x, strict=False):
            values[x.name] = float(alloc[i, j])
    return values


def _assert_rows_hold(model, tol: float = 1e-6) -> None:
    """Every row of the problem, user rows included, holds at the reported plan."""
    values = _reported_values(model)
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


def _assert_reported_as_solved(model, expected: float) -> None:
    assert model.status == "optimal"
    assert model.objective == pytest.approx(float(pulp.value(model.problem.objective)), rel=1e-7, abs=1e-7)
    assert model.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert model.report.extra["post_processing"] == "skipped: the problem was changed after it was built"
    _assert_rows_hold(model)


def _capacitated_pmedian(seed: int):
    """A capacitated p-median from CFLP (fixed costs 0) with two user rows: exactly p open, and the
    required site filled to capacity — the case whose re-solved shares used to break the second row."""
    rng = np.random.default_rng(seed)
    n, m, p = 7, 5, 3
    c = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    dem = rng.integers(1, 5, n).astype(float)
    cap = np.full(m, dem.sum() / 2.5)
    model = CFLP.from_cost_matrix(c, dem, cap, np.zeros(m), [0])
    prob = model.problem
    prob += pulp.lpSum(model._site_vars.values()) == p, "exactly_p"
    fill = [(x, dem[i]) for i, j, x in zip(*model._pairs, model._x, strict=False) if j == 0]
    prob += pulp.LpAffineExpression(fill) == cap[0], "fill_required_site"
    return model, c, dem, cap, p


def _capacitated_pmedian_brute_force(c, dem, cap, p) -> float:
    """Every open set of p sites with site 0; for each, the cheapest shares (an LP) with site 0 full."""
    n, m = c.shape
    best = math.inf
    for combo in _subsets(m, p, np.eye(m, dtype=bool)[0]):
        k = len(combo)
        cost = (c[:, combo] * dem[:, None]).ravel()  # shares x[i, combo[t]] at i * k + t
        a_eq = [np.kron(np.eye(n)[i], np.ones(k)) for i in range(n)]
        b_eq = [1.0] * n
        a_eq.append(np.kron(dem, np.eye(k)[0]))  # site 0 is combo[0]: filled exactly
        b_eq.append(cap[0])
        a_ub = np.stack([np.kron(dem, np.eye(k)[t]) for t in range(1, k)])
        res = linprog(
            cost, A_ub=a_ub, b_ub=cap[combo[1:]], A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, 1), method="highs"
        )
        if res.status == 0:
            best = min(best, res.fun)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_cflp_keeps_user_rows(seed, solver):
    model, c, dem, cap, p = _capacitated_pmedian(seed)
    model.solve(solver)
    _assert_reported_as_solved(model, _capacitated_pmedian_brute_force(c, dem, cap, p))
    assert len(model.selected_site_indices) == p and 0 in model.selected_site_indices
    assert model.allocation.toarray()[:, 0] @ dem == pytest.approx(cap[0], rel=1e-6)


def test_cflp_unchanged_model_still_polishes_shares():
    model, c, dem, cap, p = _capacitated_pmedian(0)
    plain = CFLP.from_cost_matrix(c, dem, cap, np.zeros(len(cap)), [0]).solve()
    assert not plain.changed() and "post_processing" not in plain.report.extra
    assert model.changed()


def _forbid_best(model, best_sites) -> None:
    """A study's row: not all of the (unconstrained) optimum's free sites together."""
    ys = [model._site_vars[int(j)] for j in best_sites]
    model.problem += pulp.lpSum(ys) <= len(ys) - 1, "not_the_plain_optimum"


@pytest.mark.parametrize("seed", range(8))
def test_pmedian_pcenter_mclp_lscp_keep_user_rows(seed):
    rng = np.random.default_rng(seed)
    n, m, p = 9, 6, 2
    d = cdist(rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2)))
    w = rng.integers(1, 6, n).astype(float)
    radius = float(np.sort(d, axis=1)[:, 1].max())  # everyone has two sites in reach: LSCP stays feasible
    plans = [list(s) for s in itertools.combinations(range(m), p)]

    def allowed(plan, best):
        return not set(best) <= set(plan)

    def pmed(s):
        return w @ d[:, s].min(axis=1)

    def pcen(s):
        return d[:, s].min(axis=1).max()

    def mclp(s):
        return w[(d[:, s] <= 4.0).any(axis=1)].sum()

    for build, value, sense in (
        (lambda: PMedian.from_cost_matrix(d, w, p, reduce=False), pmed, min),
        (lambda: PCenter.from_cost_matrix(d, p, reduce=False), pcen, min),
        (lambda: MCLP.from_cost_matrix(d, w, 4.0, p, reduce=False), mclp, max),
    ):
        plain = build().solve()
        best = plain.selected_site_indices
        assert plain.objective == pytest.approx(sense(value(s) for s in plans))
        model = build()
        _forbid_best(model, best)
        model.solve()
        _assert_reported_as_solved(model, sense(value(s) for s in plans if allowed(s, best)))
        assert not set(best) <= set(model.selected_site_indices.tolist())
    # LSCP: fewest sites covering everyone, without the plain optimum's set.
    plain = LSCP.from_cost_matrix(d, radius, reduce=False).solve()
    best = plain.selected_site_indices
    model = LSCP.from_cost_matrix(d, radius, reduce=False)
    _forbid_best(model, best)
    model.solve()
    cover = d <= radius
    sizes = [
        k
        for k in range(1, m + 1)
        for s in itertools.combinations(range(m), k)
        if cover[:, list(s)].any(axis=1).all() and allowed(s, best)
    ]
    _assert_reported_as_solved(model, min(sizes))


def test_mclp_user_rows_on_coverage_and_objective_are_reported_as_solved():
    # A row on a coverage variable (client 0 counted as not covered) and an objective term the
    # study added (a penalty per open site): the reported value is the problem's, not a recount.
    d = np.array([[1.0, 9.0, 9.0], [9.0, 1.0, 9.0], [9.0, 9.0, 1.0], [1.0, 1.0, 9.0]])
    w = np.array([5.0, 3.0, 2.0, 4.0])
    model = MCLP.from_cost_matrix(d, w, 2.0, 2, reduce=False)
    z = model.problem.variablesDict()
    model.problem += z["z_0"] == 0, "client_0_not_counted"
    model.problem.setObjective(model.problem.objective - 0.5 * pulp.lpSum(model._site_vars.values()))
    model.solve()
    # Brute force: open 2 of 3 sites; covered weight without client 0, minus 1 for the two sites.
    best = max(w[1:][(d[1:, list(s)] <= 2.0).any(axis=1)].sum() - 1.0 for s in itertools.combinations(range(3), 2))
    _assert_reported_as_solved(model, best)


def test_changes_in_place_are_detected():
    d = np.array([[1.0, 5.0, 9.0], [5.0, 1.0, 9.0], [9.0, 9.0, 1.0]])
    w = [1, 1, 1]
    # Each edit gets the problem and one of its site variables (reductions may have removed others).
    edits = [
        lambda prob, y: prob.constraints["p_facilities"].changeRHS(1),
        lambda prob, y: setattr(y, "upBound", 0),
        lambda prob, y: prob.objective.addInPlace(3 * y),
        lambda prob, y: prob.constraints["p_facilities"].expr.__setitem__(y, 2.0),
        lambda prob, y: prob.constraints.pop("p_facilities"),
    ]
    for edit in edits:
        for build in (
            lambda: PMedian.from_cost_matrix(d, w, 2),
            lambda: PCenter.from_cost_matrix(d, 2),
            lambda: MCLP.from_cost_matrix(d, w, 2.0, 2),
        ):
            model = build()
            assert not model.changed()
            edit(model.problem, next(iter(model._site_vars.values())))
            assert model.changed()
            with pytest.raises(SolverError, match="reduce=False"):
                model.solve()


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_solving_does_not_count_as_a_change(solver):
    rng, d, w = _instance(3, 12, 6, integer=False)
    for model in (
        PMedian.from_cost_matrix(d, w, 2),
        PCenter.from_cost_matrix(d, 2),
        MCLP.from_cost_matrix(d, w, 3.0, 2),
        LSCP.from_cost_matrix(d, 6.0),
        CFLP.from_cost_matrix(d, w, np.full(6, w.sum()), np.ones(6)),
    ):
        first = model.solve(solver).objective
        assert not model.changed()
        assert model.solve(solver).objective == pytest.approx(first)  # a reduced model solves again
        assert "post_processing" not in model.report.extra
