"""Result GeoPackages carry QGIS styles in the ``layer_styles`` table (the QGIS convention)."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from test_maps import build_toy_result

from optimizer.explore import family_styles


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return build_toy_result(tmp_path_factory.mktemp("gis") / "out", maps=False, report=False)


def styles(path: Path) -> dict[str, tuple[str, str, int]]:
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleQML, useAsDefault FROM layer_styles"
        ).fetchall()
        geometry = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
    assert contents["layer_styles"] == "attributes"  # registered: the GeoPackage stays valid
    out = {}
    for table, geom, qml, default in rows:
        assert geometry[table] == geom  # the style names the layer's real geometry column
        out[table] = (geom, qml, default)
    return out


def test_chosen_sites_styled_by_family(toy: Path):
    sites = gpd.read_file(toy / "chosen_sites.gpkg", layer="chosen_sites")
    for gpkg in ("chosen_sites.gpkg", "result.gpkg"):
        _, qml, default = styles(toy / gpkg)["chosen_sites"]
        assert default == 1
        renderer = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
        assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "family"
        values = [c.get("value") for c in renderer.iter("category")]
        assert set(sites["family"]) <= set(values) == {"health", "culture", "education"}
        expected = family_styles(values)
        for cat in renderer.iter("category"):
            symbol = renderer.find(f"symbols/symbol[@name='{cat.get('symbol')}']")
            props = {o.get("name"): o.get("value") for o in symbol.iter("Option") if o.get("name")}
            colour = expected[cat.get("value")]["color"].lstrip("#")
            assert props["color"] == ",".join(str(int(colour[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"
            assert props["name"] == expected[cat.get("value")]["shape"]


def test_coverage_by_unit_layer_and_style(toy: Path):
    layers = dict(pyogrio.list_layers(toy / "result.gpkg"))
    assert layers["coverage_by_unit"] == "Polygon" or layers["coverage_by_unit"] == "MultiPolygon"
    cov = gpd.read_file(toy / "result.gpkg", layer="coverage_by_unit").set_index("unit_id")
    assert sorted(cov.index) == ["A", "B"]  # the counties (the city lies above them)
    by_unit = pd.read_csv(toy / "coverage_by_unit.csv", dtype={"unit_id": str})
    for uid in ("A", "B"):
        rows = by_unit[by_unit["unit_id"] == uid]
        assert cov.at[uid, "rate_after"] == pytest.approx(rows["covered_after"].sum() / rows["population"].sum())
        assert cov.at[uid, "out_of_reach_after"] == pytest.approx((rows["population"] - rows["covered_after"]).sum())
        health = (
            rows[rows["family"] == "health"]
            if "family" in rows
            else rows[rows["facility_type"].isin(["clinic", "hospital"])]
        )
        assert cov.at[uid, "rate_after_health"] == pytest.approx(
            health["covered_after"].sum() / health["population"].sum()
        )
    _, qml, default = styles(toy / "result.gpkg")["coverage_by_unit"]
    renderer = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "rate_after"
    bounds = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
    assert (
        bounds[0][0] == 0 and bounds[-1][1] == 1 and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    )
    # GDAL still reads every layer after the style table was added.
    assert gpd.read_file(toy / "result.gpkg", layer="demand").shape[0] == 60
