"""Kubernetes manifests: rendered for every chip family and validated against a current
Kubernetes schema with kubernetes-validate (no API server can run here; the client path runs
only with KUBECONFIG, see test_kubernetes_cluster below)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from huangpu.agent.executors.kubernetes import (
    RESOURCE_NAMES,
    object_name,
    render,
    render_job,
    resource_name,
)
from huangpu.agent.inventory import parse_inventory
from huangpu.core.catalog import load_catalog
from huangpu.core.families import FAMILIES
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import DevicePlacement, Lease

kubernetes_validate = pytest.importorskip("kubernetes_validate")
SCHEMA = "1.33.0"  # a current Kubernetes release the validator ships schemas for


def lease(chip: str, per_node: int = 2, nodes: int = 1) -> tuple[Lease, list[Any]]:
    inv = parse_inventory(f"{nodes}x{per_node}x{chip}" if nodes > 1 else f"{per_node}x{chip}", "a")
    model = load_catalog().resolve(chip)
    env = FAMILIES[model.family].visibility_env
    spec = JobSpec(
        name="k8s-test",
        command="python train.py --steps 10",
        env={"SEED": "1"},
        resources={"accelerators": per_node, "nodes": nodes, "chips": [chip]},
    )
    placed = [DevicePlacement(node=n.name, index=d.index) for n in inv for d in n.devices]
    return (
        Lease(
            job_id="job_01JABCDEF",
            attempt=2,
            spec=spec,
            devices=placed,
            visibility_env={env: ",".join(str(i) for i in range(per_node))},
            expires_at=time.time() + 60,
        ),
        inv,
    )


def test_every_family_has_a_device_plugin_resource() -> None:
    assert set(RESOURCE_NAMES) == set(FAMILIES)
    assert resource_name("310p", "ascend") == "huawei.com/Ascend310P"


@pytest.mark.parametrize(
    "chip", ["a100", "910b", "mlu370", "k100", "c500", "s4000", "bi-v150", "s60", "p800", "br104"]
)
def test_job_manifest_validates_and_asks_for_the_vendor_resource(chip: str) -> None:
    job_lease, inv = lease(chip)
    manifest = render_job(job_lease, inv, namespace="pool-a")
    kubernetes_validate.validate(manifest, SCHEMA, strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    family = load_catalog().resolve(chip).family
    assert container["resources"]["limits"] == {RESOURCE_NAMES[family]: "2"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HUANGPU_CHIP_FAMILY"] == family and env["SEED"] == "1"
    # the device plugin sets the visibility variable; passing the lease's would fight it
    assert FAMILIES[family].visibility_env not in env
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["metadata"]["name"] == object_name(job_lease) == "hp-job-01jabcdef-a2"


def test_gang_is_a_jobset_whose_job_template_validates() -> None:
    gang, inv = lease("910b", per_node=8, nodes=4)
    manifest = render(gang, inv)
    assert manifest["kind"] == "JobSet"
    replicated = manifest["spec"]["replicatedJobs"][0]
    spec = replicated["template"]["spec"]
    assert (spec["parallelism"], spec["completions"], spec["completionMode"]) == (4, 4, "Indexed")
    assert manifest["spec"]["failurePolicy"] == {"maxRestarts": 0}
    # JobSet is a CRD the validator has no schema for; its Job template is a batch/v1 JobSpec
    as_job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": spec}
    kubernetes_validate.validate(as_job, SCHEMA, strict=True)


@pytest.mark.kubernetes
@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="needs a real cluster: KUBECONFIG")
def test_kubernetes_cluster(tmp_path: Any) -> None:
    from huangpu.agent.executors.base import ExecState
    from huangpu.agent.executors.kubernetes import KubernetesExecutor

    executor = KubernetesExecutor(tmp_path, image="busybox:1.36")
    job_lease, _inv = lease("a100", per_node=1)
    job_lease = job_lease.model_copy(
        update={"spec": JobSpec(name="k", command="echo hi", resources={"accelerators": 1})}
    )
    engine_id = executor.submit(job_lease.model_copy(update={"devices": []}))
    deadline = time.monotonic() + 300
    while executor.poll(engine_id).state is ExecState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(2)
    assert executor.poll(engine_id).exit_code == 0
    executor.cancel(engine_id)
