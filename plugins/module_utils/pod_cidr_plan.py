# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan the Pod address space of a TKE cluster that runs Flannel.

One cluster CIDR is cut into equal per-node blocks by podcidr-controller, and
Flannel routes between them. This module checks such a plan before anything is
installed: the cluster CIDR must not collide with addresses the nodes already
route elsewhere (the VPC, the Service CIDR, on-premises ranges, link-local),
it must hold the expected number of nodes and Pods, and it must agree with the
``spec.podCIDR`` that nodes already carry. It also derives the chart values so
that podcidr-controller and Flannel are fed from one source.

The logic does not depend on Ansible, so it can be unit-tested on its own; it
needs ``netaddr``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - exercised only where netaddr is absent
    netaddr = None
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = traceback.format_exc()


#: kubelet's default ``--max-pods``.
KUBELET_DEFAULT_MAX_PODS = 110

#: Addresses of a node block that Pods can't get: the network address, the
#: broadcast address, and the first host address, which Flannel's bridge
#: ``cni0`` takes as the Pods' gateway. A /24 therefore gives 256 - 3 = 253.
ADDRESSES_NOT_FOR_PODS = 3

#: The longest node mask that leaves at least one Pod address (/30: 4 - 3).
LONGEST_NODE_MASK = 30

#: The address space the plan may propose from when the given range is taken.
RFC1918_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

#: Address space treated as private: RFC 1918 plus the shared address space
#: of RFC 6598 (100.64.0.0/10, "CGNAT"), which is not routed on the internet
#: either and is a common choice for overlays.
PRIVATE_RANGES = (*RFC1918_RANGES, "100.64.0.0/10")

#: The range proposed first when it is free: Flannel's own default.
PREFERRED_CLUSTER_CIDR = "10.244.0.0/16"

#: Default bridge of the Docker engine, present on many registered machines.
DOCKER_BRIDGE_CIDR = "172.17.0.0/16"

#: Ranges no Pod may use whatever the options say, with the name used in
#: messages. Link-local holds the cloud's metadata and DNS endpoints that
#: nodes reach directly; the others can never be routed to a Pod.
ALWAYS_RESERVED = (
    ("link-local", "169.254.0.0/16"),
    ("loopback", "127.0.0.0/8"),
    ("'this network'", "0.0.0.0/8"),
    ("multicast", "224.0.0.0/4"),
    ("reserved (class E)", "240.0.0.0/4"),
)

_EXAMPLE = "e.g. 10.244.0.0/16"


class PlanError(ValueError):
    """The options describe a plan that would break the cluster.

    ``problems`` holds one line per failed rule (the message joins them), so an
    operator sees everything to fix at once rather than one thing per run;
    ``conflicts`` lists the overlapping ranges found on the way. ``partial``
    holds the fields of the plan that could still be computed (capacity,
    blocks in use and free, the reserved ranges), without the chart values: a
    report can then draw the failed plan where it went wrong.
    """

    def __init__(
        self,
        problems: list[str],
        conflicts: list[dict[str, Any]] | None = None,
        warnings: list[str] | None = None,
        partial: Mapping[str, Any] | None = None,
    ) -> None:
        self.problems = list(problems)
        self.conflicts = list(conflicts or [])
        self.warnings = list(warnings or [])
        self.partial = dict(partial or {})
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class _Reserved:
    """A range the cluster CIDR must stay clear of, and what to say about it."""

    option: str
    network: Any  # netaddr.IPNetwork
    outside: str  # completes "choose a range outside ..."

    @property
    def label(self) -> str:
        return f"{self.option} {self.network}"


def _require_netaddr() -> None:
    if not HAS_NETADDR:
        raise PlanError(["the Python library netaddr is required; install it with pip"])


def parse_cidr(value: Any, where: str) -> Any:
    """Return ``value`` as a ``netaddr.IPNetwork``, or raise PlanError naming ``where``.

    Only explicit network addresses in CIDR notation are accepted: a bare
    address or one with host bits set is almost always a typo for another
    range, and guessing would silently plan around the wrong addresses.
    Both IP versions parse; callers decide what IPv6 means for them.
    """
    _require_netaddr()
    if not isinstance(value, str) or not value.strip():
        raise PlanError(
            [f"{where} {value!r} is not a CIDR; write it as address/prefix, {_EXAMPLE}"]
        )
    text = value.strip()
    if "/" not in text:
        if netaddr.valid_ipv4(text) or netaddr.valid_ipv6(text):
            raise PlanError(
                [f"{where} {text} has no prefix length; write it as address/prefix, {_EXAMPLE}"]
            )
        raise PlanError(
            [f"{where} {text} is not a CIDR; write it as address/prefix length, {_EXAMPLE}"]
        )
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise PlanError(
            [f"{where} {text} is not a valid CIDR; write it as address/prefix, {_EXAMPLE}"]
        ) from None
    if not text.rsplit("/", 1)[1].isdigit():
        # netaddr also reads a netmask or hostmask after the slash (10.244.0.0/0.0.255.255
        # as /16); an operator who writes one may mean something else, so insist on /N.
        raise PlanError(
            [
                f"{where} {text} gives a mask after the slash, not a prefix length; write it "
                f"as {network.cidr}"
            ]
        )
    if network.ip != network.network:
        raise PlanError(
            [f"{where} {text} is not a network address (host bits set); use {network.cidr}"]
        )
    return network.cidr


def _shared(first: Any, second: Any) -> list[str]:
    """CIDRs common to two networks, computed as a set intersection.

    Intersection catches both directions (``first`` inside ``second`` and the
    reverse), which a one-way containment test misses.
    """
    common = netaddr.IPSet([first]) & netaddr.IPSet([second])
    return [str(cidr) for cidr in common.iter_cidrs()]


def _bits_for(count: int) -> int:
    """Smallest ``k`` with ``2**k >= count`` (0 for a count of 0 or 1)."""
    return max(count - 1, 0).bit_length()


def pod_ips_per_node(node_cidr_mask_size: int) -> int:
    """Addresses a node block of this mask gives to Pods.

    Network and broadcast address are unusable and Flannel's bridge ``cni0``
    takes the first host address as the Pods' gateway, so a /24 gives 253.
    """
    return 2 ** (32 - node_cidr_mask_size) - ADDRESSES_NOT_FOR_PODS


def node_capacity(cluster_prefixlen: int, node_cidr_mask_size: int) -> int:
    """How many node blocks of ``node_cidr_mask_size`` fit in a cluster CIDR of this prefix."""
    return 2 ** (node_cidr_mask_size - cluster_prefixlen)


def find_free_block(
    prefixlen: int,
    reserved: Iterable[Any],
    search_space: Iterable[str] = RFC1918_RANGES,
    preferred: str = PREFERRED_CLUSTER_CIDR,
) -> Any | None:
    """Find an IPv4 network of ``prefixlen`` in ``search_space`` that overlaps nothing reserved.

    Used to propose an alternative that is really free, rather than a fixed
    example that may collide with the very ranges the operator listed. The
    block holding ``preferred`` (Flannel's default) wins when it is free;
    otherwise the lowest free block is returned; None when there is none.
    """
    _require_netaddr()
    free = netaddr.IPSet(search_space) - netaddr.IPSet(reserved)
    if not free:
        return None
    if 0 <= prefixlen <= 32:
        candidate = netaddr.IPNetwork(f"{netaddr.IPNetwork(preferred).network}/{prefixlen}").cidr
        if netaddr.IPSet([candidate]).issubset(free):
            return candidate
    for cidr in free.iter_cidrs():
        if cidr.prefixlen <= prefixlen:
            return netaddr.IPNetwork(f"{cidr.network}/{prefixlen}")
    return None


def free_node_blocks(cluster: Any, node_cidr_mask_size: int, in_use: Iterable[Any]) -> list[Any]:
    """Whole node blocks of ``cluster`` that no network in ``in_use`` touches.

    Returned as aggregated CIDRs, each at least one node block, in address
    order. Works on sorted integer intervals, so it stays O(n log n) for
    thousands of nodes; a block partly covered by an odd-sized podCIDR is not
    free.
    """
    block = 2 ** (32 - node_cidr_mask_size)
    intervals = sorted(
        (max(net.first, cluster.first), min(net.last, cluster.last))
        for net in in_use
        if net.first <= cluster.last and net.last >= cluster.first
    )
    gaps: list[tuple[int, int]] = []
    cursor = cluster.first
    for first, last in intervals:
        if first > cursor:
            gaps.append((cursor, first - 1))
        cursor = max(cursor, last + 1)
    if cursor <= cluster.last:
        gaps.append((cursor, cluster.last))
    free: list[Any] = []
    for first, last in gaps:
        aligned_first = -(-first // block) * block
        aligned_end = (last + 1) // block * block
        free.extend(_range_to_cidrs(aligned_first, aligned_end))
    return free


def _range_to_cidrs(start: int, end: int) -> list[Any]:
    """The fewest IPv4 CIDRs covering addresses ``start`` to ``end - 1`` (integers).

    Does what netaddr.iprange_to_cidrs does, on plain integers, which is
    several times faster when thousands of gaps are split.
    """
    cidrs = []
    while start < end:
        size = start & -start if start else 2**32
        while size > end - start:
            size //= 2
        cidrs.append(netaddr.IPNetwork((start, 32 - size.bit_length() + 1), 4))
        start += size
    return cidrs


def _count_blocks(cidrs: Iterable[Any], node_cidr_mask_size: int) -> int:
    return sum(2 ** (node_cidr_mask_size - cidr.prefixlen) for cidr in cidrs)


class _Planner:
    """Collects problems, conflicts and warnings for one set of options."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.conflicts: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.reserved: list[_Reserved] = []
        self._free_cache: dict[int, Any] = {}

    # -- parsing ---------------------------------------------------------------

    def parse(self, value: Any, where: str) -> Any | None:
        try:
            return parse_cidr(value, where)
        except PlanError as exc:
            self.problems.extend(exc.problems)
            return None

    def parse_allocatable(self, value: Any, where: str) -> Any | None:
        """Parse a range podcidr-controller would allocate from: IPv4 only."""
        network = self.parse(value, where)
        if network is not None and network.version != 4:
            self.problems.append(
                f"{where} {network} is IPv6; podcidr-controller allocates IPv4 Pod CIDRs only, "
                f"use an IPv4 range, {_EXAMPLE}"
            )
            return None
        return network

    def parse_node_podcidr(self, value: Any, node: str) -> Any | None:
        """Parse a node's existing spec.podCIDR, which podcidr-controller never rewrites."""
        where = f"existing_node_cidrs: node {node} podCIDR"
        network = self.parse(value, where)
        if network is not None and network.version != 4:
            self.problems.append(
                f"{where} {network} is IPv6; podcidr-controller allocates IPv4 only, so it did "
                f"not set this podCIDR and will not replace it; remove the node's podCIDR by "
                f"re-registering node {node} (delete the Node object and register it again)"
            )
            return None
        return network

    def add_reserved(self, values: Iterable[Any], option: str, outside: str) -> None:
        seen = {(r.option, r.network) for r in self.reserved}
        for value in values:
            network = self.parse(value, f"{option} entry")
            if network is None:
                continue
            if network.version == 4 and network.prefixlen == 0:
                actual = "the VPC's actual CIDR" if option == "vpc_cidrs" else "the actual range"
                self.problems.append(
                    f"{option} entry {network} covers all of IPv4, so no Pod range can stay "
                    f"outside it; it must be {actual}, e.g. 172.16.0.0/16"
                )
                continue
            if network.version != 4:
                # Limitation: only IPv4 is planned, so an IPv6 range can't collide
                # with the cluster CIDR; it is skipped rather than rejected because
                # dual-stack VPCs legitimately list one.
                self.warnings.append(
                    f"{option} entry {network} is IPv6 and was ignored; the IPv4 cluster CIDR "
                    "can't overlap it"
                )
                continue
            if (option, network) not in seen:
                seen.add((option, network))
                self.reserved.append(_Reserved(option, network, outside))

    def free_block(self, prefixlen: int) -> Any | None:
        if prefixlen not in self._free_cache:
            avoid = [r.network for r in self.reserved]
            avoid.append(netaddr.IPNetwork(DOCKER_BRIDGE_CIDR))
            self._free_cache[prefixlen] = find_free_block(prefixlen, avoid)
        return self._free_cache[prefixlen]

    def suggestion(self, prefixlen: int) -> str:
        """Text that ends a sentence proposing another range: ", e.g. X" or why there is none."""
        block = self.free_block(prefixlen)
        if block is None:
            return (
                f"; no /{prefixlen} in RFC 1918 space is free of the reserved ranges, "
                "so use a longer prefix"
            )
        return f", e.g. {block}"

    def reserved_cidrs(self) -> list[dict[str, str]]:
        """The ranges checked against, as option and CIDR, in the order they were given."""
        return [{"option": r.option, "cidr": str(r.network)} for r in self.reserved]

    def overlapping_reserved(self, network: Any) -> list[tuple[_Reserved, list[str]]]:
        found = []
        for reserved in self.reserved:
            shared = _shared(network, reserved.network)
            if shared:
                found.append((reserved, shared))
        return found


def _check_int(value: Any, option: str, minimum: int | None, problems: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{option} {value!r} is not an integer; give a whole number")
        return None
    if minimum is not None and value < minimum:
        problems.append(f"{option} {value} is below {minimum}; give {minimum} or more")
        return None
    return value


def plan_pod_cidr(
    cluster_cidr: str,
    node_cidr_mask_size: int = 24,
    vpc_cidrs: Iterable[str] | None = None,
    service_cidr: str | None = None,
    extra_reserved_cidrs: Iterable[str] | None = None,
    node_count: int | None = None,
    max_pods_per_node: int | None = None,
    existing_node_cidrs: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Check a Pod CIDR plan and return its capacity and chart values.

    ``cluster_cidr`` is cut into blocks of ``node_cidr_mask_size``, one per
    node. It must stay clear of ``vpc_cidrs`` (the proxy-ENI subnet of
    registered nodes included), ``service_cidr``, ``extra_reserved_cidrs``
    (on-premises ranges over direct connect) and link-local, and hold
    ``node_count`` nodes of ``max_pods_per_node`` Pods. ``existing_node_cidrs``
    maps node names to the ``spec.podCIDR`` they already have (None or "" for
    none yet): podcidr-controller never rewrites those, so they must fit.

    Every broken rule is collected and raised together as one PlanError, whose
    ``partial`` holds what could be computed; the returned dict holds capacity
    figures, the blocks in use and free, the ``reserved_cidrs`` checked
    against, ``conflicts`` (empty on success), ``warnings`` for risks that
    don't stop the plan, and ``values`` for the podcidr-controller and flannel
    charts.
    """
    _require_netaddr()
    planner = _Planner()
    problems = planner.problems

    cluster = planner.parse_allocatable(cluster_cidr, "cluster_cidr")

    mask = _check_int(node_cidr_mask_size, "node_cidr_mask_size", None, problems)
    if mask is not None and not 1 <= mask <= LONGEST_NODE_MASK:
        shortest = cluster.prefixlen + 1 if cluster is not None else 1
        why = (
            "leaves no address for Pods (network, broadcast and the cni0 gateway take 3 "
            "addresses of a block)"
            if mask > LONGEST_NODE_MASK
            else "is not a prefix length"
        )
        problems.append(
            f"node_cidr_mask_size {mask} {why}; give a prefix length longer than the "
            f"cluster_cidr prefix and at most {LONGEST_NODE_MASK} "
            f"({shortest} to {LONGEST_NODE_MASK}), e.g. 24 for {pod_ips_per_node(24)} Pod "
            "addresses per node"
        )
        mask = None
    if cluster is not None and cluster.prefixlen >= LONGEST_NODE_MASK:
        problems.append(
            f"cluster_cidr {cluster} is too small to cut node blocks of /{LONGEST_NODE_MASK} "
            f"or wider from; use a wider range, {_EXAMPLE}"
        )
        mask = None
    elif mask is not None and cluster is not None and mask <= cluster.prefixlen:
        better = 24 if cluster.prefixlen < 24 else cluster.prefixlen + 1
        problems.append(
            f"node_cidr_mask_size {mask} is not longer than the cluster_cidr {cluster} prefix "
            f"/{cluster.prefixlen}, so no node block can be cut from it; use a longer mask, "
            f"e.g. {better}"
        )
        mask = None

    if isinstance(service_cidr, str):
        # A dual-stack cluster gives its Service CIDRs comma-separated.
        service_cidrs = [part for part in service_cidr.split(",") if part.strip()]
    elif service_cidr is None:
        service_cidrs = []
    else:
        service_cidrs = [service_cidr]
    planner.add_reserved(vpc_cidrs or [], "vpc_cidrs", "the VPC")
    planner.add_reserved(service_cidrs, "service_cidr", "the Service CIDR")
    for option, given, what in (
        ("vpc_cidrs", vpc_cidrs, "the VPC"),
        ("service_cidr", service_cidrs, "the Service CIDR"),
    ):
        if not given:
            planner.warnings.append(
                f"{option} was not given, so the overlap check against {what} was skipped; "
                f"set {option} to have cluster_cidr checked against it"
            )
    planner.add_reserved(
        extra_reserved_cidrs or [], "extra_reserved_cidrs", "the reserved on-premises ranges"
    )
    for name, cidr in ALWAYS_RESERVED:
        planner.reserved.append(_Reserved(name, netaddr.IPNetwork(cidr), f"{name} addresses"))

    node_count = _check_int(node_count, "node_count", 0, problems)
    max_pods_per_node = _check_int(max_pods_per_node, "max_pods_per_node", 1, problems)

    nodes = _parse_nodes(planner, existing_node_cidrs)

    partial: dict[str, Any] = {"reserved_cidrs": planner.reserved_cidrs()}
    if cluster is None:
        raise PlanError(problems, planner.conflicts, planner.warnings, partial)
    partial["cluster_cidr"] = str(cluster)
    _check_cluster_ranges(planner, cluster)
    blocks_in_use, unique_networks = _check_nodes(planner, cluster, mask, nodes)
    partial["node_blocks_in_use"] = blocks_in_use
    if mask is None:
        raise PlanError(problems, planner.conflicts, planner.warnings, partial)

    max_nodes = node_capacity(cluster.prefixlen, mask)
    ips_per_node = pod_ips_per_node(mask)
    free = free_node_blocks(cluster, mask, unique_networks)
    nodes_free = _count_blocks(free, mask)
    nodes_allocated = max_nodes - nodes_free
    _check_node_count(
        planner, cluster, mask, node_count, max_pods_per_node, nodes_allocated, bool(nodes)
    )
    _check_max_pods(planner, cluster, mask, max_pods_per_node)

    partial.update(
        {
            "node_cidr_mask_size": mask,
            "max_nodes": max_nodes,
            "pod_ips_per_node": ips_per_node,
            "max_pods": max_nodes * ips_per_node,
            "nodes_allocated": nodes_allocated,
            "nodes_free": nodes_free,
            "free_cidrs": [str(cidr) for cidr in free],
        }
    )
    if problems:
        raise PlanError(problems, planner.conflicts, planner.warnings, partial)

    return {
        **partial,
        "conflicts": planner.conflicts,
        "warnings": planner.warnings,
        "values": {
            "podcidr_controller": {"clusterCIDR": str(cluster), "nodeCIDRMaskSize": mask},
            "flannel": {"podCidr": str(cluster)},
        },
    }


def _parse_nodes(planner: _Planner, existing: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Parse existing_node_cidrs into (node, network) pairs, skipping nodes without one."""
    if existing is None:
        return []
    if not isinstance(existing, Mapping):
        planner.problems.append(
            f"existing_node_cidrs {existing!r} is not a mapping; give node name: podCIDR pairs"
        )
        return []
    nodes = []
    for name, value in existing.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # the node has no podCIDR yet: podcidr-controller will give it one
        network = planner.parse_node_podcidr(value, str(name))
        if network is not None:
            nodes.append((str(name), network))
    return nodes


def _check_cluster_ranges(planner: _Planner, cluster: Any) -> None:
    """Fail on overlaps with reserved ranges; warn on Docker's bridge and public space."""
    for reserved, shared in planner.overlapping_reserved(cluster):
        planner.conflicts.append(
            {
                "cidr": str(cluster),
                "source": "cluster_cidr",
                "with": reserved.label,
                "overlap": shared,
            }
        )
        planner.problems.append(
            f"cluster_cidr {cluster} overlaps {reserved.label} (shared: {', '.join(shared)}); "
            f"choose a range outside {reserved.outside}{planner.suggestion(cluster.prefixlen)}"
        )

    docker = _shared(cluster, netaddr.IPNetwork(DOCKER_BRIDGE_CIDR))
    if docker:
        planner.warnings.append(
            f"cluster_cidr {cluster} overlaps {DOCKER_BRIDGE_CIDR}, the default Docker bridge "
            f"(docker0) on many machines (shared: {', '.join(docker)}); a registered node "
            "running Docker would send those Pod addresses to docker0; move Docker's bridge "
            f"(bip) off it or choose another range{planner.suggestion(cluster.prefixlen)}"
        )

    if not netaddr.IPSet([cluster]).issubset(netaddr.IPSet(PRIVATE_RANGES)):
        planner.warnings.append(
            f"cluster_cidr {cluster} is not inside private address space (RFC 1918 "
            "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, or the RFC 6598 shared range "
            "100.64.0.0/10, which this plan counts as private); Pods could not reach "
            "public hosts with those addresses; prefer a private range"
            f"{planner.suggestion(cluster.prefixlen)}"
        )


def _check_nodes(
    planner: _Planner, cluster: Any, mask: int | None, nodes: list[tuple[str, Any]]
) -> tuple[list[dict[str, str]], list[Any]]:
    """Check nodes' existing podCIDRs; return blocks in use and the distinct networks.

    Grouping by network (a dict) finds shared blocks, and one sweep over the
    networks sorted by address finds nested ones (CIDRs either nest or are
    disjoint), so thousands of nodes cost O(n log n), not a pairwise O(n²).
    """
    owners: dict[Any, list[str]] = {}
    for name, network in nodes:
        owners.setdefault(network, []).append(name)
        if not (cluster.first <= network.first and network.last <= cluster.last):
            planner.problems.append(
                f"existing_node_cidrs: node {name} has podCIDR {network}, outside cluster_cidr "
                f"{cluster}; Flannel fails on that node and podcidr-controller never rewrites a "
                "podCIDR, so choose a cluster_cidr that contains it, or delete the node and "
                "register it again"
            )
        elif mask is not None and network.prefixlen != mask:
            planner.problems.append(
                f"existing_node_cidrs: node {name} has podCIDR {network}, a /{network.prefixlen}, "
                f"but node_cidr_mask_size is {mask}; podcidr-controller does not count a block of "
                "another size as used and may hand an overlapping block to another node, so set "
                f"node_cidr_mask_size to {network.prefixlen} or delete the node and register it "
                "again"
            )

    ordered = sorted(owners, key=lambda net: (net.first, net.prefixlen))
    for network in ordered:
        names = sorted(owners[network])
        if len(names) > 1:
            planner.conflicts.append(
                {
                    "cidr": str(network),
                    "source": f"existing_node_cidrs node {names[0]}",
                    "with": f"existing_node_cidrs node {', '.join(names[1:])} {network}",
                    "overlap": [str(network)],
                }
            )
            planner.problems.append(
                f"existing_node_cidrs: nodes {', '.join(names)} share podCIDR {network}; their "
                "Pods would get clashing addresses, so delete all but one of these nodes and "
                "register them again"
            )

    enclosing: list[Any] = []
    for network in ordered:
        while enclosing and enclosing[-1].last < network.first:
            enclosing.pop()
        for outer in enclosing:  # at most 32 deep: CIDRs nest
            outer_names = ", ".join(sorted(owners[outer]))
            inner_names = ", ".join(sorted(owners[network]))
            planner.conflicts.append(
                {
                    "cidr": str(outer),
                    "source": f"existing_node_cidrs node {outer_names}",
                    "with": f"existing_node_cidrs node {inner_names} {network}",
                    "overlap": [str(network)],
                }
            )
            planner.problems.append(
                f"existing_node_cidrs: podCIDR {outer} of node {outer_names} overlaps podCIDR "
                f"{network} of node {inner_names} (shared: {network}); delete one of them and "
                "register it again"
            )
        enclosing.append(network)

    blocks = [
        {"node": name, "cidr": str(network)}
        for network, name in sorted(
            ((network, name) for name, network in nodes),
            key=lambda pair: (pair[0].first, pair[0].prefixlen, pair[1]),
        )
    ]
    return blocks, ordered


def _judge_widened(planner: _Planner, widened: Any, has_nodes: bool) -> str:
    """Say whether a widened cluster CIDR is still clear of reserved and public space.

    Widening keeps the existing node blocks inside, but it may reach into a
    range the narrower CIDR avoided; then a free block of that size is proposed.
    """
    clashes = planner.overlapping_reserved(widened)
    if clashes:
        labels = ", ".join(reserved.label for reserved, _overlap in clashes)
        text = f"but it overlaps {labels}, so take another /{widened.prefixlen}"
        text += planner.suggestion(widened.prefixlen)
        if has_nodes:
            text += ", though nodes that have a podCIDR would then lie outside it"
        return text
    if not netaddr.IPSet([widened]).issubset(netaddr.IPSet(PRIVATE_RANGES)):
        return "it overlaps no reserved range but reaches outside private address space"
    return "it overlaps no reserved range"


def _fits_pods(mask: int, max_pods_per_node: int | None) -> str:
    wanted = max_pods_per_node if max_pods_per_node is not None else KUBELET_DEFAULT_MAX_PODS
    if pod_ips_per_node(mask) >= wanted:
        return ""
    source = "max_pods_per_node" if max_pods_per_node is not None else "kubelet's default max-pods"
    return f", fewer than {source} {wanted}"


def _check_node_count(
    planner: _Planner,
    cluster: Any,
    mask: int,
    node_count: int | None,
    max_pods_per_node: int | None,
    nodes_allocated: int,
    has_nodes: bool,
) -> None:
    """Fail when node_count doesn't fit, proposing both fixes; warn when little room is left."""
    max_nodes = node_capacity(cluster.prefixlen, mask)
    if node_count is not None and node_count > max_nodes:
        bits = _bits_for(node_count)
        fixes, impossible = [], []
        wider = mask - bits
        if wider >= 1:
            widened = netaddr.IPNetwork(f"{cluster.network}/{wider}").cidr
            fixes.append(
                f"widen cluster_cidr to {widened} ({node_capacity(wider, mask)} nodes of "
                f"{pod_ips_per_node(mask)} Pod addresses; "
                f"{_judge_widened(planner, widened, has_nodes)})"
            )
        else:
            impossible.append(f"no IPv4 cluster_cidr holds {node_count} nodes of /{mask}")
        longer = cluster.prefixlen + bits
        if longer <= LONGEST_NODE_MASK:
            fixes.append(
                f"set node_cidr_mask_size to {longer} ({node_capacity(cluster.prefixlen, longer)} "
                f"nodes of {pod_ips_per_node(longer)} Pod addresses"
                f"{_fits_pods(longer, max_pods_per_node)})"
            )
        else:
            impossible.append(f"no node mask up to /{LONGEST_NODE_MASK} fits them in {cluster}")
        if not fixes:
            advice = " and ".join(impossible) + "; split the nodes across clusters"
        else:
            advice = ("either " if len(fixes) > 1 else "") + ", or ".join(fixes)
            advice += "".join(f"; {note}" for note in impossible)
        planner.problems.append(
            f"node_count {node_count} exceeds the {max_nodes} nodes that cluster_cidr {cluster} "
            f"holds with node_cidr_mask_size {mask}; {advice}"
        )
        return

    if node_count is not None and node_count < nodes_allocated:
        planner.warnings.append(
            f"node_count {node_count} is below the {nodes_allocated} node blocks already "
            f"allocated; planning for {nodes_allocated}"
        )
    expected = max(node_count or 0, nodes_allocated)
    left = max_nodes - expected
    if expected and left * 4 < max_nodes:
        planner.warnings.append(
            f"only {left} of {max_nodes} node blocks of cluster_cidr {cluster} would stay free "
            f"at {expected} nodes (less than a quarter); when it runs out podcidr-controller "
            "retries forever with 'CIDR range exhausted', so leave room to grow: "
            f"{_growth_fix(planner, cluster, mask, has_nodes)}"
        )


def _growth_fix(planner: _Planner, cluster: Any, mask: int, has_nodes: bool) -> str:
    """Doubling the node blocks leaves at least half free: propose the ways to do it."""
    fixes = []
    if cluster.prefixlen > 1:
        widened = netaddr.IPNetwork(f"{cluster.network}/{cluster.prefixlen - 1}").cidr
        fixes.append(
            f"widen cluster_cidr to {widened} ({_judge_widened(planner, widened, has_nodes)})"
        )
    if mask < LONGEST_NODE_MASK:
        fixes.append(
            f"set node_cidr_mask_size to {mask + 1} ({pod_ips_per_node(mask + 1)} Pod addresses "
            "per node)"
        )
    return " or ".join(fixes) or "split the cluster"


def _check_max_pods(
    planner: _Planner, cluster: Any, mask: int, max_pods_per_node: int | None
) -> None:
    """Fail when kubelet may start more Pods than a block has addresses; warn on the default."""
    ips = pod_ips_per_node(mask)
    if max_pods_per_node is None:
        if ips < KUBELET_DEFAULT_MAX_PODS:
            planner.warnings.append(
                f"a /{mask} node block gives {ips} Pod addresses but kubelet's default max-pods "
                f"is {KUBELET_DEFAULT_MAX_PODS}; Pods beyond {ips} on a node would fail to get "
                f"an address, so set kubelet --max-pods to {ips} or less (and max_pods_per_node "
                f"to match), or use node_cidr_mask_size "
                f"{32 - _bits_for(KUBELET_DEFAULT_MAX_PODS + ADDRESSES_NOT_FOR_PODS)}"
            )
        return
    if max_pods_per_node <= ips:
        return
    needed = 32 - _bits_for(max_pods_per_node + ADDRESSES_NOT_FOR_PODS)
    if needed > cluster.prefixlen:
        fix = (
            f"use node_cidr_mask_size {needed} ({pod_ips_per_node(needed)} Pod addresses, "
            f"{node_capacity(cluster.prefixlen, needed)} nodes in {cluster})"
        )
    else:
        fix = f"use node_cidr_mask_size {needed} with a cluster_cidr wider than /{needed}"
    planner.problems.append(
        f"max_pods_per_node {max_pods_per_node} exceeds the {ips} Pod addresses of a /{mask} "
        f"node block (network, broadcast and the cni0 gateway take 3); {fix}, or set "
        f"max_pods_per_node to {ips} or less"
    )
