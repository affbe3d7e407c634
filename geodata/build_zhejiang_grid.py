"""Build a 1-km Zhejiang: the shipped region with its demand on a 1-km grid.

Run from the repository root::

    .venv/bin/python geodata/build_zhejiang_grid.py [--out geodata/_cache/zhejiang_grid.gpkg] [--cell-km 1]
        [--lattice 5]

Reads only the shipped ``geodata/zhejiang/zhejiang.gpkg`` and writes a GeoPackage with the same four
layers, of which ``admin_units`` and ``facilities`` are copied unchanged and

- ``demand`` is :func:`optimizer.io.grid.grid_demand` over the 90 county polygons: one point per
  1-km cell centre inside a county (cells square in the scenario's projected CRS), each county's census
  population and four age groups apportioned exactly (largest remainder) in proportion to a Gaussian
  kernel density (bandwidth 1.5 km) of the shipped 16,672-point demand layer — so the towns and empty
  mountains of the shipped placement are kept, on a finer grid. ``urban`` (which of the catalogue's
  service standards applies) is True where the shipped urban points (county and township seats) give at
  least half of the point's kernel weight, False elsewhere; ``county_id`` = ``unit_id`` (the county).
- ``candidates`` are the 2,490 shipped sites (every county and township seat and the shipped 3-km grid
  sites) plus every populated grid point on a ``--lattice``-km lattice (columns and rows divisible by
  ``--lattice``; default 5 km, so every place lies within 3.5 km of one, about the rural primary-school
  radius of 3 km), kind ``grid``: the types the catalogue allows on ``grid`` sites (township health
  centre, primary and middle school, elder care) can be placed anywhere on that lattice.

The file is about 40 MB, so it is not shipped; ``benchmarks/zhejiang_grid.py`` builds it (about 10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.io.grid import grid_demand  # noqa: E402

SHIPPED = REPO / "geodata" / "zhejiang" / "zhejiang.gpkg"
DEFAULT_OUT = REPO / "geodata" / "_cache" / "zhejiang_grid.gpkg"
COUNTY_LEVELS = ("district", "county", "county_city")
# age groups of the shipped demand layer, each apportioned within the column it nests in (geodata/README.md)
AGE_GROUPS = {
    "pop_0_14": "population",
    "pop_school_age": "pop_0_14",
    "pop_elderly": "population",
    "pop_65plus": "pop_elderly",
}
BANDWIDTH_KM = 1.5  # half the shipped 3-km grid spacing: smooths it without blurring the towns away


def scenario_crs() -> str:
    """The projected CRS of the default scenario (cells are square in it)."""
    config = yaml.safe_load((REPO / "configs" / "zhejiang.yaml").read_text(encoding="utf-8"))
    return str(config["region"]["projected_crs"])


def build_grid_demand(units: gpd.GeoDataFrame, shipped: gpd.GeoDataFrame, cell_km: float, crs: str) -> gpd.GeoDataFrame:
    """The gridded demand layer in the shipped layer's columns (see the module docstring)."""
    counties = units[units["level"].isin(COUNTY_LEVELS)]
    demand = grid_demand(
        counties,
        cell_km,
        projected_crs=crs,
        groups=AGE_GROUPS,
        prior=shipped,
        bandwidth_km=BANDWIDTH_KM,
    )
    demand["county_id"] = demand["unit_id"]
    demand["urban"] = urban_majority(demand, shipped, crs)
    columns = ["demand_id", "unit_id", "county_id", "kind", "urban", "population", *AGE_GROUPS, "geometry"]
    return demand[columns]


def urban_majority(demand: gpd.GeoDataFrame, shipped: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """True where the shipped urban points (the seats) give at least half of a grid point's kernel weight.

    The same Gaussian kernel (``BANDWIDTH_KM``, pairs within three bandwidths) that
    weights the populations: a point counts as urban, and gets the catalogue's urban
    service standard, when most of the residents placed on it come from a seat.
    """
    grid = demand.geometry.to_crs(crs)
    ship = shipped.geometry.to_crs(crs)
    bandwidth = BANDWIDTH_KM * 1000.0
    pairs = cKDTree(np.column_stack([grid.x, grid.y])).sparse_distance_matrix(
        cKDTree(np.column_stack([ship.x, ship.y])), 3 * bandwidth, output_type="ndarray"
    )
    weight = np.exp(-0.5 * (pairs["v"] / bandwidth) ** 2) * shipped["population"].to_numpy(dtype=float)[pairs["j"]]
    urban = shipped["urban"].to_numpy(dtype=bool)[pairs["j"]]
    from_seats = np.bincount(pairs["i"], weights=np.where(urban, weight, 0.0), minlength=len(demand))
    total = np.bincount(pairs["i"], weights=weight, minlength=len(demand))
    return (total > 0) & (2 * from_seats >= total)


def build_candidates(shipped_sites: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, lattice: int) -> gpd.GeoDataFrame:
    """The shipped sites plus the populated grid points on the lattice."""
    parts = demand["demand_id"].str.rsplit("-", n=2, expand=True)
    ix, iy = parts[1].astype(int), parts[2].astype(int)
    on = (demand["kind"] == "grid") & (ix % lattice == 0) & (iy % lattice == 0) & (demand["population"] > 0)
    grid = demand.loc[on, ["demand_id", "unit_id", "county_id", "geometry"]].rename(columns={"demand_id": "site_id"})
    grid["kind"] = "grid"
    grid["name"] = "grid " + grid["site_id"]
    sites = pd.concat([shipped_sites, grid[shipped_sites.columns]], ignore_index=True)
    return gpd.GeoDataFrame(sites, geometry="geometry", crs=shipped_sites.crs)


def build(out: Path, cell_km: float = 1.0, lattice: int = 5) -> dict:
    """Write the gridded GeoPackage; return row counts, sizes and seconds."""
    t0 = time.perf_counter()
    units = gpd.read_file(SHIPPED, layer="admin_units")
    shipped = gpd.read_file(SHIPPED, layer="demand")
    demand = build_grid_demand(units, shipped, cell_km, scenario_crs())
    sites = build_candidates(gpd.read_file(SHIPPED, layer="candidates"), demand, lattice)
    # the census totals survive: every county's and every age group's
    counties = units[units["level"].isin(COUNTY_LEVELS)].set_index("unit_id")
    sums = demand.groupby("unit_id")[["population", *AGE_GROUPS]].sum()
    expected = counties[["population", *AGE_GROUPS]].astype(np.int64).loc[sums.index]
    assert len(sums) == len(counties) and (sums == expected).all().all(), "census totals changed"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    units.to_file(tmp, layer="admin_units", driver="GPKG")
    demand.to_file(tmp, layer="demand", driver="GPKG")
    sites.to_file(tmp, layer="candidates", driver="GPKG")
    gpd.read_file(SHIPPED, layer="facilities").to_file(tmp, layer="facilities", driver="GPKG")
    tmp.replace(out)
    return {
        "out": str(out),
        "cell_km": cell_km,
        "lattice_km": lattice * cell_km,
        "demand_points": len(demand),
        "demand_by_kind": demand["kind"].value_counts().to_dict(),
        "urban_points": int(demand["urban"].sum()),
        "urban_population": int(demand.loc[demand["urban"], "population"].sum()),
        "zero_population_points": int((demand["population"] == 0).sum()),
        "population": int(demand["population"].sum()),
        "candidates": len(sites),
        "candidates_by_kind": sites["kind"].value_counts().to_dict(),
        "megabytes": round(out.stat().st_size / 1e6, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: build the grid GeoPackage and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoPackage to write")
    parser.add_argument("--cell-km", type=float, default=1.0, help="grid cell size in km")
    parser.add_argument("--lattice", type=int, default=5, help="every n-th grid column and row is a candidate")
    args = parser.parse_args(argv)
    print(json.dumps(build(args.out, args.cell_km, args.lattice), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
