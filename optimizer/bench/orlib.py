"""Readers for published facility-location benchmark files.

Three formats, all plain whitespace-separated text:

``pmed``  OR-Library uncapacitated p-median (Beasley 1985): ``n m p`` then ``m``
          edges ``i j cost`` (1-based, undirected). Distances are all-pairs
          shortest paths after reading the edges in turn, so **the last
          occurrence of a duplicated edge wins** (OR-Library's own rule; taking
          the minimum of parallel edges gives different optima).
``cap``   OR-Library warehouse location (Beasley 1988, 1993): ``m n``, ``m`` ×
          (capacity, fixed cost), then per customer its demand and the ``m``
          costs of serving *all* of it from each warehouse. Read as a token
          stream — line breaks are not significant. In capa/capb/capc every
          capacity is the literal word ``capacity``; the benchmark variant
          supplies the number.
``sjc``   São José dos Campos MCLP data (Lorena & Pereira 2002): a header
          ``n 9999 p S`` then ``n`` lines ``x y demand`` (CRLF, tabs).

Every reader validates counts and tokens and raises
:class:`~optimizer.errors.InputError` naming the file and the token or line at
fault, so any file in these formats — not only the published ones — is read
correctly or rejected with a clear message.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd
from scipy.sparse import csgraph, csr_array

from ..errors import InputError

__all__ = ["CapInstance", "lookup_optimum", "read_cap", "read_optima", "read_pmed", "read_sjc"]

PathType = str | PathLike[str]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _format_hint(hint: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Give every :class:`InputError` a reader raises without a hint of its own ``hint`` (the file format)."""

    def decorate(read: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(read)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return read(*args, **kwargs)
            except InputError as exc:
                if exc.hint is None:
                    exc.hint = hint
                raise

        return wrapper

    return decorate


def _read_text(path: PathType) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError("file not found", file=path, hint="check the path") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not a text file ({exc.reason} at byte {exc.start})",
            file=path,
            hint="give the benchmark file as the plain text published (unzipped)",
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read file: {exc.strerror}", file=path, hint="check the path and the file's permissions"
        ) from None


def _number(token: str, path: PathType, position: int, what: str, *, integer: bool = False) -> float:
    """Parse one token; ``position`` is 1-based in the file's token stream."""
    try:
        value = float(token)
    except ValueError:
        raise InputError(f"token {position} ({token!r}) is not a number; expected {what}", file=path) from None
    if not math.isfinite(value):
        raise InputError(f"token {position} ({token!r}) is not finite; expected {what}", file=path)
    if integer and value != int(value):
        raise InputError(f"token {position} ({token!r}) is not an integer; expected {what}", file=path)
    return value


def _numbers(tokens: list[str], start: int, path: PathType, what: str) -> np.ndarray:
    """Bulk-parse ``tokens`` (stream positions ``start``, ``start + 1`` …) as floats.

    The fast path converts everything at once; only on failure do we walk the
    tokens to name the first bad one.
    """
    try:
        values = np.array(tokens, dtype=float)
    except ValueError:
        for k, tok in enumerate(tokens):
            _number(tok, path, start + k, what)
        raise  # pragma: no cover - the loop above always raises
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.argmax(bad))
        raise InputError(f"token {start + k} ({tokens[k]!r}) is not finite; expected {what}", file=path)
    return values


# --------------------------------------------------------------------------- pmed


@_format_hint(
    "an OR-Library p-median file holds 'n m p', then m edges 'i j cost' (vertices 1..n), "
    "separated by spaces or line breaks"
)
def read_pmed(path: PathType) -> tuple[int, int, np.ndarray]:
    """Read an OR-Library p-median file and derive its distance matrix.

    Parameters
    ----------
    path
        A ``pmedN.txt`` file: ``n m p`` then ``m`` lines ``i j cost``.

    Returns
    -------
    n, p, distance_matrix
        ``distance_matrix`` is ``(n, n)`` float: shortest-path distances on the
        undirected graph in which a duplicated edge keeps the cost of its
        **last** occurrence (OR-Library's rule). Every vertex is both a client
        of weight 1 and a candidate site.

    Raises
    ------
    InputError
        On a malformed header or edge, a vertex out of ``1..n``, a negative
        cost, a token count that does not match ``m``, ``p`` outside ``1..n``,
        or a disconnected graph (some distance would be infinite).

    Notes
    -----
    Self-loops ``i i cost`` are ignored: a client's distance to a facility at
    its own vertex is 0 whatever the file says.
    """

    tokens = _read_text(path).split()
    if len(tokens) < 3:
        raise InputError(f"expected a header 'n m p', found {len(tokens)} token(s)", file=path)
    n = int(_number(tokens[0], path, 1, "the number of vertices n", integer=True))
    m = int(_number(tokens[1], path, 2, "the number of edges m", integer=True))
    p = int(_number(tokens[2], path, 3, "the number of medians p", integer=True))
    if n < 1:
        raise InputError(f"number of vertices n must be at least 1, got {n}", file=path)
    if m < 0:
        raise InputError(f"number of edges m must be non-negative, got {m}", file=path)
    if not 1 <= p <= n:
        raise InputError(f"number of medians p must be in 1..{n}, got {p}", file=path)
    body = tokens[3:]
    if len(body) != 3 * m:
        raise InputError(
            f"header says {m} edges (= {3 * m} numbers after the header) but the file has {len(body)} numbers after it",
            file=path,
        )
    values = _numbers(body, 4, path, "an edge 'i j cost'").reshape(m, 3) if m else np.empty((0, 3))
    ends = values[:, :2]
    bad = (ends != np.round(ends)) | (ends < 1) | (ends > n)
    if bad.any():
        k = int(np.argmax(bad.ravel()))
        raise InputError(
            f"token {4 + (k // 2) * 3 + k % 2} ({body[(k // 2) * 3 + k % 2]!r}, edge {k // 2 + 1}) is not a "
            f"vertex number in 1..{n}",
            file=path,
        )
    cost = values[:, 2]
    if (cost < 0).any():
        k = int(np.argmax(cost < 0))
        raise InputError(f"token {4 + 3 * k + 2} (edge {k + 1}) has negative cost {cost[k]:g}", file=path)
    i = ends[:, 0].astype(np.int64) - 1
    j = ends[:, 1].astype(np.int64) - 1
    keep = i != j
    i, j, cost = i[keep], j[keep], cost[keep]
    # Last occurrence wins: unique over the reversed edge list keeps the first
    # hit, i.e. the last edge in file order, for each unordered pair.
    key = np.minimum(i, j) * n + np.maximum(i, j)
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - first_in_reversed
    a, b, c = np.minimum(i, j)[last], np.maximum(i, j)[last], cost[last]
    # csgraph ignores explicitly stored zeros only for dense input; a sparse
    # graph keeps zero-cost edges as edges.
    graph = csr_array((np.concatenate([c, c]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    # Connectivity first: it is cheap, and a header claiming many vertices
    # without edges must not allocate the n x n distance matrix.
    _, labels = csgraph.connected_components(graph, directed=False)
    if (labels != labels[0]).any():
        unreachable = int(np.argmax(labels != labels[0])) + 1
        raise InputError(
            f"the graph is not connected (vertex {unreachable} cannot be reached from vertex 1), "
            "so some distances are infinite",
            file=path,
            hint="every vertex must be reachable along the edges; check that no edge line is missing",
        )
    dist = csgraph.shortest_path(graph, method="D", directed=False)
    return n, p, dist


# --------------------------------------------------------------------------- cap


@dataclass(frozen=True)
class CapInstance:
    """An OR-Library warehouse-location instance.

    Attributes
    ----------
    name
        The file's stem, e.g. ``"cap41"``.
    capacities
        ``(m,)`` warehouse capacities (``inf`` when read with
        ``capacity=math.inf``).
    fixed_costs
        ``(m,)`` fixed opening costs.
    demand
        ``(n,)`` customer demands.
    costs
        ``(n, m)`` — customers × warehouses, the orientation of a spopt cost
        matrix — cost of serving **all** of customer ``j``'s demand from
        warehouse ``i`` (OR-Library's ``c_ij``; not per unit of demand).
    capacity_word
        Whether the file's capacity fields were the word ``capacity`` (so
        ``capacity=`` chose the variant).
    """

    name: str
    capacities: np.ndarray
    fixed_costs: np.ndarray
    demand: np.ndarray
    costs: np.ndarray
    capacity_word: bool = False

    @property
    def m(self) -> int:
        """Number of warehouses (candidate sites)."""
        return len(self.fixed_costs)

    @property
    def n(self) -> int:
        """Number of customers."""
        return len(self.demand)


@_format_hint(
    "an OR-Library warehouse file holds 'm n', m pairs 'capacity fixed_cost', then per customer its "
    "demand and m costs, separated by spaces or line breaks"
)
def read_cap(path: PathType, capacity: float | None = None) -> CapInstance:
    """Read an OR-Library capacitated / uncapacitated warehouse-location file.

    Parameters
    ----------
    path
        A ``capXX.txt`` / ``capa.txt`` file, parsed as a token stream.
    capacity
        The number to use wherever a capacity field is the literal word
        ``capacity`` (capa/capb/capc: one file, four capacitated variants).
        ``math.inf`` reads the file for the uncapacitated problem. Numeric
        capacity fields are kept as they are.

    Returns
    -------
    CapInstance

    Raises
    ------
    InputError
        On a malformed header or token, a wrong token count, negative data, or
        the word ``capacity`` without ``capacity=``.
    """
    path = Path(path)
    tokens = _read_text(path).split()
    if len(tokens) < 2:
        raise InputError(f"expected a header 'm n', found {len(tokens)} token(s)", file=path)
    m = int(_number(tokens[0], path, 1, "the number of warehouses m", integer=True))
    n = int(_number(tokens[1], path, 2, "the number of customers n", integer=True))
    if m < 1 or n < 1:
        raise InputError(f"need at least one warehouse and one customer, header says m={m}, n={n}", file=path)
    expected = 2 + 2 * m + n * (1 + m)
    if len(tokens) != expected:
        raise InputError(
            f"header 'm={m} n={n}' needs {expected} tokens (2 + 2m + n(1 + m)) but the file has {len(tokens)}",
            file=path,
        )
    head = tokens[2 : 2 + 2 * m]
    cap_tokens = head[0::2]
    capacities = np.empty(m)
    word = False
    for k, tok in enumerate(cap_tokens):
        position = 3 + 2 * k
        if tok.lower() == "capacity":
            if capacity is None:
                raise InputError(
                    f"token {position} (warehouse {k + 1}'s capacity) is the word 'capacity'",
                    file=path,
                    hint="this file leaves the capacity to the test: pass capacity=N (CLI: --capacity N), "
                    "or --uncapacitated",
                )
            capacities[k] = capacity
            word = True
        else:
            capacities[k] = _number(tok, path, position, f"warehouse {k + 1}'s capacity")
    fixed = np.array([_number(t, path, 4 + 2 * k, f"warehouse {k + 1}'s fixed cost") for k, t in enumerate(head[1::2])])
    rest = tokens[2 + 2 * m :]
    start = 3 + 2 * m
    values = _numbers(rest, start, path, "a customer's demand or cost").reshape(n, 1 + m)
    demand = values[:, 0].copy()
    costs = values[:, 1:].copy()
    # Stream positions of each value, to name the first negative one.
    k_m, k_n = np.arange(m), np.arange(n)
    positions = (
        (capacities, 3 + 2 * k_m, "capacity", [f"warehouse {k + 1}" for k in k_m]),
        (fixed, 4 + 2 * k_m, "fixed cost", [f"warehouse {k + 1}" for k in k_m]),
        (demand, start + (1 + m) * k_n, "demand", [f"customer {j + 1}" for j in k_n]),
    )
    for arr, pos, what, owner in positions:
        if (arr < 0).any():
            k = int(np.argmax(arr < 0))
            raise InputError(f"token {pos[k]} has negative {what} {arr[k]:g} ({owner[k]})", file=path)
    if (costs < 0).any():
        j, i = np.unravel_index(int(np.argmax(costs.ravel() < 0)), costs.shape)
        raise InputError(
            f"token {start + (1 + m) * j + 1 + i} has negative cost {costs[j, i]:g} "
            f"(customer {j + 1}, warehouse {i + 1})",
            file=path,
        )
    return CapInstance(path.stem, capacities, fixed, demand, costs, word)


# --------------------------------------------------------------------------- sjc


@_format_hint("an SJC file holds a header line 'n 9999 p S', then n lines 'x y demand'")
def read_sjc(path: PathType) -> tuple[np.ndarray, np.ndarray]:
    """Read a São José dos Campos MCLP file.

    Parameters
    ----------
    path
        ``SJCnnn.txt``: a header line whose first token is the number of nodes
        ``n`` (the others, ``9999 p S``, are placeholders and ignored), then
        ``n`` lines ``x y demand``. CRLF and tabs are fine.

    Returns
    -------
    xy, demand
        ``(n, 2)`` planar coordinates in metres and ``(n,)`` demand.
    """
    lines = _read_text(path).splitlines()
    if not lines or not lines[0].split():
        raise InputError("expected a header line 'n 9999 p S', the file is empty", file=path)
    header = lines[0].split()
    n = int(_number(header[0], path, 1, "the number of nodes n", integer=True))
    if n < 1:
        raise InputError(f"number of nodes must be at least 1, got {n}", file=path)
    rows = [(k + 2, line.split()) for k, line in enumerate(lines[1:]) if line.strip()]
    if len(rows) != n:
        raise InputError(f"header says {n} nodes but the file has {len(rows)} data lines", file=path)
    for lineno, parts in rows:
        if len(parts) != 3:
            raise InputError(f"line {lineno} has {len(parts)} fields, expected 3 ('x y demand')", file=path)
        for k, tok in enumerate(parts):
            try:
                v = float(tok)
            except ValueError:
                raise InputError(
                    f"line {lineno} field {k + 1} ({tok!r}) is not a number; expected {('x', 'y', 'demand')[k]}",
                    file=path,
                ) from None
            if not math.isfinite(v) or (k == 2 and v < 0):
                raise InputError(
                    f"line {lineno} field {k + 1} ({tok!r}) must be finite" + (" and non-negative" if k == 2 else ""),
                    file=path,
                )
    data = np.array([parts for _, parts in rows], dtype=float)
    return data[:, :2].copy(), data[:, 2].copy()


# --------------------------------------------------------------------------- optima


@_format_hint("an optima table is a CSV with the columns 'instance' and 'optimal', one row per instance")
def read_optima(path: PathType) -> pd.DataFrame:
    """Read a table of published (or reference) optimal values.

    Parameters
    ----------
    path
        CSV with at least ``instance`` and a value column named ``optimal``
        (OR-Library tables) or ``covered_demand`` (``mclp/self_computed.csv``,
        renamed to ``optimal``). Optional ``problem`` and ``capacity`` columns
        tell apart the variants of one instance file (cap files); ``p`` and
        ``S`` those of an MCLP file.

    Returns
    -------
    pandas.DataFrame
        With columns ``instance`` (str), ``optimal`` (float) and any others
        the file has.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("file not found", file=path, hint="check the path") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV table ({exc})", file=path) from None
    except OSError as exc:  # a folder, no permission
        raise InputError(
            f"cannot read file: {exc.strerror}", file=path, hint="check the path and the file's permissions"
        ) from None
    if "optimal" not in df.columns and "covered_demand" in df.columns:
        df = df.rename(columns={"covered_demand": "optimal"})
    missing = [c for c in ("instance", "optimal") if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}",
            file=path,
            hint="an optima table needs 'instance' and 'optimal' columns",
        )
    df["instance"] = df["instance"].astype(str).str.strip()
    values = pd.to_numeric(df["optimal"], errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax()) + 1
        raw = df["optimal"].iloc[row - 1]
        what = "is missing" if pd.isna(raw) else f"{raw!r} is not a number"
        raise InputError(f"value {what}", file=path, row=row, field="optimal")
    df["optimal"] = values.astype(float)
    return df


def lookup_optimum(
    optima: pd.DataFrame,
    instance: str,
    *,
    problem: str | None = None,
    capacity: float | None = None,
    p: int | None = None,
    radius: float | None = None,
) -> float | None:
    """The optimum of one benchmark variant, or ``None`` when the table has none.

    Rows are matched by ``instance`` and, when the table has those columns, by
    ``problem`` (``capacitated`` / ``uncapacitated``), ``capacity`` (blank in
    the table matches only ``capacity=None``), ``p`` and ``S`` (= ``radius``).
    """
    rows = optima[optima["instance"] == instance]
    if problem is not None and "problem" in rows.columns:
        rows = rows[rows["problem"].astype(str) == problem]
    if "capacity" in rows.columns:
        caps = pd.to_numeric(rows["capacity"], errors="coerce")
        if capacity is None or not math.isfinite(capacity):
            rows = rows[caps.isna()]
        else:
            rows = rows[np.isclose(caps.fillna(np.nan), capacity)]
    if p is not None and "p" in rows.columns:
        rows = rows[pd.to_numeric(rows["p"], errors="coerce") == p]
    if radius is not None and "S" in rows.columns:
        rows = rows[np.isclose(pd.to_numeric(rows["S"], errors="coerce"), radius)]
    if len(rows) != 1:
        return None
    return float(rows["optimal"].iloc[0])
