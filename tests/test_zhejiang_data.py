"""The shipped Zhejiang region data (geodata/zhejiang/zhejiang.gpkg).

These tests read only the shipped files: the published census totals, the
hierarchy, the population placement rules and the topology of the simplified
boundaries must all hold in what users get.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

DATA = Path(__file__).resolve().parents[1] / "geodata" / "zhejiang"
GPKG = DATA / "zhejiang.gpkg"
LAYERS = ("admin_units", "demand", "candidates", "facilities")
COUNTY_LEVELS = ("district", "county", "county_city")
AGE_GROUPS = {  # column -> share column it is apportioned from
    "pop_0_14": "share_0_14",
    "pop_school_age": "share_5_14",
    "pop_elderly": "share_60plus",
    "pop_65plus": "share_65plus",
}
CITY_TOTALS = {
    "杭州市": 11_936_010, "宁波市": 9_404_283, "温州市": 9_572_903, "嘉兴市": 5_400_868,
    "湖州市": 3_367_579, "绍兴市": 5_270_977, "金华市": 7_050_683, "衢州市": 2_276_184,
    "舟山市": 1_157_817, "台州市": 6_622_888, "丽水市": 2_507_396,
}  # fmt: skip
MOUNTAIN26 = {
    "淳安县",
    "永嘉县",
    "平阳县",
    "苍南县",
    "文成县",
    "泰顺县",
    "武义县",
    "磐安县",
    "柯城区",
    "衢江区",
    "江山市",
    "常山县",
    "开化县",
    "龙游县",
    "三门县",
    "天台县",
    "仙居县",
    "莲都区",
    "龙泉市",
    "青田县",
    "云和县",
    "庆元县",
    "缙云县",
    "遂昌县",
    "松阳县",
    "景宁畲族自治县",
}
FACILITY_TYPES = {
    "library", "cultural_centre", "museum", "heritage_hall", "art_gallery", "theatre", "concert_hall",
    "cultural_station", "county_hospital", "township_health_centre", "primary_school", "middle_school",
    "high_school", "elder_care_centre",
}  # fmt: skip
ALBERS = Transformer.from_crs(
    "EPSG:4326", "+proj=aea +lat_0=29 +lon_0=120 +lat_1=27 +lat_2=31 +datum=WGS84 +units=m", always_xy=True
)


def share_total(population: int, share: float) -> int:
    """round(population × share) half-up, exactly, for a 4-dp share (the build's rule)."""
    return (int(population) * int(round(share * 10_000)) + 5_000) // 10_000


def projected_xy(geoms) -> np.ndarray:
    xy = shapely.get_coordinates(np.asarray(geoms))
    return np.column_stack(ALBERS.transform(xy[:, 0], xy[:, 1]))


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(GPKG, layer=name) for name in LAYERS}


@pytest.fixture(scope="module")
def units(layers) -> gpd.GeoDataFrame:
    return layers["admin_units"]


@pytest.fixture(scope="module")
def counties(units) -> gpd.GeoDataFrame:
    return units[units["level"].isin(COUNTY_LEVELS)].set_index("unit_id")


@pytest.fixture(scope="module")
def cities(units) -> gpd.GeoDataFrame:
    return units[units["level"] == "city"].set_index("unit_id")


@pytest.fixture(scope="module")
def demand(layers) -> gpd.GeoDataFrame:
    return layers["demand"]


# ----------------------------------------------------------------------------- files
def test_file_has_the_four_layers_in_wgs84(layers):
    assert sorted(pyogrio.list_layers(GPKG)[:, 0]) == sorted(LAYERS)
    for name, gdf in layers.items():
        assert gdf.crs.to_epsg() == 4326, name


def test_shipped_folder_stays_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 10 * 2**20, f"geodata/zhejiang is {total / 2**20:.1f} MiB"


def test_ids_are_unique(layers):
    for name, key in zip(LAYERS, ("unit_id", "demand_id", "site_id", "facility_id"), strict=False):
        assert layers[name][key].is_unique, name
        assert layers[name][key].notna().all(), name


# ----------------------------------------------------------------------------- admin units
def test_admin_hierarchy_counts(units, counties, cities):
    assert len(cities) == 11 and cities["parent_id"].isna().all()
    assert counties["level"].value_counts().to_dict() == {"district": 37, "county": 33, "county_city": 20}
    assert set(counties["parent_id"]) == set(cities.index)
    towns = units[units["level"] == "township"]
    assert len(towns) == 1369
    assert int(towns["has_seat"].sum()) == 769
    assert towns["township_kind"].value_counts().to_dict() == {"镇": 621, "街道": 482, "乡": 264, "other": 2}
    assert set(towns["parent_id"]) <= set(counties.index)
    assert towns["population"].isna().all()
    assert (towns.geometry.isna() | towns.geometry.is_empty).all()
    assert len(units) == 11 + 90 + 1369


def test_census_totals_from_county_rows(counties, cities):
    assert int(counties["population"].sum()) == 64_567_588
    by_city = counties.groupby("parent_id")["population"].sum()
    assert {cities.at[c, "name"]: int(v) for c, v in by_city.items()} == CITY_TOTALS
    assert {n: int(p) for n, p in zip(cities["name"], cities["population"], strict=False)} == CITY_TOTALS


def test_spot_county_populations(counties):
    named = counties.set_index("name")["population"].astype(int)
    assert named["义乌市"] == 1_859_390
    assert named["龙湾区"] == 475_693 + 249_343  # Wenzhou ETDZ merged into Longwan
    assert named["镇海区"] == 531_830 and named["鄞州区"] == 1_588_187  # tabulation, not the bulletin
    assert named["上城区"] + named["钱塘区"] + named["萧山区"] == 4_104_316  # Hangzhou group A
    assert named["余杭区"] + named["临平区"] == 2_402_514  # group C


def test_mountain26(counties, units):
    m26 = counties[counties["mountain26"]]
    assert set(m26["name"]) == MOUNTAIN26 and len(m26) == 26
    assert int(m26["population"].sum()) == 10_169_060
    assert not units.loc[~units["level"].isin(COUNTY_LEVELS), "mountain26"].any()


def test_every_county_has_every_share(counties):
    shares = ["urbanisation_rate", "share_0_14", "share_5_14", "share_15_64", "share_60plus", "share_65plus",
              "sex_ratio", "avg_household_size"]  # fmt: skip
    assert counties[shares].notna().all().all()
    assert (
        (counties["share_5_14"] < counties["share_0_14"]) & (counties["share_65plus"] < counties["share_60plus"])
    ).all()
    assert counties["urbanisation_rate"].between(0.4, 1.0).all()


def test_hangzhou_2021_units_are_imputed_from_their_source_units(counties):
    imputed = counties[counties["shares_source"].str.startswith("imputed")]
    assert set(imputed.index) == {"330102", "330109", "330110", "330113", "330114"}
    # 钱塘 = 下沙+白杨 (521,977 from old 江干, share_0_14 .1291) + 5 streets (247,173 from old 萧山, .1243)
    qiantang = (521_977 * 0.1291 + 247_173 * 0.1243) / 769_150
    assert counties.at["330114", "share_0_14"] == pytest.approx(round(qiantang, 4), abs=1e-12)
    # 上城 = old 上城 (357,657, .1208) + old 江干 minus the moved block (965,810, .1291)
    shangcheng = (357_657 * 0.1208 + 965_810 * 0.1291) / 1_323_467
    assert counties.at["330102", "share_0_14"] == pytest.approx(round(shangcheng, 4), abs=1e-12)
    # 余杭 and 临平 both carry old 余杭's shares; 萧山 old 萧山's
    assert counties.at["330110", "share_65plus"] == counties.at["330113", "share_65plus"] == 0.0838
    assert counties.at["330109", "share_65plus"] == 0.1151
    assert (
        counties.drop(imputed.index)["shares_source"].isin(["county_tabulation", "county_tabulation_sum_exact"])
    ).all()


def test_areas_are_computed_and_close_to_source_polygons(counties, cities):
    # the unsimplified polygons measure 107,251.9 km² in total (data README); simplification moves < 0.1 %
    assert counties["area_km2"].sum() == pytest.approx(107_251.9, rel=1e-3)
    assert counties.at["330127", "area_km2"] == pytest.approx(4420.5, rel=5e-3)  # 淳安
    assert counties["area_source"].str.startswith("computed").all()
    by_city = counties.groupby("parent_id")["area_km2"].sum()
    np.testing.assert_allclose(cities.loc[by_city.index, "area_km2"], by_city, rtol=1e-4)


# ----------------------------------------------------------------------------- topology
def test_county_coverage_is_valid(counties):
    geoms = counties.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    assert (counties.geom_type == "MultiPolygon").all()
    # islands are kept: Zhoushan's counties are archipelagos
    parts = counties.geometry.map(lambda g: len(g.geoms))
    assert parts["330921"] > 20 and parts["330903"] > 20


def test_neighbours_share_edges_without_overlaps_or_gaps(counties):
    geoms = counties.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    overlap = shapely.intersection(geoms[left], geoms[right])
    assert shapely.area(overlap).max() < 1e-12  # no overlaps (deg²; ≈ 0.01 m²)
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right])))
    # every neighbouring pair shares an edge, except pairs meeting at a single corner
    corner_only = shapely.get_dimensions(overlap) == 0
    assert (shared[~corner_only] > 0).all()
    assert (~corner_only).sum() > 200  # ~90 units: a real adjacency graph, not a handful of pairs
    union = shapely.union_all(geoms)
    assert shapely.area(union) == pytest.approx(shapely.area(geoms).sum(), rel=1e-9)  # no overlaps
    holes = sum(len(p.interiors) for p in union.geoms)
    assert holes == 0  # no gaps between counties


def test_city_polygons_are_the_union_of_their_counties(counties, cities):
    for city, row in cities.iterrows():
        members = shapely.union_all(counties.loc[counties["parent_id"] == city].geometry.to_numpy())
        assert shapely.area(shapely.symmetric_difference(row.geometry, members)) < 1e-12, city


# ----------------------------------------------------------------------------- demand
def test_demand_totals_reproduce_the_census(demand, counties, cities):
    assert int(demand["population"].sum()) == 64_567_588
    city_of = demand["county_id"].map(counties["parent_id"]).map(cities["name"])
    assert demand.groupby(city_of)["population"].sum().astype(int).to_dict() == CITY_TOTALS
    per_county = demand.groupby("county_id")["population"].sum()
    assert (per_county.reindex(counties.index) == counties["population"].astype(int)).all()


def test_age_groups_sum_to_the_apportioned_county_totals(demand, counties):
    sums = demand.groupby("county_id")[list(AGE_GROUPS)].sum()
    for column, share in AGE_GROUPS.items():
        expected = [share_total(p, s) for p, s in zip(counties["population"], counties[share], strict=False)]
        assert sums.loc[counties.index, column].tolist() == expected, column
        assert (counties[column].astype(int) == expected).all(), column  # also stored on the county row
    assert int(demand["pop_elderly"].sum()) == int(counties["pop_elderly"].sum())
    # nested groups never exceed their parent at any point
    assert (demand["pop_school_age"] <= demand["pop_0_14"]).all()
    assert (demand["pop_65plus"] <= demand["pop_elderly"]).all()
    assert (demand["pop_0_14"] + demand["pop_elderly"] <= demand["population"]).all()


def test_demand_resolution_and_kinds(demand):
    assert 10_000 <= len(demand) <= 20_000
    kinds = demand["kind"].value_counts()
    assert set(kinds.index) == {"county_seat", "township_seat", "grid"}
    assert kinds["county_seat"] == 90
    assert (demand["population"] > 0).all()
    assert (demand["urban"] == demand["kind"].isin(["county_seat", "township_seat"])).all()
    for column in ("population", *AGE_GROUPS):
        assert demand[column].dtype == np.int64


def test_demand_units_are_the_finest_known(demand, units):
    parent = units.set_index("unit_id")["parent_id"]
    grid = demand[demand["kind"] == "grid"]
    assert (grid["unit_id"] == grid["county_id"]).all()
    towns = demand[demand["kind"] == "township_seat"]
    assert towns["unit_id"].str.len().eq(9).all()
    assert (towns["unit_id"].map(parent) == towns["county_id"]).all()
    seats = demand[demand["kind"] == "county_seat"]
    assert ((seats["unit_id"] == seats["county_id"]) | (seats["unit_id"].map(parent) == seats["county_id"])).all()


def test_every_demand_point_lies_in_its_county(demand, counties):
    polys = counties.geometry.loc[demand["county_id"]].to_numpy()
    assert shapely.covers(polys, demand.geometry.to_numpy()).all()


def test_remote_areas_still_have_people(demand, counties):
    # the kernel floor keeps mountain grid cells populated: every county with grid points has
    # people more than 10 km from any seat, and Chun'an (淳安) holds most of its residents on the grid
    grid = demand[demand["kind"] == "grid"]
    assert grid.groupby("county_id").size().min() >= 15
    chunan = demand[demand["county_id"] == "330127"]
    assert chunan.loc[chunan["kind"] == "grid", "population"].sum() / chunan["population"].sum() > 0.5


# ----------------------------------------------------------------------------- candidates
def test_candidates_cover_all_seats(layers, demand, units):
    cand = layers["candidates"]
    kinds = cand["kind"].value_counts().to_dict()
    assert kinds["city_seat"] == 11 and kinds["city_seat"] + kinds["county_seat"] == 90
    towns_with_seat = set(units.loc[(units["level"] == "township") & units["has_seat"], "unit_id"])
    seat_units = set(cand.loc[cand["kind"] != "grid", "unit_id"])
    assert towns_with_seat <= seat_units  # every known township seat is a site (some as a county seat)
    assert 1_000 <= kinds["grid"] <= 2_500
    named = cand.set_index("site_id")["name"]
    assert named["cs-330127"] == "淳安县城" and named["cs-330102"] == "杭州市政府驻地"


def test_grid_candidates_are_populated_and_far_from_seats(layers, demand):
    cand = layers["candidates"]
    seats = cand[cand["kind"] != "grid"]
    grid = cand[cand["kind"] == "grid"]
    dist, _ = cKDTree(projected_xy(seats.geometry)).query(projected_xy(grid.geometry))
    assert dist.min() >= 5_000
    pop = demand.set_index("demand_id")["population"]
    assert (pop.loc[grid["site_id"]] >= 2_000).all()
    assert (grid["name"] == "grid " + grid["site_id"]).all()


def test_every_candidate_lies_in_its_county(layers, counties):
    cand = layers["candidates"]
    polys = counties.geometry.loc[cand["county_id"]].to_numpy()
    assert shapely.covers(polys, cand.geometry.to_numpy()).all()


# ----------------------------------------------------------------------------- facilities
def test_facilities_are_assumed_and_typed(layers):
    fac = layers["facilities"]
    assert (fac["source"] == "assumed").all()
    assert set(fac["facility_type"]) == FACILITY_TYPES
    assert fac["rule"].notna().all() and fac["name"].str.endswith("(assumed)").all()
    assert fac["capacity"].isna().all()
    expected = {
        "library": 101, "cultural_centre": 101, "museum": 11, "theatre": 11, "concert_hall": 3,
        "art_gallery": 3, "heritage_hall": 3, "county_hospital": 90, "high_school": 90,
        "township_health_centre": 769, "cultural_station": 769, "primary_school": 769,
        "middle_school": 642, "elder_care_centre": 198,
    }  # fmt: skip
    assert fac["facility_type"].value_counts().to_dict() == expected


def test_facilities_sit_on_seats_inside_their_county(layers, counties):
    fac = layers["facilities"]
    polys = counties.geometry.loc[fac["county_id"]].to_numpy()
    assert shapely.covers(polys, fac.geometry.to_numpy()).all()
    sites = layers["candidates"]
    seat_xy = {tuple(xy) for xy in shapely.get_coordinates(sites.loc[sites["kind"] != "grid"].geometry)}
    assert all(tuple(xy) in seat_xy for xy in shapely.get_coordinates(fac.geometry))
    big = fac[fac["facility_type"] == "concert_hall"]
    assert set(big["facility_id"]) == {"concert_hall-330100", "concert_hall-330200", "concert_hall-330300"}


def test_baseline_leaves_mountain_gaps(layers, demand, counties):
    # distance to the nearest assumed county hospital: residents of the 26 mountain counties are
    # farther away on average, and some people somewhere are more than 30 km away
    fac = layers["facilities"]
    hospitals = fac[fac["facility_type"] == "county_hospital"]
    dist, _ = cKDTree(projected_xy(hospitals.geometry)).query(projected_xy(demand.geometry))
    mountain = demand["county_id"].map(counties["mountain26"]).to_numpy(dtype=bool)
    w = demand["population"].to_numpy()
    mean_m = np.average(dist[mountain], weights=w[mountain])
    mean_rest = np.average(dist[~mountain], weights=w[~mountain])
    assert mean_m > 1.3 * mean_rest
    assert dist.max() > 30_000
