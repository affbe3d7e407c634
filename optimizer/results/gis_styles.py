"""QGIS layer styles embedded in the result GeoPackages (the ``layer_styles`` table)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from ..explore import family_styles

if TYPE_CHECKING:  # pragma: no cover
    pass


# ----------------------------------------------------------------------------- QGIS styles
#: Coverage-rate classes of the QGIS style (same colours as the HTML maps).
RATE_CLASSES = [
    (0.0, 0.2, "#ffffcc"),
    (0.2, 0.4, "#a1dab4"),
    (0.4, 0.6, "#41b6c4"),
    (0.6, 0.8, "#2c7fb8"),
    (0.8, 1.0, "#253494"),
]

_QML_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.28.0\" styleCategories=\"Symbology|Labeling\">\n"


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


def _symbol_layer(cls: str, props: dict[str, str]) -> str:
    """One QGIS symbol layer, with both the ``<Option>`` (QGIS ≥ 3.26) and ``<prop>`` (older) forms."""

    options = "".join(f'<Option name={quoteattr(k)} type="QString" value={quoteattr(v)}/>' for k, v in props.items())
    legacy = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return f'<layer class="{cls}" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option>{legacy}</layer>'


def qml_points_by_category(
    attr: str, categories: list[tuple[str, str, str, str]], *, label_field: str | None = None
) -> str:
    """QGIS style (QML): point symbols categorised by ``attr``.

    Parameters
    ----------
    categories
        ``(value, label, colour "#rrggbb", shape)`` with QGIS marker shape
        names (``circle``, ``square``, ``triangle``, ``diamond``, ``hexagon``, ``star``).
    """

    cats, symbols = [], []
    for k, (value, label, colour, shape) in enumerate(categories):
        cats.append(f'<category symbol="{k}" value={quoteattr(value)} label={quoteattr(label)} render="true"/>')
        layer = _symbol_layer(
            "SimpleMarker",
            {
                "name": shape,
                "color": _rgba(colour),
                "outline_color": "0,0,0,255",
                "outline_width": "0.4",
                "outline_width_unit": "MM",
                "size": "3.4",
                "size_unit": "MM",
            },
        )
        symbols.append(f'<symbol type="marker" name="{k}" alpha="1" clip_to_extent="1" force_rhr="0">{layer}</symbol>')
    return (
        _QML_HEAD + f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attr)} symbollevels="0" '
        'forceraster="0" enableorderby="0">'
        + f"<categories>{''.join(cats)}</categories>"
        + f"<symbols>{''.join(symbols)}</symbols></renderer-v2>"
        + _qml_labels(label_field)
        + "</qgis>\n"
    )


def qml_polygons_by_range(
    attr: str, ranges: list[tuple[float, float, str, str]], *, label_field: str | None = None
) -> str:
    """QGIS style (QML): polygons coloured by classes of ``attr`` (``(lower, upper, label, colour)``)."""

    rows, symbols = [], []
    for k, (lo, hi, label, colour) in enumerate(ranges):
        rows.append(f'<range symbol="{k}" lower="{lo:.6f}" upper="{hi:.6f}" label={quoteattr(label)} render="true"/>')
        layer = _symbol_layer(
            "SimpleFill",
            {
                "color": _rgba(colour, 200),
                "outline_color": "85,85,85,255",
                "outline_width": "0.2",
                "outline_width_unit": "MM",
                "style": "solid",
            },
        )
        symbols.append(f'<symbol type="fill" name="{k}" alpha="1" clip_to_extent="1" force_rhr="0">{layer}</symbol>')
    return (
        _QML_HEAD + f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(attr)} graduatedMethod="GraduatedColor" '
        'symbollevels="0" forceraster="0" enableorderby="0">'
        + f"<ranges>{''.join(rows)}</ranges>"
        + f"<symbols>{''.join(symbols)}</symbols></renderer-v2>"
        + _qml_labels(label_field)
        + "</qgis>\n"
    )


def _qml_labels(field: str | None) -> str:

    if not field:
        return ""
    return (
        '<labeling type="simple"><settings calloutType="simple">'
        f'<text-style fieldName={quoteattr(field)} fontSize="8" textColor="30,30,30,255" isExpression="0">'
        '<text-buffer bufferDraw="1" bufferSize="0.8" bufferColor="255,255,255,255"/></text-style>'
        '<placement placement="0"/><rendering scaleVisibility="0"/></settings></labeling>'
        '<customproperties><Option type="Map"><Option name="labeling/enabled" type="bool" value="true"/></Option>'
        "</customproperties>"
    )


def site_style(families: list[str]) -> str:
    """QML for chosen sites: one colour and shape per family (as on the HTML maps)."""

    styles = family_styles(families)
    return qml_points_by_category(
        "family", [(f, f"{s['name_en']} {s['name_zh']}", s["color"], s["shape"]) for f, s in styles.items()]
    )


def coverage_style() -> str:
    """QML for coverage by unit: the share of residents within the standard after the plan, in fifths."""
    ranges = [(lo, hi, f"{lo:.0%}–{hi:.0%}", colour) for lo, hi, colour in RATE_CLASSES]
    return qml_polygons_by_range("rate_after", ranges, label_field="name")


def write_layer_styles(path: Path, styles: list[tuple[str, str, str, str]]) -> None:
    """Embed QGIS styles in a GeoPackage: the ``layer_styles`` table QGIS reads (and writes) by convention.

    Parameters
    ----------
    styles
        ``(layer, geometry column, style name, QML)``; each becomes the
        layer's default style, so QGIS draws it styled on opening.
    """

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
        )
        # Registered as an attributes table, as QGIS does, so the GeoPackage stays valid.
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', ?)",
            (now,),
        )
        for layer, geom, name, qml in styles:
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '', ?)",
                (layer, geom, name, qml, f"regionopt: {name}", now),
            )
