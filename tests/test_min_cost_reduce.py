"""``min_cost`` solved by type with count cuts (planning/min_cost_reduce.py) against brute force."""

from __future__ import annotations

import itertools

import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_model import _layout, _standard_counts
from toy import catalogue, facility_type, random_region

from optimizer.config.schema import BudgetConfig, ObjectiveConfig, StandardLevel, StandardsConfig, UnitCap
from optimizer.errors import InfeasibleError
from optimizer.planning import min_cost_reduce
from optimizer.planning.min_cost_reduce import least_sites
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from optimizer.solvers.options import SolverOptions

TYPES = ("clinic", "school")
COST = {"clinic": 10, "school": 7}


def _scenario(seed: int, n: int, m: int, cap: float | None, shares: tuple[float, float], unit_cap: float | None):
    region = random_region(seed, n, m, n_existing=1, types=TYPES)
    cat = catalogue(
        facility_type("clinic", cost=COST["clinic"], km=8, capacity=cap),
        facility_type("school", cost=COST["school"], urban_km=4, rural_km=8, serves="school_age", family="education"),
    )
    per_unit = [UnitCap(levels=["county"], amount=unit_cap)] if unit_cap is not None else []
    standards = StandardsConfig(mode="soft", penalty=3, levels={"county": StandardLevel(required=["clinic"])})
    objective = ObjectiveConfig(kind="min_cost", coverage_targets=dict(zip(TYPES, shares, strict=True)))
    return Scenario(
        name="t",
        region=region,
        catalogue=cat,
        budget=BudgetConfig(total=1000, per_unit=per_unit),
        standards=standards,
        objective=objective,
    )


def _brute_force(sc: Scenario) -> float | None:
    """Least cost + soft penalties over every plan (at most one facility of a type per site) meeting all rows."""
    region = sc.region
    pairs = [(j, t) for j in range(len(region.candidates)) for t in TYPES]
    totals = {t: float(region.group_population(sc.catalogue[t].serves).sum()) for t in TYPES}
    units = region.candidates["unit_id"].astype(str).tolist()
    best = None
    for r in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, r):
            cost = sum(COST[t] for _, t in combo)
            if best is not None and cost >= best:
                continue
            if cost > sc.budget.total:
                continue
            spent: dict[str, float] = {}
            for j, t in combo:
                for a in region.ancestors(units[j]):
                    spent[a] = spent.get(a, 0.0) + COST[t]
            caps = sc.budget.per_unit
            levels = region.admin_units["level"].astype(str)
            if caps and any(spent.get(u, 0.0) > caps[0].amount + 1e-9 for u in levels.index[levels == "county"]):
                continue
            served = _layout(sc, combo).served
            if any(served[t].sum() < sc.objective.coverage_targets[t] * totals[t] - 1e-6 for t in TYPES):
                continue
            counts = _standard_counts(sc, combo)
            penalty = sum(
                max(0, s.count - counts.get((s.unit_id, s.facility_type), 0)) * s.penalty
                for s in sc.standard_list()
                if any(region.candidates["unit_id"].astype(str).map(lambda u, s=s: s.unit_id in region.ancestors(u)))
            )
            value = cost + penalty
            best = value if best is None else min(best, value)
    return best


instances = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(1, 10),  # demand points
    st.integers(1, 4),  # sites
    st.sampled_from([None, 800.0]),  # clinic capacity
    st.tuples(st.sampled_from([0.2, 0.5, 0.8]), st.sampled_from([0.0, 0.3, 0.6])),  # targets
    st.sampled_from([None, 10.0, 14.0, 17.0]),  # per-county cap (14: the types compete for it)
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_min_cost_by_type_matches_brute_force_and_the_whole_model(params):
    seed, n, m, cap, shares, unit_cap = params
    sc = _scenario(seed, n, m, cap, shares, unit_cap)
    best = _brute_force(sc)
    for by_type in (True, False):
        model = PlanningModel(sc)
        model.min_cost_count_cuts = by_type
        if best is None:
            with pytest.raises(InfeasibleError):
                model.solve()
            continue
        result = model.solve()
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, abs=1e-6)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 10), st.integers(1, 5), st.sampled_from([None, 800.0]))
def test_count_cut_never_exceeds_the_least_number_of_sites(seed, n, m, cap):
    sc = _scenario(seed, n, m, cap, (0.6, 0.0), None)
    model = PlanningModel(sc)
    model.problem  # noqa: B018 - builds the rows
    ys = model.y["clinic"]
    own = {v.name for v in ys} | {v.name for v in model.coverage_expr["clinic"]}
    rows = [(k, c) for k, c in model.problem.constraints.items() if len(c.expr) and all(v.name in own for v in c.expr)]
    n_cut = least_sites(ys, rows, SolverOptions(time_limit=10))
    total = float(sc.region.group_population("all").sum())
    fewest = None
    for r in range(m + 1):
        for combo in itertools.combinations([(j, "clinic") for j in range(m)], r):
            if _layout(sc, combo).served["clinic"].sum() >= 0.6 * total - 1e-6:
                fewest = r
                break
        if fewest is not None:
            break
    if fewest is not None:
        assert n_cut <= fewest
        assert n_cut == fewest  # tiny programs: the count program is solved to optimality


def test_plans_moved_out_of_a_binding_county_cap_stay_optimal(monkeypatch):
    """The per-type plans break a county cap; moved out of it at their own optima, they are the optimum (20)."""
    sc = _scenario(3908, 7, 4, 800.0, (0.5, 0.0), 17.0)
    assert _brute_force(sc) == pytest.approx(20.0)
    shifted: list[bool] = []
    shift = min_cost_reduce._shift

    def spy(*args: object) -> bool:
        shifted.append(shift(*args))  # type: ignore[arg-type]
        return shifted[-1]

    monkeypatch.setattr(min_cost_reduce, "_shift", spy)
    result = PlanningModel(sc).solve()
    assert shifted == [True]
    assert result.status == "optimal"
    assert result.objective == pytest.approx(20.0, abs=1e-6)


def test_lp_dive_plan_is_integral_feasible_and_within_the_gap_of_the_lp():
    """Cover 6 points with 3-point sets (LP 2.0 at y = 1/2 everywhere): the dive ends at an exact cover of 2."""
    sets = [(0, 1, 2), (3, 4, 5), (0, 3, 4), (1, 2, 5)]
    prob = pulp.LpProblem("cover", pulp.LpMinimize)
    ys = [pulp.LpVariable(f"y{k}", lowBound=0, upBound=1, cat=pulp.LpInteger) for k in range(len(sets))]
    prob.setObjective(pulp.lpSum(ys))
    for point in range(6):
        prob.addConstraint(pulp.lpSum(y for y, s in zip(ys, sets, strict=True) if point in s) >= 1, f"p{point}")
    relaxed = min_cost_reduce._lp_solve(prob, SolverOptions(mip_gap=0.0))
    assert relaxed is not None and relaxed[2] == pytest.approx(2.0)
    plan = min_cost_reduce._lp_dive(*relaxed, SolverOptions(mip_gap=0.0))
    assert plan is not None and sum(plan.values()) == 2
    chosen = [s for y, s in zip(ys, sets, strict=True) if plan[y.name] == 1]
    assert sorted(p for s in chosen for p in s) == list(range(6))
