"""Competitors and the Kolm-Pollak EDE of travel time under the scenario's impedance (OD matrix, road network).

Hand-made matrix (``MATRIX`` of tests/test_impedance.py, minutes / km):
d0-s0 5/2, d1-s0 14/6, d2-s0 70/40, d1-s1 16/30, d2-s1 9/2, d0-f0 0/0, d1-f0 20/7.
Geometry (``line_region``): d0 at x = 1 km, d1 at 5 km, d2 at 30 km (all at y = 1 km); s0 at 2 km,
s1 at 29 km; the existing clinic f0 at 1 km. People 100, 200, 400. The clinic's standard: 15 minutes at
30 km/h (straight radius 7.5 km), cost 10. Each test also solves the straight line, whose numbers differ.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from line_plans import LinePlans
from test_impedance import MATRIX, ROUND, line_region, minutes_type, roads
from test_impedance_objectives import _random_matrix, _random_region
from toy import UTM51, X0, Y0, catalogue, make_region, points

from optimizer.config.schema import BudgetConfig, ImpedanceConfig, ObjectiveConfig, ServiceConfig
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario

POP = np.array([100.0, 200.0, 400.0])
# The competitors (tests/line_plans.py, ``rival_clinics``): c0 lies 20 km north of d2 (out of every
# straight-line reach) but the matrix gives d2-c0 6 min / 3 km and d1-c0 25 min (beyond the standard);
# c1 stands on d1 but has no pair in the matrix: out of reach there.


# ----------------------------------------------------------------------------- coverage
def test_competitor_covered_demand_under_a_matrix_by_hand(line_plans: LinePlans):
    objective = {"kind": "coverage"}
    # Matrix, no competitors: f0 covers d0 (0 min); s0 would add d1 (14 min, 200), s1 d2 (9 min, 400): s1, 500.
    alone = line_plans.plan(objective, matrix=True)
    assert list(alone.chosen_sites["site_id"]) == ["s1"]
    assert alone.objective == pytest.approx(500.0, abs=1e-2)
    # Matrix with competitors: c0 serves d2 (6 min <= 15; its 25 min to d1 is beyond), c1 has no pair and
    # reaches nobody. Covered already: d0 + d2 = 500; the public clinic goes to s0 for d1: 700.
    rival = line_plans.plan(objective, matrix=True, rivals=(1.0, 1.0))
    assert list(rival.chosen_sites["site_id"]) == ["s0"]
    assert rival.objective == pytest.approx(700.0, abs=1e-2)
    assert rival.summary()["competitors"] == {"clinic": {"competitors": 2, "population_in_reach": 400.0}}
    # Straight line (7.5 km): c0 is 20 km from d2 and reaches nobody; c1 stands on d1 and reaches d0 (4 km)
    # and d1 (0 km): 300 in reach. f0 covers d0 and d1 (4 km) already, so the clinic goes to s1 for d2.
    straight = line_plans.plan(objective, matrix=False, rivals=(1.0, 1.0))
    assert list(straight.chosen_sites["site_id"]) == ["s1"]
    assert straight.objective == pytest.approx(700.0, abs=1e-2)
    assert straight.summary()["competitors"] == {"clinic": {"competitors": 2, "population_in_reach": 300.0}}


def test_competitor_on_a_road_network_by_hand(tmp_path: Path):
    """The hand network (tests/test_impedance.py): demand at A (100) and C (300), a competitor at A, a site
    at C beyond the budget; the standard 4 minutes at 60 km/h (straight radius 4 km).

    On the network A is at the competitor (0 min) and C is ROUND + 1 = 6.657 min from it (the one-way B->C
    forbids the direct way back): 100 served. In a straight line C is 3 km from A: both, 400."""
    region = make_region([(X0, Y0), (X0 + 3000, Y0)], [100, 300], [(X0 + 3000, Y0)])
    base = minutes_type(4)
    service = ServiceConfig.model_validate({"minutes": 4, "speed_kmh": 60})
    ftype = type(base)(**{**base.__dict__, "urban": service.urban, "rural": service.rural})
    rival = (
        gpd.GeoDataFrame(
            {"facility_id": ["c0"], "facility_type": ["clinic"]}, geometry=points([(X0, Y0)]).values, crs=UTM51
        )
        .set_index("facility_id")
        .to_crs(4326)
    )
    network = ImpedanceConfig(kind="network", path=roads(tmp_path), columns={"speed_kmh": "speed"})
    got = {}
    for label, impedance in (("network", network), ("straight", ImpedanceConfig())):
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(ftype),
            budget=BudgetConfig(total=5),
            impedance=impedance,
            competitors=rival,
        )
        result = PlanningModel(sc).solve()
        assert result.status == "optimal" and list(result.chosen_sites["site_id"]) == []
        got[label] = (result.objective, result.summary()["competitors"]["clinic"]["population_in_reach"])
    assert ROUND + 1 > 4
    assert got["network"] == pytest.approx((100.0, 100.0), abs=1e-2)
    assert got["straight"] == pytest.approx((400.0, 400.0), abs=1e-2)


# ----------------------------------------------------------------------------- attendance: Huff capture
def test_huff_capture_with_matrix_minutes_by_hand(line_plans: LinePlans):
    objective = {"kind": "attendance", "attendance": {"decay": "linear"}}
    result = line_plans.plan(objective, matrix=True, rivals=(2.0, 1.0))
    # Linear decay to 0 at the 15-minute standard, a = 1 - t/15. Competitor utility: only d2 reaches c0
    # (6 min): C = 2 x (1 - 6/15) = 1.2; c1 has no pair. Kept share s = a^2 / (a + C).
    # d0 at f0 (0 min): s = 1 -> 100. Open s0: d1 at 14 min, a = 1/15 -> 200/15 = 13.33.
    # Open s1: d2 at 9 min, a = 0.4 -> 0.16 / 1.6 = 0.1 -> 40. Best: s1, 100 + 40 = 140 (260 without c0).
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.objective == pytest.approx(140.0, abs=3e-3)
    alone = line_plans.plan(objective, matrix=True)  # the plan of test_impedance_objectives' linear decay
    assert alone.objective == pytest.approx(260.0, abs=3e-3)
    # Straight line (cutoff 7.5 km, a = 1 - d/7.5): c0 is 20 km from everyone; c1 (A = 1) stands on d1:
    # C(d0) = 1 - 4/7.5 = 7/15, C(d1) = 1. d0 at f0: s = 1/(1 + 7/15); d1 4 km from f0: a = 7/15,
    # s = a^2/(a + 1); s1 brings d2 to 1 km: 13/15 (no competitor). 68.18 + 29.70 + 346.67 = 444.55.
    a1 = 7 / 15
    expected = 100 / (1 + 7 / 15) + 200 * a1 * a1 / (a1 + 1) + 400 * 13 / 15
    straight = line_plans.plan(objective, matrix=False, rivals=(2.0, 1.0))
    assert list(straight.chosen_sites["site_id"]) == ["s1"]
    assert straight.objective == pytest.approx(expected, abs=3e-3)
    assert expected == pytest.approx(444.545, abs=1e-3)


# ----------------------------------------------------------------------------- Kolm-Pollak over travel time
KP = {"kind": "kolm_pollak", "equity": {"over": "travel_time", "time_aversion": 1.0}}


def _ede(t: np.ndarray, pop: np.ndarray, kappa: float) -> float:
    return float(np.log(pop @ np.exp(kappa * t) / pop.sum()) / kappa)


def test_kolm_pollak_travel_time_in_matrix_minutes_by_hand(line_plans: LinePlans):
    result = line_plans.plan(KP, matrix=True)
    # Times are the matrix's minutes, capped at 3 x the 7.5 km standard = 22.5 km at 30 km/h = 45 min.
    # Before: d0 0 (f0), d1 20 (f0), d2 none -> 45. kappa = (200 x 20 + 400 x 45) / (200 x 400 + 400 x 2025)
    # = 22,000 / 890,000 per minute. s0 gives (0, 14, 45); s1 gives (0, 16, 9): s1 is best.
    t0 = np.array([0.0, 20.0, 45.0])
    kappa = 22_000 / 890_000
    kp = result.summary()["kolm_pollak"]["by_type"]["clinic"]
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert kp["kappa_per_minute"] == pytest.approx(kappa, rel=1e-12)
    assert kp["ede_before_min"] == pytest.approx(_ede(t0, POP, kappa), rel=1e-9)
    assert kp["ede_after_min"] == pytest.approx(_ede(np.array([0.0, 16.0, 9.0]), POP, kappa), rel=1e-9)
    assert kp["ede_before_min"] == pytest.approx(34.553, abs=1e-3)
    assert kp["ede_after_min"] == pytest.approx(10.018, abs=1e-3)
    assert kp["mean_after_min"] == pytest.approx((200 * 16 + 400 * 9) / 700, rel=1e-9)
    assert _ede(np.array([0.0, 14.0, 45.0]), POP, kappa) > kp["ede_after_min"]  # s0 would be worse
    # Straight line: km x 2 min/km. Before: d0 0, d1 4 km = 8 min, d2 29 km capped at 22.5 km = 45 min;
    # s1 brings d2 to 1 km = 2 min.
    straight = line_plans.plan(KP, matrix=False)
    skp = straight.summary()["kolm_pollak"]["by_type"]["clinic"]
    s_kappa = (200 * 8 + 400 * 45) / (200 * 64 + 400 * 2025)
    assert list(straight.chosen_sites["site_id"]) == ["s1"]
    assert skp["kappa_per_minute"] == pytest.approx(s_kappa, rel=1e-12)
    assert skp["ede_after_min"] == pytest.approx(_ede(np.array([0.0, 8.0, 2.0]), POP, s_kappa), rel=1e-9)
    assert abs(skp["ede_after_min"] - kp["ede_after_min"]) > 5.0


def test_kolm_pollak_travel_time_on_a_road_network_by_hand(tmp_path: Path):
    """Hand network: demand at A (100) and C (300), the existing clinic at A, a site at C beyond the budget.

    C's time to A is ROUND + 1 = 6.657 min (one-way B->C); kappa = 1 x 300 t / 300 t^2 = 1/t, so the EDE
    is t ln((100 + 300 e) / 400). Straight line at the standard's 30 km/h: t = 3 km = 6 min."""
    region = make_region([(X0, Y0), (X0 + 3000, Y0)], [100, 300], [(X0 + 3000, Y0)], existing=[("clinic", X0, Y0)])
    network = ImpedanceConfig(kind="network", path=roads(tmp_path), columns={"speed_kmh": "speed"})
    got = {}
    for label, impedance in (("network", network), ("straight", ImpedanceConfig())):
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(minutes_type(15)),
            budget=BudgetConfig(total=5),
            objective=ObjectiveConfig.model_validate(KP),
            impedance=impedance,
        )
        result = PlanningModel(sc).solve()
        assert result.status == "optimal"
        got[label] = result.summary()["kolm_pollak"]["by_type"]["clinic"]["ede_before_min"]
    factor = math.log((100 + 300 * math.e) / 400)
    assert got["network"] == pytest.approx((ROUND + 1) * factor, rel=1e-9)  # 5.512 min
    assert got["straight"] == pytest.approx(6.0 * factor, rel=1e-9)  # 4.968 min


@pytest.mark.parametrize("aversion", [0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_kolm_pollak_travel_time_matches_brute_force_with_matrix(tmp_path: Path, seed: int, aversion: float):
    """Random matrices (minutes unrelated to geometry), 20-minute standard at 30 km/h (cap 30 km = 60 min):
    the plan's EDE equals the minimum over every plan of at most 2 sites."""
    rng = np.random.default_rng(500 + seed)
    n, m = 9, 5
    region = _random_region(rng, n, m)
    pairs = _random_matrix(tmp_path, rng, n, m)
    pop = region.demand["population"].to_numpy(dtype=float)
    objective = {"kind": "kolm_pollak", "equity": {"over": "travel_time", "time_aversion": aversion}}
    sc = Scenario(
        name="t",
        region=region,
        catalogue=catalogue(minutes_type(20)),
        budget=BudgetConfig(total=20),
        objective=ObjectiveConfig.model_validate(objective),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
    )

    def minutes(open_: set[str]) -> np.ndarray:
        return np.array([min([60.0, *(pairs[(i, t)][0] for t in open_ if (i, t) in pairs)]) for i in range(n)])

    t0 = minutes({"f0"})
    kappa = aversion * (pop @ t0) / (pop @ t0**2)
    keep = pop > 0

    def ede(combo: tuple[int, ...]) -> float:
        return _ede(minutes({"f0", *(f"s{j}" for j in combo)})[keep], pop[keep], kappa)

    best = min(ede(c) for k in range(3) for c in itertools.combinations(range(m), k))
    result = PlanningModel(sc).solve()
    chosen = tuple(int(s[1:]) for s in result.chosen_sites["site_id"])
    kp = result.summary()["kolm_pollak"]["by_type"]["clinic"]
    assert result.status == "optimal"
    assert ede(chosen) == pytest.approx(best, rel=1e-9)
    assert kp["ede_after_min"] == pytest.approx(best, rel=1e-9)
    assert kp["ede_before_min"] == pytest.approx(ede(()), rel=1e-9)
    assert kp["kappa_per_minute"] == pytest.approx(kappa, rel=1e-12)


def test_kolm_pollak_travel_time_needs_no_km_in_a_matrix_with_minutes(tmp_path: Path):
    # The matrix of the hand test above without its km column: the same times, the same EDE after s1.
    lines = [",".join(line.split(",")[:3]) for line in MATRIX.strip().splitlines()]
    (tmp_path / "od.csv").write_text("\n".join(lines) + "\n")
    sc = Scenario(
        name="t",
        region=line_region(),
        catalogue=catalogue(minutes_type(15)),
        budget=BudgetConfig(total=10),
        objective=ObjectiveConfig.model_validate(KP),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
    )
    result = PlanningModel(sc).solve()
    kappa = 22_000 / 890_000
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    kp = result.summary()["kolm_pollak"]["by_type"]["clinic"]
    assert kp["ede_after_min"] == pytest.approx(_ede(np.array([0.0, 16.0, 9.0]), POP, kappa), rel=1e-9)
