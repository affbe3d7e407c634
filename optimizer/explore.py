"""Interactive folium maps of layers for notebooks (as ``GeoDataFrame.explore``), and the family colours and shapes every map shares."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import branca.colormap as bcm
import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from .region import has_boundary

if TYPE_CHECKING:  # pragma: no cover
    pass


# Colour-blind-safe family colours and a shape each; families beyond these cycle.
_FAMILY_COLOURS = {
    "culture": "#6a3d9a",
    "health": "#b2182b",
    "education": "#08519c",
    "elder_care": "#238b45",
}
_EXTRA_COLOURS = ["#8c510a", "#01665e", "#c51b7d", "#525252", "#e08214", "#4d9221"]
_SHAPES = ["circle", "square", "triangle", "diamond", "hexagon", "star"]
_FAMILY_SHAPES = {"culture": "circle", "health": "square", "education": "triangle", "elder_care": "diamond"}
_FAMILY_NAMES = {
    "culture": ("Culture", "文化"),
    "health": ("Health", "卫生健康"),
    "education": ("Education", "教育"),
    "elder_care": ("Elder care", "养老"),
}


def _text(value: object) -> str:
    """A data value as display text ('' for missing)."""
    if value is None:
        return ""
    if isinstance(value, float) and not np.isfinite(value):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def family_styles(families: list[str]) -> dict[str, dict[str, str]]:
    """Colour, shape and bilingual label of each family."""
    out = {}
    extra = iter(_EXTRA_COLOURS * 4)
    free_shapes = [s for s in _SHAPES if s not in _FAMILY_SHAPES.values()] + _SHAPES
    k = 0
    for fam in families:
        colour = _FAMILY_COLOURS.get(fam) or next(extra)
        shape = _FAMILY_SHAPES.get(fam)
        if shape is None:
            shape = free_shapes[k % len(free_shapes)]
            k += 1
        en, zh = _FAMILY_NAMES.get(fam, (fam.replace("_", " ").capitalize(), fam))
        out[fam] = {"color": colour, "shape": shape, "name_en": en, "name_zh": zh}
    return out


# ----------------------------------------------------------------------------- data for the maps
def _polygon_units(units: gpd.GeoDataFrame) -> tuple[list[str], list[str]]:
    """Unit ids of the finest mapped level (``main``) and the levels above (``upper``).

    A unit with a polygon is ``upper`` when one of its children also has a
    polygon (cities above counties); otherwise it is ``main`` (counties —
    their townships have no boundary in the Zhejiang data).
    """
    mapped = units.index[has_boundary(units).to_numpy()]
    mapped_set = set(mapped)
    parents = units["parent_id"]
    parents_with_mapped_child = {p for uid, p in parents.items() if uid in mapped_set and isinstance(p, str) and p}
    main = [u for u in mapped if u not in parents_with_mapped_child]
    upper = [u for u in mapped if u in parents_with_mapped_child]
    return main, upper


# ----------------------------------------------------------------------------- notebooks (folium, like GeoDataFrame.explore)
#: What :func:`explore_units` can colour the units by.
EXPLORE_INDICATORS = ("rate_after", "rate_before", "change", "out_of_reach_after", "out_of_reach_before")


def unit_indicators(coverage: pd.DataFrame, types: list[str] | None = None) -> pd.DataFrame:
    """Per unit, population-weighted over ``types`` (default all): rates, change and people out of reach.

    Parameters
    ----------
    coverage
        ``PlanResult.coverage`` / ``coverage_by_unit.csv``: one row per unit
        and type with ``population``, ``covered_before``, ``covered_after``.
    types
        Facility types to pool (``None``: every type in ``coverage``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``unit_id``: ``population``, ``covered_before``,
        ``covered_after``, ``rate_before``, ``rate_after``, ``change``
        (after − before, in rate points), ``out_of_reach_before`` and
        ``out_of_reach_after`` (people — person-services when several types
        are pooled — not within the standard).
    """
    cov = coverage if types is None else coverage[coverage["facility_type"].isin(types)]
    agg = cov.groupby(cov["unit_id"].astype(str))[["population", "covered_before", "covered_after"]].sum()
    pop = agg["population"].where(agg["population"] > 0)
    agg["rate_before"] = agg["covered_before"] / pop
    agg["rate_after"] = agg["covered_after"] / pop
    agg["change"] = agg["rate_after"] - agg["rate_before"]
    agg["out_of_reach_before"] = (agg["population"] - agg["covered_before"]).clip(lower=0)
    agg["out_of_reach_after"] = (agg["population"] - agg["covered_after"]).clip(lower=0)
    return agg


def explore_units(
    units: gpd.GeoDataFrame,
    values: pd.Series | None = None,
    *,
    label: str = "",
    diverging: bool = False,
    m: folium.Map | None = None,
    percent: bool = False,
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """A folium map of admin-unit polygons, optionally coloured by ``values`` (indexed by unit id).

    Parameters
    ----------
    units
        GeoDataFrame of admin units indexed by ``unit_id`` (any CRS).
    values
        Number per unit; missing units are grey.
    diverging
        Colour around zero (red − / white 0 / blue +), for changes.
    m
        Add to this map instead of a new one.
    tiles
        folium tiles (``None``: no basemap, works offline).
    """

    main, _ = _polygon_units(units)
    gdf = units.loc[main, [c for c in ("name", "name_en", "level") if c in units.columns] + ["geometry"]].to_crs(4326)
    gdf = gdf.reset_index().rename(columns={"index": "unit_id"})
    if m is None:
        b = gdf.total_bounds
        m = folium.Map(tiles=tiles, prefer_canvas=True)
        m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    colour = None
    if values is not None:
        v = values.reindex(gdf["unit_id"].astype(str)).to_numpy(dtype=float)
        gdf["value"] = v
        finite = v[np.isfinite(v)]
        if diverging:
            top = float(np.max(np.abs(finite))) if len(finite) else 1.0
            top = top or 1.0
            colour = bcm.LinearColormap(["#b2182b", "#f7f7f7", "#2166ac"], vmin=-top, vmax=top, caption=label)
        else:
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
            colour = bcm.LinearColormap(
                ["#ffffcc", "#41b6c4", "#253494"], vmin=lo, vmax=hi if hi > lo else lo + 1, caption=label
            )
        gdf["shown"] = [("–" if not np.isfinite(x) else (f"{x:.1%}" if percent else f"{x:,.0f}")) for x in v]

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        value = feature["properties"].get("value")
        fill = NO_DATA_COLOUR if colour is None or value is None or not np.isfinite(value) else colour(value)
        return {"fillColor": fill, "color": "#555", "weight": 0.7, "fillOpacity": 0.7}

    fields = [c for c in ("name", "name_en", "level", "shown") if c in gdf.columns]
    aliases = [{"shown": label or "value"}.get(c, c) for c in fields]
    folium.GeoJson(
        gdf.to_json(),
        name=label or "units",
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
    ).add_to(m)
    if colour is not None:
        colour.add_to(m)
    return m


def explore_points(
    points: gpd.GeoDataFrame,
    m: folium.Map,
    *,
    name: str,
    families: dict[str, dict[str, str]] | None = None,
    family_column: str = "family",
    radius: float = 6,
    tooltip: list[str] | None = None,
) -> folium.Map:
    """Add point facilities (coloured by family) to folium map ``m`` as one toggleable layer."""

    group = folium.FeatureGroup(name=name)
    pts = points.to_crs(4326)
    cols = [c for c in (tooltip or []) if c in pts.columns]
    for _, row in pts.iterrows():
        fam = str(row.get(family_column, ""))
        colour = (families or {}).get(fam, {}).get("color", "#333")
        text = " · ".join(_text(row[c]) for c in cols if _text(row[c]))
        folium.CircleMarker(
            [row.geometry.y, row.geometry.x],
            radius=radius,
            color="#000",
            weight=1,
            fill=True,
            fill_color=colour,
            fill_opacity=0.95,
            tooltip=html.escape(text) if text else None,
        ).add_to(group)
    group.add_to(m)
    return m


NO_DATA_COLOUR = "#d9d9d9"
