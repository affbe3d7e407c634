"""Competitor facilities in the planning model: Huff capture (attendance), served demand (coverage), errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from line_plans import competitor_layer
from scipy.spatial.distance import cdist

from optimizer.config.schema import BudgetConfig, ObjectiveConfig
from optimizer.errors import InputError
from optimizer.io.competitors import read_competitors
from optimizer.locate.attendance import decay_weights
from optimizer.planning.competitors import huff_capture
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from tests.toy import X0, Y0, catalogue, facility_type, make_region


def _share(d_m: np.ndarray, cut_m: np.ndarray, decay: str, beta: float) -> np.ndarray:
    a = np.clip(1 - d_m / cut_m, 0, 1) if decay == "linear" else decay_weights(d_m / 1000.0, decay, beta, np.inf)
    return np.where(d_m <= cut_m, a, 0.0)


def test_huff_capture_by_hand():
    # a = 0.5 against competitors of utility 0.5: half of the attending half stays public
    assert huff_capture(np.array([0.5, 0.8, 0.0, 0.3]), np.array([0.5, 0.0, 2.0, 0.0])) == pytest.approx(
        [0.25, 0.8, 0.0, 0.3]
    )


@pytest.mark.parametrize("decay,beta", [("linear", 1.0), ("exponential", 0.2), ("power", 1.5)])
@pytest.mark.parametrize("seed", range(4))
def test_attendance_with_competitors_matches_brute_force(seed, decay, beta):
    rng = np.random.default_rng(seed)
    dxy = rng.random((10, 2)) * [40_000, 20_000] + [X0, Y0]
    sxy = rng.random((5, 2)) * [40_000, 20_000] + [X0, Y0]
    exy = rng.random(2) * [40_000, 20_000] + [X0, Y0]
    cxy = rng.random((3, 2)) * [40_000, 20_000] + [X0, Y0]
    attract = rng.uniform(0.5, 3.0, 3)
    pop = rng.integers(0, 1000, 10).astype(float)
    region = make_region(dxy, pop, sxy, existing=[("clinic", exy[0], exy[1])])
    clinic = facility_type("clinic", cost=10, km=10)
    objective = ObjectiveConfig.model_validate({"kind": "attendance", "attendance": {"decay": decay, "beta": beta}})
    sc = Scenario(
        name="t",
        region=region,
        catalogue=catalogue(clinic),
        budget=BudgetConfig(total=20),
        objective=objective,
        competitors=competitor_layer(cxy, attract),
    )
    result = PlanningModel(sc).solve()
    cut = np.full(10, 10_000.0)
    rival = (_share(cdist(dxy, cxy), cut[:, None], decay, beta) * attract).sum(axis=1)

    def kept(d: np.ndarray) -> np.ndarray:
        a = _share(d, cut, decay, beta)
        with np.errstate(invalid="ignore"):
            return np.where(a > 0, a * a / (a + rival), 0.0)

    d_site, d_exist = cdist(dxy, sxy), cdist(dxy, exy[None, :])[:, 0]

    def attendance(plan) -> float:
        best = kept(d_exist)
        for j in plan:
            best = np.maximum(best, kept(d_site[:, j]))
        return float(pop @ best)

    plans = [plan for k in range(3) for plan in itertools.combinations(range(5), k)]
    best = max(attendance(plan) for plan in plans)
    chosen = [int(s[1:]) for s in result.chosen_sites["site_id"]]
    assert result.status == "optimal"
    assert attendance(chosen) == pytest.approx(best, rel=1e-6, abs=1e-4)
    assert result.objective == pytest.approx(best, abs=3e-3)
    # the competitors take people: the best plan attends fewer than without them
    d_all = np.column_stack([d_exist[:, None], d_site])
    without = max(float(pop @ _share(d_all[:, [0, *[j + 1 for j in p]]].min(axis=1), cut, decay, beta)) for p in plans)
    assert best < without - 1.0


def test_demand_a_competitor_serves_counts_as_covered():
    # Three villages on a line: d0 at 0 km, d1 at 10 km, d2 at 20 km; sites next to each; budget for one.
    dxy = np.array([[X0, Y0], [X0 + 10_000, Y0], [X0 + 20_000, Y0]])
    pop = np.array([100.0, 300.0, 200.0])
    sxy = dxy + [100.0, 0.0]
    region = make_region(dxy, pop, sxy)
    clinic = facility_type("clinic", cost=10, km=4)

    def plan(competitors):
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(clinic),
            budget=BudgetConfig(total=10),
            competitors=competitors,
        )
        return sc, PlanningModel(sc).solve()

    _, alone = plan(None)
    assert list(alone.chosen_sites["site_id"]) == ["s1"]  # the largest village
    # A private clinic 1 km from d1 serves its 300 people: the public clinic goes to d2 (200 people).
    _, rival = plan(competitor_layer(np.array([[X0 + 10_000, Y0 + 1000]]), [1.0]))
    assert list(rival.chosen_sites["site_id"]) == ["s2"]
    assert rival.objective == pytest.approx(500.0, abs=1e-2)  # 300 served by the competitor + 200
    assert rival.summary()["competitors"] == {"clinic": {"competitors": 1, "population_in_reach": 300.0}}


def test_competitor_errors_name_file_row_and_field(tmp_path):
    region = make_region([[X0, Y0]], [10.0], [[X0, Y0]])
    clinic = facility_type("clinic", cost=10, km=4)
    path = tmp_path / "competitors.csv"

    def scenario(text: str) -> Scenario:
        path.write_text(text, encoding="utf-8")
        return Scenario(
            name="t",
            region=region,
            catalogue=catalogue(clinic),
            budget=BudgetConfig(total=10),
            competitors=read_competitors(path),
        )

    head = "facility_id,facility_type,attractiveness,lon,lat\n"
    with pytest.raises(InputError) as err:
        scenario(head + "c1,clinic,1,121.0,29.8\nc2,spa,2,121.0,29.8\n")
    assert str(err.value) == (
        f"{path}, row 2, field 'facility_type': competitor 'c2' has facility_type 'spa', which the catalogue "
        "does not have Hint: use one of the catalogue's types (clinic), or remove the row"
    )
    with pytest.raises(InputError) as err:
        scenario(head + "c1,clinic,,121.0,29.8\nc2,clinic,-1,121.0,29.8\n")
    assert str(err.value) == (
        f"{path}, row 2, field 'attractiveness': attractiveness must be a positive number, got -1.0 "
        "Hint: e.g. 1 for an ordinary facility, 2 for one twice as attractive; leave the cell empty for 1"
    )
    ok = scenario(head + "c1,clinic,,121.0,29.8\nc2,clinic,2.5,121.0,29.8\n")
    assert ok.competitors["attractiveness"].tolist() == [1.0, 2.5]


def test_competitors_from_a_scenario_file(tmp_path):
    """``region.competitors`` in a scenario file: read relative to it, used by the plan, hashed as an input."""
    import yaml

    from optimizer.results.write import input_files
    from optimizer.scenario import load_scenario

    dxy = np.array([[X0, Y0], [X0 + 10_000, Y0], [X0 + 20_000, Y0]])
    region = make_region(dxy, [100.0, 300.0, 200.0], dxy + [100.0, 0.0])
    gpkg = tmp_path / "region.gpkg"
    for layer in ("admin_units", "demand", "facilities", "candidates"):
        getattr(region, layer).reset_index().to_file(gpkg, layer=layer)
    lon, lat = competitor_layer(np.array([[X0 + 10_000, Y0 + 1000]]), [1.0]).geometry.iloc[0].coords[0]
    (tmp_path / "private.csv").write_text(f"facility_id,facility_type,lon,lat\np1,clinic,{lon},{lat}\n")
    (tmp_path / "catalogue.yaml").write_text(
        yaml.safe_dump({"facility_types": {"clinic": {"family": "health", "cost": 10, "service": {"distance_km": 4}}}})
    )
    layers = {layer: {"path": "region.gpkg", "layer": layer} for layer in ("admin_units", "demand", "candidates")}
    scenario = {
        "name": "toy",
        "region": {"name": "Toy", "projected_crs": "EPSG:32651", **layers, "competitors": "private.csv"},
        "catalogue": "catalogue.yaml",
        "budget": {"total": 10},
    }
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(scenario))
    sc = load_scenario(tmp_path / "toy.yaml")
    assert sc.competitors["attractiveness"].tolist() == [1.0]
    assert input_files(sc)["region.competitors"] == (tmp_path / "private.csv").resolve()
    result = PlanningModel(sc).solve()
    assert list(result.chosen_sites["site_id"]) == ["s2"]  # d1's 300 people are the private clinic's
    assert result.summary()["competitors"]["clinic"]["population_in_reach"] == 300.0
