"""The cluster side (site.yml, cluster.yml) against the lab: a real API server,
controllers, kwok, the lab's ENI-IP webhook and the lab's chart repository.

Tests in a class share one lab, brought up fresh for the class; they run in
the order written (each builds on the state the previous one left).
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from .lab import Audit, api, fresh_lab, playbook, podcidr_controller_available

NS = "kube-system"
ENI_IP = "tke.cloud.tencent.com/eni-ip"
ENI_TAINT = "tke.cloud.tencent.com/eni-ip-unavailable"
STATE_CM = "tke-flannel-vpc-cni-state"
# Short waits: the lab settles in seconds.
FAST = {"tke_flannel_wait_timeout": 30}


def pods_by_app(core: client.CoreV1Api) -> dict[str, dict[str, client.V1Pod]]:
    """kube-system Pods grouped by their k8s-app (or app) label, keyed by name."""
    out: dict[str, dict[str, client.V1Pod]] = {}
    for p in core.list_namespaced_pod(NS).items:
        labels = p.metadata.labels or {}
        app = labels.get("k8s-app") or labels.get("app") or labels.get("name") or "-"
        out.setdefault(app, {})[p.metadata.name] = p
    return out


def eni_request(pod: client.V1Pod) -> str | None:
    return (pod.spec.containers[0].resources.requests or {}).get(ENI_IP)


def resource_versions(c: client.ApiClient) -> dict[str, str]:
    """resourceVersion of every object the collection touches or creates."""
    core, apps = client.CoreV1Api(c), client.AppsV1Api(c)
    adm = client.AdmissionregistrationV1Api(c)
    out = {}
    for ns in (NS, "kube-flannel"):
        for kind, items in (
            ("ConfigMap", core.list_namespaced_config_map(ns).items),
            ("Pod", core.list_namespaced_pod(ns).items),
            ("Deployment", apps.list_namespaced_deployment(ns).items),
            ("DaemonSet", apps.list_namespaced_daemon_set(ns).items),
            ("ReplicaSet", apps.list_namespaced_replica_set(ns).items),
            ("Secret", core.list_namespaced_secret(ns).items),
        ):
            for o in items:
                out[f"{kind}/{ns}/{o.metadata.name}"] = o.metadata.resource_version
    for o in adm.list_mutating_webhook_configuration().items:
        out[f"MutatingWebhookConfiguration/{o.metadata.name}"] = o.metadata.resource_version
    for o in core.list_node().items:
        out[f"Node/{o.metadata.name}"] = o.metadata.resource_version
    for o in core.list_namespace().items:
        out[f"Namespace/{o.metadata.name}"] = o.metadata.resource_version
    return out


def assert_site_outcome(run, expect_nodes: int) -> None:
    """site.yml ends well when podcidr-controller can run; otherwise verify names the nodes."""
    available, why = podcidr_controller_available()
    if available or expect_nodes == 0:
        assert run.rc == 0, run.out[-4000:]
        return
    # Without the real controller nothing allocates podCIDRs: verify must
    # say so, node by node, and everything before it must have been done.
    assert run.rc != 0
    assert f"0 of {expect_nodes} node(s) ready" in run.text, run.out[-3000:]
    assert "has no podCIDR" in run.text
    assert "Stop if a node is not ready for Flannel" in run.text, why


class TestBadInputStopsBeforeAnyChange:
    """Preflight: each bad input fails with the variable, its value and a fix; nothing written."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab()

    def test_missing_kubeconfig(self):
        audit = Audit()
        run = playbook("site.yml", extra_vars={"tke_flannel_kubeconfig": "/nonexistent/kubeconfig"})
        assert run.rc != 0
        assert "tke_flannel_kubeconfig /nonexistent/kubeconfig does not exist" in run.text
        assert "Download the cluster's kubeconfig from the TKE console" in run.text
        assert audit.writes() == []

    def test_unreachable_api_server(self, tmp_path):
        from .lab import STATE

        kubeconfig = tmp_path / "kubeconfig"
        text = (STATE / "tke-flannel.kubeconfig").read_text()
        kubeconfig.write_text(text.replace("https://127.0.0.1:6443", "https://127.0.0.1:1"))
        run = playbook("site.yml", extra_vars={"tke_flannel_kubeconfig": str(kubeconfig)})
        assert run.rc != 0
        assert f"in {kubeconfig} did not answer" in run.text
        assert "Check that API access is opened in the TKE console" in run.text

    def test_missing_helm(self):
        audit = Audit()
        run = playbook("site.yml", extra_vars={"tke_flannel_helm_binary": "/opt/none/helm"})
        assert run.rc != 0
        assert "tke_flannel_helm_binary /opt/none/helm: not found or not runnable" in run.text
        assert audit.writes() == []

    def test_cluster_cidr_overlapping_the_vpc(self):
        audit = Audit()
        run = playbook(
            "site.yml",
            extra_vars={
                "tke_flannel_cluster_cidr": "10.0.0.0/16",
                "tke_flannel_vpc_cidrs": ["10.0.0.0/8"],
            },
        )
        assert run.rc != 0
        assert (
            "tke_flannel_cluster_cidr 10.0.0.0/16 overlaps tke_flannel_vpc_cidrs 10.0.0.0/8"
            in run.text
        )
        assert audit.writes() == []

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (
                {"flannel_chart_version": "v9.9.9"},
                "flannel_chart_repo_url, flannel_chart_ref: helm can't get chart flannel"
                " version v9.9.9",
            ),
            (
                {"flannel_chart_repo_url": "http://127.0.0.1:9/"},
                "helm can't get chart flannel version v0.28.9 from http://127.0.0.1:9/",
            ),
            ({"flannel_vxlan_port": 70000}, "flannel_vxlan_port 70000 is not a UDP port"),
            ({"flannel_mtu": -7}, "flannel_mtu -7 is not a usable MTU"),
            ({"flannel_iface": "eth0 --foo"}, 'flannel_iface "eth0 --foo" is not an interface'),
            ({"flannel_mtu": "abc"}, "flannel_mtu"),
            ({"tke_flannel_context": "nope"}, "tke_flannel_context nope is not a context of"),
        ],
    )
    def test_later_roles_inputs_checked_first(self, extra, message):
        """A bad input of a role late in the run stops it before the first role writes."""
        audit = Audit()
        run = playbook("site.yml", extra_vars=extra)
        assert run.rc != 0
        assert message in run.text
        assert audit.writes() == []

    def test_not_a_kubeconfig(self, tmp_path):
        bogus = tmp_path / "kubeconfig"
        bogus.write_text("just some text\n")
        run = playbook("site.yml", extra_vars={"tke_flannel_kubeconfig": str(bogus)})
        assert run.rc != 0
        assert f"tke_flannel_kubeconfig {bogus} is not usable: it is not a kubeconfig" in run.text

    def test_nothing_changed_in_the_cluster(self):
        c = api()
        hooks = client.AdmissionregistrationV1Api(c).list_mutating_webhook_configuration()
        assert [h.metadata.name for h in hooks.items] == ["add-pod-eni-ip-limit-webhook"]
        names = [
            cm.metadata.name for cm in client.CoreV1Api(c).list_namespaced_config_map(NS).items
        ]
        assert STATE_CM not in names


class TestCheckModeOnAFreshLab:
    """--check --diff writes nothing and lists exactly the changes the real run makes."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab()

    def test_check_mode_writes_nothing_and_predicts_the_run(self):
        audit = Audit()
        check = playbook("site.yml", "--check", "--diff", extra_vars=FAST)
        assert check.rc == 0, check.out[-4000:]
        assert audit.writes() == []
        predicted = check.changed_tasks()
        assert predicted, "check mode must show the changes a fresh cluster needs"
        real = playbook("site.yml", extra_vars=FAST)
        made = real.changed_tasks()
        assert set(predicted) == set(made), f"predicted {predicted}, made {made}"


class TestSiteOnAClusterWithRegisteredNodes:
    """site.yml on a TKE VPC-CNI lab with two registered nodes, then again."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="2")
        core = client.CoreV1Api(api())
        type(self).before = pods_by_app(core)
        type(self).audit = Audit()
        type(self).run = playbook("site.yml", extra_vars=FAST)

    def test_run_ends_as_expected(self):
        assert_site_outcome(self.run, expect_nodes=2)

    def test_nodes_have_pod_cidrs_and_no_eni_taint(self):
        available, why = podcidr_controller_available()
        if not available:
            pytest.skip(why)
        for n in client.CoreV1Api(api()).list_node().items:
            assert n.spec.pod_cidr and n.spec.pod_cidr.startswith("10.244.")
            assert ENI_TAINT not in [t.key for t in n.spec.taints or []]

    def test_webhook_deleted(self):
        hooks = client.AdmissionregistrationV1Api(api()).list_mutating_webhook_configuration()
        assert hooks.items == []

    def test_ipamd_and_scheduler_scaled_to_zero_and_pinned(self):
        apps = client.AppsV1Api(api())
        for name in ("tke-eni-ipamd", "tke-eni-ip-scheduler"):
            d = apps.read_namespaced_deployment(name, NS)
            assert d.spec.replicas == 0
            selector = d.spec.template.spec.node_selector
            assert selector == {"tke-flannel.io/vpc-cni-disabled": "true"}

    def test_eni_agent_pinned(self):
        ds = client.AppsV1Api(api()).read_namespaced_daemon_set("tke-eni-agent", NS)
        assert ds.spec.template.spec.node_selector == {"tke-flannel.io/vpc-cni-disabled": "true"}

    def test_cni_agent_conf_emptied(self):
        cm = client.CoreV1Api(api()).read_namespaced_config_map("tke-cni-agent-conf", NS)
        assert not cm.data

    def test_previous_state_recorded(self):
        cm = client.CoreV1Api(api()).read_namespaced_config_map(STATE_CM, NS)
        recorded = {
            f"{o['kind']}/{o['metadata']['name']}": o for o in json.loads(cm.data["objects.json"])
        }
        assert set(recorded) == {
            "MutatingWebhookConfiguration/add-pod-eni-ip-limit-webhook",
            "Deployment/tke-eni-ipamd",
            "Deployment/tke-eni-ip-scheduler",
            "DaemonSet/tke-eni-agent",
            "ConfigMap/tke-cni-agent-conf",
        }
        assert recorded["Deployment/tke-eni-ipamd"]["spec"]["replicas"] == 2
        assert "00-multus.conf" in recorded["ConfigMap/tke-cni-agent-conf"]["data"]
        assert "resourceVersion" not in recorded["Deployment/tke-eni-ipamd"]["metadata"]

    def test_kube_proxy_and_bare_pod_untouched(self):
        after = pods_by_app(client.CoreV1Api(api()))
        before_uids = {p.metadata.uid for p in self.before["kube-proxy"].values()}
        assert {p.metadata.uid for p in after["kube-proxy"].values()} == before_uids
        bare_before = self.before["debug"]["lab-bare-debug"]
        bare_after = after["debug"]["lab-bare-debug"]
        assert bare_after.metadata.uid == bare_before.metadata.uid
        # It still carries ENI-IP (no controller would recreate it) and is named.
        assert eni_request(bare_after) == "1"
        assert "lab-bare-debug" in self.run.text

    def test_coredns_recreated_without_eni_ip(self):
        before = self.before["coredns"]
        assert all(eni_request(p) == "1" for p in before.values())
        after = pods_by_app(client.CoreV1Api(api()))["coredns"]
        assert len(after) == 2
        assert not {p.metadata.uid for p in after.values()} & {
            p.metadata.uid for p in before.values()
        }
        assert all(eni_request(p) is None for p in after.values())

    def test_releases_follow_the_plan(self):
        c = api()
        dep = client.AppsV1Api(c).read_namespaced_deployment("podcidr-controller", NS)
        args = dep.spec.template.spec.containers[0].args
        assert "--cluster-cidr=10.244.0.0/16" in args
        assert "--node-cidr-mask-size=24" in args
        assert f"--remove-taints={ENI_TAINT}" in args
        assert dep.spec.replicas == 2
        tolerated = {t.key for t in dep.spec.template.spec.tolerations}
        assert tolerated == {
            ENI_TAINT,
            "node-role.kubernetes.io/master",
            "tke.cloud.tencent.com/uninitialized",
            "node.cloudprovider.kubernetes.io/uninitialized",
        }
        cm = client.CoreV1Api(c).read_namespaced_config_map("kube-flannel-cfg", "kube-flannel")
        assert json.loads(cm.data["net-conf.json"])["Network"] == "10.244.0.0/16"
        ns = client.CoreV1Api(c).read_namespace("kube-flannel")
        assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"
        ds = client.AppsV1Api(c).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
        images = {ic.name: ic.image for ic in ds.spec.template.spec.init_containers}
        assert images["install-cni-plugin"].startswith("docker.io/flannel/flannel-cni-plugin:")
        assert ds.spec.template.spec.containers[0].image.startswith("docker.io/flannel/flannel:")

    def test_second_run_changes_nothing(self):
        c = api()
        versions = resource_versions(c)
        audit = Audit()
        run = playbook("site.yml", extra_vars=FAST)
        assert run.changed == 0, run.changed_tasks()
        assert audit.writes() == []
        assert resource_versions(c) == versions


class TestNoSchedulableNodeYet:
    """The guide's order: the cluster side before any registered node joins."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")
        type(self).run = playbook("site.yml", extra_vars=FAST)

    def test_site_completes_and_says_what_waits(self):
        assert self.run.rc == 0, self.run.out[-4000:]
        assert "No node can take podcidr-controller yet" in self.run.text
        assert "start when registered nodes join" in self.run.text

    def test_podcidr_controller_sized_to_one_replica(self):
        dep = client.AppsV1Api(api()).read_namespaced_deployment("podcidr-controller", NS)
        assert dep.spec.replicas == 1
        args = dep.spec.template.spec.containers[0].args
        selector = [a for a in args if a.startswith("--node-selector=")]
        assert selector and '"eklet"' in selector[0]

    def test_super_node_gets_no_pod_cidr(self):
        node = client.CoreV1Api(api()).read_node("eklet-subnet-lab-0")
        assert not node.spec.pod_cidr

    def test_second_run_quiet(self):
        audit = Audit()
        run = playbook("site.yml", extra_vars=FAST)
        assert run.rc == 0 and run.changed == 0, run.changed_tasks()
        assert audit.writes() == []

    def test_older_flannel_chart_gets_its_cni_image_key(self):
        run = playbook("site.yml", extra_vars={**FAST, "flannel_chart_version": "v0.28.2"})
        assert run.rc == 0, run.out[-3000:]
        ds = client.AppsV1Api(api()).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
        images = {ic.name: ic.image for ic in ds.spec.template.spec.init_containers}
        # v0.28.2 reads flannel.image_cni.*; had the new key been sent, the
        # chart's ghcr.io default would show here.
        assert (
            images["install-cni-plugin"] == "docker.io/flannel/flannel-cni-plugin:v1.9.0-flannel1"
        )


class TestOtherClusterCidr:
    """A cluster CIDR other than the charts' default reaches every value."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="2")
        type(self).run = playbook(
            "site.yml",
            extra_vars={
                **FAST,
                "tke_flannel_cluster_cidr": "172.20.0.0/16",
                "tke_flannel_node_cidr_mask_size": 26,
            },
        )

    def test_values_follow_the_cidr(self):
        assert_site_outcome(self.run, expect_nodes=2)
        c = api()
        cm = client.CoreV1Api(c).read_namespaced_config_map("kube-flannel-cfg", "kube-flannel")
        assert json.loads(cm.data["net-conf.json"])["Network"] == "172.20.0.0/16"
        dep = client.AppsV1Api(c).read_namespaced_deployment("podcidr-controller", NS)
        args = dep.spec.template.spec.containers[0].args
        assert "--cluster-cidr=172.20.0.0/16" in args and "--node-cidr-mask-size=26" in args

    def test_nothing_says_10_244(self):
        c = api()
        core, apps = client.CoreV1Api(c), client.AppsV1Api(c)
        objects = [
            core.read_namespaced_config_map("kube-flannel-cfg", "kube-flannel"),
            apps.read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel"),
            apps.read_namespaced_deployment("podcidr-controller", NS),
        ]
        text = json.dumps([c.sanitize_for_serialization(o) for o in objects])
        assert "10.244" not in text

    def test_node_cidrs_follow(self):
        available, why = podcidr_controller_available()
        if not available:
            pytest.skip(why)
        for n in client.CoreV1Api(api()).list_node().items:
            assert n.spec.pod_cidr.startswith("172.20.") and n.spec.pod_cidr.endswith("/26")


class TestStoppedAfterNeutralize:
    """A run stopped right after neutralize, then run again, converges."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")

    def test_converges(self):
        first = playbook("cluster.yml", "--tags", "vpc_cni_neutralize", extra_vars=FAST)
        assert first.rc == 0, first.out[-3000:]
        core = client.CoreV1Api(api())
        recorded = core.read_namespaced_config_map(STATE_CM, NS).data["objects.json"]
        second = playbook("site.yml", extra_vars=FAST)
        assert second.rc == 0, second.out[-3000:]
        # The record is written once: the second run did not overwrite it with
        # the already-neutralized state.
        assert core.read_namespaced_config_map(STATE_CM, NS).data["objects.json"] == recorded
        assert "Install or upgrade flannel" in " ".join(second.changed_tasks())
        third = playbook("site.yml", extra_vars=FAST)
        assert third.changed == 0, third.changed_tasks()


def tke_objects(c: client.ApiClient) -> dict[str, dict]:
    """TKE's VPC-CNI objects as they compare across a rollback (server fields aside)."""
    apps, core = client.AppsV1Api(c), client.CoreV1Api(c)
    adm = client.AdmissionregistrationV1Api(c)
    objs = {
        "ipamd": apps.read_namespaced_deployment("tke-eni-ipamd", NS),
        "scheduler": apps.read_namespaced_deployment("tke-eni-ip-scheduler", NS),
        "agent": apps.read_namespaced_daemon_set("tke-eni-agent", NS),
        "conf": core.read_namespaced_config_map("tke-cni-agent-conf", NS),
        "webhook": adm.read_mutating_webhook_configuration("add-pod-eni-ip-limit-webhook"),
    }
    out = {}
    for key, obj in objs.items():
        d = c.sanitize_for_serialization(obj)
        d.pop("status", None)
        for field in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            d["metadata"].pop(field, None)
        d["metadata"].pop("managedFields", None)
        # The controllers' revision counters move with each rollout.
        annotations = d["metadata"].get("annotations") or {}
        annotations.pop("deployment.kubernetes.io/revision", None)
        annotations.pop("deprecated.daemonset.template.generation", None)
        out[key] = d
    return out


class TestRollback:
    """rollback.yml after site.yml restores TKE's objects exactly, and refuses while Pods
    use Flannel addresses."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="2")
        type(self).seeded = tke_objects(api())
        run = playbook("site.yml", extra_vars=FAST)
        assert "Install or upgrade flannel" in " ".join(run.changed_tasks()), run.out[-3000:]

    def test_refuses_while_pods_use_flannel_addresses(self):
        c = api()
        core, apps = client.CoreV1Api(c), client.AppsV1Api(c)
        # As if podcidr-controller had allocated this node's block: kwok then
        # gives Pods on it addresses from that block, as Flannel would.
        core.patch_node("node-10.0.1.10", {"spec": {"podCIDR": "10.244.7.0/24"}})
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "flannel-user", "namespace": "default"},
            "spec": {
                "nodeName": "node-10.0.1.10",
                "containers": [{"name": "app", "image": "busybox"}],
            },
        }
        core.create_namespaced_pod("default", pod)
        for _attempt in range(30):
            ip = core.read_namespaced_pod("flannel-user", "default").status.pod_ip
            if ip:
                break
            time.sleep(1)
        assert ip and ip.startswith("10.244.7."), ip
        audit = Audit()
        run = playbook("rollback.yml")
        assert run.rc != 0
        assert (
            "1 Pod(s) use addresses of Flannel's network 10.244.0.0/16: default/flannel-user"
            in run.text
        )
        assert "rollback_force=true" in run.text
        assert audit.writes() == []
        assert apps.read_namespaced_deployment("tke-eni-ipamd", NS).spec.replicas == 0
        core.delete_namespaced_pod("flannel-user", "default")

    def test_restores_what_was_seeded(self):
        run = playbook("rollback.yml", extra_vars={"rollback_force": True})
        assert run.rc == 0, run.out[-3000:]
        assert "Node podCIDRs stay" in run.text
        assert tke_objects(api()) == self.seeded

    def test_releases_and_record_removed(self):
        c = api()
        names = [
            cm.metadata.name for cm in client.CoreV1Api(c).list_namespaced_config_map(NS).items
        ]
        assert STATE_CM not in names
        deps = [d.metadata.name for d in client.AppsV1Api(c).list_namespaced_deployment(NS).items]
        assert "podcidr-controller" not in deps
        assert client.AppsV1Api(c).list_namespaced_daemon_set("kube-flannel").items == []

    def test_second_rollback_changes_nothing(self):
        audit = Audit()
        run = playbook("rollback.yml")
        assert run.rc == 0 and run.changed == 0, run.changed_tasks()
        assert "Nothing to do" in run.text
        assert audit.writes() == []


class TestDrift:
    """verify.yml catches TKE's VPC-CNI coming back, as an upgrade may do."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")
        c = api()
        adm = client.AdmissionregistrationV1Api(c)
        hook = c.sanitize_for_serialization(
            adm.read_mutating_webhook_configuration("add-pod-eni-ip-limit-webhook")
        )
        for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
            hook["metadata"].pop(field, None)
        type(self).hook = hook
        run = playbook("site.yml", extra_vars=FAST)
        assert run.rc == 0, run.out[-3000:]

    def test_verify_passes_after_site(self):
        run = playbook("verify.yml", extra_vars=FAST)
        assert run.rc == 0, run.out[-3000:]

    def test_verify_names_the_webhook_back(self):
        client.AdmissionregistrationV1Api(api()).create_mutating_webhook_configuration(self.hook)
        run = playbook("verify.yml", extra_vars=FAST)
        assert run.rc != 0
        assert "The webhook add-pod-eni-ip-limit-webhook is back" in run.text
        assert "no Pod can be created at all" in run.text


class TestOrdinaryNodesAndIpMasqAgent:
    """A cluster with an ordinary (CVM) node and ip-masq-agent: stop unless acknowledged;
    ip-masq-agent pinned on request and restored by rollback."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="0", LAB_ORDINARY_NODE="1", LAB_IP_MASQ_AGENT="1")
        type(self).masq_before = client.AppsV1Api(api()).read_namespaced_daemon_set(
            "ip-masq-agent", NS
        )

    def test_ordinary_node_stops_the_run_before_any_change(self):
        audit = Audit()
        run = playbook("site.yml", extra_vars=FAST)
        assert run.rc != 0
        assert "1 node(s) look like ordinary or native TKE nodes" in run.text
        assert "10.0.2.20" in run.text and "preflight_acknowledge_vpc_cni_nodes=true" in run.text
        assert audit.writes() == []

    def test_acknowledged_with_ip_masq_agent_pinned(self):
        run = playbook(
            "site.yml",
            extra_vars={
                **FAST,
                "preflight_acknowledge_vpc_cni_nodes": True,
                "vpc_cni_neutralize_ip_masq_agent": True,
            },
        )
        assert "ip-masq-agent runs in kube-system" in run.text
        assert "Flannel masquerades Pod traffic leaving the cluster CIDR itself" in run.text
        ds = client.AppsV1Api(api()).read_namespaced_daemon_set("ip-masq-agent", NS)
        assert ds.spec.template.spec.node_selector == {"tke-flannel.io/vpc-cni-disabled": "true"}
        # Acknowledged, the ordinary node is waited for like any other.
        assert_site_outcome(run, expect_nodes=1)

    def test_rollback_restores_ip_masq_agent(self):
        run = playbook("rollback.yml", extra_vars={"rollback_force": True})
        assert run.rc == 0, run.out[-3000:]
        ds = client.AppsV1Api(api()).read_namespaced_daemon_set("ip-masq-agent", NS)
        assert (
            ds.spec.template.spec.node_selector == self.masq_before.spec.template.spec.node_selector
        )


class TestChartSources:
    """Air-gapped operators: charts from a local .tgz and from a chart directory."""

    @pytest.fixture(scope="class", autouse=True)
    def _lab(self):
        fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")

    def test_local_tgz_and_chart_directory(self):
        from .lab import REPO, STATE

        run = playbook(
            "site.yml",
            extra_vars={
                **FAST,
                "podcidr_controller_chart_repo_url": "",
                "podcidr_controller_chart_ref": str(
                    STATE / "charts" / "podcidr-controller-1.1.0.tgz"
                ),
                "flannel_chart_repo_url": "",
                "flannel_chart_ref": str(REPO / "tests" / "lab" / "charts" / "flannel-v0.28.9"),
            },
        )
        assert run.rc == 0, run.out[-3000:]
        c = api()
        dep = client.AppsV1Api(c).read_namespaced_deployment("podcidr-controller", NS)
        assert dep.metadata.labels["helm.sh/chart"] == "podcidr-controller-1.1.0"
        ds = client.AppsV1Api(c).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
        assert ds.spec.template.spec.containers[0].image == "docker.io/flannel/flannel:v0.28.9"

    def test_super_node_gets_no_flannel_pod(self):
        pods = client.CoreV1Api(api()).list_namespaced_pod("kube-flannel").items
        assert pods == [] or all(p.spec.node_name != "eklet-subnet-lab-0" for p in pods)
        ds = client.AppsV1Api(api()).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
        affinity = ds.spec.template.spec.affinity.node_affinity
        terms = affinity.required_during_scheduling_ignored_during_execution
        exprs = [e.to_dict() for t in terms.node_selector_terms for e in t.match_expressions]
        assert {
            "key": "node.kubernetes.io/instance-type",
            "operator": "NotIn",
            "values": ["eklet"],
        } in exprs
