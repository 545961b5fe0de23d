"""The node side (nodes.yml, role registered_node) against the lab's node containers.

tests/lab/nodes.sh starts three Debian containers on the lab network, reached
over real SSH, one per br_netfilter case: built into the kernel (as on this
machine), hidden but loadable by a stand-in modprobe, and absent. Each starts
with TKE's 00-multus.conf and 99-loopback.conf. nodes.yml then runs twice with
-vvv, copying, patching and running the lab's stand-in of TKE's registration
script (tests/lab/node/tke-register.sh), which creates the Node node-<ip>.
"""

from __future__ import annotations

import platform
import time

import pytest
from kubernetes import client

from .lab import REPO, STATE, Run, api, exists_on_node, lab, nodes_sh, on_node, playbook

SCRIPT = REPO / "tests" / "lab" / "node" / "tke-register.sh"
TOKEN = "s3cr3t-lab-token-4f1d"
# Node i is at 192.168.250.(10+i); its br_netfilter case, in nodes.sh's order.
BRNF = {1: "builtin", 2: "loadable", 3: "absent"}
NAMES = {i: f"node-192.168.250.{10 + i}" for i in BRNF}
DEST = "/root/tke-registration.sh"
SYSCTL_FILE = "/etc/sysctl.d/90-tke-flannel.conf"
MODULES_FILE = "/etc/modules-load.d/tke-flannel-br_netfilter.conf"
CNI_BACKUP = "/etc/cni/net.d.tke-flannel-backup"


def delete_nodes(core: client.CoreV1Api) -> None:
    for name in NAMES.values():
        try:
            core.delete_node(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def run_nodes_yml() -> Run:
    return playbook(
        "nodes.yml",
        "-vvv",
        "-i",
        str(REPO / "inventories" / "lab"),
        "-i",
        str(STATE / "nodes-inventory.yml"),
        extra_vars={
            "registered_node_registration_script_path": str(SCRIPT),
            "registered_node_registration_script_run": True,
            "registered_node_registration_script_args": ["--token", TOKEN],
        },
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three fresh nodes, nodes.yml run twice; everything removed afterwards."""
    logs = tmp_path_factory.mktemp("nodes-yml")
    lab("up")
    core = client.CoreV1Api(api())
    nodes_sh("down")
    delete_nodes(core)
    nodes_sh("up", str(len(BRNF)), env={"NODE_BRNF": ",".join(BRNF.values()), "NODE_OLD_CNI": "1"})
    try:
        first = run_nodes_yml()
        second = run_nodes_yml()
        (logs / "first.log").write_text(first.out)
        (logs / "second.log").write_text(second.out)
        yield first, second, core
    finally:
        nodes_sh("down")
        delete_nodes(core)


def test_absent_br_netfilter_fails_only_that_host(runs):
    first, _second, _core = runs
    assert first.recap[NAMES[3]]["failed"] == 1, first.out[-3000:]
    assert f"br_netfilter is not available on {NAMES[3]} (kernel {platform.release()})" in first.out
    assert "modprobe: FATAL: Module br_netfilter not found" in first.out
    for i in (1, 2):
        assert first.recap[NAMES[i]]["failed"] == 0, first.out[-3000:]


def test_builtin_br_netfilter_needs_nothing_persisted(runs):
    first, _second, _core = runs
    assert f"br_netfilter is built into kernel {platform.release()} on" in first.out
    assert not exists_on_node(1, MODULES_FILE)


def test_loadable_br_netfilter_is_loaded_and_persisted(runs):
    assert exists_on_node(2, "/proc/sys/net/bridge/bridge-nf-call-iptables")
    assert on_node(2, f"cat {MODULES_FILE}").stdout.splitlines()[-1] == "br_netfilter"


@pytest.mark.parametrize("i", [1, 2])
def test_sysctls_are_set_and_persisted(runs, i):
    persisted = on_node(i, f"cat {SYSCTL_FILE}").stdout.split()
    assert persisted == [
        "net.bridge.bridge-nf-call-iptables=1",
        "net.bridge.bridge-nf-call-ip6tables=1",
        "net.ipv4.ip_forward=1",
    ]
    assert on_node(i, "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"


@pytest.mark.parametrize("i", [1, 2])
def test_multus_conf_moved_aside_and_loopback_kept(runs, i):
    assert not exists_on_node(i, "/etc/cni/net.d/00-multus.conf")
    assert exists_on_node(i, f"{CNI_BACKUP}/00-multus.conf")
    assert exists_on_node(i, "/etc/cni/net.d/99-loopback.conf")


@pytest.mark.parametrize("i", [1, 2])
def test_registration_script_patched_with_backup(runs, i):
    patched = on_node(i, f"cat {DEST}").stdout
    assert "# check_os  # tke.flannel: disabled check_os" in patched
    assert "# check_kernel || exit 1  # tke.flannel: disabled check_kernel" in patched
    assert "  check_swap\n" in patched
    assert on_node(i, f"bash -n {DEST}").returncode == 0
    backups = on_node(i, f"ls {DEST}.*~").stdout.split()
    assert len(backups) == 1
    assert on_node(i, f"cmp {backups[0]} {DEST}.orig").returncode == 0


@pytest.mark.parametrize("i", [1, 2])
def test_registration_creates_the_node(runs, i):
    _first, _second, core = runs
    node = core.read_node(NAMES[i])
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "external"
    assert node.metadata.labels["kubernetes.io/hostname"] == NAMES[i]
    assert [(t.key, t.effect) for t in node.spec.taints or []] == [
        ("tke.cloud.tencent.com/eni-ip-unavailable", "NoSchedule")
    ]
    # kwok takes the Node over once it exists: give its status update a moment.
    for _attempt in range(20):
        addresses = core.read_node(NAMES[i]).status.addresses or []
        internal = [a.address for a in addresses if a.type == "InternalIP"]
        if internal:
            break
        time.sleep(0.5)
    assert internal == [f"192.168.250.{10 + i}"]


def test_failed_node_is_not_registered(runs):
    _first, _second, core = runs
    with pytest.raises(client.ApiException) as exc:
        core.read_node(NAMES[3])
    assert exc.value.status == 404


def test_token_never_printed(runs):
    first, second, _core = runs
    assert "ESTABLISH SSH CONNECTION" in first.out  # the runs are verbose (-vvv)
    assert TOKEN not in first.out
    assert TOKEN not in second.out


def test_second_run_changes_nothing(runs):
    _first, second, _core = runs
    for i in (1, 2):
        assert second.recap[NAMES[i]]["changed"] == 0, second.changed_tasks()
    assert "Run the registration script" not in second.changed_tasks()


def test_summary_names_the_failed_node(runs):
    first, _second, _core = runs
    assert "Prepared 2 of 3 node(s)." in first.text
    assert f"Down or failed: {NAMES[3]}" in first.text
