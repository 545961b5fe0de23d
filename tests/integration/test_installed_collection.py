"""site.yml run from the built and installed collection (FQCN only), as an
operator who installed the tarball runs it, against the lab."""

from __future__ import annotations

import os
import subprocess

from kubernetes import client

from .lab import REPO, api, fresh_lab


def test_site_from_the_installed_collection(tmp_path):
    fresh_lab(LAB_REGISTERED_NODES="0", LAB_SUPER_NODE="1")
    dist = tmp_path / "dist"
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (tarball,) = dist.glob("tke-flannel-*.tar.gz")
    collections = tmp_path / "collections"
    subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force"]
        + ["-p", str(collections), str(tarball)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    # No ansible.cfg of the repository here: only the installed copy exists.
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        ["ansible-playbook", "-i", str(REPO / "inventories" / "lab"), "tke.flannel.site"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    listed = subprocess.run(
        ["ansible-galaxy", "collection", "list", "tke.flannel"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The one tke.flannel Ansible sees is the installed copy.
    assert str(collections / "ansible_collections") in listed
    assert str(REPO) not in listed
    release = client.AppsV1Api(api()).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
    assert release.metadata.labels["app"] == "flannel"
