"""What the runbook's release and rollback commands rely on, in the files that ship them: the Dockerfile's
HEALTHCHECK probes readiness (and, run against the real service, fails while it is not ready and passes once
it is), deploy/swarm/stack.yml is a valid Compose file (the compose-spec JSON schema, as vendored by
check-jsonschema) whose service `rag-backend` rolls forward start-first and back on failure, and
deploy/kubernetes/deployment.yaml holds a Deployment and a Service valid for Kubernetes 1.37 (the schemas
of kubernetes-validate, strict) with probes on paths the app serves and the port the image exposes; and the
image and every manifest set ENVIRONMENT=production."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml

from src.app import create_app
from src.db.migrations import run_migrations
from tests.conftest import REPO, env_for, free_port, make_settings

DOCKERFILE = (REPO / "Dockerfile").read_text()
STACK = REPO / "deploy" / "swarm" / "stack.yml"
KUBERNETES = REPO / "deploy" / "kubernetes" / "deployment.yaml"
READINESS = "/api/v1/health/ready"
LIVENESS = "/health"
KUBERNETES_VERSION = "1.37"


def dockerfile_healthcheck() -> list[str]:
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert match, "the Dockerfile has no exec-form HEALTHCHECK"
    command: list[str] = json.loads(match.group(1))
    return command


def exposed_port() -> int:
    (port,) = re.findall(r"^EXPOSE (\d+)$", DOCKERFILE, re.MULTILINE)
    return int(port)


def served_paths(tmp_path: Path) -> set[str]:
    return set(create_app(make_settings(tmp_path)).openapi()["paths"])


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


def test_the_image_is_probed_on_readiness_at_the_port_it_serves(tmp_path: Path) -> None:
    command = dockerfile_healthcheck()
    assert command[0] == "python", "the probe uses what the image has (no curl in python:slim)"
    assert f"http://127.0.0.1:{exposed_port()}{READINESS}'" in command[-1]
    assert READINESS in served_paths(tmp_path)
    assert f"--bind 0.0.0.0:{exposed_port()}" in DOCKERFILE


@pytest.fixture
def unmigrated_server(tmp_path: Path, pg_url: str) -> Any:
    """The real service on a loopback port, on an empty PostgreSQL database: alive, not ready."""
    port = free_port()
    settings = make_settings(tmp_path, database_url=pg_url, auto_migrate=False)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env_for(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        try:
            if httpx.get(url + LIVENESS, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.3)
    yield port, pg_url
    proc.terminate()
    proc.wait(timeout=40)
    log.close()


def test_the_healthcheck_fails_until_the_service_is_ready(unmigrated_server: tuple[int, str]) -> None:
    port, pg_url = unmigrated_server
    probe = [sys.executable if c == "python" else c for c in dockerfile_healthcheck()]
    probe[-1] = probe[-1].replace(f"127.0.0.1:{exposed_port()}", f"127.0.0.1:{port}")

    def run_probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)

    # Alive (the old liveness probe passed here) but not migrated: unhealthy.
    not_ready = run_probe()
    assert not_ready.returncode == 1, not_ready
    assert "503" in not_ready.stderr
    run_migrations(pg_url)
    ready = run_probe()
    assert ready.returncode == 0, ready.stderr


def compose_schema() -> dict[str, Any]:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_the_swarm_stack_is_valid_compose_and_rolls_back_by_itself() -> None:
    stack = yaml.safe_load(STACK.read_text())
    jsonschema.Draft202012Validator(compose_schema()).validate(stack)

    service = stack["services"]["rag-backend"]
    assert service["healthcheck"]["test"] == ["CMD", *dockerfile_healthcheck()], (
        "the stack probes what the image probes"
    )
    assert [p["target"] for p in service["ports"]] == [exposed_port()]
    assert seconds(service["stop_grace_period"]) >= 40, "30 s of drain and 5 s to close (runbook section 2)"
    deploy = service["deploy"]
    assert deploy["replicas"] >= 2
    assert deploy["update_config"]["order"] == "start-first"
    assert deploy["update_config"]["failure_action"] == "rollback"
    assert seconds(deploy["update_config"]["monitor"]) >= seconds(service["healthcheck"]["start_period"])
    assert deploy["rollback_config"]["order"] == "start-first"
    assert {"reservations", "limits"} <= set(deploy["resources"])


def test_the_swarm_schema_check_refuses_a_broken_stack() -> None:
    stack = yaml.safe_load(STACK.read_text())
    stack["services"]["rag-backend"]["deploy"]["update_config"]["order"] = "stop-after"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(compose_schema()).validate(stack)


def kubernetes_documents() -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d]
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    return {d["kind"]: d for d in documents}


def test_the_kubernetes_deployment_is_valid_and_probes_readiness(tmp_path: Path) -> None:
    documents = kubernetes_documents()
    assert set(documents) == {"Deployment", "Service"}
    deployment, service = documents["Deployment"], documents["Service"]
    assert deployment["metadata"]["name"] == "rag-backend", "kubectl rollout undo deployment/rag-backend"
    spec = deployment["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["revisionHistoryLimit"] >= 1, "rollout undo needs the previous ReplicaSet"
    pod = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 40
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == exposed_port()
    # Prometheus scrapes the port the app serves its metrics on (METRICS_PORT), which the Service does not expose.
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert (
        set(ports) == {"http", "metrics"}
        and str(ports["metrics"]) == env["METRICS_PORT"] == pod["metadata"]["annotations"]["prometheus.io/port"]
    )
    assert env["METRICS_HOST"] == "0.0.0.0", "the scraper reaches the pod's address"
    paths = served_paths(tmp_path)
    assert container["readinessProbe"]["httpGet"]["path"] == READINESS in paths
    assert container["livenessProbe"]["httpGet"]["path"] == LIVENESS in paths
    assert container["startupProbe"]["httpGet"]["path"] in paths
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert [source["secretRef"]["name"] for source in container["envFrom"]] == ["rag-backend-env"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]

    assert service["metadata"]["name"] == "rag-backend"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_the_kubernetes_schema_check_refuses_a_broken_deployment() -> None:
    deployment = next(d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = READINESS
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_runbooks_rollback_commands_name_the_shipped_services() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    stack_header = STACK.read_text()
    (stack_name,) = re.findall(r"docker stack deploy -c deploy/swarm/stack\.yml (\S+)", stack_header)
    (service,) = yaml.safe_load(STACK.read_text())["services"]
    assert f"docker service rollback {stack_name}_{service}" in runbook, "Swarm names the service <stack>_<service>"
    deployment = kubernetes_documents()["Deployment"]["metadata"]["name"]
    assert f"kubectl rollout undo deployment/{deployment}" in runbook


def dockerfile_env() -> dict[str, str]:
    """The ENV of the image's last stage (the one that runs), continuation lines joined."""
    instructions = re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    last_stage = instructions[max(i for i, line in enumerate(instructions) if line.startswith("FROM ")) :]
    return dict(pair.split("=", 1) for line in last_stage if line.startswith("ENV ") for pair in shlex.split(line[4:]))


def systemd_env(unit: Path) -> dict[str, str]:
    """The unit's own Environment= assignments (an EnvironmentFile= line wins over them)."""
    lines = [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("Environment=")]
    return dict(pair.split("=", 1) for line in lines for pair in shlex.split(line))


def test_every_way_the_service_ships_runs_it_in_production() -> None:
    """ENVIRONMENT defaults to development, where the service generates a key per instance: the image and every
    manifest say production, where a key must be set."""
    service = yaml.safe_load(STACK.read_text())["services"]["rag-backend"]
    (container,) = kubernetes_documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    units = [u for u in (REPO / "deploy").rglob("*.service") if "gunicorn src.api.main:app" in u.read_text()]
    assert [u.name for u in units] == ["rag-backend.service"]
    found = {
        "Dockerfile": dockerfile_env().get("ENVIRONMENT"),
        "kubernetes": {e["name"]: e.get("value") for e in container.get("env", [])}.get("ENVIRONMENT"),
        "swarm": dict(service.get("environment") or {}).get("ENVIRONMENT"),
        **{unit.name: systemd_env(unit).get("ENVIRONMENT") for unit in units},
    }
    assert found == dict.fromkeys(found, "production")
