"""Write a plan's files atomically, with a manifest of what produced them.

Everything is written into a temporary folder beside the destination and
renamed into place only when complete, so an interrupted run (error, Ctrl-C,
SIGTERM) leaves either the previous result untouched or no folder at all —
never half a result. The destination may not be, or contain, an input file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pandas as pd

from .accessibility import accessibility_by_demand
from .errors import OutputError

if TYPE_CHECKING:  # pragma: no cover
    from .result import PlanResult
    from .scenario import Scenario

__all__ = [
    "default_output_dir",
    "input_files",
    "check_output_dir",
    "atomic_output_dir",
    "write_result",
    "sha256_file",
    "package_versions",
]


def default_output_dir(scenario: "Scenario", suffix: str = "") -> Path:
    """``outputs.dir`` from the scenario, else ``reports/<scenario name><suffix>`` in the current folder."""
    if scenario.outputs.dir is not None and not suffix:
        return Path(scenario.outputs.dir)
    return Path("reports") / f"{scenario.name}{suffix}"


def input_files(scenario: "Scenario") -> dict[str, Path]:
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
                raise OutputError("output path exists and is not a folder", file=path, hint="choose another --out folder")
            break
    if out == Path(out.anchor) or out == Path.home().resolve():
        raise OutputError(
            "refusing to use a filesystem root or home folder as output folder: the result would replace it",
            file=out,
            hint="choose a folder of its own for the result, e.g. --out reports/<scenario>",
        )
    if replace and out.is_dir() and any(out.iterdir()):
        if not ((out / "manifest.json").is_file() or (out / "solution.json").is_file()):
            raise OutputError(
                "output folder exists, is not empty and is not an earlier regionopt result; "
                "writing would replace everything in it",
                file=out,
                hint="choose a new or empty --out folder (an earlier result folder is replaced as a whole)",
            )
    return out


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or another signal) turned into an exception, so cleanup runs as for Ctrl-C.

    The command line exits with ``128 + signum`` (143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"received signal {self.signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Interrupted` so cleanup runs for both Ctrl-C and kill.

    Does nothing when another SIGTERM handler is installed (e.g. by the
    command line, which wraps every command in this) or off the main thread.
    """
    if os.name != "posix" or signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        yield
        return

    def _raise(signum, frame):  # pragma: no cover - exercised by the interrupt test in a subprocess
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_deferred_signals = sigterm_as_interrupt  # former name


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM during a few file-system steps that must not be split.

    A signal that arrives inside the block is remembered and re-raised when
    the block ends (as KeyboardInterrupt / :class:`Interrupted`), so e.g. the
    rename of the finished folder into place happens completely or not at all.
    Python runs signal handlers only in the main thread; elsewhere nothing is
    needed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    signums = [signal.SIGINT] + ([signal.SIGTERM] if os.name == "posix" else [])
    previous = {}
    for signum in signums:
        previous[signum] = signal.getsignal(signum)
        if previous[signum] in (signal.SIG_IGN,):
            continue
        signal.signal(signum, lambda n, frame: pending.append(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if pending:  # deliver the first signal now, to the handler that was in place
        signum = pending[0]
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, None)  # default_int_handler raises KeyboardInterrupt; ours raises Interrupted
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise Interrupted(signum)


@contextmanager
def atomic_output_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir`` in one rename.

    On any exception (including KeyboardInterrupt / SIGTERM) the temporary
    folder is removed and ``out_dir`` is left as it was. Creating the
    temporary folder and swapping it into place are shielded from signals,
    so an interrupt leaves either the earlier folder or the complete new one,
    and no temporary folder behind (short of SIGKILL or power loss).
    """
    out_dir = Path(out_dir)

    def cannot_create(exc: OSError) -> OutputError:
        return OutputError(f"cannot create the output folder ({exc.strerror or exc})", file=out_dir,
                           hint="choose another --out folder, in a folder you can write to")

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_create(exc) from None
    tmp: Path | None = None
    with sigterm_as_interrupt():
        try:
            with _interrupts_deferred():
                try:
                    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
                except OSError as exc:
                    raise cannot_create(exc) from None
                # mkdtemp makes the folder private (0700); the result folder is
                # meant to be shared like any other, so apply the user's umask.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o777 & ~umask)
            yield tmp
            with _interrupts_deferred():
                old = None
                if out_dir.exists():
                    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
                    os.replace(out_dir, old)
                try:
                    os.replace(tmp, out_dir)
                except BaseException:
                    if old is not None:
                        os.replace(old, out_dir)
                    raise
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .solvers import solver_versions

    out = {"python": platform.python_version()}
    for pkg in ("regionopt", "numpy", "scipy", "pandas", "geopandas", "shapely", "pyproj", "pyogrio", "pulp", "highspy", "folium"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    out.update({f"solver.{k}": v for k, v in solver_versions().items()})
    return out


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(obj):
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(path: Path, data) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_clean(data), fh, ensure_ascii=False, indent=2, default=_json_default)
        fh.write("\n")


def write_result(result: "PlanResult", out_dir=None, *, maps: bool | None = None, report: bool | None = None) -> Path:
    """Write ``result`` to ``out_dir`` atomically and return the final folder.

    Files: ``solution.json``, ``chosen_sites.gpkg``/``.csv``,
    ``coverage_by_unit.csv``, ``coverage_by_type.csv``, ``standards.csv``,
    ``accessibility_by_unit.csv``, ``accessibility_by_demand.csv``,
    ``result.gpkg`` (everything the maps need, for ``regionopt map``),
    ``manifest.json``, and — unless disabled — the maps and ``index.html``.
    """
    import time

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
        site_records = sites[site_cols].assign(lon=sites.geometry.x, lat=sites.geometry.y) if len(sites) else sites[site_cols]
        summary["chosen_sites"] = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()} for rec in site_records.to_dict(orient="records")
        ]
        write_json(tmp / "solution.json", summary)
        csv_sites = site_records.copy()
        csv_sites.to_csv(tmp / "chosen_sites.csv", index=False)
        sites.to_file(tmp / "chosen_sites.gpkg", layer="chosen_sites", driver="GPKG")
        families = list(dict.fromkeys(t.family for t in sc.types))
        write_layer_styles(tmp / "chosen_sites.gpkg", [("chosen_sites", "geom", "new facilities by family", site_style(families))])
        result.coverage.to_csv(tmp / "coverage_by_unit.csv", index=False)
        result.coverage_totals.to_csv(tmp / "coverage_by_type.csv", index=False)
        result.standards.to_csv(tmp / "standards.csv", index=False)
        for group, df in result.group_gaps.items():
            df.to_csv(tmp / f"gap_{group}.csv", index=False)
        if result.accessibility is not None:
            result.accessibility.to_csv(tmp / "accessibility_by_unit.csv", index=False)
            accessibility_by_demand(sc, result.access_before, result.access_after).to_csv(
                tmp / "accessibility_by_demand.csv", index=False)
        _write_result_gpkg(result, tmp / "result.gpkg")
        rendered: list[str] = []
        if maps or report:
            from .report import render_outputs

            rendered = render_outputs(tmp, result=result, maps=maps, report=report)
        result.timings["write"] = time.perf_counter() - t0
        manifest = {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "scenario": sc.name,
            "scenario_fingerprint": sc.fingerprint(),
            "scenario_settings": sc.config.model_dump(mode="json") if sc.config is not None else None,
            "inputs": {label: {"path": str(p), "sha256": sha256_file(p)} for label, p in inputs.items() if Path(p).is_file()},
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


def _write_result_gpkg(result: "PlanResult", path: Path) -> None:
    """The layers ``regionopt map`` needs to redraw maps without solving again."""
    sc = result.scenario
    region = sc.region
    demand = region.demand[["unit_id", "population", "geometry"] + (["urban"] if "urban" in region.demand else [])].copy()
    for type_id in sc.catalogue:
        demand[f"before__{type_id}"] = result.before.served[type_id]
        demand[f"after__{type_id}"] = result.after.served[type_id]
        group = sc.catalogue[type_id].serves
        demand[f"pop__{type_id}"] = region.group_population(group)
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
        styles.append(("chosen_sites", "geom", "new facilities by family", site_style(list(dict.fromkeys(t.family for t in sc.types)))))
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


# ----------------------------------------------------------------------------- QGIS styles
#: Coverage-rate classes of the QGIS style (same colours as the HTML maps).
RATE_CLASSES = [(0.0, 0.2, "#ffffcc"), (0.2, 0.4, "#a1dab4"), (0.4, 0.6, "#41b6c4"), (0.6, 0.8, "#2c7fb8"), (0.8, 1.0, "#253494")]

_QML_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.28.0\" styleCategories=\"Symbology|Labeling\">\n"


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i:i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


def _symbol_layer(cls: str, props: dict[str, str]) -> str:
    """One QGIS symbol layer, with both the ``<Option>`` (QGIS ≥ 3.26) and ``<prop>`` (older) forms."""
    from xml.sax.saxutils import quoteattr

    options = "".join(f"<Option name={quoteattr(k)} type=\"QString\" value={quoteattr(v)}/>" for k, v in props.items())
    legacy = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return f'<layer class="{cls}" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option>{legacy}</layer>'


def qml_points_by_category(attr: str, categories: list[tuple[str, str, str, str]], *, label_field: str | None = None) -> str:
    """QGIS style (QML): point symbols categorised by ``attr``.

    Parameters
    ----------
    categories
        ``(value, label, colour "#rrggbb", shape)`` with QGIS marker shape
        names (``circle``, ``square``, ``triangle``, ``diamond``, ``hexagon``, ``star``).
    """
    from xml.sax.saxutils import quoteattr

    cats, symbols = [], []
    for k, (value, label, colour, shape) in enumerate(categories):
        cats.append(f"<category symbol=\"{k}\" value={quoteattr(value)} label={quoteattr(label)} render=\"true\"/>")
        layer = _symbol_layer("SimpleMarker", {"name": shape, "color": _rgba(colour), "outline_color": "0,0,0,255",
                                               "outline_width": "0.4", "outline_width_unit": "MM", "size": "3.4",
                                               "size_unit": "MM"})
        symbols.append(f'<symbol type="marker" name="{k}" alpha="1" clip_to_extent="1" force_rhr="0">{layer}</symbol>')
    return (_QML_HEAD + f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attr)} symbollevels="0" '
            'forceraster="0" enableorderby="0">' + f"<categories>{''.join(cats)}</categories>"
            + f"<symbols>{''.join(symbols)}</symbols></renderer-v2>" + _qml_labels(label_field) + "</qgis>\n")


def qml_polygons_by_range(attr: str, ranges: list[tuple[float, float, str, str]], *, label_field: str | None = None) -> str:
    """QGIS style (QML): polygons coloured by classes of ``attr`` (``(lower, upper, label, colour)``)."""
    from xml.sax.saxutils import quoteattr

    rows, symbols = [], []
    for k, (lo, hi, label, colour) in enumerate(ranges):
        rows.append(f"<range symbol=\"{k}\" lower=\"{lo:.6f}\" upper=\"{hi:.6f}\" label={quoteattr(label)} render=\"true\"/>")
        layer = _symbol_layer("SimpleFill", {"color": _rgba(colour, 200), "outline_color": "85,85,85,255",
                                             "outline_width": "0.2", "outline_width_unit": "MM", "style": "solid"})
        symbols.append(f'<symbol type="fill" name="{k}" alpha="1" clip_to_extent="1" force_rhr="0">{layer}</symbol>')
    return (_QML_HEAD + f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(attr)} graduatedMethod="GraduatedColor" '
            'symbollevels="0" forceraster="0" enableorderby="0">' + f"<ranges>{''.join(rows)}</ranges>"
            + f"<symbols>{''.join(symbols)}</symbols></renderer-v2>" + _qml_labels(label_field) + "</qgis>\n")


def _qml_labels(field: str | None) -> str:
    from xml.sax.saxutils import quoteattr

    if not field:
        return ""
    return ('<labeling type="simple"><settings calloutType="simple">'
            f'<text-style fieldName={quoteattr(field)} fontSize="8" textColor="30,30,30,255" isExpression="0">'
            '<text-buffer bufferDraw="1" bufferSize="0.8" bufferColor="255,255,255,255"/></text-style>'
            '<placement placement="0"/><rendering scaleVisibility="0"/></settings></labeling>'
            '<customproperties><Option type="Map"><Option name="labeling/enabled" type="bool" value="true"/></Option>'
            '</customproperties>')


def site_style(families: list[str]) -> str:
    """QML for chosen sites: one colour and shape per family (as on the HTML maps)."""
    from .maps import family_styles

    styles = family_styles(families)
    return qml_points_by_category(
        "family", [(f, f"{s['name_en']} {s['name_zh']}", s["color"], s["shape"]) for f, s in styles.items()])


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
    import sqlite3

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
        )
        # Registered as an attributes table, as QGIS does, so the GeoPackage stays valid.
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
                    "VALUES ('layer_styles', 'attributes', 'layer_styles', ?)", (now,))
        for layer, geom, name, qml in styles:
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '', ?)",
                (layer, geom, name, qml, f"regionopt: {name}", now),
            )


def coverage_layer(result: "PlanResult"):
    """Coverage by the finest mapped unit (counties in Zhejiang), all types pooled and per family."""
    import geopandas as gpd

    from .maps import _polygon_units, unit_indicators

    units = result.scenario.region.admin_units
    main, _ = _polygon_units(units)
    cols = [c for c in ("name", "name_en", "level", "parent_id") if c in units.columns]
    out = units.loc[main, cols + [units.geometry.name]].copy()
    pooled = unit_indicators(result.coverage).reindex(out.index.astype(str))
    for c in ("population", "rate_before", "rate_after", "change", "out_of_reach_before", "out_of_reach_after"):
        out[c] = pooled[c].to_numpy()
    for fam in dict.fromkeys(t.family for t in result.scenario.types):
        types = [t.type_id for t in result.scenario.types if t.family == fam]
        out[f"rate_after_{fam}"] = unit_indicators(result.coverage, types)["rate_after"].reindex(out.index.astype(str)).to_numpy()
    out.index.name = "unit_id"
    return gpd.GeoDataFrame(out.reset_index(), geometry=units.geometry.name, crs=units.crs)
