"""Terrain-aware impedance: the shipped ETOPO5 crop, hand-made relief grids, coverage by hand, the default."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from toy import UTM51, X0, Y0, catalogue, facility_type, make_region

from optimizer.config.schema import BudgetConfig, ImpedanceConfig, ServiceConfig
from optimizer.errors import InputError
from optimizer.impedance import StraightLine, TerrainImpedance, demand_points, impedance_for, read_relief, site_points
from optimizer.impedance.compare import nearest_minutes, terrain_reach_comparison
from optimizer.impedance.terrain import ReliefGrid, local_relief, terrain_factors
from optimizer.planning.model import PlanningModel
from optimizer.render.maps import map_data, nearest_travel
from optimizer.render.result_files import read_result
from optimizer.render.terrain_table import impedance_legend, terrain_reach_context
from optimizer.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
CROP = ROOT / "geodata" / "zhejiang" / "etopo5_zhejiang.npz"
GPKG = ROOT / "geodata" / "zhejiang" / "zhejiang.gpkg"


def box_of(grid: ReliefGrid, values: np.ndarray, lon0: float, lat0: float, lon1: float, lat1: float) -> np.ndarray:
    cols = (grid.lon >= lon0) & (grid.lon <= lon1)
    rows = (grid.lat >= lat0) & (grid.lat <= lat1)
    return values[np.ix_(rows, cols)]


# ----------------------------------------------------------------------------- the shipped crop
def test_shipped_crop_covers_zhejiang_with_plausible_relief():
    grid = read_relief(CROP)
    lon0, lat0, lon1, lat1 = gpd.read_file(GPKG, layer="admin_units").total_bounds
    assert grid.lon[0] <= lon0 and grid.lon[-1] >= lon1 and grid.lat[0] <= lat0 and grid.lat[-1] >= lat1
    step = np.diff(grid.lon)
    assert step == pytest.approx(np.full(len(step), 1 / 12), abs=1e-5)  # ETOPO5: 5 arc-minutes
    relief = local_relief(grid, 3)
    # 景宁/丽水 mountains (洞宫山, 凤阳山): above 1,000 m in ETOPO5 (the true summits reach ~1,900 m)
    jingning = box_of(grid, grid.elevation, 119.3, 27.7, 120.0, 28.3)
    assert jingning.max() > 1000
    assert np.median(box_of(grid, relief, 119.3, 27.7, 120.0, 28.3)) > 200
    # 嘉兴 plain: little relief (ETOPO5 reads its heights as 30-90 m in 100-ft steps; the relief stays small)
    jiaxing = box_of(grid, relief, 120.5, 30.55, 121.0, 30.95)
    assert np.median(jiaxing) < 50
    assert box_of(grid, grid.elevation, 120.5, 30.55, 121.0, 30.95).max() < 100


def test_every_default_demand_point_lies_in_the_crop_and_mountain_counties_read_as_rougher():
    sc = load_scenario(ROOT / "configs" / "zhejiang.yaml")
    assert sc.impedance.kind == "terrain"
    imp = impedance_for(sc, "library")
    assert isinstance(imp, TerrainImpedance) and imp.relief is not None
    mountain = sc.region.demand_in_group("mountain26")
    assert np.median(imp.relief[mountain]) > 1.5 * np.median(imp.relief[~mountain])
    assert imp.detour[mountain].mean() > imp.detour[~mountain].mean()
    assert imp.speed[mountain].mean() < imp.speed[~mountain].mean()
    assert "terrain-adjusted straight line" in imp.describe()


# ----------------------------------------------------------------------------- hand-made grids
def test_local_relief_and_factors_by_hand():
    elevation = np.array([[0, 0, 0, 0], [0, 10, 0, -50], [0, 0, 600, 0]], dtype=float)
    grid = ReliefGrid(np.arange(4.0), np.arange(3.0), elevation)
    relief = local_relief(grid, 3)
    # sea (-50) counts as 0 m; windows are cut at the edge
    assert relief.tolist() == [[10, 10, 10, 0], [10, 600, 600, 600], [10, 600, 600, 600]]
    assert local_relief(grid, 1).tolist() == np.zeros((3, 4)).tolist()
    row, col, inside = grid.cell_of(np.array([0.4, 1.5, 3.6, -0.4]), np.array([0.6, 0.0, 2.2, 2.6]))
    assert (row.tolist(), col.tolist(), inside.tolist()) == ([1, 0, 2, 2], [0, 1, 3, 0], [True, True, False, False])
    detour, speed = terrain_factors(np.array([0.0, 30.0, 265.0, 500.0, 900.0]))
    assert detour.tolist() == pytest.approx([1.0, 1.0, 1.125, 1.25, 1.25])
    assert speed.tolist() == pytest.approx([1.0, 1.0, 0.875, 0.75, 0.75])
    detour, speed = terrain_factors(
        np.array([100.0]), plain_relief_m=0, mountain_relief_m=200, mountain_detour=1.5, mountain_speed=0.5
    )
    assert (detour[0], speed[0]) == pytest.approx((1.25, 0.75))


TO_LONLAT = Transformer.from_crs(UTM51, 4326, always_xy=True)
PLAIN_D = (X0 + 5000, Y0 + 2000)
MOUNTAIN_D = (X0 + 35_000, Y0 + 2000)


def toy_relief(path: Path) -> Path:
    """Relief grid over the toy region: flat west of x = X0 + 20 km, a 0/1,000 m checkerboard east of it."""
    lon_mid, _ = TO_LONLAT.transform(X0 + 20_000, Y0)
    lon = np.arange(120.5, 121.6, 0.05)
    lat = np.arange(29.5, 30.2, 0.05)
    checker = (np.add.outer(np.arange(len(lat)), np.arange(len(lon))) % 2) * 1000.0
    elevation = np.where(lon[None, :] >= lon_mid, checker, 0.0)
    np.savez(path, lon=lon, lat=lat, elevation=elevation)
    return path


def toy_scenario(tmp_path: Path, **impedance) -> Scenario:
    """d0 on the plain, d1 in the mountains, each with a site 15 km north; a 30-minute standard at 40 km/h."""
    region = make_region(
        [PLAIN_D, MOUNTAIN_D],
        [100, 300],
        [(PLAIN_D[0], PLAIN_D[1] + 15_000), (MOUNTAIN_D[0], MOUNTAIN_D[1] + 15_000)],
    )
    ftype = facility_type("clinic", cost=10, km=1)
    service = ServiceConfig.model_validate({"minutes": 30, "speed_kmh": 40, "detour_factor": 1.0})
    ftype = type(ftype)(**{**ftype.__dict__, "urban": service.urban, "rural": service.rural})
    return Scenario(
        name="t",
        region=region,
        catalogue=catalogue(ftype),
        budget=BudgetConfig(total=20),
        impedance=ImpedanceConfig(kind="terrain", path=toy_relief(tmp_path / "relief.npz"), **impedance),
    )


def test_terrain_radii_and_coverage_by_hand(tmp_path: Path):
    sc = toy_scenario(tmp_path)
    imp = impedance_for(sc, "clinic")
    assert isinstance(imp, TerrainImpedance)
    assert imp.relief.tolist() == [0.0, 1000.0]
    assert imp.detour.tolist() == pytest.approx([1.0, 1.25]) and imp.speed.tolist() == pytest.approx([1.0, 0.75])
    ftype = sc.catalogue["clinic"]
    demand, sites = demand_points(sc), site_points(sc)
    # constant factor: 30 min × 40 km/h = 20 km for both; terrain: 20 km on the plain, 20 × 0.75 / 1.25 = 12 km
    assert imp.radii_m(ftype.urban, ftype.rural, np.zeros(2, bool), demand) == pytest.approx([20_000, 12_000])
    rows, cols, minutes, km = imp.reach(ftype.urban, ftype.rural, np.zeros(2, bool), demand, sites)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0)]
    assert km == pytest.approx([15.0], rel=1e-6)
    assert minutes == pytest.approx([15.0 / 40 * 60], rel=1e-6)  # 22.5 min on the plain
    constant = StraightLine().reach(ftype.urban, ftype.rural, np.zeros(2, bool), demand, sites)
    assert list(zip(constant[0].tolist(), constant[1].tolist(), strict=True)) == [(0, 0), (1, 1)]
    # a km standard only takes the detour: 16 km / 1.25 = 12.8 km in the mountains
    km_std = ServiceConfig.model_validate({"distance_km": 16}).rural
    assert imp.radii_m(km_std, km_std, np.zeros(2, bool), demand) == pytest.approx([16_000, 12_800])


def test_plan_with_terrain_reaches_the_mountain_point_less(tmp_path: Path):
    sc = toy_scenario(tmp_path)
    model = PlanningModel(sc).prepare()
    td = model.types["clinic"]
    assert list(zip(td.rows.tolist(), td.cols.tolist(), strict=True)) == [(0, 0)]
    result = PlanningModel(sc).solve()
    # only the plain site covers anyone: the mountain site (15 km) is beyond d1's 12 km
    assert result.after.served["clinic"].tolist() == [100, 0]
    # the same plan with a milder calibration reaches the mountain point: 20 × 0.9 / 1.1 = 16.4 km ≥ 15 km
    milder = toy_scenario(tmp_path, mountain_detour=1.1, mountain_speed=0.9)
    assert PlanningModel(milder).solve().after.served["clinic"].tolist() == [100, 300]


def test_terrain_reach_comparison_by_hand(tmp_path: Path):
    sc = toy_scenario(tmp_path)
    sc.region.admin_units["mountain26"] = sc.region.admin_units.index == "B"  # d1 lies in county B
    chosen = pd.DataFrame({"site_id": ["s0", "s1"], "facility_type": ["clinic", "clinic"]})
    table = terrain_reach_comparison(sc, chosen)
    assert table is not None and table["types"] == ["clinic"]
    rows = {r["area"]: r for r in table["rows"]}
    # no facility before; after: both sites. Constant factor reaches both points, terrain only d0.
    assert rows["mountain26"] == pytest.approx(
        {
            "area": "mountain26",
            "population": 300.0,
            "before_constant": 0.0,
            "before_terrain": 0.0,
            "after_constant": 300.0,
            "after_terrain": 0.0,
            "mean_detour": 1.25,
            "mean_speed": 0.75,
        }
    )
    assert rows["rest"]["after_constant"] == rows["rest"]["after_terrain"] == 100.0
    assert rows["all"]["after_terrain"] == 100.0 and rows["all"]["population"] == 400.0
    straight = Scenario(name="t", region=sc.region, catalogue=sc.catalogue, budget=sc.budget)
    assert terrain_reach_comparison(straight, chosen) is None


def test_relief_grid_errors(tmp_path: Path):
    path = tmp_path / "bad.npz"
    np.savez(path, lon=np.arange(3.0), lat=np.arange(2.0), elevation=np.zeros((3, 2)))
    with pytest.raises(InputError, match=r"relief grid elevation has shape \(3, 2\), expected"):
        read_relief(path)
    np.savez(path, lon=np.array([2.0, 1.0]), lat=np.arange(2.0), elevation=np.zeros((2, 2)))
    with pytest.raises(InputError, match="relief grid needs ascending lon and lat"):
        read_relief(path)
    path.write_text("not an npz")
    with pytest.raises(InputError, match="cannot read this file as an .npz relief grid"):
        read_relief(path)


def test_report_rows_and_map_legend_from_solution():
    solution = {
        "impedance": {
            "a": {"kind": "terrain", "path": "/x/etopo5_zhejiang.npz"},
            "b": {"kind": "od_matrix", "path": "/x/od.csv"},
        },
        "terrain_reach": {
            "types": ["a"],
            "rows": [
                {
                    "area": "mountain26",
                    "population": 200.0,
                    "before_constant": 100.0,
                    "before_terrain": 50.0,
                    "after_constant": 150.0,
                    "after_terrain": 120.0,
                    "mean_detour": 1.2,
                    "mean_speed": 0.8,
                }
            ],
        },
    }
    table = terrain_reach_context(solution)
    assert table is not None
    row = table["rows"][0]
    assert (row["area_en"], row["area_zh"], row["population"]) == ("26 mountain counties", "山区26县", "200")
    assert (row["before_constant"], row["before_terrain"], row["change_before"]) == ("50.0%", "25.0%", "-25.0 pp")
    assert (row["after_constant"], row["after_terrain"], row["change_after"]) == ("75.0%", "60.0%", "-15.0 pp")
    assert (row["mean_detour"], row["mean_speed"]) == ("×1.200", "×0.800")
    assert terrain_reach_context({}) is None
    assert impedance_legend(solution) == (
        "Travel: OD matrix (od.csv); Travel: straight line adjusted for terrain (ETOPO5 local relief; an assumption)"
    )
    assert impedance_legend(solution, "zh").startswith("出行：OD 矩阵 (od.csv)")
    assert impedance_legend({}) is None


def test_nearest_minutes_by_hand_and_the_maps_tooltip_data(tmp_path: Path):
    sc = toy_scenario(tmp_path)
    # km in, as the terrain impedance gives them: terrain-adjusted (straight km × the point's detour).
    # plain: 15 km × 1.0 / 40 km/h = 22.5 min; mountain: 15 km straight = 18.75 adjusted km,
    # 18.75 / (40 × 0.75) × 60 = 37.5 min; none in reach: NaN
    got = nearest_minutes(sc, "clinic", np.array([15.0, np.inf]))
    assert got[0] == pytest.approx(22.5) and np.isnan(got[1])
    assert nearest_minutes(sc, "clinic", np.array([15.0, 18.75])) == pytest.approx([22.5, 37.5])
    # and the impedance's own nearest km is that adjusted km
    imp = impedance_for(sc, "clinic")
    assert imp.nearest_km(demand_points(sc), site_points(sc).subset(np.array([0, 1]))) == pytest.approx([15.0, 18.75])
    demand = pd.DataFrame(
        {
            "near_km_before__clinic": [15.0, np.nan],
            "near_km_after__clinic": [15.0, 15.0],
            "near_min_before__clinic": [22.5, np.nan],
            "near_min_after__clinic": [22.5, 37.5],
            "near_km_before__school": [3.0, 4.0],
            "near_km_after__school": [3.0, 2.0],
            "near_min_before__school": [np.nan, np.nan],  # a km standard: no minutes
            "near_min_after__school": [np.nan, np.nan],
        }
    )
    near = nearest_travel(demand, ["clinic", "school", "library"])
    assert near == {
        "clinic": {"unit": "min", "before": [22.5, None], "after": [22.5, 37.5]},
        "school": {"unit": "km", "before": [3.0, 4.0], "after": [3.0, 2.0]},
    }


def test_written_result_carries_nearest_times_and_the_terrain_table(tmp_path: Path):
    sc = toy_scenario(tmp_path)
    result = PlanningModel(sc).solve()
    out = result.write(tmp_path / "out", maps=True, report=True)
    res = read_result(out)
    data = map_data(res)
    near = data["demand"]["near"]["clinic"]
    chosen = set(result.chosen_sites["site_id"])
    assert "s0" in chosen
    assert near["unit"] == "min" and near["before"] == [None, None]  # no clinic before the plan
    # after: d0 is 15 km from s0 (22.5 min on the plain); d1 15 km from s1 if built (37.5 min), else 33.5 km from s0
    if "s1" in chosen:
        assert near["after"] == [22.5, 37.5]
    else:
        assert near["after"][0] == 22.5 and near["after"][1] == pytest.approx(
            np.hypot(30.0, 15.0) * 1.25 / (40 * 0.75) * 60, abs=0.05
        )
    assert data["impedance_note"].startswith("Travel: straight line adjusted for terrain")
    page = (out / "index.html").read_text()
    assert 'id="table-terrain-reach"' in page
