"""Unit tests of leftover detection on a registered node (from `ip -j` output)."""

from __future__ import annotations

from ansible_collections.tke.flannel.plugins.module_utils.node_state import (
    bridge_ports,
    node_leftovers,
    parse_subnet_env,
)

CLUSTER = "10.244.0.0/16"


def link(name, *cidrs):
    infos = []
    for cidr in cidrs:
        ip, prefix = cidr.split("/")
        infos.append({"family": "inet", "local": ip, "prefixlen": int(prefix)})
    return {"ifname": name, "addr_info": infos}


def test_clean_node_has_no_leftovers():
    assert node_leftovers([link("eth0", "192.168.1.5/24")], [], "", CLUSTER) == []


def test_cni0_from_another_cluster_is_found():
    found = node_leftovers([link("cni0", "10.42.3.1/24")], [], "", CLUSTER)
    assert found == [
        {
            "kind": "device",
            "name": "cni0",
            "detail": "cni0 has 10.42.3.1/24, outside the cluster CIDR 10.244.0.0/16",
        }
    ]


def test_cni0_outside_this_nodes_pod_cidr_is_found():
    found = node_leftovers([link("cni0", "10.244.9.1/24")], [], "", CLUSTER, "10.244.3.0/24")
    assert found[0]["detail"] == "cni0 has 10.244.9.1/24, outside this node's podCIDR 10.244.3.0/24"


def test_cni0_inside_this_nodes_pod_cidr_is_fine():
    assert node_leftovers([link("cni0", "10.244.3.1/24")], [], "", CLUSTER, "10.244.3.0/24") == []


def test_flannel_route_to_another_network_is_found():
    routes = [{"dst": "10.42.0.0/16", "dev": "flannel.1"}, {"dst": "default", "dev": "eth0"}]
    found = node_leftovers([], routes, "", CLUSTER)
    assert [f["name"] for f in found] == ["10.42.0.0/16 dev flannel.1"]


def test_routes_of_other_devices_are_ignored():
    assert node_leftovers([], [{"dst": "10.42.0.0/16", "dev": "eth1"}], "", CLUSTER) == []


def test_subnet_env_of_another_network_is_found():
    env = "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.3.1/24\n"
    found = node_leftovers([], [], env, CLUSTER)
    assert found[0]["detail"] == (
        "/run/flannel/subnet.env is for the network 10.42.0.0/16, not 10.244.0.0/16"
    )


def test_subnet_env_of_this_cluster_is_fine():
    assert node_leftovers([], [], "FLANNEL_NETWORK=10.244.0.0/16\n", CLUSTER) == []


def test_ipv6_addresses_are_not_compared():
    entry = {
        "ifname": "cni0",
        "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64}],
    }
    assert node_leftovers([entry], [], "", CLUSTER) == []


def test_parse_subnet_env_reads_key_values():
    assert parse_subnet_env("A=1\n\nB=x=y\n") == {"A": "1", "B": "x=y"}


def test_bridge_ports_lists_attached_veths():
    links = [
        {"ifname": "veth1", "master": "cni0"},
        {"ifname": "eth0"},
        {"ifname": "v2", "master": "br"},
    ]
    assert bridge_ports(links) == ["veth1"]


def test_mask_hides_every_argument_value():
    from ansible_collections.tke.flannel.plugins.module_utils.node_state import mask

    lines = ["ERROR: unknown argument LEAKME123", "token abc not accepted", "ok"]
    assert mask(lines, ["--token", "LEAKME123", "abc"]) == [
        "ERROR: unknown argument ***",
        "token *** not accepted",
        "ok",
    ]


def test_containerd_conf_dir_is_read_from_its_cri_table():
    from ansible_collections.tke.flannel.plugins.module_utils.node_state import runtime_cni_conf_dir

    toml = (
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\n'
        '  bin_dir = "/opt/cni/bin"\n  conf_dir = "/etc/tke/cni/net.d/"\n'
        '[plugins."io.containerd.grpc.v1.cri".registry]\n  conf_dir = "/not/this"\n'
    )
    assert runtime_cni_conf_dir(toml, []) == "/etc/tke/cni/net.d"


def test_crio_network_dir_later_files_win():
    from ansible_collections.tke.flannel.plugins.module_utils.node_state import runtime_cni_conf_dir

    base = '[crio.network]\nnetwork_dir = "/etc/cni/net.d/"\n'
    drop_in = "[crio.network]\nnetwork_dir = '/etc/crio-cni'\n"
    assert runtime_cni_conf_dir("", [base, drop_in]) == "/etc/crio-cni"


def test_no_runtime_config_gives_empty():
    from ansible_collections.tke.flannel.plugins.module_utils.node_state import runtime_cni_conf_dir

    assert runtime_cni_conf_dir("", []) == ""
