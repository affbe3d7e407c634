"""The result of a phased plan: build schedule, coverage by period, the comparison with a static plan."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pulp

from ..config.schema import PeriodsConfig
from ..render.timeline import REGION_ROW, period_map_html, timeline_html
from ..scenario import Scenario
from ..solvers.options import SolveReport


def _val(v: pulp.LpVariable) -> float:
    return float(v.varValue or 0.0)


def _weighted_rate(rows: pd.DataFrame, sc: Scenario) -> float:
    w = rows["facility_type"].map(sc.weight)
    den = float((w * rows["person_years"]).sum())
    return float((w * rows["person_years_covered"]).sum()) / den if den > 0 else float("nan")


@dataclass
class PhasedResult:
    """A solved phased plan: schedule, coverage by unit, type and period, budgets, static comparison."""

    scenario: Scenario
    periods_config: PeriodsConfig
    report: SolveReport
    stages: list[SolveReport]
    schedule: pd.DataFrame
    coverage_by_period: pd.DataFrame
    periods: pd.DataFrame
    unmet_standards: pd.DataFrame
    person_years: float
    projection_sources: list[str] = field(default_factory=list)
    static: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def gap(self) -> float | None:
        return self.report.gap

    @property
    def is_optimal(self) -> bool:
        return self.report.is_optimal

    def summary(self) -> dict:
        """Headline facts for ``phased.json`` and the terminal."""
        static = None
        if self.static is not None:
            static = {k: v for k, v in self.static.items() if k != "table"}
        return {
            "scenario": self.scenario.name,
            "status": self.report.status,
            "gap": self.report.gap,
            "objective": self.report.objective,
            "bound": self.report.bound,
            "solver": self.report.to_dict(),
            "weighted_person_years_covered": self.person_years,
            "periods": self.periods.to_dict(orient="records"),
            "builds": int((self.schedule["action"] == "build").sum()) if len(self.schedule) else 0,
            "closures": int((self.schedule["action"] == "close").sum()) if len(self.schedule) else 0,
            "repurposed": int((self.schedule["action"] == "repurpose").sum()) if len(self.schedule) else 0,
            "population_projection": self.projection_sources or ["demand layer, the same in every year"],
            "static_comparison": static,
            "timings_seconds": self.timings,
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``schedule.csv``, ``coverage_by_period.csv``, ``periods.csv``, ``static_comparison.csv``,
        ``unmet_standards_by_period.csv``, ``phased.json`` and ``timeline.html`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.schedule.to_csv(out / "schedule.csv", index=False)
        self.coverage_by_period.to_csv(out / "coverage_by_period.csv", index=False)
        self.periods.to_csv(out / "periods.csv", index=False)
        self.unmet_standards.to_csv(out / "unmet_standards_by_period.csv", index=False)
        if self.static is not None and "table" in self.static:
            self.static["table"].to_csv(out / "static_comparison.csv", index=False)
        (out / "phased.json").write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        (out / "timeline.html").write_text(timeline_html(self), encoding="utf-8")
        if (out / "static" / "leaflet" / "leaflet.js").is_file():  # the vendored Leaflet of the usual maps
            (out / "map_periods.html").write_text(period_map_html(self), encoding="utf-8")
        return out


def _period_person_years(result: PhasedResult, label: str) -> float:
    rows = result.coverage_by_period
    rows = rows[(rows["period"] == label) & (rows["unit_id"] == REGION_ROW)]
    w = rows["facility_type"].map(result.scenario.weight)
    return float((w * rows["person_years_covered"]).sum())
