"""Travel times on a road network: OpenStreetMap PBF (pyrosm) or a road line layer.

The network is a directed graph whose edges carry minutes (length ÷ speed)
and km. One-way streets are one edge, two-way streets two. Every demand
point and target joins the network at its nearest node (of the largest
strongly connected part, so no point is stranded on a one-way dead end) with
an access leg of straight-line length at ``access_speed_kmh``.

Travel times come from :func:`scipy.sparse.csgraph.dijkstra` bounded by the
largest standard (``limit=``), run from whichever side has fewer distinct
nodes — usually the sites, on the reversed graph, since people travel to the
facility — in batches, so the cost grows with the nodes and pairs reached, not
with demand × sites.

Default speeds per road class (km/h), :data:`DEFAULT_SPEEDS_KMH`: the middle
of the design-speed ranges of the Chinese road standards — JTG B01-2014
*Technical Standard of Highway Engineering* (expressway 高速公路 80–120 km/h)
and CJJ 37-2012 *Code for Design of Urban Road Engineering* (快速路 expressway
60–100, 主干路 arterial 40–60, 次干路 collector 30–50, 支路 local 20–40). OSM
classes are matched to them as in the table in docs/data-format.md; link
roads (ramps) take the speed of the next class down, an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from .._optional import optional_import
from ..errors import InputError
from .base import EMPTY_PAIRS, Impedance, Pairs, Points, _sorted, join_on_keys

__all__ = ["DEFAULT_SPEEDS_KMH", "RoadNetwork", "NetworkImpedance", "read_osm_pbf", "read_road_layer", "read_network"]

DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100.0,  # JTG B01-2014 expressway 80-120
    "trunk": 80.0,  # CJJ 37-2012 urban expressway 60-100
    "primary": 50.0,  # CJJ 37-2012 arterial 40-60
    "secondary": 40.0,  # CJJ 37-2012 collector 30-50
    "tertiary": 30.0,  # CJJ 37-2012 local road 20-40
    "unclassified": 30.0,  # local road 20-40
    "residential": 20.0,  # lower end of the local-road range
    "living_street": 10.0,  # OSM: pedestrian priority, walking pace (assumption)
    "service": 20.0,
    "road": 20.0,
    "motorway_link": 80.0,  # ramps: speed of the next class down (assumption)
    "trunk_link": 50.0,
    "primary_link": 40.0,
    "secondary_link": 30.0,
    "tertiary_link": 30.0,
    "other": 20.0,  # any class not in this table
}

# Nodes of a road line layer are line end points; ends closer than this (metres) are one node.
NODE_SNAP_M = 0.01
# Distances held at once by one Dijkstra batch (sources × nodes), about 160 MB of float64.
_BATCH_CELLS = 20_000_000


@dataclass
class RoadNetwork:
    """A directed road graph in a projected CRS.

    Attributes
    ----------
    node_xy
        ``(n, 2)`` node coordinates in metres (``crs``).
    u, v
        Edge end nodes (directed: travel from ``u`` to ``v``).
    km, minutes
        Length and travel time of each directed edge.
    source
        The file it was read from; ``speeds`` the table used.
    """

    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    km: np.ndarray
    minutes: np.ndarray
    crs: CRS
    source: Path | None = None
    speeds: dict[str, float] | None = None

    def graph(self, weight: str) -> sp.csr_array:
        """Sparse ``n × n`` graph weighted by ``minutes`` or ``km``; parallel edges keep the smallest weight."""
        w = self.minutes if weight == "minutes" else self.km
        n = len(self.node_xy)
        order = np.lexsort((w, self.v, self.u))
        u, v, w = self.u[order], self.v[order], w[order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        # csgraph reads stored zeros as missing edges: a zero-length edge keeps a tiny positive weight.
        w = np.maximum(w[first], 1e-12)
        return sp.csr_array((w, (u[first], v[first])), shape=(n, n))

    def joinable_nodes(self) -> np.ndarray:
        """Nodes of the largest strongly connected part: points join the network there."""
        g = self.graph("km")
        _, labels = connected_components(g, directed=True, connection="strong")
        largest = np.bincount(labels).argmax()
        return np.flatnonzero(labels == largest)


def _speed_of(road_class: pd.Series, maxspeed: pd.Series | None, speeds: dict[str, float]) -> np.ndarray:
    """km/h per edge: the numeric maxspeed tag when allowed and present, else the class's table speed."""
    table = {**DEFAULT_SPEEDS_KMH, **speeds}
    cls = road_class.fillna("other").astype(str)
    out = cls.map(table).fillna(table["other"]).to_numpy(dtype=float)
    if maxspeed is not None:
        text = maxspeed.astype("string")
        number = pd.to_numeric(text.str.extract(r"^\s*(\d+(?:\.\d+)?)", expand=False), errors="coerce")
        mph = text.str.contains("mph", na=False).to_numpy()
        value = number.to_numpy(dtype=float) * np.where(mph, 1.609344, 1.0)
        ok = np.isfinite(value) & (value > 0)
        out = np.where(ok, value, out)
    return out


def _oneway_direction(values: pd.Series | None, n: int) -> np.ndarray:
    """+1 one-way forward, -1 one-way against the drawing direction, 0 both ways (OSM ``oneway`` values)."""
    if values is None:
        return np.zeros(n, dtype=np.int8)
    text = values.astype("string").str.strip().str.lower().fillna("")
    out = np.zeros(n, dtype=np.int8)
    out[text.isin(["yes", "true", "1", "t", "y"]).to_numpy()] = 1
    out[text.isin(["-1", "reverse"]).to_numpy()] = -1
    return out


def _directed(
    u: np.ndarray, v: np.ndarray, km: np.ndarray, minutes: np.ndarray, oneway: np.ndarray
) -> tuple[np.ndarray, ...]:
    fwd = oneway >= 0
    back = oneway <= 0
    return (
        np.concatenate([u[fwd], v[back]]),
        np.concatenate([v[fwd], u[back]]),
        np.concatenate([km[fwd], km[back]]),
        np.concatenate([minutes[fwd], minutes[back]]),
    )


def read_osm_pbf(
    path: str | Path,
    crs: CRS,
    *,
    speeds: dict[str, float] | None = None,
    use_maxspeed: bool = True,
    network_type: str = "driving",
) -> RoadNetwork:
    """The drivable network of an OpenStreetMap PBF file, read with pyrosm.

    Parameters
    ----------
    path
        ``.osm.pbf`` file.
    crs
        Projected CRS to measure in (the region's).
    speeds
        km/h per OSM ``highway`` class, over :data:`DEFAULT_SPEEDS_KMH`.
    use_maxspeed
        Use an edge's numeric ``maxspeed`` tag when it has one.
    """
    pyrosm = optional_import("pyrosm", purpose="reading OSM PBF files")
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "road network file not found",
            file=path,
            field="impedance.path",
            hint="check the path (relative paths are read from the scenario file's folder)",
        )
    try:
        nodes, edges = pyrosm.OSM(str(path)).get_network(network_type=network_type, nodes=True)
    except Exception as exc:  # pyrosm raises bare exceptions on a corrupt file
        raise InputError(
            f"cannot read this file as an OpenStreetMap PBF ({type(exc).__name__})",
            file=path,
            field="impedance.path",
            hint="give an .osm.pbf extract, e.g. from download.geofabrik.de",
        ) from None
    if edges is None or nodes is None or len(edges) == 0:
        raise InputError(
            "the OpenStreetMap file has no drivable roads",
            file=path,
            field="impedance.path",
            hint="give an extract that covers the region's roads",
        )
    node_ids = nodes["id"].to_numpy(dtype=np.int64)
    pos = pd.Index(node_ids)
    u = pos.get_indexer(edges["u"].to_numpy(dtype=np.int64))
    v = pos.get_indexer(edges["v"].to_numpy(dtype=np.int64))
    ok = (u >= 0) & (v >= 0)
    edges = edges[ok]
    u, v = u[ok], v[ok]
    pts = gpd.GeoSeries(gpd.points_from_xy(nodes["lon"], nodes["lat"]), crs="EPSG:4326").to_crs(crs)
    node_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    km = edges.geometry.to_crs(crs).length.to_numpy() / 1000.0
    speed = _speed_of(
        edges["highway"], edges["maxspeed"] if use_maxspeed and "maxspeed" in edges else None, speeds or {}
    )
    minutes = km / speed * 60.0
    oneway = _oneway_direction(edges.get("oneway", None), len(edges))
    u, v, km, minutes = _directed(u, v, km, minutes, oneway)
    return RoadNetwork(
        node_xy, u, v, km, minutes, CRS.from_user_input(crs), path, {**DEFAULT_SPEEDS_KMH, **(speeds or {})}
    )


def read_road_layer(
    path: str | Path,
    crs: CRS,
    *,
    layer: str | None = None,
    columns: dict[str, str] | None = None,
    speeds: dict[str, float] | None = None,
) -> RoadNetwork:
    """A road network from a line layer (GeoPackage, Shapefile, GeoJSON).

    Each line is one road segment between its two end points; lines must be
    split where roads meet (QGIS: Vector ▸ Geometry Tools ▸ Split with
    lines). Columns (renamed with ``columns``, canonical name → column):
    ``speed_kmh`` or ``road_class`` (looked up in the speed table), and
    optionally ``oneway`` (``yes``/``1``/``true`` forward, ``-1`` against the
    drawing direction, anything else both ways).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            "road network file not found",
            file=path,
            field="impedance.path",
            hint="check the path (relative paths are read from the scenario file's folder)",
        )
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise InputError(
            f"cannot read this file as a road line layer ({type(exc).__name__})",
            file=path,
            field="impedance.path",
            hint="give a GeoPackage, Shapefile or GeoJSON of road lines",
        ) from None
    mapping = dict((columns or {}).items())
    gdf = gdf.rename(columns={column: canonical for canonical, column in mapping.items()})
    if gdf.crs is None:
        raise InputError(
            "the road layer has no coordinate reference system (CRS)",
            file=path,
            hint="set the CRS in your GIS (QGIS: Layer ▸ Set CRS)",
        )
    if "speed_kmh" not in gdf and "road_class" not in gdf:
        raise InputError(
            "the road layer has neither a speed_kmh nor a road_class column",
            file=path,
            field="speed_kmh",
            hint="add one, or map yours with impedance.columns, e.g. {road_class: highway}",
        )
    gdf = gdf.explode(index_parts=False)
    bad = ~gdf.geom_type.isin(["LineString"]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise InputError(
            f"geometry is a {gdf.geom_type.iloc[row - 1]}, not a line",
            file=path,
            row=row,
            field="geometry",
            hint="a road layer holds (multi)line strings",
        )
    lines = gdf.geometry.to_crs(crs)
    coords = shapely.get_coordinates(lines.to_numpy())
    counts = shapely.get_num_coordinates(lines.to_numpy())
    starts = np.cumsum(counts) - counts
    ends = np.column_stack([coords[starts], coords[starts + counts - 1]])
    keys = np.round(np.vstack([ends[:, :2], ends[:, 2:]]) / NODE_SNAP_M).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    node_xy = uniq.astype(float) * NODE_SNAP_M
    m = len(gdf)
    u, v = inverse[:m], inverse[m:]
    km = lines.length.to_numpy() / 1000.0
    if "speed_kmh" in gdf:
        speed = pd.to_numeric(gdf["speed_kmh"], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(speed) & (speed > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise InputError(
                f"speed_kmh must be a positive number, got {gdf['speed_kmh'].tolist()[row - 1]!r}",
                file=path,
                row=row,
                field=mapping.get("speed_kmh", "speed_kmh"),
                hint="give the road's speed in km/h",
            )
    else:
        speed = _speed_of(gdf["road_class"], None, speeds or {})
    minutes = km / speed * 60.0
    oneway = _oneway_direction(gdf.get("oneway", None), m)
    u, v, km, minutes = _directed(u, v, km, minutes, oneway)
    return RoadNetwork(
        node_xy,
        u,
        v,
        km,
        minutes,
        CRS.from_user_input(crs),
        path,
        {**DEFAULT_SPEEDS_KMH, **(speeds or {})} if "speed_kmh" not in gdf else None,
    )


def read_network(
    path: str | Path,
    crs: CRS,
    *,
    layer: str | None = None,
    columns: dict[str, str] | None = None,
    speeds: dict[str, float] | None = None,
    use_maxspeed: bool = True,
) -> RoadNetwork:
    """OSM PBF (``.pbf``) via :func:`read_osm_pbf`, anything else as a line layer via :func:`read_road_layer`."""
    if str(path).lower().endswith(".pbf"):
        return read_osm_pbf(path, crs, speeds=speeds, use_maxspeed=use_maxspeed)
    return read_road_layer(path, crs, layer=layer, columns=columns, speeds=speeds)


class NetworkImpedance(Impedance):
    """Travel on a :class:`RoadNetwork`, joining each point at its nearest node.

    Parameters
    ----------
    network
        The road graph.
    access_speed_kmh
        Speed of the straight leg between a point and its node (default
        5 km/h, walking).
    """

    kind = "network"

    def __init__(self, network: RoadNetwork, access_speed_kmh: float = 5.0) -> None:
        self.network = network
        self.access_speed_kmh = float(access_speed_kmh)
        self._graphs: dict[str, sp.csr_array] = {}
        self._joinable = network.joinable_nodes()
        self._tree = cKDTree(network.node_xy[self._joinable])

    def describe(self) -> str:
        src = self.network.source.name if self.network.source is not None else "in-memory network"
        return (
            f"road network {src} ({len(self.network.node_xy):,} nodes, {len(self.network.u):,} directed edges; "
            f"access legs at {self.access_speed_kmh:g} km/h)"
        )

    def _graph(self, weight: str, reverse: bool) -> sp.csr_array:
        key = f"{weight}-{reverse}"
        if key not in self._graphs:
            g = self.network.graph(weight)
            self._graphs[key] = sp.csr_array(g.T) if reverse else g
        return self._graphs[key]

    def join(self, points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest joinable node of each point, and the access leg's km and minutes."""
        if len(points) == 0:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        d, i = self._tree.query(points.xy, k=1)
        km = np.asarray(d, float) / 1000.0
        return self._joinable[i].astype(np.int64), km, km / self.access_speed_kmh * 60.0

    def _search(self, weight: str, demand: Points, targets: Points, limit: float) -> tuple[np.ndarray, ...]:
        """(rows, cols, network + access cost) of the pairs whose cost is at most ``limit``."""
        d_node, d_km, d_min = self.join(demand)
        t_node, t_km, t_min = self.join(targets)
        d_leg = d_min if weight == "minutes" else d_km
        t_leg = t_min if weight == "minutes" else t_km
        d_uniq = np.unique(d_node)
        t_uniq = np.unique(t_node)
        from_targets = len(t_uniq) <= len(d_uniq)
        # From targets: search the reversed graph (time from a node *to* the target).
        src, dst = (t_uniq, d_uniq) if from_targets else (d_uniq, t_uniq)
        src_leg_min = self._min_leg(t_node if from_targets else d_node, t_leg if from_targets else d_leg, src)
        graph = self._graph(weight, reverse=from_targets)
        n = graph.shape[0]
        batch = max(1, _BATCH_CELLS // max(n, 1))
        out_s, out_d, out_c = [], [], []
        for start in range(0, len(src), batch):
            idx = src[start : start + batch]
            dist = dijkstra(graph, directed=True, indices=idx, limit=limit)
            sub = dist[:, dst]
            s_i, d_i = np.nonzero(sub <= limit - src_leg_min[start : start + batch, None])
            out_s.append(idx[s_i])
            out_d.append(dst[d_i])
            out_c.append(sub[s_i, d_i])
        if not out_s:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        s_nodes, d_nodes, cost = np.concatenate(out_s), np.concatenate(out_d), np.concatenate(out_c)
        t_nodes_of_pair, dm_nodes_of_pair = (s_nodes, d_nodes) if from_targets else (d_nodes, s_nodes)
        # Node pairs -> point pairs: every target at the target node with every demand point at the demand node.
        p, c = join_on_keys(t_nodes_of_pair, t_node)
        q, r = join_on_keys(dm_nodes_of_pair[p], d_node)
        cols, rows = c[q], r
        total = cost[p][q] + d_leg[rows] + t_leg[cols]
        return rows, cols, total

    @staticmethod
    def _min_leg(nodes: np.ndarray, legs: np.ndarray, uniq: np.ndarray) -> np.ndarray:
        """Shortest access leg among the points at each node of ``uniq`` (bounds what may still be reached)."""
        best = np.full(len(uniq), np.inf)
        np.minimum.at(best, np.searchsorted(uniq, nodes), legs)
        return best

    def pairs(
        self, demand: Points, targets: Points, minutes: np.ndarray | None = None, km: np.ndarray | None = None
    ) -> Pairs:
        if len(demand) == 0 or len(targets) == 0:
            return EMPTY_PAIRS
        parts = []
        for weight, limits in (("minutes", minutes), ("km", km)):
            if limits is None or not np.isfinite(limits).any():
                continue
            rows, cols, cost = self._search(weight, demand, targets, float(np.nanmax(limits)))
            with np.errstate(invalid="ignore"):
                keep = cost <= limits[rows] + (1e-8 if weight == "minutes" else 1e-6)
            rows, cols, cost = rows[keep], cols[keep], cost[keep]
            nan = np.full(len(rows), np.nan)
            parts.append((rows, cols, cost, nan) if weight == "minutes" else (rows, cols, nan, cost))
        if not parts:
            return EMPTY_PAIRS
        rows, cols, t, d = (np.concatenate(x) for x in zip(*parts, strict=False))
        return _sorted(rows, cols, t, d)

    def nearest_km(self, demand: Points, targets: Points) -> np.ndarray:
        """Network km (plus access legs) to the nearest target: one multi-source search, no limit."""
        return self._nearest("km", demand, targets)

    def nearest_minutes(self, demand: Points, targets: Points) -> np.ndarray:
        """Fastest-route minutes (plus access legs) to the quickest target: one multi-source search, no limit."""
        return self._nearest("minutes", demand, targets)

    def _nearest(self, weight: str, demand: Points, targets: Points) -> np.ndarray:
        if len(targets) == 0 or len(demand) == 0:
            return np.full(len(demand), np.inf)
        d_node, d_km, d_min = self.join(demand)
        t_node, t_km, t_min = self.join(targets)
        d_leg, t_leg = (d_min, t_min) if weight == "minutes" else (d_km, t_km)
        t_uniq = np.unique(t_node)
        graph = self._graph(weight, reverse=True)
        best_leg = self._min_leg(t_node, t_leg, t_uniq)
        n = graph.shape[0]
        # Attach a source node linked to each target node by its access leg; dijkstra from it alone.
        coo = graph.tocoo()
        rows = np.concatenate([coo.row, np.full(len(t_uniq), n)])
        cols = np.concatenate([coo.col, t_uniq])
        data = np.concatenate([coo.data, np.maximum(best_leg, 1e-12)])
        ext = sp.csr_array((data, (rows, cols)), shape=(n + 1, n + 1))
        dist = dijkstra(ext, directed=True, indices=n)
        return dist[d_node] + d_leg
