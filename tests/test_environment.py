"""environment.yml (hub image, conda users) and pyproject.toml pin the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _pins(lines):
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += [x for x in extra if not x.startswith("course-lib")]
    unpinned = [x for x in lines if not PIN.match(x) and not x.startswith("course-lib")]
    assert not unpinned, f"every dependency must be pinned with ==: {unpinned}"
    py = _pins(lines)

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = _pins(pip_lines)
    assert py == conda, (
        f"only in pyproject: {sorted(set(py.items()) - set(conda.items()))}; "
        f"only in environment.yml: {sorted(set(conda.items()) - set(py.items()))}"
    )
    assert py["torch"] == "2.13.0"
    assert "python=3.11" in env["dependencies"]
