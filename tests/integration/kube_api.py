"""A small Kubernetes API server for tests (no cluster can run here): discovery and
/api/v1/nodes, served from fixtures shaped like a real cluster's answers, behind a bearer
token it checks. Real kubectl talks to it through a kubeconfig the test writes."""
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def node(name, arch, os_="linux", variant=None, labels_arch=True):
    """A Node as `kubectl get nodes -o json` prints one (trimmed to the fields that matter,
    with the labels and nodeInfo a kubelet sets)."""
    labels = {"beta.kubernetes.io/os": os_, "kubernetes.io/hostname": name}
    if labels_arch:
        labels.update({"kubernetes.io/arch": arch, "kubernetes.io/os": os_, "beta.kubernetes.io/arch": arch})
    if variant:
        labels["xbuild.io/arch-variant"] = variant
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "uid": f"uid-{name}",
                     "creationTimestamp": "2026-11-01T10:00:00Z", "resourceVersion": "1234"},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {"nodeInfo": {"architecture": arch, "operatingSystem": os_, "kubeletVersion": "v1.32.4",
                                "containerRuntimeVersion": "containerd://1.7.24", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0-28-" + arch, "machineID": name, "systemUUID": name,
                                "bootID": name, "kubeProxyVersion": "", "operatingSystem": os_}},
    }


def node_list(nodes):
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": nodes}


MIXED = [node("cp-1", "amd64"), node("worker-a1", "arm64"), node("worker-a2", "arm64"),
         node("edge-1", "arm", labels_arch=False)]


def _resources(group_version, *kinds):
    """An APIResourceList for kinds given as (plural, Kind, namespaced)."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
        {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]} for plural, kind, namespaced in kinds]}


# Discovery of the workload groups, so `kubectl create --dry-run=client -f` can map the kinds
# of a manifest (xbuild resolve's output) to resources. /api and /api/v1 are answered above.
WORKLOAD_DISCOVERY = {
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in ("apps", "batch")]},
    "/apis/apps/v1": _resources("apps/v1", ("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True),
                                ("daemonsets", "DaemonSet", True), ("replicasets", "ReplicaSet", True)),
    "/apis/batch/v1": _resources("batch/v1", ("jobs", "Job", True), ("cronjobs", "CronJob", True)),
}
CORE_RESOURCES = [("pods", "Pod", True), ("services", "Service", True), ("configmaps", "ConfigMap", True),
                  ("replicationcontrollers", "ReplicationController", True)]


class KubeApi:
    def __init__(self, nodes, tls_dir, token="t0ken-for-tests"):
        self.nodes, self.token, self.paths = nodes, token, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0]
                api.paths.append(path)
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self.send(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                           "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
                if path == "/version":
                    return self.send(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "platform": "linux/amd64"})
                if path == "/api":
                    return self.send(200, {"kind": "APIVersions", "versions": ["v1"],
                                           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
                if path in WORKLOAD_DISCOVERY:
                    return self.send(200, WORKLOAD_DISCOVERY[path])
                if path == "/api/v1":
                    return self.send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                        {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
                         "verbs": ["get", "list", "watch"], "shortNames": ["no"]}]
                        + _resources("v1", *CORE_RESOURCES)["resources"]})
                if path == "/api/v1/nodes":
                    return self.send(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                           "items": api.nodes})
                self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

        # HTTPS, as every API server serves: kubectl sends a bearer token only over TLS.
        self.dir = Path(tls_dir)
        self.cert, key = self.dir / "apiserver.crt", self.dir / "apiserver.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(self.cert)], check=True, capture_output=True)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kubeconfig(self, path: Path, token=None, port=None, context="mixed-test") -> Path:
        """A kubeconfig whose current context points at this server."""
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "test", "cluster": {"server": f"https://127.0.0.1:{port or self.port}",
                                                   "certificate-authority": str(self.cert)}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "test", "user": "tester"}}],
        }
        path.write_text(json.dumps(cfg))
        return path

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
