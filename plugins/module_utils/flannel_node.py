# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge Flannel's data path on one node from what the node shows.

The module tke.flannel.flannel_node_info gathers, on the node, whether
br_netfilter is there, /run/flannel/subnet.env, `ip -j -d addr` and
`ip -j route`; the control host adds what the API says (the node's podCIDR,
the cluster CIDR, the other nodes' podCIDRs). Everything here is pure, so the
unit tests hand it recorded `ip` output.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tke.flannel.plugins.module_utils.node_state import _in

# IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): flanneld takes the
# vxlan MTU as the link's MTU less this.
VXLAN_OVERHEAD = 50
# The smallest MTU an IPv4 interface may have (RFC 791), and so the smallest
# link that can carry vxlan.
MIN_IPV4_MTU = 68
MIN_LINK_MTU = MIN_IPV4_MTU + VXLAN_OVERHEAD
BR_NETFILTER_SYSCTL = "/proc/sys/net/bridge/bridge-nf-call-iptables"


@dataclass
class NodeView:
    """What one node shows, as gathered by flannel_node_info."""

    br_netfilter: bool
    subnet_env: dict[str, str] | None
    links: list[dict[str, Any]]
    routes: list[dict[str, Any]]


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        f = self.facts
        if self.problems or not f.get("vxlan_device"):
            return ""
        return (
            f"subnet {f['flannel_subnet']} in {f['flannel_network']}; {f['vxlan_device']} up,"
            f" MTU {f['vxlan_mtu']}, over {f['link']} {f['local_ip']} (MTU {f['link_mtu']});"
            f" routes to {f['peer_routes']} other node(s)"
        )


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _link(links: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((ln for ln in links if ln.get("ifname") == name), None)


def _vxlan_data(link: dict[str, Any]) -> dict[str, Any]:
    info = link.get("linkinfo") or {}
    return info.get("info_data") or {} if info.get("info_kind") == "vxlan" else {}


def _default_route_link(routes: list[dict[str, Any]]) -> str:
    return next((r.get("dev", "") for r in routes if r.get("dst") == "default"), "")


def underlay_link(view: NodeView, iface: str, vxlan_device: str) -> str:
    """The interface flanneld sends vxlan over (or would): the vxlan device's own
    link, else the one named by --iface, else the one of the default route."""
    dev = _link(view.links, vxlan_device)
    named = _vxlan_data(dev).get("link", "") if dev else ""
    return named or iface or _default_route_link(view.routes)


def judge(
    view: NodeView,
    pod_cidr: str,
    cluster_cidr: str,
    peers: dict[str, str],
    iface: str = "",
    vxlan_device: str = "flannel.1",
    flannel_mtu: int = 0,
) -> Verdict:
    """The problems of Flannel's data path on a node, each with what to do.

    pod_cidr is the node's spec.podCIDR ("" if none); peers maps the other
    nodes that have a Flannel lease (its backend-data annotation) to their
    podCIDRs; iface and flannel_mtu are the flannel role's flannel_iface and
    flannel_mtu (net-conf.json's MTU of the path between nodes; 0: the
    interface's). flanneld gives flannel.1 and subnet.env's FLANNEL_MTU that
    MTU less VXLAN_OVERHEAD.
    """
    v = Verdict()
    cluster = _net(cluster_cidr)
    node_net = _net(pod_cidr) if pod_cidr else None

    if not view.br_netfilter:
        v.problems.append(
            f"br_netfilter is not loaded ({BR_NETFILTER_SYSCTL} is missing), so flanneld"
            " stops at start with 'Failed to check br_netfilter'; run playbooks/nodes.yml"
            " for this node: the registered_node role loads br_netfilter and persists it"
        )
    if not pod_cidr:
        v.problems.append(
            "the Node has no podCIDR, so flanneld stops with 'pod cidr not assigned'; check"
            " that podcidr-controller runs (kube-system) and read its log"
        )
    elif node_net is None or cluster is None or not _in(pod_cidr, cluster):
        v.problems.append(
            f"the Node's podCIDR {pod_cidr} is outside the cluster CIDR {cluster_cidr}:"
            " it was given by another allocator, and Pods there are not in Flannel's network;"
            " a podCIDR cannot be changed, so delete the Node object and register the machine"
            " again (podcidr-controller then gives it one inside the cluster CIDR)"
        )

    link_name = underlay_link(view, iface, vxlan_device)
    link = _link(view.links, link_name) if link_name else None
    if iface and link is None:
        v.problems.append(
            f"flannel_iface is '{iface}', but the node has no interface of that name;"
            " set flannel_iface to the interface that reaches the other nodes"
        )
    elif link is None:
        v.problems.append(
            "the node has no default route and flannel_iface is empty, so flanneld finds no"
            " interface; set flannel_iface to the interface that reaches the other nodes"
        )
    link_mtu = int(link.get("mtu", 0)) if link else 0
    if link and link_mtu < MIN_LINK_MTU:
        v.problems.append(
            f"{link_name} has MTU {link_mtu}, too small for vxlan: it needs at least"
            f" {MIN_LINK_MTU} ({MIN_IPV4_MTU} for IPv4 inside plus"
            f" {VXLAN_OVERHEAD} of vxlan headers); raise the link's MTU or use another"
            " interface (flannel_iface)"
        )

    env = view.subnet_env
    if env is None:
        v.problems.append(
            "/run/flannel/subnet.env is missing, so new Pods here get no address: flanneld has"
            " not got its lease yet, or the file was removed after; restart the node's"
            " kube-flannel-ds Pod (it writes the file at start) and read its log"
        )
    else:
        network, subnet = env.get("FLANNEL_NETWORK", ""), env.get("FLANNEL_SUBNET", "")
        v.facts.update(flannel_network=network, flannel_subnet=subnet)
        if cluster is not None and _net(network) != cluster:
            v.problems.append(
                f"subnet.env has FLANNEL_NETWORK={network or '(none)'}, not the cluster CIDR"
                f" {cluster_cidr}: the flannel release's net-conf.json names another Network;"
                " run playbooks/cluster.yml with the same tke_flannel_cluster_cidr"
            )
        if node_net is not None and _net(subnet) != node_net:
            v.problems.append(
                f"subnet.env has FLANNEL_SUBNET={subnet or '(none)'}, not in the Node's podCIDR"
                f" {pod_cidr}: the file is stale (an earlier flanneld or cluster); flanneld"
                " rewrites it when it gets its lease, so read the kube-flannel-ds Pod's log"
            )

    dev = _link(view.links, vxlan_device)
    if dev is None:
        v.problems.append(
            f"there is no {vxlan_device} interface: flanneld has not set up vxlan on this node"
        )
        return v
    kind = (dev.get("linkinfo") or {}).get("info_kind", "")
    if kind != "vxlan":
        v.problems.append(
            f"{vxlan_device} is not a vxlan device (it is {kind or 'a plain interface'}): Flannel's"
            f" vxlan backend cannot use that name; find what created it before changing anything"
        )
        return v
    mtu = int(dev.get("mtu", 0))
    up = "UP" in (dev.get("flags") or [])
    v.facts.update(
        vxlan_device=vxlan_device,
        vxlan_mtu=mtu,
        link=link_name,
        link_mtu=link_mtu,
        local_ip=_vxlan_data(dev).get("local", ""),
    )
    if not up:
        v.problems.append(f"{vxlan_device} is down")
    if link and link_mtu >= MIN_LINK_MTU and mtu + VXLAN_OVERHEAD > link_mtu:
        fix = (
            f"set flannel_mtu to at most {link_mtu} (flanneld takes the {VXLAN_OVERHEAD} off)"
            f" or leave it at 0 and run playbooks/cluster.yml; then {_recreate(vxlan_device)}"
            if flannel_mtu
            else _recreate(vxlan_device)
        )
        v.problems.append(
            f"{vxlan_device} has MTU {mtu}, more than {link_name} (MTU {link_mtu}) carries with"
            f" {VXLAN_OVERHEAD} bytes of vxlan headers, so large packets between Pods are lost;"
            f" {fix}"
        )

    env_mtu = (env or {}).get("FLANNEL_MTU", "")
    if env_mtu.isdigit() and int(env_mtu) != mtu:
        v.problems.append(
            f"{vxlan_device} has MTU {mtu}, but subnet.env gives the Pods MTU {env_mtu}: flanneld"
            f" kept a {vxlan_device} made before the MTU changed (it does not compare MTUs);"
            f" {_recreate(vxlan_device)}"
        )

    routed = {
        str(_net(r["dst"]))
        for r in view.routes
        if r.get("dev") == vxlan_device and _net(r.get("dst", ""))
    }
    missing = sorted(
        f"{name} ({cidr})" for name, cidr in peers.items() if str(_net(cidr)) not in routed
    )
    if missing:
        v.problems.append(
            f"no route through {vxlan_device} to the podCIDR of {', '.join(missing)}, so Pods"
            f" here cannot reach Pods there: the routes were removed (with {vxlan_device}, say)"
            " or flanneld here has not seen those leases; restart the node's kube-flannel-ds Pod"
            " (flanneld adds every route at start), and if they stay missing, check flanneld"
            " on the nodes named"
        )
    v.facts["peer_routes"] = len(peers) - len(missing)
    return v


# flanneld's kube subnet manager writes these on the Node once it holds a lease.
LEASE_ANNOTATION = "flannel.alpha.coreos.com/backend-data"


def flannel_peers(nodes: list[dict[str, Any]], exclude: str = "") -> dict[str, str]:
    """{name: podCIDR} of the nodes whose flanneld holds a lease, EXCLUDE aside."""
    out = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        cidr = (node.get("spec") or {}).get("podCIDR")
        if (
            meta.get("name") != exclude
            and cidr
            and LEASE_ANNOTATION in (meta.get("annotations") or {})
        ):
            out[meta["name"]] = cidr
    return out


def _recreate(device: str) -> str:
    """How to get a vxlan device of the MTU flanneld is given now."""
    return (
        f"delete {device} on the node (ip link delete {device}), then the node's kube-flannel-ds"
        f" Pod: the new flanneld makes {device} with that MTU, and its routes (Pods made"
        " before keep their MTU until they are made again)"
    )


def path_mtu_problems(own: dict[str, Any], facts_by_node: dict[str, Any], me: str) -> list[str]:
    """This node's vxlan MTU against the narrowest link of the other nodes.

    Each node's own check sees only its link; a packet between two nodes must
    also fit the other's. OWN is this node's facts from flannel_node_info,
    FACTS_BY_NODE every checked node's (by inventory name), ME this node.
    """
    links = [
        (int(f.get("link_mtu") or 0), name, f.get("link", ""))
        for name, f in (facts_by_node or {}).items()
        if name != me and isinstance(f, dict) and int(f.get("link_mtu") or 0) > 0
    ]
    vxlan_mtu = int((own or {}).get("vxlan_mtu") or 0)
    if not links or not vxlan_mtu:
        return []
    mtu, name, link = min(links)
    if vxlan_mtu + VXLAN_OVERHEAD <= mtu:
        return []
    return [
        f"flannel.1 has MTU {vxlan_mtu}, more than {name}'s {link} (MTU {mtu}) carries with"
        f" {VXLAN_OVERHEAD} bytes of vxlan headers, so large packets between Pods here and"
        f" there are lost; set flannel_mtu to {mtu} (the narrowest node link) and run"
        f" playbooks/cluster.yml, then on every node {_recreate('flannel.1')}"
    ]
