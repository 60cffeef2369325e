"""Known vulnerabilities in what the project pins: pip-audit over every requirements*.txt given, and
`npm audit` over the widget's package-lock.json. `make audit` runs it.

    .venv/bin/python scripts/audit.py requirements*.txt --npm clients/widget [--service osv]

Exit status: 0 when every package was checked and none has a known vulnerability; 1 when one has (it is
named, with the advisory and the fixed versions); 2 when the vulnerability service could not be asked
for some packages (no network, or it did not answer), which proves nothing either way and is never
reported as a pass. pip-audit alone says "No known vulnerabilities found" when it skipped every package;
this script counts the skipped ones instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLEAN, VULNERABLE, NOT_AUDITED = 0, 1, 2


@dataclass
class Outcome:
    """What one source (a requirements file, the npm lock) showed."""

    source: str
    checked: int = 0
    vulnerable: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> int:
        if self.vulnerable:
            return VULNERABLE
        if self.error or self.unaudited:
            return NOT_AUDITED
        return CLEAN

    def lines(self) -> list[str]:
        if self.vulnerable:
            head = f"VULNERABLE   {self.source}: {len(self.vulnerable)} known vulnerabilities"
        elif self.status == NOT_AUDITED:
            head = f"NOT AUDITED  {self.source}: the vulnerability service could not be asked"
        else:
            head = f"OK           {self.source}: {self.checked} packages, no known vulnerability"
        out = [head, *(f"    {v}" for v in self.vulnerable)]
        if self.error:
            out.append(f"    {self.error}")
        if self.unaudited:
            shown = ", ".join(self.unaudited[:5]) + (
                f" and {len(self.unaudited) - 5} more" if len(self.unaudited) > 5 else ""
            )
            out.append(
                f"    {len(self.unaudited)} of {self.checked + len(self.unaudited)} packages not checked: {shown}"
            )
        return out


def read_pip_audit(source: str, report: dict[str, Any]) -> Outcome:
    """pip-audit's JSON report (`--format json`): a dependency has `vulns`, or a `skip_reason` when the service
    gave nothing for it (with the PyPI service, "not found on PyPI" is what an unanswered query looks like)."""
    outcome = Outcome(source)
    for dependency in report.get("dependencies", []):
        name = dependency["name"] + (f"=={dependency['version']}" if "version" in dependency else "")
        if "skip_reason" in dependency:
            outcome.unaudited.append(name)
            continue
        outcome.checked += 1
        for vuln in dependency.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            aliases = ", ".join(vuln.get("aliases", []))
            outcome.vulnerable.append(f"{name}: {vuln['id']}{f' ({aliases})' if aliases else ''}, fixed in {fixed}")
    return outcome


def pip_audit(requirements: Path, service: str) -> Outcome:
    # The requirement files pin every package they install (requirements.txt is the lock; the others are
    # installed beside it), so each pin is audited as written, without resolving or installing anything.
    command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--requirement", str(requirements)]
    command += ["--vulnerability-service", service, "--format", "json", "--progress-spinner", "off"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(str(requirements), error=f"pip-audit ({service}) failed with exit {done.returncode}: {last}")
    outcome = read_pip_audit(str(requirements), report)
    if outcome.unaudited and not outcome.checked:
        outcome.error = f"the {service} service answered for none of them (from a machine that reaches only the package index, this is expected)"
    return outcome


def read_npm_audit(source: str, report: dict[str, Any]) -> Outcome:
    """`npm audit --json`: `vulnerabilities` by package and `metadata` counts, or `error` when the registry's
    advisory endpoint did not answer."""
    if "error" in report or "message" in report:
        reason = report.get("message") or report["error"].get("summary") or "npm audit failed"
        return Outcome(source, error=f"npm's advisory endpoint did not answer: {reason}")
    outcome = Outcome(source, checked=int(report.get("metadata", {}).get("dependencies", {}).get("total", 0)))
    for name, entry in sorted(report.get("vulnerabilities", {}).items()):
        fix = entry.get("fixAvailable")
        fixed = (
            f"fixed in {fix['version']}" if isinstance(fix, dict) else ("a fix is available" if fix else "no fix yet")
        )
        outcome.vulnerable.append(f"{name} {entry.get('range', '')}: {entry.get('severity', '?')}, {fixed}")
    return outcome


def npm_audit(package_dir: Path) -> Outcome:
    source = str(package_dir / "package-lock.json")
    npm = shutil.which("npm")
    if npm is None:
        return Outcome(source, error="npm is not installed (apt-get install npm)")
    done = subprocess.run(
        [npm, "audit", "--json", "--package-lock-only"], cwd=package_dir, capture_output=True, text=True, check=False
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return Outcome(source, error=f"npm audit failed with exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return read_npm_audit(source, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("requirements", nargs="*", type=Path, help="requirements files to audit")
    parser.add_argument("--npm", type=Path, action="append", default=[], help="a folder with package-lock.json")
    parser.add_argument("--service", default="pypi", choices=("pypi", "osv"), help="pip-audit's vulnerability service")
    args = parser.parse_args(argv)
    outcomes = [pip_audit(r, args.service) for r in args.requirements] + [npm_audit(p) for p in args.npm]
    for outcome in outcomes:
        print("\n".join(outcome.lines()))
    status = max((o.status for o in outcomes), default=CLEAN)
    if status == VULNERABLE:
        print("audit: FAILED - known vulnerabilities above; upgrade the pins to a fixed version")
    elif status == NOT_AUDITED:
        print(
            "audit: NOT AUDITED - the vulnerability services could not be reached or did not answer, so this run "
            "proves nothing. Run it where they are reachable (pip-audit: PyPI's JSON API, or OSV with "
            "`make audit AUDIT_SERVICE=osv`; npm: the registry's advisory endpoint)."
        )
    else:
        print("audit: OK - no known vulnerabilities")
    return status


if __name__ == "__main__":
    sys.exit(main())
