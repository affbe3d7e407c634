"""Access, attendance, 2SFCA, nearest times and phased plans measured with the scenario's impedance.

Small hand-made OD matrices and road networks: every number is computed here by hand and compared with
the straight-line result of the same region, which must differ where the matrix (or network) does.
The planning model's brute-force property tests run with matrix impedance for access and attendance too.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from line_plans import LinePlans
from test_impedance import MATRIX, ROUND, line_region, minutes_type, roads
from test_terrain import toy_scenario as terrain_toy
from toy import X0, Y0, catalogue, make_region

from optimizer.accessibility import catchment_weights, layout_accessibility
from optimizer.config.schema import BudgetConfig, ImpedanceConfig, ObjectiveConfig, PeriodsConfig
from optimizer.errors import ConfigError
from optimizer.evaluate import evaluate_layout
from optimizer.impedance import NetworkImpedance, Points, read_road_layer
from optimizer.locate.attendance import decay_weights
from optimizer.planning.model import PlanningModel
from optimizer.planning.phased import PhasedPlanningModel
from optimizer.scenario import Scenario

# MATRIX (tests/test_impedance.py), minutes / km:
#   d0-s0 5/2, d1-s0 14/6, d2-s0 70/40, d1-s1 16/30, d2-s1 9/2, d0-f0 0/0, d1-f0 20/7
# Geometry (line_region): d0 at x = 1 km, d1 at 5 km, d2 at 30 km; s0 at 2 km, s1 at 29 km; f0 at 1 km.
# People: 100, 200, 400. The clinic's standard: 15 minutes at 30 km/h (straight radius 7.5 km).
POP = np.array([100.0, 200.0, 400.0])


# ----------------------------------------------------------------------------- access
def test_access_objective_with_matrix_km_by_hand(line_plans: LinePlans):
    objective = {"kind": "access", "access_cap_km": 50}
    result = line_plans.plan(objective, matrix=True)
    # Baseline km to the nearest existing clinic, by the matrix: d0 0 (f0), d1 7 (f0), d2 none -> cap 50:
    # 100 x 0 + 200 x 7 + 400 x 50 = 21,400 person-km. Open s0: d1 6, d2 40 -> 1,200 + 16,000 = 17,200;
    # open s1: d1 stays 7 (s1 is 30 km), d2 2 -> 1,400 + 800 = 2,200. Best: s1 at 2,200 person-km.
    assert result.status == "optimal"
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.objective == pytest.approx(2200.0, abs=0.01)
    assert result.before.nearest_km["clinic"].tolist() == [0.0, 7.0, np.inf]
    assert result.after.nearest_km["clinic"].tolist() == [0.0, 7.0, 2.0]
    # The straight line: baseline d0 0, d1 4, d2 29 km; s1 gives d1 4, d2 1: 800 + 400 = 1,200 person-km.
    straight = line_plans.plan(objective, matrix=False)
    assert list(straight.chosen_sites["site_id"]) == ["s1"]
    assert straight.objective == pytest.approx(1200.0, abs=0.01)
    assert straight.objective != pytest.approx(result.objective, abs=1.0)


def test_access_objective_on_a_road_network_by_hand(tmp_path: Path):
    """Demand at A and C of the hand network; an existing clinic at A, a candidate site at C.

    Shortest km (access legs 0): A->A 0, C->A 1.414 + 1.414 + 1 = 3.828 (the one-way B->C forbids the
    direct way back); with a clinic at C, C's km is 0. Straight line: C is 3 km from A.
    """
    net_path = roads(tmp_path)
    region = make_region([(X0, Y0), (X0 + 3000, Y0)], [100, 300], [(X0 + 3000, Y0)], existing=[("clinic", X0, Y0)])
    ftype = minutes_type(15)
    objective = ObjectiveConfig.model_validate({"kind": "access", "access_cap_km": 50})

    def solve(budget: float, imp: ImpedanceConfig) -> tuple[float, list[str]]:
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(ftype),
            budget=BudgetConfig(total=budget),
            objective=objective,
            impedance=imp,
        )
        res = PlanningModel(sc).solve()
        assert res.status == "optimal"
        return res.objective, list(res.chosen_sites["site_id"])

    network = ImpedanceConfig(kind="network", path=net_path, columns={"speed_kmh": "speed"})
    obj, chosen = solve(5, network)
    assert chosen == [] and obj == pytest.approx(300 * (2 * math.hypot(1, 1) + 1), abs=1e-6)  # 1,148.5
    obj, chosen = solve(10, network)
    assert chosen == ["s0"] and obj == pytest.approx(0.0, abs=0.01)
    obj, _ = solve(5, ImpedanceConfig())
    assert obj == pytest.approx(300 * 3.0, abs=1e-6)  # straight line: 900 person-km


def test_access_objective_with_terrain_adjusted_km_by_hand(tmp_path: Path):
    """The terrain toy (tests/test_terrain.py): d0 (100 people) on the plain, d1 (300) in the mountains
    (detour x1.25), each 15 km south of its own site, the two 30 km apart; no clinic yet, one site in the
    budget, access capped at 50 km. Km are straight km x the demand point's detour:
    s0: 100 x 15 + 300 x 33.541 x 1.25 = 14,077.4;  s1: 100 x 33.541 + 300 x 15 x 1.25 = 8,979.1.
    The straight line picks s1 too, at 100 x 33.541 + 300 x 15 = 7,854.1 person-km."""
    base = terrain_toy(tmp_path)
    far = math.hypot(30.0, 15.0)

    def solve(impedance: ImpedanceConfig) -> tuple[float, list[str]]:
        sc = Scenario(
            name="t",
            region=base.region,
            catalogue=base.catalogue,
            budget=BudgetConfig(total=10),
            objective=ObjectiveConfig.model_validate({"kind": "access", "access_cap_km": 50}),
            impedance=impedance,
        )
        res = PlanningModel(sc).solve()
        assert res.status == "optimal"
        return res.objective, list(res.chosen_sites["site_id"])

    obj, chosen = solve(base.impedance)
    assert chosen == ["s1"] and obj == pytest.approx(100 * far + 300 * 15 * 1.25, abs=0.01)
    assert 100 * 15 + 300 * far * 1.25 > obj  # s0 would be worse
    obj, chosen = solve(ImpedanceConfig())
    assert chosen == ["s1"] and obj == pytest.approx(100 * far + 300 * 15, abs=0.01)


# ----------------------------------------------------------------------------- attendance
def test_attendance_linear_decay_in_matrix_minutes_by_hand(line_plans: LinePlans):
    objective = {"kind": "attendance", "attendance": {"decay": "linear"}}
    result = line_plans.plan(objective, matrix=True)
    # Cutoff = the 15-minute standard, share 1 - t/15. Baseline: d0 at f0 (0 min) attends fully (100);
    # d1 (f0 at 20 min) and d2 (none) do not. Open s0: d1 at 14 min gains 200/15 = 13.33;
    # open s1: d2 at 9 min gains 400 x (1 - 9/15) = 160. Best: s1, 100 + 160 = 260 attending.
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.objective == pytest.approx(260.0, abs=3e-3)
    # The straight line (7.5 km radius): d0 1 (f0 at 0 km), d1 at 4 km from f0: 1 - 4/7.5; s1 1 km from d2:
    # 100 + 200 x 7/15 + 400 x (1 - 1/7.5) = 100 + 93.33 + 346.67 = 540.
    straight = line_plans.plan(objective, matrix=False)
    assert straight.objective == pytest.approx(540.0, abs=3e-3)


def test_attendance_exponential_decay_in_matrix_km_by_hand(line_plans: LinePlans):
    objective = {"kind": "attendance", "attendance": {"decay": "exponential", "beta": 0.5, "cutoff_km": 10}}
    result = line_plans.plan(objective, matrix=True)
    # Shares e^(-0.5 km) within 10 km. Baseline: d0 e^0 = 1, d1 at 7 km e^-3.5, d2 none.
    # Open s0: d1 at 6 km -> e^-3; open s1: d2 at 2 km -> e^-1 (d1-s1 is 30 km, beyond the cutoff).
    base = 100 + 200 * math.exp(-3.5)
    with_s0 = 100 + 200 * math.exp(-3.0)
    with_s1 = base + 400 * math.exp(-1.0)  # 253.19
    assert with_s1 > with_s0
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.objective == pytest.approx(with_s1, abs=3e-3)
    # Straight line: d1 is 4 km from f0 (e^-2), d2 1 km from s1 (e^-0.5).
    straight = line_plans.plan(objective, matrix=False)
    assert straight.objective == pytest.approx(100 + 200 * math.exp(-2.0) + 400 * math.exp(-0.5), abs=3e-3)


def test_attendance_cutoff_km_needs_a_matrix_with_km(tmp_path: Path):
    (tmp_path / "od.csv").write_text("origin,destination,minutes\nd0,s0,5\nd2,s1,9\n")
    sc = Scenario(
        name="t",
        region=line_region(),
        catalogue=catalogue(minutes_type(15)),
        budget=BudgetConfig(total=10),
        objective=ObjectiveConfig.model_validate({"kind": "attendance", "attendance": {"cutoff_km": 10}}),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
    )
    with pytest.raises(ConfigError) as err:
        PlanningModel(sc).prepare()
    assert err.value.message == "attendance.cutoff_km is in km, but the OD matrix for 'clinic' has no km column"
    assert err.value.field == "objective.attendance.cutoff_km"


# ----------------------------------------------------------------------------- 2SFCA
def _layout(sc: Scenario, site_ids: list[str]) -> gpd.GeoDataFrame:
    region = sc.region
    new = region.candidates.loc[site_ids, ["unit_id", "geometry"]].copy()
    new["facility_type"], new["capacity"], new["site_id"] = "clinic", np.nan, site_ids
    fac = region.facilities[["facility_type", "capacity", "unit_id", "geometry"]].copy()
    fac["site_id"] = None
    return gpd.GeoDataFrame(pd.concat([fac, new]), geometry="geometry", crs=region.facilities.crs)


def test_2sfca_ratios_with_matrix_minutes_by_hand(line_plans: LinePlans):
    sc = line_plans.scenario({"kind": "coverage"}, matrix=True)
    layout = _layout(sc, ["s0"])
    # Within 15 minutes: d0-f0 (0), d0-s0 (5), d1-s0 (14); d1-f0 is 20 min. Supply 1 per facility (no capacity).
    # R_f0 = 1 / 100, R_s0 = 1 / (100 + 200); A = [1/100 + 1/300, 1/300, 0].
    got = layout_accessibility(sc, layout, method="2sfca")["clinic"]
    assert got == pytest.approx([1 / 100 + 1 / 300, 1 / 300, 0.0], rel=1e-12)
    # Gaussian weights of t / 15: W(0) = 1, W(5/15), W(14/15).
    w = catchment_weights(np.array([0.0, 5.0, 14.0]), 15.0, "gaussian")
    r_s0 = 1 / (100 * w[1] + 200 * w[2])
    got = layout_accessibility(sc, layout, method="gaussian")["clinic"]
    assert got == pytest.approx([1 / 100 + r_s0 * w[1], r_s0 * w[2], 0.0], rel=1e-12)
    # Straight line (7.5 km): d1 is 4 km from f0 too, so both facilities share d0 and d1 (300 people).
    straight = layout_accessibility(line_plans.scenario({"kind": "coverage"}, matrix=False), layout, method="2sfca")[
        "clinic"
    ]
    assert straight == pytest.approx([2 / 300, 2 / 300, 0.0], rel=1e-12)


def test_2sfca_on_a_road_network_by_hand(tmp_path: Path):
    """Demand at A and at C, one clinic at A; a 5-minute standard. A->A 0 min; C->A 6.657 min (round the
    one-way): out of reach, so A gets all the supply. The straight line (3 km at 30 km/h = 6 min > 5) agrees
    here, but at a 6.5-minute standard it reaches C while the network still does not."""
    region = make_region([(X0, Y0), (X0 + 3000, Y0)], [100, 300], [(X0 + 1000, Y0)], existing=[("clinic", X0, Y0)])
    net = ImpedanceConfig(kind="network", path=roads(tmp_path), columns={"speed_kmh": "speed"})
    for minutes, straight_expected in ((5.0, [0.01, 0.0]), (6.5, [1 / 400, 1 / 400])):
        kw = {
            "name": "t",
            "region": region,
            "catalogue": catalogue(minutes_type(minutes)),
            "budget": BudgetConfig(total=1),
        }
        fac = _layout(Scenario(**kw), [])
        assert layout_accessibility(Scenario(**kw, impedance=net), fac, "2sfca")["clinic"] == pytest.approx([0.01, 0.0])
        assert layout_accessibility(Scenario(**kw), fac, "2sfca")["clinic"] == pytest.approx(straight_expected)


# ----------------------------------------------------------------------------- nearest times
def test_nearest_minutes_from_matrix_and_network_by_hand(tmp_path: Path, line_plans: LinePlans):
    sc = line_plans.scenario({"kind": "coverage"}, matrix=True)
    before = evaluate_layout(sc, _layout(sc, []))
    after = evaluate_layout(sc, _layout(sc, ["s0", "s1"]))
    # Matrix minutes among the pairs kept (within 15 min): d0 0 (f0); d1 14 (s0); d2 9 (s1).
    assert before.nearest_minutes["clinic"].tolist() == [0.0, np.inf, np.inf]
    assert after.nearest_minutes["clinic"].tolist() == [0.0, 14.0, 9.0]
    # Network: quickest, not nearest. From C to a target at A: 6.657 min round the one-way (3.828 km).
    net = NetworkImpedance(
        read_road_layer(roads(tmp_path), line_region().projected_crs, columns={"speed_kmh": "speed"})
    )
    demand = Points(["dA", "dC"], [(X0, Y0), (X0 + 3000, Y0)])
    targets = Points(["tA"], [(X0, Y0)])
    assert net.nearest_minutes(demand, targets) == pytest.approx([0.0, ROUND + 1.0])
    assert net.nearest_km(demand, targets) == pytest.approx([0.0, 2 * math.hypot(1, 1) + 1])


# ----------------------------------------------------------------------------- phased plans
def test_two_period_phased_plan_repurposes_with_matrix_reach(tmp_path: Path):
    """The existing clinic f0 may close and become a school (repurposing costs 3 million, p1 budget 3 million;
    new facilities cost 1e9, so none can be built). The school is reached like any school: by the matrix,
    f0 reaches d0 only (d1 at 20 min); by the straight line (7.5 km) d0 and d1 (4 km).

    Person-years (500, 1,000, 2,000 per period), school weight 3. Keep the clinic: 1 x (500 + 500) = 1,000;
    repurpose in p1: the school covers d0 in both periods, 3 x 1,000 = 3,000; in p2: 500 + 1,500 = 2,000.
    Matrix optimum: repurpose in p1, 3,000. Straight line: clinic 1,500 + 1,500 = 3,000 kept; school in p1
    3 x 3,000 = 9,000.
    """
    (tmp_path / "od.csv").write_text(MATRIX)
    clinic = minutes_type(15)
    school = type(clinic)(**{**clinic.__dict__, "type_id": "school", "family": "education", "cost": 1e9})
    clinic = type(clinic)(**{**clinic.__dict__, "cost": 1e9})
    per = PeriodsConfig.model_validate(
        {
            "phases": [
                {"label": "p1", "start": 2026, "years": 5, "budget": 3.0e6},
                {"label": "p2", "start": 2031, "years": 5, "budget": 0.0},
            ],
            "compare_static": False,
            "closures": {"clinic": {"value": 1.0, "repurpose_to": "school", "repurpose_cost": 3.0e6}},
        }
    )
    pop = {"all": np.array([[500.0, 500.0], [1000.0, 1000.0], [2000.0, 2000.0]])}

    def solve(impedance: ImpedanceConfig) -> tuple[PhasedPlanningModel, object]:
        sc = Scenario(
            name="t",
            region=line_region(),
            catalogue=catalogue(clinic, school),
            budget=BudgetConfig(total=1e12),
            objective=ObjectiveConfig(weights={"school": 3.0}),
            impedance=impedance,
        )
        model = PhasedPlanningModel(sc, per, population=pop)
        return model, model.solve()

    model, result = solve(ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"))
    assert result.is_optimal
    assert result.report.objective == pytest.approx(3000.0, abs=0.05)
    covered = model.covered_person_years()
    assert covered["school"].tolist() == [[500.0, 500.0], [0.0, 0.0], [0.0, 0.0]]
    assert covered["clinic"].sum() == 0.0
    model, result = solve(ImpedanceConfig())
    assert result.report.objective == pytest.approx(9000.0, abs=0.05)
    assert model.covered_person_years()["school"].tolist() == [[500.0, 500.0], [1000.0, 1000.0], [0.0, 0.0]]


# ----------------------------------------------------------------------------- brute force with matrix impedance
def _random_matrix(tmp_path: Path, rng: np.random.Generator, n: int, m: int) -> dict[tuple[int, str], tuple]:
    targets = [f"s{j}" for j in range(m)] + ["f0"]
    lines, pairs = ["origin,destination,minutes,km"], {}
    for i in range(n):
        for t in targets:
            if rng.random() < 0.6:
                pairs[(i, t)] = (float(rng.integers(0, 40)), float(rng.integers(0, 30)))
                lines.append(f"d{i},{t},{pairs[(i, t)][0]:g},{pairs[(i, t)][1]:g}")
    (tmp_path / "od.csv").write_text("\n".join(lines) + "\n")
    return pairs


def _random_region(rng: np.random.Generator, n: int, m: int):
    return make_region(
        rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0],
        rng.integers(0, 1000, n),
        rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0],
        existing=[("clinic", X0 + 5000, Y0 + 5000)],
    )


@pytest.mark.parametrize("seed", range(4))
def test_access_matches_brute_force_with_matrix_impedance(tmp_path: Path, seed: int):
    """Random matrices (km unrelated to geometry), access capped at 25 km: the optimum equals enumeration."""
    rng = np.random.default_rng(300 + seed)
    n, m, cap = 9, 5, 25.0
    region = _random_region(rng, n, m)
    pairs = _random_matrix(tmp_path, rng, n, m)
    pop = region.demand["population"].to_numpy(dtype=float)
    for budget_sites in (1, 2):
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(minutes_type(20)),
            budget=BudgetConfig(total=10 * budget_sites),
            objective=ObjectiveConfig.model_validate({"kind": "access", "access_cap_km": cap}),
            impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
        )
        best = math.inf
        for k in range(budget_sites + 1):
            for combo in itertools.combinations(range(m), k):
                open_ = {"f0", *(f"s{j}" for j in combo)}
                km = [min([cap, *(pairs[(i, t)][1] for t in open_ if (i, t) in pairs)]) for i in range(n)]
                best = min(best, float(pop @ np.array(km)))
        result = PlanningModel(sc).solve()
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, abs=0.01)


@pytest.mark.parametrize(
    "decay,beta,cutoff_km", [("linear", 1.0, None), ("power", 1.5, 12.0), ("exponential", 0.2, None)]
)
@pytest.mark.parametrize("seed", range(3))
def test_attendance_matches_brute_force_with_matrix_impedance(tmp_path: Path, seed: int, decay, beta, cutoff_km):
    """Random matrices: attendance decays over matrix minutes up to the 20-minute standard (or km up to
    cutoff_km); the model's optimum equals enumeration of every plan of at most 2 sites."""
    rng = np.random.default_rng(400 + seed)
    n, m = 9, 5
    region = _random_region(rng, n, m)
    pairs = _random_matrix(tmp_path, rng, n, m)
    pop = region.demand["population"].to_numpy(dtype=float)
    objective = {"kind": "attendance", "attendance": {"decay": decay, "beta": beta, "cutoff_km": cutoff_km}}
    sc = Scenario(
        name="t",
        region=region,
        catalogue=catalogue(minutes_type(20)),
        budget=BudgetConfig(total=20),
        objective=ObjectiveConfig.model_validate(objective),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
    )
    which, cut = (1, cutoff_km) if cutoff_km else (0, 20.0)

    def share(x: float) -> float:
        if x > cut:
            return 0.0
        if decay == "linear":
            return max(0.0, 1.0 - x / cut)
        return float(decay_weights(np.array([x]), decay, beta, np.inf)[0])

    def attendance(combo: tuple[int, ...]) -> float:
        open_ = {"f0", *(f"s{j}" for j in combo)}
        return sum(
            pop[i] * max([0.0, *(share(pairs[(i, t)][which]) for t in open_ if (i, t) in pairs)]) for i in range(n)
        )

    best = max(attendance(c) for k in range(3) for c in itertools.combinations(range(m), k))
    result = PlanningModel(sc).solve()
    chosen = tuple(int(s[1:]) for s in result.chosen_sites["site_id"])
    assert result.status == "optimal"
    assert attendance(chosen) == pytest.approx(best, rel=1e-6, abs=1e-4)
    assert result.objective == pytest.approx(best, abs=3e-3)
