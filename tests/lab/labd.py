"""The lab's host-side daemon: what a managed TKE cluster runs outside the nodes.

- The ENI-IP admission backend behind the MutatingWebhookConfiguration
  ``add-pod-eni-ip-limit-webhook``: it adds ``tke.cloud.tencent.com/eni-ip: 1``
  to the requests and limits of the first container of every new Pod that is
  not hostNetwork, as TKE's webhook does. With ``--webhook-tied-to-ipamd 1``
  it answers only while Deployment ``kube-system/tke-eni-ipamd`` has
  replicas, as where that backend runs inside the cluster.
- The chart repository the lab's charts are served from (loopback only).
- The runner of the real podcidr-controller program: while a Pod of the
  Deployment that the podcidr-controller chart created is Running, it runs
  the binary with that Deployment's arguments, under a token of the
  Deployment's ServiceAccount (so the chart's RBAC is what it gets);
  restarts it when the arguments change; stops it when the Pod goes.
- The kubelet of the registered-node containers, for Flannel's DaemonSet
  only: while a Pod of the DaemonSet that the flannel chart created is Running
  on a node that is one of the lab's containers (tests/lab/nodes.sh), it does
  in that container what the Pod's containers would: the init containers'
  copies (the flannel CNI binary into the cni-plugin hostPath, the ConfigMap's
  cni-conf.json to the cni hostPath), then the real flanneld with the Pod's
  command, its environment (POD_NAME, POD_NAMESPACE from the Pod), the
  ConfigMap mounted where the Pod mounts it and a token of the DaemonSet's
  ServiceAccount where a Pod finds it. A flanneld that exits is started again
  after a growing pause, as CrashLoopBackOff does; one whose Pod was replaced
  is restarted (a changed ConfigMap alone restarts nothing, as on a real
  node); one whose Pod went is stopped. Its log is
  /var/log/tke-lab/flanneld.log in the node container.

Standard library only, so it runs before any requirement is installed.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import http.server
import io
import json
import os
import signal
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ENI_IP_RESOURCE = "tke.cloud.tencent.com/eni-ip"
PODCIDR_LABEL = "name=podcidr-controller"
FLANNEL_LABEL = "app=flannel"
NODE_CONTAINER_LABEL = "tke-flannel-lab=node"
NODE_NAME_LABEL = "tke-flannel-lab.node-name"
# Where a Pod finds its ServiceAccount token: /var/run/secrets/..., which is
# /run/secrets/... on the nodes (/var/run links to /run; tar must not replace
# the link with a directory).
SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"


class Api:
    """A minimal client of the lab's API server, authenticated by a client cert."""

    def __init__(self, state: Path, cert_name: str) -> None:
        pki = state / "pki"
        self.base = "https://127.0.0.1:6443"
        self.ca_file = str(pki / "ca.crt")
        self.ctx = ssl.create_default_context(cafile=self.ca_file)
        self.ctx.load_cert_chain(str(pki / f"{cert_name}.crt"), str(pki / f"{cert_name}.key"))

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def get(self, path: str) -> dict | None:
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def token(self, namespace: str, sa: str) -> str:
        """A day's token of ServiceAccount namespace/sa (TokenRequest)."""
        req = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        req["spec"] = {"expirationSeconds": 86400}
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token"
        return self.call("POST", path, req)["status"]["token"]


# --- ENI-IP webhook -----------------------------------------------------------


def eni_ip_patch(pod: dict) -> list[dict]:
    """JSON patch adding the ENI-IP resource to the first container, or []."""
    spec = pod.get("spec", {})
    if spec.get("hostNetwork") or not spec.get("containers"):
        return []
    resources = spec["containers"][0].get("resources") or {}
    base = "/spec/containers/0/resources"
    if not resources:
        value = {"requests": {ENI_IP_RESOURCE: "1"}, "limits": {ENI_IP_RESOURCE: "1"}}
        return [{"op": "add", "path": base, "value": value}]
    patch = []
    key = ENI_IP_RESOURCE.replace("~", "~0").replace("/", "~1")
    for part in ("requests", "limits"):
        if part not in resources:
            patch.append({"op": "add", "path": f"{base}/{part}", "value": {ENI_IP_RESOURCE: "1"}})
        else:
            patch.append({"op": "add", "path": f"{base}/{part}/{key}", "value": "1"})
    return patch


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    api: Api
    tied_to_ipamd: bool

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write("webhook: " + (fmt % args) + "\n")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            self._reply(200, b"ok", "text/plain")
        else:
            self._reply(404, b"not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        if self.tied_to_ipamd and not self._ipamd_serving():
            # As when the backend's Pods are gone: the API server gets no answer
            # it can use, and failurePolicy Fail rejects the Pod.
            self._reply(503, b"tke-eni-ipamd has no replicas", "text/plain")
            return
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length))
        request = review.get("request", {})
        patch = eni_ip_patch(request.get("object") or {})
        response: dict = {"uid": request.get("uid", ""), "allowed": True}
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
        body["response"] = response
        self._reply(200, json.dumps(body).encode(), "application/json")

    def _ipamd_serving(self) -> bool:
        try:
            dep = self.api.get("/apis/apps/v1/namespaces/kube-system/deployments/tke-eni-ipamd")
        except (urllib.error.URLError, OSError):
            return False
        return bool(dep) and int(dep.get("spec", {}).get("replicas") or 0) > 0

    def _reply(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_webhook(state: Path, port: int, api: Api, tied: bool) -> http.server.HTTPServer:
    handler = type("Handler", (WebhookHandler,), {"api": api, "tied_to_ipamd": tied})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(state / "pki/webhook.crt"), str(state / "pki/webhook.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_charts(port: int, directory: Path) -> http.server.HTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- podcidr-controller runner ------------------------------------------------


class PodCidrRunner:
    """Runs the real podcidr-controller while its Deployment has a Running Pod."""

    def __init__(self, state: Path, api: Api, binary: Path) -> None:
        self.state = state
        self.api = api
        self.binary = binary
        self.proc: subprocess.Popen | None = None
        self.args: list[str] = []
        self.status = "no podcidr-controller Deployment yet"

    def desired(self) -> tuple[list[str], str, str] | None:
        """(args, namespace, serviceaccount) while a Pod of the Deployment runs."""
        deps = self.api.get(f"/apis/apps/v1/deployments?labelSelector={PODCIDR_LABEL}") or {}
        for dep in deps.get("items", []):
            ns = dep["metadata"]["namespace"]
            labels = dep["spec"]["selector"].get("matchLabels", {})
            sel = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            pods = self.api.get(f"/api/v1/namespaces/{ns}/pods?labelSelector={sel}") or {}
            running = [
                p
                for p in pods.get("items", [])
                if p.get("status", {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")
            ]
            if not running:
                self.status = f"Deployment {ns}/{dep['metadata']['name']}: no Running Pod"
                continue
            pod_spec = dep["spec"]["template"]["spec"]
            container = pod_spec["containers"][0]
            return (
                list(container.get("args") or []),
                ns,
                pod_spec.get("serviceAccountName", "default"),
            )
        return None

    def kubeconfig_for(self, namespace: str, sa: str) -> Path:
        tok = self.api.token(namespace, sa)
        path = self.state / "podcidr-controller.kubeconfig"
        ca = self.state / "pki/ca.crt"
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: lab\n  cluster:\n    certificate-authority: {ca}\n"
            "    server: https://127.0.0.1:6443\n"
            f"users:\n- name: {sa}\n  user:\n    token: {tok}\n"
            f"contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {sa}\n"
            "current-context: lab\n"
        )
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        self.args = []

    def step(self) -> None:
        want = self.desired()
        if want is None:
            if self.proc:
                self.stop()
                self.status = "stopped: no Running podcidr-controller Pod"
            return
        args, ns, sa = want
        if not self.binary.is_file():
            self.status = (
                f"a podcidr-controller Pod is Running but the lab has no binary at {self.binary}"
                " (the Go module proxy does not serve github.com/imroc/podcidr-controller);"
                " set LAB_PODCIDR_CONTROLLER_BIN and restart the lab"
            )
            return
        if self.proc and self.proc.poll() is None and args == self.args:
            return
        self.stop()
        env = dict(os.environ, POD_NAMESPACE=ns, KUBECONFIG=str(self.kubeconfig_for(ns, sa)))
        log = open(self.state / "logs/podcidr-controller.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([str(self.binary), *args], env=env, stdout=log, stderr=log)
        self.args = args
        self.status = f"running pid {self.proc.pid}: {' '.join(args)}"


# --- flanneld in the node containers -------------------------------------------


def podman(*args: str, stdin: bytes | None = None, timeout: int = 60) -> str:
    """Run podman; its stdout, or CalledProcessError naming its stderr."""
    proc = subprocess.run(
        ["podman", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(
            proc.returncode, ["podman", *args[:2]], proc.stdout, proc.stderr
        )
    return proc.stdout.decode()


def lab_node_containers() -> dict[str, str]:
    """{Node name: container name} of the lab's node containers that run."""
    out = podman(
        "ps",
        "--filter",
        f"label={NODE_CONTAINER_LABEL}",
        "--format",
        f'{{{{.Names}}}} {{{{index .Labels "{NODE_NAME_LABEL}"}}}}',
    )
    pairs = (line.split() for line in out.splitlines())
    return {p[1]: p[0] for p in pairs if len(p) == 2}


def resolve_env(container: dict, pod: dict) -> dict[str, str]:
    """A container's env with the fieldRefs a Pod of the chart uses resolved."""
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
    }
    env = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref in fields:
            env[item["name"]] = fields[ref]
    return env


class FlannelPod:
    """What one Flannel Pod asks of its node, read from the Pod and its ConfigMap."""

    def __init__(self, pod: dict, configmaps: dict[str, dict]) -> None:
        spec = pod["spec"]
        self.node = spec["nodeName"]
        self.namespace = pod["metadata"]["namespace"]
        self.service_account = spec.get("serviceAccountName", "default")
        host_paths = {
            v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v
        }
        cm_volumes = {
            v["name"]: v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v
        }
        main = next(c for c in spec["containers"] if c["name"] == "kube-flannel")
        self.command = list(main.get("command") or []) + list(main.get("args") or [])
        self.env = resolve_env(main, pod)
        # Files the Pod sees: the ConfigMap keys under their mount path.
        self.files: dict[str, str] = {}
        for mount in main.get("volumeMounts", []):
            cm = configmaps.get(cm_volumes.get(mount["name"], ""))
            for key, value in ((cm or {}).get("data") or {}).items():
                self.files[os.path.join(mount["mountPath"], key)] = value
        # The init containers' copies, mapped to the node's paths.
        self.copies: list[tuple[str, str]] = []
        for init in spec.get("initContainers", []):
            mounts = {
                m["mountPath"].rstrip("/"): host_paths.get(m["name"])
                for m in init.get("volumeMounts", [])
            }
            paths = [a for a in init.get("args", []) if a.startswith("/")]
            if len(paths) != 2:
                continue
            src, dst = paths
            dst_dir, dst_name = os.path.split(dst)
            node_dir = mounts.get(dst_dir)
            if node_dir:
                self.copies.append((src, os.path.join(node_dir, dst_name)))
        # A kubelet starts a Pod's containers again only for a new Pod (or when
        # one exits); a ConfigMap that changed under a running Pod is read at
        # its next start. So flanneld is restarted for a new Pod only.
        self.spec_hash = hashlib.sha256(
            json.dumps([pod["metadata"]["uid"], self.command, self.env]).encode()
        ).hexdigest()[:16]


class FlannelRunner:
    """Runs the real flanneld in each lab node container with a Running Flannel Pod."""

    STATE = "/run/tke-lab/flanneld"

    def __init__(self, api: Api, flanneld: Path, cni_flannel: Path, apiserver: str) -> None:
        self.api = api
        self.flanneld = flanneld
        self.cni_flannel = cni_flannel
        self.host, self.port = apiserver.rsplit(":", 1)
        self.status: dict[str, str] = {}
        self.backoff: dict[str, tuple[float, float]] = {}  # container: (next try, pause)

    def wanted(self) -> dict[str, FlannelPod]:
        """{Node name: FlannelPod} for every Running Pod of a flannel DaemonSet."""
        out: dict[str, FlannelPod] = {}
        dsets = self.api.get(f"/apis/apps/v1/daemonsets?labelSelector={FLANNEL_LABEL}") or {}
        for ds in dsets.get("items", []):
            ns = ds["metadata"]["namespace"]
            cms = {
                v["configMap"]["name"]: self.api.get(
                    f"/api/v1/namespaces/{ns}/configmaps/{v['configMap']['name']}"
                )
                for v in ds["spec"]["template"]["spec"].get("volumes", [])
                if "configMap" in v
            }
            pods = self.api.get(f"/api/v1/namespaces/{ns}/pods?labelSelector={FLANNEL_LABEL}")
            for pod in (pods or {}).get("items", []):
                if (
                    pod.get("status", {}).get("phase") == "Running"
                    and not pod["metadata"].get("deletionTimestamp")
                    and pod["spec"].get("nodeName")
                ):
                    out[pod["spec"]["nodeName"]] = FlannelPod(pod, cms)
        return out

    def probe(self, container: str) -> tuple[str, bool]:
        """(spec hash flanneld runs with, whether it runs) in a node container."""
        out = podman(
            "exec",
            container,
            "sh",
            "-c",
            f"h=$(cat {self.STATE}.spec 2>/dev/null); p=$(cat {self.STATE}.pid 2>/dev/null);"
            ' if [ -n "$p" ] && kill -0 "$p" 2>/dev/null;'
            ' then echo "$h yes"; else echo "$h no"; fi',
        ).split()
        return (out[0], out[1] == "yes") if len(out) == 2 else ("", out[-1] == "yes")

    def kill(self, container: str) -> None:
        podman(
            "exec",
            container,
            "sh",
            "-c",
            f'p=$(cat {self.STATE}.pid 2>/dev/null); [ -z "$p" ] || kill "$p" 2>/dev/null;'
            f" rm -f {self.STATE}.pid {self.STATE}.spec; true",
        )

    def start(self, container: str, want: FlannelPod) -> None:
        """Do the Pod's init containers' work, then start flanneld in the container."""
        token = self.api.token(want.namespace, want.service_account)
        ca = (Path(self.api.ca_file)).read_bytes()
        files: dict[str, tuple[bytes, int]] = {
            f"{SA_DIR}/token": (token.encode(), 0o600),
            f"{SA_DIR}/ca.crt": (ca, 0o644),
            f"{SA_DIR}/namespace": (want.namespace.encode(), 0o644),
        }
        for path, text in want.files.items():
            files[path] = (text.encode(), 0o644)
        images = {"/flannel": self.cni_flannel, "/opt/bin/flanneld": self.flanneld}
        for src, dst in want.copies:
            if src in images:  # install-cni-plugin: the CNI binary of the image
                files[dst] = (images[src].read_bytes(), 0o755)
            elif src in want.files:  # install-cni: the ConfigMap's CNI config
                files[dst] = (want.files[src].encode(), 0o644)
        files["/opt/bin/flanneld"] = (self.flanneld.read_bytes(), 0o755)
        env = dict(want.env, KUBERNETES_SERVICE_HOST=self.host, KUBERNETES_SERVICE_PORT=self.port)
        exports = "".join(f"export {k}={shell_quote(v)}; " for k, v in sorted(env.items()))
        script = (
            "#!/bin/sh\n# Written by the lab daemon: the Flannel Pod's main container.\n"
            f"{exports}\n"
            f"echo $$ > {self.STATE}.pid\n"
            f"echo {want.spec_hash} > {self.STATE}.spec\n"
            f'echo "--- $(date -u +%FT%TZ) start (Pod {want.spec_hash})" >&2\n'
            f"exec {' '.join(shell_quote(a) for a in want.command)}\n"
        )
        files[f"{self.STATE}.sh"] = (script.encode(), 0o755)
        podman("cp", "-", f"{container}:/", stdin=tar_of(files), timeout=120)
        podman(
            "exec",
            "--detach",
            container,
            "sh",
            "-c",
            f"mkdir -p /var/log/tke-lab && exec {self.STATE}.sh"
            " >>/var/log/tke-lab/flanneld.log 2>&1",
        )

    def step(self) -> None:
        nodes = lab_node_containers()
        wanted = self.wanted()
        status = {}
        for node, container in sorted(nodes.items()):
            running_hash, alive = self.probe(container)
            want = wanted.get(node)
            if want is None:
                if alive:
                    self.kill(container)
                self.backoff.pop(container, None)
                status[node] = "no Running Flannel Pod" + (": stopped flanneld" if alive else "")
                continue
            if alive and running_hash == want.spec_hash:
                self.backoff.pop(container, None)
                status[node] = f"flanneld runs (Pod {want.spec_hash})"
                continue
            if alive:
                self.kill(container)
                self.backoff.pop(container, None)
            elif running_hash == want.spec_hash:
                # It ran with this spec and exited: wait as CrashLoopBackOff does
                # (doubling from 5 s; capped at 20 s here, 5 min in the kubelet).
                now = time.monotonic()
                next_try, pause = self.backoff.get(container, (0.0, 5.0))
                if now < next_try:
                    status[node] = "flanneld exited; see /var/log/tke-lab/flanneld.log"
                    continue
                self.backoff[container] = (now + pause, min(pause * 2, 20.0))
            self.start(container, want)
            status[node] = f"flanneld started (Pod {want.spec_hash})"
        self.status = status


def shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def tar_of(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar stream of absolute paths (parent directories included) for podman cp."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for path in files:
            parent = os.path.dirname(path)
            while parent not in ("/", "") and parent not in dirs:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs):
            info = tarfile.TarInfo(d.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--kubeconfig", type=Path, required=True)
    ap.add_argument("--webhook-port", type=int, required=True)
    ap.add_argument("--webhook-tied-to-ipamd", type=int, default=0)
    ap.add_argument("--chart-repo-port", type=int, required=True)
    ap.add_argument("--chart-repo-dir", type=Path, required=True)
    ap.add_argument("--podcidr-controller-bin", type=Path, required=True)
    ap.add_argument("--flanneld-bin", type=Path, required=True)
    ap.add_argument("--cni-flannel-bin", type=Path, required=True)
    ap.add_argument("--node-apiserver", required=True, help="host:port nodes reach the API at")
    opts = ap.parse_args()

    api = Api(opts.state, "labd")
    serve_webhook(opts.state, opts.webhook_port, api, bool(opts.webhook_tied_to_ipamd))
    serve_charts(opts.chart_repo_port, opts.chart_repo_dir)
    runner = PodCidrRunner(opts.state, api, opts.podcidr_controller_bin)
    flannel = FlannelRunner(api, opts.flanneld_bin, opts.cni_flannel_bin, opts.node_apiserver)

    stopping = threading.Event()

    def _stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status_file = opts.state / "labd.status"
    while not stopping.is_set():
        try:
            runner.step()
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            runner.status = f"runner error: {exc}"
        try:
            flannel.step()
        except (urllib.error.URLError, OSError, KeyError, ValueError, StopIteration) as exc:
            flannel.status = {"*": f"runner error: {exc}"}
        except subprocess.SubprocessError as exc:
            flannel.status = {"*": f"podman: {exc} {getattr(exc, 'stderr', b'')!r}"}
        lines = [f"podcidr-controller runner: {runner.status}"]
        lines += [f"flanneld on {node}: {text}" for node, text in sorted(flannel.status.items())]
        status_file.write_text("\n".join(lines) + "\n")
        stopping.wait(2)
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
