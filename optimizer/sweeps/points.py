"""One sweep point: its hash, its cached scenario, its solve and its metrics, saved and read back."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._version import __version__
from ..errors import InfeasibleError, InputError, RegionoptError
from ..io.atomic import atomic_write
from ..io.jsonable import write_json
from ..planning.model import PlanningModel, compared_units
from ..results.write import input_files, sha256_file
from ..scenario import load_scenario

if TYPE_CHECKING:  # pragma: no cover
    from ..results.plan import PlanResult
    from ..scenario import Scenario
from .grid import _POINT_FORMAT, DELAY_ENV


def _region_digest(scenario: Scenario) -> str:
    """SHA-256 of a region held in memory (scenarios built in code have no files to hash)."""
    region = scenario.region
    h = hashlib.sha256()
    h.update(region.name.encode())
    h.update(region.projected_crs.to_wkt().encode())
    layers = [(layer, getattr(region, layer)) for layer in ("admin_units", "demand", "facilities", "candidates")]
    if scenario.competitors is not None:
        layers.append(("competitors", scenario.competitors))
    for layer, gdf in layers:
        h.update(layer.encode())
        h.update(json.dumps([str(c) for c in gdf.columns]).encode())
        plain = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
        h.update(pd.util.hash_pandas_object(plain, index=True).to_numpy().tobytes())
        h.update(b"".join(w or b"" for w in gdf.geometry.to_wkb()))
    return h.hexdigest()


def input_digests(scenario: Scenario) -> dict[str, str]:
    """SHA-256 of every input file of ``scenario`` (label → hex digest).

    A scenario assembled in code without files is digested from its region in memory.
    """

    if scenario.source_path is None:
        return {"region (in memory)": _region_digest(scenario)}
    digests: dict[str, str] = {}
    by_path: dict[Path, str] = {}
    for label, path in sorted(input_files(scenario).items()):
        p = Path(path).resolve()
        if not p.is_file():
            continue
        if p not in by_path:  # the four layers usually share one GeoPackage
            by_path[p] = sha256_file(p)
        digests[label] = by_path[p]
    return digests


def point_hash(point_scenario: Scenario, digests: dict[str, str]) -> str:
    """SHA-256 identifying a point's full scenario: settings after the changes plus input data.

    Paths are left out on purpose: moving the project folder keeps finished points.
    """
    payload = {
        "format": _POINT_FORMAT,
        "regionopt": __version__,
        "settings": point_scenario.fingerprint(),
        "inputs": dict(sorted(digests.items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# =============================================================================== worker side
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2  # scenarios kept per worker process; Zhejiang's region is a few hundred MB
_SCENARIO_CACHE: dict[str, tuple[tuple, Scenario, dict[str, str]]] = {}


def _stamps(paths: Iterable[Path]) -> tuple:
    out: list[tuple[str, int | None, int | None]] = []
    for p in sorted({Path(p).resolve() for p in paths}):
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def _cached_scenario(path: str) -> tuple[Scenario, dict[str, str]]:
    """The scenario at ``path``, loaded once per process and reloaded only when a file changed.

    Loading Zhejiang takes seconds; a sweep point reuses it. The cache is
    keyed by the resolved path and the modification time and size of every
    input file.
    """

    key = str(Path(path).resolve())
    with _CACHE_LOCK:
        hit = _SCENARIO_CACHE.get(key)
        if hit is not None:
            stamps, scenario, digests = hit
            if _stamps(input_files(scenario).values()) == stamps:
                return scenario, digests
        scenario = load_scenario(key)
        stamps = _stamps(input_files(scenario).values())
        digests = input_digests(scenario)
        _SCENARIO_CACHE.pop(key, None)
        while len(_SCENARIO_CACHE) >= _CACHE_SIZE:  # a long-lived worker serving many sweeps
            _SCENARIO_CACHE.pop(next(iter(_SCENARIO_CACHE)))
        _SCENARIO_CACHE[key] = (stamps, scenario, digests)
        return scenario, digests


def solve_point(
    source: str | Scenario, changes: dict[str, Any], expected_digests: dict[str, str] | None = None
) -> dict:
    """Solve one sweep point; the Dask task (pure: same arguments, same numbers).

    Parameters
    ----------
    source
        Path of the scenario file (loaded once per worker process), or a
        :class:`Scenario` object.
    changes
        :meth:`Scenario.replace` changes of this point (see :func:`point_changes`).
    expected_digests
        The input-file digests the client hashed; a worker that sees other
        files (e.g. a stale copy on another machine) refuses to solve.

    Returns
    -------
    dict
        ``row`` (the table columns this point contributes), ``persist``
        (whether the outcome is a result worth keeping: a plan or a proven
        infeasibility) and, for a plan, ``chosen_sites`` and ``coverage_by_type``.
    """

    t0 = time.perf_counter()
    delay = os.environ.get(DELAY_ENV)
    if delay:
        time.sleep(float(delay))
    record: dict[str, Any] = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        if isinstance(source, (str, os.PathLike)):
            base, digests = _cached_scenario(str(source))
            if expected_digests is not None and digests != expected_digests:
                differ = sorted(
                    k for k in set(digests) | set(expected_digests) if digests.get(k) != expected_digests.get(k)
                )
                raise InputError(
                    f"this worker ({record['worker']}) reads different input files than the client: {', '.join(differ)}",
                    file=source,
                    hint="workers must see the same scenario and data files at the same paths (a shared folder)",
                )
        else:
            base = source
        scenario = base.replace(**changes)
        result = PlanningModel(scenario).solve()
    except InfeasibleError as exc:
        record.update(row={"status": "infeasible", "message": str(exc).splitlines()[0]}, persist=True)
    except RegionoptError as exc:
        # A solver failure or unusable files: report it on the row, but do not
        # keep it as a finished point — a rerun should try again.
        record.update(row={"status": "error", "message": str(exc).splitlines()[0]}, persist=False)
    else:
        record.update(row=_metrics(result), persist=True)
        record["chosen_sites"] = [
            {"site_id": str(s), "facility_type": str(t)}
            for s, t in zip(result.chosen_sites["site_id"], result.chosen_sites["facility_type"], strict=False)
        ]
        record["coverage_by_type"] = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
            for rec in result.coverage_totals[
                ["facility_type", "population", "covered_before", "covered_after"]
            ].to_dict(orient="records")
        ]
        del result
    record["row"]["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _metrics(result: PlanResult) -> dict[str, Any]:
    """The table columns of one solved point."""

    sc = result.scenario
    kind = sc.objective.kind
    # The value the objective optimises, which is the monotone one: for
    # equity that is stage 1's max-min rate, not stage 2's coverage; for
    # leximin the first of its lexicographic values, the worst unit's rate.
    value = result.stages[0].objective if kind in ("equity", "leximin") and result.stages else result.objective
    totals = result.coverage_totals.set_index("facility_type")
    row: dict[str, Any] = {
        "status": result.status,
        "gap": result.gap,
        "objective_value": value,
        "covered_total": float(totals["covered_after"].sum()),
    }
    row.update(_kolm_pollak_columns(result.report.extra.get("kolm_pollak")))
    for type_id in sc.catalogue:
        row[f"covered__{type_id}"] = float(totals.at[type_id, "covered_after"])
    # Minimum unit coverage, defined like the equity objective: per unit,
    # Σ_k w_k covered_k / Σ_k w_k population_k, over the units equity
    # compares (the scenario's equity.levels, by default the finest levels
    # with boundaries; only the group's units for units_in_group), so on an
    # equity line it is the max-min rate the solver proved.
    cov = result.coverage
    cov = cov[cov["unit_id"].isin(compared_units(sc))]
    w = cov["facility_type"].map(sc.weight).astype(float)
    num = (cov["covered_after"] * w).groupby(cov["unit_id"]).sum()
    den = (cov["population"] * w).groupby(cov["unit_id"]).sum()
    rate = (num[den > 0] / den[den > 0]).sort_index()
    row["min_unit_rate"] = float(rate.min()) if len(rate) else None
    row["min_unit"] = str(rate.idxmin()) if len(rate) else None
    for group, df in result.group_gaps.items():
        overall = df[df["facility_type"] == "all types"].iloc[0]
        row[f"gap__{group}"] = float(overall["gap_after"])
        row[f"group_rate__{group}"] = float(overall["group_rate_after"])
        row[f"rest_rate__{group}"] = float(overall["rest_rate_after"])
    row["budget_used"] = float(result.budget_used)
    row["new_facilities"] = len(result.chosen_sites)
    row["solve_seconds"] = round(float(result.report.seconds), 3)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def _kolm_pollak_columns(info: dict[str, Any] | None) -> dict[str, Any]:
    """Kolm-Pollak points: the EDE rate (over coverage), or per type the EDE in minutes before and after."""
    if not info:
        return {}
    if info.get("over") == "travel_time":
        out: dict[str, Any] = {}
        for type_id, t in info["by_type"].items():
            out[f"ede_minutes_before__{type_id}"] = t["ede_before_min"]
            out[f"ede_minutes__{type_id}"] = t["ede_after_min"]
        return out
    return {"ede_rate": info.get("ede")}


# =============================================================================== outputs
def _write_point(points_dir: Path, digest: str, data: dict) -> Path:

    target = points_dir / f"{digest}.json"
    atomic_write(target, lambda tmp: write_json(tmp, data))
    return target


def _read_point(points_dir: Path, digest: str) -> dict | None:
    """A finished point, or ``None`` if missing or not a valid point file for this hash."""
    path = points_dir / f"{digest}.json"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("hash") != digest or not isinstance(data.get("row"), dict):
        return None
    return data
