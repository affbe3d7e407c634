"""The outcome of a planning run: chosen sites, coverage before/after, budget, status."""

from __future__ import annotations

import html as _html
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from ..accessibility import (
    accessibility_by_unit,
    inequality_by_type,
    layout_accessibility,
)
from ..datum import planar_xy
from ..errors import ConfigError
from ..evaluate import (
    Layout,
    coverage_by_type,
    coverage_by_unit,
    evaluate_layout,
    group_gap,
    newly_covered,
    standards_status,
)
from ..explore import (
    EXPLORE_INDICATORS,
    explore_points,
    explore_units,
    family_styles,
    unit_indicators,
)
from ..impedance import impedance_for, spec_for
from ..impedance.compare import terrain_reach_comparison
from ..region import finest_levels, unit_group_columns
from ..solvers.options import SolveReport
from .write import write_result

if TYPE_CHECKING:  # pragma: no cover
    import pulp

    from ..planning.model import PlanningModel
    from ..planning.size import ModelSize
    from ..scenario import Scenario

__all__ = ["PlanResult", "unit_group_columns", "site_unit_names"]


def site_unit_names(scenario: Scenario, unit_ids: pd.Series) -> pd.DataFrame:
    """For each point's finest unit: its county-level unit and its top-level (city) unit.

    The county-level unit is the coarsest unit of the point's chain at one
    of the finest levels with boundaries: with township polygons in some
    counties (levels ``[township, county]``) a site in such a township
    still names its county. The top unit is the county-level unit only of
    points with no other unit at those levels in their chain.
    """
    region = scenario.region
    units = region.admin_units
    county_levels = set(finest_levels(units))
    out = []
    ids = unit_ids.astype(str)
    chains = region.ancestors_of(ids)
    for uid in ids:
        chain = chains[uid]
        at_level = [u for u in chain if u in units.index and units.at[u, "level"] in county_levels]
        if len(at_level) > 1 and at_level[-1] == chain[-1]:
            # the top unit is at a finest level only because it has no polygon children elsewhere
            at_level = at_level[:-1]
        county = at_level[-1] if uid in units.index and at_level else None
        top = chain[-1]
        out.append(
            {
                "county_id": county,
                "county_name": units.at[county, "name"] if county else None,
                "city_id": top,
                "city_name": units.at[top, "name"] if top in units.index else None,
            }
        )
    return pd.DataFrame(out, index=unit_ids.index)


@dataclass
class PlanResult:
    """A solved plan and its before/after evaluation.

    Attributes
    ----------
    status
        ``optimal`` or ``feasible`` (time limit: see ``gap``).
    objective, bound, gap
        The plan's objective value, the best proven bound, their relative gap.
    chosen_sites
        GeoDataFrame of new facilities: ``site_id``, ``facility_type``,
        ``family``, ``cost``, units, ``newly_covered``, geometry.
    coverage
        Population-weighted coverage per admin unit and type, before/after.
    coverage_totals
        Coverage per type for the whole region, before/after.
    standards
        Each standard's status before/after.
    group_gaps
        For each boolean unit group (e.g. ``mountain26``): group vs rest.
    """

    scenario: Scenario
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    report: SolveReport
    stages: list[SolveReport]
    chosen_sites: gpd.GeoDataFrame
    facilities_before: gpd.GeoDataFrame
    facilities_after: gpd.GeoDataFrame
    before: Layout
    after: Layout
    coverage: pd.DataFrame
    coverage_totals: pd.DataFrame
    standards: pd.DataFrame
    group_gaps: dict[str, pd.DataFrame]
    budget_used: float
    budget_left: float
    budget_by_family: pd.Series
    budget_by_city: pd.Series
    model_size: ModelSize
    timings: dict[str, float] = field(default_factory=dict)
    model: PlanningModel | None = field(default=None, repr=False)
    # E2SFCA accessibility per demand point and type (optimizer.accessibility), per unit, and inequality.
    access_before: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    access_after: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    accessibility: pd.DataFrame | None = field(default=None, repr=False)
    inequality: list[dict] = field(default_factory=list)

    @property
    def problem(self) -> pulp.LpProblem | None:
        """The solved ``pulp.LpProblem`` (``None`` for results read back from disk)."""
        return None if self.model is None else self.model.problem

    @property
    def is_optimal(self) -> bool:
        return self.status == "optimal"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(
        cls, model: PlanningModel, chosen: list[tuple[int, str]], report: SolveReport, stages: Iterable[SolveReport]
    ) -> PlanResult:

        t0 = time.perf_counter()
        sc = model.scenario
        region = sc.region
        planned = set(sc.catalogue)
        existing = region.facilities[region.facilities["facility_type"].astype(str).isin(planned)].copy()
        existing["status"] = "existing"

        cand = region.candidates
        positions = [j for j, _ in chosen]
        types = [t for _, t in chosen]
        chosen_gdf = cand.iloc[positions].copy()
        chosen_gdf.index = chosen_gdf.index.astype(str)
        chosen_gdf.index.name = "site_id"
        chosen_gdf = chosen_gdf.reset_index()
        chosen_gdf["facility_type"] = types
        chosen_gdf["family"] = [sc.catalogue[t].family for t in types]
        chosen_gdf["type_name_en"] = [sc.catalogue[t].name_en for t in types]
        chosen_gdf["type_name_zh"] = [sc.catalogue[t].name_zh for t in types]
        chosen_gdf["cost"] = [sc.catalogue[t].cost for t in types]
        chosen_gdf["capacity"] = [
            np.nan if sc.catalogue[t].capacity is None else sc.catalogue[t].capacity for t in types
        ]
        if len(chosen_gdf):
            names = site_unit_names(sc, chosen_gdf["unit_id"])
            chosen_gdf = pd.concat([chosen_gdf.drop(columns=list(names.columns), errors="ignore"), names], axis=1)
        else:
            for c in ("county_id", "county_name", "city_id", "city_name"):
                chosen_gdf[c] = pd.Series(dtype=object)

        new = gpd.GeoDataFrame(
            {
                "facility_id": [f"new-{s}-{t}" for s, t in zip(chosen_gdf["site_id"], types, strict=False)],
                "facility_type": types,
                "unit_id": chosen_gdf["unit_id"].astype(str).to_numpy(),
                "name": [
                    f"{n} {sc.catalogue[t].name_zh or t}".strip()
                    for n, t in zip(chosen_gdf.get("name", [""] * len(types)), types, strict=False)
                ],
                "capacity": chosen_gdf["capacity"].to_numpy(dtype=float),
                "source": "planned",
                "status": "new",
                "site_id": chosen_gdf["site_id"].astype(str).to_numpy(),  # how an OD matrix finds it
            },
            geometry=chosen_gdf.geometry.to_numpy(),
            crs=cand.crs,
        ).set_index("facility_id")
        after_fac = pd.concat([existing, new])
        after_fac = gpd.GeoDataFrame(after_fac, geometry="geometry", crs=cand.crs)

        before = evaluate_layout(sc, existing)
        after = evaluate_layout(sc, after_fac)

        # People newly in reach of each new facility.
        newly = np.zeros(len(chosen_gdf))
        if len(chosen_gdf):
            xy = planar_xy(chosen_gdf, region.projected_crs)
            for t in set(types):
                idx = np.flatnonzero(np.asarray(types) == t)
                newly[idx] = newly_covered(
                    sc, before, sc.catalogue[t], xy[idx], chosen_gdf["site_id"].astype(str).to_numpy()[idx]
                )
        chosen_gdf["newly_covered"] = np.round(newly, 1)

        coverage = coverage_by_unit(sc, before, after)
        totals = coverage_by_type(sc, before, after)
        standards = standards_status(sc, existing, after_fac)
        gaps = {g: group_gap(sc, before, after, g) for g in unit_group_columns(region.admin_units)}
        access_before = layout_accessibility(sc, existing)
        access_after = layout_accessibility(sc, after_fac)
        membership = region.unit_membership(region.demand["unit_id"].astype(str))
        accessibility = accessibility_by_unit(sc, access_before, access_after, membership)
        inequality = inequality_by_type(sc, coverage, access_before, access_after)

        used = float(chosen_gdf["cost"].sum()) if len(chosen_gdf) else 0.0
        by_family = chosen_gdf.groupby("family")["cost"].sum() if len(chosen_gdf) else pd.Series(dtype=float)
        by_city = chosen_gdf.groupby("city_id")["cost"].sum() if len(chosen_gdf) else pd.Series(dtype=float)
        timings = dict(model.timings)
        timings["evaluate"] = time.perf_counter() - t0
        return cls(
            scenario=sc,
            status=report.status,
            objective=report.objective,
            bound=report.bound,
            gap=report.gap,
            report=report,
            stages=list(stages),
            chosen_sites=gpd.GeoDataFrame(chosen_gdf, geometry="geometry", crs=cand.crs),
            facilities_before=existing,
            facilities_after=after_fac,
            before=before,
            after=after,
            coverage=coverage,
            coverage_totals=totals,
            standards=standards,
            group_gaps=gaps,
            budget_used=used,
            budget_left=float(sc.budget.total) - used,
            budget_by_family=by_family,
            budget_by_city=by_city,
            model_size=model.size,
            timings=timings,
            model=model,
            access_before=access_before,
            access_after=access_after,
            accessibility=accessibility,
            inequality=inequality,
        )

    # ------------------------------------------------------------------ views
    def summary(self) -> dict:
        """Plain-data summary (what ``solution.json`` holds, without the site list)."""
        sc = self.scenario
        return {
            "scenario": sc.name,
            "title": sc.title,
            "title_zh": sc.title_zh,
            "description": sc.description,
            "settings": {
                "budget": sc.budget.model_dump(mode="json"),
                "standards": sc.standards.model_dump(mode="json"),
                "objective": sc.objective.model_dump(mode="json"),
                "sites": sc.sites.model_dump(mode="json"),
                "solver": sc.solver.model_dump(mode="json"),
                "outputs": {"language": sc.outputs.language, "basemap": sc.outputs.basemap},
            },
            "region": {"name": sc.region.name, "projected_crs": sc.region.projected_crs.to_string()},
            # How demand reached the sites, per type (straight line, OD matrix file, road network and speeds).
            "impedance": {t: _impedance_summary(sc, t) for t in sc.catalogue},
            "objective_kind": sc.objective.kind,
            "status": self.status,
            "optimal": self.is_optimal,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "solver": {
                "name": self.report.solver,
                "version": self.report.solver_version,
                "message": self.report.message,
                "seconds": self.report.seconds,
                "time_limit": sc.solver.time_limit,
                "mip_gap": sc.solver.mip_gap,
                "solver_gap": self.report.extra.get("solver_gap"),
                "stages": [st.message for st in self.stages],
            },
            # Kolm-Pollak objectives: the EDE (of unit rates, or of travel minutes before and after per type).
            "kolm_pollak": self.report.extra.get("kolm_pollak"),
            # Competitor facilities: per type, how many and the people within their reach (planning/competitors.py).
            "competitors": self.report.extra.get("competitors"),
            "budget": {
                "total": float(sc.budget.total),
                "used": self.budget_used,
                "left": self.budget_left,
                "by_family": {str(k): float(v) for k, v in self.budget_by_family.items()},
                "by_city": {str(k): float(v) for k, v in self.budget_by_city.items()},
            },
            "new_facilities": int(len(self.chosen_sites)),
            "new_facilities_by_type": {
                str(k): int(v) for k, v in self.chosen_sites["facility_type"].value_counts().items()
            },
            "coverage_by_type": _records(self.coverage_totals),
            "standards": {
                "met_before": int((self.standards["status"] == "met").sum()),
                "newly_met": int((self.standards["status"] == "newly met").sum()),
                "not_met": int((self.standards["status"] == "not met").sum()),
            },
            "group_gaps": {g: _records(df) for g, df in self.group_gaps.items()},
            "accessibility": {
                "method": "E2SFCA, Gaussian weight; catchment = the type's service standard; "
                "supply = capacity (1 per facility without one)",
                "by_type": self.inequality,
            },
            "model_size": self.model_size.to_dict(),
            "timings": self.timings,
            # Terrain impedance only: reach with the constant detour factor vs terrain, mountain counties vs rest.
            **_terrain_reach(sc, self.chosen_sites),
        }

    # ------------------------------------------------------------------ notebooks
    def coverage_table(self, types: list[str] | None = None) -> pd.DataFrame:
        """Tidy coverage: one row per admin unit, facility type and state (``before``/``after``).

        Columns ``unit_id``, ``name``, ``level``, ``facility_type``, ``state``,
        ``population``, ``covered``, ``out_of_reach``, ``rate``; ready for
        ``groupby``/``pivot``/plotting.
        """
        cov = self.coverage if types is None else self.coverage[self.coverage["facility_type"].isin(types)]
        keep = [c for c in ("unit_id", "name", "level", "facility_type", "population") if c in cov.columns]
        frames = []
        for state in ("before", "after"):
            part = cov[keep].copy()
            part.insert(keep.index("facility_type") + 1, "state", state)
            part["covered"] = cov[f"covered_{state}"].to_numpy(dtype=float)
            part["out_of_reach"] = (part["population"] - part["covered"]).clip(lower=0)
            part["rate"] = part["covered"] / part["population"].where(part["population"] > 0)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def unit_indicators(self, types: list[str] | None = None) -> pd.DataFrame:
        """Per unit, pooled over ``types``: rates before/after, change and people out of reach.

        See :func:`optimizer.maps.unit_indicators`.
        """

        return unit_indicators(self.coverage, types)

    def standards_table(self) -> pd.DataFrame:
        """Tidy standards: one row per unit and required type, with counts before/after and status."""
        return self.standards.reset_index(drop=True).copy()

    def sites_table(self) -> pd.DataFrame:
        """The chosen sites as a plain DataFrame (``lon``/``lat`` instead of geometry), one row per new facility."""
        sites = self.chosen_sites
        out = pd.DataFrame(sites.drop(columns=sites.geometry.name))
        if len(sites):
            wgs = sites.geometry.to_crs(4326)
            out["lon"], out["lat"] = wgs.x.to_numpy(), wgs.y.to_numpy()
        else:
            out["lon"], out["lat"] = pd.Series(dtype=float), pd.Series(dtype=float)
        return out

    def _repr_html_(self) -> str:
        """Status, gap, budget and the headline coverage table, for Jupyter."""

        sc = self.scenario
        gap = "–" if self.gap is None else f"{self.gap:.2%}"
        status = self.status if self.is_optimal else f"{self.status} (NOT proven optimal)"
        head = (
            f"<b>{_html.escape(sc.name)}</b>: {_html.escape(sc.title)}<br>"
            f"status <b>{_html.escape(status)}</b>, proven gap {gap}, objective "
            f"{'–' if self.objective is None else f'{self.objective:,.2f}'} ({_html.escape(sc.objective.kind)})<br>"
            f"budget used {self.budget_used:,.0f} of {float(sc.budget.total):,.0f} yuan; "
            f"{len(self.chosen_sites)} new facilities"
        )
        cols = ["facility_type", "population", "covered_before", "covered_after", "rate_before", "rate_after"]
        table = (
            self.coverage_totals[[c for c in cols if c in self.coverage_totals.columns]]
            .style.format(
                {
                    "population": "{:,.0f}",
                    "covered_before": "{:,.0f}",
                    "covered_after": "{:,.0f}",
                    "rate_before": "{:.1%}",
                    "rate_after": "{:.1%}",
                }
            )
            .hide(axis="index")
            .to_html()
        )
        return f'<div class="regionopt-plan">{head}{table}</div>'

    def explore(
        self,
        indicator: str = "rate_after",
        types: list[str] | None = None,
        *,
        tiles: str | None = "OpenStreetMap",
        existing: bool = False,
    ) -> folium.Map:
        """A folium map of the plan, as ``GeoDataFrame.explore`` gives one.

        Parameters
        ----------
        indicator
            What colours the units: ``rate_after`` (default), ``rate_before``,
            ``change`` (after − before, diverging), ``out_of_reach_after`` or
            ``out_of_reach_before`` (people not within the standard).
        types
            Facility types pooled for the indicator (default: all).
        tiles
            folium tiles; ``None`` for no basemap (offline).
        existing
            Also show the existing facilities.

        Returns
        -------
        folium.Map
        """

        if indicator not in EXPLORE_INDICATORS:
            raise ConfigError(f"unknown indicator {indicator!r}", hint=f"use one of {', '.join(EXPLORE_INDICATORS)}")
        values = self.unit_indicators(types)[indicator]
        m = explore_units(
            self.scenario.region.admin_units,
            values,
            label=indicator.replace("_", " "),
            diverging=indicator == "change",
            percent=indicator.startswith(("rate", "change")),
            tiles=tiles,
        )
        families = family_styles(list(dict.fromkeys(t.family for t in self.scenario.types)))
        if existing and len(self.facilities_before):
            fac = self.facilities_before.copy()
            fac["family"] = [self.scenario.catalogue[t].family for t in fac["facility_type"].astype(str)]
            explore_points(
                fac, m, name="existing facilities", families=families, radius=3, tooltip=["name", "facility_type"]
            )
        if len(self.chosen_sites):
            explore_points(
                self.chosen_sites,
                m,
                name="new facilities",
                families=families,
                radius=7,
                tooltip=["site_id", "facility_type", "county_name", "newly_covered"],
            )
        folium.LayerControl(collapsed=True).add_to(m)
        return m

    def write(self, out_dir: str | Path | None = None, *, maps: bool | None = None, report: bool | None = None) -> Path:
        """Write all output files atomically to ``out_dir`` (default ``reports/<scenario>``)."""

        return write_result(self, out_dir, maps=maps, report=report)


def _terrain_reach(scenario: Scenario, chosen_sites: pd.DataFrame) -> dict:
    """``{"terrain_reach": ...}`` when a type uses the terrain impedance, else ``{}`` (solution.json unchanged)."""
    comparison = terrain_reach_comparison(scenario, chosen_sites)
    return {} if comparison is None else {"terrain_reach": comparison}


def _impedance_summary(scenario: Scenario, type_id: str) -> dict[str, Any]:
    """Kind, description and file of the impedance a type was planned with (the file is hashed in the manifest)."""

    spec = spec_for(scenario, type_id)
    out: dict[str, Any] = {"kind": spec.kind, "description": impedance_for(scenario, type_id).describe()}
    if spec.path is not None:
        out["path"] = str(spec.path)
    if spec.kind == "network":
        out["access_speed_kmh"] = spec.access_speed_kmh
        network = getattr(impedance_for(scenario, type_id), "network", None)
        if network is not None and network.speeds:
            out["speeds_kmh"] = network.speeds
    return out


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append(
            {
                k: (None if isinstance(v, float) and not np.isfinite(v) else (v.item() if hasattr(v, "item") else v))
                for k, v in rec.items()
            }
        )
    return out
