"""The planning model against hand-computed fixtures and brute-force enumeration."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toy import UTM51, X0, Y0, catalogue, facility_type, make_region, random_region

from optimizer.config.schema import (
    BudgetConfig,
    EquityConfig,
    ObjectiveConfig,
    SiteRule,
    SitesConfig,
    StandardLevel,
    StandardsConfig,
    UnitCap,
)
from optimizer.errors import ConfigError, InfeasibleError, InputError
from optimizer.evaluate import evaluate_layout
from optimizer.planning.model import PlanningModel
from optimizer.region import Region, group_members
from optimizer.scenario import Scenario

MID = Y0 + 10_000


def line_region():
    """Five demand points on a line; one existing clinic at d0; three candidate sites."""
    demand_xy = [(X0 + 2_000, MID), (X0 + 6_000, MID), (X0 + 15_000, MID), (X0 + 25_000, MID), (X0 + 35_000, MID)]
    pop = [100, 200, 300, 400, 500]
    sites = [(X0 + 15_000, MID), (X0 + 30_000, MID), (X0 + 20_000, MID)]
    return make_region(demand_xy, pop, sites, existing=[("clinic", X0 + 2_000, MID)])


def scenario(region, cat, budget, **kw) -> Scenario:
    return Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=budget), **kw)


CLINIC = facility_type("clinic", cost=10, km=5)


# ----------------------------------------------------------------------------- hand-computed
def test_coverage_by_hand_one_site():
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 10)).solve()
    assert result.status == "optimal"
    assert list(result.chosen_sites["site_id"]) == ["s1"]  # covers d3 and d4 at exactly 5 km
    totals = result.coverage_totals.set_index("facility_type")
    assert totals.at["clinic", "covered_before"] == 300  # d0 (0 km) + d1 (4 km)
    assert totals.at["clinic", "covered_after"] == 1200
    assert totals.at["clinic", "population"] == 1500
    by_unit = result.coverage.set_index("unit_id")
    assert by_unit.at["A", "covered_before"] == 300 and by_unit.at["A", "covered_after"] == 300
    assert by_unit.at["B", "covered_before"] == 0 and by_unit.at["B", "covered_after"] == 900
    assert by_unit.at["C", "covered_after"] == 1200
    assert by_unit.at["B", "rate_after"] == pytest.approx(1.0)
    assert result.budget_used == 10 and result.budget_left == 0
    assert result.chosen_sites["newly_covered"].tolist() == [900]


def test_coverage_by_hand_two_sites_and_tie_break_spends_nothing_useless():
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 30)).solve()
    chosen = set(result.chosen_sites["site_id"])
    # s1 plus one of s0/s2 covers everyone; a third site would add nobody.
    assert "s1" in chosen and len(chosen) == 2
    assert result.coverage_totals["covered_after"].iloc[0] == 1500
    assert result.budget_used == 20


def test_capacity_limits_served_population():
    region = line_region()
    cat = catalogue(facility_type("clinic", cost=10, km=5, capacity=250))
    result = PlanningModel(scenario(region, cat, 10)).solve()
    totals = result.coverage_totals.set_index("facility_type")
    # Existing clinic (capacity 250) reaches d0+d1 = 300 people: only 250 served.
    assert totals.at["clinic", "covered_before"] == pytest.approx(250)
    # Best new site under capacity 250 adds 250 (any site reaching >= 250 unserved people).
    assert totals.at["clinic", "covered_after"] == pytest.approx(500)


def test_existing_facility_capacity_column_overrides_type_capacity():
    demand_xy = [(X0 + 2_000, MID), (X0 + 3_000, MID)]
    region = make_region(demand_xy, [100, 100], [(X0 + 30_000, MID)], existing=[("clinic", X0 + 2_000, MID, 150)])
    cat = catalogue(facility_type("clinic", cost=10, km=5, capacity=1000))
    result = PlanningModel(scenario(region, cat, 10)).solve()
    assert result.coverage_totals["covered_before"].iloc[0] == pytest.approx(150)


def test_urban_and_rural_radii_differ():
    # d0 urban 2 km from the site, d1 rural 2 km from the site; urban radius 1 km, rural 3 km.
    demand_xy = [(X0 + 10_000, MID + 2_000), (X0 + 10_000, MID - 2_000)]
    region = make_region(demand_xy, [100, 50], [(X0 + 10_000, MID)], urban=[True, False])
    cat = catalogue(facility_type("clinic", cost=1, urban_km=1, rural_km=3))
    result = PlanningModel(scenario(region, cat, 1)).solve()
    assert result.coverage_totals["covered_after"].iloc[0] == 50


def test_school_type_counts_its_own_population_group():
    region = line_region()
    cat = catalogue(facility_type("school", cost=10, km=5, serves="school_age", family="education"))
    # The region's existing clinic is of a type this catalogue lacks: left out only when asked.
    with pytest.raises(ConfigError, match="facility type 'clinic' is not in the catalogue"):
        scenario(region, cat, 10)
    result = PlanningModel(scenario(region, cat, 10, ignore_facility_types=("clinic",))).solve()
    # pop_school_age = 10% of residents; nothing existing; best site s1 covers d3+d4 = 90.
    assert result.coverage_totals["population"].iloc[0] == pytest.approx(150)
    assert result.coverage_totals["covered_after"].iloc[0] == pytest.approx(90)


def test_required_and_forbidden_sites():
    sites = SitesConfig(required=[SiteRule(site_id="s0", facility_type="clinic")], forbidden=[SiteRule(site_id="s1")])
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 20, sites=sites)).solve()
    chosen = set(result.chosen_sites["site_id"])
    assert "s0" in chosen and "s1" not in chosen
    assert chosen == {"s0", "s2"}  # s2 adds d3 (400) once s1 is forbidden


def test_required_sites_over_budget_is_a_config_error():
    sites = SitesConfig(
        required=[SiteRule(site_id="s0", facility_type="clinic"), SiteRule(site_id="s1", facility_type="clinic")]
    )
    with pytest.raises(ConfigError) as err:
        scenario(line_region(), catalogue(CLINIC), 15, sites=sites)
    assert "the required sites cost 20 yuan, more than the budget of 15 yuan (short by 5)" in str(err.value)
    assert err.value.field == "budget.total"


def test_hard_standard_met_even_at_coverage_cost():
    # Every county must have a clinic: A has the existing one; s0 is in A, s1 and s2 in B.
    std = StandardsConfig(mode="hard", levels={"county": StandardLevel(required=["clinic"])})
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 20, standards=std)).solve()
    assert set(result.chosen_sites["site_id"]) & {"s1", "s2"}
    assert set(result.standards["status"]) <= {"met", "newly met"}


def test_infeasible_hard_standards_are_diagnosed_with_shortfall():
    std = StandardsConfig(mode="hard", levels={"county": StandardLevel(required={"clinic": 3})})
    # A has 1 clinic and one candidate (s0): 2 missing; B has two candidates (s1, s2): 3 missing.
    model = PlanningModel(scenario(line_region(), catalogue(CLINIC), 100, standards=std))
    with pytest.raises(InfeasibleError) as err:
        model.solve()
    text = str(err.value)
    assert (
        "standard 'clinic' in A county (A, county) needs 2 more, but only 1 candidate site(s) there may host one"
        in text
    )
    assert (
        "standard 'clinic' in B county (B, county) needs 3 more, but only 2 candidate site(s) there may host one"
        in text
    )


def test_infeasible_budget_names_cost_shortfall():
    std = StandardsConfig(mode="hard", levels={"county": StandardLevel(required={"clinic": 2})})
    sites = [(X0 + 25_000, MID), (X0 + 30_000, MID), (X0 + 5_000, MID)]
    region = make_region([(X0 + 2_000, MID)], [10], sites, existing=[("clinic", X0 + 2_000, MID)])
    model = PlanningModel(scenario(region, catalogue(CLINIC), 25, standards=std))
    with pytest.raises(InfeasibleError) as err:
        model.solve()
    # A needs 1 (10 yuan), B needs 2 (20 yuan): 30 > 25.
    assert "meeting every hard standard costs at least 30 yuan; the budget is 25 yuan — short by 5 yuan" in str(
        err.value
    )


def test_soft_standard_penalty_trades_against_coverage():
    std = StandardsConfig(mode="soft", penalty=1e6, levels={"county": StandardLevel(required=["clinic"])})
    # Budget for one site only: coverage alone would pick s1 (900 people, in B) which also meets B's standard.
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 10, standards=std)).solve()
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    status = result.standards.set_index("unit_id")["status"]
    assert status["A"] == "met" and status["B"] == "newly met"


def test_budget_caps_per_unit_and_family():
    caps = BudgetConfig(total=100, per_unit=[UnitCap(levels=["county"], amount=10)])
    result = PlanningModel(Scenario(name="t", region=line_region(), catalogue=catalogue(CLINIC), budget=caps)).solve()
    spent = result.chosen_sites.groupby("county_id")["cost"].sum()
    assert (spent <= 10).all()
    fam = BudgetConfig(total=100, per_family={"health": 10})
    result = PlanningModel(Scenario(name="t", region=line_region(), catalogue=catalogue(CLINIC), budget=fam)).solve()
    assert result.budget_used == 10


def test_equity_raises_minimum_unit_rate_over_coverage():
    """Purpose-built: coverage prefers the big county, equity the empty one."""
    demand_xy = [(X0 + 5_000, MID), (X0 + 10_000, MID), (X0 + 30_000, MID)]
    pop = [500, 1000, 300]  # A: 1,500 (500 covered already), B: 300 (none)
    sites = [(X0 + 10_000, MID), (X0 + 30_000, MID)]
    region = make_region(demand_xy, pop, sites, existing=[("clinic", X0 + 5_000, MID)])
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    cov = PlanningModel(scenario(region, cat, 10, objective=ObjectiveConfig(kind="coverage"))).solve()
    eq = PlanningModel(
        scenario(region, cat, 10, objective=ObjectiveConfig(kind="equity", equity=EquityConfig(levels=["county"])))
    ).solve()

    def min_rate(res):
        rates = res.coverage.set_index("unit_id").loc[["A", "B"], "rate_after"]
        return rates.min()

    assert list(cov.chosen_sites["site_id"]) == ["s0"] and min_rate(cov) == 0.0
    assert list(eq.chosen_sites["site_id"]) == ["s1"]
    assert min_rate(eq) == pytest.approx(500 / 1500)
    assert min_rate(eq) > min_rate(cov)
    assert eq.status == "optimal"


def test_equity_keeps_the_stage1_plan_when_stage2_finds_none(monkeypatch):
    """Stage 2 stopped without a plan (time limit): the stage-1 plan is reported, not nothing."""
    import optimizer.planning.model as model_module
    from optimizer.solvers.options import SolveReport

    demand_xy = [(X0 + 5_000, MID), (X0 + 10_000, MID), (X0 + 30_000, MID)]
    region = make_region(
        demand_xy, [500, 1000, 300], [(X0 + 10_000, MID), (X0 + 30_000, MID)], existing=[("clinic", X0 + 5_000, MID)]
    )
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    sc = scenario(region, cat, 10, objective=ObjectiveConfig(kind="equity", equity=EquityConfig(levels=["county"])))
    real = model_module.solve_problem
    calls = []

    def stage2_without_plan(problem, options=None):
        calls.append(problem.objective.name if problem.objective is not None else None)
        if len(calls) != 2:  # stage 1, and stage 2 with the stage-1 sites fixed
            return real(problem, options)
        for v in problem.variables():  # what a solver that stopped without a plan leaves behind
            v.varValue = None
        return SolveReport("no_solution", None, 2000.0, None, 1.0, "highs", "test", "Time limit reached")

    monkeypatch.setattr(model_module, "solve_problem", stage2_without_plan)
    model = PlanningModel(sc)
    model.equity_level_search = False  # every solve through model.solve_problem (stage 1 solves here anyway)
    result = model.solve()
    assert len(calls) == 3
    assert result.status == "feasible"
    assert list(result.chosen_sites["site_id"]) == ["s1"]  # the max-min plan of stage 1
    rates = result.coverage.set_index("unit_id").loc[["A", "B"], "rate_after"]
    assert rates.min() == pytest.approx(500 / 1500)
    # covered residents of the kept plan: d0 500 (existing clinic) + d2 300 (s1), minus the tie-break
    assert result.objective == pytest.approx(800 - 1e-3, abs=1e-6)
    assert result.gap == pytest.approx((2000 - result.objective) / result.objective)
    assert "the stage-1 plan is kept" in result.report.message


def test_equity_group_vs_rest():
    demand_xy = [(X0 + 5_000, MID), (X0 + 10_000, MID), (X0 + 30_000, MID)]
    region = make_region(
        demand_xy, [500, 1000, 300], [(X0 + 10_000, MID), (X0 + 30_000, MID)], existing=[("clinic", X0 + 5_000, MID)]
    )
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    obj = ObjectiveConfig(kind="equity", equity=EquityConfig(compare="group_vs_rest", group="mountain"))
    result = PlanningModel(scenario(region, cat, 10, objective=obj)).solve()
    gap = result.group_gaps["mountain"].set_index("facility_type")
    assert gap.at["clinic", "group_rate_before"] == 0.0
    assert gap.at["clinic", "group_rate_after"] == 1.0


def test_min_cost_meets_target_cheaply():
    obj = ObjectiveConfig(kind="min_cost", coverage_targets={"clinic": 0.8})
    result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 100, objective=obj)).solve()
    # 80% of 1,500 = 1,200: s1 alone reaches 300 + 900.
    assert result.budget_used == 10
    assert result.objective == pytest.approx(10)


def test_min_cost_unreachable_target_is_diagnosed():
    obj = ObjectiveConfig(kind="min_cost", coverage_targets={"clinic": 1.0})
    region = make_region([(X0 + 2_000, MID), (X0 + 39_000, Y0 + 19_000)], [10, 10], [(X0 + 2_000, MID)])
    with pytest.raises(InfeasibleError) as err:
        PlanningModel(scenario(region, catalogue(CLINIC), 100, objective=obj)).solve()
    assert "coverage target for 'clinic' is 100.0%, but even building at every eligible site covers only 50.0%" in str(
        err.value
    )


def test_access_minimises_weighted_distance():
    demand_xy = [(X0 + 1_000, MID), (X0 + 30_000, MID)]
    region = make_region(
        demand_xy, [100, 100], [(X0 + 29_000, MID), (X0 + 10_000, MID)], existing=[("clinic", X0 + 1_000, MID)]
    )
    cat = catalogue(facility_type("clinic", cost=10, km=5))
    obj = ObjectiveConfig(kind="access", access_cap_km=50)
    result = PlanningModel(scenario(region, cat, 10, objective=obj)).solve()
    assert list(result.chosen_sites["site_id"]) == ["s0"]
    # d0 is at 0 km, d1 now 1 km from s0: 100 person-km (+ a 0.001 tie-break).
    assert result.objective == pytest.approx(100, abs=0.01)


def test_python_api_exposes_pulp_problem_for_extra_constraints():
    model = PlanningModel(scenario(line_region(), catalogue(CLINIC), 10))
    y = {v.name: v for v in model.problem.variables()}
    s1 = [v for name, v in y.items() if name.startswith("y_0_1")]
    model.problem += (s1[0] == 0, "study_forbids_s1")
    result = model.solve()
    assert "s1" not in set(result.chosen_sites["site_id"])


@pytest.mark.parametrize("kind", ["coverage", "equity", "min_cost", "access"])
def test_cbc_and_highs_agree(kind):
    from optimizer.solvers.options import SolverOptions

    obj = ObjectiveConfig(
        kind=kind,
        coverage_targets={"clinic": 0.8} if kind == "min_cost" else {},
        equity=EquityConfig(levels=["county"]),
    )
    values = {}
    for solver in ("highs", "cbc"):
        result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 20, objective=obj)).solve(
            SolverOptions(name=solver)
        )
        assert result.status == "optimal" and result.report.solver == solver
        values[solver] = result.objective
    assert values["cbc"] == pytest.approx(values["highs"], rel=1e-9, abs=1e-6)


def test_model_merges_identical_covering_sets():
    # Ten demand points all within reach of exactly the same two sites -> one row.
    rng = np.random.default_rng(1)
    demand_xy = np.column_stack([X0 + 10_000 + rng.random(10) * 100, MID + rng.random(10) * 100])
    region = make_region(demand_xy, np.full(10, 10), [(X0 + 10_000, MID), (X0 + 10_500, MID)])
    model = PlanningModel(scenario(region, catalogue(CLINIC), 10))
    model.build()
    assert model.size.merged_rows == 1
    assert model.size.coverage_pairs == 20


# ----------------------------------------------------------------------------- brute force
def _brute_force(sc: Scenario):
    """Enumerate every plan within budget; score it with the independent evaluation."""
    region = sc.region
    pairs = []
    for type_id, ftype in sc.catalogue.items():
        for j, kind in enumerate(region.candidates["kind"]):
            if ftype.sites is None or kind in ftype.sites:
                pairs.append((j, type_id))
    std_list = sc.standard_list()
    served_cache: dict = {}
    best = None
    for r in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, r):
            cost = sum(sc.catalogue[t].cost for _, t in combo)
            if cost > sc.budget.total + 1e-9:
                continue
            counts = _standard_counts(sc, combo) if std_list else {}
            shortfall = 0.0
            ok = True
            for s in std_list:
                missing = max(0, s.count - counts.get((s.unit_id, s.facility_type), 0))
                if missing and s.hard:
                    ok = False
                shortfall += missing * (0 if s.hard else s.penalty)
            if not ok:
                continue
            value = _score_served(sc, _served_by_type(sc, combo, served_cache)) - shortfall
            if best is None or value > best[0] + 1e-9:
                best = (value, combo, shortfall)
    if best is None:
        return None
    value, combo, shortfall = best
    # The per-type shortcut agrees with one evaluation of the whole plan.
    assert _score(sc, _layout(sc, combo)) - shortfall == pytest.approx(value, rel=1e-9, abs=1e-9)
    return value, combo


def _layout(sc, combo):
    import geopandas as gpd
    import pandas as pd

    region = sc.region
    new = region.candidates.iloc[[j for j, _ in combo]].copy()
    new["facility_type"] = [t for _, t in combo]
    new["capacity"] = np.nan
    fac = pd.concat(
        [
            region.facilities[["facility_type", "capacity", "unit_id", "geometry"]],
            new[["facility_type", "capacity", "unit_id", "geometry"]],
        ]
    )
    return evaluate_layout(sc, gpd.GeoDataFrame(fac, geometry="geometry", crs=4326))


def _served_by_type(sc: Scenario, combo, cache: dict) -> dict[str, np.ndarray]:
    """``_layout(sc, combo).served``, each type's share from a layout of only that type's new sites.

    evaluate_layout serves each type from the facilities of that type alone, so a plan's served
    population of type t depends only on its sites of type t: a brute force over every plan needs
    one evaluation per (type, site set), not one per plan. ``cache`` holds them.
    """
    served = {}
    for type_id in sc.catalogue:
        own = tuple(pair for pair in combo if pair[1] == type_id)
        key = (type_id, own)
        if key not in cache:
            cache[key] = _layout(sc, own).served[type_id]
        served[type_id] = cache[key]
    return served


def _standard_counts(sc, combo):
    region = sc.region
    counts: dict = {}
    units = list(region.facilities["unit_id"]) + [region.candidates["unit_id"].iloc[j] for j, _ in combo]
    types = list(region.facilities["facility_type"]) + [t for _, t in combo]
    for u, t in zip(units, types, strict=False):
        for a in region.ancestors(u):
            counts[(a, t)] = counts.get((a, t), 0) + 1
    return counts


def _score(sc, layout):
    return _score_served(sc, layout.served)


def _score_served(sc, served: dict[str, np.ndarray]) -> float:
    return sum(sc.weight(t) * served[t].sum() for t in sc.catalogue)


instances = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(1, 12),  # demand points
    st.integers(1, 4),  # sites
    st.sampled_from([5.0, 8.0, 15.0]),  # radius km
    st.sampled_from([None, 800.0, 2000.0]),  # capacity
    st.integers(1, 4),  # budget in sites
    st.sampled_from(["none", "soft", "hard"]),  # county standard: a clinic in every county
)


# Each example scores up to 2^8 plans, from one evaluate_layout per (type, site set) (at most 2 x 2^4):
# 25 examples (the property tests below cover the same objective in other layouts).
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_coverage_objective_matches_brute_force(params):
    seed, n, m, km, cap, budget_sites, std_mode = params
    region = random_region(seed, n, m, n_existing=1, types=("clinic", "school"))
    cat = catalogue(
        facility_type("clinic", cost=10, km=km, capacity=cap),
        facility_type("school", cost=7, urban_km=km / 2, rural_km=km, serves="school_age", family="education"),
    )
    if std_mode == "none":
        standards = StandardsConfig()
    else:
        standards = StandardsConfig(mode=std_mode, penalty=150, levels={"county": StandardLevel(required=["clinic"])})
    sc = Scenario(
        name="t", region=region, catalogue=cat, budget=BudgetConfig(total=10 * budget_sites), standards=standards
    )
    best = _brute_force(sc)
    if best is None:  # no plan meets the hard standards within the budget
        with pytest.raises(InfeasibleError):
            PlanningModel(sc).solve()
        return
    best_value, _ = best
    result = PlanningModel(sc).solve()
    combo = list(
        zip(
            result.chosen_sites.index.map(
                lambda i: int(region.candidates.index.get_loc(result.chosen_sites.at[i, "site_id"]))
            ),
            result.chosen_sites["facility_type"],
            strict=False,
        )
    )
    counts = _standard_counts(sc, combo)
    shortfall = sum(
        max(0, s.count - counts.get((s.unit_id, s.facility_type), 0)) * s.penalty for s in sc.standard_list()
    )
    value = _score(sc, result.after) - shortfall
    assert result.status == "optimal"
    assert result.budget_used <= sc.budget.total + 1e-9
    hard_unmet = result.standards[(result.standards["mode"] == "hard") & (result.standards["status"] == "not met")]
    assert hard_unmet.empty
    assert value == pytest.approx(best_value, rel=1e-6, abs=1e-6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 10), st.integers(1, 4), st.integers(1, 3))
def test_equity_objective_matches_brute_force(seed, n, m, budget_sites):
    region = random_region(seed, n, m, n_existing=1)
    cat = catalogue(facility_type("clinic", cost=10, km=8))
    obj = ObjectiveConfig(kind="equity", equity=EquityConfig(levels=["county"]))
    sc = Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=10 * budget_sites), objective=obj)
    result = PlanningModel(sc).solve()
    pairs = [(j, "clinic") for j in range(len(region.candidates))]
    best = None
    for r in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, r):
            if 10 * len(combo) > sc.budget.total:
                continue
            lay = _layout(sc, combo)
            rates = []
            for u in ("A", "B"):
                mask = region.demand["unit_id"].to_numpy() == u
                p = region.demand["population"].to_numpy()[mask].sum()
                if p > 0:
                    rates.append(lay.served["clinic"][mask].sum() / p)
            key = (round(min(rates), 9) if rates else 0.0, lay.served["clinic"].sum())
            if best is None or key > best:
                best = key
    rates = result.coverage.set_index("unit_id")
    got = [rates.at[u, "rate_after"] for u in ("A", "B") if u in rates.index and rates.at[u, "population"] > 0]
    assert min(got) == pytest.approx(best[0], abs=1e-6)
    assert result.after.served["clinic"].sum() == pytest.approx(best[1], abs=1e-3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 10), st.integers(1, 4), st.sampled_from([0.3, 0.6, 0.9]))
def test_min_cost_objective_matches_brute_force(seed, n, m, share):
    region = random_region(seed, n, m, n_existing=1)
    cat = catalogue(facility_type("clinic", cost=10, km=8))
    obj = ObjectiveConfig(kind="min_cost", coverage_targets={"clinic": share})
    sc = Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=1000), objective=obj)
    total = region.demand["population"].sum()
    best = None
    for r in range(m + 1):
        for combo in itertools.combinations([(j, "clinic") for j in range(m)], r):
            if _layout(sc, combo).served["clinic"].sum() >= share * total - 1e-9:
                best = 10 * r
                break
        if best is not None:
            break
    if best is None:
        with pytest.raises(InfeasibleError):
            PlanningModel(sc).solve()
        return
    result = PlanningModel(sc).solve()
    assert result.budget_used == best
    assert result.after.served["clinic"].sum() >= share * total - 1e-6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 10), st.integers(1, 4), st.integers(1, 3))
def test_access_objective_matches_brute_force(seed, n, m, budget_sites):
    region = random_region(seed, n, m, n_existing=1)
    cat = catalogue(facility_type("clinic", cost=10, km=5))
    obj = ObjectiveConfig(kind="access", access_cap_km=30)
    sc = Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=10 * budget_sites), objective=obj)
    pop = region.demand["population"].to_numpy(float)
    best = None
    for r in range(min(m, budget_sites) + 1):
        for combo in itertools.combinations([(j, "clinic") for j in range(m)], r):
            d = np.minimum(_layout(sc, combo).nearest_km["clinic"], 30.0)
            value = float((pop * d).sum())
            best = value if best is None else min(best, value)
    result = PlanningModel(sc).solve()
    d_after = np.minimum(result.after.nearest_km["clinic"], 30.0)
    assert float((pop * d_after).sum()) == pytest.approx(best, rel=1e-7, abs=1e-6)


# ----------------------------------------------------------------------------- nested compared units
def nested_units(split=("A",), flags=None, shuffle_text=None) -> gpd.GeoDataFrame:
    """City C of counties A (west) and B (east); each county in ``split`` has two township polygons.

    ``flags`` maps unit_id -> value of the ``mountain`` column (any yes/no
    spelling; units not named are blank).
    """
    import geopandas as gpd
    from shapely.geometry import box

    ids, levels, parents, geoms = (
        ["C", "A", "B"],
        ["city", "county", "county"],
        [None, "C", "C"],
        [
            box(X0, Y0, X0 + 40_000, Y0 + 20_000),
            box(X0, Y0, X0 + 20_000, Y0 + 20_000),
            box(X0 + 20_000, Y0, X0 + 40_000, Y0 + 20_000),
        ],
    )
    for county, x in (("A", X0), ("B", X0 + 20_000)):
        if county in split:
            ids += [f"{county}1", f"{county}2"]
            levels += ["township", "township"]
            parents += [county, county]
            geoms += [box(x, Y0, x + 10_000, Y0 + 20_000), box(x + 10_000, Y0, x + 20_000, Y0 + 20_000)]
    flags = flags or {}
    return gpd.GeoDataFrame(
        {
            "unit_id": ids,
            "name": ids,
            "level": levels,
            "parent_id": parents,
            "mountain": pd.Series([flags.get(u) for u in ids], dtype=object),
        },
        geometry=geoms,
        crs=UTM51,
    )


def nested_region(units, demand_xy, pop, site_xy, existing=(), urban=None):
    """A Region through the loader (units assigned by location: the finest polygon wins)."""
    import geopandas as gpd

    demand_xy = np.asarray(demand_xy, float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, float).reshape(-1, 2)
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"d{i}" for i in range(len(demand_xy))],
            "population": np.asarray(pop, float),
            "pop_school_age": np.floor(np.asarray(pop, float) * 0.3),
            **({} if urban is None else {"urban": list(urban)}),
        },
        geometry=gpd.points_from_xy(demand_xy[:, 0], demand_xy[:, 1]),
        crs=UTM51,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": [f"s{j}" for j in range(len(site_xy))]},
        geometry=gpd.points_from_xy(site_xy[:, 0], site_xy[:, 1]),
        crs=UTM51,
    )
    facilities = gpd.GeoDataFrame(
        {"facility_id": [f"f{k}" for k in range(len(existing))], "facility_type": [e[0] for e in existing]},
        geometry=gpd.points_from_xy([e[1] for e in existing], [e[2] for e in existing]),
        crs=UTM51,
    )
    return Region.from_geodataframes(
        name="nested",
        admin_units=units.to_crs(4326),
        demand=demand.to_crs(4326),
        facilities=facilities.to_crs(4326),
        candidates=sites.to_crs(4326),
        projected_crs=UTM51,
    )


def issue_region():
    """Issue 11 item 1: city C, counties A (townships A1, A2) and B; A1 and half of B covered already."""
    demand_xy = [(X0 + 5_000, MID), (X0 + 15_000, MID), (X0 + 25_000, MID), (X0 + 35_000, MID)]
    pop = [600, 400, 500, 500]  # A1, A2, B, B
    sites = [(X0 + 15_000, MID), (X0 + 35_000, MID)]  # s0 in township A2, s1 in county B
    existing = [("clinic", X0 + 5_000, MID), ("clinic", X0 + 25_000, MID)]
    return nested_region(nested_units(split=("A",)), demand_xy, pop, sites, existing)


def test_equity_compares_townships_nested_in_counties():
    """Default levels become [township, county]: every finest unit enters the max-min with its own rate."""
    region = issue_region()
    assert list(region.demand["unit_id"]) == ["A1", "A2", "B", "B"]
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    sc = scenario(region, cat, 10, objective=ObjectiveConfig(kind="equity"))
    model = PlanningModel(sc)
    result = model.solve()
    assert sorted(model.compare_labels) == ["A", "A1", "A2", "B"]
    # Building in A2 leaves the rates A1 100 %, A2 100 %, B 50 %; building in B leaves A2 at 0 %.
    assert list(result.chosen_sites["site_id"]) == ["s0"]
    rates = result.coverage.set_index("unit_id")["rate_after"]
    assert rates[["A1", "A2", "B"]].tolist() == [1.0, 1.0, 0.5]
    assert result.chosen_sites["county_id"].tolist() == ["A"]  # the site's county, not its township
    assert result.stages[0].objective == pytest.approx(0.5, abs=1e-6)
    # A level whose rate is never the minimum (the city averages its units) changes nothing.
    for levels in (["township", "county", "city"], ["township", "county"]):
        sc2 = scenario(region, cat, 10, objective=ObjectiveConfig(kind="equity", equity=EquityConfig(levels=levels)))
        again = PlanningModel(sc2).solve()
        assert list(again.chosen_sites["site_id"]) == ["s0"]
        assert again.stages[0].objective == pytest.approx(0.5, abs=1e-6)


def test_equity_explicit_nested_levels_county_and_city():
    """equity.levels [county, city]: demand counts for its county and its city."""
    region = issue_region()
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    obj = ObjectiveConfig(kind="equity", equity=EquityConfig(levels=["county", "city"]))
    model = PlanningModel(scenario(region, cat, 10, objective=obj))
    result = model.solve()
    assert sorted(model.compare_labels) == ["A", "B", "C"]
    # s0: A 100 %, B 50 %; s1: A 60 %, B 100 % -> min 0.6 with s1.
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.stages[0].objective == pytest.approx(0.6, abs=1e-6)


# ----------------------------------------------------------------------------- yes/no columns given as text
GROUP_TEXT = [("no", "yes"), ("否", "是"), ("0", "1"), ("False", "TRUE"), ("n", "Y"), (0, 1), (False, True)]


@pytest.mark.parametrize("no,yes", GROUP_TEXT)
def test_text_group_column_is_parsed_not_cast(no, yes, tmp_path):
    """mountain = "no" for county A, "yes" for B: the group is B alone, in the model, gap table, report and maps."""
    from optimizer.render.report import _meaningful_groups
    from optimizer.render.result_files import read_result

    units = nested_units(split=(), flags={"C": no, "A": no, "B": yes})
    demand_xy = [(X0 + 5_000, MID), (X0 + 10_000, MID), (X0 + 30_000, MID)]
    region = nested_region(
        units,
        demand_xy,
        [500, 1000, 300],
        [(X0 + 10_000, MID), (X0 + 30_000, MID)],
        existing=[("clinic", X0 + 5_000, MID)],
        urban=[no, yes, no],
    )
    assert region.demand["urban"].tolist() == [False, True, False]
    cat = catalogue(facility_type("clinic", cost=10, km=2))
    obj = ObjectiveConfig(kind="equity", equity=EquityConfig(compare="group_vs_rest", group="mountain"))
    result = PlanningModel(scenario(region, cat, 10, objective=obj)).solve()
    # Group B (300 people, none covered) against the rest (A: 1,500, 500 covered): build in B.
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    gap = result.group_gaps["mountain"].set_index("facility_type")
    assert gap.at["clinic", "group_population"] == 300 and gap.at["clinic", "rest_population"] == 1500
    assert gap.at["clinic", "group_rate_after"] == 1.0
    assert gap.at["clinic", "rest_rate_after"] == pytest.approx(500 / 1500)
    folder = result.write(tmp_path / "out", maps=False, report=False)
    res = read_result(folder)
    assert res.group_columns == _meaningful_groups(res) == list(result.group_gaps) == ["mountain"]
    assert res.group_members("mountain").to_dict() == {"C": False, "A": False, "B": True}
    from optimizer.render.maps import map_data

    assert [g["id"] for g in map_data(res)["groups"]] == ["mountain"]


def test_one_rule_for_group_columns():
    """Groups: yes/no in every cell, holding some but not all finest units; blank is no; townships join via county."""
    from optimizer.region import finest_units, unit_group_columns

    units = nested_units(split=("A",), flags={"A": "是", "B": "否"}).set_index("unit_id")
    units["everywhere"] = ["yes"] * len(units)  # every finest unit: an attribute, not a group
    units["notes"] = ["yes", "no", "maybe", "no", "no"]  # not yes/no: an attribute (refused only if named)
    units["numbers"] = [0, 1, 2, 0, 0]
    units["seat"] = [None, None, True, True, None]  # B and township A1 (blank cells are no): a group
    assert finest_units(units) == ["B", "A1", "A2"]
    assert unit_group_columns(units) == ["mountain", "seat"]
    members = group_members(units, "mountain")
    assert members.to_dict() == {"C": False, "A": True, "B": False, "A1": True, "A2": True}


def test_yes_no_parser_and_settings():
    from optimizer.booleans import INVALID, parse_yes_no
    from optimizer.config.schema import FacilityTypeConfig, OutputConfig

    for value in (True, 1, 1.0, "true", "T", " Yes ", "y", "1", "是", np.bool_(True)):
        assert parse_yes_no(value) is True, value
    for value in (False, 0, 0.0, "FALSE", "f", "no", "N", "0", "否", np.int64(0)):
        assert parse_yes_no(value) is False, value
    for value in (None, float("nan"), "", "  ", pd.NA):
        assert parse_yes_no(value) is None, value
    for value in ("maybe", "on", 2, -1, 0.5, "真"):
        assert parse_yes_no(value) is INVALID, value
    assert OutputConfig(maps="否", report="是").model_dump(include={"maps", "report"}) == {
        "maps": False,
        "report": True,
    }
    assert FacilityTypeConfig(family="x", cost=1, service={"distance_km": 1}, assumed="no").assumed is False
    with pytest.raises(Exception, match="valid boolean"):
        OutputConfig(maps="maybe")


def test_group_column_that_is_not_yes_no_is_refused():
    units = nested_units(split=(), flags={"A": "no", "B": "maybe"})
    region = nested_region(units, [(X0 + 5_000, MID)], [100], [(X0 + 10_000, MID)])
    obj = ObjectiveConfig(kind="equity", equity=EquityConfig(compare="units_in_group", group="mountain"))
    with pytest.raises(InputError) as err:
        scenario(region, catalogue(CLINIC), 10, objective=obj)
    assert str(err.value) == (
        "ID 'B', field 'mountain': mountain must be yes or no, got 'maybe' Hint: use true/false, yes/no, y/n, "
        "t/f, 1/0 or 是/否 in every row of the group column (an empty cell means no)"
    )


# ----------------------------------------------------------------------------- brute force: nested units, every compare mode
YES_NO = {
    "no": False,
    "yes": True,
    "否": False,
    "是": True,
    "0": False,
    "1": True,
    "False": False,
    "True": True,
    "f": False,
    "T": True,
    0: False,  # also the key of False (False == 0), as 1 is of True
    1: True,
    None: False,
}


def _own_chain(units, uid: str) -> list[str]:
    parent = dict(zip(units["unit_id"], units["parent_id"], strict=False))
    chain = [uid]
    while parent.get(chain[-1]) is not None:
        chain.append(parent[chain[-1]])
    return chain


def _own_finest_unit(split, x: float) -> str:
    county = "A" if x < X0 + 20_000 else "B"
    if county not in split:
        return county
    left = X0 if county == "A" else X0 + 20_000
    return f"{county}1" if x < left + 10_000 else f"{county}2"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),  # seed
    st.integers(2, 9),  # demand points
    st.integers(1, 3),  # sites
    st.integers(1, 3),  # budget in clinics
    st.sampled_from([(), ("A",), ("B",), ("A", "B")]),  # counties with township polygons
    st.sampled_from(
        [None, ["county"], ["county", "city"], ["township"], ["township", "county"], ["township", "county", "city"]]
    ),  # equity.levels (None: the default)
    st.sampled_from(["units", "group_vs_rest", "units_in_group"]),
    st.sampled_from([("no", "yes"), ("否", "是"), ("0", "1"), ("False", "True"), ("f", "T"), (0, 1), (False, True)]),
)
def test_equity_nested_units_and_text_flags_match_brute_force(seed, n, m, budget_sites, split, levels, compare, words):
    """The max-min over every compared unit — computed here from the geometry of the fixture, not by the model."""
    if levels is not None and "township" in levels and not split:
        levels = ["county"]  # the region has no township level
    rng = np.random.default_rng(seed)
    no, yes = words
    county_flags = {u: bool(rng.random() < 0.5) for u in ("A", "B")}
    # Townships are blank or "no": they belong to the group through their county.
    flags = {"C": no, **{u: (yes if f else no) for u, f in county_flags.items()}}
    flags.update({f"{c}{i}": (None if rng.random() < 0.5 else no) for c in split for i in (1, 2)})
    units = nested_units(split=split, flags=flags)
    demand_xy = rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0]
    site_xy = rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0]
    pop = rng.integers(0, 1000, n).astype(float)
    ex = rng.random(2) * [40_000, 20_000] + [X0, Y0]
    urban = [yes if u else no for u in rng.random(n) < 0.3]
    region = nested_region(units, demand_xy, pop, site_xy, existing=[("clinic", ex[0], ex[1])], urban=urban)
    cat = catalogue(
        facility_type("clinic", cost=10, urban_km=4, rural_km=8),
        facility_type("school", cost=10, km=6, serves="school_age", family="education"),
    )
    weights = {"clinic": 1.0, "school": 2.0}
    obj = ObjectiveConfig(
        kind="equity",
        weights={"school": 2.0},
        equity=EquityConfig(levels=levels, compare=compare, group=None if compare == "units" else "mountain"),
    )
    sc = Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=10 * budget_sites), objective=obj)

    # ---- the compared units, from the fixture's own definitions
    finest = [_own_finest_unit(split, x) for x in demand_xy[:, 0]]
    chains = [_own_chain(units, u) for u in finest]
    in_group = np.array([any(YES_NO[flags.get(a)] for a in chain) for chain in chains])
    level_of = dict(zip(units["unit_id"], units["level"], strict=False))
    if compare == "group_vs_rest":
        members = {"group": in_group, "rest": ~in_group}
    else:
        use = levels or (["county"] if not split else ["township"] if len(split) == 2 else ["township", "county"])
        compared = [u for u in units["unit_id"] if level_of[u] in use]
        if compare == "units_in_group":
            compared = [u for u in compared if any(YES_NO[flags.get(a)] for a in _own_chain(units, u))]
        members = {u: np.array([u in chain for chain in chains]) for u in compared}
    group_pop = {"clinic": pop, "school": np.floor(pop * 0.3)}

    def min_rate(served) -> float:
        rates = []
        for mask in members.values():
            den = sum(weights[t] * group_pop[t][mask].sum() for t in weights)
            if den > 0:
                rates.append(sum(weights[t] * served[t][mask].sum() for t in weights) / den)
        return min(rates) if rates else 1.0

    def covered(served) -> float:
        return sum(weights[t] * served[t].sum() for t in weights)

    plans = []
    pairs = [(j, t) for j in range(m) for t in ("clinic", "school")]
    served_cache: dict = {}
    for r in range(budget_sites + 1):
        for combo in itertools.combinations(pairs, r):
            served = _served_by_type(sc, combo, served_cache)
            plans.append((min_rate(served), covered(served)))
    best_min = max(p[0] for p in plans)
    best_cov = max(c for mr, c in plans if mr >= best_min - sc.objective.equity.tolerance)

    result = PlanningModel(sc).solve()
    assert result.status == "optimal"
    assert min_rate(result.after.served) == pytest.approx(best_min, abs=1e-6)
    assert result.stages[0].objective == pytest.approx(best_min, abs=1e-6)
    assert covered(result.after.served) == pytest.approx(best_cov, abs=1e-3)
