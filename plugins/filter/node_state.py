# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over a registered node's network state; the logic is in module_utils.node_state."""

from __future__ import annotations

from ansible_collections.tke.flannel.plugins.module_utils.flannel_node import (
    flannel_peers,
    path_mtu_problems,
)
from ansible_collections.tke.flannel.plugins.module_utils.node_state import (
    bridge_ports,
    mask,
    node_leftovers,
    runtime_cni_conf_dir,
)


class FilterModule:
    """tke.flannel filters over `ip -j` output of a node."""

    def filters(self):
        return {
            "node_leftovers": node_leftovers,
            "bridge_ports": bridge_ports,
            "mask": mask,
            "runtime_cni_conf_dir": runtime_cni_conf_dir,
            "flannel_peers": flannel_peers,
            "path_mtu_problems": path_mtu_problems,
        }
