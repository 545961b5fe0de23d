"""Property tests of the Pod CIDR planner: its arithmetic agrees with netaddr's own."""

from __future__ import annotations

import netaddr
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.tke.flannel.plugins.module_utils.pod_cidr_plan import (
    PlanError,
    find_free_block,
    free_node_blocks,
    plan_pod_cidr,
)

TEN = netaddr.IPNetwork("10.0.0.0/8")


@st.composite
def networks_in(draw, parent: netaddr.IPNetwork, min_prefix: int, max_prefix: int):
    """An aligned network of a drawn prefix inside ``parent``."""
    prefixlen = draw(st.integers(min_value=max(min_prefix, parent.prefixlen), max_value=max_prefix))
    index = draw(st.integers(min_value=0, max_value=2 ** (prefixlen - parent.prefixlen) - 1))
    first = netaddr.IPAddress(parent.first + index * 2 ** (32 - prefixlen))
    return netaddr.IPNetwork(f"{first}/{prefixlen}")


@st.composite
def cluster_and_mask(draw, max_diff: int = 16):
    cluster = draw(networks_in(TEN, 8, 28))
    mask = draw(st.integers(min_value=cluster.prefixlen + 1, max_value=30))
    assume(mask - cluster.prefixlen <= max_diff)
    return cluster, mask


@settings(max_examples=150, deadline=None)
@given(cluster_and_mask(max_diff=10))
def test_max_nodes_equals_the_number_of_subnets_netaddr_cuts(case):
    cluster, mask = case
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1)
    assert result["max_nodes"] == len(list(cluster.subnet(mask)))


@settings(max_examples=150, deadline=None)
@given(cluster_and_mask())
def test_max_nodes_equals_two_to_the_mask_difference(case):
    cluster, mask = case
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1)
    assert result["max_nodes"] == 2 ** (mask - cluster.prefixlen)


@settings(max_examples=150, deadline=None)
@given(cluster_and_mask())
def test_pod_ips_per_node_is_block_size_minus_network_broadcast_and_gateway(case):
    cluster, mask = case
    block = next(cluster.subnet(mask))
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1)
    assert result["pod_ips_per_node"] == block.size - 3


@st.composite
def cluster_with_nodes(draw):
    cluster, mask = draw(cluster_and_mask(max_diff=8))
    count = 2 ** (mask - cluster.prefixlen)
    indexes = draw(st.sets(st.integers(min_value=0, max_value=count - 1), max_size=min(count, 40)))
    size = 2 ** (32 - mask)
    nodes = {f"node-{i}": f"{netaddr.IPAddress(cluster.first + i * size)}/{mask}" for i in indexes}
    return cluster, mask, nodes


@settings(max_examples=150, deadline=None)
@given(cluster_with_nodes())
def test_blocks_in_use_and_free_never_overlap(case):
    cluster, mask, nodes = case
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1, existing_node_cidrs=nodes)
    in_use = netaddr.IPSet(block["cidr"] for block in result["node_blocks_in_use"])
    assert not in_use & netaddr.IPSet(result["free_cidrs"])


@settings(max_examples=150, deadline=None)
@given(cluster_with_nodes())
def test_blocks_in_use_and_free_cover_the_cluster_cidr(case):
    cluster, mask, nodes = case
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1, existing_node_cidrs=nodes)
    in_use = netaddr.IPSet(block["cidr"] for block in result["node_blocks_in_use"])
    assert in_use | netaddr.IPSet(result["free_cidrs"]) == netaddr.IPSet([cluster])


@settings(max_examples=150, deadline=None)
@given(cluster_with_nodes())
def test_allocated_and_free_add_up_to_max_nodes(case):
    cluster, mask, nodes = case
    result = plan_pod_cidr(str(cluster), mask, max_pods_per_node=1, existing_node_cidrs=nodes)
    assert (result["nodes_allocated"], result["nodes_free"]) == (
        len(nodes),
        result["max_nodes"] - len(nodes),
    )


@settings(max_examples=200, deadline=None)
@given(
    cluster_and_mask(max_diff=6),
    st.lists(networks_in(netaddr.IPNetwork("10.0.0.0/6"), 6, 32), max_size=12),
)
def test_free_blocks_of_any_in_use_mix_are_whole_untouched_blocks(case, in_use):
    cluster, mask = case
    free = netaddr.IPSet(free_node_blocks(cluster, mask, in_use))
    used = netaddr.IPSet(in_use)
    expected = netaddr.IPSet(
        block for block in cluster.subnet(mask) if netaddr.IPSet([block]).isdisjoint(used)
    )
    assert free == expected


@settings(max_examples=200, deadline=None)
@given(networks_in(TEN, 8, 24), networks_in(TEN, 8, 28))
def test_overlap_with_a_reserved_range_fails_in_either_direction(cluster, reserved):
    overlaps = not netaddr.IPSet([cluster]).isdisjoint(netaddr.IPSet([reserved]))
    try:
        plan_pod_cidr(str(cluster), 30, max_pods_per_node=1, vpc_cidrs=[str(reserved)])
        failed = False
    except PlanError as error:
        failed = any(c["with"] == f"vpc_cidrs {reserved}" for c in error.conflicts)
    assert failed == overlaps


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=8, max_value=28),
    st.lists(networks_in(netaddr.IPNetwork("0.0.0.0/0"), 4, 24), max_size=20),
)
def test_proposed_free_block_overlaps_nothing_reserved(prefixlen, reserved):
    block = find_free_block(prefixlen, reserved)
    assume(block is not None)
    assert netaddr.IPSet([block]).isdisjoint(netaddr.IPSet(reserved))


@pytest.mark.parametrize("prefixlen", [8, 12, 16])
def test_proposed_free_block_has_the_asked_size(prefixlen):
    assert find_free_block(prefixlen, []).prefixlen == prefixlen


@settings(max_examples=200, deadline=None)
@given(
    cluster_and_mask(max_diff=6),
    st.lists(networks_in(netaddr.IPNetwork("10.0.0.0/6"), 6, 32), max_size=12),
)
def test_free_blocks_are_aggregated_as_netaddr_would(case, in_use):
    cluster, mask = case
    free = free_node_blocks(cluster, mask, in_use)
    assert free == list(netaddr.IPSet(free).iter_cidrs())
