"""Kubernetes executor: a job attempt is a ``batch/v1`` Job (a JobSet for gangs).

Rendering is pure (``render_job`` / ``render_jobset``) and tested everywhere; CI validates the
rendered manifests with ``kubernetes-validate`` against a current schema. Submitting and
watching go through the official ``kubernetes`` client, imported only when a
``KubernetesExecutor`` is built, and are exercised against a real cluster only when
``KUBECONFIG`` is set: no API server can run on the CI machines.

Devices are asked for by each vendor's device-plugin resource name; the device plugin then
sets the container's visibility variable itself, so the lease's variable is not passed.
Engine id: ``k8s:<namespace>/<name>`` (``<name>`` is derived from the lease, so a repeated
submit finds the object that already exists).
"""

from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path
from typing import Any

from huangpu.agent.executors.base import (
    LOG_CHUNK,
    RUNNING,
    ExecState,
    ExecStatus,
    ExecutorError,
    ExecutorUnavailable,
    SubmitFailed,
)
from huangpu.agent.executors.common import JobRecords, RecordBackedExecutor, job_env, lease_chip
from huangpu.core.catalog import load_catalog
from huangpu.core.domain import Node
from huangpu.core.protocol import Lease

INSTALL_HINT = "the Kubernetes executor needs the client: pip install 'huangpu[kubernetes]'"
MANAGED_LABEL = "huangpu.io/managed"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"

# Device-plugin resource names, per chip family. Each checked against the vendor's plugin:
RESOURCE_NAMES: dict[str, str] = {
    # https://github.com/NVIDIA/k8s-device-plugin (README: "nvidia.com/gpu")
    "nvidia": "nvidia.com/gpu",
    # https://gitee.com/ascend/ascend-device-plugin and HAMi docs/ascend910b-support.md
    # (https://github.com/Project-HAMi/HAMi): "huawei.com/Ascend910" (310P: see below)
    "ascend": "huawei.com/Ascend910",
    # https://github.com/Cambricon/cambricon-k8s-device-plugin and HAMi
    # docs/cambricon-mlu-support.md: "cambricon.com/mlu"
    "cambricon": "cambricon.com/mlu",
    # HAMi docs/hygon-dcu-support.md ("We now support hygon.com/dcu"), the DCU device plugin
    "hygon": "hygon.com/dcu",
    # MetaX gpu-device plugin registers "metax-tech.com/gpu" (MetaX GPU operator docs;
    # HAMi pkg/device/metax tests use it as MetaxResourceCount)
    "metax": "metax-tech.com/gpu",
    # HAMi docs/mthreads-support.md: "mthreads.com/vgpu" (MT device plugin's resource)
    "moorethreads": "mthreads.com/vgpu",
    # HAMi docs/iluvatar-gpu-support.md and Iluvatar's gpu-manager: "iluvatar.ai/vgpu"
    "iluvatar": "iluvatar.ai/vgpu",
    # HAMi docs/enflame-gcu-support.md and Enflame's k8s plugin docs: "enflame.com/gcu"
    "enflame": "enflame.com/gcu",
    # HAMi docs/kunlunxin-support.md: "kunlunxin.com/xpu" (whole XPUs)
    "kunlunxin": "kunlunxin.com/xpu",
    # HAMi docs/biren-support.md: "biren.ai/vgpu" (not confirmed in Biren's own docs)
    "biren": "biren.ai/vgpu",
}
# Chips whose plugin registers a different name than their family's default.
CHIP_RESOURCE_NAMES: dict[str, str] = {"310p": "huawei.com/Ascend310P"}


def resource_name(chip: str | None, family: str | None) -> str | None:
    if chip and chip in CHIP_RESOURCE_NAMES:
        return CHIP_RESOURCE_NAMES[chip]
    if family is None and chip:
        model = load_catalog().models.get(chip)
        family = model.family if model else None
    return RESOURCE_NAMES.get(family) if family else None


def object_name(lease: Lease) -> str:
    """A DNS-1123 label from the job id and attempt (at most 63 characters)."""
    base = re.sub(r"[^a-z0-9-]", "-", f"hp-{lease.job_id}-a{lease.attempt}".lower())
    return base[:63].strip("-")


def _container(
    lease: Lease, nodes: list[Node] | None, image: str, chip: str | None, family: str | None
) -> dict[str, Any]:
    env = job_env(lease, nodes, visibility=False)
    container: dict[str, Any] = {
        "name": "job",
        "image": lease.spec.image or image,
        "command": ["/bin/sh", "-c", lease.spec.command],
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
    }
    if lease.spec.workdir:
        container["workingDir"] = lease.spec.workdir
    name = resource_name(chip, family)
    per_node = lease.spec.resources.accelerators if lease.device_count else 0
    if name and per_node:
        # extended resources must be whole numbers and requests == limits
        container["resources"] = {"limits": {name: str(per_node)}}
    return container


def _pod_template(container: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def render_job(
    lease: Lease,
    nodes: list[Node] | None = None,
    *,
    namespace: str = "default",
    image: str = "python:3.11-slim",
) -> dict[str, Any]:
    """A ``batch/v1`` Job running the lease's command once, with no retries (huangpu
    requeues)."""
    chip, family = lease_chip(lease, nodes)
    labels = {
        MANAGED_LABEL: "true",
        "huangpu.io/job": lease.job_id.lower()[:63],
        "huangpu.io/attempt": str(lease.attempt),
    }
    container = _container(lease, nodes, image, chip, family)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": object_name(lease), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": _pod_template(container, labels),
        },
    }


def render_jobset(
    lease: Lease,
    nodes: list[Node] | None = None,
    *,
    namespace: str = "default",
    image: str = "python:3.11-slim",
) -> dict[str, Any]:
    """A JobSet for a gang: one indexed Job with one pod per node, all-or-nothing
    (``failurePolicy.maxRestarts: 0``; a gang is requeued by huangpu, not restarted)."""
    job = render_job(lease, nodes, namespace=namespace, image=image)
    count = lease.spec.resources.nodes
    job_spec = {
        **job["spec"],
        "parallelism": count,
        "completions": count,
        "completionMode": "Indexed",
    }
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": job["metadata"],
        "spec": {
            "failurePolicy": {"maxRestarts": 0},
            "replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": job_spec}}],
        },
    }


def render(lease: Lease, nodes: list[Node] | None = None, **kwargs: Any) -> dict[str, Any]:
    return (render_jobset if lease.spec.resources.nodes > 1 else render_job)(lease, nodes, **kwargs)


class KubernetesExecutor(RecordBackedExecutor):
    """Submit/watch through the official client (needs KUBECONFIG or in-cluster config)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        namespace: str = "default",
        image: str = "python:3.11-slim",
        nodes: list[Node] | None = None,
    ) -> None:
        try:
            # by name, typed Any: the client is an optional extra, absent where mypy runs
            client: Any = importlib.import_module("kubernetes.client")
            config: Any = importlib.import_module("kubernetes.config")
        except ImportError as error:
            raise ExecutorUnavailable(INSTALL_HINT) from error
        try:
            if os.environ.get("KUBECONFIG"):
                config.load_kube_config()
            else:
                config.load_incluster_config()
        except Exception as error:  # the client raises ConfigException and friends
            raise ExecutorUnavailable(f"no Kubernetes configuration: {error}") from error
        self.client: Any = client
        self.batch: Any = client.BatchV1Api()
        self.core: Any = client.CoreV1Api()
        self.custom: Any = client.CustomObjectsApi()
        self.namespace, self.image = namespace, image
        self.records = JobRecords(Path(state_dir))
        self._nodes = nodes

    def discover(self) -> list[Node]:
        return list(self._nodes or [])  # node GPUs come from --inventory for now

    def set_nodes(self, nodes: list[Node]) -> None:
        self._nodes = list(nodes)

    def submit(self, lease: Lease) -> str:
        again = self.records.existing(lease)
        if again is not None:
            return again.engine_id
        manifest = render(lease, self._nodes, namespace=self.namespace, image=self.image)
        name = manifest["metadata"]["name"]
        try:
            if manifest["kind"] == "Job":
                self.batch.create_namespaced_job(self.namespace, manifest)
            else:
                group, version = JOBSET_API.split("/")
                self.custom.create_namespaced_custom_object(
                    group, version, self.namespace, "jobsets", manifest
                )
        except self.client.exceptions.ApiException as error:
            if error.status != 409:  # 409: it exists already (a repeated submit)
                raise SubmitFailed(f"Kubernetes refused the job: {error.reason}") from error
        engine_id = f"k8s:{self.namespace}/{name}"
        self.records.save(lease, self.records.dir_for(lease), engine_id, kind=manifest["kind"])
        return engine_id

    def _name(self, engine_id: str) -> str:
        self.records.get(engine_id)
        return engine_id.partition("/")[2]

    def poll(self, engine_id: str) -> ExecStatus:
        name = self._name(engine_id)
        try:
            job = self.batch.read_namespaced_job_status(name, self.namespace)
        except self.client.exceptions.ApiException as error:
            if error.status == 404:
                return ExecStatus(ExecState.LOST, detail=f"Kubernetes job {name} is gone")
            raise ExecutorUnavailable(f"Kubernetes: {error.reason}") from error
        status = job.status
        if status.succeeded:
            return ExecStatus(ExecState.EXITED, 0, time.time())
        if status.failed:
            conditions = [c.message or c.reason for c in status.conditions or [] if c.message]
            return ExecStatus(ExecState.EXITED, None, time.time(), "; ".join(conditions)[:2000])
        return RUNNING

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        name = self._name(engine_id)
        body = self.client.V1DeleteOptions(
            propagation_policy="Foreground", grace_period_seconds=int(grace_seconds)
        )
        try:
            self.batch.delete_namespaced_job(name, self.namespace, body=body)
        except self.client.exceptions.ApiException as error:
            if error.status != 404:
                raise ExecutorError(f"Kubernetes delete {name}: {error.reason}") from error

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        name = self._name(engine_id)
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={name}")
        if not pods.items:
            return b"", offset
        try:
            text = self.core.read_namespaced_pod_log(pods.items[0].metadata.name, self.namespace)
        except self.client.exceptions.ApiException:
            return b"", offset
        data = text.encode()[offset : offset + limit]
        return data, offset + len(data)
