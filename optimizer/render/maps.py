"""Coverage-gap maps: before | after, side by side and with a toggle.

This module draws; :mod:`optimizer.report` reads the result folder and
assembles the page. Everything here works from a
:class:`~optimizer.report.ResultFiles` (the files of a result folder), never
from a live model, so ``regionopt map RESULT_DIR`` redraws a saved plan.

Two folium maps are written beside the data files:

``map_compare.html``
    Before and after side by side (folium :class:`~folium.plugins.DualMap`,
    synchronised with Leaflet.Sync: pan or zoom one and the other follows).
``map_toggle.html``
    One map with a before / after switch.

Each colours the units by one of five indicators, for all types, a family or
one type: coverage rate, standards status, people out of reach (exact counts
per unit; the demand dots then show only the points not or partly served),
change (after − before in rate points, diverging colours; the dots show
where the plan brought people within reach) and, for one type, accessibility
(the E2SFCA supply-to-demand ratio of ``accessibility_by_unit.csv`` per unit
and of ``accessibility_by_demand.csv`` per dot, per 1,000 people). The legend sits bottom left,
apart from the layer panel (top right), and is capped in height so it never
covers a control; city and county names can be shown on the offline map.

Both load the same ``map_data.js`` (geometry and indicators, written once)
and the vendored Leaflet, Leaflet.Sync and regionopt scripts copied to
``static/``: no CDN, no network, the folder works offline and can be zipped.

Design choices
--------------
*Shared geometry.* Unit polygons are stored once (delta-encoded integer
coordinates) with every indicator as a small array beside them; the map
restyles the same polygons when the reader picks another facility type,
family or indicator, instead of one GeoJSON copy per type.

*Family and "all types" rates* are population-weighted over the types:
``sum(covered) / sum(population)`` over the family's types, each type
counting the people of the group it serves. This is the share of
(person, service) pairs that are served; it equals the mean of the type
rates when all types serve the same group, and does not let a type serving
few people (e.g. schools) weigh like one serving everybody.

*Demand points* are drawn as circle markers on one Leaflet canvas renderer
(no DOM node per point). Measured on the Zhejiang default (16,672 points,
headless Chromium without GPU, ``benchmarks/report_bench.py``): canvas draws
the single map in 0.8 s against 1.3 s for SVG, pans at ~17 vs ~7 frames/s,
switches the facility type in ~0.13 vs ~0.3 s and needs 300 instead of
17,000 DOM nodes. Clustering was not used: it hides exactly the pattern a
gap map must show (where the uncovered people are), and a grid surface
would lose the per-point population. Dots are sized by population and
capped by the zoom (at most ~40% of the spacing between points), so the
choropleth stays readable at province scale. For a family or "all types",
a point is "covered" when every type reaches it, "partly" when some do.

All vector layers share that one canvas (drawn in order: areas, outlines,
demand, facilities): a second canvas on top would swallow the mouse events
of the first.

*Facilities* are canvas shapes — one shape and colour per family, one letter
per type — so no icon font or image is needed. Facilities at the same spot
(e.g. every county-seat venue) are fanned out in a small ring.

*Safety.* Names from the data reach the page only as JSON (with ``<``, ``>``
and ``&`` escaped, so ``</script>`` and ``<!--`` cannot end a script) and are
inserted by the map script with ``textContent``, never as HTML.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import folium
import numpy as np
import pandas as pd
from folium.elements import JSCSSMixin
from folium.plugins import DualMap
from folium.template import Template
from scipy.spatial import cKDTree

from ..datum import geometry_to_gcj02
from ..errors import ConfigError
from ..explore import _polygon_units, _text, family_styles, unit_indicators
from ..io.columns import _located

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from branca.element import Figure
    from shapely.geometry.base import BaseGeometry

    from .result_files import ResultFiles
from .terrain_table import impedance_legend

# A result layer, or None for one the result folder lacks: _shift hands back what it gets.
_Layer = TypeVar("_Layer", "gpd.GeoDataFrame", None)

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""Vendored Leaflet + Leaflet.Sync and regionopt's own map/report scripts."""

MAP_FILES = {"compare": "map_compare.html", "toggle": "map_toggle.html", "data": "map_data.js"}

#: Coordinates are stored as integers of 1e-5 degree (about 1 m), delta-encoded.
COORD_SCALE = 100_000

#: Shares of a point's group population served that count as fully / not served.
COVERED_SHARE = 0.999
UNCOVERED_SHARE = 0.001

#: Environment variable read for the Tianditu key (tiles need a free user key).
TIANDITU_KEY_ENV = "TIANDITU_KEY"

BASEMAPS: dict[str, dict[str, Any]] = {
    "none": {},
    "osm": {
        "layers": [
            {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attr": "&copy; OpenStreetMap contributors",
                "max_zoom": 19,
            }
        ],
        "datum": "wgs84",
    },
    # Amap (高德) road tiles are drawn in GCJ-02: every layer is shifted onto them.
    "amap": {
        "layers": [
            {
                "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                "attr": "&copy; 高德地图 AutoNavi",
                "subdomains": "1234",
                "max_zoom": 18,
            }
        ],
        "datum": "gcj02",
    },
    # Tianditu (天地图) is CGCS2000, within a metre of WGS-84 at map scales: no shift.
    "tianditu": {
        "layers": [
            {
                "url": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                "attr": "&copy; 天地图 Tianditu",
                "subdomains": "01234567",
                "max_zoom": 18,
            },
            {
                "url": "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=cva"
                "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                "attr": "&copy; 天地图 Tianditu",
                "subdomains": "01234567",
                "max_zoom": 18,
                "overlay": True,
            },
        ],
        "datum": "wgs84",
        "needs_key": True,
    },
}
_GROUP_NAMES = {
    "mountain26": ("26 mountain counties (山区26县)", "山区26县"),
    "mountain": ("Mountain counties", "山区县"),
}


# ----------------------------------------------------------------------------- small helpers
def json_for_script(data: Any) -> str:
    """JSON that is safe inside ``<script>`` and in a ``.js`` file.

    ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc., so no string from
    the data can close the script element (``</script>``) or open an HTML
    comment (``<!--``); U+2028/U+2029 are escaped for old JS parsers. The
    result is still valid JSON and JavaScript and decodes to the same values.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _json_default(obj: object) -> int | float | bool | None:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _num(value: Any, digits: int | None = None) -> float | None:
    """A finite float (optionally rounded) or ``None`` for JSON."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def type_letters(types: list[tuple[str, str]]) -> dict[str, str]:
    """One distinct letter per facility type for its map symbol.

    Tries the initials of the English name, then its other letters, then the
    alphabet, so ``Public library`` → ``L``-ish choices stay mnemonic; falls
    back to two characters when the alphabet runs out.

    Parameters
    ----------
    types
        ``(type_id, name_en)`` in catalogue order (earlier types win).
    """
    used: set[str] = set()
    out: dict[str, str] = {}
    for type_id, name in types:
        words = re.findall(r"[A-Za-z]+", name or "") or re.findall(r"[A-Za-z]+", type_id) or ["X"]
        # The last word usually names the kind of place (library, hall, school).
        ordered = [words[-1]] + words[:-1]
        candidates = [w[0].upper() for w in ordered]
        candidates += [c.upper() for w in ordered for c in w[1:]]
        candidates += list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        candidates += [f"{a}{b}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "123456789"]
        letter = next(c for c in candidates if c not in used)
        used.add(letter)
        out[type_id] = letter
    return out


def group_label(group: str) -> tuple[str, str]:
    """English and Chinese label of a boolean unit group (e.g. ``mountain26``)."""
    return _GROUP_NAMES.get(group, (group.replace("_", " "), group))


# ----------------------------------------------------------------------------- geometry encoding
def encode_ring(coords: np.ndarray, scale: int = COORD_SCALE) -> list[int]:
    """Flat delta-encoded integer ring ``[x0, y0, dx1, dy1, …]``.

    Rounding to 1e-5° (~1 m) keeps shared borders identical between
    neighbours; deltas keep the numbers short (a 50 m step is ~50–500).
    """
    q = np.rint(np.asarray(coords, dtype=float)[:, :2] * scale).astype(np.int64)
    if len(q) == 0:
        return []
    d = np.empty_like(q)
    d[0] = q[0]
    d[1:] = q[1:] - q[:-1]
    # Drop steps of zero length (rounding merged two vertices).
    keep = np.ones(len(d), bool)
    keep[1:] = np.any(d[1:] != 0, axis=1)
    if not keep.all():
        q = q[keep]
        d = np.empty_like(q)
        d[0] = q[0]
        d[1:] = q[1:] - q[:-1]
    return d.ravel().tolist()


def _encode_polygons(geom: BaseGeometry | None) -> list[list[list[int]]]:
    """A (multi)polygon as ``[[ring, hole, …], …]`` of encoded rings."""
    if geom is None or geom.is_empty:
        return []
    parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    out = []
    for poly in parts:
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        # Closing vertex is implied in Leaflet.
        rings = [encode_ring(np.asarray(poly.exterior.coords)[:-1])]
        rings += [encode_ring(np.asarray(r.coords)[:-1]) for r in poly.interiors]
        out.append(rings)
    return out


def _encode_points(x: np.ndarray, y: np.ndarray, scale: int = COORD_SCALE) -> tuple[list[int], list[int]]:
    """Delta-encoded integer coordinates of points (in the given order)."""
    qx = np.rint(np.asarray(x, dtype=float) * scale).astype(np.int64)
    qy = np.rint(np.asarray(y, dtype=float) * scale).astype(np.int64)
    dx = np.diff(qx, prepend=0)
    dy = np.diff(qy, prepend=0)
    return dx.tolist(), dy.tolist()


def _shift(gdf: _Layer, datum: str) -> _Layer:
    """Shift WGS-84 geometries onto the basemap's datum (GCJ-02 for Amap)."""
    if datum != "gcj02" or gdf is None or len(gdf) == 0:
        return gdf

    out = gdf.copy()
    valid = _located(out.geometry)
    if valid.any():
        out.loc[valid, out.geometry.name] = geometry_to_gcj02(out.geometry[valid])
    return out


# ----------------------------------------------------------------------------- basemaps
def basemap_layers(basemap: str, *, tianditu_key: str | None = None) -> tuple[list[dict], str]:
    """Tile layer specs and the datum (``wgs84``/``gcj02``) geometry must use.

    Parameters
    ----------
    basemap
        ``none`` (default: no tiles, works offline), ``osm``, ``amap`` or
        ``tianditu``.
    tianditu_key
        Tianditu user key; default from the ``TIANDITU_KEY`` environment
        variable. It ends up in the tile URLs of the HTML (that is how the
        Tianditu service is used), so do not publish maps made with a
        private key.
    """
    basemap = (basemap or "none").lower()
    if basemap not in BASEMAPS:
        raise ConfigError(
            f"unknown basemap {basemap!r}", field="outputs.basemap", hint=f"use one of {sorted(BASEMAPS)}"
        )
    spec = BASEMAPS[basemap]
    if not spec:
        return [], "wgs84"
    layers = [dict(layer) for layer in spec["layers"]]
    if spec.get("needs_key"):
        key = tianditu_key or os.environ.get(TIANDITU_KEY_ENV, "")
        if not re.fullmatch(r"[A-Za-z0-9]{8,64}", key or ""):
            raise ConfigError(
                "the Tianditu basemap needs a user key",
                field="basemap",
                hint=f"get a free key at console.tianditu.gov.cn and pass --tianditu-key KEY or set {TIANDITU_KEY_ENV}",
            )
        for layer in layers:
            layer["url"] = layer["url"].replace("{key}", key)
    return layers, spec["datum"]


def _map_unit_of(units: pd.DataFrame, mapped: set[str]) -> dict[str, str | None]:
    """For every unit: itself if mapped, else its nearest mapped ancestor."""
    parent = units["parent_id"].to_dict()
    out: dict[str, str | None] = {}
    for uid in units.index:
        cur, seen = uid, set()
        while cur is not None and cur not in mapped and cur not in seen:
            seen.add(cur)
            p = parent.get(cur)
            cur = p if isinstance(p, str) and p else None
        out[uid] = cur if cur in mapped else None
    return out


def _rates(res: ResultFiles, unit_ids: list[str], keys: list[tuple[str, list[str]]]) -> dict[str, list]:
    """``{key: [[before, after, population] per unit]}`` population-weighted over the key's types."""
    cov = res.coverage
    cov = cov[cov["unit_id"].isin(unit_ids)]
    out = {}
    for key, types in keys:
        sub = cov[cov["facility_type"].isin(types)]
        agg = sub.groupby("unit_id")[["population", "covered_before", "covered_after"]].sum()
        rows: list[list[float] | None] = []
        for uid in unit_ids:
            if uid in agg.index and agg.at[uid, "population"] > 0:
                p = float(agg.at[uid, "population"])
                rows.append(
                    [
                        round(float(agg.at[uid, "covered_before"]) / p, 4),
                        round(float(agg.at[uid, "covered_after"]) / p, 4),
                        round(p),
                    ]
                )
            else:
                rows.append(None)
        out[key] = rows
    return out


def _out_of_reach(res: ResultFiles, unit_ids: list[str], keys: list[tuple[str, list[str]]]) -> dict[str, list]:
    """``{key: [[out_before, out_after] per unit]}``: people of the types' groups not within the standard.

    Exact counts (the rates are rounded for the page). Pooled over several
    types they count person-services, as the pooled rates do.
    """
    cov = res.coverage
    cov = cov[cov["unit_id"].isin(unit_ids)]
    out = {}
    for key, types in keys:
        ind = unit_indicators(cov, types)
        rows: list[list[int] | None] = []
        for uid in unit_ids:
            if uid in ind.index and ind.at[uid, "population"] > 0:
                rows.append(
                    [round(float(ind.at[uid, "out_of_reach_before"])), round(float(ind.at[uid, "out_of_reach_after"]))]
                )
            else:
                rows.append(None)
        out[key] = rows
    return out


def _label_points(units: gpd.GeoDataFrame, unit_ids: list[str]) -> list[list[int]]:
    """A point inside each unit for its name label, as ``[x, y]`` integers of 1e-5 degree."""
    out = []
    for uid in unit_ids:
        geom = units.at[uid, "geometry"]
        p = geom.representative_point()
        out.append([int(round(p.x * COORD_SCALE)), int(round(p.y * COORD_SCALE))])
    return out


def _standards(
    res: ResultFiles, unit_ids: list[str], keys: list[tuple[str, list[str]]], map_unit: dict
) -> dict[str, list]:
    """``{key: [[n, met_before, met_after] per unit]}`` over each unit's own standards and
    those of its descendants that have no polygon (e.g. a county's townships)."""
    std = res.standards
    if std is None or std.empty:
        return {key: [None] * len(unit_ids) for key, _ in keys}
    std = std.assign(
        map_unit=std["unit_id"].map(map_unit),
        met_b=(std["have_before"] >= std["required"]).astype(int),
        met_a=(std["have_after"] >= std["required"]).astype(int),
    )
    pos = {u: i for i, u in enumerate(unit_ids)}
    out = {}
    for key, types in keys:
        sub = std[std["facility_type"].isin(types) & std["map_unit"].isin(pos)]
        agg = sub.groupby("map_unit").agg(n=("met_b", "size"), b=("met_b", "sum"), a=("met_a", "sum"))
        rows: list = [None] * len(unit_ids)
        for uid, rec in agg.iterrows():
            rows[pos[uid]] = [int(rec["n"]), int(rec["b"]), int(rec["a"])]
        out[key] = rows
    return out


def _demand_codes(served: np.ndarray, pop: np.ndarray) -> str:
    """One character per point: 0 no one of the group, 1 uncovered, 2 partly, 3 covered."""
    share = np.divide(served, pop, out=np.zeros_like(served, dtype=float), where=pop > 0)
    code = np.where(pop <= 0, 0, np.where(share >= COVERED_SHARE, 3, np.where(share <= UNCOVERED_SHARE, 1, 2)))
    return "".join(map(str, code.tolist()))


def _typical_spacing_m(lon: np.ndarray, lat: np.ndarray) -> float:
    """Median distance (m) from a demand point to its nearest neighbour: sizes the dots."""

    if len(lon) < 2:
        return 3000.0
    lat0 = float(np.nanmean(lat))
    xy = np.column_stack([lon * 111_320.0 * np.cos(np.radians(lat0)), lat * 110_574.0])
    d, _ = cKDTree(xy).query(xy, k=2)
    return float(round(np.median(d[:, 1]), 1))


def _colocated_slots(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Index of the shared location of each point (points at the same spot share one)."""
    if len(x) == 0:
        return []
    key = pd.Series(list(zip(np.round(x, 6), np.round(y, 6), strict=False)))
    return pd.factorize(key)[0].tolist()


def nearest_travel(demand: pd.DataFrame, types: list[str]) -> dict[str, dict]:
    """Per type: minutes (else km) to the nearest facility before and after, 0.1 apart (None = none in reach).

    Read from the result's demand layer (``near_min_<state>__<type>``,
    ``near_km_<state>__<type>``); older result folders have none, and the
    tooltips then leave the line out.
    """
    out: dict[str, dict] = {}
    for t in types:
        if f"near_km_before__{t}" not in demand or f"near_km_after__{t}" not in demand:
            continue
        minutes = [demand.get(f"near_min_{state}__{t}") for state in ("before", "after")]
        km = [demand[f"near_km_{state}__{t}"].to_numpy(dtype=float) for state in ("before", "after")]
        # Minutes wherever every point with a nearest km also has its minutes (an OD matrix with
        # minutes only has no km at all); else km (a standard in km, or a straight line without speed).
        use_min = all(m is not None for m in minutes) and not any(
            (np.isfinite(k) & ~np.isfinite(m.to_numpy(dtype=float))).any() for m, k in zip(minutes, km, strict=True)
        )
        values = [m.to_numpy(dtype=float) for m in minutes] if use_min else km
        out[t] = {
            "unit": "min" if use_min else "km",
            "before": [None if not np.isfinite(v) else round(float(v), 1) for v in values[0]],
            "after": [None if not np.isfinite(v) else round(float(v), 1) for v in values[1]],
        }
    return out


def _sig(value: Any) -> float | None:
    """A ratio with 6 significant digits for the page (``None`` when missing)."""
    v = float(value)
    return float(f"{v:.6g}") if np.isfinite(v) else None


def _demand_ids(demand: pd.DataFrame) -> list[str]:
    """The demand points' IDs in layer order (the ``demand_id`` column of result.gpkg, else the index)."""
    return (demand["demand_id"] if "demand_id" in demand else demand.index.to_series()).astype(str).tolist()


def _accessibility(res: ResultFiles, unit_ids: list[str], types: list[str], demand_ids: list[str]) -> dict | None:
    """The E2SFCA supply-to-demand ratio per unit and per demand point of each type, before and after.

    ``{"units": {type: [[before, after] | None per unit]}, "demand": {type: [before[], after[]]}}`` from
    ``accessibility_by_unit.csv`` and ``accessibility_by_demand.csv`` (``None`` for a folder without them).
    Per type only: ratios of different types (beds, classrooms, facilities per person) do not pool.
    """
    unit_csv, demand_csv = res.folder / "accessibility_by_unit.csv", res.folder / "accessibility_by_demand.csv"
    if not unit_csv.exists():
        return None
    by_unit = pd.read_csv(unit_csv, dtype={"unit_id": str, "facility_type": str})
    out: dict[str, dict] = {"units": {}, "demand": {}}
    for t in types:
        sub = by_unit[by_unit["facility_type"] == t].set_index("unit_id")
        out["units"][t] = [
            [_sig(sub.at[u, "access_before"]), _sig(sub.at[u, "access_after"])]
            if u in sub.index and np.isfinite(float(sub.at[u, "access_after"]))
            else None
            for u in unit_ids
        ]
    if demand_csv.exists():
        by_demand = pd.read_csv(demand_csv, dtype={"demand_id": str, "facility_type": str})
        for t in types:
            sub = by_demand[by_demand["facility_type"] == t].set_index("demand_id").reindex(demand_ids)
            out["demand"][t] = _scaled_ints(sub[["access_before", "access_after"]].to_numpy(dtype=float))
    return out


def _scaled_ints(values: np.ndarray) -> dict[str, Any]:
    """Per-point ratios as integers times ``10**e`` (4 digits at the largest value): compact for ~17,000 dots.

    ``{"e": e, "v": [before ints, after ints]}``; a missing value is ``None``.
    """
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if len(finite) else 0.0
    e = int(np.floor(np.log10(top))) - 3 if top > 0 else 0
    scaled = np.rint(values / 10.0**e)
    return {
        "e": e,
        "v": [[int(x) if np.isfinite(x) else None for x in scaled[:, k]] for k in range(values.shape[1])],
    }


def map_data(res: ResultFiles, *, lang: str = "en", basemap: str = "none", tianditu_key: str | None = None) -> dict:
    """Everything the map script draws, as plain JSON-able data.

    Parameters
    ----------
    res
        The result folder's files.
    lang
        Default language of the labels (``en`` or ``zh``); the reader can switch.
    basemap
        See :func:`basemap_layers`. For ``amap`` every geometry is shifted to
        GCJ-02 so it sits right on the tiles.
    """
    tiles, datum = basemap_layers(basemap, tianditu_key=tianditu_key)
    cat = res.catalogue
    types = cat["facility_type"].tolist()
    families = list(dict.fromkeys(cat["family"]))
    letters = type_letters(list(zip(types, cat["name_en"].fillna("").astype(str), strict=False)))
    fam_styles = family_styles(families)

    units = _shift(res.units, datum)
    main, upper = _polygon_units(units)
    mapped = main + upper
    map_unit = _map_unit_of(units, set(mapped))
    keys = [("all", types)] + [(f"family:{f}", cat.loc[cat["family"] == f, "facility_type"].tolist()) for f in families]
    keys += [(t, [t]) for t in types]

    groups = []
    main_set = set(main)
    for g in res.group_columns:  # one rule for model, tables, report and maps (region.unit_group_columns)
        flag = res.group_members(g)
        flagged = [u for u in mapped if bool(flag.get(u, False))]
        en, zh = group_label(g)
        groups.append({"id": g, "name_en": en, "name_zh": zh, "units": [mapped.index(u) for u in flagged]})

    unit_rec = {
        "id": mapped,
        "name": [_text(units.at[u, "name"]) for u in mapped],
        "name_en": [_text(units.at[u, "name_en"]) for u in mapped],
        "level": [_text(units.at[u, "level"]) for u in mapped],
        "main": [1 if u in main_set else 0 for u in mapped],
        "geom": [_encode_polygons(units.at[u, "geometry"]) for u in mapped],
    }

    # Demand: coordinates once, one status string per type and state.
    demand = _shift(res.demand, datum)
    dx, dy = _encode_points(demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy())
    status: dict[str, list[str]] = {}
    pop_by_type: dict[str, str] = {}
    pops: dict[str, list[int]] = {}
    serves = dict(zip(cat["facility_type"], cat["serves"].fillna("all").astype(str), strict=False))
    for t in types:
        pop = (
            demand[f"pop__{t}"].to_numpy(dtype=float) if f"pop__{t}" in demand else demand["population"].to_numpy(float)
        )
        status[t] = [
            _demand_codes(demand[f"before__{t}"].to_numpy(dtype=float), pop),
            _demand_codes(demand[f"after__{t}"].to_numpy(dtype=float), pop),
        ]
        group = serves.get(t, "all")
        pop_by_type[t] = group
        if group not in pops:
            pops[group] = np.rint(pop).astype(np.int64).tolist()
    if "all" not in pops:
        pops["all"] = np.rint(demand["population"].to_numpy(dtype=float)).astype(np.int64).tolist()
    near = nearest_travel(demand, types)

    # Facilities: existing ones (before and after) and the plan's new ones (after only).
    fac = _shift(res.facilities, datum)
    existing = fac[fac["status"].astype(str) != "new"] if "status" in fac else fac
    existing = existing[existing["facility_type"].astype(str).isin(types)]
    new = _shift(res.chosen_sites, datum)
    type_pos = {t: i for i, t in enumerate(types)}
    fx = np.concatenate([existing.geometry.x.to_numpy(), new.geometry.x.to_numpy() if len(new) else np.zeros(0)])
    fy = np.concatenate([existing.geometry.y.to_numpy(), new.geometry.y.to_numpy() if len(new) else np.zeros(0)])
    loc = _colocated_slots(fx, fy)
    ex_n = len(existing)
    fdx, fdy = _encode_points(fx, fy)
    facilities = {
        "x": fdx,
        "y": fdy,
        "loc": loc,
        "type": [type_pos[str(t)] for t in existing["facility_type"]]
        + [type_pos[str(t)] for t in new.get("facility_type", [])],
        "new": [0] * ex_n + [1] * len(new),
        "name": [_text(v) for v in existing.get("name", pd.Series([""] * ex_n))]
        + [_text(v) for v in new.get("name", pd.Series([""] * len(new)))],
        "source": [_text(v) for v in existing.get("source", pd.Series([""] * ex_n))] + ["planned"] * len(new),
        "cap": [_num(v) for v in existing.get("capacity", pd.Series([np.nan] * ex_n))]
        + [_num(v) for v in new.get("capacity", pd.Series([np.nan] * len(new)))],
        "cost": [None] * ex_n + [_num(v) for v in new.get("cost", pd.Series(dtype=float))],
        "newly": [None] * ex_n + [_num(v, 1) for v in new.get("newly_covered", pd.Series(dtype=float))],
        "site": [""] * ex_n + [_text(v) for v in new.get("site_id", pd.Series(dtype=str))],
        "county": [""] * ex_n + [_text(v) for v in new.get("county_name", pd.Series(dtype=str))],
        "city": [""] * ex_n + [_text(v) for v in new.get("city_name", pd.Series(dtype=str))],
    }

    geoms = units.loc[mapped].geometry
    bounds = geoms.total_bounds if len(mapped) else demand.total_bounds
    sol = res.solution
    return {
        "version": 1,
        "lang": lang,
        "scale": COORD_SCALE,
        "title": _text(sol.get("title")),
        "title_zh": _text(sol.get("title_zh")),
        "scenario": _text(sol.get("scenario")),
        "datum": datum,
        "basemap": basemap,
        "attribution": res.attribution_text(),
        "bounds": [[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]],
        "families": [{"id": f, **fam_styles[f]} for f in families],
        "types": [
            {
                "id": t,
                "family": f,
                "name_en": _text(en) or t,
                "name_zh": _text(zh),
                "letter": letters[t],
                "group": pop_by_type[t],
                "standard": _text(std_text),
            }
            for t, f, en, zh, std_text in zip(
                types, cat["family"], cat["name_en"], cat["name_zh"], cat["standard"], strict=False
            )
        ],
        "units": unit_rec,
        "groups": groups,
        "rates": _rates(res, mapped, keys),
        "std": _standards(res, mapped, keys, map_unit),
        "reach": _out_of_reach(res, mapped, keys),
        "access": _accessibility(res, mapped, types, _demand_ids(demand)),
        "labels": _label_points(units, mapped),
        "demand": {
            "x": dx,
            "y": dy,
            "pop": pops,
            "status": status,
            "n": int(len(demand)),
            "spacing_m": _typical_spacing_m(demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()),
            "near": near,
        },
        "facilities": facilities,
        "assumed_baseline": bool((existing.get("source", pd.Series(dtype=str)).astype(str) == "assumed").any()),
        "impedance_note": impedance_legend(res.solution, lang),
    }


def write_map_data(path: Path, data: dict) -> None:
    """``map_data.js``: one global the map pages read (a script, so it loads from ``file://``)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("/* regionopt map data (generated) */\nwindow.REGIONOPT_DATA = ")
        fh.write(json_for_script(data))
        fh.write(";\n")


def copy_static(out_dir: Path) -> list[str]:
    """Copy the vendored scripts and styles (with their licences) to ``out_dir/static``."""
    dest = Path(out_dir) / "static"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(STATIC_DIR, dest, ignore=shutil.ignore_patterns("README*", "__pycache__"))
    return sorted(p.relative_to(out_dir).as_posix() for p in dest.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- folium pages
_LOCAL_JS = [
    ("leaflet", "static/leaflet/leaflet.js"),
]
_LOCAL_CSS = [
    ("leaflet_css", "static/leaflet/leaflet.css"),
    ("regionopt_css", "static/regionopt/regionopt-map.css"),
]
_SYNC_JS = [("Leaflet.Sync", "static/leaflet.sync/L.Map.Sync.js")]


def _offline(m: folium.Map) -> None:
    """Point a folium Map at the local copies (instance lists: folium's class lists stay intact).

    folium's defaults load Leaflet, jQuery, Bootstrap, awesome-markers and
    Font Awesome from CDNs; the maps need only Leaflet.
    """
    m.default_js = list(_LOCAL_JS)
    m.default_css = list(_LOCAL_CSS)


class RegionoptLayers(JSCSSMixin):
    """Hands its folium map to ``regionopt.init`` once Leaflet has made it.

    Its scripts are linked after Leaflet's (folium renders a map's links
    before its children's), and only fixed, code-chosen options are written
    into the page: all data travels in ``map_data.js``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        regionopt.init({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )
    default_js = [
        ("regionopt_js", "static/regionopt/regionopt-map.js"),
        ("regionopt_data", MAP_FILES["data"]),
    ]
    default_css: list = []

    def __init__(self, role: str, *, panel: bool, legend: bool, legend_both: bool = False) -> None:
        super().__init__()
        self._name = "RegionoptLayers"
        self.options = {"role": role, "panel": panel, "legend": legend, "legendBoth": legend_both}


class _SyncedDualMap(DualMap):
    """folium's DualMap, synchronised without an initial reset and with a cursor echo.

    Both maps already fit the same bounds at the same size, so Leaflet.Sync's
    initial ``setView(reset)`` would only redraw ~20,000 canvas shapes several
    times over; the echoed cursor shows the same spot on the other map.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this.m1.get_name() }}.sync({{ this.m2.get_name() }}, {{ this.sync_options|tojson }});
            {{ this.m2.get_name() }}.sync({{ this.m1.get_name() }}, {{ this.sync_options|tojson }});
        {% endmacro %}
    """
    )
    sync_options = {
        "noInitialSync": True,
        "syncCursor": True,
        "syncCursorMarkerOptions": {"radius": 7, "weight": 2, "color": "#000", "fillOpacity": 0, "interactive": False},
    }


def _add_tiles(m: folium.Map, tiles: list[dict]) -> None:

    for spec in tiles:
        kwargs = {"max_zoom": spec.get("max_zoom", 18), "overlay": bool(spec.get("overlay", False)), "control": False}
        if "subdomains" in spec:
            kwargs["subdomains"] = spec["subdomains"]
        folium.TileLayer(tiles=spec["url"], attr=spec["attr"], **kwargs).add_to(m)


def _page_head(figure: Figure, title: str) -> None:
    # branca writes the title unescaped.
    figure.title = html.escape(title)


def write_maps(
    res: ResultFiles, out_dir: Path, *, lang: str = "en", basemap: str = "none", tianditu_key: str | None = None
) -> list[str]:
    """Write ``map_compare.html``, ``map_toggle.html``, ``map_data.js`` and ``static/``.

    Returns the written file names relative to ``out_dir``.
    """

    out_dir = Path(out_dir)
    data = map_data(res, lang=lang, basemap=basemap, tianditu_key=tianditu_key)
    tiles, _ = basemap_layers(basemap, tianditu_key=tianditu_key)
    written = copy_static(out_dir)
    write_map_data(out_dir / MAP_FILES["data"], data)
    written.append(MAP_FILES["data"])
    center = [(data["bounds"][0][0] + data["bounds"][1][0]) / 2, (data["bounds"][0][1] + data["bounds"][1][1]) / 2]
    scenario = data["scenario"] or "regionopt"

    # Side by side, synchronised.
    # Fractional zoom lets both halves fit the region snugly.
    opts: dict[str, Any] = {
        "zoom_start": 7,
        "tiles": None,
        "prefer_canvas": True,
        "control_scale": True,
        "zoomSnap": 0.25,
        "zoomDelta": 0.5,
    }
    dual = _SyncedDualMap(location=center, **opts)
    dual.default_js = list(_SYNC_JS)
    for m, role in ((dual.m1, "before"), (dual.m2, "after")):
        _offline(m)
        _add_tiles(m, tiles)
        # Panel on the right map, the one legend (for both) on the left: neither map is buried.
        m.add_child(RegionoptLayers(role, panel=(role == "after"), legend=(role == "before"), legend_both=True))
    figure = cast("Figure", dual.get_root())  # DualMap makes its own Figure
    _page_head(figure, f"{scenario}: before | after — regionopt")
    figure.save(str(out_dir / MAP_FILES["compare"]))
    written.append(MAP_FILES["compare"])

    # One map, before/after switch.
    single = folium.Map(location=center, **opts)
    _offline(single)
    _add_tiles(single, tiles)
    single.add_child(RegionoptLayers("toggle", panel=True, legend=True))
    figure = cast("Figure", single.get_root())  # folium.Map makes its own Figure
    _page_head(figure, f"{scenario}: coverage map — regionopt")
    figure.save(str(out_dir / MAP_FILES["toggle"]))
    written.append(MAP_FILES["toggle"])
    return written
