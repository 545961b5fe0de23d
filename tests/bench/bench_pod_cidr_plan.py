"""Benchmark the Pod CIDR planner as the number of existing nodes grows.

Plans a 10.0.0.0/8 cluster of /24 node blocks with 50 reserved ranges and
50, 500 and 5,000 nodes that already have a podCIDR (other sizes with
``--sizes``), and prints, per size, the median time of a few runs, the peak
memory traced by tracemalloc, and how both grew from the previous size. With
linear planning the growth ratios stay near the ratio of node counts (10).

This is a benchmark, not a test: nothing is asserted.

    python3 tests/bench/bench_pod_cidr_plan.py [--runs 5] [--sizes 50 500 5000]
"""

from __future__ import annotations

import argparse
import atexit
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _import_planner():
    """Import the planner through a temporary ansible_collections/tke/flannel link."""
    root = Path(tempfile.mkdtemp(prefix="tke-flannel-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "ansible_collections" / "tke").mkdir(parents=True)
    (root / "ansible_collections" / "tke" / "flannel").symlink_to(REPO_ROOT)
    sys.path.insert(0, str(root))
    from ansible_collections.tke.flannel.plugins.module_utils import pod_cidr_plan

    return pod_cidr_plan


CLUSTER_CIDR = "10.0.0.0/8"
NODE_CIDR_MASK_SIZE = 24


def reserved_ranges(count: int = 50) -> dict[str, list[str] | str]:
    """count ranges outside the cluster CIDR: VPC subnets, a Service CIDR, on-prem ranges."""
    vpc = [f"172.16.{i}.0/24" for i in range(count // 2)]
    extra = [f"192.168.{i}.0/24" for i in range(count - len(vpc) - 1)]
    return {"vpc_cidrs": vpc, "service_cidr": "172.31.0.0/16", "extra_reserved_cidrs": extra}


def existing_nodes(count: int, seed: int = 20240601) -> dict[str, str]:
    """count nodes with distinct /24 podCIDRs scattered over the cluster CIDR."""
    rng = random.Random(seed)
    blocks = rng.sample(range(2 ** (NODE_CIDR_MASK_SIZE - 8)), count)
    return {f"idc-node-{i:05d}": f"10.{b >> 8}.{b & 255}.0/24" for i, b in enumerate(blocks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    args = parser.parse_args()

    planner = _import_planner()
    reserved = reserved_ranges()
    reserved_count = len(reserved["vpc_cidrs"]) + 1 + len(reserved["extra_reserved_cidrs"])

    rows = []
    for size in args.sizes:
        nodes = existing_nodes(size)

        def run(nodes: dict[str, str] = nodes, size: int = size) -> dict:
            return planner.plan_pod_cidr(
                CLUSTER_CIDR,
                NODE_CIDR_MASK_SIZE,
                node_count=size,
                max_pods_per_node=110,
                existing_node_cidrs=nodes,
                **reserved,
            )

        result = run()  # warm-up, and a check that the plan is what it should be
        if result["nodes_allocated"] != size:
            raise SystemExit(f"unexpected plan for {size} nodes: {result['nodes_allocated']}")
        timings = []
        for _run in range(args.runs):
            start = time.perf_counter()
            run()
            timings.append(time.perf_counter() - start)
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((size, statistics.median(timings), peak))

    print(
        f"cluster {CLUSTER_CIDR}, node mask /{NODE_CIDR_MASK_SIZE}, {reserved_count} reserved "
        f"ranges, median of {args.runs} runs, Python {sys.version.split()[0]}"
    )
    header = ("nodes", "median ms", "peak MiB", "nodes x", "time x", "memory x")
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    previous = None
    for size, seconds, peak in rows:
        if previous is None:
            ratios = ("-", "-", "-")
        else:
            ratios = (
                f"{size / previous[0]:.0f}",
                f"{seconds / previous[1]:.1f}",
                f"{peak / previous[2]:.1f}",
            )
        print(
            f"| {size} | {seconds * 1000:.1f} | {peak / 2**20:.2f} | " + " | ".join(ratios) + " |"
        )
        previous = (size, seconds, peak)


if __name__ == "__main__":
    main()
