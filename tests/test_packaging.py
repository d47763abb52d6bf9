"""The built distributions carry every module and data file, and a wheel installed outside the checkout works.

The sub-packages are folders of ``drgym/`` (the top-level ``web/`` and its siblings are symlinks to them, for
reading), and pyproject lists them by hand; the first tests catch a folder or a data file left out of that list. The slow test builds the sdist, builds the wheel from it (as ``python -m build`` does), installs the wheel
into a fresh venv in a temporary folder and plays one episode of each env there. The venv reuses ``.venv``'s
installed dependencies through a ``.pth`` line (no torch download), which does not make the checkout importable:
the editable install is a ``.pth`` *file* in ``.venv``, and a ``.pth`` line only adds a folder to
``sys.path`` without running the ``.pth`` files inside it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path, PurePosixPath

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
PACKAGE_DATA: dict[str, list[str]] = SETUPTOOLS.get("package-data", {})


def _source_files() -> list[PurePosixPath]:
    """The checkout's files that git tracks or would track (not ignored), as paths from the root."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the packaging tests compare the distributions with git's file list")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    return sorted(PurePosixPath(name) for name in listed if name and (ROOT / name).is_file())


def _package_of(path: PurePosixPath) -> tuple[str, PurePosixPath] | None:
    """The package a source file belongs to and its path inside it: a module's folder, or for a data file the
    deepest listed package folder holding it (drgym/benchmarks/data/prices.yaml: drgym.benchmarks, data/prices.yaml)."""
    if PurePosixPath("drgym") not in path.parents:
        return None
    if path.suffix == ".py":
        return ".".join(path.parent.parts), PurePosixPath(path.name)
    for folder in path.parents:
        if ".".join(folder.parts) in PACKAGES:
            return ".".join(folder.parts), path.relative_to(folder)
    return None


def _installed_path(path: PurePosixPath) -> str | None:
    """Where a source file lands in the wheel (envs/tools/shell.py: drgym/envs/tools/shell.py); None: not shipped."""
    found = _package_of(path)
    if found is None:
        return None
    package, inner = found
    return "/".join(package.split(".")) + "/" + (inner.name if inner.suffix == ".py" else str(inner))


def _shipped_files() -> dict[str, PurePosixPath]:
    """Every source module and data file of the package, keyed by its path in the wheel."""
    shipped = {}
    for path in _source_files():
        target = _installed_path(path)
        if target is not None and "__pycache__" not in path.parts:
            shipped[target] = path
    return shipped


def test_every_folder_with_modules_is_a_listed_package():
    folders = {path.parent for path in _source_files() if path.suffix == ".py" and _package_of(path) is not None}
    for folder in sorted(folders):
        package = _package_of(folder / "__init__.py")[0]
        assert package in PACKAGES, (f"{folder}/ holds modules but {package!r} is not in pyproject's "
                                     "[tool.setuptools] packages: add it there")
        assert (ROOT / folder / "__init__.py").is_file(), f"{folder}/ holds modules but has no __init__.py"


def test_every_data_file_in_a_package_folder_is_package_data():
    for path in _source_files():
        found = _package_of(path)
        if found is None or path.suffix == ".py":
            continue
        package, inner = found
        patterns = PACKAGE_DATA.get(package, [])
        assert any(fnmatch.fnmatch(str(inner), pattern) for pattern in patterns), (
            f"{path} is not package data: add a pattern for {str(inner)!r} under {package!r} in pyproject's "
            "[tool.setuptools.package-data]")


# -- the slow test: build, install outside the checkout, use -------------------------------------------------

_SMOKE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    from importlib import metadata
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def requirement_closure(extras):
        # drgym's declared requirements (with these extras) and, transitively, theirs
        seen, todo = set(), [("drgym", tuple(extras))]
        while todo:
            name, wanted = todo.pop()
            if (canonicalize_name(name), wanted) in seen:
                continue
            seen.add((canonicalize_name(name), wanted))
            try:
                requirements = [Requirement(text) for text in metadata.requires(name) or []]
            except metadata.PackageNotFoundError:  # an optional dependency this venv lacks
                continue
            for requirement in requirements:
                if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                     for extra in wanted or ("",)):
                    todo.append((requirement.name, tuple(requirement.extras)))
        return {name for name, _ in seen}

    def own_imports():
        # top-level names drgym's own source imports (a dependency's optional imports are its business)
        import ast, pathlib
        names = set()
        for path in pathlib.Path(drgym.__path__[0]).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
        return names

    def undeclared(extras):
        # third-party modules drgym imported so far whose distribution drgym does not require
        allowed, owners = requirement_closure(extras), metadata.packages_distributions()
        loaded = ({name.split(".")[0] for name in sys.modules} & own_imports()) - set(sys.stdlib_module_names) - {"drgym"}
        return sorted(name for name in loaded if owners.get(name)
                      and not any(canonicalize_name(owner) in allowed for owner in owners[name]))

    import drgym
    modules = sorted(m.name for m in pkgutil.walk_packages(drgym.__path__, "drgym."))
    needs_extra = {"drgym.train.openrlhf_agent": "gpu", "drgym.train.skyrl": "skyrl",
                   "drgym.train.verifiers_env": "verifiers"}  # import their extra's packages at import time
    needs_cuda_extra = {"drgym.train.verl_agent_loop": "verl"}  # not installable on a CPU machine
    for name in modules:
        if name in needs_cuda_extra:  # without its extra, importing it says which one to install
            try:
                importlib.import_module(name)
            except ImportError as e:
                assert f"drgym[{needs_cuda_extra[name]}]" in str(e), str(e)
        elif name != "drgym.__main__" and name not in needs_extra:  # __main__ runs the CLI: checked below
            importlib.import_module(name)
    undeclared_base = undeclared(())
    for name in needs_extra:
        importlib.import_module(name)
    undeclared_extras = undeclared(tuple(sorted(set(needs_extra.values()))))

    import gymnasium as gym
    from drgym.agents import ScriptedResearcher
    from drgym.benchmarks.costs import load_prices
    from drgym.train.launch import load_config
    from drgym.web.authority import AuthorityTable

    rewards = {}
    for env_id in ("drgym/DeepSearch-v1", "drgym/DeepResearch-v1"):
        env = gym.make(env_id, tasks="procedural:tiny")
        _, info = env.reset(seed=0)
        policy, done = ScriptedResearcher(), False
        while not done:
            _, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
            done = terminated or truncated
        env.close()
        rewards[env_id] = reward
    print(json.dumps({"file": drgym.__file__, "modules": modules, "rewards": rewards,
                      "undeclared_base": undeclared_base, "undeclared_extras": undeclared_extras,
                      "prices": len(load_prices().models), "ppo_config": str(load_config("ppo", None)[1]),
                      "authority": AuthorityTable.load().tier("data.census.gov")}))
""")


def _build_distributions(tmp_path: Path) -> tuple[Path, Path]:
    """Builds the sdist from a copy of the source files, then the wheel from the unpacked sdist."""
    source = tmp_path / "source"
    for path in _source_files():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, source / path)
    dist = tmp_path / "dist"
    build = ("import sys; from setuptools import build_meta; "
             "print(build_meta.build_sdist(sys.argv[1]))")
    name = subprocess.run([sys.executable, "-c", build, str(dist)], cwd=source, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    sdist = dist / name
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(dist), str(unpacked)], check=True, capture_output=True)
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_imports_every_module_and_plays_both_envs(tmp_path):
    shipped = _shipped_files()
    assert "drgym/envs/tools/shell.py" in shipped and "drgym/benchmarks/data/prices.yaml" in shipped
    sdist, wheel = _build_distributions(tmp_path)

    with tarfile.open(sdist) as archive:
        in_sdist = {PurePosixPath(*PurePosixPath(name).parts[1:]) for name in archive.getnames()}
    missing = sorted(target for target in shipped if PurePosixPath(target) not in in_sdist)
    assert not missing, f"the sdist lacks {missing}"
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(set(shipped) - in_wheel)
    assert not missing, f"the wheel lacks {missing}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-deps", str(wheel)], check=True, capture_output=True)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")  # .venv's, for the deps

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["DRGYM_HOME"] = str(tmp_path / "home")
    run = subprocess.run([str(python), "-c", _SMOKE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(site_packages), report["file"]
    expected = sorted(target.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                      for target in shipped if target.endswith(".py") and target != "drgym/__init__.py")
    assert report["modules"] == expected
    # the venv sees all of .venv, so check that what the modules import is declared (openrlhf: the gpu extra;
    # skyrl-gym, verifiers: their extras)
    assert report["undeclared_base"] == [] and report["undeclared_extras"] == [], report
    assert report["rewards"]["drgym/DeepSearch-v1"] == 1.0 and report["rewards"]["drgym/DeepResearch-v1"] > 0
    assert report["prices"] > 0 and Path(report["ppo_config"]).is_relative_to(site_packages)
    assert report["authority"] == 1  # from the shipped authority.tsv

    for command in ([str(venv / "bin" / "drgym"), "train", "--help"], [str(python), "-m", "drgym", "train", "--help"]):
        console = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert console.returncode == 0 and "reference-sft" in console.stdout, console.stderr[-2000:]

    # worker processes forked from the zygote, which the installed console script's process spawns
    out = tmp_path / "rolled.jsonl"
    rolled = subprocess.run([str(venv / "bin" / "drgym"), "rollout", "--env", "drgym/DeepSearch-v1", "--policy",
                             "scripted", "--suite", "procedural:tiny", "--workers", "2", "--episodes", "4", "--out",
                             str(out)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rolled.returncode == 0, rolled.stdout[-1500:] + rolled.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4 and {record["status"] for record in records} == {"ok"}
