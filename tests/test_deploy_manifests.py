"""Static checks of the deployment files: worker/, docker-compose.yml, deploy/.

No container engine runs here, so the files are checked the way an engine would read them:
every YAML file parses, Kubernetes objects have what they need (selectors that match their
pods, secrets and config maps that exist, a GPU per worker, a grace period longer than a
worker's hand-back), image names agree everywhere, and every environment variable handed to
an hqueue process is one hqueue's code reads (found by scanning the code, not from a list).
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hqueue.backends.redis import keys as redis_keys
from hqueue.worker.experiment import DEFAULT_QUEUE
from hqueue.worker.runner import POLL_S, TIMEOUT_GRACE_S

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = DEPLOY / "compose.gpu.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "worker" / "Dockerfile"
ENTRYPOINT = ROOT / "worker" / "entrypoint.sh"
WORKER_README = ROOT / "worker" / "README.md"
UNIT = DEPLOY / "systemd" / "hqueue-worker@.service"
UNIT_ENV = DEPLOY / "systemd" / "worker.env.example"
REDIS_CONF = DEPLOY / "redis" / "redis.conf"
USERS_ACL = DEPLOY / "redis" / "users.acl"
TLS_CONF = DEPLOY / "redis" / "tls.conf"

IMAGE = "hqueue-worker"
NAMESPACED = {"Secret", "ConfigMap", "Service", "StatefulSet", "Deployment", "ScaledObject",
              "TriggerAuthentication"}
# Stopping a worker: the objective is asked to stop and gets TIMEOUT_GRACE_S to return (the
# runner looks every POLL_S), then the trial is released and its task re-sent. The margin
# covers Celery's warm shutdown, a Redis round trip under load and the process exit.
HAND_BACK_S = TIMEOUT_GRACE_S + POLL_S
SHUTDOWN_MARGIN_S = 15.0
MIN_GRACE_S = HAND_BACK_S + SHUTDOWN_MARGIN_S


# -- helpers ---------------------------------------------------------------------------------
def yaml_files() -> list[Path]:
    return sorted([COMPOSE, *DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def k8s_objects() -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def k8s_object(kind: str, name: str) -> dict:
    matches = [d for _, d in k8s_objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def code_env_vars() -> set[str]:
    """Every environment-variable-like string constant in hqueue's code (``envvar="..."``,
    ``os.environ.get("...")``, ``SECRET_ENV = "..."``): what the code can read."""
    names = set()
    for path in (ROOT / "hqueue").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", node.value):
                names.add(node.value)
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip()]


def dockerfile_arg(name: str) -> str:
    for instr, args in dockerfile_instructions():
        if instr == "ARG" and args.split("=", 1)[0] == name:
            return args.split("=", 1)[1].strip('"')
    raise AssertionError(f"no ARG {name} in {DOCKERFILE}")


def redis_directives(text: str) -> dict[str, str]:
    return {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def acl_users() -> dict[str, list[str]]:
    users = {}
    for line in USERS_ACL.read_text().splitlines():
        if line.strip():
            word, name, *rules = line.split()
            assert word == "user", f"{USERS_ACL}: every line must start with 'user'"
            users[name] = rules
    return users


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def seconds(value: str | int) -> float:
    """Compose/systemd durations: 60, "60s", "1m30s"."""
    if isinstance(value, int):
        return float(value)
    total, matched = 0.0, False
    for number, unit_ in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?", str(value)):
        total += float(number) * {"ms": 1e-3, "s": 1, "": 1, "m": 60, "min": 60, "h": 3600}[unit_]
        matched = True
    assert matched, f"not a duration: {value!r}"
    return total


def env_names(container: dict) -> list[str]:
    return [e["name"] for e in container.get("env", [])]


# -- every file parses -----------------------------------------------------------------------
@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


def test_every_kubernetes_object_has_api_version_kind_name_and_namespace():
    objects = k8s_objects()
    assert {d["kind"] for _, d in objects} >= {"Namespace", "Secret", "ConfigMap", "Service",
                                             "StatefulSet", "Deployment", "ScaledObject",
                                             "TriggerAuthentication"}
    for path, doc in objects:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), path
        if doc["kind"] in NAMESPACED:
            assert doc["metadata"].get("namespace") == "hqueue", (path, doc["metadata"])


def test_core_kubernetes_objects_validate_against_the_api_schemas():
    kv = pytest.importorskip("kubernetes_validate",
                             reason="pip install kubernetes-validate for Kubernetes' schemas")
    core = [d for _, d in k8s_objects() if not d["apiVersion"].startswith("keda.sh/")]
    assert len(core) >= 5
    for doc in core:
        kv.validate(doc, kv.latest_version(), strict=True)  # raises on any unknown field


def test_kustomization_lists_every_manifest_but_the_optional_keda_one():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    assert all((K8S / r).is_file() for r in listed)
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert present - listed == {"keda-scaledobject.yaml"}
    assert [i["name"] for i in kust["images"]] == [IMAGE]


# -- Kubernetes: workloads, references -------------------------------------------------------
@pytest.mark.parametrize("kind,name", [("StatefulSet", "redis"), ("Deployment", "hqueue-worker")])
def test_workload_selector_matches_its_pod_labels(kind, name):
    obj = k8s_object(kind, name)
    selector = obj["spec"]["selector"]["matchLabels"]
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= labels.items()


def test_redis_service_selects_the_statefulset_pods_and_is_its_governing_service():
    service, sts = k8s_object("Service", "redis"), k8s_object("StatefulSet", "redis")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert sts["spec"]["serviceName"] == "redis"
    port_names = {p["name"] for c in sts["spec"]["template"]["spec"]["containers"]
                  for p in c.get("ports", [])}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_redis_statefulset_keeps_its_aof_on_a_persistent_volume_claim():
    sts = k8s_object("StatefulSet", "redis")
    claims = {c["metadata"]["name"]: c for c in sts["spec"]["volumeClaimTemplates"]}
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("redis:7")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    conf = redis_directives(k8s_object("ConfigMap", "redis-config")["data"]["redis.conf"])
    assert "data" in claims and claims["data"]["spec"]["resources"]["requests"]["storage"]
    assert mounts["data"] == conf["dir"]  # the AOF is written to the claim
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"
    assert "--requirepass" in container["args"]


def test_the_kubernetes_redis_config_mirrors_deploy_redis_conf():
    configmap = k8s_object("ConfigMap", "redis-config")["data"]["redis.conf"]
    assert redis_directives(configmap) == redis_directives(REDIS_CONF.read_text())


def test_every_secret_and_config_map_reference_resolves():
    secrets = {d["metadata"]["name"]: {**d.get("stringData", {}), **d.get("data", {})}
               for _, d in k8s_objects() if d["kind"] == "Secret"}
    configmaps = {d["metadata"]["name"] for _, d in k8s_objects() if d["kind"] == "ConfigMap"}
    refs = 0
    for _, doc in k8s_objects():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs += 1
                    assert ref["key"] in secrets.get(ref["name"], {}), ref
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
        if doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"]["secretTargetRef"]:
                refs += 1
                assert ref["key"] in secrets.get(ref["name"], {}), ref
    assert refs >= 4


def test_worker_pods_request_one_gpu_and_outlast_the_trial_hand_back():
    dep = k8s_object("Deployment", "hqueue-worker")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["terminationGracePeriodSeconds"] >= MIN_GRACE_S
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_worker_pods_run_as_the_image_user_and_probe_with_the_health_module():
    pod = k8s_object("Deployment", "hqueue-worker")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == dockerfile_arg("UID")
    liveness = container["livenessProbe"]["exec"]["command"]
    readiness = container["readinessProbe"]["exec"]["command"]
    assert "hqueue.worker.health" in liveness and "--skip-redis" in liveness
    assert "hqueue.worker.health" in readiness and "--skip-redis" not in readiness


def test_worker_url_points_at_the_redis_service_with_the_secret_password():
    (container,) = k8s_object("Deployment", "hqueue-worker")["spec"]["template"]["spec"][
        "containers"]
    env = {e["name"]: e for e in container["env"]}
    url = env["HQUEUE_URL"]["value"]
    helper = re.search(r"\$\((\w+)\)", url).group(1)
    assert env[helper]["valueFrom"]["secretKeyRef"]["key"] == "redis-password"
    assert env_names(container).index(helper) < env_names(container).index("HQUEUE_URL")
    assert url.split("@", 1)[1].startswith("redis.hqueue.svc.cluster.local:6379/")
    assert env["HQUEUE_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "hqueue-secret"


def test_keda_scales_the_worker_deployment_on_the_default_queue_list():
    scaled = k8s_object("ScaledObject", "hqueue-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "hqueue-worker"
    k8s_object("Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == DEFAULT_QUEUE
    assert trigger["metadata"]["address"].startswith("redis.hqueue.svc.cluster.local:")
    k8s_object("TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert scaled["spec"]["minReplicaCount"] >= 1  # scale-to-zero would stop running trials


# -- images ----------------------------------------------------------------------------------
def image_refs() -> dict[str, str]:
    services = compose()["services"]
    gpu = yaml.safe_load(COMPOSE_GPU.read_text())["services"]["worker"]
    (container,) = k8s_object("Deployment", "hqueue-worker")["spec"]["template"]["spec"][
        "containers"]
    built = re.findall(r"docker build [^\n]*?-t (\S+)",
                       DOCKERFILE.read_text() + WORKER_README.read_text())
    refs = {"compose worker": services["worker"]["image"],
            "compose dashboard": services["dashboard"]["image"],
            "compose gpu worker": gpu["image"], "k8s worker": container["image"]}
    refs.update({f"docs -t {i}": ref for i, ref in enumerate(built)})
    return refs


def test_image_names_agree_between_compose_kubernetes_and_the_dockerfile_docs():
    refs = image_refs()
    assert len(refs) >= 6
    for where, ref in refs.items():
        name, _, tag = ref.partition(":")
        assert name == IMAGE and tag in {"cpu", "cuda"}, f"{where}: {ref}"
    assert refs["compose gpu worker"].endswith(":cuda") and refs["k8s worker"].endswith(":cuda")


def test_the_cuda_base_image_is_the_same_everywhere():
    gpu = yaml.safe_load(COMPOSE_GPU.read_text())["services"]["worker"]
    base = gpu["build"]["args"]["BASE"]
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    assert f"BASE={base}" in DOCKERFILE.read_text()
    assert f"BASE={base}" in WORKER_README.read_text()


# -- the Dockerfile --------------------------------------------------------------------------
def test_dockerfile_selects_cpu_or_cuda_with_the_base_build_argument():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("ARG", "BASE=python:3.11-slim")
    assert instructions[1] == ("FROM", "${BASE}")
    run = " ".join(a for i, a in instructions if i == "RUN")
    assert "command -v python3" in run  # CUDA runtime images bring no Python


def test_dockerfile_runs_as_a_numeric_non_root_user():
    users = [a for i, a in dockerfile_instructions() if i == "USER"]
    assert users, "no USER instruction"
    user = users[-1].replace("${UID}", dockerfile_arg("UID")).split(":")[0]
    assert user.isdigit() and int(user) != 0  # numeric: Kubernetes can check runAsNonRoot


def test_dockerfile_has_stopsignal_healthcheck_and_an_exec_entrypoint():
    instructions = dict(dockerfile_instructions())
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    health = instructions["HEALTHCHECK"]
    assert "CMD" in health and "hqueue.worker.health" in health
    entry = yaml.safe_load(instructions["ENTRYPOINT"])  # JSON array form
    assert entry[:2] == ["tini", "--"] and entry[2] == "hqueue-entrypoint"
    assert yaml.safe_load(instructions["CMD"]) == ["worker"]


def test_dockerfile_copies_only_files_that_exist():
    for instr, args in dockerfile_instructions():
        if instr == "COPY":
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            assert sources and all((ROOT / s).exists() for s in sources), args


# -- the entrypoint --------------------------------------------------------------------------
@pytest.fixture
def fake_hqueue(tmp_path):
    """A stand-in ``hqueue`` on PATH that prints its pid, its arguments and its settings."""
    script = tmp_path / "bin" / "hqueue"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "pid=$$ args=$* concurrency=$HQUEUE_CONCURRENCY"\n')
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{script.parent}{os.pathsep}{os.environ['PATH']}")


def run_entrypoint(env, *args):
    proc = subprocess.Popen(["sh", str(ENTRYPOINT), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    return proc, out, err


def test_entrypoint_execs_hqueue_worker_so_signals_reach_it(fake_hqueue):
    env = {**fake_hqueue, "HQUEUE_URL": "redis://r:6379/0", "HQUEUE_SECRET": "s" * 32,
           "HQUEUE_CONCURRENCY": "3"}
    proc, out, err = run_entrypoint(env)
    assert proc.returncode == 0, err
    assert out.strip() == f"pid={proc.pid} args=worker concurrency=3"  # same pid: exec'd


def test_entrypoint_passes_options_and_other_commands_through(fake_hqueue):
    env = {**fake_hqueue, "HQUEUE_URL": "redis://r:6379/0", "HQUEUE_SECRET": "s" * 32}
    assert "args=worker --pool solo" in run_entrypoint(env, "--pool", "solo")[1]
    assert "args=status --exp-key e" in run_entrypoint(env, "hqueue", "status", "--exp-key",
                                                       "e")[1]


@pytest.mark.parametrize("missing,hint", [("HQUEUE_URL", "set HQUEUE_URL"),
                                          ("HQUEUE_SECRET", "set HQUEUE_SECRET")])
def test_entrypoint_refuses_to_start_without_url_or_secret_in_one_line(fake_hqueue, missing,
                                                                        hint):
    env = {**fake_hqueue, "HQUEUE_URL": "redis://r:6379/0", "HQUEUE_SECRET": "s" * 32}
    env.pop(missing)
    env.pop("HQUEUE_SECRET_FILE", None)
    proc, out, err = run_entrypoint(env)
    assert proc.returncode == 64 and out == ""
    assert len(err.strip().splitlines()) == 1 and hint in err


def test_entrypoint_accepts_a_secret_file_only_when_readable(fake_hqueue, tmp_path):
    env = {**fake_hqueue, "HQUEUE_URL": "redis://r:6379/0"}
    env.pop("HQUEUE_SECRET", None)
    missing = run_entrypoint({**env, "HQUEUE_SECRET_FILE": str(tmp_path / "nope")})
    assert missing[0].returncode == 64 and "not a readable file" in missing[2]
    (tmp_path / "secret").write_text("s" * 32)
    ok = run_entrypoint({**env, "HQUEUE_SECRET_FILE": str(tmp_path / "secret")})
    assert ok[0].returncode == 0 and "args=worker" in ok[1]


# -- environment variables agree with the code -----------------------------------------------
def hqueue_process_env() -> dict[str, set[str]]:
    """Variables handed to hqueue processes, by where they are set."""
    services = compose()["services"]
    (container,) = k8s_object("Deployment", "hqueue-worker")["spec"]["template"]["spec"][
        "containers"]
    values = " ".join(str(e.get("value", "")) for e in container["env"])
    helpers = set(re.findall(r"\$\((\w+)\)", values))  # only used to build another variable
    unit_env = {line.split("=", 1)[0] for line in UNIT_ENV.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    return {
        "compose worker": set(services["worker"]["environment"]),
        "compose dashboard": set(services["dashboard"].get("environment", {})),
        "k8s worker": set(env_names(container)) - helpers,
        "systemd env file": unit_env,
        "entrypoint": set(re.findall(r"\$\{?(HQUEUE_\w+)", ENTRYPOINT.read_text())),
        "worker README": set(re.findall(r"`(HQUEUE_\w+)`", WORKER_README.read_text())),
    }


def test_every_env_var_given_to_hqueue_is_one_its_code_reads():
    read = code_env_vars()
    assert {"HQUEUE_URL", "HQUEUE_SECRET"} <= read  # the scan finds what it must
    for where, names in hqueue_process_env().items():
        assert names - read == set(), f"{where} sets variables hqueue never reads"


def test_the_worker_docs_cover_every_variable_hqueue_worker_reads():
    from hqueue.cli import main

    worker_vars = {p.envvar for p in main.commands["worker"].params if p.envvar}
    assert {"HQUEUE_URL", "HQUEUE_CONCURRENCY", "HQUEUE_QUEUES", "HQUEUE_GPUS"} <= worker_vars
    documented = hqueue_process_env()
    assert worker_vars <= documented["worker README"]
    assert worker_vars <= set(re.findall(r"\b(HQUEUE_\w+)", ENTRYPOINT.read_text()))


# -- docker-compose.yml ----------------------------------------------------------------------
def test_compose_runs_redis_7_with_aof_and_a_password():
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    # redis-server first: the official image's entrypoint drops root only in that case
    assert command[0] == "redis-server"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in redis["volumes"] if m.startswith("./")}
    assert (ROOT / mounts[command[1]]).resolve() == REDIS_CONF
    conf = redis_directives(REDIS_CONF.read_text())
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"
    assert any(v.endswith(":/data") for v in redis["volumes"]) and conf["dir"] == "/data"
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"] == "${REDIS_PASSWORD}"


def test_compose_workers_build_from_worker_dockerfile_and_stop_gracefully():
    worker = compose()["services"]["worker"]
    assert worker["build"]["dockerfile"] == "worker/Dockerfile"
    assert worker["build"]["context"] == "."
    assert (ROOT / worker["build"]["context"] / worker["build"]["dockerfile"]) == DOCKERFILE
    assert str(worker["deploy"]["replicas"]).startswith("${HQUEUE_WORKERS")
    assert worker["stop_signal"] == "SIGTERM"
    assert seconds(worker["stop_grace_period"]) >= MIN_GRACE_S
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_flower_and_the_dashboard_watch_the_broker_the_workers_use():
    services = compose()["services"]
    url = services["worker"]["environment"]["HQUEUE_URL"]
    assert services["flower"]["environment"]["CELERY_BROKER_URL"] == url
    assert services["flower"]["image"].startswith("mher/flower:")
    dashboard = services["dashboard"]
    assert dashboard["command"][:2] == ["hqueue", "dashboard"]
    options = dict(zip(dashboard["command"][2::2], dashboard["command"][3::2]))
    assert options == {"--host": "0.0.0.0", "--port": "8080"}
    # the URL and the token come from the environment (not visible in the command line)
    assert dashboard["environment"]["HQUEUE_URL"] == url
    assert dashboard["environment"]["HQUEUE_DASHBOARD_TOKEN"].startswith(
        "${HQUEUE_DASHBOARD_TOKEN:?")
    assert any(p.endswith(":8080:8080") for p in dashboard["ports"])


def test_the_dashboard_command_in_compose_exists_with_those_options():
    from hqueue.cli import main

    if "dashboard" not in main.commands:
        pytest.skip("hqueue dashboard is not part of the CLI in this tree")
    params = main.commands["dashboard"].params
    options = {o for p in params for o in p.opts}
    dashboard = compose()["services"]["dashboard"]
    assert {a for a in dashboard["command"] if a.startswith("--")} <= options
    envvars = {p.name: p.envvar for p in params}
    assert envvars["url"] in dashboard["environment"]
    assert envvars["token"] in dashboard["environment"]


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if re.match(r"^\w+=", line)}
    assert used - example == set()
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert {"REDIS_PASSWORD", "HQUEUE_SECRET"} <= required


def test_compose_publishes_ports_on_loopback_by_default():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert re.match(r"\$\{\w+_BIND:-127\.0\.0\.1\}:", port), (name, port)


# -- systemd ---------------------------------------------------------------------------------
def test_systemd_unit_runs_one_worker_per_gpu_instance_and_stops_with_sigterm():
    assert UNIT.name.endswith("@.service")  # a template: hqueue-worker@0, @1, ...
    service = unit()["Service"]
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[1:] == ["worker", "--gpus", "%i"] and exec_start[0].endswith("/hqueue")
    assert service["KillSignal"] == "SIGTERM"
    assert seconds(service["TimeoutStopSec"]) >= MIN_GRACE_S
    assert service["EnvironmentFile"].startswith("/")
    assert service["User"] != "root"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit()["Unit"]["After"]


# -- Redis ACL and TLS configuration ---------------------------------------------------------
def hqueue_acl() -> tuple[list[str], list[str], set[str]]:
    rules = acl_users()["hqueue"]
    keys = [r[1:] for r in rules if r.startswith("~")]
    channels = [r[1:] for r in rules if r.startswith("&")]
    commands = {r[1:].lower() for r in rules if r.startswith("+")}
    return keys, channels, commands


def test_acl_hqueue_user_is_an_explicit_allow_list():
    rules = acl_users()["hqueue"]
    keys, channels, commands = hqueue_acl()
    assert rules[0] == "on" and "-@all" in rules
    assert rules.index("-@all") < min(i for i, r in enumerate(rules) if r.startswith("+"))
    assert not {"allkeys", "allchannels", "allcommands", "nopass"} & set(rules)
    assert "*" not in keys and "*" not in channels
    assert not any(c.startswith("@") for c in commands)
    forbidden = {"flushall", "flushdb", "keys", "config", "debug", "shutdown", "acl", "eval",
                 "monitor", "module", "script|flush", "script|kill", "migrate", "replicaof",
                 "save", "bgsave", "function"}
    assert commands & forbidden == set()


def test_acl_key_patterns_cover_every_hqueue_key_and_the_default_queue():
    keys, _, _ = hqueue_acl()
    exp = redis_keys.ExperimentKeys("exp1")
    examples = [redis_keys.EXPERIMENTS, redis_keys.WORKERS, exp.trial(3), exp.domain("ab12"),
                exp.trial_attachment(3, "model"), exp.experiment_attachment("data"),
                *(v for v in vars(exp).values() if isinstance(v, str) and v.startswith("hq:")),
                DEFAULT_QUEUE, f"{DEFAULT_QUEUE}\x06\x163", "_kombu.binding.hqueue",
                "unacked", "unacked_index", "unacked_mutex", "w1@host.celery.pidbox",
                "0f6c.reply.celery.pidbox", "celeryev.0f6c"]
    for key in examples:
        assert any(fnmatch.fnmatchcase(key, p) for p in keys), key
    assert not any(fnmatch.fnmatchcase("other:key", p) for p in keys)


def test_acl_allows_every_command_hqueue_lua_scripts_call():
    _, _, commands = hqueue_acl()
    scripts = (ROOT / "hqueue" / "backends" / "redis" / "scripts").glob("*.lua")
    called = {m.lower() for s in scripts
              for m in re.findall(r"redis\.p?call\(\s*['\"](\w+)['\"]", s.read_text())}
    assert called and called - commands == set()
    assert {"evalsha", "script|load", "script|exists"} <= commands


def test_acl_passwords_are_placeholders_filled_at_install_time():
    users = acl_users()
    assert set(users) == {"default", "hqueue"}
    for rules in users.values():
        (password,) = [r for r in rules if r.startswith(">")]
        assert re.fullmatch(r">\$\{REDIS_\w+_PASSWORD\}", password)


def test_tls_config_serves_tls_only_with_verified_clients():
    conf = redis_directives(TLS_CONF.read_text())
    assert conf["port"] == "0" and int(conf["tls-port"]) > 0
    assert {"tls-cert-file", "tls-key-file", "tls-ca-cert-file"} <= set(conf)
    assert conf["tls-auth-clients"] == "yes"
    assert "TLSv1" not in conf["tls-protocols"].replace("TLSv1.2", "").replace("TLSv1.3", "")


def test_health_module_named_by_the_image_and_probes_runs():
    out = subprocess.run([sys.executable, "-m", "hqueue.worker.health", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--skip-redis" in out.stdout
