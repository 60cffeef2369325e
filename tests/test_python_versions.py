"""The Python versions the project supports are stated once in pyproject.toml (requires-python), and the
README and the Makefile's check (`make run` on a fresh machine) say the same."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from packaging.specifiers import SpecifierSet

from tests.conftest import REPO

CANDIDATES = ("3.10", "3.11", "3.12", "3.13", "3.14")


def supported() -> set[str]:
    spec = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    return {v for v in CANDIDATES if spec.contains(v + ".0")}


def test_the_readme_states_the_range_pyproject_allows() -> None:
    match = re.search(r"with Python (3\.\d+) to (3\.\d+) and", (REPO / "README.md").read_text())
    assert match, "the README's quick start names the supported Python versions"
    low, high = (int(v.split(".")[1]) for v in match.groups())
    assert supported() == {f"3.{minor}" for minor in range(low, high + 1)}


def test_the_makefile_check_accepts_exactly_those_versions() -> None:
    makefile = (REPO / "Makefile").read_text()
    (check,) = re.findall(r"@\$\(PYTHON\) -c '(import sys; sys\.exit\(0 if .*?)'\n", makefile)
    accepted = set()
    for version in CANDIDATES:
        major, minor = (int(p) for p in version.split("."))
        # The check, run with the version it would see on such a machine.
        program = check.replace("sys.version_info", f"({major}, {minor}, 0)")
        if subprocess.run([sys.executable, "-c", program], capture_output=True, check=False).returncode == 0:
            accepted.add(version)
    assert accepted == supported()
