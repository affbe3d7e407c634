"""."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _s(value: object) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


# ----------------------------------------------------------------------------- formatting
def _pct(x: Any, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else f"{v * 100:.{digits}f}%"


def _int(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else f"{v:,.0f}"


def _money(x: Any) -> tuple[str, str]:
    """Yuan as ``(english, chinese)``: 1.2 billion yuan / 12.0 亿元."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–", "–"
    if not math.isfinite(v):
        return "–", "–"
    if abs(v) >= 1e8:
        en = f"{v / 1e9:,.2f} billion yuan" if abs(v) >= 1e9 else f"{v / 1e6:,.0f} million yuan"
        return en, f"{v / 1e8:,.2f} 亿元"
    if abs(v) >= 1e4:
        return f"{v / 1e6:,.2f} million yuan", f"{v / 1e4:,.0f} 万元"
    return f"{v:,.0f} yuan", f"{v:,.0f} 元"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pp(x: Any) -> str:
    v = _num(x)
    return "–" if v is None else f"{v * 100:+.1f} pp"
