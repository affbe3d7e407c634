"""Kolm-Pollak EDE of travel time (``kolm_pollak`` over ``travel_time``) against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from optimizer.catalogue import FacilityType
from optimizer.config.schema import BudgetConfig, FacilityTypeConfig, ObjectiveConfig, ServiceConfig
from optimizer.planning.kolm_pollak_time import kolm_pollak_ede, time_kappa
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from tests.toy import X0, Y0, catalogue, facility_type, make_region


def _minutes_type() -> FacilityType:
    """A clinic whose standard is 15 minutes at 40 km/h (urban) / 20 minutes at 30 km/h (rural)."""
    service = ServiceConfig.model_validate(
        {"urban": {"minutes": 15, "speed_kmh": 40}, "rural": {"minutes": 20, "speed_kmh": 30}}
    )
    return FacilityType.from_config("clinic", FacilityTypeConfig(family="health", cost=10, service=service))


def test_ede_by_hand():
    # two people at 0 and 10 minutes, kappa 0.1: EDE = 10 ln((1 + e) / 2) = 6.2011...
    assert kolm_pollak_ede(np.array([0.0, 10.0]), np.array([1.0, 1.0]), 0.1) == pytest.approx(
        10 * np.log((1 + np.e) / 2), rel=1e-12
    )
    # equal times: the EDE is that time; weight 0 is ignored
    assert kolm_pollak_ede(np.array([7.0, 7.0, 99.0]), np.array([2.0, 5.0, 0.0]), 3.0) == pytest.approx(7.0)
    # Horton et al.'s scaling: kappa = aversion * sum(p t) / sum(p t^2) = 2 * 30 / 500
    assert time_kappa(np.array([10.0, 20.0]), np.array([1.0, 1.0]), 2.0) == pytest.approx(0.12)


@pytest.mark.parametrize("aversion", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("standard", ["km", "minutes"])
def test_kolm_pollak_travel_time_matches_brute_force(seed, aversion, standard):
    rng = np.random.default_rng(seed)
    dxy = rng.random((10, 2)) * [40_000, 20_000] + [X0, Y0]
    sxy = rng.random((5, 2)) * [40_000, 20_000] + [X0, Y0]
    exy = np.array([[X0 + 3000, Y0 + 4000]])
    pop = rng.integers(1, 1000, 10).astype(float)
    urban = rng.random(10) < 0.4
    region = make_region(dxy, pop, sxy, existing=[("clinic", *exy[0])], urban=urban)
    if standard == "km":
        clinic = facility_type("clinic", cost=10, km=6)
        per_m = np.full(10, 60.0 / 30_000.0)  # equity.speed_kmh = 30 (the default)
        cap_m = 18_000.0  # access cap: 3x the rural standard
    else:
        clinic = _minutes_type()
        per_m = np.where(urban, 60.0 / 40_000.0, 60.0 / 30_000.0)  # each standard's own speed
        cap_m = 3 * 20 / 60 * 30_000.0
    objective = ObjectiveConfig.model_validate(
        {"kind": "kolm_pollak", "equity": {"over": "travel_time", "time_aversion": aversion}}
    )
    sc = Scenario(
        name="t", region=region, catalogue=catalogue(clinic), budget=BudgetConfig(total=20), objective=objective
    )
    result = PlanningModel(sc).solve()

    d_site, t0 = cdist(dxy, sxy), np.minimum(cdist(dxy, exy)[:, 0], cap_m) * per_m
    kappa = aversion * (pop @ t0) / (pop @ t0**2)

    def ede(plan) -> float:
        t = np.minimum(t0, d_site[:, list(plan)].min(axis=1) * per_m) if plan else t0
        return float(np.log(pop @ np.exp(kappa * t) / pop.sum()) / kappa)

    plans = [plan for k in range(3) for plan in itertools.combinations(range(5), k)]
    best = min(ede(plan) for plan in plans)
    chosen = [int(s[1:]) for s in result.chosen_sites["site_id"]]
    kp = result.summary()["kolm_pollak"]["by_type"]["clinic"]
    assert result.status == "optimal"
    assert ede(chosen) == pytest.approx(best, rel=1e-9)
    assert kp["ede_after_min"] == pytest.approx(best, rel=1e-9)
    assert kp["ede_before_min"] == pytest.approx(ede(()), rel=1e-9)
    assert kp["kappa_per_minute"] == pytest.approx(kappa, rel=1e-12)
    assert kp["mean_before_min"] == pytest.approx(pop @ t0 / pop.sum(), rel=1e-9)


def test_cli_run_prints_and_writes_the_ede(tmp_path):
    """``regionopt run`` on a kolm_pollak travel-time scenario: EDE before -> after on the terminal and in solution.json."""
    import json

    import yaml
    from click.testing import CliRunner

    from optimizer.cli.main import main

    # Three villages on a line (0, 10, 20 km), an existing clinic at the first, sites at each; budget for one.
    dxy = np.array([[X0, Y0], [X0 + 10_000, Y0], [X0 + 20_000, Y0]])
    pop = np.array([100.0, 300.0, 200.0])
    region = make_region(dxy, pop, dxy, existing=[("clinic", X0, Y0)])
    gpkg = tmp_path / "region.gpkg"
    for layer in ("admin_units", "demand", "facilities", "candidates"):
        getattr(region, layer).reset_index().to_file(gpkg, layer=layer)
    (tmp_path / "catalogue.yaml").write_text(
        yaml.safe_dump({"facility_types": {"clinic": {"family": "health", "cost": 10, "service": {"distance_km": 5}}}})
    )
    layers = {k: {"path": "region.gpkg", "layer": k} for k in ("admin_units", "demand", "facilities", "candidates")}
    scenario = {
        "name": "kp",
        "region": {"name": "Line", "projected_crs": "EPSG:32651", **layers},
        "catalogue": "catalogue.yaml",
        "budget": {"total": 10},
        "objective": {"kind": "kolm_pollak", "equity": {"over": "travel_time"}},
    }
    (tmp_path / "kp.yaml").write_text(yaml.safe_dump(scenario))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "kp.yaml"), "--out", str(out), "--no-maps", "--no-report"])
    assert result.exit_code == 0, result.output
    # 2 min per km; capped at 15 km = 30 min. Before: 0, 20, 30 min; the best single site is the middle
    # village's (0, 0, 20) rather than the far one's (0, 20, 0): the EDE is brute-forced below.
    t0 = np.array([0.0, 20.0, 30.0])
    kappa = (pop @ t0) / (pop @ t0**2)

    def ede(t: np.ndarray) -> float:
        return float(np.log(pop @ np.exp(kappa * t) / pop.sum()) / kappa)

    after = min(ede(np.array([0.0, 0.0, 20.0])), ede(np.array([0.0, 20.0, 0.0])))
    assert f"clinic                   Kolm-Pollak EDE {ede(t0):.1f} -> {after:.1f} min" in result.output
    sol = json.loads((out / "solution.json").read_text())
    assert sol["kolm_pollak"]["by_type"]["clinic"]["ede_after_min"] == pytest.approx(after, rel=1e-9)
