"""Compare two result folders of `regionopt run`: solution.json, every CSV and every GeoPackage layer.

Run from the repository root::

    .venv/bin/python benchmarks/compare_outputs.py BEFORE_DIR AFTER_DIR

``solution.json`` is compared key by key, leaving out what changes from run to
run (when it ran, how long each step took); likewise the ``update_time``
column of the GeoPackages' ``layer_styles`` table. CSV files
are compared as tables (same columns, same rows, numbers equal to 1e-9
relative). GeoPackage layers are read with geopandas (pyogrio) and compared
column by column, geometries by WKB. Prints one line per file or layer:
``identical``, ``identical where both have it; added: ...`` (files, layers,
columns or keys that only the second folder has) or ``DIFFERS: ...``, and
exits 1 when anything differs or is missing from the second folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

# Keys of solution.json that change from run to run: when it ran and how long each step took.
VOLATILE = {"created", "timings", "seconds"}
# Columns that hold when a file was written: layer_styles.update_time (the QGIS styles of a GeoPackage).
VOLATILE_COLUMNS = {"update_time"}


def _walk(a: Any, b: Any, where: str) -> Iterator[str]:
    """Each place where the JSON values ``a`` and ``b`` differ (volatile keys left out)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in VOLATILE:
                continue
            if key not in a or key not in b:
                yield f"{where}.{key}: only in {'after' if key not in a else 'before'}"
                continue
            yield from _walk(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} items before, {len(b)} after"
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _walk(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if not numbers or not (math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))):
            yield f"{where}: {a!r} before, {b!r} after"
    elif a != b:
        yield f"{where}: {a!r} before, {b!r} after"


def compare_json(before: Path, after: Path) -> list[str]:
    """The differences of two JSON files, volatile keys left out."""
    a = json.loads(before.read_text(encoding="utf-8"))
    b = json.loads(after.read_text(encoding="utf-8"))
    return list(_walk(a, b, before.name))


def _families(columns: list[str]) -> list[str]:
    """Column names with per-type families (``near_km_before__library`` ...) shown once as ``near_km_before__*``."""
    counts: dict[str, int] = {}
    for c in columns:
        key = c.split("__", 1)[0] + "__*" if "__" in c else c
        counts[key] = counts.get(key, 0) + 1
    return [f"{k} ({n})" if n > 1 else k for k, n in counts.items()]


def _frame_diffs(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(differences, additions) of two tables: shared columns compared (numbers to 1e-9, geometry by WKB)."""
    new = _families([str(c) for c in b.columns if c not in a.columns])
    added = [f"columns {', '.join(new)}"] if new else []
    out = [f"column {c!r} removed" for c in a.columns if c not in b.columns]
    if len(a) != len(b):
        return [*out, f"{len(a)} rows before, {len(b)} after"], added
    shared = [c for c in a.columns if c in b.columns]
    if shared != [c for c in b.columns if c in a.columns]:
        out.append("shared columns in another order")
    for col in [c for c in shared if c not in VOLATILE_COLUMNS]:
        x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
        if isinstance(x.dtype, gpd.array.GeometryDtype) or isinstance(y.dtype, gpd.array.GeometryDtype):
            same = gpd.GeoSeries(x).to_wkb().equals(gpd.GeoSeries(y).to_wkb())
        elif pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            same = bool(np.all(np.isclose(xv, yv, rtol=1e-9, atol=1e-9, equal_nan=True)))
        else:
            same = x.astype(str).equals(y.astype(str))
        if not same:
            out.append(f"column {col!r}")
    return out, added


def compare_csv(before: Path, after: Path) -> tuple[list[str], list[str]]:
    """(differences, additions) of two CSV files read as tables."""
    return _frame_diffs(pd.read_csv(before), pd.read_csv(after))


def compare_gpkg(before: Path, after: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per layer of either GeoPackage, its (differences, additions)."""
    layers_a = [str(row[0]) for row in pyogrio.list_layers(before)]
    layers_b = [str(row[0]) for row in pyogrio.list_layers(after)]
    out: dict[str, tuple[list[str], list[str]]] = {}
    for layer in dict.fromkeys(layers_a + layers_b):
        if layer not in layers_b:
            out[layer] = (["layer removed"], [])
        elif layer not in layers_a:
            out[layer] = ([], ["layer added"])
        else:
            a = gpd.read_file(before, layer=layer)
            b = gpd.read_file(after, layer=layer)
            diffs, added = _frame_diffs(a, b)
            if getattr(a, "crs", None) != getattr(b, "crs", None):  # layer_styles is a plain table
                diffs.append(f"CRS {a.crs} before, {b.crs} after")
            out[layer] = (diffs, added)
    return out


def _line(what: str, diffs: list[str], added: list[str]) -> str:
    """One line of the comparison: identical, identical with additions, or what differs."""
    if diffs:
        return (
            f"{what}: DIFFERS: " + "; ".join(diffs[:20]) + (f" (and {len(diffs) - 20} more)" if len(diffs) > 20 else "")
        )
    if added:
        return f"{what}: identical where both have it; added: " + ", ".join(added)
    return f"{what}: identical"


def main(argv: list[str] | None = None) -> int:
    """Compare the two folders; print one line per file or layer; 1 when anything differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    before, after = args.before, args.after
    names = sorted(
        {p.name for p in before.iterdir() if p.suffix in (".csv", ".gpkg") or p.name == "solution.json"}
        | {p.name for p in after.iterdir() if p.suffix in (".csv", ".gpkg") or p.name == "solution.json"}
    )
    differs = False
    for name in names:
        a, b = before / name, after / name
        if not b.exists():
            print(f"{name}: DIFFERS: only before")
            differs = True
        elif not a.exists():
            print(f"{name}: added")
        elif name.endswith(".gpkg"):
            for layer, (diffs, added) in compare_gpkg(a, b).items():
                print(_line(f"{name}:{layer}", diffs, added))
                differs |= bool(diffs)
        else:
            if name.endswith(".json"):
                found = compare_json(a, b)
                diffs = [d for d in found if not d.endswith(": only in after")]
                added = [d.removesuffix(": only in after") for d in found if d.endswith(": only in after")]
            else:
                diffs, added = compare_csv(a, b)
            print(_line(name, diffs, added))
            differs |= bool(diffs)
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
