#!/usr/bin/python
# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pod_cidr_plan
short_description: Check a Pod CIDR plan for Flannel on TKE and derive the chart values
version_added: 0.1.0
description:
  - Checks that a cluster CIDR, cut into one block per node by podcidr-controller, does not
    overlap the VPC (the proxy-ENI subnet of registered nodes included), the Service CIDR,
    routed on-premises ranges or link-local addresses (nor loopback, C(0.0.0.0/8), multicast
    or class E addresses). Overlap is found by set intersection, so a range that contains a
    reserved one is caught as well as one inside it.
  - When it proposes another range, the proposal is a block of the same size in RFC 1918
    space that overlaps none of the reserved ranges nor the Docker bridge, Flannel's default
    C(10.244.0.0/16) first.
  - Computes the capacity of the plan (nodes, Pod addresses per node) and checks it against
    the expected node count, the kubelet max-pods and the podCIDRs nodes already have.
  - Returns the values for the podcidr-controller and flannel Helm charts, so both releases
    are fed from one plan.
  - Every broken rule is reported at once, one line each in the failure message; nothing is
    changed.
  - Also warns (without failing) about the default Docker bridge C(172.17.0.0/16), ranges
    outside private address space (RFC 1918 plus the RFC 6598 range C(100.64.0.0/10)),
    node blocks smaller than kubelet's default of 110 Pods, and less than a quarter of the
    node blocks left free.
  - A node block of /N gives 2^(32-N) - 3 Pod addresses, since the network and broadcast
    addresses are unusable and Flannel's bridge C(cni0) takes the first host address as the
    Pods' gateway. A /24 gives 253.
author:
  - tke.flannel developers (@tke-flannel)
requirements:
  - netaddr
attributes:
  check_mode:
    description:
      - Can run in check_mode and return the same result; the module never changes anything.
    support: full
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in
        check_mode), when in diff mode.
    support: none
    details:
      - The module only checks a plan and computes values; it has nothing to show as a diff.
options:
  cluster_cidr:
    description:
      - The IPv4 range all Pod addresses come from, in CIDR notation, for example
        C(10.244.0.0/16). It must be a network address (no host bits set).
      - podcidr-controller allocates IPv4 only, so an IPv6 range is refused.
    type: str
    required: true
    version_added: 0.1.0
  node_cidr_mask_size:
    description:
      - Prefix length of each node's block, longer than the prefix of O(cluster_cidr) and at
        most 30.
    type: int
    default: 24
    version_added: 0.1.0
  vpc_cidrs:
    description:
      - The ranges of the cluster's VPC, including the subnet of the registered-node proxy ENI.
      - IPv6 entries are ignored with a warning, since they can't overlap an IPv4 cluster CIDR.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  service_cidr:
    description:
      - The cluster's Service CIDR. A dual-stack value may list ranges separated by commas;
        IPv6 ones are ignored with a warning.
    type: str
    version_added: 0.1.0
  extra_reserved_cidrs:
    description:
      - Other ranges the nodes route elsewhere, such as on-premises networks over direct
        connect. IPv6 entries are ignored with a warning.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  node_count:
    description:
      - How many nodes the cluster must hold, growth included.
      - Without it, only the nodes in O(existing_node_cidrs) are counted.
    type: int
    version_added: 0.1.0
  max_pods_per_node:
    description:
      - The kubelet C(--max-pods) of the nodes. It must not exceed the Pod addresses of a node
        block.
      - Without it, a warning is given when a node block has fewer addresses than kubelet's
        default of 110.
    type: int
    version_added: 0.1.0
  existing_node_cidrs:
    description:
      - The C(spec.podCIDR) of nodes already in the cluster, by node name. A node without one
        may be given with an empty value and is skipped.
      - podcidr-controller never rewrites a podCIDR, and does not count one of another size as
        used, so each must lie inside O(cluster_cidr), have the size O(node_cidr_mask_size)
        and belong to one node only.
    type: dict
    default: {}
    version_added: 0.1.0
notes:
  - Changes nothing; RV(ignore:changed) is always false.
  - The plan's warnings are returned in RV(plan_warnings) and also shown as Ansible warnings.
"""

EXAMPLES = r"""
- name: Plan the Pod CIDR of the cluster
  tke.flannel.pod_cidr_plan:
    cluster_cidr: 10.244.0.0/16
    node_cidr_mask_size: 24
    vpc_cidrs:
      - 172.16.0.0/16
    service_cidr: 192.168.128.0/17
    extra_reserved_cidrs:
      - 10.10.0.0/16
    node_count: 120
    max_pods_per_node: 110
  register: pod_cidr_plan

- name: Install podcidr-controller with the planned values
  kubernetes.core.helm:
    name: podcidr-controller
    chart_ref: podcidr-controller/podcidr-controller
    release_namespace: kube-system
    values: "{{ pod_cidr_plan['values']['podcidr_controller'] }}"

- name: Collect the podCIDR of nodes already in the cluster
  kubernetes.core.k8s_info:
    kind: Node
  register: cluster_nodes

- name: Check the plan against the nodes that already have a podCIDR
  tke.flannel.pod_cidr_plan:
    cluster_cidr: 10.244.0.0/16
    vpc_cidrs: "{{ vpc_cidrs }}"
    existing_node_cidrs: >-
      {{ dict(cluster_nodes.resources
              | map(attribute='metadata.name')
              | zip(cluster_nodes.resources | map(attribute='spec.podCIDR', default=''))) }}
"""

RETURN = r"""
cluster_cidr:
  description: The cluster CIDR, in canonical form.
  returned: success, and on failure when the plan got far enough to compute it
  type: str
  sample: 10.244.0.0/16
node_cidr_mask_size:
  description: The prefix length of each node's block.
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 24
max_nodes:
  description: How many node blocks the cluster CIDR holds.
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 256
pod_ips_per_node:
  description:
    - Addresses of a node block that Pods can get. The network and broadcast addresses are
      excluded, and Flannel's bridge C(cni0) takes the first host address as gateway, so a
      /24 gives 253.
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 253
max_pods:
  description: RV(max_nodes) times RV(pod_ips_per_node).
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 64768
nodes_allocated:
  description: Node blocks already taken by a podCIDR in O(existing_node_cidrs).
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 2
nodes_free:
  description: Node blocks no podCIDR touches; RV(nodes_allocated) plus this is RV(max_nodes).
  returned: success, and on failure when the plan got far enough to compute it
  type: int
  sample: 254
node_blocks_in_use:
  description: The podCIDR of each node in O(existing_node_cidrs), sorted by address.
  returned: success, and on failure when the plan got far enough to compute it
  type: list
  elements: dict
  contains:
    node:
      description: The node's name.
      type: str
    cidr:
      description: The node's podCIDR.
      type: str
  sample: [{node: idc-node-1, cidr: 10.244.0.0/24}, {node: idc-node-2, cidr: 10.244.1.0/24}]
free_cidrs:
  description: The free node blocks, aggregated into as few CIDRs as possible, in address order.
  returned: success, and on failure when the plan got far enough to compute it
  type: list
  elements: str
  sample: [10.244.2.0/23, 10.244.4.0/22]
conflicts:
  description:
    - Overlapping ranges. Always empty on success; on failure, every overlap that was found.
  returned: always
  type: list
  elements: dict
  contains:
    cidr:
      description: The range that overlaps.
      type: str
    source:
      description: Where that range comes from, for example C(cluster_cidr).
      type: str
    with:
      description: The option and range it overlaps, for example C(vpc_cidrs 10.0.0.0/8).
      type: str
    overlap:
      description: The addresses both share, as CIDRs.
      type: list
      elements: str
  sample: [{cidr: 10.0.0.0/16, source: cluster_cidr, with: vpc_cidrs 10.0.0.0/8,
            overlap: [10.0.0.0/16]}]
plan_warnings:
  description:
    - Risks that don't stop the plan, one sentence each with what to do. Named so because
      C(warnings) is reserved by Ansible; they are also shown as Ansible warnings.
  returned: always
  type: list
  elements: str
  sample: []
plan_problems:
  description:
    - The broken rules, one sentence each with how to fix it; the failure message joins them.
  returned: failure
  type: list
  elements: str
  sample: ["cluster_cidr 10.0.0.0/16 overlaps vpc_cidrs 10.0.0.0/8 (shared: 10.0.0.0/16);
           choose a range outside the VPC, e.g. 172.16.0.0/16"]
reserved_cidrs:
  description:
    - The ranges the cluster CIDR was checked against, in the order given (O(vpc_cidrs), the
      IPv4 parts of O(service_cidr), O(extra_reserved_cidrs)), then the ranges always reserved
      (link-local, loopback, C(0.0.0.0/8), multicast, class E).
    - Lets a report draw the plan's surroundings without the module's options.
  returned: success, and on failure of the plan's rules
  type: list
  elements: dict
  contains:
    option:
      description: The option the range came from, or the name of an always reserved range.
      type: str
    cidr:
      description: The range.
      type: str
  sample: [{option: vpc_cidrs, cidr: 172.16.0.0/16}, {option: link-local, cidr: 169.254.0.0/16}]
values:
  description: Helm values derived from the plan.
  returned: success
  type: dict
  contains:
    podcidr_controller:
      description: Values for the podcidr-controller chart.
      type: dict
      sample: {clusterCIDR: 10.244.0.0/16, nodeCIDRMaskSize: 24}
    flannel:
      description: Values for the flannel chart.
      type: dict
      sample: {podCidr: 10.244.0.0/16}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.tke.flannel.plugins.module_utils.pod_cidr_plan import (
    HAS_NETADDR,
    NETADDR_IMPORT_ERROR,
    PlanError,
    plan_pod_cidr,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cluster_cidr": {"type": "str", "required": True},
            "node_cidr_mask_size": {"type": "int", "default": 24},
            "vpc_cidrs": {"type": "list", "elements": "str", "default": []},
            "service_cidr": {"type": "str"},
            "extra_reserved_cidrs": {"type": "list", "elements": "str", "default": []},
            "node_count": {"type": "int"},
            "max_pods_per_node": {"type": "int"},
            "existing_node_cidrs": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)

    try:
        plan = plan_pod_cidr(**module.params)
    except PlanError as exc:
        for warning in exc.warnings:
            module.warn(warning)
        # What could be computed goes along, so a report can show where the plan breaks.
        module.fail_json(
            msg=str(exc),
            plan_problems=exc.problems,
            conflicts=exc.conflicts,
            plan_warnings=exc.warnings,
            **exc.partial,
        )

    plan["plan_warnings"] = plan.pop("warnings")
    for warning in plan["plan_warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, **plan)


if __name__ == "__main__":
    main()
