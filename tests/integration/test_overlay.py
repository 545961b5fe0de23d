"""Flannel's data path in the lab: packets, not objects.

After site.yml (which registers the lab's node containers through nodes.yml),
the lab daemon runs the real flanneld in each node container that has a
Running Pod of the flannel chart's DaemonSet, with that Pod's command and
ConfigMap (tests/lab/labd.py). Pods are network namespaces added through the
CNI chain the chart installed (tests/lab/pods.sh: cnitool, the flannel CNI
plugin delegating to bridge and host-local, portmap, loopback). Traffic stays
in the lab: its networks are internal, and the nodes' default gateway is the
lab's "VPC host" container, which forwards nothing.

Node podCIDRs come from podcidr-controller when the lab has its binary;
otherwise (the Go module proxy does not serve it) the tests give each node
the podCIDR and drop the taint as it would (lab.allocate_as_podcidr_controller_would).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest
from kubernetes import client

from .lab import (
    REPO,
    STATE,
    Run,
    allocate_as_podcidr_controller_would,
    api,
    fresh_lab,
    lab,
    nodes_sh,
    on_node,
    playbook,
    podcidr_controller_available,
    pods_sh,
    wait_until,
)

CLUSTER = "10.244.0.0/16"
SCRIPT = REPO / "tests" / "lab" / "node" / "tke-register.sh"
VPC_HOST = "192.168.250.200"
LEASE = "flannel.alpha.coreos.com/backend-data"


def name(i: int) -> str:
    return f"node-192.168.250.{10 + i}"


def inventories() -> list[str]:
    return ["-i", str(REPO / "inventories" / "lab"), "-i", str(STATE / "nodes-inventory.yml")]


def run(book: str, *args: str, **extra) -> Run:
    return playbook(book, *inventories(), *args, extra_vars=extra or None)


def register_vars() -> dict:
    return {
        "registered_node_registration_script_path": str(SCRIPT),
        "registered_node_registration_script_run": True,
        "registered_node_registration_script_args": ["--token", "lab-overlay-token"],
    }


def node_obj(i: int) -> client.V1Node:
    return client.CoreV1Api(api()).read_node(name(i))


def give_pod_cidrs(nodes: dict[int, str]) -> None:
    """podCIDRs from podcidr-controller, or as it would give them (see the docstring)."""
    if podcidr_controller_available()[0]:
        for i in nodes:
            wait_until(f"podCIDR of {name(i)}", lambda i=i: node_obj(i).spec.pod_cidr)
    else:
        allocate_as_podcidr_controller_would({name(i): cidr for i, cidr in nodes.items()})


def subnet_env(i: int) -> dict[str, str]:
    out = on_node(i, "cat /run/flannel/subnet.env 2>/dev/null").stdout
    return dict(line.split("=", 1) for line in out.split() if "=" in line)


def routes_to_peers(i: int, peers: list[int]) -> bool:
    routes = json.loads(on_node(i, "ip -j route show dev flannel.1").stdout or "[]")
    dsts = {r["dst"] for r in routes}
    return all(node_obj(p).spec.pod_cidr in dsts for p in peers)


def wait_for_overlay(nodes: list[int]) -> None:
    """Until each node's flanneld holds its lease and routes to every other node."""
    for i in nodes:
        wait_until(f"subnet.env on {name(i)}", lambda i=i: subnet_env(i).get("FLANNEL_SUBNET"))
        peers = [p for p in nodes if p != i]
        wait_until(f"routes on {name(i)}", lambda i=i, peers=peers: routes_to_peers(i, peers))


def link(i: int, dev: str) -> dict:
    return json.loads(on_node(i, f"ip -j -d addr show dev {dev}").stdout)[0]


def rx_packets(i: int, dev: str) -> int:
    stats = json.loads(on_node(i, f"ip -j -s link show dev {dev}").stdout)[0]["stats64"]
    return stats["rx"]["packets"]


def add_pod(i: int, pod: str) -> str:
    proc = pods_sh("add", str(i), pod)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def in_pod(i: int, pod: str, *cmd: str):
    return pods_sh("exec", str(i), pod, *cmd)


# A TCP echo server and client, run with the node's python3 inside a Pod.
ECHO_SERVER = (
    "import socket; s = socket.create_server(('0.0.0.0', 7070)); s.settimeout(30);"
    " c, _ = s.accept(); c.sendall(c.recv(100)); c.close()"
)


def tcp_client(i: int, pod: str, server_ip: str, port: int, payload: str = "") -> str:
    """From Pod POD on node I: connect, send PAYLOAD, return the reply ("" if it failed)."""
    code = (
        f"import socket; s = socket.create_connection(('{server_ip}', {port}), timeout=5);"
        f" s.sendall(b'{payload}'); print(s.recv(100).decode().strip())"
    )
    proc = in_pod(i, pod, "python3", "-c", code)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def converge(count: int, node_env: dict[str, str], **extra) -> Run:
    """A fresh lab in the guide's order: site.yml converts the cluster, then
    registers `count` node containers; then they get podCIDRs."""
    fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")
    nodes_sh("down")
    nodes_sh("up", str(count), env=node_env)
    site = run("site.yml", **register_vars(), **extra)
    return site


def two_node_overlay(test, node_env: dict[str, str], pods: tuple[str, str], **extra):
    """Class fixture body: two nodes converged with Flannel's lease and routes, a Pod
    on each (test.pods: {node: Pod IP}); the lab goes down afterwards, Node objects
    and all, so the next module starts from a fresh lab."""
    site = converge(2, node_env, **extra)
    assert site.rc == 0, site.out[-4000:]
    give_pod_cidrs({1: "10.244.1.0/24", 2: "10.244.2.0/24"})
    wait_for_overlay([1, 2])
    type(test).pods = {1: add_pod(1, pods[0]), 2: add_pod(2, pods[1])}
    yield
    lab("down")


class TestOverlayAcrossNodes:
    """Two nodes whose links have MTU 1400; Flannel on the default route's interface."""

    @pytest.fixture(scope="class", autouse=True)
    def lab(self):
        yield from two_node_overlay(self, {"NODE_LINK_MTU": "1400"}, ("web", "client"))

    @pytest.mark.parametrize("i", [1, 2])
    def test_flanneld_lease_is_the_nodes_pod_cidr(self, i):
        env = subnet_env(i)
        pod_cidr = node_obj(i).spec.pod_cidr
        assert env["FLANNEL_NETWORK"] == CLUSTER
        assert ipaddress.ip_interface(env["FLANNEL_SUBNET"]).network == ipaddress.ip_network(
            pod_cidr
        )
        assert env["FLANNEL_IPMASQ"] == "true"
        annotations = node_obj(i).metadata.annotations
        assert annotations["flannel.alpha.coreos.com/public-ip"] == f"192.168.250.{10 + i}"
        assert json.loads(annotations[LEASE])["VtepMAC"] == link(i, "flannel.1")["address"]

    @pytest.mark.parametrize("i", [1, 2])
    def test_vxlan_device_rides_on_eth0_with_the_links_mtu_less_50(self, i):
        dev = link(i, "flannel.1")
        data = dev["linkinfo"]["info_data"]
        assert dev["linkinfo"]["info_kind"] == "vxlan"
        assert (data["id"], data["port"], data["local"]) == (1, 8472, f"192.168.250.{10 + i}")
        assert link(i, "eth0")["mtu"] == 1400
        assert dev["mtu"] == 1350
        assert subnet_env(i)["FLANNEL_MTU"] == "1350"
        assert link(i, "cni0")["mtu"] == 1350

    def test_pod_ips_are_in_their_nodes_pod_cidr(self):
        for i, ip in self.pods.items():
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(node_obj(i).spec.pod_cidr)

    def test_pods_ping_each_other_across_nodes(self):
        there = in_pod(2, "client", "ping", "-c", "3", "-W", "2", self.pods[1])
        back = in_pod(1, "web", "ping", "-c", "3", "-W", "2", self.pods[2])
        assert there.returncode == 0, there.stdout + there.stderr
        assert back.returncode == 0, back.stdout + back.stderr
        assert " 0% packet loss" in there.stdout

    def test_tcp_echo_across_nodes(self):
        server = pods_sh("exec", "1", "web", "sh", "-c", f'python3 -c "{ECHO_SERVER}" &')
        assert server.returncode == 0, server.stderr
        reply = wait_until(
            "TCP echo from web",
            lambda: tcp_client(2, "client", self.pods[1], 7070, "hello-across-nodes"),
            timeout=20,
        )
        assert reply == "hello-across-nodes"

    def test_largest_packet_the_overlay_carries_is_the_vxlan_mtu(self):
        # 1350 bytes of IP: 1322 of ICMP payload + 8 + 20. One more does not fit.
        fits = in_pod(
            2, "client", "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1322", self.pods[1]
        )
        too_big = in_pod(
            2, "client", "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1323", self.pods[1]
        )
        assert fits.returncode == 0, fits.stdout + fits.stderr
        assert too_big.returncode != 0

    def test_egress_leaves_with_the_nodes_address(self):
        # The VPC host answers with the source address it sees: --ip-masq
        # rewrote the Pod's address to its node's.
        assert tcp_client(2, "client", VPC_HOST, 7000) == "seen-from 192.168.250.12"
        assert tcp_client(1, "web", VPC_HOST, 7000) == "seen-from 192.168.250.11"

    def test_pod_to_pod_traffic_is_not_masqueraded(self):
        server = pods_sh("exec", "1", "web", "sh", "-c", 'python3 -c "' + PEER_SERVER + '" &')
        assert server.returncode == 0, server.stderr
        seen = wait_until(
            "peer address from web", lambda: tcp_client(2, "client", self.pods[1], 7071)
        )
        assert seen == f"seen-from {self.pods[2]}"

    def test_verify_checks_each_node_over_ssh(self):
        result = run("verify.yml")
        assert result.rc == 0, result.out[-4000:]
        for i in (1, 2):
            assert result.recap[name(i)]["failed"] == 0
            assert (
                f"{name(i)}: subnet {subnet_env(i)['FLANNEL_SUBNET']} in {CLUSTER}; flannel.1 up,"
                f" MTU 1350, over eth0 192.168.250.{10 + i} (MTU 1400); routes to 1 other node(s)"
            ) in result.text
        assert "Flannel is right on 2 of 2 registered node(s)." in result.text

    def test_verify_names_a_vxlan_mtu_the_other_nodes_link_cannot_carry(self):
        # Node 1's link shrinks to 1300 and it renews flannel.1 (1250); node 2's
        # flannel.1 (1350) now sends packets that node 1's link cannot carry.
        on_node(1, "ip link set dev eth0 mtu 1300 && ip link delete flannel.1")
        core = client.CoreV1Api(api())
        pods = core.list_namespaced_pod(
            "kube-flannel", label_selector="app=flannel", field_selector=f"spec.nodeName={name(1)}"
        )
        for pod in pods.items:
            core.delete_namespaced_pod(pod.metadata.name, "kube-flannel")
        wait_until("flannel.1 of MTU 1250 on node 1", lambda: _mtu(1) == 1250)
        result = run("verify.yml")
        assert result.rc != 0
        assert {i: result.recap[name(i)]["failed"] for i in (1, 2)} == {1: 0, 2: 1}
        assert (
            f"{name(2)}: flannel.1 has MTU 1350, more than {name(1)}'s eth0 (MTU 1300) carries"
            " with 50 bytes of vxlan headers, so large packets between Pods here and there are"
            " lost; set flannel_mtu to 1300 (the narrowest node link)"
        ) in result.text


PEER_SERVER = (
    "import socket; s = socket.create_server(('0.0.0.0', 7071)); s.settimeout(30);"
    " c, a = s.accept(); c.sendall(('seen-from ' + a[0]).encode()); c.close()"
)


class TestNamedInterface:
    """Nodes with two interfaces; flannel_iface names the second one."""

    @pytest.fixture(scope="class", autouse=True)
    def lab(self):
        yield from two_node_overlay(
            self, {"NODE_SECOND_NET": "1"}, ("a", "b"), flannel_iface="eth1"
        )

    @pytest.mark.parametrize("i", [1, 2])
    def test_flannel_uses_the_named_interface(self, i):
        assert node_obj(i).metadata.annotations["flannel.alpha.coreos.com/public-ip"] == (
            f"192.168.251.{10 + i}"
        )
        data = link(i, "flannel.1")["linkinfo"]["info_data"]
        assert (data["link"], data["local"]) == ("eth1", f"192.168.251.{10 + i}")

    def test_vxlan_peers_are_reached_on_the_second_network(self):
        fdb = on_node(1, "bridge fdb show dev flannel.1").stdout
        assert "dst 192.168.251.12" in fdb
        assert "192.168.250.12" not in fdb

    def test_pods_reach_each_other_over_the_second_network(self):
        before = rx_packets(2, "eth1")
        ping = in_pod(1, "a", "ping", "-c", "5", "-W", "2", self.pods[2])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert rx_packets(2, "eth1") - before >= 5

    def test_verify_names_the_interface(self):
        result = run("verify.yml", flannel_iface="eth1")
        assert result.rc == 0, result.out[-4000:]
        assert "over eth1 192.168.251.11 (MTU 1500)" in result.text

    def test_a_new_flannel_mtu_rolls_the_flannel_pods(self):
        before = flannel_pods()
        result = run("cluster.yml", flannel_iface="eth1", flannel_mtu=1400)
        assert result.rc == 0, result.out[-4000:]
        after = flannel_pods()
        assert set(after) == set(before) and not set(after.values()) & set(before.values())
        for i in (1, 2):
            wait_until(
                f"FLANNEL_MTU on {name(i)}", lambda i=i: subnet_env(i).get("FLANNEL_MTU") == "1350"
            )

    def test_verify_names_a_flannel_device_older_than_the_mtu(self):
        # flanneld reuses an existing flannel.1 without comparing its MTU.
        assert link(1, "flannel.1")["mtu"] == 1450
        result = run("verify.yml", flannel_iface="eth1", flannel_mtu=1400)
        assert result.rc != 0
        assert (
            f"{name(1)}: flannel.1 has MTU 1450, but subnet.env gives the Pods MTU 1350: flanneld"
            " kept a flannel.1 made before the MTU changed (it does not compare MTUs); delete"
            " flannel.1 on the node (ip link delete flannel.1), then the node's kube-flannel-ds"
            " Pod: the new flanneld makes flannel.1 with that MTU, and its routes"
        ) in result.text

    def test_the_fix_verify_gives_works(self):
        core = client.CoreV1Api(api())
        for i in (1, 2):
            on_node(i, "ip link delete flannel.1")
        for pod in core.list_namespaced_pod("kube-flannel", label_selector="app=flannel").items:
            core.delete_namespaced_pod(pod.metadata.name, "kube-flannel")
        for i in (1, 2):
            wait_until(f"flannel.1 again on {name(i)}", lambda i=i: _mtu(i) == 1350)
        wait_for_overlay([1, 2])
        result = run("verify.yml", flannel_iface="eth1", flannel_mtu=1400)
        assert result.rc == 0, result.out[-4000:]
        assert "flannel.1 up, MTU 1350, over eth1 192.168.251.12 (MTU 1500)" in result.text
        pod = add_pod(1, "after-mtu")
        ping = in_pod(2, "b", "ping", "-c", "2", "-W", "2", "-M", "do", "-s", "1322", pod)
        assert ping.returncode == 0, ping.stdout + ping.stderr

    def test_rollback_leaves_nothing_of_flannel_on_the_nodes(self):
        result = run("rollback.yml", rollback_force=True)
        assert result.rc == 0, result.out[-4000:]
        for i in (1, 2):
            wait_until(f"flanneld gone on {name(i)}", lambda i=i: not _flanneld_runs(i))
            left = on_node(
                i,
                "ls /etc/cni/net.d; test -e /run/flannel/subnet.env && echo subnet.env;"
                " ip -br link | cut -d' ' -f1; iptables-save | grep -c FLANNEL || true",
            ).stdout.split()
            assert "10-flannel.conflist" not in left and "subnet.env" not in left
            assert "flannel.1" not in left and "cni0" not in left
            assert left[-1] == "0", left
            assert "00-multus.conf" in left  # TKE's config is back
        assert pods_sh("add", "1", "after-rollback").returncode != 0
        again = run("rollback.yml", rollback_force=True)
        assert again.rc == 0 and all(again.recap[name(i)]["changed"] == 0 for i in (1, 2))


def _flanneld_runs(i: int) -> bool:
    return (
        on_node(i, "kill -0 $(cat /run/tke-lab/flanneld.pid 2>/dev/null) 2>/dev/null").returncode
        == 0
    )


def _mtu(i: int) -> int:
    out = on_node(i, "ip -j link show dev flannel.1 2>/dev/null").stdout
    return json.loads(out)[0]["mtu"] if out.strip() else 0


def flannel_pods() -> dict[str, str]:
    """{node: Pod uid} of the Flannel Pods."""
    pods = client.CoreV1Api(api()).list_namespaced_pod("kube-flannel", label_selector="app=flannel")
    return {
        p.spec.node_name: p.metadata.uid for p in pods.items if not p.metadata.deletion_timestamp
    }


def register_by_hand(i: int) -> None:
    """Register node i outside nodes.yml, as an operator who ran the console's script
    on the machine (its OS and kernel checks skipped by hand)."""
    script = SCRIPT.read_text()
    script = script.replace("\n  check_os\n", "\n  : check_os\n")
    script = script.replace("\n  check_kernel || exit 1\n", "\n  : check_kernel\n")
    proc = subprocess.run(
        ["podman", "exec", "-i", f"tke-lab-node-{i}", "bash", "-s", "--", "--token", "by-hand"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def flanneld_log(i: int) -> str:
    return on_node(i, "cat /var/log/tke-lab/flanneld.log 2>/dev/null").stdout


class TestVerifyNamesWhatIsWrong:
    """Four nodes with a second interface, eth1, which flannel_iface names: 1 and 2
    right; 3 registered by hand without br_netfilter; 4 whose eth1 has an MTU too
    small for vxlan. Then a fifth joins and gets no podCIDR, then one outside the
    cluster CIDR. Each case: what verify tells the operator."""

    @pytest.fixture(scope="class", autouse=True)
    def lab(self):
        env = {
            "NODE_BRNF": "builtin,builtin,absent,builtin",
            "NODE_SECOND_NET": "1",
            "NODE_SECOND_NET_MTU": ",,,100",
        }
        type(self).env = env
        site = converge(4, env, flannel_iface="eth1")
        assert site.recap[name(3)]["failed"] == 1, site.out[-4000:]
        for i in (1, 2, 4):
            assert site.recap[name(i)]["failed"] == 0, site.out[-4000:]
        register_by_hand(3)
        give_pod_cidrs({i: f"10.244.{i}.0/24" for i in (1, 2, 3, 4)})
        wait_for_overlay([1, 2])
        for i in (3, 4):
            wait_until(f"flanneld's error on {name(i)}", lambda i=i: "E1" in flanneld_log(i))
        type(self).verify = run("verify.yml", tke_flannel_wait_timeout=5, flannel_iface="eth1")
        yield
        # Down, Node objects and all: the next module starts from a fresh lab.
        lab("down")

    def test_only_the_broken_nodes_fail(self):
        result = self.verify
        assert result.rc != 0
        assert {n: result.recap[name(n)]["failed"] for n in (1, 2, 3, 4)} == {
            1: 0,
            2: 0,
            3: 1,
            4: 1,
        }, result.out[-4000:]

    def test_missing_br_netfilter(self):
        assert "Failed to check br_netfilter" in flanneld_log(3)
        assert (
            f"{name(3)}: br_netfilter is not loaded (/proc/sys/net/bridge/bridge-nf-call-iptables"
            " is missing), so flanneld stops at start with 'Failed to check br_netfilter'; run"
            " playbooks/nodes.yml for this node"
        ) in self.verify.text
        assert f"{name(3)}: /run/flannel/subnet.env is missing" not in self.verify.text

    def test_link_mtu_too_small_for_vxlan(self):
        assert (
            f"{name(4)}: eth1 has MTU 100, too small for vxlan: it needs at least 118"
            " (68 for IPv4 inside plus 50 of vxlan headers)"
        ) in self.verify.text

    def test_a_node_without_pod_cidr(self):
        if podcidr_controller_available()[0]:
            pytest.skip("the lab runs podcidr-controller, which gives every joined node a podCIDR")
        nodes_sh("up", "5", env=self.env)
        joined = run("nodes.yml", "--limit", name(5), **register_vars(), flannel_iface="eth1")
        assert joined.rc == 0, joined.out[-4000:]
        result = run("verify.yml", tke_flannel_wait_timeout=5, flannel_iface="eth1")
        assert result.rc != 0
        assert (
            f"node {name(5)} has no podCIDR (check podcidr-controller's log (kube-system)"
        ) in result.text
        assert "podcidr-controller" in flanneld_log(5) or "pod cidr not assigned" in flanneld_log(5)

    def test_a_pod_cidr_outside_the_cluster_cidr(self):
        allocate_as_podcidr_controller_would({name(5): "10.250.5.0/24"})
        result = run("verify.yml", tke_flannel_wait_timeout=5, flannel_iface="eth1")
        assert result.rc != 0
        # verify.yml's preflight sees it first, in the plan against the live nodes.
        assert (
            f"node {name(5)} has podCIDR 10.250.5.0/24, outside tke_flannel_cluster_cidr"
            " 10.244.0.0/16; Flannel fails on that node and podcidr-controller never rewrites"
            " a podCIDR, so choose a tke_flannel_cluster_cidr that contains it, or delete the"
            " node and register it again"
        ) in result.text
