"""The project's set-up: one dependency list in two places, every rule logged, benchmarked, enved, and
every file linted and formatted, every library function short enough to read or saying why not."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from conftest import ROOT, copy_workflow, snakemake

REQUIRED = {"snakemake", "tensorflow", "tensorflow-probability", "numpy", "pandas", "scikit-image",
            "pillow", "matplotlib", "tqdm"}


def requirements(lines) -> dict[str, str]:
    """{normalised name: specifier} of requirement strings."""
    found = {}
    for line in lines:
        requirement = Requirement(line)
        found[re.sub(r"[-_.]+", "-", requirement.name).lower()] = str(requirement.specifier)
    return found


def test_pyproject_and_conda_env_declare_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirements(project["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "inpaintbench.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert requirements(pip) == declared
    assert REQUIRED <= declared.keys()
    assert Requirement(project["dependencies"][0]).name == "snakemake"
    assert "9.0" in Requirement(next(d for d in project["dependencies"]
                                     if d.startswith("snakemake"))).specifier
    assert any(Requirement(d).extras == {"and-cuda"} for d in project["optional-dependencies"]["gpu"])
    test_extra = requirements(project["optional-dependencies"]["test"])
    assert {"pytest", "pytest-xdist", "ruff", "snakefmt"} <= test_extra.keys()


def rule_blocks() -> dict[str, str]:
    """{rule name: its text} of every rule in the Snakefile and rules/*.smk."""
    blocks = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        parts = re.split(r"^(?:local)?rule (\w+):\s*$", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = re.split(r"^\S", body, maxsplit=1, flags=re.M)[0]
    return blocks


def test_every_job_rule_has_log_benchmark_and_conda():
    blocks = rule_blocks()
    assert {"fetch_archive", "fetch_categories", "manifest", "shard", "data_summary"} <= blocks.keys()
    for name, body in blocks.items():
        if not re.search(r"^    output:", body, flags=re.M):
            continue  # a target rule: no job of its own
        for directive in ("log", "benchmark", "conda"):
            assert re.search(rf"^    {directive}:", body, flags=re.M), f"rule {name} has no {directive}:"


def test_snakemake_lint_finds_nothing_in_any_rule(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    result = snakemake(workdir, "--lint", check=False)
    lints = result.stdout + result.stderr
    assert "Lints for rule" not in lints, lints


def test_ruff_finds_nothing_in_any_python_file():
    """pyproject's [tool.ruff] rules over every Python file of the checkout (and no cache left in it)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_would_change_no_workflow_file():
    workflow_files = ["Snakefile", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "rules").glob("*.smk"))]
    snakefmt = Path(sys.executable).parent / "snakefmt"  # the test extra's, beside this interpreter
    result = subprocess.run([snakefmt, "--check", "--diff", *workflow_files], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


MAX_POSITIONAL, MAX_LINES = 6, 50
REASONS = {"positional": "Many arguments because", "lines": "Long because"}  # the docstring's sentence that says why


def oversized_functions(package: Path) -> list[str]:
    """Every function of `package` with more than MAX_POSITIONAL positional arguments (self and cls not
    counted) or more than MAX_LINES lines, unless its docstring states the reason with REASONS' phrase."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
            sizes = {"positional": len(names) - (names[:1] in (["self"], ["cls"])),
                     "lines": node.end_lineno - node.lineno + 1}
            doc = ast.get_docstring(node) or ""
            for what, limit in (("positional", MAX_POSITIONAL), ("lines", MAX_LINES)):
                if sizes[what] > limit and REASONS[what] not in doc:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name}: {sizes[what]} {what} "
                                 f"(over {limit}; or say why in its docstring: {REASONS[what]!r} ...)")
    return found


def test_no_library_function_is_too_long_or_takes_too_many_positional_arguments_without_saying_why():
    assert oversized_functions(ROOT / "src" / "inpaintbench") == []


def test_the_size_check_finds_a_long_function_and_one_of_many_arguments_unless_they_say_why(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "module.py").write_text(
        f"def long():\n{body}\n\n\ndef long_ok():\n    '''Long because it is a test.'''\n{body}\n\n\n"
        "def many(a, b, c, d, e, f, g):\n    pass\n\n\n"
        "def six(a, b, c, d, e, f, *, g):\n    pass\n\n\n"
        "class C:\n    def method(self, a, b, c, d, e, f):\n        pass\n")
    found = oversized_functions(tmp_path)
    assert [line.split(" ")[1] for line in found] == ["long:", "many:"]
