"""Phased plans (optimizer/phased.py, optimizer/population.py) against brute force and hand computation.

Every build schedule of small toy instances with 2–3 periods is enumerated
(each site and type: never, or built in one period; each closable facility:
kept, closed or repurposed in one period), checked against the budgets, and
scored by person-years covered computed here from planar distances — not by
the product's coverage code. The model's optimum must equal the best score.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy import UTM51, X0, Y0, catalogue, facility_type, make_region, random_region

from optimizer.config.schema import (
    BudgetConfig,
    EquityConfig,
    ObjectiveConfig,
    PeriodsConfig,
    StandardsConfig,
)
from optimizer.errors import ConfigError, InputError
from optimizer.planning.phased import PhasedPlanningModel
from optimizer.planning.population import (
    BRACKETS,
    cohort_ageing,
    period_population,
    read_projection,
    survival_ratios,
)
from optimizer.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent


def periods(budgets, years=(5, 5, 5), carry_over=False, **extra) -> PeriodsConfig:
    phases = []
    start = 2026
    for t, b in enumerate(budgets):
        phases.append({"label": f"p{t + 1}", "start": start, "years": years[t], "budget": b})
        start += years[t]
    return PeriodsConfig.model_validate({"phases": phases, "carry_over": carry_over, **extra})


def planar(gdf) -> np.ndarray:
    g = gdf.to_crs(UTM51).geometry
    return np.column_stack([g.x.to_numpy(), g.y.to_numpy()])


def brute_force(
    sc: Scenario,
    per: PeriodsConfig,
    population: dict[str, np.ndarray],
    *,
    standards: list[tuple[str, str, int, float, int]] = (),
    unit_caps: dict[str, float] | None = None,
) -> tuple[float, float]:
    """Best (person-years covered − penalties, person-years) over every schedule.

    ``standards``: (unit_id, type, count, penalty, deadline index), soft, counted per year from the deadline.
    ``unit_caps``: unit_id -> most the horizon may spend on new sites in that unit.
    """
    region = sc.region
    T = len(per.phases)
    years = np.array([p.years for p in per.phases], float)
    budgets = np.array([p.budget for p in per.phases], float)
    dxy, sxy, fxy = planar(region.demand), planar(region.candidates), planar(region.facilities)
    fac_type = region.facilities["facility_type"].astype(str).to_numpy()
    types = list(sc.catalogue)
    choices = [(k, j) for k in types for j in range(len(sxy))]
    closable = [e for e in range(len(fxy)) if fac_type[e] in per.closures]
    site_unit = region.candidates["unit_id"].astype(str).to_numpy()
    fac_unit = region.facilities["unit_id"].astype(str).to_numpy()
    best = (-np.inf, 0.0)
    # closable facility options: -1 keep; (t, False) close in t; (t, True) close and repurpose in t
    fac_options = [(-1, False)] + [(t, False) for t in range(T)]
    fac_options_rep = fac_options + [(t, True) for t in range(T)]
    for builds in itertools.product(range(-1, T), repeat=len(choices)):
        for fac_plan in itertools.product(
            *[fac_options_rep if per.closures[fac_type[e]].repurpose_to else fac_options for e in closable]
        ):
            spend = np.zeros(T)
            for (k, _j), t in zip(choices, builds, strict=False):
                if t >= 0:
                    spend[t] += sc.catalogue[k].cost
            for e, (t, rep) in zip(closable, fac_plan, strict=False):
                if t >= 0:
                    rule = per.closures[fac_type[e]]
                    spend[t] -= rule.value
                    if rep:
                        spend[t] += rule.repurpose_cost
            if per.carry_over:
                if (np.cumsum(spend) > np.cumsum(budgets) + 1e-6).any():
                    continue
            elif (spend > budgets + 1e-6).any():
                continue
            if spend.sum() > sc.budget.total + 1e-6:
                continue
            if unit_caps and any(
                sum(
                    sc.catalogue[k].cost
                    for (k, j), t in zip(choices, builds, strict=False)
                    if t >= 0 and site_unit[j] == u
                )
                > cap + 1e-6
                for u, cap in unit_caps.items()
            ):
                continue
            total = 0.0
            penalty = 0.0
            for t in range(T):
                for k in types:
                    ftype = sc.catalogue[k]
                    places = [sxy[j] for (kk, j), b in zip(choices, builds, strict=False) if kk == k and 0 <= b <= t]
                    count_in = {}
                    for (kk, j), b in zip(choices, builds, strict=False):
                        if kk == k and 0 <= b <= t:
                            count_in[site_unit[j]] = count_in.get(site_unit[j], 0) + 1
                    for e in range(len(fxy)):
                        plan = dict(zip(closable, fac_plan, strict=False)).get(e, (-1, False))
                        closed = 0 <= plan[0] <= t
                        if fac_type[e] == k and not closed:
                            places.append(fxy[e])
                            count_in[fac_unit[e]] = count_in.get(fac_unit[e], 0) + 1
                        if closed and plan[1] and per.closures[fac_type[e]].repurpose_to == k:
                            places.append(fxy[e])
                            count_in[fac_unit[e]] = count_in.get(fac_unit[e], 0) + 1
                    radius = ftype.rural.radius_m()
                    covered = np.zeros(len(dxy), bool)
                    for p in places:
                        covered |= np.hypot(*(dxy - p).T) <= radius
                    total += sc.weight(k) * population[ftype.serves][covered, t].sum()
                    for unit, kk, count, pen, deadline in standards:
                        if kk == k and t >= deadline:
                            penalty += pen * years[t] * max(0, count - count_in.get(unit, 0))
            if total - penalty > best[0] + 1e-9:
                best = (total - penalty, total)
    return best


def toy_population(region, T: int, seed: int) -> dict[str, np.ndarray]:
    """Person-years that change from period to period (an ageing, moving population)."""
    rng = np.random.default_rng(seed)
    n = len(region.demand)
    return {
        "all": rng.integers(0, 5000, (n, T)).astype(float),
        "school_age": rng.integers(0, 800, (n, T)).astype(float),
    }


def two_type_scenario(seed: int, total: float = 1e9) -> Scenario:
    region = random_region(seed, n_demand=14, n_sites=3, n_existing=1)
    cat = catalogue(
        facility_type("clinic", cost=1.0e7, km=7),
        facility_type("school", cost=1.5e7, km=6, serves="school_age", family="education"),
    )
    return Scenario(
        name="toy",
        region=region,
        catalogue=cat,
        budget=BudgetConfig(total=total),
        objective=ObjectiveConfig(weights={"school": 2.0}),
    )


# The model's formulations and reductions, each of which must keep the optimum: the default (cumulative
# "open by period t" decisions, dominated sites dropped) and the plain "built in period t" model without
# reductions; every brute-force test runs both.
VARIANTS = [
    pytest.param({}, id="cumulative-reduced"),
    pytest.param({"cumulative": False, "reduce": False}, id="per-period-plain"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed,carry_over", [(1, False), (2, True), (3, False)])
def test_three_periods_match_brute_force(seed: int, carry_over: bool, variant: dict):
    sc = two_type_scenario(seed)
    per = periods([1.5e7, 1.0e7, 2.5e7], carry_over=carry_over, compare_static=False)
    pop = toy_population(sc.region, 3, seed)
    result = PhasedPlanningModel(sc, per, population=pop, **variant).solve()
    best, best_py = brute_force(sc, per, pop)
    assert result.is_optimal
    assert result.person_years == pytest.approx(best_py, abs=1e-6)
    assert result.report.objective == pytest.approx(best, abs=0.05)  # tie-breaks: < 0.001 per facility
    # The schedule respects the budgets it reports.
    spent = result.schedule.groupby("period")["cost"].sum().reindex(["p1", "p2", "p3"], fill_value=0.0)
    assert np.allclose(spent.to_numpy(), result.periods["spent"].to_numpy())
    budgets = np.array([1.5e7, 1.0e7, 2.5e7])
    if carry_over:
        assert (np.cumsum(spent.to_numpy()) <= np.cumsum(budgets) + 1e-6).all()
    else:
        assert (spent.to_numpy() <= budgets + 1e-6).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_budget_total_caps_the_horizon(variant: dict):
    sc = two_type_scenario(4, total=2.0e7)
    per = periods([1.5e7, 1.5e7], carry_over=True, compare_static=False)
    pop = toy_population(sc.region, 2, 4)
    result = PhasedPlanningModel(sc, per, population=pop, **variant).solve()
    _best, best_py = brute_force(sc, per, pop)
    assert result.person_years == pytest.approx(best_py, abs=1e-6)
    assert result.schedule["cost"].sum() <= 2.0e7


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("carry_over", [False, True])
def test_closures_and_repurposing_match_brute_force(carry_over: bool, variant: dict):
    # Two existing clinics; closing one frees 8 million, turning it into a school costs 3 million.
    region = random_region(5, n_demand=12, n_sites=2, n_existing=2)
    cat = catalogue(
        facility_type("clinic", cost=1.0e7, km=7),
        facility_type("school", cost=1.5e7, km=6, serves="school_age", family="education"),
    )
    sc = Scenario(
        name="toy",
        region=region,
        catalogue=cat,
        budget=BudgetConfig(total=1e9),
        objective=ObjectiveConfig(weights={"school": 3.0}),
    )
    per = periods(
        [1.0e7, 1.0e7],
        carry_over=carry_over,
        compare_static=False,
        closures={"clinic": {"value": 8.0e6, "repurpose_to": "school", "repurpose_cost": 3.0e6}},
    )
    pop = toy_population(region, 2, 5)
    pop["all"][:, 1] //= 4  # fewer residents, more school children later: closures can pay
    pop["school_age"][:, 1] *= 3
    result = PhasedPlanningModel(sc, per, population=pop, **variant).solve()
    best, best_py = brute_force(sc, per, pop)
    assert result.person_years == pytest.approx(best_py, abs=1e-6)
    assert result.report.objective == pytest.approx(best, abs=0.05)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("carry_over", [False, True])
def test_soft_standards_with_deadline_match_brute_force(carry_over: bool, variant: dict):
    sc = two_type_scenario(6)
    sc = Scenario(
        name="toy",
        region=sc.region,
        catalogue=sc.catalogue,
        budget=sc.budget,
        standards=StandardsConfig.model_validate(
            {"mode": "soft", "penalty": 900, "levels": {"county": {"required": {"school": 2}}}}
        ),
    )
    per = periods([1.5e7, 1.5e7, 1.5e7], carry_over=carry_over, compare_static=False, standards_deadline="p2")
    pop = toy_population(sc.region, 3, 6)
    result = PhasedPlanningModel(sc, per, population=pop, **variant).solve()
    existing = sc.region.facilities["facility_type"].astype(str)
    have = {u: int(((existing == "school") & (sc.region.facilities["unit_id"] == u)).sum()) for u in ("A", "B")}
    stds = [(u, "school", 2, 900.0, 1) for u in ("A", "B") if have[u] < 2]
    best, _ = brute_force(sc, per, pop, standards=stds)
    assert result.report.objective == pytest.approx(best, abs=0.05)
    # Shortfalls are reported from the deadline (p2) on only.
    assert set(result.unmet_standards["period"]) <= {"p2", "p3"}


@pytest.mark.parametrize("carry_over", [False, True])
@pytest.mark.parametrize("standard", [False, True])
def test_dominated_sites_are_dropped_and_the_optimum_kept(standard: bool, carry_over: bool):
    # On a line at y = Y0 + 5 km (clinics reach 5 km): s1 reaches all s0 reaches and more; s3 reaches only d4,
    # which an existing clinic covers for good; s4 and s5 reach the same point d5, but s5 lies in county B,
    # whose spending is capped (one clinic), so only s5 is dominated (by s4), not s4 (by s5).
    y = Y0 + 5000
    demand = [[X0 + 5000, y], [X0 + 8000, y], [X0 + 12000, y], [X0 + 30000, y], [X0 + 35000, Y0 + 15000]]
    demand.append([X0 + 19000, y])
    sites = [[X0 + 6500, y], [X0 + 8500, y], [X0 + 30000, Y0 + 7000], [X0 + 36000, Y0 + 14000]]
    sites += [[X0 + 18500, y], [X0 + 21000, y]]
    region = make_region(demand, [900, 500, 700, 800, 600, 400], sites, existing=[("clinic", X0 + 35000, Y0 + 16000)])
    cat = catalogue(facility_type("clinic", cost=1.0e7, km=5))
    standards = StandardsConfig()
    stds = []
    if standard:  # one clinic in each county, soft: county A has none, so A's sites may count for it
        standards = StandardsConfig.model_validate(
            {"mode": "soft", "penalty": 50, "levels": {"county": {"required": {"clinic": 1}}}}
        )
        stds = [("A", "clinic", 1, 50.0, 1)]
    cap = {"levels": ["county"], "overrides": {"B": 1.0e7}}
    sc = Scenario(
        name="toy",
        region=region,
        catalogue=cat,
        budget=BudgetConfig.model_validate({"total": 1e9, "per_unit": [cap]}),
        standards=standards,
    )
    per = periods([1.0e7, 1.0e7, 1.0e7], carry_over=carry_over, compare_static=False, standards_deadline="p2")
    rng = np.random.default_rng(11)
    pop = {"all": rng.integers(100, 5000, (len(demand), 3)).astype(float), "school_age": np.zeros((len(demand), 3))}
    model = PhasedPlanningModel(sc, per, population=pop)
    result = model.solve()
    names = set(sc.region.candidates.index[sorted(model.dropped["clinic"])])
    assert names == ({"s3", "s5"} if standard else {"s0", "s3", "s5"})
    plain = PhasedPlanningModel(sc, per, population=pop, cumulative=False, reduce=False).solve()
    best, best_py = brute_force(sc, per, pop, standards=stds, unit_caps={"B": 1.0e7})
    assert result.is_optimal and plain.is_optimal
    assert result.report.objective == pytest.approx(best, abs=0.05)
    assert plain.report.objective == pytest.approx(best, abs=0.05)
    assert result.person_years == pytest.approx(best_py, abs=1e-6)


def brute_force_equity(sc: Scenario, per: PeriodsConfig, population: dict[str, np.ndarray], mode: str) -> float:
    """Best max-min coverage rate of counties A and B (per period, or over the horizon)."""
    region = sc.region
    T = len(per.phases)
    budgets = np.array([p.budget for p in per.phases])
    dxy, sxy, fxy = planar(region.demand), planar(region.candidates), planar(region.facilities)
    unit = region.demand["unit_id"].astype(str).to_numpy()
    fac_type = region.facilities["facility_type"].astype(str).to_numpy()
    choices = [(k, j) for k in sc.catalogue for j in range(len(sxy))]
    best = -1.0
    for builds in itertools.product(range(-1, T), repeat=len(choices)):
        spend = np.zeros(T)
        for (k, _j), t in zip(choices, builds, strict=False):
            if t >= 0:
                spend[t] += sc.catalogue[k].cost
        if (spend > budgets + 1e-6).any():
            continue
        num = {(u, t): 0.0 for u in "AB" for t in range(T)}
        den = {(u, t): 0.0 for u in "AB" for t in range(T)}
        for t in range(T):
            for k, ftype in sc.catalogue.items():
                places = [sxy[j] for (kk, j), b in zip(choices, builds, strict=False) if kk == k and 0 <= b <= t]
                places += [fxy[e] for e in range(len(fxy)) if fac_type[e] == k]
                covered = np.zeros(len(dxy), bool)
                for p in places:
                    covered |= np.hypot(*(dxy - p).T) <= ftype.rural.radius_m()
                w = sc.weight(k)
                py = population[ftype.serves][:, t]
                for u in "AB":
                    num[(u, t)] += w * py[(unit == u) & covered].sum()
                    den[(u, t)] += w * py[unit == u].sum()
        if mode == "per_period":
            rate = min(num[key] / den[key] for key in num if den[key] > 0)
        else:
            rate = min(sum(num[(u, t)] for t in range(T)) / sum(den[(u, t)] for t in range(T)) for u in "AB")
        best = max(best, rate)
    return best


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["per_period", "horizon"])
def test_equity_max_min_rate_matches_brute_force(mode: str, variant: dict):
    base = two_type_scenario(7)
    sc = Scenario(
        name="toy",
        region=base.region,
        catalogue=base.catalogue,
        budget=base.budget,
        objective=ObjectiveConfig(kind="equity", equity=EquityConfig(levels=["county"])),
    )
    per = periods([1.5e7, 2.5e7], equity=mode, compare_static=False)
    pop = toy_population(sc.region, 2, 7)
    model = PhasedPlanningModel(sc, per, population=pop, **variant)
    result = model.solve()
    best = brute_force_equity(sc, per, pop, mode)
    assert model.min_rate == pytest.approx(best, abs=1e-9)
    # The plan found reaches that rate, computed from the reported coverage table.
    cov = result.coverage_by_period[result.coverage_by_period["unit_id"].isin(["A", "B"])].copy()
    cov["w"] = cov["facility_type"].map(sc.weight)
    cov["wn"], cov["wd"] = cov["w"] * cov["person_years_covered"], cov["w"] * cov["person_years"]
    keys = ["unit_id", "period"] if mode == "per_period" else ["unit_id"]
    sums = cov.groupby(keys)[["wn", "wd"]].sum()
    # (stage 2 may give up the tolerance, 1e-6, of the rate for more person-years)
    assert best - 1e-6 - 1e-9 <= (sums["wn"] / sums["wd"]).min() <= best + 1e-9


def test_capacity_by_hand():
    # One village of 3,000 (then 5,000) people at 1 km from site s0; a clinic serves 4,000.
    region = make_region([[X0 + 1000, Y0 + 1000]], [3000], [[X0, Y0 + 1000]], school=[0])
    cat = catalogue(facility_type("clinic", cost=1e7, km=5, capacity=4000))
    sc = Scenario(name="toy", region=region, catalogue=cat, budget=BudgetConfig(total=1e9))
    per = periods([0.0, 1e7], years=(2, 3), compare_static=False)
    pop = {"all": np.array([[3000.0 * 2, 5000.0 * 3]])}
    result = PhasedPlanningModel(sc, per, population=pop).solve()
    # Nothing can be built in p1 (no budget); built in p2 it serves 4,000 of 5,000 for 3 years.
    assert result.person_years == pytest.approx(12000.0)
    assert result.schedule[["period", "site_id"]].values.tolist() == [["p2", "s0"]]
    row = result.coverage_by_period.query("period == 'p2' and unit_id == 'ALL'").iloc[0]
    assert (row["population"], row["covered"], row["rate"]) == pytest.approx((5000.0, 4000.0, 0.8))


def test_static_comparison_is_never_better_than_the_phased_plan():
    sc = two_type_scenario(8)
    per = periods([1.0e7, 2.5e7], compare_static=True)
    pop = toy_population(sc.region, 2, 8)
    result = PhasedPlanningModel(sc, per, population=pop).solve()
    static = result.static
    assert static["static_status"] == "optimal"
    # The static plan's sites, phased in at best, are one of the schedules the phased model considered.
    assert static["static_person_years"] <= result.person_years + 1e-6
    table = static["table"]
    assert table["phased_person_years"].sum() == pytest.approx(result.person_years)


def test_write_outputs(tmp_path: Path):
    sc = two_type_scenario(9)
    per = periods([1.0e7, 2.5e7])
    result = PhasedPlanningModel(sc, per, population=toy_population(sc.region, 2, 9)).solve()
    out = result.write(tmp_path / "out")
    for name in (
        "schedule.csv",
        "coverage_by_period.csv",
        "periods.csv",
        "static_comparison.csv",
        "phased.json",
        "timeline.html",
    ):
        assert (out / name).is_file(), name
    schedule = pd.read_csv(out / "schedule.csv")
    assert list(schedule.columns[:6]) == ["period", "start_year", "action", "site_id", "facility_type", "unit_id"]
    page = (out / "timeline.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "Comparison with a static plan" in page
    summary = json.loads((out / "phased.json").read_text())
    assert summary["weighted_person_years_covered"] == pytest.approx(result.person_years)


# =========================================================================== population
def projection_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "projection.csv"
    path.write_text(text)
    return path


def test_projection_applied_proportionally_and_interpolated(tmp_path: Path):
    # d0, d1 in county A (100 and 300 people), d2 in B (600).
    region = make_region(
        [[X0 + 1000, Y0], [X0 + 2000, Y0], [X0 + 30000, Y0]], [100, 300, 600], [[X0, Y0]], school=[10, 30, 60]
    )
    path = projection_csv(
        tmp_path, "unit_id,group,year,population\nA,all,2020,400\nA,all,2030,800\nB,all,2020,600\nB,all,2030,300\n"
    )
    per = periods([1.0, 1.0], years=(2, 1))
    pop = period_population(region, ["all"], per.phases[:1] + per.phases[1:], read_projection(path), path)
    # p1 = 2026, 2027: A = 640 + 680 = 1320 person-years, d0 gets a quarter; p2 = 2028: A = 720.
    assert pop["all"][0].tolist() == pytest.approx([330.0, 180.0])
    assert pop["all"][1].tolist() == pytest.approx([990.0, 540.0])
    # B: 420 + 390 in p1, 360 in p2.
    assert pop["all"][2].tolist() == pytest.approx([810.0, 360.0])


def test_projection_errors(tmp_path: Path):
    region = make_region([[X0 + 1000, Y0], [X0 + 30000, Y0]], [100, 600], [[X0, Y0]])
    per = periods([1.0], years=(1,))
    path = projection_csv(tmp_path, "unit_id,group,year\nA,all,2020\n")
    with pytest.raises(InputError) as err:
        read_projection(path)
    assert err.value.message == "population projection has no column 'population'"
    path = projection_csv(tmp_path, "unit_id,group,year,population\nA,all,2020,-5\n")
    with pytest.raises(InputError) as err:
        read_projection(path)
    assert (err.value.message, err.value.row) == ("population '-5' is not a number of people (0 or more)", 1)
    path = projection_csv(tmp_path, "unit_id,group,year,population\nA,all,2020,5\nA,all,2020,6\n")
    with pytest.raises(InputError) as err:
        read_projection(path)
    assert (err.value.message, err.value.row) == ("unit 'A', group 'all', year 2020 is given twice", 2)
    path = projection_csv(tmp_path, "unit_id,group,year,population\nA,all,2020,5\nA,all,2030,6\n")
    with pytest.raises(ConfigError) as err:
        period_population(region, ["all"], per.phases, read_projection(path), path)
    assert err.value.message == "demand point 'd1' lies in no unit of the population projection for group 'all'"
    path = projection_csv(
        tmp_path, "unit_id,group,year,population\nA,all,2020,5\nA,all,2025,6\nB,all,2020,1\nB,all,2025,1\n"
    )
    with pytest.raises(ConfigError) as err:
        period_population(region, ["all"], per.phases, read_projection(path), path)
    assert err.value.message == (
        "period 'p1' needs population for 2026-2026, but the projection of unit 'A', group 'all' covers 2020-2025"
    )
    path = projection_csv(tmp_path, "unit_id,group,year,population\nZ,all,2020,5\n")
    with pytest.raises(ConfigError) as err:
        period_population(region, ["all"], per.phases, read_projection(path), path)
    assert err.value.message == "population projection names unit 'Z', which is not in the admin units"


def test_cohort_ageing_by_hand():
    brackets = np.zeros((1, 18))
    brackets[0, 5] = 1000.0  # 25–29
    brackets[0, 16] = 100.0  # 80–84
    brackets[0, 17] = 50.0  # 85+
    out = cohort_ageing(brackets, np.array([400.0]), steps=1, tfr=1.4, life_expectancy=78.0, beta=0.09)
    ratios, birth_survival = survival_ratios(78.0, 0.09)
    nxt = out[1, 0]
    assert nxt[6] == pytest.approx(1000.0 * ratios[5])
    assert nxt[17] == pytest.approx(150.0 * ratios[16])
    # Births: 5 years × 1.4 / 35 per woman-year × 400 women, surviving into 0–4.
    assert nxt[0] == pytest.approx(5 * 1.4 / 35 * 400 * birth_survival)
    assert nxt[[i for i in range(18) if i not in (0, 6, 17)]].sum() == 0
    # The life table reproduces its life expectancy: L(0..85) + T(85) sums the person-years of one birth.
    assert 0.99 < ratios[0] < 1.0 and 0.3 < ratios[16] < 0.7
    assert len(BRACKETS) == 18


# =========================================================================== shipped projection
def test_shipped_projection_is_labelled_and_consistent():
    path = ROOT / "geodata" / "zhejiang" / "projection_2020_2035.csv"
    proj = read_projection(path)
    assert set(proj["year"]) == {2020, 2025, 2030, 2035}
    assert proj["source"].str.contains("ILLUSTRATIVE").all()
    wide = proj.pivot_table(index=["unit_id", "year"], columns="group", values="population")
    assert (wide["school_age"] <= wide["all"]).all() and (wide["65plus"] <= wide["elderly"]).all()
    total = proj[proj["group"] == "all"].groupby("year")["population"].sum()
    assert total[2020] == pytest.approx(64_567_588, rel=1e-9)  # Zhejiang's 2020 census residents
    elderly = proj[proj["group"] == "elderly"].groupby("year")["population"].sum()
    # Cohort ageing with no migration: the 60+ share rises (18.7 % in 2020).
    share = elderly / total
    assert share[2020] == pytest.approx(0.187, abs=0.002)
    assert share[2025] < share[2030] < share[2035]


# =========================================================================== regionopt run
def test_regionopt_run_writes_schedule_timeline_maps_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner
    from test_errors import PERIODS, make_planning_folder

    from optimizer.cli.main import main

    scenario = make_planning_folder(tmp_path)
    with open(scenario, "a", encoding="utf-8") as fh:
        fh.write(PERIODS)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "scenario.yaml", "--out", "out"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    for name in (
        "schedule.csv",
        "coverage_by_period.csv",
        "timeline.html",
        "static_comparison.csv",
        "index.html",
        "solution.json",
    ):
        assert (out / name).is_file(), name
    # Hard standard: a library in each county by the last period; 50 million yuan per period, 50 million each.
    schedule = pd.read_csv(out / "schedule.csv")
    assert sorted(schedule["facility_type"]) == ["library", "library"]
    assert sorted(schedule["period"]) == ["p1", "p2"]
    assert any(p.suffix == ".html" and p.name not in ("index.html", "timeline.html") for p in out.iterdir())
    # The map with a period selector: one option per period, both builds in its data.
    page = (out / "map_periods.html").read_text(encoding="utf-8")
    assert page.count("<option value=") == 2
    data = json.loads(page.split("const D = ", 1)[1].split(";\n", 1)[0])
    assert sorted((a["t"], a["k"]) for a in data["actions"]) == [(0, "library"), (1, "library")]
    if Path("/usr/bin/chromium").exists():
        check_period_selector(out / "map_periods.html")


def check_period_selector(page_path: Path) -> None:
    """In headless Chromium (offline): the selector shows one library after p1, two after p2."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_path.as_uri())
            page.wait_for_function("document.getElementById('count').textContent.length > 0", timeout=30_000)
            markers = "document.querySelectorAll('path.leaflet-interactive').length"
            outlines = 2  # counties A and B
            assert page.evaluate(markers) == outlines + 2
            page.select_option("#period", "0")
            assert page.text_content("#count") == "1 facilities new or repurposed by the end of p1"
            assert page.evaluate(markers) == outlines + 1
            assert errors == []
        finally:
            browser.close()


def test_shipped_phased_scenario_prepares_with_the_projection():
    from optimizer.scenario import load_scenario

    sc = load_scenario(ROOT / "configs" / "zhejiang-2035.yaml")
    model = PhasedPlanningModel(sc).prepare()
    assert [p.label for p in model.phases] == ["2026-2030", "2031-2035"]
    assert model.projection_sources == [
        "ILLUSTRATIVE cohort-ageing projection, not a forecast (geodata/build_projection.py)"
    ]
    proj = read_projection(ROOT / "geodata" / "zhejiang" / "projection_2020_2035.csv")
    for group in ("all", "elderly", "school_age"):
        totals = proj[proj["group"] == group].groupby("year")["population"].sum()
        # Person-years 2026-2030 and 2031-2035 by linear interpolation between 2025, 2030 and 2035.
        yearly = np.interp(np.arange(2026, 2036), totals.index.to_numpy(), totals.to_numpy())
        expected = [yearly[:5].sum(), yearly[5:].sum()]
        assert model.population[group].sum(axis=0).tolist() == pytest.approx(expected, rel=1e-9)
