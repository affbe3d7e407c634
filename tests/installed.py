"""A wheel of this checkout installed in a fresh virtual environment, and the shipped default run by it.

The wheel is built from a copy of the source tree with ``python -m build`` (sdist first, then the
wheel from the sdist, as a release would), offline: no build isolation, the build backend of this
environment. It is installed with ``--no-deps --no-index`` into a new virtual environment whose only
view of the dependencies (geopandas, highspy, …) is a ``.pth`` line naming this environment's
site-packages: nothing is downloaded, and ``optimizer`` can only come from the wheel (``PYTHONPATH``
is cleared, the commands run in an empty temporary folder far from the checkout).

tests/conftest.py turns these into session fixtures (``wheel``, ``venv``, ``zhejiang_default_run``)
so that the one ``regionopt run`` of the full Zhejiang default serves tests/test_install.py,
tests/test_default_run.py and tests/test_browser.py alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DefaultRun:
    """One ``regionopt run`` of the shipped default from an empty folder.

    Attributes
    ----------
    out : pathlib.Path
        The result folder (``reports/zhejiang-default`` under ``work``, or the ``--out`` folder).
    output : str
        What the command printed (stdout, then stderr).
    stdout : str
        Its stdout alone.
    work : pathlib.Path
        The folder it ran in.
    venv : pathlib.Path or None
        The virtual environment of the installed wheel it ran from; ``None`` when the wheel could
        not be built here (no ``build`` module) and the checkout's CLI ran in-process instead.
    """

    out: Path
    output: str
    stdout: str
    work: Path
    venv: Path | None


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a command of ``venv``: no ``PYTHON*`` variables, the venv's bin first.

    Parameters
    ----------
    venv : pathlib.Path
        The virtual environment.

    Returns
    -------
    dict
        Environment variables.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def build_wheel(src: Path, dist: Path) -> Path:
    """``python -m build`` on a copy (in ``src``) of only what a release ships; the wheel in ``dist``.

    Parameters
    ----------
    src, dist : pathlib.Path
        Empty folders: the source copy, and where the sdist and wheel are written.

    Returns
    -------
    pathlib.Path
        The wheel.
    """
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "optimizer", src / "optimizer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", src / "configs")
    shutil.copytree(ROOT / "geodata" / "zhejiang", src / "geodata" / "zhejiang")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(dist.glob("regionopt-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    return wheels[0]


def make_venv(wheel: Path, root: Path) -> Path:
    """A fresh venv at ``root`` holding ``wheel``; dependencies seen through a .pth line, nothing downloaded.

    Parameters
    ----------
    wheel : pathlib.Path
        The wheel to install.
    root : pathlib.Path
        Where the venv is created (must not exist).

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet"]
        + [str(wheel)],
        # No PYTHONPATH: a checkout on it (with a regionopt.egg-info of an editable install) would make
        # pip think regionopt is installed already and skip the wheel.
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(root),
        cwd=root.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(root),
        ).stdout.strip()
    )
    assert (site / "optimizer" / "data" / "configs" / "zhejiang.yaml").is_file(), proc.stdout + proc.stderr
    # Lines of a .pth are only added to sys.path (after the venv's own
    # site-packages); the .pth files in that folder (this checkout's editable
    # install) are not run, so `optimizer` can only come from the wheel.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_regionopt_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return root


def run_installed(venv: Path, cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``regionopt *args`` of the installed wheel, in ``cwd``.

    Parameters
    ----------
    venv : pathlib.Path
        The virtual environment of :func:`make_venv`.
    cwd : pathlib.Path
        Where the command runs.
    *args : str
        The command line after ``regionopt``.
    timeout : int
        Seconds before the command is killed (a test failure, not a timing assertion).

    Returns
    -------
    subprocess.CompletedProcess
        With text stdout and stderr.
    """
    return subprocess.run(
        [str(venv / "bin" / "regionopt"), *args],
        cwd=cwd,
        env=clean_env(venv),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_default_installed(venv: Path, work: Path) -> DefaultRun:
    """``regionopt run`` without arguments in the empty folder ``work``: the shipped default, from the wheel.

    Parameters
    ----------
    venv : pathlib.Path
        The virtual environment of :func:`make_venv`.
    work : pathlib.Path
        An empty folder.

    Returns
    -------
    DefaultRun
        The run (its exit code asserted 0).
    """
    ran = run_installed(venv, work, "run")
    assert ran.returncode == 0, ran.stderr
    return DefaultRun(work / "reports" / "zhejiang-default", ran.stdout + ran.stderr, ran.stdout, work, venv)


def run_default_in_process(work: Path) -> DefaultRun:
    """``regionopt run configs/zhejiang.yaml --out ...`` of the checkout, through click's test runner.

    Parameters
    ----------
    work : pathlib.Path
        An empty folder; the result goes to ``work/zhejiang-default``.

    Returns
    -------
    DefaultRun
        The run (its exit code asserted 0).
    """
    from click.testing import CliRunner

    from optimizer.cli.main import main

    out = work / "zhejiang-default"
    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "zhejiang.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return DefaultRun(out, result.output, result.stdout, work, None)
