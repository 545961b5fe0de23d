# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a registered node's network state for leftovers of an earlier cluster.

A machine that was a node elsewhere keeps a cni0 bridge, a flannel.1 device,
routes and /run/flannel/subnet.env with that cluster's addresses; new Pods
then fail with "already has an IP address different from …". The role
gathers `ip -j addr`, `ip -j route`, the bridge's ports and subnet.env, and
hands them here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

FLANNEL_DEVICES = ("cni0", "flannel.1")


def _in(net: str, container: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    inner = ipaddress.ip_network(net, strict=False)
    return inner.version == container.version and inner.subnet_of(container)  # type: ignore[arg-type]


def parse_subnet_env(text: str) -> dict[str, str]:
    """KEY=value lines of /run/flannel/subnet.env."""
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key:
            out[key] = value
    return out


def node_leftovers(
    addresses: list[dict[str, Any]],
    routes: list[dict[str, Any]],
    subnet_env: str,
    cluster_cidr: str,
    node_pod_cidr: str = "",
) -> list[dict[str, str]]:
    """Flannel devices, routes and subnet.env that don't belong to this cluster.

    ADDRESSES and ROUTES are `ip -j addr` and `ip -j route` output. An
    address of cni0 or flannel.1 outside CLUSTER_CIDR (or, for cni0, outside
    this node's NODE_POD_CIDR when it has one), a route through them to a
    network outside CLUSTER_CIDR, and a subnet.env naming another network are
    reported, each with what it is and why it is in the way.
    """
    cluster = ipaddress.ip_network(cluster_cidr, strict=False)
    own = ipaddress.ip_network(node_pod_cidr, strict=False) if node_pod_cidr else None
    found: list[dict[str, str]] = []
    for link in addresses:
        name = link.get("ifname")
        if name not in FLANNEL_DEVICES:
            continue
        for info in link.get("addr_info") or []:
            if info.get("family") != "inet":
                continue
            cidr = f"{info['local']}/{info.get('prefixlen', 32)}"
            if not _in(cidr, cluster):
                found.append(
                    {
                        "kind": "device",
                        "name": name,
                        "detail": f"{name} has {cidr}, outside the cluster CIDR {cluster_cidr}",
                    }
                )
            elif name == "cni0" and own is not None and not _in(info["local"] + "/32", own):
                found.append(
                    {
                        "kind": "device",
                        "name": name,
                        "detail": f"cni0 has {cidr}, outside this node's podCIDR {node_pod_cidr}",
                    }
                )
    for route in routes:
        dev, dst = route.get("dev"), route.get("dst", "")
        if dev not in FLANNEL_DEVICES or dst in ("", "default"):
            continue
        if not _in(dst, cluster):
            found.append(
                {
                    "kind": "route",
                    "name": f"{dst} dev {dev}",
                    "detail": f"route to {dst} through {dev}, outside the cluster CIDR "
                    f"{cluster_cidr}",
                }
            )
    env = parse_subnet_env(subnet_env)
    network = env.get("FLANNEL_NETWORK")
    if network and ipaddress.ip_network(network, strict=False) != cluster:
        found.append(
            {
                "kind": "file",
                "name": "/run/flannel/subnet.env",
                "detail": f"/run/flannel/subnet.env is for the network {network}, "
                f"not {cluster_cidr}",
            }
        )
    return found


def bridge_ports(links: list[dict[str, Any]], bridge: str = "cni0") -> list[str]:
    """Interfaces attached to BRIDGE (Pods' veths), from `ip -j link`."""
    return sorted(link["ifname"] for link in links if link.get("master") == bridge)


def mask(lines: list[str], secrets: list[str]) -> list[str]:
    """LINES with every occurrence of each of SECRETS (the registration script's
    arguments, which may carry a token) replaced by ***."""
    hidden = sorted({s for s in secrets if s and len(str(s)) >= 3}, key=len, reverse=True)
    out = []
    for line in lines:
        for secret in hidden:
            line = line.replace(str(secret), "***")
        out.append(line)
    return out


def runtime_cni_conf_dir(containerd_toml: str, crio_confs: list[str]) -> str:
    """The CNI config directory the node's container runtime reads, or "".

    containerd: conf_dir in a [plugins."…cri…".cni] table of config.toml;
    CRI-O: network_dir in [crio.network] of crio.conf and crio.conf.d (later
    files win, as CRI-O reads them).
    """
    import re

    def find(text: str, table_ends: str, key: str) -> str:
        table, found = "", ""
        for raw in (text or "").splitlines():
            line = raw.split("#", 1)[0].strip()
            header = re.match(r"^\[+\s*(.+?)\s*\]+$", line)
            if header:
                table = header.group(1)
                continue
            value = re.match(rf"^{key}\s*=\s*['\"]([^'\"]+)['\"]$", line)
            if value and table.endswith(table_ends):
                found = value.group(1)
        return found.rstrip("/") if found not in ("", "/") else found

    containerd = find(containerd_toml, ".cni", "conf_dir")
    if containerd:
        return containerd
    crio = ""
    for text in crio_confs:
        crio = find(text, "crio.network", "network_dir") or crio
    return crio
