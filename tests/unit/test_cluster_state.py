"""Unit tests of the decisions the cluster roles take from Kubernetes objects."""

from __future__ import annotations

from ansible_collections.tke.flannel.plugins.module_utils import cluster_state as cs

ENI = {"requests": {cs.ENI_IP_RESOURCE: "1"}, "limits": {cs.ENI_IP_RESOURCE: "1"}}


def node(name, cidr=None, taints=(), instance_type=None):
    labels = {cs.INSTANCE_TYPE_LABEL: instance_type} if instance_type else {}
    spec = {"taints": [{"key": k, "effect": "NoSchedule"} for k in taints]}
    if cidr:
        spec["podCIDR"] = cidr
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def pod(name, resources=None, owner=None, host_network=False, ip=None, deleting=False):
    meta = {"name": name, "namespace": "kube-system"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec = {"hostNetwork": host_network, "containers": [{"name": "c", "resources": resources}]}
    return {"metadata": meta, "spec": spec, "status": {"podIP": ip} if ip else {}}


def test_super_nodes_are_not_workers():
    nodes = [node("b"), node("eklet-1", instance_type="eklet"), node("a", instance_type="external")]
    assert cs.worker_nodes(nodes) == ["a", "b"]


def test_node_pod_cidrs_skips_nodes_without_one():
    assert cs.node_pod_cidrs([node("a", "10.244.1.0/24"), node("b")]) == {"a": "10.244.1.0/24"}


def test_controller_owned_eni_pod_is_recreated():
    result = cs.eni_ip_pods([pod("coredns-1", ENI, owner=("ReplicaSet", "coredns-5"))])
    assert result == {
        "recreate": [
            {"namespace": "kube-system", "name": "coredns-1", "owner": "ReplicaSet/coredns-5"}
        ],
        "leave": [],
    }


def test_bare_eni_pod_is_left_with_a_reason():
    result = cs.eni_ip_pods([pod("debug", ENI)])
    assert result["leave"] == [
        {"namespace": "kube-system", "name": "debug", "reason": "no controller would recreate it"}
    ]


def test_static_eni_pod_is_left():
    result = cs.eni_ip_pods([pod("static", ENI, owner=("Node", "n1"))])
    assert result["leave"][0]["reason"].startswith("static Pod")


def test_pods_without_eni_ip_are_not_touched():
    pods = [pod("kube-proxy-1", {}, owner=("DaemonSet", "kube-proxy"), host_network=True)]
    assert cs.eni_ip_pods(pods) == {"recreate": [], "leave": []}


def test_pod_being_deleted_is_skipped():
    pods = [pod("coredns-1", ENI, owner=("ReplicaSet", "rs"), deleting=True)]
    assert cs.eni_ip_pods(pods) == {"recreate": [], "leave": []}


def test_eni_ip_in_limits_only_counts():
    only_limits = {"limits": {cs.ENI_IP_RESOURCE: "1"}}
    assert cs.eni_ip_pods([pod("p", only_limits, owner=("ReplicaSet", "r"))])["recreate"]


def test_node_without_pod_cidr_is_named():
    problems = cs.node_problems([node("n1")], "10.244.0.0/16")
    assert [(p["node"], p["problem"]) for p in problems] == [("n1", "has no podCIDR")]


def test_pod_cidr_outside_cluster_cidr_is_named():
    problems = cs.node_problems([node("n1", "10.99.0.0/24")], "10.244.0.0/16")
    assert (
        problems[0]["problem"] == "podCIDR 10.99.0.0/24 is outside the cluster CIDR 10.244.0.0/16"
    )


def test_overlapping_pod_cidrs_name_both_nodes():
    nodes = [node("a", "10.244.0.0/23"), node("b", "10.244.1.0/24")]
    problems = cs.node_problems(nodes, "10.244.0.0/16")
    assert problems[0]["problem"] == "podCIDR 10.244.1.0/24 overlaps a's 10.244.0.0/23"


def test_eni_taint_is_named():
    problems = cs.node_problems([node("a", "10.244.0.0/24", [cs.ENI_TAINT])], "10.244.0.0/16")
    assert problems[0]["problem"] == f"still has the taint {cs.ENI_TAINT}"


def test_healthy_nodes_and_super_nodes_have_no_problems():
    nodes = [node("a", "10.244.0.0/24"), node("s", instance_type="eklet")]
    assert cs.node_problems(nodes, "10.244.0.0/16") == []


def test_restorable_drops_server_fields_and_status():
    obj = {
        "kind": "Deployment",
        "metadata": {"name": "d", "uid": "u", "resourceVersion": "1", "managedFields": []},
        "spec": {"replicas": 2},
        "status": {"replicas": 2},
    }
    assert cs.restorable([obj]) == [
        {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2}}
    ]


def test_restore_order_puts_ipamd_first_and_webhook_last():
    objs = [
        {"kind": "MutatingWebhookConfiguration", "metadata": {"name": "hook"}},
        {"kind": "Deployment", "metadata": {"name": "tke-eni-ip-scheduler"}},
        {"kind": "ConfigMap", "metadata": {"name": "conf"}},
        {"kind": "Deployment", "metadata": {"name": "tke-eni-ipamd"}},
    ]
    order = ["Deployment", "DaemonSet", "ConfigMap", "MutatingWebhookConfiguration"]
    names = [o["metadata"]["name"] for o in cs.restore_order(objs, order)]
    assert names == ["tke-eni-ipamd", "tke-eni-ip-scheduler", "conf", "hook"]


def test_pods_in_network_ignores_host_network_and_other_ranges():
    pods = [
        pod("a", ip="10.244.3.4"),
        pod("b", ip="10.0.0.5"),
        pod("c", ip="10.244.3.5", host_network=True),
        pod("d"),
    ]
    assert cs.pods_in_network(pods, "10.244.0.0/16") == ["kube-system/a"]


def test_pods_in_network_without_network_is_empty():
    assert cs.pods_in_network([pod("a", ip="10.244.3.4")], "") == []


def test_index_by_kind_name_marks_missing_objects():
    results = [
        {"item": {"kind": "Deployment", "name": "x"}, "resources": [{"a": 1}]},
        {"item": {"kind": "ConfigMap", "name": "y"}, "resources": []},
    ]
    assert cs.index_by_kind_name(results) == {"Deployment/x": {"a": 1}, "ConfigMap/y": None}


def test_release_lines_say_when_a_release_is_missing():
    results = [
        {"item": {"name": "flannel", "namespace": "kube-flannel"}, "status": {}},
        {
            "item": {"name": "p", "namespace": "kube-system"},
            "status": {
                "chart": "p-1.1.0",
                "app_version": "1.1.0",
                "revision": 2,
                "status": "deployed",
            },
        },
    ]
    assert cs.release_lines(results) == [
        "  kube-flannel/flannel: not installed",
        "  kube-system/p: chart p-1.1.0, app 1.1.0, revision 2, deployed",
    ]


def test_classify_nodes_by_registered_label():
    nodes = [
        node("reg", instance_type="external"),
        node("cvm", instance_type="S5.MEDIUM4"),
        node("bare"),
        node("eklet-1", instance_type="eklet"),
    ]
    assert cs.classify_nodes(nodes, "node.kubernetes.io/instance-type=external") == {
        "super": ["eklet-1"],
        "registered": ["reg"],
        "other": ["bare", "cvm"],
    }


def test_classify_nodes_by_label_key_only():
    nodes = [node("reg", instance_type="anything"), node("bare")]
    assert cs.classify_nodes(nodes, "node.kubernetes.io/instance-type")["registered"] == ["reg"]


def test_flannel_pod_problems_names_nodes_without_a_ready_pod():
    ready = {
        "spec": {"nodeName": "a"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    pending = {
        "spec": {"nodeName": "b"},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    nodes = [node("a"), node("b"), node("c"), node("s", instance_type="eklet")]
    problems = cs.flannel_pod_problems(nodes, [ready, pending])
    assert [p["node"] for p in problems] == ["b", "c"]


def test_plan_message_names_the_operators_variables():
    msg = "cluster_cidr 10.0.0.0/16 overlaps vpc_cidrs 10.0.0.0/8; tke_flannel_service_cidr stays"
    assert cs.plan_message_for_operator(msg) == (
        "tke_flannel_cluster_cidr 10.0.0.0/16 overlaps tke_flannel_vpc_cidrs 10.0.0.0/8;"
        " tke_flannel_service_cidr stays"
    )
