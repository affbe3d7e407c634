"""Benchmark-file readers, and the published optima of the small copies in tests/data/orlib."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optimizer.bench.orlib import (
    lookup_optimum,
    read_cap,
    read_optima,
    read_pmed,
    read_sjc,
)
from optimizer.errors import InputError
from optimizer.locate.cflp import CFLP
from optimizer.locate.p_median import PMedian

DATA = Path(__file__).parent / "data" / "orlib"


def _write(tmp_path, name: str, text: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


# --------------------------------------------------------------------------- pmed


def test_pmed_last_duplicate_edge_wins(tmp_path):
    # Edge 1-2 first costs 5, later 9 (written as 2 1): last wins, so d(1,2) = 9,
    # not min(5, 9) = 5; the detour 1-3-2 costs 20 + 1.
    path = _write(tmp_path, "tiny.txt", " 3 4 1\n 1 2 5\n 2 3 1\n 1 3 20\n 2 1 9\n")
    n, p, d = read_pmed(path)
    assert (n, p) == (3, 1)
    assert d.tolist() == [[0, 9, 10], [9, 0, 1], [10, 1, 0]]


def test_pmed_zero_cost_edges_and_self_loops(tmp_path):
    path = _write(tmp_path, "z.txt", "3 3 2\n1 2 0\n2 3 4\n3 3 7\n")
    _, _, d = read_pmed(path)
    assert d.tolist() == [[0, 0, 4], [0, 0, 4], [4, 4, 0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3 2 1\n1 2 5\n", r"header says 2 edges \(= 6 numbers after the header\) but the file has 3"),
        ("3 1 1\n1 4 5\n", r"token 5 \('4', edge 1\) is not a vertex number in 1\.\.3"),
        ("3 1 1\n1 x 5\n", r"token 5 \('x'\) is not a number; expected an edge 'i j cost'"),
        ("3 1 1\n1 2 -5\n", r"token 6 \(edge 1\) has negative cost -5"),
        ("3 1 4\n1 2 5\n", r"number of medians p must be in 1\.\.3, got 4"),
        ("3 1 1\n1 2 5\n", r"the graph is not connected \(vertex 3 cannot be reached from vertex 1\)"),
        ("3 1\n", r"expected a header 'n m p', found 2 token\(s\)"),
        ("3.5 1 1\n1 2 5\n", r"token 1 \('3.5'\) is not an integer"),
    ],
)
def test_pmed_malformed(tmp_path, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError, match=message) as info:
        read_pmed(path)
    assert str(info.value).startswith(str(path) + ": ")


def test_pmed_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_pmed(tmp_path / "nope.txt")


def test_pmed1_published_optimum_highs_and_cbc():
    n, p, d = read_pmed(DATA / "pmed1.txt")
    assert (n, p) == (100, 5)
    for solver in ("highs", "cbc"):
        model = PMedian.from_cost_matrix(d, np.ones(n), p).solve(solver)
        assert model.status == "optimal"
        assert model.objective == 5819
    # The unreduced radius formulation reaches it too.
    assert PMedian.from_cost_matrix(d, np.ones(n), p, reduce=False).solve().objective == 5819


# --------------------------------------------------------------------------- cap


CAP_TEXT = """2 3
 capacity 100.
 capacity 50.
 10 1.5 2.5
 20
 3 4
 30 5 6
"""


def test_cap_token_stream_and_capacity_word(tmp_path):
    path = _write(tmp_path, "capx.txt", CAP_TEXT)
    with pytest.raises(InputError, match=r"token 3 \(warehouse 1's capacity\) is the word 'capacity'.*--capacity N"):
        read_cap(path)
    inst = read_cap(path, capacity=40)
    assert inst.name == "capx" and (inst.m, inst.n) == (2, 3)
    assert inst.capacities.tolist() == [40, 40] and inst.capacity_word
    assert inst.fixed_costs.tolist() == [100, 50]
    assert inst.demand.tolist() == [10, 20, 30]
    # costs are customers x warehouses: the m numbers after each demand.
    assert inst.costs.tolist() == [[1.5, 2.5], [3, 4], [5, 6]]
    assert np.isinf(read_cap(path, capacity=math.inf).capacities).all()


def test_cap_numeric_capacities_are_kept(tmp_path):
    path = _write(tmp_path, "capn.txt", "1 1\n7 3.\n2 9\n", newline="\r\n")
    inst = read_cap(path, capacity=99)
    assert inst.capacities.tolist() == [7] and not inst.capacity_word


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2 3\n1 1\n1 1\n", r"header 'm=2 n=3' needs 15 tokens \(2 \+ 2m \+ n\(1 \+ m\)\) but the file has 6"),
        ("1 1\n5 abc\n2 9\n", r"token 4 \('abc'\) is not a number; expected warehouse 1's fixed cost"),
        ("1 1\n5 1\n2 9x\n", r"token 6 \('9x'\) is not a number; expected a customer's demand or cost"),
        ("1 1\nfoo 1\n2 9\n", r"token 3 \('foo'\) is not a number; expected warehouse 1's capacity"),
        ("1 1\n5 1\n-2 9\n", "negative demand"),
        ("0 1\n", "need at least one warehouse and one customer"),
    ],
)
def test_cap_malformed(tmp_path, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError, match=message) as info:
        read_cap(path, capacity=5)
    assert str(path) in str(info.value)


def test_cap71_uncapacitated_and_capacitated():
    for uncap in (True, False):
        inst = read_cap(DATA / "cap71.txt", capacity=math.inf if uncap else None)
        model = CFLP.from_cost_matrix(
            inst.costs, inst.demand, inst.capacities, inst.fixed_costs, uncapacitated=uncap, cost_kind="total"
        ).solve()
        assert model.status == "optimal"
        assert model.objective == pytest.approx(932615.750, abs=1e-3)


def test_cap41_capacitated_split_demand():
    inst = read_cap(DATA / "cap41.txt")
    assert inst.demand.max() > inst.capacities.max()  # single-sourcing would be infeasible
    model = CFLP.from_cost_matrix(inst.costs, inst.demand, inst.capacities, inst.fixed_costs, cost_kind="total").solve(
        "cbc"
    )
    assert model.status == "optimal"
    assert model.objective == pytest.approx(1040444.375, abs=1e-3)
    split = (model.allocation.toarray() > 1e-9).sum(axis=1)
    assert split.max() >= 2  # some customer is served from two warehouses


# --------------------------------------------------------------------------- sjc and optima


def test_sjc_crlf_tabs(tmp_path):
    text = "3\t9999\tp\tS\n409154\t435528\t50\t\n409151\t435683\t4\t\n409277\t435420\t33"
    path = _write(tmp_path, "SJC3.txt", text, newline="\r\n")
    xy, demand = read_sjc(path)
    assert xy.tolist() == [[409154, 435528], [409151, 435683], [409277, 435420]]
    assert demand.tolist() == [50, 4, 33]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3 9999 p S\n1 2 3\n", "header says 3 nodes but the file has 1 data lines"),
        ("1 9999 p S\n1 2\n", r"line 2 has 2 fields, expected 3 \('x y demand'\)"),
        ("1 9999 p S\n1 y 3\n", r"line 2 field 2 \('y'\) is not a number; expected y"),
        ("1 9999 p S\n1 2 -3\n", "must be finite and non-negative"),
        ("", "the file is empty"),
    ],
)
def test_sjc_malformed(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_sjc(_write(tmp_path, "bad.txt", text))


def test_read_optima_and_lookup(tmp_path):
    cap = read_optima(DATA / "cap_optimal.csv")
    assert lookup_optimum(cap, "cap71", problem="uncapacitated") == 932615.75
    assert lookup_optimum(cap, "cap41", problem="capacitated") == 1040444.375
    assert lookup_optimum(cap, "cap41", problem="uncapacitated") is None
    path = _write(
        tmp_path,
        "opt.csv",
        "instance,problem,m,n,capacity,optimal\ncapa,capacitated,1,1,8000,5.5\n"
        "capa,capacitated,1,1,10000,4.5\ncapa,uncapacitated,1,1,,3\n",
    )
    table = read_optima(path)
    assert lookup_optimum(table, "capa", problem="capacitated", capacity=10000) == 4.5
    assert lookup_optimum(table, "capa", problem="uncapacitated") == 3
    sjc = read_optima(_write(tmp_path, "s.csv", "instance,n,total_demand,S,p,covered_demand\nSJC1,3,9,800,2,7\n"))
    assert lookup_optimum(sjc, "SJC1", p=2, radius=800) == 7
    assert lookup_optimum(sjc, "SJC1", p=3, radius=800) is None
    with pytest.raises(InputError, match="missing column"):
        read_optima(_write(tmp_path, "x.csv", "name,value\na,1\n"))
    with pytest.raises(InputError, match=r"row 1, field 'optimal': value 'abc' is not a number"):
        read_optima(_write(tmp_path, "y.csv", "instance,optimal\na,abc\n"))
