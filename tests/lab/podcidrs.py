"""Give lab nodes their podCIDR and drop TKE's ENI taint, as podcidr-controller would.

    python3 tests/lab/podcidrs.py NODE=CIDR [NODE=CIDR ...]

This writes, as the lab administrator, what podcidr-controller writes for a
node that joined: spec.podCIDR(s) and the taint its chart's removeTaints
lists gone. The lab runs the real controller when it has its binary
(LAB_PODCIDR_CONTROLLER_BIN); the Go module proxy does not serve
github.com/imroc/podcidr-controller, so the data-path tests and the overlay
demo use this instead, and say so. A podCIDR, once set, cannot change.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kubernetes import client, config

ENI_TAINT = "tke.cloud.tencent.com/eni-ip-unavailable"
STATE = Path(os.environ.get("TKE_FLANNEL_LAB_STATE", Path(__file__).parent / ".state"))


def allocate(cidrs: dict[str, str]) -> None:
    core = client.CoreV1Api(config.new_client_from_config(str(STATE / "admin.kubeconfig")))
    for name, cidr in cidrs.items():
        try:
            node = core.read_node(name)
        except client.ApiException as exc:
            raise SystemExit(
                f"[lab podcidrs] ERROR: node {name}: {exc.reason} ({exc.status})"
            ) from None
        if node.spec.pod_cidr == cidr:
            print(f"[lab podcidrs] {name}: has podCIDR {cidr} already")
            continue
        if node.spec.pod_cidr:
            raise SystemExit(
                f"[lab podcidrs] ERROR: {name} has podCIDR {node.spec.pod_cidr}; a podCIDR cannot"
                " change (delete the Node and register the machine again)"
            )
        taints = [t for t in node.spec.taints or [] if t.key != ENI_TAINT]
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr], "taints": taints or None}}
        try:
            core.patch_node(name, patch)
        except client.ApiException as exc:
            raise SystemExit(
                f"[lab podcidrs] ERROR: {name} {cidr}: {exc.reason}: {exc.body}"
            ) from None
        print(f"[lab podcidrs] {name}: podCIDR {cidr}, taint {ENI_TAINT} removed")


def main(argv: list[str]) -> int:
    pairs = [a.split("=", 1) for a in argv]
    if not pairs or any(len(p) != 2 or not all(p) for p in pairs):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    allocate(dict(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
