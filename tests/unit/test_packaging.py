"""The collection as operators receive it: a Galaxy tarball, an execution
environment build context, AWX job templates whose surveys set real inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("tke-flannel-*.tar.gz")
    return found


def test_tarball_holds_the_content_and_no_local_state(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for needed in (
        "MANIFEST.json",
        "plugins/modules/pod_cidr_plan.py",
        "plugins/modules/registration_script.py",
        "roles/flannel/tasks/main.yml",
        "playbooks/site.yml",
        "meta/runtime.yml",
    ):
        assert needed in names
    assert not [n for n in names if n.startswith(("build/", "tests/lab/.state", ".hypothesis"))]


def test_offline_install_and_fqcn_content_resolves(tarball, tmp_path):
    dest = tmp_path / "collections"
    subprocess.run(
        [
            "ansible-galaxy",
            "collection",
            "install",
            "--offline",
            "--no-deps",
            "--force",
            "-p",
            str(dest),
            str(tarball),
        ],
        # Away from the repository's ansible.cfg, whose collections_path
        # already holds the checkout as tke.flannel.
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(dest)}
    doc = subprocess.run(
        ["ansible-doc", "tke.flannel.pod_cidr_plan"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "cluster_cidr" in doc.stdout
    syntax = subprocess.run(
        ["ansible-playbook", "--syntax-check", "tke.flannel.site"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


@pytest.mark.skipif(shutil.which("ansible-builder") is None, reason="ansible-builder not installed")
def test_execution_environment_build_context(tarball, tmp_path):
    ee = tmp_path / "ee"
    shutil.copytree(REPO / "extensions" / "ee", ee)
    shutil.copy(tarball, ee)
    subprocess.run(
        ["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context"],
        cwd=ee,
        check=True,
        capture_output=True,
    )
    containerfile = (ee / "context" / "Containerfile").read_text()
    assert "helm plugin install https://github.com/databus23/helm-diff" in containerfile
    assert "/usr/local/bin/kubectl" in containerfile
    assert (ee / "context" / "_build" / "collections" / tarball.name).exists()


def _declared_inputs() -> set[str]:
    names: set[str] = set()
    for spec in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            names |= set(entry.get("options", {}))
    return names


def test_awx_surveys_only_set_declared_role_inputs():
    templates = yaml.safe_load((REPO / "extensions/awx/job_templates.yml").read_text())
    declared = _declared_inputs()
    for template in templates["tke_flannel_awx_job_templates"]:
        assert (REPO / template["playbook"]).exists(), template["playbook"]
        for question in template["survey"]:
            assert question["variable"] in declared, (template["name"], question["variable"])
            assert question["type"] in {"text", "integer", "multiplechoice", "password"}


def test_role_readmes_match_their_argument_specs():
    result = subprocess.run(
        ["python3", str(REPO / "tools" / "role_readmes.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
