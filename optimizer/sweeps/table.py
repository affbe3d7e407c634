"""The sweep table: points in order, the efficient frontier marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    pass
from .grid import _MINIMISED, _PER

# =============================================================================== table
_LEAD = [
    "budget",
    "objective",
    "weights",
    "status",
    "gap",
    "objective_value",
    "monotone_ok",
    "best_budget",
    "covered_total",
    "best_covered_total",
]
_TAIL = ["min_unit_rate", "min_unit"]
_END = ["budget_used", "new_facilities", "seconds", "solve_seconds", "hash", "message"]


def _envelope(values: np.ndarray, has_plan: np.ndarray, maximise: bool) -> tuple[list[bool | None], list[int | None]]:
    """Along one line sorted by budget: is each plan at least as good as every cheaper one, and which is best so far?

    Returns the ``monotone_ok`` flags and, per position, the position of the
    best plan known at that budget (its own, or a cheaper one that beats it:
    every plan affordable at a smaller budget is affordable at a larger one).
    """
    flags: list[bool | None] = []
    best_at: list[int | None] = []
    best_v, best_pos = None, None
    for pos, (v, ok) in enumerate(zip(values, has_plan, strict=False)):
        if not ok or v is None or not np.isfinite(v):
            flags.append(None)
            best_at.append(None)
            continue
        if best_v is None:
            good = True
        else:
            # Equal within float noise counts as monotone, and then the
            # point's own plan is the one to show.
            tol = 1e-9 * max(1.0, abs(best_v)) + 1e-7
            good = bool(v >= best_v - tol) if maximise else bool(v <= best_v + tol)
        if good:
            best_v, best_pos = v, pos
        flags.append(good)
        best_at.append(best_pos)
    return flags, best_at


def _not_monotone(df: pd.DataFrame) -> pd.Series:
    """Rows flagged ``monotone_ok = False`` (rows without a plan are not)."""
    return df["monotone_ok"].eq(False).fillna(False).astype(bool)


def finalize_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The sweep table from per-point rows: grid order, monotonicity, best-known frontier, marginal gains.

    Adds, per line (objective × weight set) along the budget:

    ``monotone_ok``
        The point's objective value is at least as good as at every smaller
        budget (``<NA>`` without a plan). See the module docstring.
    ``best_budget``, ``best_covered_total``
        The best plan known at this budget: the point's own, or — where
        ``monotone_ok`` is false — the plan of the smaller budget that beats
        it (still affordable here).
    ``marginal_per_1e8``
        Population covered (summed over types) gained per extra 100 million
        yuan since the next smaller budget with a plan, on the best-known
        frontier — so a within-gap wobble never shows as money losing people.
    """
    df = pd.DataFrame(list(rows))
    if df.empty:
        return df
    df = df.sort_values("point", kind="stable").reset_index(drop=True)
    for col in ("objective_value", "covered_total", "gap", "min_unit_rate", "budget_used"):
        if col not in df:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["marginal_per_1e8"] = np.nan
    df["best_budget"] = np.nan
    df["best_covered_total"] = np.nan
    df["monotone_ok"] = pd.array([pd.NA] * len(df), dtype="boolean")
    has_plan = df["status"].isin(["optimal", "feasible"]).to_numpy()
    for idx in df.groupby(["objective", "weights"], sort=False).groups.values():
        sub = df.loc[idx].sort_values("budget", kind="stable")
        plan = has_plan[sub.index]
        flags, best_at = _envelope(
            sub["objective_value"].to_numpy(), plan, maximise=sub["objective"].iloc[0] not in _MINIMISED
        )
        df.loc[sub.index, "monotone_ok"] = pd.array(flags, dtype="boolean")
        prev_cov, prev_budget = np.nan, np.nan
        for i, b, best in zip(sub.index, sub["budget"], best_at, strict=False):
            if best is None:
                continue
            j = sub.index[best]
            df.at[i, "best_budget"] = df.at[j, "budget"]
            c = df.at[i, "best_covered_total"] = df.at[j, "covered_total"]
            if np.isfinite(prev_cov) and np.isfinite(c):
                df.at[i, "marginal_per_1e8"] = (c - prev_cov) / (b - prev_budget) * _PER
            if np.isfinite(c):
                prev_cov, prev_budget = c, b
    covered = [c for c in df.columns if c.startswith("covered__")]
    groups = [c for c in df.columns if c.startswith(("gap__", "group_rate__", "rest_rate__"))]
    # A boolean unit column whose group has no population (e.g. a flag on
    # units without demand) gives no gap at all: leave its columns out.
    empty = {c.split("__", 1)[1] for c in groups if c.startswith("gap__") and df[c].isna().all()}
    df = df.drop(columns=[c for c in groups if c.split("__", 1)[1] in empty])
    groups = [c for c in groups if c.split("__", 1)[1] not in empty]
    lead = [c for c in ["point", *_LEAD] if c in df]
    # Kolm-Pollak points: the EDE rate, or the EDE of travel minutes per type (before, after).
    ede = [c for c in df.columns if c == "ede_rate" or c.startswith("ede_minutes")]
    order = (
        lead
        + covered
        + ["marginal_per_1e8"]
        + [c for c in _TAIL if c in df]
        + ede
        + groups
        + [c for c in _END if c in df]
    )
    rest = [c for c in df.columns if c not in order]
    return df[order + rest]
