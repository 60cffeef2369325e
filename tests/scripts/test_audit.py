"""scripts/audit.py (`make audit`): a pin with a published vulnerability never passes. Run for real, the
audit of a known-vulnerable pin either names its advisory (exit 1) or, when the vulnerability service
cannot be asked from this machine, says so (exit 2); both tools are run for real (pip-audit, npm). How a
report is read is checked on reports in each tool's JSON shape: the vulnerable ones are written out here,
since no vulnerability service answers on the test machines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from scripts.audit import CLEAN, NOT_AUDITED, VULNERABLE, read_npm_audit, read_pip_audit
from tests.conftest import REPO, unavailable

SCRIPT = REPO / "scripts" / "audit.py"
# requests 2.19.0 leaks the Authorization header on an https-to-http redirect (CVE-2018-18074, PYSEC-2018-28).
VULNERABLE_PIN = "requests==2.19.0\n"
# lodash 4.17.15: prototype pollution in zipObjectDeep (CVE-2020-8203, GHSA-p6mc-m468-83gw).
VULNERABLE_LOCK = {
    "name": "audit-probe",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "audit-probe", "version": "1.0.0", "dependencies": {"lodash": "4.17.15"}},
        "node_modules/lodash": {"version": "4.17.15"},
    },
}
# What pip-audit --format json prints for that pin when its service answers (a stand-in for the service).
FAKE_PIP_AUDIT_VULNERABLE = {
    "dependencies": [
        {
            "name": "requests",
            "version": "2.19.0",
            "vulns": [{"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "aliases": ["CVE-2018-18074"]}],
        },
        {"name": "idna", "version": "3.20", "vulns": []},
    ],
    "fixes": [],
}
# What npm audit --json prints for that lock when the registry answers (a stand-in for the registry).
FAKE_NPM_AUDIT_VULNERABLE = {
    "auditReportVersion": 2,
    "vulnerabilities": {
        "lodash": {
            "name": "lodash",
            "severity": "high",
            "range": "<=4.17.20",
            "fixAvailable": {"name": "lodash", "version": "4.18.1"},
        }
    },
    "metadata": {"vulnerabilities": {"high": 1, "total": 1}, "dependencies": {"prod": 2, "dev": 0, "total": 1}},
}


def run_audit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_vulnerable_python_pin_is_named_or_the_audit_says_it_could_not_ask(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(VULNERABLE_PIN)
    done = run_audit("requirements.txt", cwd=tmp_path)
    assert done.returncode in (VULNERABLE, NOT_AUDITED), done.stdout + done.stderr
    if done.returncode == VULNERABLE:
        assert "requests==2.19.0" in done.stdout and "CVE-2018-18074" in done.stdout
        assert "audit: FAILED" in done.stdout
    else:
        assert "NOT AUDITED  requirements.txt" in done.stdout and "1 of 1 packages not checked: requests" in done.stdout
        assert "audit: NOT AUDITED" in done.stdout and "OK" not in done.stdout


def test_a_vulnerable_npm_lock_is_named_or_the_audit_says_it_could_not_ask(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        unavailable("npm is not installed")
    (tmp_path / "package.json").write_text(
        json.dumps({"name": "audit-probe", "version": "1.0.0", "dependencies": {"lodash": "4.17.15"}})
    )
    (tmp_path / "package-lock.json").write_text(json.dumps(VULNERABLE_LOCK))
    done = run_audit("--npm", str(tmp_path), cwd=tmp_path)
    assert done.returncode in (VULNERABLE, NOT_AUDITED), done.stdout + done.stderr
    if done.returncode == VULNERABLE:
        assert "lodash" in done.stdout and "audit: FAILED" in done.stdout
    else:
        assert "npm's advisory endpoint did not answer" in done.stdout and "audit: NOT AUDITED" in done.stdout


def test_reports_are_read_as_the_tools_write_them() -> None:
    vulnerable = read_pip_audit("requirements.txt", FAKE_PIP_AUDIT_VULNERABLE)
    assert vulnerable.status == VULNERABLE and vulnerable.checked == 2
    assert vulnerable.vulnerable == ["requests==2.19.0: PYSEC-2018-28 (CVE-2018-18074), fixed in 2.20.0"]
    clean = read_pip_audit(
        "requirements.txt", {"dependencies": [{"name": "idna", "version": "3.20", "vulns": []}], "fixes": []}
    )
    assert clean.status == CLEAN
    # pip-audit's own verdict for this one is "No known vulnerabilities found", exit 0.
    skipped = read_pip_audit(
        "requirements.txt",
        {"dependencies": [{"name": "idna", "skip_reason": "Dependency not found on PyPI"}], "fixes": []},
    )
    assert skipped.status == NOT_AUDITED and skipped.unaudited == ["idna"]

    npm = read_npm_audit("package-lock.json", FAKE_NPM_AUDIT_VULNERABLE)
    assert npm.status == VULNERABLE and npm.vulnerable == ["lodash <=4.17.20: high, fixed in 4.18.1"]
    refused = read_npm_audit("package-lock.json", {"message": "405 Method Not Allowed", "error": {"summary": ""}})
    assert refused.status == NOT_AUDITED


def test_the_project_audit_never_reports_a_pass_it_did_not_make() -> None:
    done = run_audit(*sorted(p.name for p in REPO.glob("requirements*.txt")), "--npm", "clients/widget", cwd=REPO)
    assert done.returncode in (CLEAN, VULNERABLE, NOT_AUDITED), done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith(
        {CLEAN: "audit: OK", VULNERABLE: "audit: FAILED", NOT_AUDITED: "audit: NOT AUDITED"}[done.returncode]
    )
    if done.returncode == CLEAN:
        assert "NOT AUDITED" not in done.stdout and "not checked" not in done.stdout
