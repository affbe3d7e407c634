"""The planning model against hand-computed fixtures and brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.config import BudgetConfig, EquityConfig, ObjectiveConfig, SitesConfig, SiteRule, StandardLevel, StandardsConfig, UnitCap
from optimizer.errors import ConfigError, InfeasibleError
from optimizer.evaluate import evaluate_layout
from optimizer.model import PlanningModel
from optimizer.scenario import Scenario

from toy import X0, Y0, catalogue, facility_type, make_region, random_region

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
    sites = SitesConfig(required=[SiteRule(site_id="s0", facility_type="clinic"), SiteRule(site_id="s1", facility_type="clinic")])
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
    assert "standard 'clinic' in A county (A, county) needs 2 more, but only 1 candidate site(s) there may host one" in text
    assert "standard 'clinic' in B county (B, county) needs 3 more, but only 2 candidate site(s) there may host one" in text


def test_infeasible_budget_names_cost_shortfall():
    std = StandardsConfig(mode="hard", levels={"county": StandardLevel(required={"clinic": 2})})
    sites = [(X0 + 25_000, MID), (X0 + 30_000, MID), (X0 + 5_000, MID)]
    region = make_region([(X0 + 2_000, MID)], [10], sites, existing=[("clinic", X0 + 2_000, MID)])
    model = PlanningModel(scenario(region, catalogue(CLINIC), 25, standards=std))
    with pytest.raises(InfeasibleError) as err:
        model.solve()
    # A needs 1 (10 yuan), B needs 2 (20 yuan): 30 > 25.
    assert "meeting every hard standard costs at least 30 yuan; the budget is 25 yuan — short by 5 yuan" in str(err.value)


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
    import optimizer.model as model_module
    from optimizer.solvers import SolveReport

    demand_xy = [(X0 + 5_000, MID), (X0 + 10_000, MID), (X0 + 30_000, MID)]
    region = make_region(demand_xy, [500, 1000, 300], [(X0 + 10_000, MID), (X0 + 30_000, MID)],
                         existing=[("clinic", X0 + 5_000, MID)])
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
    result = PlanningModel(sc).solve()
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
    region = make_region(demand_xy, [500, 1000, 300], [(X0 + 10_000, MID), (X0 + 30_000, MID)],
                         existing=[("clinic", X0 + 5_000, MID)])
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
    assert "coverage target for 'clinic' is 100.0%, but even building at every eligible site covers only 50.0%" in str(err.value)


def test_access_minimises_weighted_distance():
    demand_xy = [(X0 + 1_000, MID), (X0 + 30_000, MID)]
    region = make_region(demand_xy, [100, 100], [(X0 + 29_000, MID), (X0 + 10_000, MID)],
                         existing=[("clinic", X0 + 1_000, MID)])
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
    from optimizer.solvers import SolverOptions

    obj = ObjectiveConfig(kind=kind, coverage_targets={"clinic": 0.8} if kind == "min_cost" else {},
                          equity=EquityConfig(levels=["county"]))
    values = {}
    for solver in ("highs", "cbc"):
        result = PlanningModel(scenario(line_region(), catalogue(CLINIC), 20, objective=obj)).solve(SolverOptions(name=solver))
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
    best = None
    for r in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, r):
            cost = sum(sc.catalogue[t].cost for _, t in combo)
            if cost > sc.budget.total + 1e-9:
                continue
            layout = _layout(sc, combo)
            counts = _standard_counts(sc, combo)
            shortfall = 0.0
            ok = True
            for s in std_list:
                missing = max(0, s.count - counts.get((s.unit_id, s.facility_type), 0))
                if missing and s.hard:
                    ok = False
                shortfall += missing * (0 if s.hard else s.penalty)
            if not ok:
                continue
            value = _score(sc, layout) - shortfall
            if best is None or value > best[0] + 1e-9:
                best = (value, combo)
    return best


def _layout(sc, combo):
    import geopandas as gpd
    import pandas as pd

    region = sc.region
    new = region.candidates.iloc[[j for j, _ in combo]].copy()
    new["facility_type"] = [t for _, t in combo]
    new["capacity"] = np.nan
    fac = pd.concat([region.facilities[["facility_type", "capacity", "unit_id", "geometry"]], new[["facility_type", "capacity", "unit_id", "geometry"]]])
    return evaluate_layout(sc, gpd.GeoDataFrame(fac, geometry="geometry", crs=4326))


def _standard_counts(sc, combo):
    region = sc.region
    counts: dict = {}
    units = list(region.facilities["unit_id"]) + [region.candidates["unit_id"].iloc[j] for j, _ in combo]
    types = list(region.facilities["facility_type"]) + [t for _, t in combo]
    for u, t in zip(units, types):
        for a in region.ancestors(u):
            counts[(a, t)] = counts.get((a, t), 0) + 1
    return counts


def _score(sc, layout):
    return sum(sc.weight(t) * layout.served[t].sum() for t in sc.catalogue)


instances = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(1, 12),  # demand points
    st.integers(1, 4),  # sites
    st.sampled_from([5.0, 8.0, 15.0]),  # radius km
    st.sampled_from([None, 800.0, 2000.0]),  # capacity
    st.integers(1, 4),  # budget in sites
    st.sampled_from(["none", "soft", "hard"]),  # county standard: a clinic in every county
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    sc = Scenario(name="t", region=region, catalogue=cat, budget=BudgetConfig(total=10 * budget_sites), standards=standards)
    best = _brute_force(sc)
    if best is None:  # no plan meets the hard standards within the budget
        with pytest.raises(InfeasibleError):
            PlanningModel(sc).solve()
        return
    best_value, _ = best
    result = PlanningModel(sc).solve()
    combo = list(zip(result.chosen_sites.index.map(lambda i: int(region.candidates.index.get_loc(result.chosen_sites.at[i, "site_id"]))), result.chosen_sites["facility_type"]))
    counts = _standard_counts(sc, combo)
    shortfall = sum(max(0, s.count - counts.get((s.unit_id, s.facility_type), 0)) * s.penalty for s in sc.standard_list())
    value = _score(sc, result.after) - shortfall
    assert result.status == "optimal"
    assert result.budget_used <= sc.budget.total + 1e-9
    hard_unmet = result.standards[(result.standards["mode"] == "hard") & (result.standards["status"] == "not met")]
    assert hard_unmet.empty
    assert value == pytest.approx(best_value, rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
