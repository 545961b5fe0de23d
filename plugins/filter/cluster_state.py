# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that read TKE cluster objects; the logic is in module_utils.cluster_state."""

from __future__ import annotations

from ansible_collections.tke.flannel.plugins.module_utils.cluster_state import (
    classify_nodes,
    eni_ip_pods,
    flannel_pod_problems,
    index_by_kind_name,
    node_lines,
    node_pod_cidrs,
    node_problems,
    plan_message_for_operator,
    pods_in_network,
    problem_text,
    read_kubeconfig,
    release_lines,
    restorable,
    restore_order,
    worker_nodes,
    workload_lines,
)


class FilterModule:
    """tke.flannel filters over lists of Kubernetes objects."""

    def filters(self):
        return {
            "worker_nodes": worker_nodes,
            "plan_message_for_operator": plan_message_for_operator,
            "flannel_pod_problems": flannel_pod_problems,
            "read_kubeconfig": read_kubeconfig,
            "classify_nodes": classify_nodes,
            "node_pod_cidrs": node_pod_cidrs,
            "eni_ip_pods": eni_ip_pods,
            "node_problems": node_problems,
            "index_by_kind_name": index_by_kind_name,
            "restorable": restorable,
            "problem_text": problem_text,
            "node_lines": node_lines,
            "release_lines": release_lines,
            "pods_in_network": pods_in_network,
            "restore_order": restore_order,
            "workload_lines": workload_lines,
        }
