"""A small OCI distribution registry for fault tests, and a token server for docker-registry.

FakeRegistry implements just enough of the distribution API (blobs with HEAD/GET,
monolithic and chunked uploads with Content-Range and status GETs, cross-repo mount,
manifests and indexes with child checks, optional Basic auth) to push real images to, and
injects the faults docker-registry cannot produce on demand: a 5xx in the middle of an
upload, a dropped connection, a wrong Docker-Content-Digest, 202 on POST ?digest=, 416 on a
chunk, MANIFEST_INVALID on an OCI index. It records every request so a test can count
uploads and check that no tag points at an incomplete index.

TokenServer issues RS256 JWTs (x5c header chained to a cert docker-registry trusts) for
docker-registry's `auth: token` mode, granting each user only the repositories listed for it.
"""
import base64
import hashlib
import http.server
import json
import re
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = {OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST}


ENDLESS_STOP = 512 << 20  # an "endless" body ends here, far above every cap xbuild has


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Fault:
    """Fires `action` on requests matching method + path regex (+ content type), after
    letting `after` matching requests through, for `times` requests (-1 = always).
    Actions: "status:<code>[:<CODE>]", "drop", "wrong-digest", "hold" (block until
    FakeRegistry.release is set), and the hostile ones: "endless:<code>" (a body without
    Content-Length that never ends; `sent` counts what was written before the client gave
    up, and the fake itself stops at ENDLESS_STOP so a client without a cap cannot hang the
    test), "short" (a blob GET one byte short, Content-Length matching), "range-zero" (a
    PATCH answered 202 with Range: 0-0, nothing stored), "endless-headers" (header lines that
    never end, counted in `sent` the same way)."""
    method: str
    path: str
    action: str
    after: int = 0
    times: int = 1
    content_type: str = ""
    seen: int = 0
    fired: int = 0
    sent: int = 0

    def matches(self, method, path, ctype):
        if method != self.method or not re.search(self.path, path):
            return False
        if self.content_type and ctype != self.content_type:
            return False
        return True


@dataclass
class Request:
    method: str
    path: str
    query: dict
    status: int
    auth: bool
    length: int
    conn: int = 0  # the client's port: one per TCP connection


@dataclass
class State:
    blobs: dict = field(default_factory=dict)        # digest -> bytes
    repo_blobs: dict = field(default_factory=dict)   # repo -> set(digest)
    uploads: dict = field(default_factory=dict)      # uuid -> bytearray
    upload_repo: dict = field(default_factory=dict)  # uuid -> repo
    manifests: dict = field(default_factory=dict)    # (repo, digest) -> (ctype, bytes)
    tags: dict = field(default_factory=dict)         # (repo, tag) -> digest
    referrers: dict = field(default_factory=dict)    # (repo, subject digest) -> [descriptor]
    log: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeRegistry:
    """Starts on 127.0.0.1:<free port> in a thread. Options: faults (list of Fault),
    post_digest_202 (answer 202 to POST ?digest= like docker-registry), users (dict for
    Basic auth), absolute_locations (Location as absolute URLs instead of relative),
    tag_pages (a function (repo, query) -> (status, headers, body) answering
    GET /v2/<repo>/tags/list, for hostile tag lists; without it the list is the pushed tags),
    referrers_api (the OCI 1.1 referrers API, which docker-registry 2.8 lacks)."""

    def __init__(self, faults=None, post_digest_202=False, users=None, absolute_locations=False, blob_redirect=None,
                 bearer_realm=None, tag_pages=None, referrers_api=False):
        self.tag_pages = tag_pages
        self.referrers_api = referrers_api  # OCI 1.1: GET /v2/<name>/referrers/<digest>, OCI-Subject on PUT
        self.bearer_realm = bearer_realm  # every request needs "Bearer fake-token" from this realm
        self.blob_redirect = blob_redirect  # a BlobHost: blob GETs answer 307 to it
        self.faults = faults or []
        self.post_digest_202 = post_digest_202
        self.users = users or {}
        self.absolute_locations = absolute_locations
        self.state = State()
        self.held = threading.Event()      # set when a "hold" fault has caught a request
        self.release = threading.Event()   # set by the test to let held requests go on
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                registry._handle(self, "GET")

            def do_HEAD(self):
                registry._handle(self, "HEAD")

            def do_POST(self):
                registry._handle(self, "POST")

            def do_PUT(self):
                registry._handle(self, "PUT")

            def do_PATCH(self):
                registry._handle(self, "PATCH")

            def do_DELETE(self):
                registry._handle(self, "DELETE")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # --- what tests ask -------------------------------------------------------------
    def requests(self, method=None, pattern=None):
        with self.state.lock:
            return [r for r in self.state.log
                    if (method is None or r.method == method) and (pattern is None or re.search(pattern, r.path))]

    def blob_uploads(self):
        """Completed uploads: PUTs that committed a blob, plus POSTs with ?digest= answered 201."""
        return [r for r in self.requests()
                if r.status == 201 and "/blobs/uploads/" in r.path and "digest" in r.query]

    def tag(self, repo, tag):
        with self.state.lock:
            return self.state.tags.get((repo, tag))

    def manifest(self, repo, ref):
        with self.state.lock:
            d = self.state.tags.get((repo, ref), ref)
            return self.state.manifests.get((repo, d))

    # --- the server ---------------------------------------------------------------
    def _location(self, handler, path):
        return f"http://{self.host}{path}" if self.absolute_locations else path

    def _handle(self, h, method):
        parsed = urllib.parse.urlsplit(h.path)
        path, query = parsed.path, dict(urllib.parse.parse_qsl(parsed.query))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type", "")
        crange = h.headers.get("Content-Range", "")
        authed = self._authorized(h)

        def reply(status, headers=None, data=b"", errors=None):
            if errors:
                data = json.dumps({"errors": [{"code": c, "message": m, "detail": None} for c, m in errors]}).encode()
                headers = dict(headers or {}, **{"Content-Type": "application/json"})
            with self.state.lock:
                self.state.log.append(Request(method, path, query, status, authed, len(body), h.client_address[1]))
            h.send_response(status)
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            if "Content-Length" not in (headers or {}):
                h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if method != "HEAD" and data:
                h.wfile.write(data)

        if self.bearer_realm and h.headers.get("Authorization", "") != "Bearer fake-token":
            return reply(401, {"WWW-Authenticate": f'Bearer realm="{self.bearer_realm}",service="fake"'},
                         errors=[("UNAUTHORIZED", "authentication required")])
        if self.users and not authed:
            return reply(401, {"WWW-Authenticate": 'Basic realm="fake"'},
                         errors=[("UNAUTHORIZED", "authentication required")])

        fault = self._fault(method, path, ctype)
        if fault:
            action = fault.action
            if action == "hold":
                # Keep the request open until the test has done its part (e.g. killed the client).
                self.held.set()
                self.release.wait(120)
                try:
                    return reply(503, errors=[("UNAVAILABLE", "held then released")])
                except OSError:
                    return None
            if action == "endless-headers":
                return self._endless_headers(h, method, path, query, authed, fault)
            if action.startswith("endless:"):
                return self._endless(h, method, path, query, authed, int(action.split(":")[1]), fault)
            if action == "drop":
                with self.state.lock:
                    self.state.log.append(Request(method, path, query, 0, authed, len(body), h.client_address[1]))
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if action.startswith("status:"):
                parts = action.split(":")
                code = int(parts[1])
                err = parts[2] if len(parts) > 2 else "UNKNOWN"
                return reply(code, errors=[(err, f"injected fault {code}")])
            # "wrong-digest" is applied when the request completes, below.
        try:
            return self._route(method, path, query, body, ctype, crange, reply, fault)
        except Exception as e:  # a bug in the fake must be visible, not a hang
            return reply(500, errors=[("UNKNOWN", f"fake registry bug: {e!r}")])

    def _endless_headers(self, h, method, path, query, authed, fault):
        with self.state.lock:
            self.state.log.append(Request(method, path, query, 200, authed, 0, h.client_address[1]))
        h.close_connection = True
        line = b"X-Padding: " + b"x" * 1000 + b"\r\n"
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while fault.sent < ENDLESS_STOP:
                h.wfile.write(line)
                fault.sent += len(line)
        except OSError:
            pass

    def _endless(self, h, method, path, query, authed, status, fault):
        with self.state.lock:
            self.state.log.append(Request(method, path, query, status, authed, 0, h.client_address[1]))
        h.send_response(status)
        h.send_header("Content-Type", OCI_MANIFEST if "/manifests/" in path else "application/octet-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        chunk = b'{"schemaVersion":2,"padding":"' + b"x" * (64 << 10)
        try:
            while fault.sent < ENDLESS_STOP:
                h.wfile.write(chunk)
                fault.sent += len(chunk)
        except OSError:
            pass  # the client stopped reading: what a capped reader does

    def put_manifest(self, repo, tag, doc, ctype=OCI_MANIFEST) -> str:
        """Serves `doc` (a dict, or bytes as they are) under repo:tag without any check, as a
        hostile registry would; returns its digest."""
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        digest = sha256(body)
        with self.state.lock:
            self.state.manifests[(repo, digest)] = (ctype, body)
            self.state.tags[(repo, tag)] = digest
        return digest

    def put_blob(self, repo, data, digest=None) -> str:
        """Serves `data` as blob `digest` (default: its own digest) in `repo`."""
        digest = digest or sha256(data)
        with self.state.lock:
            self.state.blobs[digest] = data
            self.state.repo_blobs.setdefault(repo, set()).add(digest)
        return digest

    def _authorized(self, h):
        if not self.users:
            return True
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            return False
        return self.users.get(user) == pw

    def _fault(self, method, path, ctype):
        with self.state.lock:
            for f in self.faults:
                if not f.matches(method, path, ctype):
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                if f.times != -1 and f.fired >= f.times:
                    continue
                f.fired += 1
                return f
        return None

    def _route(self, method, path, query, body, ctype, crange, reply, fault):
        st = self.state
        if path in ("/v2/", "/v2"):
            return reply(200, {"Content-Type": "application/json"}, b"{}")
        m = re.match(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/]*)$", path)
        if m:
            return self._upload(method, m["name"], m["id"], query, body, crange, reply, fault)
        m = re.match(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$", path)
        if m:
            with st.lock:
                data = st.blobs.get(m["digest"]) if m["digest"] in st.repo_blobs.get(m["name"], set()) else None
            if data is None:
                return reply(404, errors=[("BLOB_UNKNOWN", "blob unknown to registry")])
            if method == "GET" and self.blob_redirect:
                self.blob_redirect.blobs[m["digest"]] = data
                return reply(307, {"Location": f"http://{self.blob_redirect.host}/storage/{m['digest']}"})
            if fault and fault.action == "short":
                data = data[:-1]
            return reply(200, {"Content-Length": str(len(data)), "Docker-Content-Digest": m["digest"],
                               "Content-Type": "application/octet-stream"}, data)
        m = re.match(r"^/v2/(?P<name>.+)/tags/list$", path)
        if m and method == "GET":
            if self.tag_pages:
                return reply(*self.tag_pages(m["name"], query))
            with st.lock:
                tags = sorted(t for (r, t) in st.tags if r == m["name"])
            if not tags:
                return reply(404, errors=[("NAME_UNKNOWN", "repository name not known to registry")])
            return reply(200, {"Content-Type": "application/json"}, json.dumps({"name": m["name"], "tags": tags}).encode())
        m = re.match(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$", path)
        if m and self.referrers_api and method == "GET":
            with st.lock:
                descs = list(st.referrers.get((m["name"], m["digest"]), []))
            return reply(200, {"Content-Type": OCI_INDEX},
                         json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}).encode())
        m = re.match(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$", path)
        if m:
            return self._manifest(method, m["name"], m["ref"], body, ctype, reply, fault)
        return reply(404, errors=[("NAME_UNKNOWN", "no such route")])

    def _new_upload(self, name, reply, status=202):
        uid = uuid.uuid4().hex
        with self.state.lock:
            self.state.uploads[uid] = bytearray()
            self.state.upload_repo[uid] = name
        loc = self._location(None, f"/v2/{name}/blobs/uploads/{uid}?_state={uuid.uuid4().hex}")
        return reply(status, {"Location": loc, "Range": "0-0", "Docker-Upload-UUID": uid})

    def _commit(self, name, digest, data):
        with self.state.lock:
            self.state.blobs[digest] = bytes(data)
            self.state.repo_blobs.setdefault(name, set()).add(digest)

    def _upload(self, method, name, uid, query, body, crange, reply, fault):
        st = self.state
        if method == "POST":
            if "mount" in query:
                src, digest = query.get("from", ""), query["mount"]
                with st.lock:
                    ok = digest in st.repo_blobs.get(src, set())
                if ok:
                    self._commit(name, digest, st.blobs[digest])
                    return reply(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
                return self._new_upload(name, reply)
            if "digest" in query and not self.post_digest_202:
                digest = query["digest"]
                if sha256(body) != digest:
                    return reply(400, errors=[("DIGEST_INVALID", "provided digest did not match uploaded content")])
                self._commit(name, digest, body)
                return reply(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
            return self._new_upload(name, reply)
        with st.lock:
            buf = st.uploads.get(uid)
        if buf is None:
            return reply(404, errors=[("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")])
        next_loc = self._location(None, f"/v2/{name}/blobs/uploads/{uid}?_state={uuid.uuid4().hex}")
        if method == "GET":
            end = len(buf) - 1 if buf else 0
            return reply(204, {"Location": next_loc, "Range": f"0-{end}", "Docker-Upload-UUID": uid})
        if method == "PATCH":
            if fault and fault.action == "range-zero":
                return reply(202, {"Location": next_loc, "Range": "0-0", "Docker-Upload-UUID": uid})
            start = int(crange.split("-")[0]) if crange else None
            if start is not None and start != len(buf):
                return reply(416, errors=[("BLOB_UPLOAD_INVALID", f"chunk starts at {start}, have {len(buf)}")])
            buf.extend(body)
            return reply(202, {"Location": next_loc, "Range": f"0-{len(buf) - 1}", "Docker-Upload-UUID": uid})
        if method == "PUT":
            buf.extend(body)
            digest = query.get("digest", "")
            if sha256(bytes(buf)) != digest:
                return reply(400, errors=[("DIGEST_INVALID", "provided digest did not match uploaded content")])
            self._commit(name, digest, buf)
            with st.lock:
                st.uploads.pop(uid, None)
            return reply(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
        return reply(405, errors=[("UNSUPPORTED", "method not allowed")])

    def _manifest(self, method, name, ref, body, ctype, reply, fault):
        st = self.state
        if method in ("GET", "HEAD"):
            with st.lock:
                digest = st.tags.get((name, ref), ref)
                found = st.manifests.get((name, digest))
            if not found:
                return reply(404, errors=[("MANIFEST_UNKNOWN", "manifest unknown")])
            return reply(200, {"Content-Type": found[0], "Docker-Content-Digest": digest}, found[1])
        if method != "PUT":
            return reply(405, errors=[("UNSUPPORTED", "method not allowed")])
        if ctype not in MANIFEST_TYPES:
            return reply(400, errors=[("MANIFEST_INVALID", f"unexpected content type {ctype!r}")])
        doc = json.loads(body)
        with st.lock:
            if ctype in (OCI_INDEX, DOCKER_LIST):
                missing = [m["digest"] for m in doc.get("manifests", []) if (name, m["digest"]) not in st.manifests]
            else:
                need = [doc["config"]["digest"]] + [l["digest"] for l in doc.get("layers", [])]
                missing = [d for d in need if d not in st.repo_blobs.get(name, set())]
        if missing:
            return reply(400, errors=[("MANIFEST_BLOB_UNKNOWN", f"blob unknown to registry: {missing[0]}")])
        digest = sha256(body)
        with st.lock:
            st.manifests[(name, digest)] = (ctype, body)
            if not ref.startswith("sha256:"):
                st.tags[(name, ref)] = digest
        answered = digest
        if fault and fault.action == "wrong-digest":
            answered = "sha256:" + "0" * 64
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": answered}
        if self.referrers_api and "subject" in doc:
            desc = {"mediaType": ctype, "digest": digest, "size": len(body)}
            if "artifactType" in doc:
                desc["artifactType"] = doc["artifactType"]
            with st.lock:
                listed = st.referrers.setdefault((name, doc["subject"]["digest"]), [])
                if desc not in listed:
                    listed.append(desc)
            headers["OCI-Subject"] = doc["subject"]["digest"]
        return reply(201, headers)


class RecordingHost:
    """A small HTTP server on `address` that records the Authorization header of every GET
    and answers it with `answer(path)`: (status, content type or None, body)."""

    def __init__(self, address="127.0.0.1"):
        self.authorization = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                host.authorization.append(self.headers.get("Authorization"))
                status, ctype, body = host.answer(self.path)
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{address}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path):
        raise NotImplementedError

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class BlobHost(RecordingHost):
    """Another host that serves blobs a registry redirects to (like a storage bucket), and
    records the Authorization header of every request it gets."""

    def __init__(self):
        self.blobs = {}
        super().__init__()
        self.host = self.address

    def answer(self, path):
        data = self.blobs.get(path.rsplit("/", 1)[-1])
        return (200 if data is not None else 404), None, data or b""


class TokenHost(RecordingHost):
    """A token server on `address` (e.g. this machine's non-loopback address, to stand for
    another host) that gives anyone the token "fake-token" and records the Authorization
    header of every request."""

    def __init__(self, address):
        super().__init__(address)
        self.realm = f"http://{self.address}/token"

    def answer(self, path):
        return 200, "application/json", b'{"token":"fake-token","expires_in":300}'


class TokenServer:
    """Issues bearer tokens for docker-registry's token auth. `users` maps a user to
    (password, [repositories it may push and pull]). Anonymous requests get pull-nothing
    tokens; a wrong password gets 401."""

    def __init__(self, key_pem: bytes, cert_der: bytes, users, service="xbuild-test", issuer="xbuild-test-issuer",
                 refresh_tokens=None):
        self.refresh_tokens = refresh_tokens or {}  # OAuth2 refresh token -> user (docker's identitytoken)
        from cryptography.hazmat.primitives import serialization
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        self.cert_der = cert_der
        self.users = users
        self.service = service
        self.issuer = issuer
        self.requests = []
        ts = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                ts._token(self)

            def do_POST(self):
                ts._oauth(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _token(self, h):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
        scopes = q.get("scope", [])
        user = None
        auth = h.headers.get("Authorization", "")
        self.requests.append({"scopes": scopes, "auth": bool(auth)})
        if auth.startswith("Basic "):
            name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if name not in self.users or self.users[name][0] != pw:
                body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
                h.send_response(401)
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
                return
            user = name
        allowed = set(self.users[user][1]) if user else set()
        access = []
        for s in scopes:
            for one in s.split(" "):
                parts = one.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                if parts[1] in allowed:
                    access.append({"type": "repository", "name": parts[1], "actions": parts[2].split(",")})
        token = self._sign(user or "", access)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _oauth(self, h):
        """OAuth2 refresh-token grant (what docker does with an identitytoken): answers
        access_token only, as OAuth2 servers do."""
        length = int(h.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(h.rfile.read(length).decode())
        scopes = " ".join(form.get("scope", [])).split(" ")
        self.requests.append({"scopes": scopes, "auth": False, "grant": form.get("grant_type", [""])[0]})
        user = self.refresh_tokens.get(form.get("refresh_token", [""])[0])
        if form.get("grant_type", [""])[0] != "refresh_token" or user is None:
            body = b'{"error":"invalid_grant"}'
            h.send_response(400)
        else:
            allowed = set(self.users[user][1])
            access = [{"type": "repository", "name": p[1], "actions": p[2].split(",")}
                      for p in (one.split(":") for one in scopes) if len(p) == 3 and p[1] in allowed]
            body = json.dumps({"access_token": self._sign(user, access), "expires_in": 300,
                               "token_type": "Bearer"}).encode()
            h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _sign(self, subject, access):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64(sig)
