"""The shipped default without arguments: ``regionopt validate`` / ``init``; the Makefile's choice of Python."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer.cli.main import main
from optimizer.pipeline import default_config_path, init_folder

ROOT = Path(__file__).resolve().parent.parent


def test_validate_without_argument_validates_the_shipped_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: no configs/ here
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert "scenario   zhejiang-default: valid" in result.stdout
    assert "region     Zhejiang: 16,672 demand points, population 64,567,588" in result.stdout
    assert default_config_path().name == "zhejiang.yaml"


def test_init_copies_a_starting_point_whose_paths_resolve(tmp_path: Path):
    written = init_folder(tmp_path / "study")
    names = sorted(p.relative_to(tmp_path / "study").as_posix() for p in written)
    assert names == [
        "configs/catalogue.yaml",
        "configs/culture-gap.yaml",
        "configs/health-education-equity.yaml",
        "configs/zhejiang.yaml",
        "geodata/zhejiang/build_info.json",
        "geodata/zhejiang/etopo5_zhejiang.npz",
        "geodata/zhejiang/relief_info.json",
        "geodata/zhejiang/zhejiang.gpkg",
    ]
    for name in names:
        assert (tmp_path / "study" / name).read_bytes() == (ROOT / name).read_bytes()
    light = init_folder(tmp_path / "light", copy_data=False)
    assert len(light) == 4
    text = (tmp_path / "light" / "configs" / "zhejiang.yaml").read_text(encoding="utf-8")
    gpkg = (default_config_path().parent.parent / "geodata" / "zhejiang" / "zhejiang.gpkg").resolve().as_posix()
    assert text.count(f'"{gpkg}"') == 4 and "../geodata" not in text
    assert "# regionopt default scenario" in text  # comments kept
    from optimizer.scenario import load_scenario

    scenario = load_scenario(tmp_path / "light" / "configs" / "zhejiang.yaml")
    assert {Path(p).resolve().as_posix() for p in scenario.region.files.values()} == {gpkg}
    relief = (default_config_path().parent.parent / "geodata" / "zhejiang" / "etopo5_zhejiang.npz").resolve()
    assert scenario.impedance.kind == "terrain" and Path(scenario.impedance.path).resolve() == relief


def _fake_python(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_picks_the_newest_python_and_says_what_it_needs(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    make = shutil.which("make")
    none = subprocess.run([make, "-s", "-C", str(ROOT), "which-python"], env=env, capture_output=True, text=True)
    assert none.returncode == 2
    assert (
        "error: regionopt needs Python 3.11 or newer, and no python3.11 ... python3.20 was found on PATH."
        in none.stderr
    )
    assert "make PYTHON=/path/to/python3" in none.stderr
    (bin_dir / "echo").symlink_to(shutil.which("echo"))  # make runs a plain `echo` line without a shell
    for minor in (10, 11, 12, 13):
        _fake_python(bin_dir, f"python3.{minor}")
    picked = subprocess.run([make, "-s", "-C", str(ROOT), "which-python"], env=env, capture_output=True, text=True)
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.strip() == "python3.13"
    chosen = subprocess.run(
        [make, "-s", "-C", str(ROOT), "which-python", "PYTHON=python3.12"], env=env, capture_output=True, text=True
    )
    assert chosen.stdout.strip() == "python3.12"
