"""Kubernetes: a stage as a `batch/v1` Job manifest, checked against the Kubernetes client's object models.

    manifest = build_request(spec)        # the Job, as `kubectl apply -f` takes it (printed as YAML)
    validate_request(manifest)            # UserError naming the field (spec.template.spec.containers[0].name)
    pod_manifest(manifest)                # the Job's pod as a v1 Pod: what `podman kube play` runs locally
    submit(manifest, spec.settings)       # BatchV1Api.create_namespaced_job (kubeconfig / in-cluster config)

How a stage maps:
- one container `train` running the image with args `["train"]` (the entrypoint is mldock-entrypoint),
  `restartPolicy: Never`, `backoffLimit` (default 0: a failed training is not silently retried);
- every stage variable (channel variables included) and `MLDOCK_HYPERPARAMETERS` as `env` values; credentials
  only by reference: `env_from_secrets` lists Secrets whose keys become variables (`envFrom.secretRef`), so
  the manifest never holds a key; `image_pull_secrets`, `service_account` likewise;
- `cpu` / `memory` as requests (memory also as the limit); `instance_count` N > 1 gives an Indexed Job with
  `completions` = `parallelism` = N (each pod gets JOB_COMPLETION_INDEX);
- `host_network` puts the pod on the node's network (a local cluster reaching emulators on the host).

Validation is the client's own models (kubernetes 37: pydantic models of the API's OpenAPI definitions,
unknown fields forbidden): `V1Job.model_validate(manifest)`; errors name the field path. Object names are
also checked against the API server's DNS-1123 rule, which the models leave to the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from mldock.errors import ToolingError, UserError
from mldock.submit.job import JobSpec

__all__ = [
    "CONTAINER",
    "FINAL_STATES",
    "build_request",
    "logs",
    "pod_manifest",
    "render",
    "status",
    "submit",
    "validate_request",
]

CONTAINER = "train"
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")
FINAL_STATES: Mapping[str, bool] = {"Complete": True, "Failed": False}
"""The Job's final states as `status` reports them, and whether each is a success (`mldock status --wait`)."""


def build_request(spec: JobSpec) -> dict[str, Any]:
    """The Job manifest for `spec` (not yet validated: see validate_request)."""
    settings = spec.settings
    environment = {**spec.environment, **spec.hyperparameters_variable()}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image.reference,
        "args": ["train"],
        "env": [{"name": name, "value": value} for name, value in environment.items()],
    }
    if settings.get("env_from_secrets"):
        container["envFrom"] = [{"secretRef": {"name": name}} for name in settings["env_from_secrets"]]
    requests = {key: settings[key] for key in ("cpu", "memory") if settings.get(key)}
    if requests:
        container["resources"] = {"requests": requests}
        if "memory" in requests:
            container["resources"]["limits"] = {"memory": requests["memory"]}
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if settings.get("host_network"):
        pod["hostNetwork"] = True
    if settings.get("service_account"):
        pod["serviceAccountName"] = settings["service_account"]
    if settings.get("image_pull_secrets"):
        pod["imagePullSecrets"] = [{"name": name} for name in settings["image_pull_secrets"]]
    labels = {
        "app.kubernetes.io/managed-by": "mldock",
        "mldock.dev/project": _label(spec.project),
        "mldock.dev/stage": _label(spec.stage),
    }
    job_spec: dict[str, Any] = {
        "backoffLimit": settings.get("backoff_limit", 0),
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
    }
    if spec.instance_count > 1:
        job_spec.update(completions=spec.instance_count, parallelism=spec.instance_count, completionMode="Indexed")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.job_name, "namespace": settings.get("namespace", "default"), "labels": labels},
        "spec": job_spec,
    }


def validate_request(manifest: Mapping[str, Any]) -> None:
    """UserError naming every field the client's V1Job model refuses (and a name the API server would)."""
    try:
        k8s.V1Job.model_validate(dict(manifest))
    except ValidationError as exc:
        problems = [f"{_path(error['loc'])}: {error['msg']}" for error in exc.errors()]
        listed = "\n".join(f"  - {line}" for line in problems)
        raise UserError(f"the Kubernetes Job would be rejected:\n{listed}") from None
    metadata = manifest.get("metadata") or {}
    for key in ("name", "namespace"):
        value = metadata.get(key)
        if value is not None and (len(value) > 63 or not _DNS_1123.match(value)):
            raise UserError(
                f"the Kubernetes Job would be rejected: metadata.{key} {value!r} must be lower-case letters, "
                "digits and '-' (DNS-1123), at most 63 characters"
            )


def pod_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The Job's pod template as a v1 Pod (named after the Job): what `podman kube play` runs."""
    template = manifest["spec"]["template"]
    metadata = manifest["metadata"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": metadata["name"], "labels": dict(template.get("metadata", {}).get("labels", {}))},
        "spec": template["spec"],
    }
    k8s.V1Pod.model_validate(pod)
    return pod


def render(manifest: Mapping[str, Any]) -> str:
    """The manifest as YAML, in the order it was built."""
    text: str = yaml.dump(dict(manifest), Dumper=_NoAliases, sort_keys=False, default_flow_style=False)
    return text


def submit(manifest: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, str]:
    """Create the Job with the kubeconfig's current context (or the in-cluster config); its namespace/name."""
    namespace = manifest["metadata"].get("namespace", "default")
    try:
        created = _batch().create_namespaced_job(namespace=namespace, body=k8s.V1Job.model_validate(dict(manifest)))
    except ApiException as exc:
        name = manifest["metadata"]["name"]
        raise ToolingError(f"Kubernetes refused Job {name!r}: {exc.status} {exc.reason}") from exc
    name = created.metadata.name if created.metadata is not None else manifest["metadata"]["name"]
    return {"job": f"{namespace}/{name}"}


def status(job: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The Job's state (`job`: NAMESPACE/NAME, or NAME in the settings' namespace)."""
    namespace, _, name = job.rpartition("/")
    namespace = namespace or settings.get("namespace", "default")
    try:
        found = _batch().read_namespaced_job_status(name=name, namespace=namespace)
    except ApiException as exc:
        raise ToolingError(f"Kubernetes Job {namespace}/{name}: {exc.status} {exc.reason}") from exc
    counts = found.status or k8s.V1JobStatus()
    state = "Complete" if counts.succeeded else "Failed" if counts.failed else "Active" if counts.active else "Pending"
    return {"job": f"{namespace}/{name}", "platform": "kubernetes", "status": state}


def logs(job: str, settings: Mapping[str, Any]) -> Iterator[str]:
    """The log of the Job's `train` container in each of its pods (`[pod] line`)."""
    namespace, _, name = job.rpartition("/")
    namespace = namespace or settings.get("namespace", "default")
    _batch()  # loads the configuration
    core = k8s.CoreV1Api()
    try:
        pods = core.list_namespaced_pod(namespace=namespace, label_selector=f"job-name={name}").items
        for pod in pods:
            pod_name = str(pod.metadata.name) if pod.metadata is not None else ""
            text = core.read_namespaced_pod_log(name=pod_name, namespace=namespace, container=CONTAINER)
            for line in str(text).splitlines():
                yield f"[{pod_name}] {line}"
    except ApiException as exc:
        raise ToolingError(f"the logs of Kubernetes Job {namespace}/{name}: {exc.status} {exc.reason}") from exc


# -- internals ------------------------------------------------------------------------------------------------


class _NoAliases(yaml.SafeDumper):  # type: ignore[misc]
    """A manifest spells every value out (no &id001 anchors for a mapping used twice)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _batch() -> k8s.BatchV1Api:
    try:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError):
        try:
            k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException as exc:
            raise UserError(f"no Kubernetes cluster configured (kubeconfig or in-cluster): {exc}") from None
    return k8s.BatchV1Api()


def _label(value: str) -> str:
    return _LABEL_VALUE.sub("-", value)[:63].strip("-_.")


def _path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(manifest)"
