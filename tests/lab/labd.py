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

Standard library only, so it runs before any requirement is installed.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

ENI_IP_RESOURCE = "tke.cloud.tencent.com/eni-ip"
PODCIDR_LABEL = "name=podcidr-controller"


class Api:
    """A minimal client of the lab's API server, authenticated by a client cert."""

    def __init__(self, state: Path, cert_name: str) -> None:
        pki = state / "pki"
        self.base = "https://127.0.0.1:6443"
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
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
        req = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        req["spec"] = {"expirationSeconds": 86400}
        tok = self.api.call(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token", req
        )["status"]["token"]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--kubeconfig", type=Path, required=True)
    ap.add_argument("--webhook-port", type=int, required=True)
    ap.add_argument("--webhook-tied-to-ipamd", type=int, default=0)
    ap.add_argument("--chart-repo-port", type=int, required=True)
    ap.add_argument("--chart-repo-dir", type=Path, required=True)
    ap.add_argument("--podcidr-controller-bin", type=Path, required=True)
    opts = ap.parse_args()

    api = Api(opts.state, "labd")
    serve_webhook(opts.state, opts.webhook_port, api, bool(opts.webhook_tied_to_ipamd))
    serve_charts(opts.chart_repo_port, opts.chart_repo_dir)
    runner = PodCidrRunner(opts.state, api, opts.podcidr_controller_bin)

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
        status_file.write_text(f"podcidr-controller runner: {runner.status}\n")
        stopping.wait(2)
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
