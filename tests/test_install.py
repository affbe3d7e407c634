"""A plain (non-editable) install works from any folder: wheel → fresh venv → run, validate, init.

The wheel, the venv and the ``regionopt run`` of the shipped default are the session fixtures of
tests/conftest.py (built by tests/installed.py: offline, nothing downloaded, ``optimizer`` only from
the wheel); that one run of the full default also serves tests/test_default_run.py and the
browser test of the real default.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from installed import DefaultRun, clean_env, run_installed

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {
    "optimizer/data/configs/zhejiang.yaml": ROOT / "configs" / "zhejiang.yaml",
    "optimizer/data/configs/catalogue.yaml": ROOT / "configs" / "catalogue.yaml",
    "optimizer/data/configs/culture-gap.yaml": ROOT / "configs" / "culture-gap.yaml",
    "optimizer/data/configs/health-education-equity.yaml": ROOT / "configs" / "health-education-equity.yaml",
    "optimizer/data/geodata/zhejiang/zhejiang.gpkg": ROOT / "geodata" / "zhejiang" / "zhejiang.gpkg",
    "optimizer/data/geodata/zhejiang/build_info.json": ROOT / "geodata" / "zhejiang" / "build_info.json",
    "optimizer/data/geodata/zhejiang/etopo5_zhejiang.npz": ROOT / "geodata" / "zhejiang" / "etopo5_zhejiang.npz",
}

pytestmark = pytest.mark.slow


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_wheel_ships_the_default_region_catalogue_and_scenarios(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member, source in SHIPPED.items():
            assert member in names, member
            assert _sha(zf.read(member)) == _sha(source.read_bytes()), member
        assert "optimizer/render/static/leaflet/leaflet.js" in names
        assert "optimizer/render/templates/report.html.j2" in names
        # Only the package: no tests, no build script, no second copy of the region.
        assert not [n for n in names if n.startswith(("tests/", "geodata/", "configs/"))]
        assert sum(n.endswith(".gpkg") for n in names) == 1
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in meta
    assert "Requires-Python: >=3.11" in meta
    # README states the wheel's size; keep it honest (within half a megabyte).
    stated = re.search(r"the wheel is about\s+(\d+(?:\.\d+)?) MB", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README.md must state the wheel size"
    assert abs(float(stated.group(1)) - wheel.stat().st_size / 1e6) <= 0.5, wheel.stat().st_size


def test_installed_package_is_the_wheel_not_the_checkout(venv: Path, tmp_path: Path):
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import optimizer, optimizer.pipeline as p; print(optimizer.__file__); print(p.default_config_path())",
        ],
        cwd=tmp_path,
        env=clean_env(venv),
        capture_output=True,
        text=True,
        check=True,
    )
    module, config = proc.stdout.split()
    assert Path(module).is_relative_to(venv), module
    assert Path(config).is_relative_to(venv) and config.endswith("optimizer/data/configs/zhejiang.yaml"), config


def test_validate_run_and_init_from_an_empty_folder(venv: Path, zhejiang_default_run: DefaultRun, tmp_path: Path):
    work = tmp_path / "anywhere"
    work.mkdir()

    validated = run_installed(venv, work, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "scenario   zhejiang-default: valid" in validated.stdout
    assert "region     Zhejiang: 16,672 demand points, population 64,567,588" in validated.stdout

    # `regionopt run` in another empty folder (the session's one run of the full default; exit code 0)
    ran = zhejiang_default_run
    assert ran.venv == venv
    out = ran.work / "reports" / "zhejiang-default"
    assert ran.out == out
    assert f"written    {out.resolve()}" in ran.stdout or f"written    {out}" in ran.stdout, ran.stdout
    solution = json.loads((out / "solution.json").read_text())
    assert solution["status"] in ("optimal", "feasible") and solution["new_facilities"] > 0
    assert solution["budget"]["used"] <= 6.0e9
    for name in (
        "index.html",
        "map_compare.html",
        "map_toggle.html",
        "map_data.js",
        "static/leaflet/leaflet.js",
        "chosen_sites.gpkg",
        "result.gpkg",
        "coverage_by_unit.csv",
    ):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    gpkg = Path(manifest["inputs"]["region.admin_units"]["path"])
    assert gpkg.is_relative_to(venv), gpkg  # read from the installed package
    assert manifest["inputs"]["region.admin_units"]["sha256"] == _sha(
        SHIPPED["optimizer/data/geodata/zhejiang/zhejiang.gpkg"].read_bytes()
    )

    started = run_installed(venv, work, "init", "study")
    assert started.returncode == 0, started.stderr
    study = work / "study"
    for member, source in SHIPPED.items():
        copied = study / member.removeprefix("optimizer/data/")
        assert copied.read_bytes() == source.read_bytes(), copied
    own = run_installed(venv, work, "validate", "study/configs/zhejiang.yaml")
    assert own.returncode == 0, own.stderr
    assert "scenario   zhejiang-default: valid" in own.stdout
    # The copy reads its own GeoPackage (relative paths resolve in the new folder).
    from optimizer.scenario import load_scenario

    scenario = load_scenario(study / "configs" / "zhejiang.yaml")
    assert scenario.region.files["admin_units"].resolve() == (study / "geodata/zhejiang/zhejiang.gpkg").resolve()

    # Without the data: the scenarios point at the installed GeoPackage and still validate.
    light = run_installed(venv, work, "init", "--no-data", "light")
    assert light.returncode == 0, light.stderr
    assert not (work / "light" / "geodata").exists()
    own = run_installed(venv, work, "validate", "light/configs/culture-gap.yaml")
    assert own.returncode == 0, own.stderr
    assert "scenario   culture-gap: valid" in own.stdout

    # init never overwrites.
    written = sum(1 for path in study.rglob("*") if path.is_file())  # every file the first init wrote
    again = run_installed(venv, work, "init", "study")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"error: study: init folder already holds configs/zhejiang.yaml and {written - 1} more; init never overwrites files "
        "Hint: choose a new or empty folder: regionopt init DIR"
    )
