"""Coverage-gap maps from a small solved toy plan: data, offline assets, escaping, basemaps.

``build_toy_result`` is shared with test_report.py and test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from toy import X0, Y0, catalogue, facility_type, make_region

from optimizer.config.schema import (
    BudgetConfig,
    OutputConfig,
    StandardLevel,
    StandardsConfig,
)
from optimizer.errors import ConfigError
from optimizer.planning.model import PlanningModel
from optimizer.render.maps import (
    COORD_SCALE,
    basemap_layers,
    encode_ring,
    json_for_script,
    type_letters,
)
from optimizer.render.report import render
from optimizer.render.result_files import read_result
from optimizer.scenario import Scenario

EVIL = "<img src=x onerror=alert(1)>"
EVIL_UNIT = "B县 " + EVIL
EVIL_FACILITY = "clinic " + EVIL
EVIL_SITE = "</script><!--" + EVIL
EVIL_TITLE = "Toy " + EVIL

MAP_FILES = ("map_compare.html", "map_toggle.html", "map_data.js")


def build_toy_result(out: Path, *, language: str = "en", maps: bool | None = None, report: bool | None = None) -> Path:
    """Solve a toy plan (2 counties + 1 city, 4 types in 3 families, hostile names) and write it.

    County B is a "mountain" county named with an HTML payload; one existing
    clinic and one candidate site carry payloads too, and the plan builds
    two facilities at that site.
    """
    rng = np.random.default_rng(3)
    demand = rng.random((60, 2)) * [40_000, 20_000] + [X0, Y0]
    sites = rng.random((12, 2)) * [40_000, 20_000] + [X0, Y0]
    region = make_region(
        demand,
        rng.integers(50, 1000, 60),
        sites,
        existing=[
            ("clinic", X0 + 5000, Y0 + 5000),
            ("library", X0 + 5000, Y0 + 5000),
            ("school", X0 + 30000, Y0 + 15000),
        ],
        urban=rng.random(60) < 0.3,
    )
    region.admin_units.loc["B", "name"] = EVIL_UNIT
    region.facilities.loc["f0", "name"] = EVIL_FACILITY
    region.candidates["name"] = [f"site{j}" for j in range(12)]
    region.candidates.loc["s3", "name"] = EVIL_SITE
    cat = catalogue(
        facility_type("clinic", cost=10, km=6),
        facility_type("hospital", cost=30, km=12, capacity=20000),
        facility_type("library", cost=20, km=8, family="culture"),
        facility_type("school", cost=15, km=5, serves="school_age", family="education"),
    )
    std = StandardsConfig(mode="soft", penalty=1000, levels={"county": StandardLevel(required=["library", "clinic"])})
    sc = Scenario(
        name="toy",
        region=region,
        catalogue=cat,
        budget=BudgetConfig(total=80),
        standards=std,
        title=EVIL_TITLE,
        description="desc " + EVIL,
        outputs=OutputConfig(language=language),
    )
    result = PlanningModel(sc).solve()
    return result.write(out, maps=maps, report=report)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return build_toy_result(tmp_path_factory.mktemp("toy") / "out")


def load_map_data(folder: Path) -> dict:
    text = (folder / "map_data.js").read_text(encoding="utf-8")
    prefix = "window.REGIONOPT_DATA = "
    start = text.index(prefix) + len(prefix)
    return json.loads(text[start:].rstrip().rstrip(";"))


def decode_ring(ring: list[int]) -> np.ndarray:
    d = np.asarray(ring, dtype=np.int64).reshape(-1, 2)
    return np.cumsum(d, axis=0) / COORD_SCALE


def decode_points(dx: list[int], dy: list[int]) -> np.ndarray:
    return np.column_stack([np.cumsum(dx), np.cumsum(dy)]) / COORD_SCALE


# ----------------------------------------------------------------------------- files
def test_write_renders_maps_beside_the_data(toy):
    for name in MAP_FILES + (
        "index.html",
        "static/leaflet/leaflet.js",
        "static/leaflet/leaflet.css",
        "static/leaflet/LICENSE",
        "static/leaflet.sync/L.Map.Sync.js",
        "static/leaflet.sync/LICENSE",
        "static/regionopt/regionopt-map.js",
        "static/regionopt/regionopt-map.css",
    ):
        assert (toy / name).is_file(), name
    manifest = json.loads((toy / "manifest.json").read_text())
    assert set(MAP_FILES) <= set(manifest["rendered"])
    assert {"map_compare.html", "map_toggle.html", "map_data.js", "index.html", "static"} <= set(manifest["outputs"])


def test_compare_page_is_a_synced_dual_map_and_toggle_page_a_single_map(toy):
    compare = (toy / "map_compare.html").read_text(encoding="utf-8")
    toggle = (toy / "map_toggle.html").read_text(encoding="utf-8")
    maps = re.findall(r"var (map_[0-9a-f]+) = L\.map\(", compare)
    assert len(maps) == 2
    assert f"{maps[0]}.sync({maps[1]}" in compare and f"{maps[1]}.sync({maps[0]}" in compare
    assert re.search(r'regionopt\.init\(map_[0-9a-f]+, \{[^}]*"role": "before"', compare)
    assert re.search(r'regionopt\.init\(map_[0-9a-f]+, \{[^}]*"role": "after"', compare)
    assert len(re.findall(r"= L\.map\(", toggle)) == 1
    assert re.search(r'regionopt\.init\(map_[0-9a-f]+, \{[^}]*"role": "toggle"', toggle)
    assert '"preferCanvas": true' in toggle


# ----------------------------------------------------------------------------- offline
ATTR_URL = re.compile(r"""<(script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?([^"' >]+)""", re.I)


def referenced_urls(html_text: str) -> list[str]:
    return [m.group(2) for m in ATTR_URL.finditer(html_text)]


@pytest.mark.parametrize("page", ["map_compare.html", "map_toggle.html", "index.html"])
def test_pages_load_nothing_from_the_network(toy, page):
    text = (toy / page).read_text(encoding="utf-8")
    urls = referenced_urls(text)
    assert urls, "expected local script/style references"
    for url in urls:
        path = url.split("#")[0]
        assert not re.match(r"^(https?:)?//", url), url
        assert (toy / path).is_file(), f"{page} references missing {url}"
    # folium's CDN defaults (jQuery, Bootstrap, awesome-markers, Font Awesome) must be gone.
    for cdn in ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "fontawesome", "unpkg"):
        assert cdn not in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text


def test_vendored_scripts_fetch_nothing(toy):
    for path in (toy / "static").rglob("*"):
        if path.suffix in (".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert "sourceMappingURL" not in text, path
            assert not re.search(r"""url\(\s*["']?https?:""", text), path
            # Links (<a href>, e.g. Leaflet's attribution) load nothing; sources and imports would.
            assert not re.search(r"""\bsrc\s*=\s*["']https?:""", text), path
            assert not re.search(r"""@import\s+["']?(url\()?["']?https?:""", text), path


# ----------------------------------------------------------------------------- map data
def test_unit_polygons_are_shared_once(toy):
    data = load_map_data(toy)
    units = data["units"]
    assert units["id"] == ["A", "B", "C"]
    assert units["main"] == [1, 1, 0]  # counties drawn as the choropleth, the city as the optional upper layer
    assert [len(g) for g in units["geom"]] == [1, 1, 1]  # one polygon each, stored once for every type
    assert units["name"][1] == EVIL_UNIT
    gpkg_units = gpd.read_file(toy / "result.gpkg", layer="admin_units").set_index("unit_id")
    for i, uid in enumerate(units["id"]):
        ring = decode_ring(units["geom"][i][0][0])
        expected = np.asarray(gpkg_units.at[uid, "geometry"].exterior.coords)[:-1]
        assert ring.shape == expected.shape
        np.testing.assert_allclose(ring, expected, atol=1.01 / COORD_SCALE)
    # Indicators for all types, each family and each type, one entry per unit.
    assert set(data["rates"]) == {
        "all",
        "family:health",
        "family:culture",
        "family:education",
        "clinic",
        "hospital",
        "library",
        "school",
    }
    assert all(len(v) == 3 for v in data["rates"].values())


def test_rates_are_population_weighted(toy):
    data = load_map_data(toy)
    cov = pd.read_csv(toy / "coverage_by_unit.csv", dtype={"unit_id": str})
    b = data["units"]["id"].index("B")
    row = cov[(cov.unit_id == "B") & (cov.facility_type == "clinic")].iloc[0]
    before, after, pop = data["rates"]["clinic"][b]
    assert before == pytest.approx(row.covered_before / row.population, abs=1e-4)
    assert after == pytest.approx(row.covered_after / row.population, abs=1e-4)
    assert pop == round(row.population)
    health = cov[(cov.unit_id == "B") & cov.facility_type.isin(["clinic", "hospital"])]
    fb, fa, fp = data["rates"]["family:health"][b]
    assert fa == pytest.approx(health.covered_after.sum() / health.population.sum(), abs=1e-4)
    assert fp == round(health.population.sum())
    # "all types" counts school-age people for the school, everybody for the others.
    everyone = cov[cov.unit_id == "B"]
    assert data["rates"]["all"][b][2] == round(everyone.population.sum())


def test_standards_status_per_unit(toy):
    data = load_map_data(toy)
    std = pd.read_csv(toy / "standards.csv", dtype={"unit_id": str})
    ids = data["units"]["id"]
    for uid in ("A", "B"):
        sub = std[std.unit_id == uid]
        n = len(sub)
        met_b = int((sub.have_before >= sub.required).sum())
        met_a = int((sub.have_after >= sub.required).sum())
        assert data["std"]["all"][ids.index(uid)] == [n, met_b, met_a]
    assert data["std"]["all"][ids.index("C")] is None  # the city has no standard of its own
    assert data["std"]["school"][ids.index("A")] is None


def test_demand_codes_match_served_population(toy):
    data = load_map_data(toy)
    demand = gpd.read_file(toy / "result.gpkg", layer="demand")
    assert data["demand"]["n"] == len(demand)
    xy = decode_points(data["demand"]["x"], data["demand"]["y"])
    np.testing.assert_allclose(xy, np.column_stack([demand.geometry.x, demand.geometry.y]), atol=1e-5)
    for t in ("clinic", "hospital", "library", "school"):
        pop, before, after = (demand[f"{k}__{t}"].to_numpy() for k in ("pop", "before", "after"))
        codes_b, codes_a = data["demand"]["status"][t]
        assert codes_b.count("3") == int(((pop > 0) & (before >= 0.999 * pop)).sum())
        assert codes_a.count("1") == int(((pop > 0) & (after <= 0.001 * pop)).sum())
        assert codes_a.count("0") == int((pop <= 0).sum())


def test_demand_code_classes():
    from optimizer.render.maps import _demand_codes

    pop = np.array([0.0, 100, 100, 100, 100])
    served = np.array([0.0, 0, 0.05, 50, 100])
    assert _demand_codes(served, pop) == "01123"


def test_facilities_existing_and_new_with_popup_fields(toy):
    data = load_map_data(toy)
    fac = data["facilities"]
    sites = pd.read_csv(toy / "chosen_sites.csv")
    assert fac["new"].count(0) == 3 and fac["new"].count(1) == len(sites)
    assert fac["name"][0] == EVIL_FACILITY and fac["source"][0] == "assumed"
    new = [i for i, n in enumerate(fac["new"]) if n]
    assert sorted(fac["newly"][i] for i in new) == sorted(sites["newly_covered"].round(1))
    assert sorted(fac["cost"][i] for i in new) == sorted(sites["cost"])
    assert EVIL_SITE in [fac["name"][i] for i in new]
    # Two new facilities at site s3 share one location slot (they are fanned out on the map).
    s3 = [fac["loc"][i] for i in new if fac["site"][i] == "s3"]
    assert len(s3) == 2 and s3[0] == s3[1]
    assert data["assumed_baseline"] is True
    letters = [t["letter"] for t in data["types"]]
    assert len(set(letters)) == len(letters)


def test_group_outline_layer(toy):
    data = load_map_data(toy)
    assert [g["id"] for g in data["groups"]] == ["mountain"]
    assert data["groups"][0]["units"] == [data["units"]["id"].index("B")]


# ----------------------------------------------------------------------------- escaping
def test_map_data_cannot_break_out_of_a_script(toy):
    text = (toy / "map_data.js").read_text(encoding="utf-8")
    assert "<" not in text and ">" not in text
    assert "\\u003c/script\\u003e\\u003c!--\\u003cimg src=x onerror=alert(1)\\u003e" in text
    data = load_map_data(toy)
    assert data["title"] == EVIL_TITLE
    for page in ("map_compare.html", "map_toggle.html"):
        html = (toy / page).read_text(encoding="utf-8")
        assert "<img" not in html and "onerror" not in html


def test_json_for_script_escapes_and_round_trips():
    value = {"a": "</script><!--<b>&\u2028", "n": [1, 2.5, None]}
    text = json_for_script(value)
    assert "</" not in text and "<!--" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


# ----------------------------------------------------------------------------- basemaps
def test_no_basemap_by_default(toy):
    data = load_map_data(toy)
    assert data["basemap"] == "none" and data["datum"] == "wgs84"
    assert "L.tileLayer" not in (toy / "map_toggle.html").read_text(encoding="utf-8")


def test_osm_basemap_adds_only_the_tile_template(tmp_path):
    out = build_toy_result(tmp_path / "out", report=False)
    render(out, report=False, basemap="osm")
    html = (out / "map_toggle.html").read_text(encoding="utf-8")
    urls = set(re.findall(r"https?://[^\"'\s]+", html))
    assert urls == {"https://tile.openstreetmap.org/{z}/{x}/{y}.png"}
    assert all(not re.match(r"https?:", u) for u in referenced_urls(html))


def test_amap_shifts_every_layer_to_gcj02(tmp_path):
    from optimizer.datum import wgs84_to_gcj02

    out = build_toy_result(tmp_path / "out", report=False)
    plain = load_map_data(out)
    render(out, report=False, basemap="amap")
    shifted = load_map_data(out)
    assert shifted["datum"] == "gcj02"
    assert "autonavi.com" in (out / "map_compare.html").read_text(encoding="utf-8")
    # Polygon vertices.
    w = decode_ring(plain["units"]["geom"][0][0][0])
    g = decode_ring(shifted["units"]["geom"][0][0][0])
    expected = np.column_stack(wgs84_to_gcj02(w[:, 0], w[:, 1]))
    np.testing.assert_allclose(g, expected, atol=2e-5)
    assert np.abs(g - w).max() > 0.002  # a few hundred metres, not a rounding effect
    # Demand points and facilities.
    for layer in ("demand", "facilities"):
        w = decode_points(plain[layer]["x"], plain[layer]["y"])
        g = decode_points(shifted[layer]["x"], shifted[layer]["y"])
        np.testing.assert_allclose(g, np.column_stack(wgs84_to_gcj02(w[:, 0], w[:, 1])), atol=2e-5)
    assert shifted["bounds"] != plain["bounds"]


def test_tianditu_needs_a_key(monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(ConfigError, match="Tianditu basemap needs a user key"):
        basemap_layers("tianditu")
    layers, datum = basemap_layers("tianditu", tianditu_key="abcdef0123456789")
    assert datum == "wgs84" and all("tk=abcdef0123456789" in layer["url"] for layer in layers)
    monkeypatch.setenv("TIANDITU_KEY", "fromenv12345678")
    assert "tk=fromenv12345678" in basemap_layers("tianditu")[0][0]["url"]
    with pytest.raises(ConfigError):
        basemap_layers("tianditu", tianditu_key='bad key"><script>')
    with pytest.raises(ConfigError, match="unknown basemap"):
        basemap_layers("google")


# ----------------------------------------------------------------------------- helpers
def test_type_letters_are_distinct_and_mnemonic():
    letters = type_letters(
        [
            ("library", "Public library"),
            ("cultural_centre", "Cultural centre"),
            ("concert_hall", "Concert hall"),
            ("heritage_hall", "Intangible-heritage hall"),
            ("x", ""),
            ("y", ""),
        ]
    )
    assert letters["library"] == "L" and letters["cultural_centre"] == "C"
    assert letters["concert_hall"] == "H"  # C is taken; the hall keeps its own initial
    assert len(set(letters.values())) == 6


def test_encode_ring_round_trip_and_merges_duplicates():
    coords = np.array([[120.123456, 30.0], [120.123459, 30.000001], [120.2, 30.1], [120.0, 30.2]])
    ring = encode_ring(coords)
    decoded = decode_ring(ring)
    assert len(decoded) == 3  # the first two round to the same 1e-5 grid point
    np.testing.assert_allclose(decoded, coords[[0, 2, 3]], atol=1e-5)


def test_read_result_gives_units_indexed_by_id(toy):
    res = read_result(toy)
    assert list(res.units.index) == ["C", "A", "B"]
    assert res.group_columns == ["mountain"]
    assert set(res.gaps) == {"mountain"}
    assert not res.is_zhejiang
