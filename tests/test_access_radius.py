"""The access objective's merged radius levels (planning/access_radius.py) against enumeration and the old model.

Three layers: the levels alone (every open set of sites, people-distance by
hand), the LP value of both formulations at fractional site values (the
radius form's least ``z`` against the assignment model's greedy fill), and
the planning model solved both ways against brute force on random regions
with ties, several types and required sites.
"""

from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from toy import X0, Y0, catalogue, facility_type, make_region

from optimizer.config.schema import BudgetConfig, ObjectiveConfig, SitesConfig
from optimizer.errors import InfeasibleError
from optimizer.planning.access_radius import AccessLevels, access_levels, add_access_levels, forced_levels
from optimizer.planning.access_solve import _with_settled_levels, _without_fixed
from optimizer.planning.lp_relaxation import site_fixing
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from optimizer.solvers.highs_bulk import bulk_lp, solve_highs_bulk
from optimizer.solvers.options import SolverOptions


def _random_pairs(
    seed: int, n: int, m: int, ties: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random pairs closer than each demand point's baseline; with ``ties`` distances on a coarse grid."""
    rng = np.random.default_rng(seed)
    d = rng.integers(1, 6, (n, m)).astype(float) if ties else rng.random((n, m)) * 10.0
    baseline = rng.integers(2, 8, n).astype(float) if ties else rng.random(n) * 10.0
    population = rng.integers(0, 5, n).astype(float)
    rows, cols = np.nonzero((d < baseline[:, None]) & (rng.random((n, m)) < 0.8))
    return rows, cols, d[rows, cols], baseline, population


def _full_sets(levels: AccessLevels) -> list[set[int]]:
    """Each merged set's sites, following its chain to the empty set."""
    full: list[set[int]] = []
    for s in range(levels.n_sets):
        own = set(levels.sites[levels.indptr[s] : levels.indptr[s + 1]].tolist())
        p = int(levels.parent[s])
        assert p < s  # a chain refers to a set defined before it
        full.append(own | (full[p] if p >= 0 else set()))
    return full


def _true_value(rows, cols, dist, baseline, population, open_sites: set[int]) -> float:
    near = baseline.copy()
    for r, c, d in zip(rows.tolist(), cols.tolist(), dist.tolist(), strict=True):
        if c in open_sites:
            near[r] = min(near[r], d)
    return float(population @ near)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 7), st.integers(1, 5), st.booleans())
def test_levels_equal_people_distance_for_every_open_set(seed, n, m, ties):
    rows, cols, dist, baseline, population = _random_pairs(seed, n, m, ties)
    levels = access_levels(rows, cols, dist, baseline, population, m)
    full = _full_sets(levels)
    assert len({frozenset(s) for s in full}) == levels.n_sets  # one z per distinct set
    for r in range(m + 1):
        for combo in itertools.combinations(range(m), r):
            opened = set(combo)
            z = np.array([0.0 if s & opened else 1.0 for s in full])
            value = levels.constant + float(levels.cost @ z) if levels.n_sets else levels.constant
            assert value == pytest.approx(_true_value(rows, cols, dist, baseline, population, opened), abs=1e-9)


def test_levels_by_hand_merge_two_demand_points_and_ties():
    """d0: s0 at 1, s1 at 2 (baseline 5); d1: s0 at 1.5, s1 at 3 (baseline 4); d2: s0 and s1 both at 2 (baseline 3).

    Sets {s0} (d0, d1) and {s0, s1} (d0, d1, d2) are shared; d2's tie makes one
    level. People 1, 2, 4: constant 1·1 + 2·1.5 + 4·2 = 12; z{s0} costs
    1·(2−1) + 2·(3−1.5) = 4; z{s0,s1} costs 1·(5−2) + 2·(4−3) + 4·(3−2) = 9.
    """
    rows = np.array([0, 0, 1, 1, 2, 2])
    cols = np.array([0, 1, 0, 1, 0, 1])
    dist = np.array([1.0, 2.0, 1.5, 3.0, 2.0, 2.0])
    levels = access_levels(rows, cols, dist, np.array([5.0, 4.0, 3.0]), np.array([1.0, 2.0, 4.0]), 2)
    assert levels.constant == pytest.approx(12.0)
    assert _full_sets(levels) == [{0}, {0, 1}]
    assert levels.cost.tolist() == pytest.approx([4.0, 9.0])
    assert levels.parent.tolist() == [-1, 0]


def _lp_value_radius(levels: AccessLevels, y: np.ndarray) -> float:
    """The radius form's LP value at fixed site values ``y``: every ``z`` at its least value."""
    prob = pulp.LpProblem("radius", pulp.LpMinimize)
    ys = [pulp.LpVariable(f"y{j}", lowBound=float(v), upBound=float(v)) for j, v in enumerate(y)]
    expr = add_access_levels(prob, ys, levels, "z", "lvl")
    prob.setObjective(expr + levels.constant)
    prob.solve(pulp.HiGHS(msg=False))
    return float(pulp.value(prob.objective))


def _lp_value_assignment(rows, cols, dist, baseline, population, y: np.ndarray) -> float:
    """The assignment model's LP value at ``y``: each demand point fills its nearest sites up to y_j, total 1."""
    total = 0.0
    for i in range(len(baseline)):
        mine = rows == i
        order = np.argsort(dist[mine], kind="stable")
        left, value = 1.0, 0.0
        for c, d in zip(cols[mine][order].tolist(), dist[mine][order].tolist(), strict=True):
            take = min(left, float(y[c]))
            value += take * d
            left -= take
        total += population[i] * (value + left * baseline[i])
    return total


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 5), st.booleans())
def test_lp_relaxation_equals_the_assignment_model(seed, n, m, ties):
    rows, cols, dist, baseline, population = _random_pairs(seed, n, m, ties)
    keep = population[rows] > 0
    levels = access_levels(rows, cols, dist, baseline, population, m)
    y = np.random.default_rng(seed + 1).random(m).round(2)
    got = _lp_value_radius(levels, y)
    want = _lp_value_assignment(rows[keep], cols[keep], dist[keep], baseline, population, y)
    assert got == pytest.approx(want, rel=1e-7, abs=1e-6)


# ----------------------------------------------------------------------------- the planning model
def _region(seed: int, n: int, m: int, grid: bool):
    """Random demand, sites and one existing facility per type; ``grid``: coordinates on a 5 km grid (ties)."""
    rng = np.random.default_rng(seed)

    def points(k: int) -> np.ndarray:
        if grid:
            return rng.integers(0, 9, (k, 2)) * 5_000.0 + [X0, Y0]
        return rng.random((k, 2)) * [40_000, 20_000] + [X0, Y0]

    demand, sites = points(n), points(m)
    existing = [("clinic", *points(1)[0]), ("school", *points(1)[0])]
    return make_region(demand, rng.integers(0, 1000, n), sites, existing=existing, school=rng.integers(0, 200, n))


def _people_km(model: PlanningModel, chosen: list[tuple[int, str]], cap_km: float) -> float:
    """Σ_k Σ_i P_ik min(cap, km to the nearest existing or chosen facility of type k), by numpy."""
    model.prepare()
    fac_types = model.scenario.region.facilities["facility_type"].astype(str).to_numpy()
    total = 0.0
    for type_id, td in model.types.items():
        xy = np.vstack([model.fac_xy[fac_types == type_id], model.site_xy[[j for j, t in chosen if t == type_id]]])
        km = np.linalg.norm(model.demand_xy[:, None, :] - xy[None, :, :], axis=2).min(axis=1) / 1000.0
        total += float(td.population @ np.minimum(km, cap_km))
    return total


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 9), st.integers(1, 4), st.integers(1, 3), st.booleans(), st.booleans())
@example(95, 8, 4, 2, True, True)  # a MIP start in the last step made HiGHS 1.16 call a worse plan optimal
def test_planning_access_matches_brute_force_and_the_assignment_model(seed, n, m, budget_sites, grid, required):
    cap = 30.0
    cat = catalogue(facility_type("clinic", cost=10, km=5), facility_type("school", cost=20, km=3, serves="school_age"))
    req = [{"site_id": "s0", "facility_type": "clinic"}] if required else []
    sc = Scenario(
        name="t",
        region=_region(seed, n, m, grid),
        catalogue=cat,
        budget=BudgetConfig(total=10 * budget_sites + (10 if required else 0)),
        objective=ObjectiveConfig(kind="access", access_cap_km=cap),
        sites=SitesConfig.model_validate({"required": req}),
    )
    options = [(j, t) for j in range(m) for t in ("clinic", "school")]
    reference = PlanningModel(sc)
    best = None
    for r in range(len(options) + 1):
        for combo in itertools.combinations(options, r):
            cost = sum(10 if t == "clinic" else 20 for _, t in combo)
            if cost > sc.budget.total or (required and (0, "clinic") not in combo):
                continue
            value = _people_km(reference, list(combo), cap)
            best = value if best is None else min(best, value)
    values = []
    for radius in (True, False):
        model = PlanningModel(sc)
        model.access_radius = radius
        result = model.solve()
        site_pos = {str(s): j for j, s in enumerate(sc.region.candidates.index)}
        chosen = [(site_pos[str(s)], str(t)) for s, t in _chosen(result)]
        values.append(_people_km(reference, chosen, cap))
        # the solver's objective is the people-km plus a tie-break below 0.001 per facility
        assert result.objective == pytest.approx(values[-1], abs=0.01 * (len(chosen) + 1))
    assert values[0] == pytest.approx(best, rel=1e-7, abs=1e-6)
    assert values[1] == pytest.approx(best, rel=1e-7, abs=1e-6)


def _chosen(result) -> list[tuple[str, str]]:
    return list(zip(result.chosen_sites["site_id"], result.chosen_sites["facility_type"], strict=True))


def clinic_access_scenario(region, total: float, cap_km: float) -> Scenario:
    """The access objective on ``region`` with one type, ``clinic`` (10 yuan, 5 km), within the ``total`` budget."""
    return Scenario(
        name="t",
        region=region,
        catalogue=catalogue(facility_type("clinic", cost=10, km=5)),
        budget=BudgetConfig(total=total),
        objective=ObjectiveConfig(kind="access", access_cap_km=cap_km),
    )


def test_radius_model_is_smaller_than_the_assignment_model():
    """Twelve demand points in a row, all nearer to the same three sites in the same order: 3 merged sets."""
    demand = [(X0 + 1_000 + 100 * i, Y0 + 10_000) for i in range(12)]
    sites = [(X0 + 2_000, Y0 + 10_000), (X0 + 4_000, Y0 + 10_000), (X0 + 6_000, Y0 + 10_000)]
    region = make_region(demand, [100] * 12, sites, existing=[("clinic", X0 + 30_000, Y0 + 10_000)])
    sc = clinic_access_scenario(region, total=10, cap_km=50)
    radius, assignment = PlanningModel(sc), PlanningModel(sc)
    assignment.access_radius = False
    radius.build()
    assignment.build()
    z = [v for v in radius.problem.variables() if v.name.startswith("a_0_")]
    assert len(z) == 3  # {s0}, {s0, s1}, {s0, s1, s2}
    x = [v for v in assignment.problem.variables() if v.name.startswith("a_0_")]
    assert len(x) == 36  # one per (demand point, site) pair
    assert radius.solve().objective == pytest.approx(assignment.solve().objective, abs=1e-6)


# ----------------------------------------------------------------------------- the staged HiGHS solve
def _p_median_like(seed: int, n: int, m: int, sites: int) -> Scenario:
    """Random demand, far existing clinic, budget for ``sites`` of ``m`` sites: LP relaxations are often fractional."""
    rng = np.random.default_rng(seed)
    demand = rng.random((n, 2)) * [20_000, 20_000] + [X0, Y0]
    candidates = rng.random((m, 2)) * [20_000, 20_000] + [X0, Y0]
    region = make_region(demand, rng.integers(1, 1000, n), candidates, existing=[("clinic", X0 + 39_000, Y0 + 19_000)])
    return Scenario(
        name="t",
        region=region,
        catalogue=catalogue(facility_type("clinic", cost=10, km=5)),
        budget=BudgetConfig(total=10 * sites),
        objective=ObjectiveConfig(kind="access", access_cap_km=30),
    )


def test_staged_solve_matches_brute_force_through_every_step():
    """LP first (planning/access_solve.py): the optimum equals enumeration whether the LP bound proves the
    plan at once or reduced-cost fixing and branch and bound are needed (both happen among these seeds)."""
    steps = set()
    # (seed, demand points, sites): the last two need step 4 (found by a scan; at 14 × 7 the LP bound or the
    # count bound proves every plan, up to rounding of the last digit)
    for seed, n, m in [(seed, 14, 7) for seed in range(12)] + [(2, 20, 8), (17, 20, 8)]:
        sc = _p_median_like(seed, n, m, 2 + seed % 2)
        model = PlanningModel(sc)
        best = None
        for combo in itertools.combinations(range(m), 2 + seed % 2):
            value = _people_km(model, [(j, "clinic") for j in combo], 30.0)
            best = value if best is None else min(best, value)
        result = model.solve(SolverOptions(mip_gap=0.0))
        site_pos = {str(s): j for j, s in enumerate(sc.region.candidates.index)}
        chosen = [(site_pos[str(s)], str(t)) for s, t in _chosen(result)]
        assert _people_km(model, chosen, 30.0) == pytest.approx(best, rel=1e-9, abs=1e-6)
        assert result.status == "optimal"
        # bounds include the tie-break, below 0.001 per facility
        assert result.bound is not None and result.bound <= best + 0.01
        extra = result.report.extra
        assert extra["access_lp_bound"] <= best + 0.01
        steps.add("fixing" if extra["access_sites_fixed_by_reduced_cost"] is not None else "lp")
    assert steps == {"lp", "fixing"}


def test_staged_solve_reports_an_infeasible_user_row():
    """A row no plan can meet: the LP is infeasible, branch and bound says so, and solve() raises the usual error."""
    model = PlanningModel(_p_median_like(3, 8, 4, 2))
    model.build()
    ys = model.y["clinic"]
    model.problem += (pulp.lpSum(ys) >= len(ys) + 1, "more_sites_than_exist")
    with pytest.raises(InfeasibleError, match="no plan satisfies the hard constraints"):
        model.solve()


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 7), st.integers(1, 6), st.booleans())
def test_forced_levels_are_each_sets_z_in_every_completion(seed, n, m, ties):
    """A set's ``z`` is settled (0 or 1) exactly where every completion of the free sites gives it that value."""
    rows, cols, dist, baseline, population = _random_pairs(seed, n, m, ties)
    levels = access_levels(rows, cols, dist, baseline, population, m)
    rng = np.random.default_rng(seed + 1)
    site_values = rng.choice([0.0, 1.0, np.nan], size=m)
    forced = forced_levels(levels, site_values)
    free = np.flatnonzero(np.isnan(site_values)).tolist()
    full = _full_sets(levels)
    seen: list[set[float]] = [set() for _ in range(levels.n_sets)]
    for k in range(len(free) + 1):
        for opened in itertools.combinations(free, k):
            open_sites = set(np.flatnonzero(site_values == 1).tolist()) | set(opened)
            for s, sites in enumerate(full):
                seen[s].add(0.0 if sites & open_sites else 1.0)  # the least z of the set
    for s in range(levels.n_sets):
        if len(seen[s]) == 1:
            assert forced[s] == next(iter(seen[s]))
        else:
            assert np.isnan(forced[s])


def test_settled_levels_keep_the_sub_mip_optimum():
    """The plan's sub-MIP (step 2 of planning/access_solve.py) with the settled ``z`` fixed as well: the same optimum
    as with the site decisions alone fixed, for random fixings (enumerated against brute force too)."""
    settled_any = 0
    for seed in range(16):
        sc = _p_median_like(seed, 14, 7, 2 + seed % 2)
        model = PlanningModel(sc)
        prob = model.build()
        variables = prob.variables()
        bulk = bulk_lp(prob, variables)
        sites = model.y["clinic"]
        index = np.array([v.index for v in sites], dtype=np.int64)
        rng = np.random.default_rng(seed)
        fixed = {int(k): float(rng.integers(0, 2)) for k in rng.choice(7, size=int(rng.integers(0, 6)), replace=False)}
        plain = site_fixing(index, fixed)
        settled = _with_settled_levels(model, plain, fixed, len(sites))
        assert np.array_equal(settled[0][: len(plain[0])], plain[0])
        settled_any += len(settled[0]) - len(plain[0])
        options = SolverOptions(mip_gap=0.0)
        a = solve_highs_bulk(prob, options, bulk=bulk, variables=variables, fixed=plain)
        b = solve_highs_bulk(prob, options, bulk=bulk, variables=variables, fixed=settled)
        assert a.status == b.status
        if a.objective is None:
            continue
        assert b.objective == pytest.approx(a.objective, rel=1e-9, abs=1e-6)
        reduced = _without_fixed(bulk, variables, settled)  # the fixed columns taken out of the model
        assert reduced is not None
        c = solve_highs_bulk(prob, options, bulk=reduced[0], variables=reduced[1])
        assert c.status == a.status and c.objective == pytest.approx(a.objective, rel=1e-9, abs=1e-6)
        assert c.bound == pytest.approx(a.bound, rel=1e-9, abs=1e-6)
        best = None
        free = [j for j in range(7) if j not in fixed]
        for k in range(len(free) + 1):
            for combo in itertools.combinations(free, k):
                chosen = [j for j, v in fixed.items() if v == 1] + list(combo)
                if len(chosen) > 2 + seed % 2:
                    continue
                value = _people_km(model, [(j, "clinic") for j in chosen], 30.0)
                best = value if best is None else min(best, value)
        assert best is not None
        assert b.objective == pytest.approx(best, rel=1e-6, abs=0.01)  # with the tie-break, below 0.001 per site
    assert settled_any > 0
