"""Budget and equity sweeps on Dask: grid options, point hashes, resuming, a dead worker, determinism.

Scenarios are written as files (GeoPackage + YAML) to ``tmp_path`` because
workers load them by path, as they do in real sweeps. The clusters are real:
``LocalCluster`` processes, and for the worker-loss test a ``dask scheduler``
and two ``dask worker`` processes on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from optimizer.cli.main import main
from optimizer.config.schema import BudgetConfig
from optimizer.planning.model import solve_scenario

distributed = pytest.importorskip("distributed")

from toy import X0, Y0, catalogue, facility_type, make_region  # noqa: E402

from optimizer.errors import ConfigError  # noqa: E402
from optimizer.io.atomic import atomic_write  # noqa: E402
from optimizer.scenario import Scenario, load_scenario  # noqa: E402
from optimizer.sweeps.grid import DELAY_ENV, expand_grid, parse_budgets, parse_objectives, parse_weights, point_changes  # noqa: E402
from optimizer.sweeps.points import _cached_scenario, input_digests, point_hash, solve_point  # noqa: E402
from optimizer.sweeps.run import sweep  # noqa: E402
from optimizer.sweeps.table import finalize_table  # noqa: E402

MID = Y0 + 10_000
LAYERS = ("admin_units", "demand", "facilities", "candidates")


# ----------------------------------------------------------------------------- fixtures
def line_region():
    """Five demand points on a line (pop 100..500); an existing clinic at d0; three sites.

    County A holds d0, d1, d2 and site s0; county B (the ``mountain`` group)
    holds d3, d4 and sites s1 (covers d3, d4) and s2 (covers d2, d3).
    """
    demand_xy = [(X0 + 2_000, MID), (X0 + 6_000, MID), (X0 + 15_000, MID), (X0 + 25_000, MID), (X0 + 35_000, MID)]
    sites = [(X0 + 15_000, MID), (X0 + 30_000, MID), (X0 + 20_000, MID)]
    return make_region(demand_xy, [100, 200, 300, 400, 500], sites, existing=[("clinic", X0 + 2_000, MID)])


def random_region(seed: int, n_demand: int = 40, n_sites: int = 18):
    rng = np.random.default_rng(seed)
    demand_xy = rng.random((n_demand, 2)) * [40_000, 20_000] + [X0, Y0]
    site_xy = rng.random((n_sites, 2)) * [40_000, 20_000] + [X0, Y0]
    return make_region(
        demand_xy,
        rng.integers(1, 1000, n_demand),
        site_xy,
        existing=[("clinic", X0 + 5_000, Y0 + 5_000)],
        urban=rng.random(n_demand) < 0.3,
    )


CLINIC = {"family": "health", "cost": 10, "service": {"distance_km": 5}}
SCHOOL = {"family": "education", "cost": 10, "serves": "school_age", "service": {"distance_km": 5}}


def write_scenario(
    folder: Path, region, types: dict, *, budget: float = 10, title: str = "", mip_gap: float = 0.0, **extra
) -> Path:
    """The region as a GeoPackage, a catalogue and a scenario YAML in ``folder``; returns the YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    gpkg = folder / "region.gpkg"
    for layer in LAYERS:
        getattr(region, layer).reset_index().to_file(gpkg, layer=layer)
    (folder / "catalogue.yaml").write_text(yaml.safe_dump({"name": "toy", "facility_types": types}))
    scenario = {
        "name": "toy",
        "title": title,
        "region": {
            "name": "Toy",
            "projected_crs": "EPSG:32651",
            **{layer: {"path": "region.gpkg", "layer": layer} for layer in LAYERS},
        },
        "catalogue": "catalogue.yaml",
        "budget": {"total": budget},
        "solver": {"mip_gap": mip_gap, "time_limit": 60},
        **extra,
    }
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client2():
    """A LocalCluster of two single-threaded worker processes, shared by the tests of this module."""
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


RESULT_COLUMNS = [
    "status",
    "objective_value",
    "covered_total",
    "min_unit_rate",
    "budget_used",
    "new_facilities",
    "hash",
]


# ----------------------------------------------------------------------------- grid options
def test_parse_budgets_ranges_lists_and_mixed():
    assert parse_budgets("1e9:1e10:10") == [i * 1e9 for i in range(1, 11)]
    assert parse_budgets("5e8, 2_000_000_000") == [5e8, 2e9]
    assert parse_budgets("1:2:3,10") == [1.0, 1.5, 2.0, 10.0]
    # float noise from linspace is cleaned, so equal budgets hash equally
    assert parse_budgets("0.1:0.3:3") == [0.1, 0.2, 0.3]
    assert parse_budgets([3e9, 1e9]) == [3e9, 1e9]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("abc", "'abc' is not a number"),
        ("1e9:2e9", "must be start:stop:count"),
        ("1e9:2e9:1", "count must be a whole number of at least 2"),
        ("1e9:2e9:2.5", "count must be a whole number"),
        ("2e9:1e9:3", "stop must be larger than start"),
        ("1e9,-5", "budget -5 must be positive"),
        ("1e9,,2e9", "empty item"),
        ("1e9,1e9", "given twice"),
        ("", "no budgets given"),
        ("nan", "not a finite number"),
    ],
)
def test_malformed_budgets_name_the_option(spec, words):
    with pytest.raises(ConfigError) as err:
        parse_budgets(spec)
    assert err.value.field == "--budgets"
    assert words in str(err.value)


def test_parse_weights_and_objectives():
    assert parse_weights("library=2, museum=0.5") == {"library": 2.0, "museum": 0.5}
    assert parse_weights("scenario") is None
    for bad, words in [
        ("library", "is not type=weight"),
        ("library=x", "is not a number"),
        ("library=-1", "non-negative"),
        ("a=1,a=2", "weighted twice"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_weights(bad)
        assert err.value.field == "--weights" and words in str(err.value)
    assert parse_objectives("coverage, equity") == ["coverage", "equity"]
    with pytest.raises(ConfigError) as err:
        parse_objectives("coverage,equty")
    assert err.value.field == "--objectives" and "did you mean 'equity'" in str(err.value)


def test_expand_grid_order_weights_then_objective_then_budget():
    points = expand_grid("1,2", "coverage,equity", ["scenario", "clinic=2"])
    assert [(p.weights_label, p.objective, p.budget) for p in points] == [
        ("scenario", "coverage", 1.0),
        ("scenario", "coverage", 2.0),
        ("scenario", "equity", 1.0),
        ("scenario", "equity", 2.0),
        ("clinic=2", "coverage", 1.0),
        ("clinic=2", "coverage", 2.0),
        ("clinic=2", "equity", 1.0),
        ("clinic=2", "equity", 2.0),
    ]
    assert [p.index for p in points] == list(range(8))
    assert points[4].weights == (("clinic", 2.0),)


# ----------------------------------------------------------------------------- hashes
def test_point_hash_covers_settings_and_data_but_not_paths(tmp_path):
    path = write_scenario(tmp_path / "a", line_region(), {"clinic": CLINIC})
    base = load_scenario(path)
    digests = input_digests(base)
    assert set(digests) == {"scenario", "catalogue", *(f"region.{layer}" for layer in LAYERS)}
    p10, p20 = expand_grid("10,20", "coverage")
    h10 = point_hash(base.replace(**point_changes(p10, base)), digests)
    h20 = point_hash(base.replace(**point_changes(p20, base)), digests)
    assert len(h10) == 64 and h10 != h20
    assert h10 == point_hash(base.replace(**point_changes(p10, base)), digests)  # stable
    gap = point_hash(base.replace(**point_changes(p10, base, mip_gap=0.01)), digests)
    assert gap != h10
    # The same files in another folder: same hash (a moved project keeps its finished points).
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    other = load_scenario(tmp_path / "b" / "toy.yaml")
    assert point_hash(other.replace(**point_changes(p10, other)), input_digests(other)) == h10
    # Different data (one more person at d4): a different hash for the same settings.
    region = line_region()
    region.demand.loc["d4", "population"] = 501.0
    changed = load_scenario(write_scenario(tmp_path / "c", region, {"clinic": CLINIC}))
    assert point_hash(changed.replace(**point_changes(p10, changed)), input_digests(changed)) != h10


def test_scale_caps_scales_family_caps_with_the_budget(tmp_path):
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC}, budget=20)
    base = load_scenario(path).replace(**{"budget.per_family": {"health": 10}})
    (p,) = expand_grid("40", "coverage")
    assert point_changes(p, base, scale_caps=True)["budget.per_family"] == {"health": 20.0}
    assert "budget.per_family" not in point_changes(p, base)
    assert point_changes(p, base)["solver.threads"] == 1


def test_workers_load_a_scenario_once_and_again_when_a_file_changes(tmp_path):
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC})
    first, digests = _cached_scenario(str(path))
    assert _cached_scenario(str(path))[0] is first
    catalogue_file = tmp_path / "catalogue.yaml"
    catalogue_file.write_text(catalogue_file.read_text().replace("cost: 10", "cost: 12"))
    reloaded, new_digests = _cached_scenario(str(path))
    assert reloaded is not first and reloaded.catalogue["clinic"].cost == 12
    assert new_digests["catalogue"] != digests["catalogue"]


# ----------------------------------------------------------------------------- table logic
def test_monotone_flag_marks_exactly_the_rows_worse_than_a_smaller_budget():
    rows = [
        # maximised objective: 30 is worse than 20's 120 -> flagged; 40 recovers
        {
            "point": 0,
            "budget": 10,
            "objective": "coverage",
            "weights": "s",
            "status": "optimal",
            "objective_value": 100.0,
            "covered_total": 100.0,
        },
        {
            "point": 1,
            "budget": 20,
            "objective": "coverage",
            "weights": "s",
            "status": "optimal",
            "objective_value": 120.0,
            "covered_total": 120.0,
        },
        {
            "point": 2,
            "budget": 30,
            "objective": "coverage",
            "weights": "s",
            "status": "optimal",
            "objective_value": 119.0,
            "covered_total": 119.0,
        },
        {
            "point": 3,
            "budget": 40,
            "objective": "coverage",
            "weights": "s",
            "status": "optimal",
            "objective_value": 121.0,
            "covered_total": 121.0,
        },
        # minimised objective: lower is better
        {
            "point": 4,
            "budget": 10,
            "objective": "access",
            "weights": "s",
            "status": "optimal",
            "objective_value": 50.0,
            "covered_total": 0.0,
        },
        {
            "point": 5,
            "budget": 20,
            "objective": "access",
            "weights": "s",
            "status": "feasible",
            "objective_value": 51.0,
            "covered_total": 0.0,
        },
        {"point": 6, "budget": 30, "objective": "access", "weights": "s", "status": "infeasible"},
    ]
    df = finalize_table(rows)
    assert df["monotone_ok"].tolist() == [True, True, False, True, True, False, pd.NA]
    # The best plan known at 30 is the one for 20 (still affordable); at budget 20 of access, the one for 10.
    assert df["best_budget"].tolist()[:6] == [10, 20, 20, 40, 10, 10]
    assert df["best_covered_total"].tolist()[:4] == [100, 120, 120, 121]
    assert df["covered_total"][2] == 119  # the row keeps its own numbers
    # marginal on the best-known frontier: (120 - 100) people per 10 yuan = 2e8 per 100 million yuan; then 0, 1e7
    assert df["marginal_per_1e8"].iloc[1:4].tolist() == pytest.approx([2e8, 0, 1e7])
    assert np.isnan(df["marginal_per_1e8"].iloc[0]) and np.isnan(df["best_budget"].iloc[6])


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "sweep.csv"
    target.write_text("old\n")

    def broken(path: Path) -> None:
        path.write_text("half a ta")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv"]


# ----------------------------------------------------------------------------- sweeps
def test_line_region_sweep_by_hand(tmp_path):
    """Exact numbers, serial (no Dask): the bookkeeping, not the cluster, is under test here."""
    path = write_scenario(
        tmp_path / "in", line_region(), {"clinic": CLINIC}, title='Line <script>alert("x")</script> & co'
    )
    out = tmp_path / "out"
    df = sweep(path, budgets="10:30:3", objectives="coverage,equity", workers=0, out_dir=out)
    assert df["budget"].tolist() == [10, 20, 30, 10, 20, 30]
    assert df["status"].eq("optimal").all()
    # Budget 10: s1 covers d3+d4 (900) on top of d0+d1 (300); then s0 or s2 adds d2 (300).
    assert df["covered__clinic"].tolist() == [1200, 1500, 1500, 1200, 1500, 1500]
    assert df["covered_total"].tolist() == [1200, 1500, 1500, 1200, 1500, 1500]
    # County A is at 300/600 after budget 10, county B at 900/900; both full after 20.
    assert df["min_unit_rate"].tolist() == pytest.approx([0.5, 1, 1, 0.5, 1, 1])
    assert df["min_unit"].tolist()[:2] == ["A", "A"]
    # mountain = county B: gap = rest rate - group rate
    assert df["gap__mountain"].tolist() == pytest.approx([-0.5, 0, 0, -0.5, 0, 0])
    assert df["budget_used"].tolist() == [10, 20, 20, 10, 20, 20]
    # equity's objective value is the max-min rate
    assert df.loc[df.objective == "equity", "objective_value"].tolist() == pytest.approx([0.5, 1, 1], abs=1e-6)
    # 300 more people for 10 more yuan = 3e9 per 100 million yuan
    assert df["marginal_per_1e8"].tolist()[1:3] == pytest.approx([3e9, 0])
    assert df["monotone_ok"].tolist() == [True] * 6
    assert df["best_budget"].tolist() == df["budget"].tolist()
    assert df.attrs["skipped"] == 0 and df.attrs["solved"] == 6

    # Files: one JSON per point, the table (CSV = Parquet = returned), plots, page.
    points = sorted((out / "points").glob("*.json"))
    assert sorted(p.stem for p in points) == sorted(df["hash"])
    one = json.loads((out / "points" / f"{df['hash'][0]}.json").read_text())
    assert one["row"]["covered_total"] == 1200 and one["chosen_sites"] == [{"site_id": "s1", "facility_type": "clinic"}]
    csv = pd.read_csv(out / "sweep.csv")
    assert csv["covered_total"].tolist() == df["covered_total"].tolist()
    assert csv["hash"].tolist() == df["hash"].tolist()
    parquet = pd.read_parquet(out / "sweep.parquet")
    assert parquet["min_unit_rate"].tolist() == pytest.approx(df["min_unit_rate"].tolist())
    for png in ("frontier.png", "equity_efficiency.png", "marginal.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == 3
    assert not list(out.glob(".*tmp"))

    # A rerun solves nothing and gives the same table.
    again = sweep(path, budgets="10:30:3", objectives="coverage,equity", workers=0, out_dir=out)
    assert again.attrs["skipped"] == 6 and again.attrs["solved"] == 0
    pd.testing.assert_frame_equal(
        again.drop(columns=["seconds", "solve_seconds"]), df.drop(columns=["seconds", "solve_seconds"])
    )


def test_weight_sets_change_the_plan(tmp_path):
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC, "school": SCHOOL})
    df = sweep(path, budgets="10", objectives="coverage", weights=["scenario", "school=20"], workers=0, write=False)
    assert df["weights"].tolist() == ["scenario", "school=20"]
    # Equal weights: the clinic at s1 (900 people) beats a school there (90 pupils).
    assert df["covered__clinic"].tolist() == [1200, 300]
    # School weighted 20: 90 pupils x 20 = 1800 beats 900.
    assert df["covered__school"].tolist() == [0, 90]


def test_infeasible_points_are_results_and_worker_data_mismatch_is_an_error(tmp_path):
    # Every county must have a clinic and a school: A lacks a school, B both -> 3 x 10 yuan.
    standards = {"mode": "hard", "levels": {"county": {"required": ["clinic", "school"]}}}
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC, "school": SCHOOL}, budget=30, standards=standards)
    df = sweep(path, budgets="10,30", objectives="coverage", workers=0, out_dir=tmp_path / "out", plots=False)
    assert df["status"].tolist() == ["infeasible", "optimal"]
    assert "no plan" in df["message"][0]
    assert df["budget_used"].tolist()[1] == 30 and np.isnan(df["covered_total"][0])
    assert df["monotone_ok"].tolist() == [pd.NA, True]
    # A proven infeasibility is a finished point, too.
    again = sweep(path, budgets="10,30", objectives="coverage", workers=0, out_dir=tmp_path / "out", plots=False)
    assert again.attrs["skipped"] == 2
    # A worker that sees other files than the client refuses, and the point is not kept.
    rec = solve_point(str(path), {"budget.total": 30.0}, {"scenario": "0" * 64})
    assert rec["row"]["status"] == "error" and rec["persist"] is False
    assert "reads different input files than the client" in rec["row"]["message"]


def test_monotone_in_budget_at_mip_gap_zero(tmp_path, client2):
    path = write_scenario(tmp_path / "in", random_region(7), {"clinic": {**CLINIC, "service": {"distance_km": 6}}})
    df = sweep(
        path, budgets="10:60:6", objectives="coverage,equity", client=client2, out_dir=tmp_path / "out", plots=False
    )
    assert df["status"].eq("optimal").all()
    assert df["monotone_ok"].all()
    for kind, sub in df.groupby("objective"):
        sub = sub.sort_values("budget")
        assert np.all(np.diff(sub["objective_value"]) >= -1e-6), kind
        column = "covered_total" if kind == "coverage" else "min_unit_rate"
        assert np.all(np.diff(sub[column]) >= -1e-6), (kind, sub[column].tolist())
        assert sub[column].iloc[-1] > sub[column].iloc[0]  # money buys something here
    # The sweep's numbers are the model's: one point solved directly.
    direct = solve_scenario(load_scenario(path).replace(**{"budget.total": 30.0, "solver.threads": 1}))
    row = df[(df.objective == "coverage") & (df.budget == 30)].iloc[0]
    assert row["covered_total"] == pytest.approx(direct.coverage_totals["covered_after"].sum())
    assert row["budget_used"] == direct.budget_used


def test_same_grid_same_results_with_one_and_two_workers(tmp_path, client2):
    path = write_scenario(tmp_path / "in", random_region(11), {"clinic": CLINIC, "school": SCHOOL}, mip_gap=0.0)
    grid = {"budgets": "10:40:4", "objectives": "coverage,equity", "weights": ["scenario", "school=5"]}
    two = sweep(path, **grid, client=client2, write=False)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client1,
    ):
        one = sweep(path, **grid, client=client1, write=False)
    assert len(two) == 16 and two["point"].tolist() == list(range(16))
    timing = ["seconds", "solve_seconds"]
    pd.testing.assert_frame_equal(one.drop(columns=timing), two.drop(columns=timing))
    assert two["covered_total"].nunique() > 4  # the grid is not degenerate


def test_scenario_built_in_code_is_shipped_to_the_workers(client2):
    cat = catalogue(facility_type("clinic", cost=10, km=5))
    scenario = Scenario(name="mem", region=line_region(), catalogue=cat, budget=BudgetConfig(total=10))
    df = sweep(scenario, budgets="10,20", objectives="coverage", client=client2, write=False)
    assert df["covered_total"].tolist() == [1200, 1500]
    assert input_digests(scenario).keys() == {"region (in memory)"}


def test_ship_scenario_needs_no_files_on_the_workers(tmp_path, client2):
    path = write_scenario(tmp_path / "in", line_region(), {"clinic": CLINIC})

    def hide_files(event, info):
        # The client has loaded the scenario; now the workers could not.
        if event == "start":
            (tmp_path / "in").rename(tmp_path / f"gone-{len(list(tmp_path.iterdir()))}")

    by_path = sweep(path, budgets="10,20", objectives="coverage", client=client2, write=False, progress=hide_files)
    assert by_path["status"].tolist() == ["error", "error"]
    assert "scenario file not found" in by_path["message"][0]
    shutil.copytree(tmp_path / "gone-1", tmp_path / "in")
    shipped = sweep(
        path,
        budgets="10,20",
        objectives="coverage",
        client=client2,
        write=False,
        ship_scenario=True,
        progress=hide_files,
    )
    assert shipped["status"].tolist() == ["optimal", "optimal"]
    assert shipped["covered_total"].tolist() == [1200, 1500]
    assert shipped["hash"].tolist() == by_path["hash"].tolist()  # same files, same points


# ----------------------------------------------------------------------------- command line
def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    "args, words",
    [
        (["--budgets", "1e9:x:3"], "field '--budgets': range stop 'x' is not a number"),
        (["--objectives", "coverage,fairness"], "field '--objectives': unknown objective 'fairness'"),
        (["--weights", "clinc=2"], "field '--weights': weight for 'clinc'"),
        (["--mip-gap", "-0.1"], "field '--mip-gap': MIP gap must be in [0, 1)"),
        (["--time-limit", "0"], "field '--time-limit'"),
        (["--workers", "-1"], "field '--workers'"),
    ],
)
def test_cli_option_errors_are_one_line_exit_2(tmp_path, args, words):
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC})
    result = run_cli("sweep", str(path), "--budgets", "10,20", "--workers", "0", "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert not (tmp_path / "o").exists()


def test_cli_refuses_an_output_folder_holding_an_input(tmp_path):
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC})
    result = run_cli("sweep", str(path), "--budgets", "10", "--workers", "0", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "contains the input file" in result.output
    assert not (tmp_path / "points").exists()


# Generous limits for conditions polled below: they only fail a test that hangs, and must hold with
# both cores busy. No test waits a fixed time or asserts how long something took.
WAIT_S = 300


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _regionopt() -> list[str]:
    script = Path(sys.executable).parent / "regionopt"
    return [str(script)] if script.exists() else [sys.executable, "-m", "optimizer.cli"]


def test_cli_on_a_dask_cluster_survives_a_dead_worker_and_resumes(tmp_path):
    path = write_scenario(tmp_path / "in", line_region(), {"clinic": CLINIC, "school": SCHOOL})
    out = tmp_path / "out"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, DELAY_ENV: "1.5"}  # four points of >= 1.5 s on two workers: a kill lands mid-sweep
    procs: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True
            )
        procs.append(proc)
        return proc

    try:
        sched_file = tmp_path / "scheduler.json"
        start(
            "scheduler",
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
        )
        deadline = time.monotonic() + WAIT_S
        while not sched_file.exists() or not sched_file.read_text().strip():
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [
            start(
                f"worker{i}",
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                ],
            )
            for i in (1, 2)
        ]
        with distributed.Client(address, timeout=WAIT_S) as watcher:
            watcher.wait_for_workers(2, timeout=WAIT_S)

            command = [
                *_regionopt(),
                "sweep",
                str(path),
                "--budgets",
                "10,40",
                "--objectives",
                "coverage,equity",
                "--scheduler",
                address,
                "--out",
                str(out),
                "--no-plots",
            ]
            sweep_proc = start("sweep1", command)
            deadline = time.monotonic() + WAIT_S
            while not list(out.glob("points/*.json")):
                assert sweep_proc.poll() is None, (logs / "sweep1.log").read_text()
                assert time.monotonic() < deadline, f"no point finished in {WAIT_S} s"
                time.sleep(0.05)
            done_at_kill = len(list((out / "points").glob("*.json")))
            _kill_group(workers[0])
            assert sweep_proc.wait(timeout=WAIT_S) == 0, (logs / "sweep1.log").read_text()
            assert done_at_kill < 4  # the worker died with points still to do
            deadline = time.monotonic() + WAIT_S  # the scheduler notices the dead worker: poll until it has
            while len(watcher.scheduler_info()["workers"]) != 1:
                assert time.monotonic() < deadline, watcher.scheduler_info()["workers"]
                time.sleep(0.1)

        log1 = (logs / "sweep1.log").read_text()
        assert "skipped 0 finished, solving 4" in log1
        table = pd.read_csv(out / "sweep.csv")
        assert len(table) == 4 and table["status"].eq("optimal").all()
        files = {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
        assert sorted(files) == sorted(f"{h}.json" for h in table["hash"])
        # Real numbers, the same as a direct solve (lost points were solved again, not lost).
        assert table.loc[table.objective == "coverage", "covered__clinic"].tolist() == [1200, 1500]
        assert table.loc[table.objective == "coverage", "covered__school"].tolist() == [0, 120]

        # Rerun: every point is skipped, nothing is solved again, nothing rewritten (the log's count
        # and the untouched files say so; how long it took is not a test).
        rerun = subprocess.run(
            command, check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=WAIT_S
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "skipped 4 finished, solving 0" in rerun.stderr
        assert {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")} == files
        again = pd.read_csv(out / "sweep.csv")
        pd.testing.assert_frame_equal(
            again.drop(columns=["seconds", "solve_seconds"]), table.drop(columns=["seconds", "solve_seconds"])
        )
    finally:
        for proc in reversed(procs):
            _kill_group(proc)


def test_cli_ctrl_c_keeps_finished_points_and_a_rerun_finishes(tmp_path):
    path = write_scenario(tmp_path / "in", line_region(), {"clinic": CLINIC})
    out = tmp_path / "out"
    # Eight points of >= 2 s each on one worker: the signal, sent as soon as the first point is saved,
    # lands with points still to do unless this process stalls for 14 s (a margin, not a wait).
    grid = [*_regionopt(), "sweep", str(path), "--budgets", "10:80:8", "--objectives", "coverage", "--out", str(out)]
    command = [*grid, "--workers", "1", "--no-plots"]
    env = {**os.environ, DELAY_ENV: "2"}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not list(out.glob("points/*.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no point finished in {WAIT_S} s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        _kill_group(proc)
    assert proc.returncode == 130, stderr
    assert "interrupted:" in stderr and "run the same command again to continue" in stderr
    saved = len(list(out.glob("points/*.json")))
    assert 1 <= saved < 8
    assert not (out / "sweep.csv").exists() and not list(out.rglob(".*tmp"))

    rerun = subprocess.run(
        [*grid, "--workers", "0"], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=WAIT_S
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"skipped {saved} finished, solving {8 - saved}" in rerun.stderr
    assert pd.read_csv(out / "sweep.csv")["covered_total"].tolist() == [1200] + [1500] * 7


def test_sweep_grid_takes_the_fair_and_attendance_objectives(tmp_path):
    """attendance, leximin, kolm_pollak and kolm_pollak_time in one grid, serial, values by hand / brute force."""
    path = write_scenario(tmp_path, line_region(), {"clinic": CLINIC})
    df = sweep(
        path,
        budgets="10:20:2",
        objectives="attendance,leximin,kolm_pollak,kolm_pollak_time",
        workers=0,
        write=False,
    )
    assert df["status"].eq("optimal").all()
    by = {k: sub.reset_index(drop=True) for k, sub in df.groupby("objective", sort=False)}
    # attendance, linear decay to 0 at 5 km: existing clinic 100 x 1 + 200 x (1 - 4/5); s0 adds d2 (300 x 1);
    # the other sites reach d3 and d4 only at exactly 5 km (share 0), so budget 20 buys nothing more.
    assert by["attendance"]["objective_value"].tolist() == pytest.approx([440, 440], abs=3e-3)
    assert by["attendance"]["budget_used"].tolist() == [10, 10]
    # leximin: one site -> s1 (A 300/600, B 900/900); two -> both counties full. Value = worst unit's rate.
    assert by["leximin"]["objective_value"].tolist() == pytest.approx([0.5, 1.0], abs=1e-6)
    # kolm_pollak over rates (aversion 5): the better of s1 (A .5, B 1) and s2 (A 1, B 4/9); then 1.
    w = np.array([600.0, 900.0])

    def ede_rate(r):
        return -np.log(w @ np.exp(-5 * np.asarray(r)) / w.sum()) / 5

    one = max(ede_rate([0.5, 1]), ede_rate([1, 4 / 9]), ede_rate([1, 0]))
    assert by["kolm_pollak"]["objective_value"].tolist() == pytest.approx([one, 1.0], abs=1e-6)
    assert by["kolm_pollak"]["ede_rate"].tolist() == pytest.approx([one, 1.0], abs=1e-6)
    # kolm_pollak over travel time: 30 km/h (2 min/km), distances capped at 15 km (3 x the standard).
    x = np.array([2.0, 6, 15, 25, 35])
    pop = np.array([100.0, 200, 300, 400, 500])
    sites = np.array([15.0, 30, 20])
    t0 = np.minimum(np.abs(x - 2), 15) * 2
    kappa = (pop @ t0) / (pop @ t0**2)

    def ede_time(plan):
        t = t0.copy()
        for j in plan:
            t = np.minimum(t, np.abs(x - sites[j]) * 2)
        return float(np.log(pop @ np.exp(kappa * t) / pop.sum()) / kappa)

    best = [min(ede_time(p) for p in itertools.combinations(range(3), k)) for k in (1, 2)]
    kp = by["kolm_pollak_time"]
    assert kp["ede_minutes__clinic"].tolist() == pytest.approx(best, rel=1e-9)
    assert kp["ede_minutes_before__clinic"].tolist() == pytest.approx([ede_time(())] * 2, rel=1e-9)
    # minimised: the value falls with the budget, and the table says so
    assert kp["objective_value"].iloc[1] < kp["objective_value"].iloc[0]
    assert kp["monotone_ok"].tolist() == [True, True]
    assert df.columns.get_loc("ede_rate") < df.columns.get_loc("budget_used")
