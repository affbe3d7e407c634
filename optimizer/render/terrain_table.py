"""The report's terrain table: reach with the constant detour factor vs the terrain impedance, by area.

Reads the ``terrain_reach`` block of ``solution.json``
(:func:`optimizer.impedance.compare.terrain_reach_comparison`); older result
folders and scenarios without the terrain impedance have none.
"""

from __future__ import annotations

from pathlib import Path

from .text import _int, _num, _pct, _pp

__all__ = ["terrain_reach_context", "impedance_legend"]

AREA_LABELS = {
    "mountain26": ("26 mountain counties", "山区26县"),
    "rest": ("rest of the region", "其余地区"),
    "all": ("whole region", "全域"),
}


def _rate(covered: object, population: float) -> float | None:
    value = _num(covered)
    return None if value is None or population <= 0 else value / population


def terrain_reach_context(solution: dict) -> dict | None:
    """Rows for the report (shares, changes in percentage points), or None without a ``terrain_reach`` block."""
    block = solution.get("terrain_reach")
    if not block:
        return None
    rows = []
    for rec in block.get("rows", []):
        pop = _num(rec.get("population")) or 0.0
        rates = {
            k: _rate(rec.get(k), pop) for k in ("before_constant", "before_terrain", "after_constant", "after_terrain")
        }
        label = AREA_LABELS.get(str(rec.get("area")), (str(rec.get("area")), str(rec.get("area"))))
        rows.append(
            {
                "area_en": label[0],
                "area_zh": label[1],
                "population": _int(pop),
                **{k: _pct(v) for k, v in rates.items()},
                "change_before": _pp(
                    None
                    if rates["before_terrain"] is None
                    else rates["before_terrain"] - (rates["before_constant"] or 0.0)
                ),
                "change_after": _pp(
                    None
                    if rates["after_terrain"] is None
                    else rates["after_terrain"] - (rates["after_constant"] or 0.0)
                ),
                "mean_detour": "–" if rec.get("mean_detour") is None else f"×{float(rec['mean_detour']):.3f}",
                "mean_speed": "–" if rec.get("mean_speed") is None else f"×{float(rec['mean_speed']):.3f}",
            }
        )
    return {"types": list(block.get("types", [])), "rows": rows}


IMPEDANCE_LEGEND = {
    "straight_line": ("Travel: straight line × the catalogue's detour factor", "出行：直线距离 × 目录绕行系数"),
    "terrain": (
        "Travel: straight line adjusted for terrain (ETOPO5 local relief; an assumption)",
        "出行：按地形修正的直线距离（ETOPO5 局部起伏度；假设）",
    ),
    "od_matrix": ("Travel: OD matrix", "出行：OD 矩阵"),
    "network": ("Travel: road network", "出行：道路网络"),
}


def impedance_legend(solution: dict, lang: str = "en") -> str | None:
    """One line for the maps' legend naming the impedance(s) the plan used (None in older result folders)."""
    block = solution.get("impedance") or {}
    kinds = sorted({str(v.get("kind")) for v in block.values() if isinstance(v, dict)})
    if not kinds:
        return None
    index = 1 if lang == "zh" else 0
    texts = []
    for kind in kinds:
        text = IMPEDANCE_LEGEND.get(kind, (f"Travel: {kind}", f"出行：{kind}"))[index]
        paths = sorted({Path(str(v["path"])).name for v in block.values() if v.get("kind") == kind and v.get("path")})
        if kind in ("od_matrix", "network") and paths:
            text += f" ({', '.join(paths)})"
        texts.append(text)
    return "; ".join(texts)
