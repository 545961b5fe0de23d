# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the state of a TKE cluster from Kubernetes objects (plain dicts).

The roles fetch objects with kubernetes.core.k8s_info and hand them here, so
that the decisions — which nodes count, which Pods must be recreated, what is
wrong with a node — live in one tested place instead of in Jinja.
"""

from __future__ import annotations

import ipaddress
from typing import Any

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
SUPER_NODE_INSTANCE_TYPE = "eklet"
ENI_IP_RESOURCE = "tke.cloud.tencent.com/eni-ip"
ENI_TAINT = "tke.cloud.tencent.com/eni-ip-unavailable"

Obj = dict[str, Any]


def _labels(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def is_super_node(node: Obj) -> bool:
    """Super nodes (TKE's serverless eklet) get no podCIDR and no Flannel Pod."""
    return _labels(node).get(INSTANCE_TYPE_LABEL) == SUPER_NODE_INSTANCE_TYPE


def worker_nodes(nodes: list[Obj]) -> list[str]:
    """Names of the nodes that podcidr-controller and Flannel serve."""
    return sorted(n["metadata"]["name"] for n in nodes if not is_super_node(n))


def node_pod_cidrs(nodes: list[Obj]) -> dict[str, str]:
    """spec.podCIDR of each node that has one, by node name."""
    out = {}
    for n in nodes:
        cidr = (n.get("spec") or {}).get("podCIDR")
        if cidr:
            out[n["metadata"]["name"]] = cidr
    return out


def _carries_eni_ip(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        if ENI_IP_RESOURCE in (res.get("requests") or {}) or ENI_IP_RESOURCE in (
            res.get("limits") or {}
        ):
            return True
    return False


def _controller(pod: Obj) -> Obj | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def eni_ip_pods(pods: list[Obj]) -> dict[str, list[dict[str, str]]]:
    """Split the Pods that carry TKE's ENI-IP resource into those to recreate and the rest.

    A Pod is recreated only when a controlling owner will create it again
    (any controller ownerReference, a ReplicaSet, DaemonSet, StatefulSet or
    Job typically); a bare Pod would be lost and a static Pod (owned by its
    Node) belongs to the kubelet, so both are listed for the operator
    instead. Pods being deleted are skipped. Pods without the resource are
    never returned at all.
    """
    recreate: list[dict[str, str]] = []
    leave: list[dict[str, str]] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or not _carries_eni_ip(pod):
            continue
        entry = {"namespace": meta.get("namespace", ""), "name": meta["name"]}
        owner = _controller(pod)
        if owner is None:
            leave.append({**entry, "reason": "no controller would recreate it"})
        elif owner.get("kind") == "Node":
            leave.append({**entry, "reason": "static Pod, managed by its node's kubelet"})
        else:
            recreate.append({**entry, "owner": f"{owner.get('kind')}/{owner.get('name')}"})
    return {"recreate": recreate, "leave": leave}


def node_problems(nodes: list[Obj], cluster_cidr: str) -> list[dict[str, str]]:
    """What is wrong with each worker node's podCIDR and taints, one entry per finding.

    Checks that every worker has a podCIDR inside the cluster CIDR, that no
    two overlap, and that TKE's ENI taint is gone. Each entry names the node,
    the problem and what to do.
    """
    network = ipaddress.ip_network(cluster_cidr, strict=False)
    problems: list[dict[str, str]] = []
    seen: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for n in sorted(nodes, key=lambda x: x["metadata"]["name"]):
        if is_super_node(n):
            continue
        name = n["metadata"]["name"]
        cidr = (n.get("spec") or {}).get("podCIDR")
        taints = (n.get("spec") or {}).get("taints") or []
        if any(t.get("key") == ENI_TAINT for t in taints):
            problems.append(
                {
                    "node": name,
                    "problem": f"still has the taint {ENI_TAINT}",
                    "fix": "check that podcidr-controller runs with removeTaints including it",
                }
            )
        if not cidr:
            problems.append(
                {
                    "node": name,
                    "problem": "has no podCIDR",
                    "fix": "check podcidr-controller's log (kube-system) and its Pod's node",
                }
            )
            continue
        block = ipaddress.ip_network(cidr, strict=False)
        if block.version != network.version or not block.subnet_of(network):
            problems.append(
                {
                    "node": name,
                    "problem": f"podCIDR {cidr} is outside the cluster CIDR {cluster_cidr}",
                    "fix": "podcidr-controller never rewrites a podCIDR: delete and re-register "
                    "the node so that it gets one from the cluster CIDR",
                }
            )
        for other_block, other in seen:
            if block.overlaps(other_block):
                problems.append(
                    {
                        "node": name,
                        "problem": f"podCIDR {cidr} overlaps {other}'s {other_block}",
                        "fix": "delete and re-register one of the two nodes",
                    }
                )
        seen.append((block, name))
    return problems


def index_by_kind_name(results: list[Obj]) -> dict[str, Obj | None]:
    """Map "Kind/name" to the object k8s_info found, or None, for looped k8s_info results."""
    out: dict[str, Obj | None] = {}
    for r in results:
        item = r.get("item") or {}
        found = r.get("resources") or []
        out[f"{item.get('kind')}/{item.get('name')}"] = found[0] if found else None
    return out


# Fields the API server sets; a restored object must not carry them.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def restorable(objs: list[Obj]) -> list[Obj]:
    """The objects as they can be created again: server-managed fields and status dropped."""
    out = []
    for obj in objs:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
        clean = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
        clean["metadata"] = meta
        out.append(clean)
    return out


def problem_text(problem: dict[str, str]) -> str:
    """One finding of node_problems as a sentence."""
    return f"node {problem['node']} {problem['problem']} ({problem['fix']})"


def node_lines(nodes: list[Obj]) -> list[str]:
    """One summary line per node: name, podCIDR and taints."""
    lines = []
    for n in sorted(nodes, key=lambda x: x["metadata"]["name"]):
        spec = n.get("spec") or {}
        taints = ",".join(f"{t['key']}:{t['effect']}" for t in spec.get("taints") or []) or "-"
        kind = " (super node: no podCIDR)" if is_super_node(n) else ""
        lines.append(
            f"  {n['metadata']['name']}  podCIDR={spec.get('podCIDR') or '-'}  "
            f"taints={taints}{kind}"
        )
    return lines


def workload_lines(results: list[Obj]) -> list[str]:
    """One summary line per release workload found by looped k8s_info."""
    lines = []
    for r in results:
        for w in r.get("resources") or []:
            meta = w["metadata"]
            status = w.get("status") or {}
            if w["kind"] == "DaemonSet":
                ready = f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)}"
            else:
                ready = (
                    f"{status.get('readyReplicas', 0)}/{(w.get('spec') or {}).get('replicas', 0)}"
                )
            lines.append(f"  {meta['namespace']}/{meta['name']} ({w['kind']}): {ready} ready")
    return lines


def release_lines(results: list[Obj]) -> list[str]:
    """One summary line per Helm release found by looped kubernetes.core.helm_info."""
    lines = []
    for r in results:
        item = r.get("item") or {}
        status = r.get("status") or {}
        where = f"{item.get('namespace')}/{item.get('name')}"
        if not status:
            lines.append(f"  {where}: not installed")
            continue
        lines.append(
            f"  {where}: chart {status.get('chart')}, app {status.get('app_version')}, "
            f"revision {status.get('revision')}, {status.get('status')}"
        )
    return lines


def pods_in_network(pods: list[Obj], network: str) -> list[str]:
    """namespace/name of the Pods (hostNetwork aside) whose IPs lie in NETWORK."""
    if not network:
        return []
    net = ipaddress.ip_network(network, strict=False)
    out = []
    for pod in pods:
        if (pod.get("spec") or {}).get("hostNetwork"):
            continue
        status = pod.get("status") or {}
        ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
        for ip in filter(None, ips):
            addr = ipaddress.ip_address(ip)
            if addr.version == net.version and addr in net:
                meta = pod["metadata"]
                out.append(f"{meta.get('namespace', '')}/{meta['name']}")
                break
    return sorted(out)


def restore_order(objs: list[Obj], kinds: list[str]) -> list[Obj]:
    """Objects sorted by the order of their kinds, tke-eni-ipamd before other Deployments.

    Restoring the webhook before the backend it calls would make every new
    Pod fail admission, so what serves it comes first.
    """

    def key(o: Obj) -> tuple[int, int]:
        kind = kinds.index(o["kind"]) if o["kind"] in kinds else len(kinds)
        return (kind, 0 if o["metadata"]["name"] == "tke-eni-ipamd" else 1)

    return sorted(objs, key=key)


def classify_nodes(nodes: list[Obj], registered_label: str) -> dict[str, list[str]]:
    """Sort node names into super nodes, registered nodes and the rest.

    REGISTERED_LABEL is "key=value" (or just "key") that registered nodes
    carry. The rest are ordinary or native TKE nodes: VPC-CNI configured them,
    and this collection does not reconfigure them.
    """
    key, _sep, value = registered_label.partition("=")
    out: dict[str, list[str]] = {"super": [], "registered": [], "other": []}
    for n in nodes:
        labels = _labels(n)
        name = n["metadata"]["name"]
        if is_super_node(n):
            out["super"].append(name)
        elif key in labels and (not value or labels[key] == value):
            out["registered"].append(name)
        else:
            out["other"].append(name)
    return {k: sorted(v) for k, v in out.items()}


def read_kubeconfig(text: str) -> dict[str, Any]:
    """The contexts of a kubeconfig, or why the text is not one.

    Returns {"error": "", "contexts": [...], "current": "..."}; "error" says
    what is wrong when the text does not parse as YAML or has no contexts.
    """
    import yaml  # PyYAML ships with ansible-core

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        return {"error": f"it is not YAML{where}", "contexts": [], "current": ""}
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list):
        return {"error": "it is not a kubeconfig (no clusters list)", "contexts": [], "current": ""}
    contexts = [c.get("name", "") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    if not contexts:
        return {"error": "it has no contexts", "contexts": [], "current": ""}
    return {"error": "", "contexts": contexts, "current": doc.get("current-context") or ""}


def flannel_pod_problems(nodes: list[Obj], pods: list[Obj]) -> list[dict[str, str]]:
    """Worker nodes without a ready Flannel Pod, one finding each."""
    ready_on = set()
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready_on.add((pod.get("spec") or {}).get("nodeName"))
    return [
        {
            "node": name,
            "problem": "has no ready Flannel Pod",
            "fix": "look at the kube-flannel-ds Pod on it and its log (kube-flannel namespace)",
        }
        for name in worker_nodes(nodes)
        if name not in ready_on
    ]


PLAN_OPTIONS = (
    "cluster_cidr",
    "node_cidr_mask_size",
    "vpc_cidrs",
    "service_cidr",
    "extra_reserved_cidrs",
    "node_count",
    "max_pods_per_node",
)


def plan_message_for_operator(msg: str, prefix: str = "tke_flannel_") -> str:
    """The planner's message with its option names turned into the variables the
    operator sets (cluster_cidr -> tke_flannel_cluster_cidr)."""
    import re

    pattern = r"(?<![A-Za-z0-9_])(" + "|".join(PLAN_OPTIONS) + r")(?![A-Za-z0-9_])"
    return re.sub(pattern, lambda m: prefix + m.group(1), msg)
