"""Unit tests of the node-side verdict on Flannel's data path.

The fixtures in fixtures/flannel-node were recorded on a lab node (node 1 of
tests/lab/nodes.sh) with flanneld running: `ip -j -d addr show`,
`ip -j route show` and /run/flannel/subnet.env. Each test changes one thing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.tke.flannel.plugins.module_utils.flannel_node import (
    LEASE_ANNOTATION,
    NodeView,
    flannel_peers,
    judge,
    path_mtu_problems,
    underlay_link,
)
from ansible_collections.tke.flannel.plugins.module_utils.node_state import parse_subnet_env

FIXTURES = Path(__file__).parent / "fixtures" / "flannel-node"
CLUSTER = "10.244.0.0/16"
POD_CIDR = "10.244.1.0/24"
PEERS = {"node-192.168.250.12": "10.244.2.0/24"}


@pytest.fixture
def view() -> NodeView:
    return NodeView(
        br_netfilter=True,
        subnet_env=parse_subnet_env((FIXTURES / "subnet.env").read_text()),
        links=json.loads((FIXTURES / "addr.json").read_text()),
        routes=json.loads((FIXTURES / "route.json").read_text()),
    )


def link(view: NodeView, name: str) -> dict:
    return next(ln for ln in view.links if ln["ifname"] == name)


def only(verdict) -> str:
    assert len(verdict.problems) == 1, verdict.problems
    return verdict.problems[0]


def test_recorded_node_is_right(view):
    v = judge(view, POD_CIDR, CLUSTER, PEERS)
    assert v.problems == []
    assert v.summary == (
        "subnet 10.244.1.1/24 in 10.244.0.0/16; flannel.1 up, MTU 1450, over eth0"
        " 192.168.250.11 (MTU 1500); routes to 1 other node(s)"
    )


def test_vxlan_rides_on_the_link_the_device_names(view):
    assert underlay_link(view, "", "flannel.1") == "eth0"
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    assert underlay_link(view, "eth1", "flannel.1") == "eth1"
    assert underlay_link(view, "", "flannel.1") == "eth0"  # the default route's


def test_missing_br_netfilter_names_flanneld_error_and_the_fix(view):
    view.br_netfilter = False
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS))
    assert "br_netfilter is not loaded" in problem
    assert "'Failed to check br_netfilter'" in problem
    assert "playbooks/nodes.yml" in problem


def test_node_without_pod_cidr(view):
    v = judge(view, "", CLUSTER, PEERS)
    assert any("has no podCIDR" in p and "podcidr-controller" in p for p in v.problems)


def test_pod_cidr_outside_the_cluster_cidr(view):
    v = judge(view, "10.250.1.0/24", CLUSTER, PEERS)
    assert any(
        "10.250.1.0/24 is outside the cluster CIDR 10.244.0.0/16" in p and "delete the Node" in p
        for p in v.problems
    )
    # and subnet.env does not match it either
    assert any("FLANNEL_SUBNET=10.244.1.1/24, not in the Node's podCIDR" in p for p in v.problems)


def test_missing_subnet_env(view):
    view.subnet_env = None
    assert "/run/flannel/subnet.env is missing" in only(judge(view, POD_CIDR, CLUSTER, PEERS))


def test_subnet_env_of_another_network(view):
    view.subnet_env = dict(view.subnet_env, FLANNEL_NETWORK="10.42.0.0/16")
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS))
    assert "FLANNEL_NETWORK=10.42.0.0/16, not the cluster CIDR 10.244.0.0/16" in problem


def test_no_vxlan_device(view):
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    v = judge(view, POD_CIDR, CLUSTER, PEERS)
    assert v.problems == [
        "there is no flannel.1 interface: flanneld has not set up vxlan on this node"
    ]
    assert v.summary == ""


def test_vxlan_device_down(view):
    link(view, "flannel.1")["flags"].remove("UP")
    assert only(judge(view, POD_CIDR, CLUSTER, PEERS)) == "flannel.1 is down"


def test_vxlan_mtu_larger_than_the_link_carries(view):
    link(view, "eth0")["mtu"] = 1400
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS))
    assert "flannel.1 has MTU 1450, more than eth0 (MTU 1400) carries" in problem
    assert "delete flannel.1 on the node (ip link delete flannel.1), then the node's" in problem
    # When the operator set flannel_mtu, the fix is that variable (flanneld takes 50 off).
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS, flannel_mtu=1500))
    assert "set flannel_mtu to at most 1400 (flanneld takes the 50 off)" in problem


def test_vxlan_device_older_than_the_mtu_in_subnet_env(view):
    view.subnet_env = dict(view.subnet_env, FLANNEL_MTU="1350")
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS, flannel_mtu=1400))
    assert problem.startswith("flannel.1 has MTU 1450, but subnet.env gives the Pods MTU 1350")
    assert "ip link delete flannel.1" in problem


def test_link_mtu_too_small_for_vxlan(view):
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    link(view, "eth0")["mtu"] = 100
    v = judge(view, POD_CIDR, CLUSTER, PEERS)
    assert any(
        "eth0 has MTU 100, too small for vxlan: it needs at least 118" in p for p in v.problems
    )


@pytest.mark.parametrize("mtu", [117, 118])
def test_link_mtu_boundary(view, mtu):
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    link(view, "eth0")["mtu"] = mtu
    too_small = any("too small for vxlan" in p for p in judge(view, POD_CIDR, CLUSTER, {}).problems)
    assert too_small == (mtu < 118)


def test_missing_route_to_a_peer(view):
    peers = dict(PEERS, **{"node-192.168.250.13": "10.244.3.0/24"})
    problem = only(judge(view, POD_CIDR, CLUSTER, peers))
    assert (
        "no route through flannel.1 to the podCIDR of node-192.168.250.13 (10.244.3.0/24)"
        in problem
    )


def test_named_interface_that_does_not_exist(view):
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    problems = judge(view, POD_CIDR, CLUSTER, PEERS, iface="bond0").problems
    assert any(
        "flannel_iface is 'bond0', but the node has no interface of that name" in p
        for p in problems
    )


def test_no_default_route_and_no_iface(view):
    view.links = [ln for ln in view.links if ln["ifname"] != "flannel.1"]
    view.routes = [r for r in view.routes if r["dst"] != "default"]
    problems = judge(view, POD_CIDR, CLUSTER, PEERS).problems
    assert any("no default route and flannel_iface is empty" in p for p in problems)


def test_peers_are_the_nodes_with_a_lease():
    def node(name, cidr, lease):
        annotations = {LEASE_ANNOTATION: "{}"} if lease else {}
        return {"metadata": {"name": name, "annotations": annotations}, "spec": {"podCIDR": cidr}}

    nodes = [
        node("a", "10.244.1.0/24", True),
        node("b", "10.244.2.0/24", True),
        node("kwok-no-flanneld", "10.244.3.0/24", False),
        node("no-cidr", None, True),
    ]
    assert flannel_peers(nodes, exclude="a") == {"b": "10.244.2.0/24"}
    assert flannel_peers(copy.deepcopy(nodes)) == {"a": "10.244.1.0/24", "b": "10.244.2.0/24"}


def test_a_device_of_that_name_that_is_not_vxlan_is_never_to_be_deleted(view):
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS, vxlan_device="eth0"))
    assert problem.startswith("eth0 is not a vxlan device (it is veth)")
    assert "delete" not in problem


def test_missing_route_advice_restarts_this_nodes_flannel_pod(view):
    view.routes = [r for r in view.routes if r.get("dev") != "flannel.1"]
    problem = only(judge(view, POD_CIDR, CLUSTER, PEERS))
    assert "restart the node's kube-flannel-ds Pod (flanneld adds every route at start)" in problem


def test_vxlan_mtu_must_fit_the_narrowest_link_of_the_other_nodes():
    facts = {
        "a": {"vxlan_mtu": 1450, "link": "eth0", "link_mtu": 1500},
        "b": {"vxlan_mtu": 1250, "link": "eth0", "link_mtu": 1300},
        "c": {},  # a node whose check found no link
    }
    (problem,) = path_mtu_problems(facts["a"], facts, "a")
    assert problem.startswith("flannel.1 has MTU 1450, more than b's eth0 (MTU 1300) carries")
    assert "set flannel_mtu to 1300 (the narrowest node link)" in problem
    assert path_mtu_problems(facts["b"], facts, "b") == []
    assert path_mtu_problems(facts["a"], {"a": facts["a"]}, "a") == []


def test_module_refuses_arguments_that_are_not_cidrs_or_mtus():
    from ansible_collections.tke.flannel.plugins.modules.flannel_node_info import _bad_inputs

    params = {"cluster_cidr": "10.244.0.0/33", "pod_cidr": "garbage", "flannel_mtu": -5}
    params["peers"] = {"x": "bogus"}
    assert _bad_inputs(params) == [
        "cluster_cidr '10.244.0.0/33' is not a CIDR such as 10.244.0.0/16",
        "pod_cidr 'garbage' is not a CIDR such as 10.244.0.0/16",
        "peers[x] 'bogus' is not a CIDR such as 10.244.0.0/16",
        "flannel_mtu -5 is not 0 (the interface's) or an MTU",
    ]
    assert (
        _bad_inputs({"cluster_cidr": CLUSTER, "pod_cidr": "", "peers": {}, "flannel_mtu": 0}) == []
    )
