#!/usr/bin/python
# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: check Flannel's data path on a node."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flannel_node_info
short_description: Check Flannel's data path on a registered node
version_added: 0.2.0
description:
  - Reads what a node shows of Flannel's vxlan data path and judges it against what the
    Kubernetes API says of the node. It changes nothing.
  - It reads whether br_netfilter is loaded (C(/proc/sys/net/bridge/bridge-nf-call-iptables)),
    C(/run/flannel/subnet.env), the interfaces (C(ip -j -d addr)) and the routes
    (C(ip -j route)).
  - 'It reports, each with what to do: br_netfilter missing; a node without podCIDR or with one
    outside the cluster CIDR; subnet.env missing, or naming another network or another subnet;
    no vxlan device, or one that is down; a link MTU too small for vxlan, or a vxlan MTU larger
    than the link carries; no route through the vxlan device to another node''s podCIDR.'
  - The role tke.flannel.verify runs it on every registered node (playbooks/verify.yml).
author:
  - tke.flannel developers (@tke-flannel)
requirements:
  - iproute2 (C(ip)) with JSON output on the managed host.
extends_documentation_fragment:
  - tke.flannel.attributes.info_module
options:
  pod_cidr:
    description:
      - The node's C(spec.podCIDR) as the API has it; empty if it has none.
    type: str
    default: ""
  cluster_cidr:
    description:
      - The cluster CIDR, Flannel's network (tke_flannel_cluster_cidr).
    type: str
    required: true
  peers:
    description:
      - The other nodes that have a Flannel lease, by name, with their podCIDRs. The node must
        route each of them through the vxlan device.
    type: dict
    default: {}
  iface:
    description:
      - The interface Flannel is told to use (flannel_iface); empty for the one of the default
        route.
    type: str
    default: ""
  flannel_mtu:
    description:
      - The MTU of the path between the nodes Flannel is told (flannel_mtu, net-conf.json's
        Backend MTU); 0 for the MTU of the interface it uses. flannel.1 gets 50 less.
    type: int
    default: 0
  vxlan_device:
    description:
      - Name of Flannel's vxlan device.
    type: str
    default: flannel.1
  subnet_file:
    description:
      - Where flanneld writes its lease.
    type: path
    default: /run/flannel/subnet.env
"""

EXAMPLES = r"""
- name: Check Flannel on this node
  tke.flannel.flannel_node_info:
    pod_cidr: 10.244.1.0/24
    cluster_cidr: 10.244.0.0/16
    peers:
      node-10.0.1.12: 10.244.2.0/24
  register: flannel_node

- name: Stop if something is wrong
  ansible.builtin.assert:
    that: flannel_node.problems | length == 0
    fail_msg: "{{ flannel_node.problems | join('; ') }}"
"""

RETURN = r"""
problems:
  description: What is wrong with Flannel on the node, each with what to do; empty if nothing.
  returned: always
  type: list
  elements: str
  sample:
    - "flannel.1 has MTU 1450, more than eth0 (MTU 1400) carries with 50 bytes of vxlan headers,
      so large packets between Pods are lost; delete flannel.1 on the node (ip link delete
      flannel.1), then the node's kube-flannel-ds Pod: the new flanneld makes flannel.1 with
      that MTU, and its routes"
summary:
  description: One line on a node where nothing is wrong; empty otherwise.
  returned: always
  type: str
  sample: "subnet 10.244.1.1/24 in 10.244.0.0/16; flannel.1 up, MTU 1450, over eth0
    192.168.250.11 (MTU 1500); routes to 1 other node(s)"
br_netfilter:
  description: Whether br_netfilter is loaded (its sysctl exists).
  returned: always
  type: bool
subnet_env:
  description: The variables of the subnet file; null if there is none.
  returned: always
  type: dict
  sample: {FLANNEL_NETWORK: 10.244.0.0/16, FLANNEL_SUBNET: 10.244.1.1/24, FLANNEL_MTU: "1450"}
facts:
  description: What the verdict is based on, where found (vxlan device and MTU, the link it
    uses and its MTU and address, how many other nodes are routed).
  returned: always
  type: dict
"""

import ipaddress
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tke.flannel.plugins.module_utils.flannel_node import (
    BR_NETFILTER_SYSCTL,
    NodeView,
    judge,
)
from ansible_collections.tke.flannel.plugins.module_utils.node_state import parse_subnet_env


def _ip_json(module: AnsibleModule, ip: str, *args: str) -> list:
    rc, out, err = module.run_command([ip, "-j", *args], environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg=f"'ip -j {' '.join(args)}' failed (rc {rc}): {err.strip()}")
    try:
        return json.loads(out or "[]")
    except ValueError:
        module.fail_json(
            msg=f"'ip -j {' '.join(args)}' printed no JSON: iproute2 is too old on this node"
        )
    return []


def _bad_inputs(p: dict) -> list[str]:
    """What is wrong with the module's arguments, each naming the option and the value."""
    bad = []

    def cidr(option: str, value: str) -> None:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            bad.append(f"{option} '{value}' is not a CIDR such as 10.244.0.0/16")

    cidr("cluster_cidr", p["cluster_cidr"])
    if p["pod_cidr"]:
        cidr("pod_cidr", p["pod_cidr"])
    for name, value in (p["peers"] or {}).items():
        cidr(f"peers[{name}]", str(value))
    if p["flannel_mtu"] and not 68 <= p["flannel_mtu"] <= 65535:
        bad.append(f"flannel_mtu {p['flannel_mtu']} is not 0 (the interface's) or an MTU")
    return bad


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "pod_cidr": {"type": "str", "default": ""},
            "cluster_cidr": {"type": "str", "required": True},
            "peers": {"type": "dict", "default": {}},
            "iface": {"type": "str", "default": ""},
            "flannel_mtu": {"type": "int", "default": 0},
            "vxlan_device": {"type": "str", "default": "flannel.1"},
            "subnet_file": {"type": "path", "default": "/run/flannel/subnet.env"},
        },
        supports_check_mode=True,
    )
    p = module.params
    bad = _bad_inputs(p)
    if bad:
        module.fail_json(msg="; ".join(bad))
    ip = module.get_bin_path("ip", required=True)
    subnet_env = None
    if os.path.isfile(p["subnet_file"]):
        with open(p["subnet_file"], encoding="utf-8") as f:
            subnet_env = parse_subnet_env(f.read())
    view = NodeView(
        br_netfilter=os.path.exists(BR_NETFILTER_SYSCTL),
        subnet_env=subnet_env,
        links=_ip_json(module, ip, "-d", "addr", "show"),
        routes=_ip_json(module, ip, "route", "show"),
    )
    verdict = judge(
        view,
        pod_cidr=p["pod_cidr"] or "",
        cluster_cidr=p["cluster_cidr"],
        peers={str(k): str(v) for k, v in (p["peers"] or {}).items()},
        iface=p["iface"] or "",
        vxlan_device=p["vxlan_device"],
        flannel_mtu=p["flannel_mtu"],
    )
    module.exit_json(
        changed=False,
        problems=verdict.problems,
        summary=verdict.summary,
        br_netfilter=view.br_netfilter,
        subnet_env=subnet_env,
        facts=verdict.facts,
    )


if __name__ == "__main__":
    main()
