"""Seed the lab's API server as TKE ships a VPC-CNI cluster, or print its state.

Objects are created only when missing, so `lab.sh up` can run again. The
webhook goes in first: Pods created while it lives (coredns, the bare Pod)
carry the injected ENI-IP resource, as on a real cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException

NS = "kube-system"
ENI_IP_RESOURCE = "tke.cloud.tencent.com/eni-ip"
ENI_TAINT = "tke.cloud.tencent.com/eni-ip-unavailable"
TKE_IMAGE = "ccr.ccs.tencentyun.com/tkeimages"
PIN_TOLERATE_ALL = [{"operator": "Exists"}]


def container(name: str, image: str, **extra: object) -> dict:
    return {"name": name, "image": image, **extra}


def daemonset(name: str, image: str, host_network: bool = True, **spec: object) -> dict:
    labels = {"k8s-app": name}
    pod_spec = {
        "hostNetwork": host_network,
        "tolerations": PIN_TOLERATE_ALL,
        "containers": [container(name, image)],
        **spec,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def deployment(name: str, image: str, replicas: int, **spec: object) -> dict:
    labels = {"k8s-app": name}
    pod_spec = {"containers": [container(name, image)], **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def multus_conf() -> dict:
    """tke-cni-agent-conf as a VPC-CNI cluster has it."""
    multus = {
        "cniVersion": "0.3.1",
        "name": "multus-cni",
        "type": "multus",
        "kubeconfig": "/etc/kubernetes/tke-cni-kubeconfig",
        "logLevel": "info",
        "defaultDelegates": "tke-route-eni",
        "capabilities": {"bandwidth": True, "portMappings": True},
    }
    route = {
        "cniVersion": "0.3.1",
        "name": "tke-route-eni",
        "type": "tke-route-eni",
        "eni": "eth1",
        "routeTable": 1,
    }
    bridge = {"cniVersion": "0.3.1", "name": "tke-bridge", "type": "tke-bridge"}
    return {
        "00-multus.conf": json.dumps(multus, indent=2),
        "tke-route.conf": json.dumps(route, indent=2),
        "tke-bridge.conf": json.dumps(bridge, indent=2),
    }


def node(name: str, labels: dict, taints: list[dict]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"taints": taints},
    }


def manifests(opts: argparse.Namespace) -> list[dict]:
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "add-pod-eni-ip-limit-webhook"},
        "webhooks": [
            {
                "name": "add-pod-eni-ip-limit.tke.cloud.tencent.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "clientConfig": {"url": opts.webhook_url, "caBundle": ca_bundle(opts.ca_file)},
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "not-add-pod-eni-ip-limit", "operator": "DoesNotExist"}
                    ]
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ],
            }
        ],
    }
    objs: list[dict] = [webhook]
    for i in range(opts.registered_nodes):
        ip = f"10.0.1.{10 + i}"
        objs.append(
            node(
                f"node-{ip}",
                {"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "external"},
                [{"key": ENI_TAINT, "effect": "NoSchedule"}],
            )
        )
    if opts.ordinary_node:
        # An ordinary (CVM) node as TKE adds it: its instance type, and the
        # ENI taint VPC-CNI removes once the node's ENI is ready.
        objs.append(
            node(
                "10.0.2.20",
                {"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "S5.MEDIUM4"},
                [{"key": ENI_TAINT, "effect": "NoSchedule"}],
            )
        )
    if opts.super_node:
        objs.append(
            node(
                "eklet-subnet-lab-0",
                {"node.kubernetes.io/instance-type": "eklet", "type": "virtual-kubelet"},
                [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}],
            )
        )
    objs += [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tke-cni-agent-conf", "namespace": NS},
            "data": multus_conf(),
        },
        daemonset("tke-eni-agent", f"{TKE_IMAGE}/tke-eni-agent:v3.8.0"),
        daemonset("tke-cni-agent", f"{TKE_IMAGE}/tke-cni-agent:v3.8.0"),
        deployment(
            "tke-eni-ipamd",
            f"{TKE_IMAGE}/tke-eni-ipamd:v3.8.0",
            2,
            hostNetwork=True,
            tolerations=PIN_TOLERATE_ALL,
        ),
        deployment("tke-eni-ip-scheduler", f"{TKE_IMAGE}/tke-eni-ip-scheduler:v3.8.0", 2),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "tke-eni-ipamd", "namespace": NS},
            "spec": {
                "selector": {"k8s-app": "tke-eni-ipamd"},
                "ports": [{"name": "grpc", "port": 61677, "targetPort": 61677}],
            },
        },
        daemonset("kube-proxy", f"{TKE_IMAGE}/hyperkube:v1.34.4-tke.1"),
        deployment(
            "coredns",
            f"{TKE_IMAGE}/coredns:1.11.3",
            2,
            tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        ),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "lab-bare-debug", "namespace": NS, "labels": {"app": "debug"}},
            "spec": {"containers": [container("debug", f"{TKE_IMAGE}/busybox:1.36")]},
        },
    ]
    if opts.ip_masq_agent:
        objs += [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "ip-masq-agent-config", "namespace": NS},
                "data": {"config": "nonMasqueradeCIDRs:\n  - 10.0.0.0/16\nresyncInterval: 1m\n"},
            },
            daemonset("ip-masq-agent", f"{TKE_IMAGE}/ip-masq-agent:v2.5.0"),
        ]
    return objs


def ca_bundle(path: str) -> str:
    import base64

    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def create(api: client.ApiClient, obj: dict) -> bool:
    from kubernetes import utils

    try:
        utils.create_from_dict(api, obj)
        return True
    except utils.FailToCreateError as exc:
        if all(isinstance(e, ApiException) and e.status == 409 for e in exc.api_exceptions):
            return False
        raise


def seed(opts: argparse.Namespace) -> None:
    api = config.new_client_from_config(opts.kubeconfig)
    core = client.CoreV1Api(api)
    # Pods can't be created before the controller-manager made the namespace's
    # default ServiceAccount.
    deadline = time.time() + 60
    while not core.list_namespaced_service_account(
        NS, field_selector="metadata.name=default"
    ).items:
        if time.time() > deadline:
            sys.exit("[lab seed] kube-system/default ServiceAccount missing after 60s")
        time.sleep(1)
    made = [f"{o['kind']}/{o['metadata']['name']}" for o in manifests(opts) if create(api, o)]
    for name in made:
        print(f"[lab seed] created {name}")
    for n in core.list_node().items:
        if n.metadata.name.startswith("node-") and not n.status.addresses:
            ip = n.metadata.name[len("node-") :]
            body = {"status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
            core.patch_node_status(n.metadata.name, body)
    # Wait until coredns has its Pods, carrying the injected resource.
    deadline = time.time() + 60
    while time.time() < deadline:
        pods = core.list_namespaced_pod(NS, label_selector="k8s-app=coredns").items
        if len(pods) >= 2:
            break
        time.sleep(1)
    else:
        sys.exit("[lab seed] coredns Pods did not appear within 60s")


def status(opts: argparse.Namespace) -> None:
    api = config.new_client_from_config(opts.kubeconfig)
    core = client.CoreV1Api(api)
    print(f"{'NODE':28} {'PODCIDR':18} TAINTS")
    for n in core.list_node().items:
        taints = ",".join(f"{t.key}:{t.effect}" for t in n.spec.taints or []) or "-"
        print(f"{n.metadata.name:28} {n.spec.pod_cidr or '-':18} {taints}")
    print(f"\n{'KUBE-SYSTEM POD':44} {'PHASE':10} ENI-IP")
    for p in core.list_namespaced_pod(NS).items:
        req = (p.spec.containers[0].resources.requests or {}) if p.spec.containers else {}
        print(f"{p.metadata.name:44} {p.status.phase:10} {req.get(ENI_IP_RESOURCE, '-')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--status", action="store_true")
    ap.add_argument("--webhook-url")
    ap.add_argument("--ca-file")
    ap.add_argument("--registered-nodes", type=int, default=2)
    ap.add_argument("--super-node", type=int, default=0)
    ap.add_argument("--ip-masq-agent", type=int, default=0)
    ap.add_argument("--ordinary-node", type=int, default=0)
    opts = ap.parse_args()
    if opts.status:
        status(opts)
    else:
        seed(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
