"""The whole-count bound (planning/count_bound.py) against brute force: access (a minimisation), coverage (a maximisation).

The bound must never exceed the optimum found by enumerating every plan
(random regions, two types in two families, a family cap, a county cap that
couples them, a total); where the LP's gap is only fractional counts it must
prove the optimum on its own; and its knapsack must equal enumeration of the
counts.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access_radius import _people_km, clinic_access_scenario
from toy import X0, Y0, catalogue, facility_type, make_region

from optimizer.config.schema import BudgetConfig, ObjectiveConfig
from optimizer.planning import access_solve
from optimizer.planning import count_bound as count_bound_module
from optimizer.planning.count_bound import (
    _knapsack,
    _TypeValues,
    count_bound,
    count_deadline,
    count_inputs,
    relaxation_count_bound,
)
from optimizer.planning.lp_relaxation import lp_relaxation
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from optimizer.solvers.options import SolverOptions


def _count_bound_inline(model, relaxed, options, t0, stop=None):
    """The count bound made in the calling thread, as :class:`access_solve._CountingBeside` makes it in its own."""
    return relaxation_count_bound(relaxed, count_inputs(model), count_deadline(options, t0), stop)


def _scenario(seed: int, n: int, m: int, budget: BudgetConfig) -> Scenario:
    """Towns at random, each site next to one town (1 km at most), so the LP is close to whole and the bound tight."""
    rng = np.random.default_rng(seed)
    sites = rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0]
    demand = np.vstack([sites, rng.random((max(n - m, 0), 2)) * [40_000, 20_000] + [X0, Y0]])[:n]
    demand[: min(n, m)] += rng.random((min(n, m), 2)) * 700.0
    region = make_region(
        demand,
        rng.integers(1, 1000, n),
        sites,
        existing=[("clinic", X0 + 39_000, Y0 + 19_000), ("school", X0 + 1_000, Y0 + 1_000)],
        school=rng.integers(1, 300, n),
    )
    cat = catalogue(
        facility_type("clinic", cost=10, km=5, family="health"),
        facility_type("school", cost=15, km=4, serves="school_age", family="education"),
    )
    return Scenario(
        name="t",
        region=region,
        catalogue=cat,
        budget=budget,
        objective=ObjectiveConfig(kind="access", access_cap_km=30),
    )


def _brute_force(model: PlanningModel, sc: Scenario, m: int, forbid_both_at_0: bool = False) -> float:
    """The least people-km over every plan within the total, family and county caps (county A: x < 20 km).

    ``forbid_both_at_0``: no plan with a clinic and a school both at site 0 (a study's row).
    """
    costs = {"clinic": 10, "school": 15}
    families = {"clinic": "health", "school": "education"}
    county = np.where(model.site_xy[:, 0] < X0 + 20_000, "A", "B")
    county_cap = sc.budget.per_unit[0].amount if sc.budget.per_unit else math.inf
    best = math.inf
    options = [(j, t) for j in range(m) for t in ("clinic", "school")]
    for r in range(len(options) + 1):
        for combo in itertools.combinations(options, r):
            if forbid_both_at_0 and (0, "clinic") in combo and (0, "school") in combo:
                continue
            spend = {f: sum(costs[t] for _, t in combo if families[t] == f) for f in ("health", "education")}
            in_county = {u: sum(costs[t] for j, t in combo if county[j] == u) for u in ("A", "B")}
            if (
                sum(spend.values()) <= sc.budget.total
                and all(spend[f] <= cap for f, cap in sc.budget.per_family.items())
                and max(in_county.values()) <= county_cap
            ):
                best = min(best, _people_km(model, list(combo), 30.0))
    return best


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(3, 9), st.integers(2, 4), st.integers(0, 2))
def test_count_bound_never_exceeds_the_brute_force_optimum(seed, n, m, shape):
    budget = [
        BudgetConfig(total=35),
        BudgetConfig(total=40, per_family={"health": 20, "education": 30}),
        BudgetConfig.model_validate({"total": 45, "per_unit": [{"levels": ["county"], "amount": 20}]}),
    ][shape]
    sc = _scenario(seed, n, m, budget)
    model = PlanningModel(sc)
    model.build()
    best = _brute_force(model, sc, m)
    relaxed = lp_relaxation(model.problem, SolverOptions())
    assert relaxed is not None
    counted = _count_bound_inline(model, relaxed, SolverOptions(), 0.0)
    assert counted is not None
    # each type's LP warm-started from the LP relaxation's basis: the same values, so the same bound
    assert relaxed.basis is not None
    cold = _count_bound_inline(model, relaxed._replace(basis=None), SolverOptions(), 0.0)
    assert cold is not None
    assert counted.bound == pytest.approx(cold.bound, rel=1e-9, abs=1e-6)
    # the objective adds a tie-break below 0.001 per facility to the people-km
    assert counted.bound <= best + 0.01
    assert relaxed.bound <= best + 0.01
    result = model.solve(SolverOptions(mip_gap=0.0))
    assert result.objective == pytest.approx(best, abs=0.01 * (m + 1))


def test_fractional_counts_alone_are_closed_by_the_count_bound():
    """Three towns 20 km apart, each with a site next to it, budget for 1.5 clinics: the LP opens 1.5 sites.

    With counts whole the bound is the best single clinic, the optimum, so
    the solve stops proven there (no branch and bound).
    """
    demand = [(X0 + 2_000, Y0 + 10_000), (X0 + 20_000, Y0 + 10_000), (X0 + 38_000, Y0 + 10_000)]
    sites = [(x + 500, y) for x, y in demand]
    region = make_region(demand, [100, 300, 200], sites, existing=[("clinic", X0 + 20_000, Y0 + 60_000)])
    sc = clinic_access_scenario(region, total=15, cap_km=100)
    model = PlanningModel(sc)
    best = min(_people_km(model, [(j, "clinic")], 100.0) for j in range(3))
    result = model.solve(SolverOptions(mip_gap=1e-6))  # 0 would ask for more than the LP solves' tolerance
    extra = result.report.extra
    assert extra["access_lp_bound"] < best - 1.0  # the LP alone does not prove it
    assert extra["access_count_bound"] == pytest.approx(best, abs=0.01)
    assert "branch_and_bound" not in extra["access_seconds"]
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best, abs=0.01)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["total", "total_and_family", "families_only"]))
def test_knapsack_equals_enumeration_of_counts(seed, shape):
    """Three types, values convex in the count on a window (extrapolated outside), total and family rows."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(3):
        slopes = np.sort(rng.random(6) * -10.0)  # decreasing gains: convex
        start = int(rng.integers(0, 2))
        window = {start + k: float(np.r_[0.0, np.cumsum(slopes)][k]) for k in range(3)}
        values.append(_TypeValues(min(window.values()) - 20.0, 0, 6, window))
    cost = np.array([2.0, 3.0, 5.0])
    rows: dict[int, np.ndarray] = {}
    caps: dict[int, float] = {}
    if shape != "families_only":
        rows[0], caps[0] = cost.copy(), float(rng.integers(4, 20))
    if shape != "total":
        rows[1], caps[1] = np.array([2.0, 3.0, 0.0]), float(rng.integers(2, 10))
    if shape == "families_only":
        rows[2], caps[2] = np.array([0.0, 0.0, 5.0]), float(rng.integers(0, 12))
    made = _knapsack(values, rows, caps, 0 if 0 in rows else None)
    assert made is not None
    got, counts = made
    # the counts returned attain the value within the rows
    assert all(rows[r] @ counts <= caps[r] for r in rows)
    assert sum(v.at(c) for v, c in zip(values, counts, strict=True)) == pytest.approx(got)
    want = math.inf
    for counts in itertools.product(range(7), repeat=3):
        if all(rows[r] @ counts <= caps[r] for r in rows):
            want = min(want, sum(v.at(c) for v, c in zip(values, counts, strict=True)))
    assert got == pytest.approx(want)


def test_type_values_extrapolate_below_the_convex_function():
    """A convex V known at 3..5 is bounded outside by the end chords extended and never below the free LP."""
    v = _TypeValues(free=-100.0, n_min=0, n_max=9, values={3: 10.0, 4: 6.0, 5: 4.0})
    assert v.at(4) == 6.0
    assert v.at(1) == pytest.approx(10.0 + 4.0 * 2)  # chord 3→4 (slope −4) extended down
    assert v.at(8) == pytest.approx(4.0 - 2.0 * 3)  # chord 4→5 (slope −2) extended up
    assert v.at(10) == math.inf
    assert v.at(0) == pytest.approx(22.0)
    flat = _TypeValues(free=-100.0, n_min=0, n_max=9, values={3: 10.0})  # one point: only the free LP below
    assert flat.at(5) == -100.0
    gap = _TypeValues(free=-100.0, n_min=0, n_max=9, values={1: 20.0, 2: 14.0, 6: 3.0, 7: 2.0})
    # between two solved windows: the better of the chord 1→2 extended up and the chord 6→7 extended down
    assert gap.at(4) == pytest.approx(max(14.0 - 6.0 * 2, 3.0 + 1.0 * 2))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_type_values_never_exceed_a_convex_function_they_sample(seed):
    """Any solved counts (windows with gaps, infeasible low counts): the bound is the value where solved, below it elsewhere."""
    rng = np.random.default_rng(seed)
    slopes = np.sort(rng.normal(0.0, 5.0, 11))
    v = np.r_[0.0, np.cumsum(slopes)] + 100.0
    infeasible = int(rng.integers(0, 3))  # counts below this have no plan
    v[:infeasible] = math.inf
    solved = {int(n): float(v[n]) for n in np.flatnonzero(rng.random(12) < 0.5)}
    values = _TypeValues(free=float(v[np.isfinite(v)].min()) - 1.0, n_min=0, n_max=11, values=solved)
    for n in range(12):
        assert values.at(n) <= v[n] + 1e-9
        if n in solved:
            assert values.at(n) == v[n]


class _CountingInline(access_solve._CountingBeside):
    """The count bound made in the solving thread, before the plan's sub-MIP (the order before the thread)."""

    def __init__(self, model, relaxed, options, t0):
        self._outcome = [_count_bound_inline(model, relaxed, options, t0)]
        self._errors = []
        self._plan = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: None)
        self._thread.start()


def _no_double_site(model: PlanningModel) -> None:
    """A study's row coupling the two types: site 0 takes a clinic or a school, not both."""
    ys = [model.y[t][int(np.flatnonzero(model.types[t].sites == 0)[0])] for t in ("clinic", "school")]
    model.problem += (ys[0] + ys[1] <= 1, "study_site0_one_type")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(3, 8), st.integers(2, 4), st.booleans(), st.booleans(), st.booleans())
def test_solve_with_the_count_bound_beside_or_inline_ends_at_the_brute_force_optimum(
    seed, n, m, county_cap, study_row, beside
):
    """The count bound in a second thread (beside the sub-MIP) or inline: the same optimum as enumeration,
    with and without a per-unit cap and a study's row that couples the types; the bound never above it."""
    spec = {"total": 45, "per_family": {"health": 30, "education": 30}}
    if county_cap:
        spec["per_unit"] = [{"levels": ["county"], "amount": 20}]
    sc = _scenario(seed, n, m, BudgetConfig.model_validate(spec))
    model = PlanningModel(sc)
    model.build()
    if study_row:
        _no_double_site(model)
    best = _brute_force(model, sc, m, forbid_both_at_0=study_row)
    original = access_solve._CountingBeside
    try:
        if not beside:
            access_solve._CountingBeside = _CountingInline
        for gap in (0.0, 1e-6):
            result = model.solve(SolverOptions(mip_gap=gap))
            # the objective adds a tie-break below 0.001 per facility to the people-km
            assert result.objective == pytest.approx(best, abs=0.01 * (m + 1))
            assert result.bound is not None and result.bound <= best + 0.01
            count = result.report.extra.get("access_count_bound")
            assert count is None or count <= best + 0.01
    finally:
        access_solve._CountingBeside = original


def test_count_bound_gives_up_when_stopped():
    """A stop set by the solving thread before the next LP: no bound (None), not a wrong one."""
    sc = _scenario(7, 8, 4, BudgetConfig(total=25))
    model = PlanningModel(sc)
    model.build()
    relaxed = lp_relaxation(model.problem, SolverOptions())
    assert relaxed is not None
    assert _count_bound_inline(model, relaxed, SolverOptions(), 0.0) is not None
    stop = threading.Event()
    stop.set()
    assert _count_bound_inline(model, relaxed, SolverOptions(), 0.0, stop) is None
    beside = access_solve._CountingBeside(model, relaxed, SolverOptions(), time.perf_counter())
    made = beside.result()
    assert made is not None and made.bound == pytest.approx(
        _count_bound_inline(model, relaxed, SolverOptions(), 0.0).bound
    )
    beside.cancel()  # after the end: a no-op


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_count_bound_in_threads_equals_one_thread(seed, threads):
    """The types' LPs in one, two or three threads: the same values, so the same bound and LP count."""
    budget = BudgetConfig.model_validate({"total": 45, "per_unit": [{"levels": ["county"], "amount": 20}]})
    sc = _scenario(seed, 8, 4, budget)
    model = PlanningModel(sc)
    model.build()
    relaxed = lp_relaxation(model.problem, SolverOptions())
    assert relaxed is not None
    names, y_cols = count_inputs(model)
    args = (relaxed.lp, names, relaxed.row_dual, relaxed.x, y_cols, math.inf, relaxed.basis)
    one, many = count_bound(*args, threads=1), count_bound(*args, threads=threads)
    assert one is not None and many is not None
    assert many.bound == one.bound and many.lps == one.lps


def _bound_with(model, relaxed, window: int, rounds: int, enough=None) -> float:
    """The count bound with each type's LP solved within ``window`` of its LP count, at most ``rounds`` knapsacks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(count_bound_module, "_WINDOW", window)
        patch.setattr(count_bound_module, "_ROUNDS", rounds)
        counted = relaxation_count_bound(relaxed, count_inputs(model), math.inf, enough=enough)
    assert counted is not None
    return counted.bound


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(4, 9), st.integers(2, 4), st.integers(0, 2))
def test_counts_the_knapsack_takes_from_chords_are_solved_so_the_window_does_not_matter(seed, n, m, shape):
    """A window of 0 (the LP count's floor and ceiling) ends at the bound of every count solved (window 20).

    The knapsack's least sum over lower bounds is attained at counts solved
    exactly, so it equals the least sum over the exact values. One round
    only (no count solved after the knapsack), or a caller content with the
    first bound (``enough``), can be lower, never higher.
    """
    budget = [
        BudgetConfig(total=35),
        BudgetConfig(total=40, per_family={"health": 20, "education": 30}),
        BudgetConfig.model_validate({"total": 45, "per_unit": [{"levels": ["county"], "amount": 20}]}),
    ][shape]
    model = PlanningModel(_scenario(seed, n, m, budget))
    model.build()
    relaxed = lp_relaxation(model.problem, SolverOptions())
    assert relaxed is not None
    every_count = _bound_with(model, relaxed, 20, 1)
    assert _bound_with(model, relaxed, 0, count_bound_module._ROUNDS) == pytest.approx(every_count, rel=1e-9, abs=1e-6)
    first = _bound_with(model, relaxed, 0, 1)
    assert first <= every_count + 1e-6
    seen: list[float] = []
    content = _bound_with(model, relaxed, 0, count_bound_module._ROUNDS, lambda bound: seen.append(bound) or True)
    assert content == first and seen == [first]
