"""The image installs the versions CI tests: the Dockerfile installs the dependencies
of pyproject.toml constrained by constraints.txt, which pins every one of them."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))


def test_the_dockerfile_installs_with_the_constraints():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY .*\bconstraints\.txt\b", dockerfile, re.MULTILINE)
    installs = [line for line in dockerfile.splitlines() if "pip install -r" in line]
    assert installs and all("-c constraints.txt" in line for line in installs), installs


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(r) for r in project["dependencies"]}
    wanted |= {requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    pinned = {
        normalized(line.split("==")[0])
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    assert wanted - pinned == set()
