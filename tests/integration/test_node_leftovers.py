"""Leftovers of another cluster on a registered node, and the node-side rollback,
on a lab node container over SSH."""

from __future__ import annotations

import pytest

from .lab import REPO, STATE, exists_on_node, lab, nodes_sh, on_node, playbook

NODE = "node-192.168.250.11"
INVENTORY = ["-i", str(REPO / "inventories" / "lab"), "-i", str(STATE / "nodes-inventory.yml")]


def links() -> set[str]:
    out = on_node(1, "ip -o link show").stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


@pytest.fixture(scope="module")
def node():
    lab("up")
    nodes_sh("down")
    nodes_sh("up", "1", env={"NODE_BRNF": "builtin", "NODE_OLD_CNI": "1"})
    # What a machine that was a node of another cluster (10.42.0.0/16) keeps.
    setup = on_node(
        1,
        "ip link add cni0 type bridge && ip addr add 10.42.3.1/24 dev cni0 && "
        "ip link set cni0 up && ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth0 && "
        "ip addr add 10.42.3.0/32 dev flannel.1 && ip link set flannel.1 up && "
        "ip route add 10.42.0.0/16 dev flannel.1 && mkdir -p /run/flannel && "
        "printf 'FLANNEL_NETWORK=10.42.0.0/16\\nFLANNEL_SUBNET=10.42.3.1/24\\n' "
        "> /run/flannel/subnet.env",
    )
    assert setup.returncode == 0, setup.stderr
    yield
    nodes_sh("down")


def test_leftovers_listed_and_kept_by_default(node):
    run = playbook("nodes.yml", *INVENTORY)
    assert run.rc == 0, run.out[-3000:]
    assert "cni0 has 10.42.3.1/24, outside the cluster CIDR 10.244.0.0/16" in run.text
    assert "route to 10.42.0.0/16 through flannel.1" in run.text
    assert "/run/flannel/subnet.env is for the network 10.42.0.0/16" in run.text
    assert "Set registered_node_remove_leftovers=true to remove them" in run.text
    assert {"cni0", "flannel.1"} <= links()


def test_leftovers_not_removed_while_pods_are_attached(node):
    on_node(
        1, "ip link add vethpod0 type veth peer name vethpod1 && ip link set vethpod0 master cni0"
    )
    run = playbook("nodes.yml", *INVENTORY, extra_vars={"registered_node_remove_leftovers": True})
    assert run.rc != 0
    assert "Pods are attached to cni0 (vethpod0)" in run.text
    assert "cni0" in links()
    on_node(1, "ip link delete vethpod0")


def test_leftovers_removed_on_request(node):
    run = playbook("nodes.yml", *INVENTORY, extra_vars={"registered_node_remove_leftovers": True})
    assert run.rc == 0, run.out[-3000:]
    assert not {"cni0", "flannel.1"} & links()
    assert not exists_on_node(1, "/run/flannel/subnet.env")
    again = playbook("nodes.yml", *INVENTORY, extra_vars={"registered_node_remove_leftovers": True})
    assert again.recap[NODE]["changed"] == 0, again.changed_tasks()


def test_node_rollback_restores_cni_configs_and_removes_devices(node):
    assert exists_on_node(1, "/etc/cni/net.d.tke-flannel-backup/00-multus.conf")
    on_node(
        1,
        "ip link add cni0 type bridge && "
        "ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth0",
    )
    run = playbook("rollback.yml", *INVENTORY, "--limit", "registered_nodes")
    assert run.rc == 0, run.out[-3000:]
    assert exists_on_node(1, "/etc/cni/net.d/00-multus.conf")
    assert not exists_on_node(1, "/etc/cni/net.d.tke-flannel-backup/00-multus.conf")
    assert not {"cni0", "flannel.1"} & links()
    again = playbook("rollback.yml", *INVENTORY, "--limit", "registered_nodes")
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
