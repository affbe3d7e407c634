"""The timeline page of a phased plan (budget and coverage per period) and its map with a period selector."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..results.phased import PhasedResult

import html
import json

import numpy as np
import pandas as pd

from ..region import has_boundary
from ..scenario import default_unit_levels

REGION_ROW = "ALL"


# =========================================================================== timeline page
def _bars_svg(
    labels: list[str], series: list[tuple[str, list[float], str]], *, unit: str, title: str, fmt: str = "{:,.0f}"
) -> str:
    """A grouped bar chart as inline SVG (one group per period)."""
    width, height, left, bottom, top = 640, 260, 70, 40, 30
    vmax = max([max(vals, default=0.0) for _, vals, _ in series] + [1e-12])
    n, k = len(labels), len(series)
    group_w = (width - left - 10) / max(n, 1)
    bar_w = group_w * 0.8 / max(k, 1)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(title)}">'
        ),
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#555"/>',
    ]
    for i, lbl in enumerate(labels):
        x0 = left + i * group_w + group_w * 0.1
        for s, (name, vals, colour) in enumerate(series):
            v = vals[i] if i < len(vals) else 0.0
            h = (height - bottom - top) * (v / vmax if vmax > 0 else 0.0)
            x = x0 + s * bar_w
            y = height - bottom - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.95:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{html.escape(name)} {html.escape(lbl)}: {html.escape(fmt.format(v))} {unit}</title></rect>"
            )
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">'
                f"{html.escape(fmt.format(v))}</text>"
            )
        parts.append(
            f'<text x="{left + i * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" font-size="11" '
            f'text-anchor="middle">{html.escape(lbl)}</text>'
        )
    for s, (name, _vals, colour) in enumerate(series):
        parts.append(
            f'<rect x="{left + s * 170}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + s * 170 + 14}" y="{height - 5}" font-size="11">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table_html(frame: pd.DataFrame, floats: str = "{:,.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for rec in frame.itertuples(index=False):
        cells = []
        for v in rec:
            text = (
                floats.format(v)
                if isinstance(v, float) and np.isfinite(v)
                else ("" if isinstance(v, float) else str(v))
            )
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def timeline_html(result: PhasedResult) -> str:
    """The timeline page: budget and spending per period, coverage per period (phased vs static), schedule."""
    sc = result.scenario
    periods = result.periods
    labels = periods["period"].astype(str).tolist()
    budget_chart = _bars_svg(
        labels,
        [
            ("budget", (periods["budget"] / 1e8).tolist(), "#9db4d0"),
            ("spent", (periods["spent"] / 1e8).tolist(), "#2b5d8a"),
        ],
        unit="亿 yuan (1e8)",
        title="Budget and spending per period (100 million yuan)",
        fmt="{:,.2f}",
    )
    series = [("phased plan", (periods["weighted_rate"] * 100).tolist(), "#2b8a4f")]
    if result.static is not None and "table" in result.static:
        series.append(("static plan, phased in", (result.static["table"]["static_rate"] * 100).tolist(), "#c77d2b"))
    coverage_chart = _bars_svg(labels, series, unit="%", title="Weighted coverage rate per period (%)", fmt="{:.2f}")
    region = result.coverage_by_period[result.coverage_by_period["unit_id"] == REGION_ROW]
    by_type = region.pivot_table(index="facility_type", columns="period", values="rate", sort=False)
    by_type = by_type[[c for c in labels if c in by_type.columns]].reset_index()
    counts = (
        result.schedule.groupby(["period", "action"]).size().unstack(fill_value=0).reset_index()
        if len(result.schedule)
        else pd.DataFrame({"period": [], "action": []})
    )
    sources = result.projection_sources or ["the demand layer's population, the same in every year"]
    illustrative = any("illustrative" in s.lower() for s in sources)
    static_part = "<p>No static comparison was made (periods.compare_static: false).</p>"
    if result.static is not None:
        if "table" in result.static:
            static_part = f"<p>{html.escape(result.static['definition'])}.</p>" + _table_html(
                result.static["table"], "{:,.1f}"
            )
        else:
            static_part = f"<p>The static comparison failed: {html.escape(result.static.get('message', ''))}</p>"
    gap = result.gap
    status = (
        f"{result.status}"
        + (f", proven gap {gap:.3%}" if gap is not None else "")
        + ("" if result.is_optimal else " — NOT proven optimal")
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(sc.title or sc.name)} — timeline</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:13px;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
.warn{{background:#fff3cd;border:1px solid #e0c060;padding:0.5em}}</style></head><body>
<h1>{html.escape(sc.title or sc.name)} — plan over time / 分期规划</h1>
<p>Solve: {html.escape(status)}. Weighted person-years covered: {result.person_years:,.0f}.</p>
<p class="{"warn" if illustrative else ""}">Population by period: {html.escape("; ".join(sources))}.
{"<b>ILLUSTRATIVE projection (示意性预测), not a forecast.</b>" if illustrative else ""}
Existing facilities are as in the region data (the shipped Zhejiang baseline is illustrative).</p>
{budget_chart}
{coverage_chart}
<h2>Coverage rate by facility type and period (whole region)</h2>
{_table_html(by_type)}
<h2>Actions per period</h2>
{_table_html(counts) if len(counts) else "<p>No facility is built or closed.</p>"}
<h2>Comparison with a static plan</h2>
{static_part}
<p>Files: schedule.csv (site, type, period, cost), coverage_by_period.csv (unit, type, period),
periods.csv, static_comparison.csv, phased.json. The maps and report in this folder show the
plan at the end of the horizon (all builds) on the base-year population.</p>
</body></html>
"""


def period_map_html(result: PhasedResult) -> str:
    """A map with a period selector: the facilities built (and closed) by the end of each period.

    Offline: it uses the Leaflet copied into ``static/`` by the usual maps and
    draws the compared units' outlines (simplified) instead of a basemap.
    """
    sc = result.scenario
    units = sc.region.admin_units
    levels = sc.objective.equity.levels or default_unit_levels(sc)
    outlines = units[units["level"].isin(levels) & has_boundary(units)]
    outlines = outlines.to_crs(4326)
    shapes = json.loads(outlines.geometry.simplify(0.005).to_json())
    labels = [p.label for p in result.periods_config.phases]
    order = {lbl: i for i, lbl in enumerate(labels)}
    actions = [
        {
            "t": order[r.period],
            "a": r.action,
            "k": r.facility_type,
            "id": r.site_id,
            "n": r.name,
            "lat": round(float(r.lat), 5),
            "lon": round(float(r.lon), 5),
            "c": float(r.cost),
        }
        for r in result.schedule.itertuples(index=False)
    ]
    bounds = outlines.total_bounds if len(outlines) else sc.region.demand.to_crs(4326).total_bounds
    data = json.dumps(
        {
            "labels": labels,
            "actions": actions,
            "outlines": shapes,
            "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        },
        ensure_ascii=False,
    )
    data = data.replace("</", "<\\/")
    options = "".join(f'<option value="{i}">{html.escape(lbl)}</option>' for i, lbl in enumerate(labels))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(sc.title or sc.name)} — map by period</title>
<link rel="stylesheet" href="static/leaflet/leaflet.css"><script src="static/leaflet/leaflet.js"></script>
<style>html,body{{height:100%;margin:0;font-family:sans-serif}}#map{{position:absolute;top:40px;bottom:0;width:100%}}
#bar{{height:40px;line-height:40px;padding:0 1em}}</style></head><body>
<div id="bar"><label>Period / 时期: <select id="period">{options}</select></label>
<span id="count"></span> — new (green), repurposed (purple), closed (grey). <a href="timeline.html">timeline</a></div>
<div id="map"></div>
<script>
const D = {data};
const map = L.map('map');
map.fitBounds(D.bounds);
L.geoJSON(D.outlines, {{style: {{color: '#777', weight: 1, fill: false}}}}).addTo(map);
const layer = L.layerGroup().addTo(map);
const colours = {{build: '#1a9850', repurpose: '#7b3294', close: '#888888'}};
function show(t) {{
  layer.clearLayers();
  let n = 0;
  for (const a of D.actions) {{
    if (a.t > t) continue;
    n += a.a === 'close' ? 0 : 1;
    const m = L.circleMarker([a.lat, a.lon], {{radius: a.a === 'close' ? 4 : 5, color: colours[a.a], weight: 1,
      fillOpacity: a.a === 'close' ? 0.3 : 0.8}});
    const text = document.createElement('span');
    text.textContent = a.a + ' ' + a.k + ' — ' + (a.n || a.id) + ' (' + D.labels[a.t] + ')';
    m.bindTooltip(text);
    layer.addLayer(m);
  }}
  document.getElementById('count').textContent = n + ' facilities new or repurposed by the end of ' + D.labels[t];
}}
const sel = document.getElementById('period');
sel.value = D.labels.length - 1;
sel.addEventListener('change', () => show(+sel.value));
show(D.labels.length - 1);
</script></body></html>
"""
