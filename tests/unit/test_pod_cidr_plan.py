"""Unit tests of the Pod CIDR planner and of the tke.flannel.pod_cidr_plan module."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any
from unittest import mock

import netaddr
import pytest
from module_args import ModuleExit, run_main

from ansible_collections.tke.flannel.plugins.module_utils.pod_cidr_plan import (
    PlanError,
    find_free_block,
    plan_pod_cidr,
)
from ansible_collections.tke.flannel.plugins.modules import pod_cidr_plan as module


def plan(**options: Any) -> dict[str, Any]:
    options.setdefault("cluster_cidr", "10.244.0.0/16")
    return plan_pod_cidr(**options)


SKIPPED_CHECKS = ("vpc_cidrs was not given", "service_cidr was not given")


def warnings_of(result: dict[str, Any]) -> list[str]:
    """The plan's warnings other than a skipped overlap check for an option left out."""
    return [w for w in result["warnings"] if not w.startswith(SKIPPED_CHECKS)]


def failure(**options: Any) -> PlanError:
    options.setdefault("cluster_cidr", "10.244.0.0/16")
    with pytest.raises(PlanError) as caught:
        plan_pod_cidr(**options)
    return caught.value


# -- parsing -----------------------------------------------------------------


def test_cluster_cidr_that_does_not_parse_fails_naming_option_and_value():
    assert str(failure(cluster_cidr="10.244.0/16")) == (
        "cluster_cidr 10.244.0/16 is not a valid CIDR; write it as address/prefix, "
        "e.g. 10.244.0.0/16"
    )


def test_cluster_cidr_that_is_not_an_address_says_it_is_not_a_cidr():
    assert str(failure(cluster_cidr="garbage")) == (
        "cluster_cidr garbage is not a CIDR; write it as address/prefix length, e.g. 10.244.0.0/16"
    )


@pytest.mark.parametrize("mask", ["0.0.255.255", "255.255.0.0"])
def test_cluster_cidr_with_a_mask_after_the_slash_fails_giving_the_prefix_length(mask: str):
    assert str(failure(cluster_cidr=f"10.244.0.0/{mask}")) == (
        f"cluster_cidr 10.244.0.0/{mask} gives a mask after the slash, not a prefix length; "
        "write it as 10.244.0.0/16"
    )


def test_vpc_entry_with_a_hostmask_fails_naming_the_option():
    assert str(failure(vpc_cidrs=["172.16.0.0/0.0.255.255"])).startswith(
        "vpc_cidrs entry 172.16.0.0/0.0.255.255 gives a mask after the slash"
    )


def test_vpc_range_covering_all_of_ipv4_must_be_the_actual_vpc_cidr():
    assert str(failure(vpc_cidrs=["0.0.0.0/0"])) == (
        "vpc_cidrs entry 0.0.0.0/0 covers all of IPv4, so no Pod range can stay outside it; "
        "it must be the VPC's actual CIDR, e.g. 172.16.0.0/16"
    )


@pytest.mark.parametrize(
    "options, option",
    [
        ({"service_cidr": "192.168.0.0/17"}, "vpc_cidrs"),
        ({"vpc_cidrs": ["172.16.0.0/16"]}, "service_cidr"),
        ({"vpc_cidrs": [], "service_cidr": ""}, "vpc_cidrs"),
    ],
)
def test_missing_vpc_or_service_range_warns_that_its_overlap_check_was_skipped(options, option):
    assert [w for w in plan(**options)["warnings"] if "was skipped" in w][0].startswith(
        f"{option} was not given, so the overlap check against"
    )


def test_both_ranges_given_give_no_skipped_check_warning():
    result = plan(vpc_cidrs=["172.16.0.0/16"], service_cidr="192.168.0.0/17")
    assert [w for w in result["warnings"] if "was skipped" in w] == []


def test_cluster_cidr_without_prefix_length_fails():
    assert str(failure(cluster_cidr="10.244.0.0")) == (
        "cluster_cidr 10.244.0.0 has no prefix length; write it as address/prefix, "
        "e.g. 10.244.0.0/16"
    )


def test_cluster_cidr_that_is_not_a_string_fails():
    assert str(failure(cluster_cidr=None)).startswith("cluster_cidr None is not a CIDR")


def test_cluster_cidr_with_host_bits_proposes_the_network_address():
    assert str(failure(cluster_cidr="10.244.1.0/16")) == (
        "cluster_cidr 10.244.1.0/16 is not a network address (host bits set); use 10.244.0.0/16"
    )


def test_ipv6_cluster_cidr_fails_because_podcidr_controller_is_ipv4_only():
    assert "podcidr-controller allocates IPv4 Pod CIDRs only" in str(
        failure(cluster_cidr="fd00:10:244::/56")
    )


def test_vpc_entry_that_does_not_parse_fails_naming_the_option():
    assert str(failure(vpc_cidrs=["172.16.0.0/33"])) == (
        "vpc_cidrs entry 172.16.0.0/33 is not a valid CIDR; write it as address/prefix, "
        "e.g. 10.244.0.0/16"
    )


def test_reserved_entry_with_host_bits_proposes_the_network_address():
    assert str(failure(extra_reserved_cidrs=["192.168.10.1/24"])) == (
        "extra_reserved_cidrs entry 192.168.10.1/24 is not a network address (host bits set); "
        "use 192.168.10.0/24"
    )


def test_ipv6_vpc_entry_is_ignored_with_a_warning():
    assert warnings_of(plan(vpc_cidrs=["172.16.0.0/16", "2402:4e00::/56"])) == [
        "vpc_cidrs entry 2402:4e00::/56 is IPv6 and was ignored; the IPv4 cluster CIDR can't "
        "overlap it"
    ]


def test_dual_stack_service_cidr_is_checked_on_its_ipv4_part():
    error = failure(service_cidr="10.244.0.0/20,fd00:96::/108")
    assert error.conflicts[0]["with"] == "service_cidr 10.244.0.0/20"


def test_ipv6_existing_node_cidr_fails_saying_to_re_register_the_node():
    assert str(failure(existing_node_cidrs={"idc-1": "fd00:10:244::/64"})) == (
        "existing_node_cidrs: node idc-1 podCIDR fd00:10:244::/64 is IPv6; podcidr-controller "
        "allocates IPv4 only, so it did not set this podCIDR and will not replace it; remove "
        "the node's podCIDR by re-registering node idc-1 (delete the Node object and register "
        "it again)"
    )


def test_existing_node_without_podcidr_is_skipped():
    assert plan(existing_node_cidrs={"idc-1": None, "idc-2": ""})["nodes_allocated"] == 0


def test_negative_node_count_fails():
    assert str(failure(node_count=-1)) == "node_count -1 is below 0; give 0 or more"


def test_node_count_that_is_not_an_integer_fails():
    assert str(failure(node_count="many")) == (
        "node_count 'many' is not an integer; give a whole number"
    )


# -- node mask ---------------------------------------------------------------


@pytest.mark.parametrize("mask", [31, 32, 33, 40])
def test_node_mask_longer_than_30_fails_giving_the_valid_range(mask: int):
    assert str(failure(node_cidr_mask_size=mask)) == (
        f"node_cidr_mask_size {mask} leaves no address for Pods (network, broadcast and the "
        "cni0 gateway take 3 addresses of a block); give a prefix length longer than the "
        "cluster_cidr prefix and at most 30 (17 to 30), e.g. 24 for 253 Pod addresses per node"
    )


@pytest.mark.parametrize("mask", [-1, 0])
def test_node_mask_below_1_fails_giving_the_valid_range(mask: int):
    assert str(failure(node_cidr_mask_size=mask)) == (
        f"node_cidr_mask_size {mask} is not a prefix length; give a prefix length longer than "
        "the cluster_cidr prefix and at most 30 (17 to 30), e.g. 24 for 253 Pod addresses per "
        "node"
    )


def test_node_mask_equal_to_cluster_prefix_fails():
    assert str(failure(node_cidr_mask_size=16)) == (
        "node_cidr_mask_size 16 is not longer than the cluster_cidr 10.244.0.0/16 prefix /16, "
        "so no node block can be cut from it; use a longer mask, e.g. 24"
    )


def test_node_mask_shorter_than_cluster_prefix_fails():
    assert "is not longer than the cluster_cidr" in str(failure(node_cidr_mask_size=12))


def test_node_mask_30_leaves_one_pod_address():
    assert plan(node_cidr_mask_size=30, max_pods_per_node=1)["pod_ips_per_node"] == 1


def test_cluster_cidr_too_small_for_any_node_block_fails():
    assert str(failure(cluster_cidr="10.244.0.0/30")).startswith(
        "cluster_cidr 10.244.0.0/30 is too small to cut node blocks"
    )


# -- capacity and values -----------------------------------------------------


def test_a_slash_16_holds_256_nodes_of_slash_24():
    assert plan()["max_nodes"] == 256


def test_a_slash_24_gives_253_pod_addresses():
    assert plan()["pod_ips_per_node"] == 253


def test_max_pods_is_nodes_times_pod_addresses():
    assert plan(node_cidr_mask_size=25)["max_pods"] == 512 * 125


def test_values_feed_both_charts_from_one_plan():
    assert plan(cluster_cidr="10.200.0.0/14", node_cidr_mask_size=25)["values"] == {
        "podcidr_controller": {"clusterCIDR": "10.200.0.0/14", "nodeCIDRMaskSize": 25},
        "flannel": {"podCidr": "10.200.0.0/14"},
    }


def test_clean_plan_has_no_conflicts():
    assert plan(vpc_cidrs=["172.16.0.0/16"], service_cidr="192.168.0.0/17")["conflicts"] == []


def test_clean_plan_has_no_warnings():
    assert warnings_of(plan(vpc_cidrs=["172.16.0.0/16"], node_count=100)) == []


# -- overlaps with reserved ranges -------------------------------------------


def test_cluster_cidr_inside_the_vpc_fails_with_shared_part_and_a_free_alternative():
    assert str(failure(cluster_cidr="10.0.0.0/16", vpc_cidrs=["10.0.0.0/8"])) == (
        "cluster_cidr 10.0.0.0/16 overlaps vpc_cidrs 10.0.0.0/8 (shared: 10.0.0.0/16); "
        "choose a range outside the VPC, e.g. 172.16.0.0/16"
    )


def test_cluster_cidr_containing_a_vpc_range_fails_too():
    assert str(failure(cluster_cidr="10.0.0.0/12", vpc_cidrs=["10.1.0.0/16"])).startswith(
        "cluster_cidr 10.0.0.0/12 overlaps vpc_cidrs 10.1.0.0/16 (shared: 10.1.0.0/16);"
    )


def test_cluster_cidr_overlapping_the_service_cidr_fails():
    assert str(failure(cluster_cidr="10.96.0.0/16", service_cidr="10.96.0.0/12")) == (
        "cluster_cidr 10.96.0.0/16 overlaps service_cidr 10.96.0.0/12 (shared: 10.96.0.0/16); "
        "choose a range outside the Service CIDR, e.g. 10.244.0.0/16"
    )


def test_cluster_cidr_overlapping_an_on_premises_range_fails():
    assert str(failure(extra_reserved_cidrs=["10.244.8.0/22"])) == (
        "cluster_cidr 10.244.0.0/16 overlaps extra_reserved_cidrs 10.244.8.0/22 "
        "(shared: 10.244.8.0/22); choose a range outside the reserved on-premises ranges, "
        "e.g. 10.0.0.0/16"
    )


def test_cluster_cidr_overlapping_link_local_fails():
    assert str(failure(cluster_cidr="169.254.0.0/20")).startswith(
        "cluster_cidr 169.254.0.0/20 overlaps link-local 169.254.0.0/16 "
        "(shared: 169.254.0.0/20); choose a range outside link-local addresses"
    )


def test_cluster_cidr_containing_link_local_fails():
    assert failure(cluster_cidr="169.0.0.0/8").conflicts[0]["overlap"] == ["169.254.0.0/16"]


def test_conflict_names_the_range_its_source_and_the_shared_part():
    assert failure(cluster_cidr="10.0.0.0/16", vpc_cidrs=["10.0.0.0/8"]).conflicts == [
        {
            "cidr": "10.0.0.0/16",
            "source": "cluster_cidr",
            "with": "vpc_cidrs 10.0.0.0/8",
            "overlap": ["10.0.0.0/16"],
        }
    ]


def test_proposed_alternative_is_free_of_every_reserved_range():
    error = failure(
        vpc_cidrs=["10.0.0.0/9"], extra_reserved_cidrs=["10.244.0.0/16", "10.128.0.0/16"]
    )
    assert str(error).endswith("e.g. 10.129.0.0/16")


def test_no_alternative_is_proposed_when_rfc1918_has_no_free_block_of_that_size():
    assert str(failure(cluster_cidr="10.0.0.0/8", vpc_cidrs=["10.1.0.0/16"])).endswith(
        "; no /8 in RFC 1918 space is free of the reserved ranges, so use a longer prefix"
    )


def test_find_free_block_prefers_flannels_default():
    assert str(find_free_block(16, [netaddr.IPNetwork("172.16.0.0/12")])) == "10.244.0.0/16"


def test_find_free_block_skips_the_docker_bridge():
    reserved = [netaddr.IPNetwork(c) for c in ("10.0.0.0/8", "172.16.0.0/16")]
    assert str(find_free_block(16, reserved + [netaddr.IPNetwork("172.17.0.0/16")])) == (
        "172.18.0.0/16"
    )


def test_all_overlaps_are_collected_into_conflicts():
    error = failure(
        cluster_cidr="10.0.0.0/8",
        vpc_cidrs=["10.1.0.0/16", "10.2.0.0/16"],
        service_cidr="10.96.0.0/12",
        extra_reserved_cidrs=["10.200.0.0/16"],
    )
    assert [conflict["with"] for conflict in error.conflicts] == [
        "vpc_cidrs 10.1.0.0/16",
        "vpc_cidrs 10.2.0.0/16",
        "service_cidr 10.96.0.0/12",
        "extra_reserved_cidrs 10.200.0.0/16",
    ]


def test_all_failures_are_reported_in_one_message_one_line_each():
    error = failure(
        cluster_cidr="10.0.0.0/16",
        vpc_cidrs=["10.0.0.0/8", "bogus"],
        node_count=1000,
        max_pods_per_node=300,
    )
    assert [line.split(" ")[0] for line in str(error).splitlines()] == [
        "vpc_cidrs",
        "cluster_cidr",
        "node_count",
        "max_pods_per_node",
    ]


# -- node count --------------------------------------------------------------


def test_node_count_over_capacity_proposes_the_smallest_widening_and_the_longest_mask():
    assert str(failure(node_count=300)) == (
        "node_count 300 exceeds the 256 nodes that cluster_cidr 10.244.0.0/16 holds with "
        "node_cidr_mask_size 24; either widen cluster_cidr to 10.244.0.0/15 (512 nodes of 253 "
        "Pod addresses; it overlaps no reserved range), or set node_cidr_mask_size to 25 "
        "(512 nodes of 125 Pod addresses)"
    )


def test_widening_that_reaches_a_reserved_range_says_so_and_proposes_a_free_one():
    assert (
        "10.244.0.0/15 (512 nodes of 253 Pod addresses; but it overlaps vpc_cidrs "
        "10.245.0.0/16, so take another /15, e.g. 10.0.0.0/15)"
    ) in str(failure(node_count=300, vpc_cidrs=["10.245.0.0/16"]))


def test_widening_says_when_it_leaves_private_space():
    assert "reaches outside private address space" in str(failure(node_count=100_000))


def test_longer_mask_fix_says_when_it_falls_below_max_pods():
    assert "(512 nodes of 125 Pod addresses, fewer than max_pods_per_node 200)" in str(
        failure(node_count=300, max_pods_per_node=200)
    )


def test_longer_mask_fix_is_dropped_when_no_mask_up_to_30_fits():
    assert str(failure(node_count=100_000)).endswith(
        "; no node mask up to /30 fits them in 10.244.0.0/16"
    )


def test_node_count_equal_to_capacity_passes():
    assert plan(node_count=256)["max_nodes"] == 256


def test_fewer_than_a_quarter_free_warns():
    assert warnings_of(plan(node_count=200))[0].startswith(
        "only 56 of 256 node blocks of cluster_cidr 10.244.0.0/16 would stay free at 200 nodes"
    )


def test_exactly_a_quarter_free_does_not_warn():
    assert warnings_of(plan(node_count=192)) == []


def test_existing_nodes_count_toward_the_free_quarter_without_node_count():
    nodes = {f"idc-{i}": f"10.244.{i}.0/24" for i in range(200)}
    assert "would stay free at 200 nodes" in warnings_of(plan(existing_node_cidrs=nodes))[0]


def test_node_count_below_existing_nodes_warns():
    nodes = {"idc-1": "10.244.0.0/24", "idc-2": "10.244.1.0/24"}
    assert warnings_of(plan(node_count=1, existing_node_cidrs=nodes)) == [
        "node_count 1 is below the 2 node blocks already allocated; planning for 2"
    ]


# -- max pods ----------------------------------------------------------------


def test_max_pods_over_pod_addresses_fails_with_both_fixes():
    assert str(failure(max_pods_per_node=300)) == (
        "max_pods_per_node 300 exceeds the 253 Pod addresses of a /24 node block (network, "
        "broadcast and the cni0 gateway take 3); use node_cidr_mask_size 23 (509 Pod "
        "addresses, 128 nodes in 10.244.0.0/16), or set max_pods_per_node to 253 or less"
    )


def test_max_pods_equal_to_pod_addresses_passes():
    assert plan(max_pods_per_node=253)["pod_ips_per_node"] == 253


def test_small_node_blocks_without_max_pods_warn_about_kubelets_default():
    assert warnings_of(plan(node_cidr_mask_size=26)) == [
        "a /26 node block gives 61 Pod addresses but kubelet's default max-pods is 110; Pods "
        "beyond 61 on a node would fail to get an address, so set kubelet --max-pods to 61 or "
        "less (and max_pods_per_node to match), or use node_cidr_mask_size 25"
    ]


def test_small_node_blocks_with_max_pods_given_do_not_warn():
    assert warnings_of(plan(node_cidr_mask_size=26, max_pods_per_node=60)) == []


# -- existing nodes ----------------------------------------------------------


def test_existing_node_outside_the_cluster_cidr_fails_naming_the_node():
    assert str(failure(existing_node_cidrs={"idc-7": "10.99.0.0/24"})) == (
        "existing_node_cidrs: node idc-7 has podCIDR 10.99.0.0/24, outside cluster_cidr "
        "10.244.0.0/16; Flannel fails on that node and podcidr-controller never rewrites a "
        "podCIDR, so choose a cluster_cidr that contains it, or delete the node and register "
        "it again"
    )


def test_existing_node_cidr_containing_the_cluster_cidr_counts_as_outside():
    assert "outside cluster_cidr" in str(failure(existing_node_cidrs={"idc-7": "10.0.0.0/8"}))


def test_existing_node_of_another_size_fails_naming_the_node():
    assert str(failure(existing_node_cidrs={"idc-3": "10.244.4.0/23"})) == (
        "existing_node_cidrs: node idc-3 has podCIDR 10.244.4.0/23, a /23, but "
        "node_cidr_mask_size is 24; podcidr-controller does not count a block of another size "
        "as used and may hand an overlapping block to another node, so set node_cidr_mask_size "
        "to 23 or delete the node and register it again"
    )


def test_existing_node_cidr_shared_by_two_nodes_fails_naming_both():
    nodes = {"idc-2": "10.244.1.0/24", "idc-1": "10.244.1.0/24"}
    assert str(failure(existing_node_cidrs=nodes)) == (
        "existing_node_cidrs: nodes idc-1, idc-2 share podCIDR 10.244.1.0/24; their Pods would "
        "get clashing addresses, so delete all but one of these nodes and register them again"
    )


def test_existing_node_cidr_shared_by_two_nodes_is_a_conflict():
    nodes = {"idc-1": "10.244.1.0/24", "idc-2": "10.244.1.0/24"}
    assert failure(existing_node_cidrs=nodes).conflicts == [
        {
            "cidr": "10.244.1.0/24",
            "source": "existing_node_cidrs node idc-1",
            "with": "existing_node_cidrs node idc-2 10.244.1.0/24",
            "overlap": ["10.244.1.0/24"],
        }
    ]


def test_nested_existing_node_cidrs_are_reported_as_overlapping():
    nodes = {"idc-3": "10.244.4.0/23", "idc-4": "10.244.5.0/24"}
    assert (
        "existing_node_cidrs: podCIDR 10.244.4.0/23 of node idc-3 overlaps podCIDR "
        "10.244.5.0/24 of node idc-4 (shared: 10.244.5.0/24)"
    ) in str(failure(existing_node_cidrs=nodes))


def test_existing_node_problems_are_all_reported():
    nodes = {"a": "10.99.0.0/24", "b": "10.244.4.0/23", "c": "10.244.1.0/24", "d": "10.244.1.0/24"}
    assert len(str(failure(existing_node_cidrs=nodes)).splitlines()) == 3


def test_existing_nodes_count_as_allocated():
    nodes = {"idc-1": "10.244.0.0/24", "idc-2": "10.244.7.0/24"}
    assert plan(existing_node_cidrs=nodes)["nodes_allocated"] == 2


def test_nodes_free_is_capacity_minus_blocks_in_use():
    nodes = {"idc-1": "10.244.0.0/24", "idc-2": "10.244.7.0/24"}
    assert plan(existing_node_cidrs=nodes)["nodes_free"] == 254


def test_node_blocks_in_use_are_sorted_by_address():
    nodes = {"b": "10.244.10.0/24", "a": "10.244.2.0/24", "c": "10.244.9.0/24"}
    assert plan(existing_node_cidrs=nodes)["node_blocks_in_use"] == [
        {"node": "a", "cidr": "10.244.2.0/24"},
        {"node": "c", "cidr": "10.244.9.0/24"},
        {"node": "b", "cidr": "10.244.10.0/24"},
    ]


def test_free_cidrs_leave_out_the_blocks_in_use():
    result = plan(cluster_cidr="10.244.0.0/22", existing_node_cidrs={"a": "10.244.1.0/24"})
    assert result["free_cidrs"] == ["10.244.0.0/24", "10.244.2.0/23"]


def test_five_thousand_existing_nodes_are_all_counted():
    nodes = {f"idc-{i}": f"10.{i // 256}.{i % 256}.0/24" for i in range(5000)}
    assert plan(cluster_cidr="10.0.0.0/8", existing_node_cidrs=nodes)["nodes_allocated"] == 5000


# -- warnings on the cluster CIDR --------------------------------------------


def test_cluster_cidr_inside_the_docker_bridge_warns():
    assert warnings_of(plan(cluster_cidr="172.17.0.0/20"))[0].startswith(
        "cluster_cidr 172.17.0.0/20 overlaps 172.17.0.0/16, the default Docker bridge"
    )


def test_cluster_cidr_containing_the_docker_bridge_warns():
    assert "(shared: 172.17.0.0/16)" in warnings_of(plan(cluster_cidr="172.16.0.0/12"))[0]


def test_public_cluster_cidr_warns_and_says_what_counts_as_private():
    assert warnings_of(plan(cluster_cidr="11.0.0.0/16")) == [
        "cluster_cidr 11.0.0.0/16 is not inside private address space (RFC 1918 10.0.0.0/8, "
        "172.16.0.0/12, 192.168.0.0/16, or the RFC 6598 shared range 100.64.0.0/10, which "
        "this plan counts as private); Pods could not reach public hosts with those "
        "addresses; prefer a private range, e.g. 10.244.0.0/16"
    ]


def test_cgnat_cluster_cidr_counts_as_private():
    assert warnings_of(plan(cluster_cidr="100.64.0.0/16")) == []


def test_plan_error_is_a_value_error():
    assert isinstance(failure(cluster_cidr="x"), ValueError)


# -- the module --------------------------------------------------------------


def run_module(args: dict[str, Any]) -> ModuleExit:
    return run_main(module.main, args)


_ALWAYS_RESERVED = [
    {"option": "link-local", "cidr": "169.254.0.0/16"},
    {"option": "loopback", "cidr": "127.0.0.0/8"},
    {"option": "'this network'", "cidr": "0.0.0.0/8"},
    {"option": "multicast", "cidr": "224.0.0.0/4"},
    {"option": "reserved (class E)", "cidr": "240.0.0.0/4"},
]


SERVICE_CIDR_SKIPPED = (
    "service_cidr was not given, so the overlap check against the Service CIDR was skipped; "
    "set service_cidr to have cluster_cidr checked against it"
)


def test_module_returns_the_whole_plan_unchanged():
    outcome = run_module(
        {
            "cluster_cidr": "10.244.0.0/22",
            "vpc_cidrs": ["172.16.0.0/16"],
            "existing_node_cidrs": {"idc-1": "10.244.1.0/24"},
        }
    )
    assert (outcome.failed, outcome.result) == (
        False,
        {
            "changed": False,
            "cluster_cidr": "10.244.0.0/22",
            "node_cidr_mask_size": 24,
            "max_nodes": 4,
            "pod_ips_per_node": 253,
            "max_pods": 1012,
            "nodes_allocated": 1,
            "nodes_free": 3,
            "node_blocks_in_use": [{"node": "idc-1", "cidr": "10.244.1.0/24"}],
            "free_cidrs": ["10.244.0.0/24", "10.244.2.0/23"],
            "reserved_cidrs": [{"option": "vpc_cidrs", "cidr": "172.16.0.0/16"}, *_ALWAYS_RESERVED],
            "conflicts": [],
            "plan_warnings": [SERVICE_CIDR_SKIPPED],
            "values": {
                "podcidr_controller": {"clusterCIDR": "10.244.0.0/22", "nodeCIDRMaskSize": 24},
                "flannel": {"podCidr": "10.244.0.0/22"},
            },
        },
    )


def test_module_fails_with_every_problem_the_conflicts_and_what_it_computed():
    outcome = run_module({"cluster_cidr": "10.0.0.0/16", "vpc_cidrs": ["10.0.0.0/8"]})
    problem = (
        "cluster_cidr 10.0.0.0/16 overlaps vpc_cidrs 10.0.0.0/8 (shared: "
        "10.0.0.0/16); choose a range outside the VPC, e.g. 172.16.0.0/16"
    )
    assert (outcome.failed, outcome.result) == (
        True,
        {
            "msg": problem,
            "plan_problems": [problem],
            "cluster_cidr": "10.0.0.0/16",
            "node_cidr_mask_size": 24,
            "max_nodes": 256,
            "pod_ips_per_node": 253,
            "max_pods": 64768,
            "nodes_allocated": 0,
            "nodes_free": 256,
            "node_blocks_in_use": [],
            "free_cidrs": ["10.0.0.0/16"],
            "reserved_cidrs": [{"option": "vpc_cidrs", "cidr": "10.0.0.0/8"}, *_ALWAYS_RESERVED],
            "conflicts": [
                {
                    "cidr": "10.0.0.0/16",
                    "source": "cluster_cidr",
                    "with": "vpc_cidrs 10.0.0.0/8",
                    "overlap": ["10.0.0.0/16"],
                }
            ],
            "plan_warnings": [SERVICE_CIDR_SKIPPED],
        },
    )


def test_failed_module_result_holds_the_node_blocks_but_no_chart_values():
    outcome = run_module(
        {
            "cluster_cidr": "10.244.0.0/16",
            "existing_node_cidrs": {"idc-1": "10.244.1.0/24", "idc-2": "10.244.1.0/24"},
        }
    )
    assert (
        outcome.failed,
        outcome.result["node_blocks_in_use"],
        outcome.result["nodes_allocated"],
        "values" in outcome.result,
    ) == (
        True,
        [{"node": "idc-1", "cidr": "10.244.1.0/24"}, {"node": "idc-2", "cidr": "10.244.1.0/24"}],
        1,
        False,
    )


def test_failed_module_result_without_a_cluster_cidr_still_lists_the_reserved_ranges():
    outcome = run_module({"cluster_cidr": "nonsense", "service_cidr": "192.168.0.0/16"})
    assert (outcome.result["reserved_cidrs"][0], "max_nodes" in outcome.result) == (
        {"option": "service_cidr", "cidr": "192.168.0.0/16"},
        False,
    )


def test_plan_error_keeps_what_was_computed_for_a_report():
    assert failure(cluster_cidr="10.0.0.0/16", vpc_cidrs=["10.0.0.0/8"]).partial["max_nodes"] == 256


def test_module_returns_warnings_as_plan_warnings():
    outcome = run_module({"cluster_cidr": "172.17.0.0/16"})
    assert len(outcome.result["plan_warnings"]) == 3  # the Docker bridge, no VPC, no Services


def test_module_shows_warnings_as_ansible_warnings():
    outcome = run_module({"cluster_cidr": "172.17.0.0/16"})
    assert outcome.warned == outcome.result["plan_warnings"]


def test_module_in_check_mode_reports_no_change():
    outcome = run_module({"cluster_cidr": "10.244.0.0/16", "_ansible_check_mode": True})
    assert outcome.result["changed"] is False


def test_module_rejects_an_unknown_option():
    outcome = run_module({"cluster_cidr": "10.244.0.0/16", "pod_cidr": "10.244.0.0/16"})
    assert "pod_cidr" in outcome.result["msg"]


def test_module_without_netaddr_asks_for_it():
    with mock.patch.object(module, "HAS_NETADDR", False):
        outcome = run_module({"cluster_cidr": "10.244.0.0/16"})
    assert "netaddr" in outcome.result["msg"]


def test_module_utils_import_without_ansible():
    code = (
        "import sys; sys.modules['ansible'] = None; "
        "from ansible_collections.tke.flannel.plugins.module_utils import pod_cidr_plan as p; "
        "print(p.plan_pod_cidr('10.244.0.0/16')['max_nodes'])"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.stdout.strip() == "256"
