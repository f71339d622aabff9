"""The Helm chart (deploy/helm/session-collector), checked with real tools and no mocks:
helm v3's lint and template for each mode, every rendered manifest decoded strictly into
its Kubernetes API type by deploy/helm/validate (k8s.io/api), and every rendered collector
config checked by `session-collector validate` with the env its container gets.

The tools come from `make deploy-tools` (scripts/deploy-tools) in .tools/bin. Under CI
(CI set) a missing tool fails these tests; elsewhere it skips them, naming the command.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.confmap import ConfMap
from collector.confmap.netaddr import parse_endpoint

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "session-collector"
TOOLS = REPO / ".tools" / "bin"
HELM = TOOLS / "helm"
K8S_VALIDATE = TOOLS / "k8s-validate"
CLI = Path(sys.executable).with_name("session-collector")
DATA_DIR = "/var/lib/session-collector"
CONFIG_PATH = "/etc/session-collector/config.yaml"

# mode name -> helm arguments (values files of the chart's ci/ folder, then --set)
MODES: dict[str, list[str]] = {
    "edgeAndStorage": ["-f", "ci/edge-and-storage-values.yaml"],
    "allInOne": ["-f", "ci/all-in-one-values.yaml"],
    "secure": ["-f", "ci/secure-values.yaml"],
    "edgeOnly": ["-f", "ci/edge-and-storage-values.yaml", "--set", "storage.enabled=false"],
    "storageOnly": ["-f", "ci/edge-and-storage-values.yaml", "--set", "edge.enabled=false"],
    "allInOneEmptyDir": [
        "-f", "ci/all-in-one-values.yaml", "--set", "allInOne.persistence.enabled=false",
    ],
}  # fmt: skip

# what a placeholder Secret value looks like to the config validator: plain strings
SECRET_PLACEHOLDER = "secret-from-{name}-{key}"


def _tool(path: Path) -> Path:
    if not path.exists():
        message = f"{path} is missing: run `make deploy-tools` (scripts/deploy-tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool(HELM)), *args], cwd=CHART, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HELM_CACHE_HOME": "/tmp/helm-cache", "HELM_CONFIG_HOME":
             "/tmp/helm-config", "HELM_DATA_HOME": "/tmp/helm-data"},
    )  # fmt: skip


@functools.cache
def _render_text(mode: str) -> str:
    result = _helm("template", "sc", ".", "--namespace", "telemetry", *MODES[mode])
    assert result.returncode == 0, result.stderr
    return result.stdout


def _render(mode: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_render_text(mode)) if d]


def _objects(mode: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in _render(mode) if d["kind"] == kind]


def _one(mode: str, kind: str, suffix: str) -> dict[str, Any]:
    found = [d for d in _objects(mode, kind) if d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, (kind, suffix, [d["metadata"]["name"] for d in found])
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(mode: str, deployment: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would set it, with a placeholder for each
    value read from a Secret (whose value the chart does not know) and the pod's name."""
    env: dict[str, str] = {}
    secrets = {s["metadata"]["name"]: s for s in _objects(mode, "Secret")}
    for var in _container(deployment)["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name"
            env[var["name"]] = deployment["metadata"]["name"] + "-5d8f9c7b6-x2x7q"
        else:
            ref = source["secretKeyRef"]
            secret = secrets.get(ref["name"])
            if secret is None:  # an existing Secret of the cluster's
                env[var["name"]] = SECRET_PLACEHOLDER.format(**ref)
            else:
                env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def _config_text(mode: str, deployment: dict[str, Any]) -> str:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in _container(deployment)["volumeMounts"]
                 if m["mountPath"] == CONFIG_PATH)  # fmt: skip
    config_map = volumes[mount["name"]]["configMap"]["name"]
    cm = _one(mode, "ConfigMap", config_map)
    return str(cm["data"][mount["subPath"]])


def _resolved_config(mode: str, deployment: dict[str, Any]) -> dict[str, Any]:
    """The deployment's collector config as the collector resolves it (its own ConfMap)."""
    conf = ConfMap()
    conf.merge(yaml.safe_load(_config_text(mode, deployment)), "config.yaml")
    conf.expand_env(_env(mode, deployment))
    return conf.data


def _deployments(mode: str) -> list[dict[str, Any]]:
    return _objects(mode, "Deployment")


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


MODE_DEPLOYMENTS = [
    (mode, suffix)
    for mode, suffixes in {
        "edgeAndStorage": ["-edge", "-storage"],
        "allInOne": ["-all-in-one"],
        "secure": ["-edge", "-storage"],
        "edgeOnly": ["-edge"],
        "storageOnly": ["-storage"],
        "allInOneEmptyDir": ["-all-in-one"],
    }.items()
    for suffix in suffixes
]


# ---- the tools' own checks ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_helm_lint_passes_strict(mode: str) -> None:
    result = _helm("lint", ".", "--strict", *MODES[mode])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("mode", MODES)
def test_rendered_manifests_decode_strictly_into_kubernetes_types(mode: str) -> None:
    result = subprocess.run(
        [str(_tool(K8S_VALIDATE))], input=_render_text(mode), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    docs = _render(mode)
    assert f"{len(docs)} objects, no problems" in result.stdout
    for doc in docs:
        line = f"ok {doc['apiVersion']} {doc['kind']} {doc['metadata']['name']}"
        assert line in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("revisionHistoryLimit: 5", "revisionHistoryLimt: 5"),
         'unknown field "revisionHistoryLimt"'),
        (("containerPort: 4317", 'containerPort: "4317"'), "cannot unmarshal string"),
        (("storage: 5Gi", "storage: 5Gigs"), "quantities must match"),
        (("httpGet: {path: /, port: health}", "httpGet: {path: /, port: healthz}"),
         'port "healthz" names no container port'),
        (("kind: PersistentVolumeClaim", "kind: PersistentVolumeClam"), "unknown apiVersion/kind"),
    ],
)  # fmt: skip
def test_the_validator_refuses_what_the_api_server_would(
    change: tuple[str, str], expected: str
) -> None:
    """The offline validator is strict: each broken copy of the allInOne manifests fails."""
    text = _render_text("allInOne")
    assert change[0] in text
    result = subprocess.run(
        [str(_tool(K8S_VALIDATE))], input=text.replace(change[0], change[1], 1),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout


@pytest.mark.parametrize(("mode", "suffix"), MODE_DEPLOYMENTS)
def test_rendered_collector_config_passes_session_collector_validate(
    mode: str, suffix: str, tmp_path: Path
) -> None:
    deployment = _one(mode, "Deployment", suffix)
    assert _container(deployment)["args"][:3] == ["run", "--config", CONFIG_PATH]
    config = tmp_path / "config.yaml"
    config.write_text(_config_text(mode, deployment))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_"))}
    env = {k: v for k, v in env.items() if not k.startswith("SESSION_COLLECTOR_")}
    result = subprocess.run(
        [str(CLI), "validate", "--config", str(config)], env={**env, **_env(mode, deployment)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config is valid" in result.stdout.lower()


def test_a_broken_rendered_config_fails_session_collector_validate(tmp_path: Path) -> None:
    """The check above can fail: the edge's config with one key misspelt is refused."""
    deployment = _one("edgeAndStorage", "Deployment", "-edge")
    config = tmp_path / "config.yaml"
    config.write_text(_config_text("edgeAndStorage", deployment).replace("acks:", "ack:"))
    result = subprocess.run(
        [str(CLI), "validate", "--config", str(config)],
        env={**os.environ, **_env("edgeAndStorage", deployment)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "exporters.kafka.ack: unknown key" in result.stdout + result.stderr


# ---- what each mode renders ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["allInOne", "allInOneEmptyDir"])
def test_all_in_one_is_one_replica_recreated_never_scaled(mode: str) -> None:
    kinds = sorted({d["kind"] for d in _render(mode)})
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" not in kinds
    (deployment,) = _deployments(mode)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--workers" not in _container(deployment)["args"]


def test_all_in_one_keeps_the_embedded_store_and_queue_on_the_claim() -> None:
    (pvc,) = _objects("allInOne", "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployment = _one("allInOne", "Deployment", "-all-in-one")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _container(deployment)["volumeMounts"]}
    data = volumes[mounts[DATA_DIR]]
    assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    config = _resolved_config("allInOne", deployment)
    clickhouse = config["exporters"]["clickhouse"]
    assert clickhouse["endpoint"] == f"chdb://{DATA_DIR}/clickhouse"
    assert clickhouse["sending_queue"]["storage"] == f"{DATA_DIR}/queue"
    assert clickhouse["sending_queue"]["write_ahead"] is True
    # and without persistence, an emptyDir in its place and no claim
    assert _objects("allInOneEmptyDir", "PersistentVolumeClaim") == []
    (other,) = _deployments("allInOneEmptyDir")
    volumes = {v["name"]: v for v in other["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"]


def test_edge_has_an_autoscaler_and_a_disruption_budget() -> None:
    deployment = _one("edgeAndStorage", "Deployment", "-edge")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    hpa = _one("edgeAndStorage", "HorizontalPodAutoscaler", "-edge")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"],
    }  # fmt: skip
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "cpu" in _container(deployment)["resources"]["requests"]
    pdb = _one("edgeAndStorage", "PodDisruptionBudget", "-edge")
    assert pdb["spec"]["minAvailable"] == 1
    assert _matches(pdb["spec"]["selector"]["matchLabels"], labels)
    # rolling updates never take an edge away before its replacement is ready
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # the edge config sends every signal to Kafka
    config = _resolved_config("edgeAndStorage", deployment)
    assert config["exporters"]["kafka"]["brokers"] == ["kafka-0.kafka:9092,kafka-1.kafka:9092"]
    # an expansion stays text; the memory limiter's setting reads it as a number
    assert config["processors"]["memory_limiter"]["limit_mib"] == "512"
    for signal in ("logs", "metrics", "traces"):
        assert config["service"]["pipelines"][signal]["exporters"] == ["kafka"]


def test_edge_without_autoscaling_has_fixed_replicas() -> None:
    result = _helm("template", "sc", ".", *MODES["edgeOnly"], "--set",
                   "edge.autoscaling.enabled=false", "--set", "edge.replicas=4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 4


def test_storage_replicas_default_to_the_partitions() -> None:
    storage = _one("edgeAndStorage", "Deployment", "-storage")
    assert storage["spec"]["replicas"] == 6  # storage.partitions in ci/edge-and-storage-values
    assert _one("secure", "Deployment", "-storage")["spec"]["replicas"] == 4  # set below 12
    result = _helm("template", "sc", ".", *MODES["edgeAndStorage"], "--set",
                   "storage.replicas=7")  # fmt: skip
    assert result.returncode != 0
    assert "storage.replicas (7) is more than storage.partitions (6)" in result.stderr
    config = _resolved_config("edgeAndStorage", storage)
    assert config["receivers"]["kafka"]["group_id"] == "session-collector-storage"
    assert config["exporters"]["clickhouse"]["endpoint"] == "http://clickhouse.db:8123"
    assert config["exporters"]["clickhouse"]["username"] == "collector"
    assert config["exporters"]["clickhouse"]["password"] == "not-a-real-password"
    for signal in ("logs", "metrics", "traces"):
        pipeline = config["service"]["pipelines"][signal]
        assert pipeline == {"receivers": ["kafka"], "processors": ["memory_limiter", "batch"],
                            "exporters": ["clickhouse"]}  # fmt: skip


def test_storage_refuses_an_embedded_store() -> None:
    result = _helm("template", "sc", ".", *MODES["edgeAndStorage"], "--set",
                   "storage.clickhouse.endpoint=chdb:///var/lib/session-collector/ch")  # fmt: skip
    assert result.returncode != 0
    assert "an embedded chdb:// store is mode allInOne" in result.stderr


@pytest.mark.parametrize(
    ("mode", "components"),
    [
        ("edgeAndStorage", {"edge", "storage"}),
        ("allInOne", {"all-in-one"}),
        ("edgeOnly", {"edge"}),
        ("storageOnly", {"storage"}),
    ],
)
def test_mode_selects_the_components(mode: str, components: set[str]) -> None:
    rendered = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in _deployments(mode)
    }
    assert rendered == components
    configs = {d["metadata"]["labels"]["app.kubernetes.io/component"]
               for d in _objects(mode, "ConfigMap")}  # fmt: skip
    assert configs == components


def test_an_unknown_mode_and_missing_keys_are_refused() -> None:
    result = _helm("template", "sc", ".", *MODES["allInOne"], "--set", "mode=everything")
    assert result.returncode != 0
    assert 'mode must be edgeAndStorage or allInOne, not "everything"' in result.stderr
    result = _helm("template", "sc", ".", "--set", "mode=allInOne")
    assert result.returncode != 0
    assert "apiKeys: set existingSecret" in result.stderr


@pytest.mark.parametrize(("mode", "suffix"), MODE_DEPLOYMENTS)
def test_probes_ask_the_health_check_extension(mode: str, suffix: str) -> None:
    deployment = _one(mode, "Deployment", suffix)
    container = _container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    health = _resolved_config(mode, deployment)["extensions"]["health_check"]
    assert "health_check" in _resolved_config(mode, deployment)["service"]["extensions"]
    assert parse_endpoint(health["endpoint"]) == ("0.0.0.0", 13133)
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert ports[get["port"]] == 13133
        assert get["path"] == health["path"] == "/"


@pytest.mark.parametrize(("mode", "suffix"), MODE_DEPLOYMENTS)
def test_keys_file_is_the_mounted_secret(mode: str, suffix: str) -> None:
    deployment = _one(mode, "Deployment", suffix)
    keys_file = _resolved_config(mode, deployment)["extensions"]["apikeys"]["keys_file"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in _container(deployment)["volumeMounts"]
                if keys_file.startswith(m["mountPath"] + "/")]  # fmt: skip
    assert mount["readOnly"] is True
    secret_volume = volumes[mount["name"]]["secret"]
    (item,) = secret_volume["items"]
    assert keys_file == f"{mount['mountPath']}/{item['path']}"
    secrets = {s["metadata"]["name"]: s for s in _objects(mode, "Secret")}
    if mode == "secure":  # apiKeys.existingSecret
        assert secret_volume["secretName"] == "collector-api-keys"
        assert secret_volume["secretName"] not in secrets
    else:
        secret = secrets[secret_volume["secretName"]]
        keys = json.loads(base64.b64decode(secret["data"][item["key"]]))
        assert keys == {"version": 1, "keys": []}


def test_a_real_keys_file_goes_into_the_secret_unchanged(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    made = subprocess.run(
        [str(CLI), "keys", "create", "--keys-file", str(keys_file), "--org", "acme",
         "--name", "helm", "--json"], capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key_id = json.loads(made.stdout)["id"]
    result = _helm("template", "sc", ".", "--set", "mode=allInOne",
                   "--set-file", f"apiKeys.keysFile={keys_file}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (secret,) = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Secret"]
    assert base64.b64decode(secret["data"]["keys.json"]) == keys_file.read_bytes()
    assert key_id in base64.b64decode(secret["data"]["keys.json"]).decode()


@pytest.mark.parametrize(("mode", "suffix"), MODE_DEPLOYMENTS)
def test_service_ports_reach_the_configured_listeners(mode: str, suffix: str) -> None:
    deployment = _one(mode, "Deployment", suffix)
    container_ports = {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}
    config = _resolved_config(mode, deployment)
    health = config["extensions"]["health_check"]["endpoint"]
    metrics = config["service"]["telemetry"]["metrics"]["address"]
    listening = {parse_endpoint(health)[1], parse_endpoint(metrics)[1]}
    if "otlp" in config["receivers"]:
        otlp = config["receivers"]["otlp"]
        listening |= {parse_endpoint(otlp["endpoint"])[1],
                      parse_endpoint(otlp["protocols"]["grpc"]["endpoint"])[1]}  # fmt: skip
    if "sessions_api" in config["extensions"]:
        listening.add(parse_endpoint(config["extensions"]["sessions_api"]["endpoint"])[1])
    assert set(container_ports.values()) == listening
    service = _one(mode, "Service", suffix)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _matches(service["spec"]["selector"], labels)
    served = {p["port"]: container_ports[p["targetPort"]] for p in service["spec"]["ports"]}
    assert served == {port: port for port in listening}
    expected = {"-edge": {4317, 4318, 8888, 13133}, "-storage": {4320, 8888, 13133},
                "-all-in-one": {4317, 4318, 4320, 8888, 13133}}[suffix]  # fmt: skip
    assert listening == expected


@pytest.mark.parametrize(("mode", "suffix"), MODE_DEPLOYMENTS)
def test_runs_as_non_root_on_a_read_only_root(mode: str, suffix: str) -> None:
    deployment = _one(mode, "Deployment", suffix)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    container = _container(deployment)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]
                if not m.get("readOnly")}  # fmt: skip
    assert set(writable) == {DATA_DIR, "/tmp"}
    for volume in writable.values():
        assert {"emptyDir", "persistentVolumeClaim"} & set(volume)
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # every path the collector writes is under the data volume
    config = _resolved_config(mode, deployment)
    queues = [e["sending_queue"]["storage"] for e in config["exporters"].values()
              if e.get("sending_queue", {}).get("storage")]  # fmt: skip
    for path in queues:
        assert path.startswith(DATA_DIR + "/")


def test_secure_kafka_sasl_and_tls_come_from_secrets() -> None:
    for suffix in ("-edge", "-storage"):
        deployment = _one("secure", "Deployment", suffix)
        container = _container(deployment)
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                if "secretKeyRef" in e.get("valueFrom", {})}  # fmt: skip
        assert refs["KAFKA_SASL_USERNAME"] == {"name": "kafka-user-collector", "key": "username"}
        assert refs["KAFKA_SASL_PASSWORD"] == {"name": "kafka-user-collector", "key": "password"}
        config = _resolved_config("secure", deployment)
        kafka = config["exporters" if suffix == "-edge" else "receivers"]["kafka"]
        assert kafka["sasl"] == {
            "mechanism": "SCRAM-SHA-512",
            "username": SECRET_PLACEHOLDER.format(name="kafka-user-collector", key="username"),
            "password": SECRET_PLACEHOLDER.format(name="kafka-user-collector", key="password"),
        }
        assert kafka["brokers"] == ["kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093"]
        # the CA and client certificate files are in volumes of the named Secrets
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for key, secret in (("ca_file", "kafka-cluster-ca"), ("cert_file", "kafka-client-tls"),
                            ("key_file", "kafka-client-tls")):  # fmt: skip
            folder, _, name = kafka["tls"][key].rpartition("/")
            volume = volumes[mounts[folder]]["secret"]
            assert volume["secretName"] == secret
            assert name in [item["path"] for item in volume["items"]]
        if suffix == "-storage":
            assert refs["CLICKHOUSE_PASSWORD"] == {"name": "clickhouse-collector",
                                                   "key": "password"}  # fmt: skip
            clickhouse = config["exporters"]["clickhouse"]
            assert clickhouse["endpoint"] == "https://clickhouse.db:8443"
            assert clickhouse["database"] == "telemetry"
        else:
            assert container["args"][-2:] == ["--workers", "2"]
    # the chart made none of these Secrets: they are the cluster's
    assert [s["metadata"]["name"] for s in _objects("secure", "Secret")] == []


def test_kafka_ca_from_a_config_map() -> None:
    result = _helm("template", "sc", ".", *MODES["edgeOnly"], "--set", "kafka.tls.enabled=true",
                   "--set", "kafka.tls.ca.configMapName=kafka-ca-bundle")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (deployment,) = [d for d in yaml.safe_load_all(result.stdout)
                     if d and d["kind"] == "Deployment"]  # fmt: skip
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["kafka-ca"]["configMap"]["name"] == "kafka-ca-bundle"
    config_map = next(d for d in yaml.safe_load_all(result.stdout)
                      if d and d["kind"] == "ConfigMap")  # fmt: skip
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    ca_file = config["exporters"]["kafka"]["tls"]["ca_file"]
    assert ca_file == "/etc/session-collector/kafka-ca/ca.crt"


def test_prometheus_annotations_and_service_monitor() -> None:
    for mode, suffix in MODE_DEPLOYMENTS:
        template = _one(mode, "Deployment", suffix)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "8888"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
    assert _objects("edgeAndStorage", "ServiceMonitor") == []
    (monitor,) = _objects("secure", "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    services = [
        s
        for s in _objects("secure", "Service")
        if _matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert {s["metadata"]["name"] for s in services} == {
        "sc-session-collector-edge", "sc-session-collector-storage"}  # fmt: skip
    for service in services:
        assert "metrics" in [p["name"] for p in service["spec"]["ports"]]


def test_config_change_rolls_the_pods() -> None:
    before = _one("edgeAndStorage", "Deployment", "-edge")
    result = _helm("template", "sc", ".", *MODES["edgeAndStorage"], "--set", "logs.level=debug")
    assert result.returncode == 0, result.stderr
    after = next(d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"
                 and d["metadata"]["name"].endswith("-edge"))  # fmt: skip
    key = "checksum/config"
    assert (before["spec"]["template"]["metadata"]["annotations"][key]
            != after["spec"]["template"]["metadata"]["annotations"][key])  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "suffix", "example"),
    [
        ("edgeAndStorage", "-edge", "edge.yaml"),
        ("edgeAndStorage", "-storage", "storage.yaml"),
        ("allInOne", "-all-in-one", "all-in-one.yaml"),
    ],
)
def test_pipelines_are_those_of_the_example_configs(mode: str, suffix: str, example: str) -> None:
    rendered = _resolved_config(mode, _one(mode, "Deployment", suffix))
    ours = yaml.safe_load((REPO / "config" / example).read_text())
    assert rendered["service"]["pipelines"] == ours["service"]["pipelines"]
    assert set(rendered["service"]["extensions"]) == set(ours["service"]["extensions"])
    for section in ("receivers", "processors", "exporters"):
        assert set(rendered[section]) == set(ours[section])


def test_image_agrees_with_the_dockerfile() -> None:
    """The chart's container runs what the Dockerfile's image is: ENTRYPOINT session-collector
    with `run --config FILE`, USER 10001, data under /var/lib/session-collector."""
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile in this checkout")
    text = dockerfile.read_text()
    assert re.search(r'^ENTRYPOINT \["session-collector"\]', text, re.M)
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert re.search(rf'^VOLUME \["{DATA_DIR}"\]', text, re.M)
    deployment = _one("allInOne", "Deployment", "-all-in-one")
    assert "command" not in _container(deployment)  # the image's ENTRYPOINT runs
    assert _container(deployment)["args"] == ["run", "--config", CONFIG_PATH]
