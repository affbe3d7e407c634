"""Sweep plots and the sweep's HTML page."""

from __future__ import annotations

import base64
import html
import io as _io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._optional import optional_import
from .._version import __version__
from ..errors import ConfigError
from ..io.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from ..io.jsonable import write_json
from .grid import _PER
from .table import _not_monotone

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _series(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    single_weights = df["weights"].nunique() == 1
    out = []
    for (kind, wl), sub in df.groupby(["objective", "weights"], sort=False):
        label = kind if single_weights else f"{kind} / {wl}"
        out.append((label, sub.sort_values("budget")))
    return out


def _budget_axis(df: pd.DataFrame) -> tuple[float, str]:
    return (_PER, "budget (100 million yuan)") if df["budget"].max() >= _PER else (1.0, "budget (yuan)")


def _plots(df: pd.DataFrame, title: str) -> dict[str, bytes]:
    """The three sweep plots as PNG bytes (matplotlib, Agg: no display needed)."""
    matplotlib = optional_import("matplotlib", purpose="the sweep plots")
    matplotlib.use("Agg", force=True)
    plt = optional_import("matplotlib.pyplot", purpose="the sweep plots")

    scale, xlabel = _budget_axis(df)
    big = df["covered_total"].max() >= 1e6 if df["covered_total"].notna().any() else False
    cscale, clabel = (
        (1e6, "population covered, summed over types (millions)")
        if big
        else (1.0, "population covered, summed over types")
    )
    series = _series(df)
    # Lines often coincide (e.g. two weight sets choosing the same plans):
    # vary dash and marker too, so no line hides another.
    dashes, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v", "P"]
    styles: list[dict[str, Any]] = [
        {"linestyle": dashes[i % 4], "marker": markers[i % 6], "markersize": 6 - (i % 3)} for i in range(len(series))
    ]
    pngs: dict[str, bytes] = {}

    def save(fig: Figure, name: str) -> None:
        buf = _io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        pngs[name] = buf.getvalue()

    # 1. Efficiency frontier: coverage vs budget.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles, strict=False):
        ok = sub["status"].isin(["optimal", "feasible"])
        # The line is the best plan known at each budget; a point whose own
        # plan is worse than a cheaper one is drawn as a red x off the line.
        ax.plot(sub.loc[ok, "budget"] / scale, sub.loc[ok, "best_covered_total"] / cscale, label=label, **style)
        bad = sub[ok & _not_monotone(sub)]
        if len(bad):
            ax.scatter(bad["budget"] / scale, bad["covered_total"] / cscale, marker="x", s=80, color="red", zorder=5)
        unproven = sub[sub["status"] == "feasible"]
        if len(unproven):
            ax.scatter(
                unproven["budget"] / scale,
                unproven["covered_total"] / cscale,
                marker="o",
                s=90,
                facecolors="none",
                edgecolors="black",
                zorder=4,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(clabel)
    ax.set_title(
        f"Coverage vs budget — {title}\n(line: best plan known at each budget; red x: a point's own plan, "
        "worse than a cheaper one;\nopen circle: not proven optimal)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "frontier.png")

    # 2. Equity vs efficiency: worst-off unit's rate vs total coverage.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles, strict=False):
        ok = sub["status"].isin(["optimal", "feasible"]) & sub["min_unit_rate"].notna()
        s = sub[ok]
        ax.plot(s["covered_total"] / cscale, s["min_unit_rate"] * 100, label=label, **style)
        for end in [s.index[0], s.index[-1]] if len(s) else []:
            ax.annotate(
                f"{s.at[end, 'budget'] / scale:g}",
                (s.at[end, "covered_total"] / cscale, s.at[end, "min_unit_rate"] * 100),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    ax.set_xlabel(clabel)
    ax.set_ylabel("worst-off unit's coverage rate (%)")
    ax.set_title(
        f"Equity vs efficiency — {title}\n(labels: {xlabel.split('(')[-1].rstrip(')')} at each end)", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "equity_efficiency.png")

    # 3. Marginal population per 100 million yuan between consecutive budgets.
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (label, sub), style in zip(series, styles, strict=False):
        m = sub[sub["marginal_per_1e8"].notna()]
        prev = sub["budget"].shift(1)
        mid = ((m["budget"] + prev.loc[m.index]) / 2) / scale
        ax.plot(mid, m["marginal_per_1e8"] / (1e3 if big else 1), label=label, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel + " — midpoint of each step")
    ax.set_ylabel("extra population covered per 100 million yuan" + (" (thousands)" if big else ""))
    ax.set_title(f"What each extra 100 million yuan buys — {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "marginal.png")
    return pngs


def _html_page(df: pd.DataFrame, meta: dict, pngs: dict[str, bytes]) -> str:
    """A self-contained HTML page: no script, no CDN, images inlined; every data string escaped."""
    e = html.escape
    scen = meta["scenario"]
    bad = df[_not_monotone(df)]
    unproven = int((df["status"] == "feasible").sum())
    no_plan = df[~df["status"].isin(["optimal", "feasible"])]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(scen['name'])} — budget and equity sweep</title>",
        (
            "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}"
            "table{border-collapse:collapse;font-size:.8em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}"
            ".note{background:#fff8e0;padding:.5em 1em;border-left:4px solid #e0b000}</style></head><body>"
        ),
        f"<h1>Budget and equity sweep: {e(scen['name'])}</h1>",
        f"<p>{e(scen.get('title') or '')}</p>",
        (
            f"<p>{len(df)} points: budgets {e(', '.join(f'{b:,.0f}' for b in meta['grid']['budgets']))} yuan; "
            f"objectives {e(', '.join(meta['grid']['objectives']))}; weight sets {e(' | '.join(meta['grid']['weights']))}. "
            f"Solver {e(str(meta['solver'].get('name')))}, MIP gap {e(str(meta['solver'].get('mip_gap')))}, "
            f"time limit {e(str(meta['solver'].get('time_limit')))} s, one thread per point"
            f"{'; per-family and per-unit caps scaled with the budget' if meta.get('scale_caps') else ''}.</p>"
        ),
        '<p class="note">Objective values are monotone in the budget only for points solved to proven optimality '
        "(MIP gap 0, no time limit hit). "
        + (
            f"{len(bad)} row(s) found a plan worse than a smaller budget's on the same line (monotone_ok = False, red x): "
            + e(
                "; ".join(
                    f"{r.objective} / {r.weights} at {r.budget:,.0f} (best known: the plan for {r.best_budget:,.0f})"
                    for r in bad.itertuples()
                )
            )
            + ". The cheaper plan is still affordable, so the frontier line and the marginal gains use it "
            "(columns best_budget, best_covered_total). Rerun with --mip-gap 0 to remove the flags. "
            if len(bad)
            else "Every row is monotone. "
        )
        + (f"{unproven} point(s) stopped at the time limit (status feasible). " if unproven else "")
        + (
            f"{len(no_plan)} point(s) have no plan: "
            + e("; ".join(f"{r.objective} at {r.budget:,.0f}: {r.status}" for r in no_plan.itertuples()))
            if len(no_plan)
            else ""
        )
        + "</p>",
    ]
    captions = {
        "frontier.png": "Efficiency frontier: population covered (summed over facility types) vs budget.",
        "equity_efficiency.png": "Equity vs efficiency: the worst-off county-level unit's weighted coverage rate vs total coverage.",
        "marginal.png": "Marginal gain: extra population covered per 100 million yuan between consecutive budgets.",
    }
    for name, data in pngs.items():
        parts.append(f"<h2>{e(captions.get(name, name))}</h2>")
        parts.append(f'<img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    parts.append("<h2>Table</h2>")
    shown = df.drop(columns=[c for c in ("message",) if c in df and df[c].isna().all()])
    whole = [
        c
        for c in shown.columns
        if c in ("budget", "best_budget", "covered_total", "best_covered_total", "budget_used", "marginal_per_1e8")
        or c.startswith("covered__")
    ]
    formatters = {c: (lambda x: "" if pd.isna(x) else f"{x:,.0f}") for c in whole}
    formatters["hash"] = lambda h: f"{h[:12]}…"  # the full hash names the file in points/ and is in sweep.csv
    parts.append(
        shown.to_html(index=False, escape=True, na_rep="", formatters=formatters, float_format=lambda x: f"{x:.6g}")
    )
    parts.append(f"<p>regionopt {e(__version__)}, written {e(meta['created'])}.</p></body></html>")
    return "\n".join(parts)


def write_sweep_outputs(df: pd.DataFrame, out_dir: str | Path, meta: dict, *, plots: bool = True) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.parquet``, ``sweep.json`` and (with ``plots``) ``sweep.html`` + PNGs.

    Every file is written to a temporary name and renamed into place, so an
    interruption never leaves half a table. Returns the files written.
    """

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    atomic_write(out / "sweep.csv", lambda p: df.to_csv(p, index=False))
    written.append(out / "sweep.csv")
    try:
        optional_import("pyarrow", purpose="sweep.parquet")
    except (ImportError, ConfigError):  # ConfigError: pyarrow is not installed
        meta.setdefault("notes", []).append("sweep.parquet not written: pyarrow is not installed")
    else:
        atomic_write(out / "sweep.parquet", lambda p: df.to_parquet(p, index=False))
        written.append(out / "sweep.parquet")
    if plots and len(df):
        try:
            pngs = _plots(df, meta["scenario"]["name"])
        except (ImportError, ConfigError):  # ConfigError: matplotlib is not installed
            meta.setdefault("notes", []).append("plots not written: matplotlib is not installed")
        else:
            for name, data in pngs.items():
                atomic_write_bytes(out / name, data)
                written.append(out / name)
            page = _html_page(df, meta, pngs)
            atomic_write_text(out / "sweep.html", page)
            written.append(out / "sweep.html")
    atomic_write(out / "sweep.json", lambda p: write_json(p, meta))
    written.append(out / "sweep.json")
    return written
