"""``regionopt bench`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer.bench.runner import run_cap
from optimizer.cli.main import main

DATA = Path(__file__).parent / "data" / "orlib"
KEYS = {"instance", "objective", "optimum", "status", "gap", "seconds", "peak_mb"}


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_pmed_json(solver):
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "orlib-pmed",
            str(DATA / "pmed1.txt"),
            "--json",
            "--solver",
            solver,
            "--optima",
            str(DATA / "pmed_optimal.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = _json_lines(result.output)
    assert set(row) >= KEYS
    assert row["instance"] == "pmed1"
    assert row["objective"] == 5819 and row["optimum"] == 5819 and row["match"] is True
    assert row["status"] == "optimal" and row["gap"] == 0
    assert row["solver"] == solver
    assert row["seconds"] > 0 and row["peak_mb"] >= 0


def test_cap_json_both_problems():
    args = [
        "bench",
        "orlib-cap",
        str(DATA / "cap71.txt"),
        str(DATA / "cap41.txt"),
        "--json",
        "--optima",
        str(DATA / "cap_optimal.csv"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert [r["instance"] for r in rows] == ["cap71", "cap41"]
    assert rows[0]["objective"] == pytest.approx(932615.75, abs=1e-3) and rows[0]["optimum"] == 932615.75
    assert rows[1]["objective"] == pytest.approx(1040444.375, abs=1e-3) and rows[1]["optimum"] == 1040444.375
    assert all(r["problem"] == "capacitated" and r["status"] == "optimal" for r in rows)
    result = CliRunner().invoke(
        main, args[:3] + ["--uncapacitated", "--json", "--optima", str(DATA / "cap_optimal.csv")]
    )
    (row,) = _json_lines(result.output)
    assert row["problem"] == "uncapacitated" and row["match"] is True


def test_table_output_and_mismatch_exit_code(tmp_path):
    wrong = tmp_path / "opt.csv"
    wrong.write_text("instance,n,p,optimal\npmed1,100,5,5818\n")
    result = CliRunner().invoke(main, ["bench", "orlib-pmed", str(DATA / "pmed1.txt"), "--optima", str(wrong)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["instance", "objective", "optimum", "status", "gap", "seconds", "peak_mb"]
    assert lines[1].split()[:4] == ["pmed1", "5819", "5818", "optimal"] and "MISMATCH" in lines[1]
    assert "0/1 equal to the known optimum" in lines[-1]


def test_capacity_word_needs_capacity(tmp_path):
    capx = tmp_path / "capx.txt"
    capx.write_text("1 2\ncapacity 10.\n5 1\n5 2\n")
    result = CliRunner().invoke(main, ["bench", "orlib-cap", str(capx)])
    assert result.exit_code == 2
    assert "is the word 'capacity'" in result.output
    result = CliRunner().invoke(
        main, ["bench", "orlib-cap", str(capx), "--capacity", "10", "--capacity", "4", "--json"]
    )
    rows = _json_lines(result.output)
    assert [r["instance"] for r in rows] == ["capx(10)", "capx(4)"]
    assert rows[0]["objective"] == pytest.approx(13.0)  # fixed 10 + costs 1 + 2
    assert rows[1]["status"] == "infeasible" and rows[1]["objective"] is None


def test_sjc_command(tmp_path):
    sjc = tmp_path / "SJC4.txt"
    sjc.write_bytes(b"4\t9999\tp\tS\r\n0\t0\t5\t\r\n100\t0\t3\t\r\n1000\t0\t4\t\r\n1000\t150\t1\t\r\n")
    opt = tmp_path / "opt.csv"
    opt.write_text("instance,n,total_demand,S,p,covered_demand\nSJC4,4,13,200,1,8\n")
    result = CliRunner().invoke(
        main, ["bench", "sjc", str(sjc), "--p", "1", "--radius", "200", "--json", "--optima", str(opt)]
    )
    assert result.exit_code == 0, result.output
    (row,) = _json_lines(result.output)
    assert row["instance"] == "SJC4(p=1,S=200)"
    assert row["objective"] == 8 and row["optimum"] == 8 and row["match"] is True


def test_python_runner_api():
    row = run_cap(DATA / "cap71.txt", uncapacitated=True, solver="cbc", optima=DATA / "cap_optimal.csv")
    assert row["match"] is True and row["solver"] == "cbc"
