"""Drive the lab and the playbooks from the integration tests.

Everything here runs the real things: tests/lab/lab.sh for the lab,
ansible-playbook for the collection, the API server's audit log to see which
requests the collection's own client certificate made.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
LAB_SH = REPO / "tests" / "lab" / "lab.sh"
NODES_SH = REPO / "tests" / "lab" / "nodes.sh"
STATE = Path(os.environ.get("TKE_FLANNEL_LAB_STATE", REPO / "tests" / "lab" / ".state"))
COLLECTION_USER = "tke-flannel"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


@dataclass
class Run:
    """One ansible-playbook run: its exit code, output and PLAY RECAP."""

    rc: int
    out: str
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The output with whitespace folded and YAML's doubled quotes undone, for
        phrases the yaml callback wrapped across lines."""
        return " ".join(self.out.split()).replace("''", "'")

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change, in order, once each."""
        names, current = [], None
        for line in self.out.splitlines():
            m = re.match(r"^TASK \[(.+?)\] \*+", line)
            if m:
                current = m.group(1)
            elif line.startswith("changed:") and current and current not in names:
                names.append(current)
        return names


def lab(*args: str, env: dict[str, str] | None = None) -> None:
    """Run tests/lab/lab.sh with the given subcommand, failing loudly."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        ["bash", str(LAB_SH), *args], env=full_env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"lab.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def fresh_lab(**options: str) -> None:
    """Take the lab down and bring it up again with the given LAB_* options."""
    lab("down")
    lab("up", env=options)


def playbook(name: str, *args: str, extra_vars: dict | None = None) -> Run:
    """ansible-playbook playbooks/NAME from the repository, as a user runs it."""
    cmd = ["ansible-playbook", str(REPO / "playbooks" / name), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(out)
    }
    return Run(proc.returncode, out, recap)


class Audit:
    """The API server's audit log, read from a mark onwards."""

    def __init__(self) -> None:
        self.path = STATE / "audit.log"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def events(self) -> list[dict]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return [json.loads(line) for line in f if line.strip()]

    def writes(self, user: str = COLLECTION_USER) -> list[str]:
        """Write requests by USER since the mark, dry runs aside, as 'verb resource/name'."""
        out = []
        for e in self.events():
            if e["user"]["username"] != user or e["verb"] not in WRITE_VERBS:
                continue
            if "dryRun=All" in e.get("requestURI", ""):
                continue
            ref = e.get("objectRef") or {}
            out.append(f"{e['verb']} {ref.get('resource')}/{ref.get('name', '')}")
        return out


def api() -> client.ApiClient:
    """A client of the lab's API server with the lab administrator's identity."""
    return config.new_client_from_config(str(STATE / "admin.kubeconfig"))


def lab_env() -> dict[str, str]:
    """The settings lab.sh up wrote for its users."""
    lines = (STATE / "lab.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def podcidr_controller_available() -> tuple[bool, str]:
    """Whether the lab can run the real podcidr-controller, and if not, why."""
    binary = lab_env().get("LAB_PODCIDR_CONTROLLER_BIN", "")
    if binary and Path(binary).is_file():
        return True, ""
    return False, (
        f"no podcidr-controller binary at {binary!r}: the Go module proxy does not serve "
        "github.com/imroc/podcidr-controller; set LAB_PODCIDR_CONTROLLER_BIN to a binary "
        "of v1.1.0 to run the allocation checks"
    )


# --- the registered-node containers (tests/lab/nodes.sh) ---------------------------


def nodes_sh(*args: str, env: dict[str, str] | None = None) -> str:
    """Run tests/lab/nodes.sh, failing loudly."""
    proc = subprocess.run(
        ["bash", str(NODES_SH), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nodes.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def on_node(i: int, command: str) -> subprocess.CompletedProcess:
    """Run a shell command inside node container i."""
    return subprocess.run(
        ["podman", "exec", f"tke-lab-node-{i}", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )


def exists_on_node(i: int, path: str) -> bool:
    return on_node(i, f"test -e {path}").returncode == 0


PODS_SH = REPO / "tests" / "lab" / "pods.sh"


def pods_sh(*args: str) -> subprocess.CompletedProcess:
    """Run tests/lab/pods.sh (a Pod's network namespace through the node's CNI chain)."""
    return subprocess.run(
        ["bash", str(PODS_SH), *args], capture_output=True, text=True, check=False
    )


def allocate_as_podcidr_controller_would(cidrs: dict[str, str]) -> None:
    """Give each named Node its podCIDR and drop TKE's ENI taint, as podcidr-controller
    would, with tests/lab/podcidrs.py (the real binary is not served; see there)."""
    pairs = [f"{node}={cidr}" for node, cidr in cidrs.items()]
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "lab" / "podcidrs.py"), *pairs],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"podcidrs.py failed:\n{proc.stdout}\n{proc.stderr}")


def wait_until(what: str, check, timeout: float = 90, every: float = 1):
    """Call CHECK until it returns a true value and return that; fail naming WHAT."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)
