"""Write a plan's files atomically, with a manifest of what produced them.

Everything is written into a temporary folder beside the destination and
renamed into place only when complete, so an interrupted run (error, Ctrl-C,
SIGTERM) leaves either the previous result untouched or no folder at all —
never half a result. The destination may not be, or contain, an input file.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from ..accessibility import accessibility_by_demand
from ..errors import OutputError
from ..explore import _polygon_units, unit_indicators
from ..impedance.compare import nearest_minutes
from ..render.report import render_outputs
from ..solvers.versions import solver_versions

if TYPE_CHECKING:  # pragma: no cover
    from ..scenario import Scenario
    from .plan import PlanResult
from ..io.atomic import atomic_output_dir
from ..io.jsonable import write_json
from .gis_styles import coverage_style, site_style, write_layer_styles


def default_output_dir(scenario: Scenario, suffix: str = "") -> Path:
    """``outputs.dir`` from the scenario, else ``reports/<scenario name><suffix>`` in the current folder."""
    if scenario.outputs.dir is not None and not suffix:
        return Path(scenario.outputs.dir)
    return Path("reports") / f"{scenario.name}{suffix}"


def input_files(scenario: Scenario) -> dict[str, Path]:
    """Every file the scenario reads: the scenario itself, its catalogue and region layers."""
    files: dict[str, Path] = {}
    if scenario.source_path is not None:
        files["scenario"] = Path(scenario.source_path)
    cfg = scenario.config
    if cfg is not None and isinstance(cfg.catalogue, Path):
        files["catalogue"] = Path(cfg.catalogue)
    for name, path in scenario.region.files.items():
        if path is not None:
            files[f"region.{name}"] = Path(path)
    competitors = getattr(scenario, "competitors", None)
    if competitors is not None and competitors.attrs.get("file") is not None:  # optimizer/io/competitors.py
        files["region.competitors"] = Path(competitors.attrs["file"])
    imp = getattr(scenario, "impedance", None)
    if imp is not None:  # the OD matrix / road network files: hashed in the manifest like the layers
        for type_id, spec in (("", imp), *imp.by_type.items()):
            if spec.path is not None:
                files[f"impedance.{type_id}" if type_id else "impedance"] = Path(spec.path)
    return files


def check_output_dir(out_dir: Path, inputs: dict[str, Path], *, replace: bool = False) -> Path:
    """Refuse an output folder that is, or contains, an input file (or lies in an input folder).

    Writing replaces the whole folder, so it must not hold any input. With
    ``replace=True`` (a plan's folder, which :func:`atomic_output_dir`
    replaces as a whole) an existing folder must also be empty or an earlier
    regionopt result (it has a ``manifest.json`` or ``solution.json``), so
    that a mistyped ``--out`` cannot delete unrelated files.
    """
    out = Path(out_dir).expanduser().resolve()
    for label, path in inputs.items():
        p = Path(path).resolve()
        if out in p.parents:
            problem = f"the output folder contains the input file {p} ({label}); writing results there would replace it"
        elif p == out or p in out.parents:  # p is a folder (e.g. a Shapefile folder)
            problem = f"the output folder is or lies inside the input folder {p} ({label})"
        else:
            continue
        raise OutputError(problem, file=out, hint="choose another --out folder, e.g. reports/<scenario>")
    for path in (out, *out.parents):  # the folder, or a folder on the way to it, is a file
        if path.exists():
            if not path.is_dir():
                raise OutputError(
                    "output path exists and is not a folder", file=path, hint="choose another --out folder"
                )
            break
    if out == Path(out.anchor) or out == Path.home().resolve():
        raise OutputError(
            "refusing to use a filesystem root or home folder as output folder: the result would replace it",
            file=out,
            hint="choose a folder of its own for the result, e.g. --out reports/<scenario>",
        )
    if (
        replace
        and out.is_dir()
        and any(out.iterdir())
        and not ((out / "manifest.json").is_file() or (out / "solution.json").is_file())
    ):
        raise OutputError(
            "output folder exists, is not empty and is not an earlier regionopt result; "
            "writing would replace everything in it",
            file=out,
            hint="choose a new or empty --out folder (an earlier result folder is replaced as a whole)",
        )
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:

    out = {"python": platform.python_version()}
    for pkg in (
        "regionopt",
        "numpy",
        "scipy",
        "pandas",
        "geopandas",
        "shapely",
        "pyproj",
        "pyogrio",
        "pulp",
        "highspy",
        "folium",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    out.update({f"solver.{k}": v for k, v in solver_versions().items()})
    return out


def write_result(
    result: PlanResult, out_dir: str | Path | None = None, *, maps: bool | None = None, report: bool | None = None
) -> Path:
    """Write ``result`` to ``out_dir`` atomically and return the final folder.

    Files: ``solution.json``, ``chosen_sites.gpkg``/``.csv``,
    ``coverage_by_unit.csv``, ``coverage_by_type.csv``, ``standards.csv``,
    ``accessibility_by_unit.csv``, ``accessibility_by_demand.csv``,
    ``result.gpkg`` (everything the maps need, for ``regionopt map``),
    ``manifest.json``, and — unless disabled — the maps and ``index.html``.
    """

    sc = result.scenario
    out_dir = Path(out_dir) if out_dir is not None else default_output_dir(sc)
    inputs = input_files(sc)
    out = check_output_dir(out_dir, inputs, replace=True)
    maps = sc.outputs.maps if maps is None else maps
    report = sc.outputs.report if report is None else report
    t0 = time.perf_counter()
    with atomic_output_dir(out) as tmp:
        summary = result.summary()
        sites = result.chosen_sites
        site_cols = [c for c in sites.columns if c != "geometry"]
        site_records = (
            sites[site_cols].assign(lon=sites.geometry.x, lat=sites.geometry.y) if len(sites) else sites[site_cols]
        )
        summary["chosen_sites"] = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
            for rec in site_records.to_dict(orient="records")
        ]
        write_json(tmp / "solution.json", summary)
        csv_sites = site_records.copy()
        csv_sites.to_csv(tmp / "chosen_sites.csv", index=False)
        sites.to_file(tmp / "chosen_sites.gpkg", layer="chosen_sites", driver="GPKG")
        families = list(dict.fromkeys(t.family for t in sc.types))
        write_layer_styles(
            tmp / "chosen_sites.gpkg", [("chosen_sites", "geom", "new facilities by family", site_style(families))]
        )
        result.coverage.to_csv(tmp / "coverage_by_unit.csv", index=False)
        result.coverage_totals.to_csv(tmp / "coverage_by_type.csv", index=False)
        result.standards.to_csv(tmp / "standards.csv", index=False)
        for group, df in result.group_gaps.items():
            df.to_csv(tmp / f"gap_{group}.csv", index=False)
        if result.accessibility is not None:
            result.accessibility.to_csv(tmp / "accessibility_by_unit.csv", index=False)
            accessibility_by_demand(sc, result.access_before, result.access_after).to_csv(
                tmp / "accessibility_by_demand.csv", index=False
            )
        _write_result_gpkg(result, tmp / "result.gpkg")
        rendered: list[str] = []
        if maps or report:
            rendered = render_outputs(tmp, result=result, maps=maps, report=report)
        result.timings["write"] = time.perf_counter() - t0
        manifest = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "scenario": sc.name,
            "scenario_fingerprint": sc.fingerprint(),
            "scenario_settings": sc.config.model_dump(mode="json") if sc.config is not None else None,
            "inputs": {
                label: {"path": str(p), "sha256": sha256_file(p)} for label, p in inputs.items() if Path(p).is_file()
            },
            "versions": package_versions(),
            "command": sys.argv,
            "timings_seconds": result.timings,
            "status": result.status,
            "gap": result.gap,
            "outputs": sorted(p.name for p in tmp.iterdir()) + ["manifest.json"],
            "rendered": rendered,
        }
        write_json(tmp / "manifest.json", manifest)
    return out


def _write_result_gpkg(result: PlanResult, path: Path) -> None:
    """The layers ``regionopt map`` needs to redraw maps without solving again."""
    sc = result.scenario
    region = sc.region
    demand = region.demand[
        ["unit_id", "population", "geometry"] + (["urban"] if "urban" in region.demand else [])
    ].copy()
    for type_id in sc.catalogue:
        demand[f"before__{type_id}"] = result.before.served[type_id]
        demand[f"after__{type_id}"] = result.after.served[type_id]
        group = sc.catalogue[type_id].serves
        demand[f"pop__{type_id}"] = region.group_population(group)
        # km (and implied minutes) to the nearest facility of the type, for the maps' demand tooltips
        for state, layout in (("before", result.before), ("after", result.after)):
            km = np.asarray(layout.nearest_km[type_id], dtype=float)
            demand[f"near_km_{state}__{type_id}"] = np.where(np.isfinite(km), km, np.nan)
            minutes = layout.nearest_minutes.get(type_id)
            minutes = nearest_minutes(sc, type_id, km) if minutes is None else np.asarray(minutes, dtype=float)
            demand[f"near_min_{state}__{type_id}"] = np.where(np.isfinite(minutes), minutes, np.nan)
    demand.reset_index().to_file(path, layer="demand", driver="GPKG")
    units = region.admin_units
    units.reset_index().to_file(path, layer="admin_units", driver="GPKG")
    fac = result.facilities_after.reset_index()
    fac.to_file(path, layer="facilities", driver="GPKG")
    if len(result.chosen_sites):
        result.chosen_sites.to_file(path, layer="chosen_sites", driver="GPKG")
    coverage_layer(result).to_file(path, layer="coverage_by_unit", driver="GPKG")
    styles = [("coverage_by_unit", "geom", "coverage after the plan", coverage_style())]
    if len(result.chosen_sites):
        styles.append(
            (
                "chosen_sites",
                "geom",
                "new facilities by family",
                site_style(list(dict.fromkeys(t.family for t in sc.types))),
            )
        )
    write_layer_styles(path, styles)
    catalogue = pd.DataFrame(
        [
            {
                "facility_type": t.type_id,
                "family": t.family,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "cost": t.cost,
                "capacity": t.capacity,
                "serves": t.serves,
                "standard": t.describe_standard(),
                "assumed": t.assumed,
                "weight": sc.weight(t.type_id),
                "sites": "" if t.sites is None else ";".join(t.sites),
                "notes": t.notes,
            }
            for t in sc.catalogue.values()
        ]
    )
    catalogue.to_csv(path.parent / "catalogue.csv", index=False)


def coverage_layer(result: PlanResult) -> gpd.GeoDataFrame:
    """Coverage by the finest mapped unit (counties in Zhejiang), all types pooled and per family."""

    units = result.scenario.region.admin_units
    main, _ = _polygon_units(units)
    cols = [c for c in ("name", "name_en", "level", "parent_id") if c in units.columns]
    out = units.loc[main, cols + [units.geometry.name]].copy()
    pooled = unit_indicators(result.coverage).reindex(out.index.astype(str))
    for c in ("population", "rate_before", "rate_after", "change", "out_of_reach_before", "out_of_reach_after"):
        out[c] = pooled[c].to_numpy()
    for fam in dict.fromkeys(t.family for t in result.scenario.types):
        types = [t.type_id for t in result.scenario.types if t.family == fam]
        out[f"rate_after_{fam}"] = (
            unit_indicators(result.coverage, types)["rate_after"].reindex(out.index.astype(str)).to_numpy()
        )
    out.index.name = "unit_id"
    return gpd.GeoDataFrame(out.reset_index(), geometry=units.geometry.name, crs=units.crs)
