"""A Hugging Face Hub test double at the HTTP level, on 127.0.0.1 only.

It speaks the part of the Hub's REST API that the unmodified `huggingface_hub` and
`datasets` clients call to push a dataset folder and load it back by repository id, and
nothing more. Point a client at it with `HF_ENDPOINT=double.url` and `HF_HUB_DISABLE_XET=1`
(the double offers no Xet storage, so uploads take the LFS path).

Every request is logged (`double.requests`); one that matches no route is answered 404 and
recorded in `double.unknown`, which the fixture asserts empty, so a new client call shows
up as a clear test failure instead of a silent miss.

Storage is git-like and in memory: each repository has refs (branches and `refs/pr/N`)
pointing at commits, a commit is `{path: (bytes, lfs?)}` plus its parent, and commit ids
are sha1 hex digests. LFS objects uploaded through the batch API wait in `lfs` until a
commit names them.

Endpoints (method, route: the client call that needs it):

    GET  /api/agent-harnesses                           build_hf_headers (agent detection in
                                                        the user agent, once per process)
    POST /api/repos/create                              HfApi.create_repo
    POST /api/validate-yaml                             HfApi.create_commit (README.md)
    POST /api/{type}s/{repo}/branch/{branch}            HfApi.create_branch
    POST /api/{type}s/{repo}/preupload/{rev}            HfApi.preupload_lfs_files
    POST /{type}s/{repo}.git/info/lfs/objects/batch     lfs.post_lfs_batch_info
    PUT  /lfs-upload/{oid}                              lfs._upload_single_part
    POST /lfs-verify/{oid}                              lfs.lfs_upload (verify action)
    POST /api/{type}s/{repo}/commit/{rev}               HfApi.create_commit (NDJSON)
    GET  /api/{type}s/{repo}[/revision/{rev}]           HfApi.repo_info / dataset_info
    GET  /api/{type}s/{repo}/tree/{rev}[/{path}]        HfApi.list_repo_tree, HfFileSystem.ls
    POST /api/{type}s/{repo}/paths-info/{rev}           HfFileSystem.info(refresh=True)
    HEAD /{type}s/{repo}/resolve/{rev}/{path}           hf_hub_download (file metadata)
    GET  /{type}s/{repo}/resolve/{rev}/{path}           hf_hub_download, HfFileSystem reads
                                                        (honours Range: bytes=a-b)
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
LFS_SUFFIXES = (".parquet", ".png", ".arrow", ".bin")
COMMIT_TIME = "2026-01-01T00:00:00.000Z"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha}\nsize {len(data)}\n".encode()


@dataclasses.dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @property
    def etag(self) -> str:
        """What the Hub sends as ETag: sha256 for LFS files, the git blob id otherwise."""
        return hashlib.sha256(self.data).hexdigest() if self.lfs else git_blob_oid(self.data)

    def entry(self, path: str, commit: str) -> dict:
        """A tree / paths-info entry, as the Hub's JSON."""
        out = {
            "type": "file",
            "oid": git_blob_oid(lfs_pointer(self.data) if self.lfs else self.data),
            "size": len(self.data),
            "path": path,
            "lastCommit": {"id": commit, "title": "", "date": COMMIT_TIME},
        }
        if self.lfs:
            pointer = lfs_pointer(self.data)
            out["lfs"] = {"oid": self.etag, "size": len(self.data), "pointerSize": len(pointer)}
        return out


@dataclasses.dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, Blob]


@dataclasses.dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    refs: dict[str, str] = dataclasses.field(default_factory=dict)  # ref name -> commit oid
    commits: dict[str, Commit] = dataclasses.field(default_factory=dict)
    pull_requests: int = 0

    def resolve(self, rev: str) -> Commit | None:
        if rev in self.refs:
            return self.commits[self.refs[rev]]
        return self.commits.get(rev)

    def commit(self, ref: str, parent: Commit | None, message: str, files: dict) -> Commit:
        digest = hashlib.sha1()
        digest.update(f"{parent.oid if parent else ''}\n{message}\n{len(self.commits)}\n".encode())
        for path in sorted(files):
            digest.update(f"{path} {files[path].etag}\n".encode())
        new = Commit(digest.hexdigest(), parent.oid if parent else None, message, files)
        self.commits[new.oid] = new
        self.refs[ref] = new.oid
        return new


class HubDouble:
    """The server and its store; `start()` binds 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[str] = []
        self.authorizations: set[str] = set()
        self.served: list[tuple[str, int]] = []  # (path, body bytes) of each resolve GET
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, port: int = 0) -> HubDouble:
        double = self

        class Handler(_Handler):
            hub = double

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def seed(self, repo_id: str, folder: Path, repo_type: str = "dataset") -> None:
        """Create `repo_id` holding the files of `folder` (no HTTP: for benchmarks)."""
        with self.lock:
            repo = Repo(repo_type, repo_id, private=False)
            files = {
                p.relative_to(folder).as_posix(): Blob(p.read_bytes(), p.suffix in LFS_SUFFIXES)
                for p in sorted(folder.rglob("*"))
                if p.is_file()
            }
            repo.commit("main", None, "seed", files)
            self.repos[(repo_type, repo_id)] = repo

    # -- what tests read -------------------------------------------------------------

    def files(self, repo_id: str, rev: str = "main", repo_type: str = "dataset") -> dict:
        """{path: bytes} of a revision."""
        with self.lock:
            commit = self.repos[(repo_type, repo_id)].resolve(rev)
            return {p: b.data for p, b in commit.files.items()}

    def refs(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        with self.lock:
            return dict(self.repos[(repo_type, repo_id)].refs)


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


REPO = r"(?P<type>dataset|model|space)s/(?P<repo>[^/]+/[^/]+)"
ROUTES = [
    ("GET", r"/api/agent-harnesses", "agent_harnesses"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("POST", rf"/api/{REPO}/branch/(?P<branch>[^/]+)", "create_branch"),
    ("POST", rf"/api/{REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
    ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", "lfs_verify"),
    ("POST", rf"/api/{REPO}/commit/(?P<rev>[^/]+)", "commit"),
    ("GET", rf"/api/{REPO}(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
    ("GET", rf"/api/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
    ("POST", rf"/api/{REPO}/paths-info/(?P<rev>[^/]+)", "paths_info"),
    ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]


class _Handler(BaseHTTPRequestHandler):
    hub: HubDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # the request log is hub.requests
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # -- plumbing --------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        with self.hub.lock:
            self.hub.requests.append((method, url.path))
            if self.headers.get("Authorization"):
                self.hub.authorizations.add(self.headers["Authorization"])
        for verb, pattern, name in ROUTES:
            match = re.fullmatch(pattern, url.path)
            if verb == method and match:
                args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                try:
                    with self.hub.lock:
                        getattr(self, name)(**args)
                except HttpError as e:
                    self._json({"error": str(e)}, e.status)
                return
        with self.hub.lock:
            self.hub.unknown.append(f"{method} {self.path}")
        self._json({"error": f"hub double: no route for {method} {url.path}"}, 404)

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        self._send(status, json.dumps(obj).encode(), headers)

    def _repo(self, type: str, repo: str) -> Repo:
        found = self.hub.repos.get((type, repo))
        if found is None:
            raise HttpError(404, f"Repository not found: {type}s/{repo}")
        return found

    def _commit(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HttpError(404, f"Invalid rev id: {rev}")
        return commit

    def _require_token(self) -> None:
        if not (self.headers.get("Authorization") or "").startswith("Bearer hf_"):
            raise HttpError(401, "Invalid credentials in Authorization header")

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def agent_harnesses(self) -> None:
        self._json({"standardEnvVars": [], "harnesses": {}})  # no agent detection

    # -- write side ------------------------------------------------------------------

    def create_repo(self) -> None:
        self._require_token()
        payload = json.loads(self.body)
        repo_type = payload.get("type") or "model"
        name = payload["name"]
        repo_id = f"{payload['organization']}/{name}" if payload.get("organization") else name
        url = f"{self._base()}/{repo_type}s/{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:  # create_repo(exist_ok=True) reads the url
            self._json({"error": "You already created this repo", "url": url}, 409)
            return
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        repo = Repo(repo_type, repo_id, private)
        # The Hub creates every repository with a first commit holding .gitattributes.
        repo.commit("main", None, "initial commit", {".gitattributes": Blob(GITATTRIBUTES, False)})
        self.hub.repos[(repo_type, repo_id)] = repo
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def validate_yaml(self) -> None:
        content = json.loads(self.body)["content"]
        match = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, re.DOTALL)
        try:
            header = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as e:
            self._json({"errors": [{"message": f"YAML does not parse: {e}"}], "warnings": []}, 400)
            return
        if not isinstance(header, dict):
            self._json({"errors": [{"message": "metadata is not a mapping"}], "warnings": []}, 400)
            return
        self._json({"errors": [], "warnings": []})

    def create_branch(self, type: str, repo: str, branch: str) -> None:
        self._require_token()
        found = self._repo(type, repo)
        if branch in found.refs:
            raise HttpError(409, f"Reference {branch} already exists")
        payload = json.loads(self.body or b"{}")
        start = self._commit(found, payload.get("startingPoint") or "main")
        found.refs[branch] = start.oid
        self._json({})

    def preupload(self, type: str, repo: str, rev: str) -> None:
        self._require_token()
        found = self._repo(type, repo)
        # With create_pr the revision is the PR's base; otherwise it must exist.
        current = self._commit(found, rev).files
        files = []
        for item in json.loads(self.body)["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = item["path"].endswith(LFS_SUFFIXES) or b"\0" in sample
            existing = current.get(item["path"])
            oid = None
            if existing is not None and existing.lfs == lfs:
                oid = existing.etag if lfs else git_blob_oid(existing.data)
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._json({"files": files})

    def lfs_batch(self, type: str, repo: str) -> None:
        self._require_token()
        self._repo(type, repo)
        payload = json.loads(self.body)
        if payload.get("operation") != "upload":
            raise HttpError(400, "hub double: only LFS uploads are implemented")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs:  # already stored: no action, the client skips it
                entry["actions"] = {
                    "upload": {"href": f"{self._base()}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"{self._base()}/lfs-verify/{obj['oid']}"},
                }
            objects.append(entry)
        self._json({"transfer": "basic", "objects": objects})

    def lfs_upload(self, oid: str) -> None:
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HttpError(400, "uploaded content does not match its sha256")
        self.hub.lfs[oid] = self.body
        self._send(200, b"")

    def lfs_verify(self, oid: str) -> None:
        payload = json.loads(self.body)
        if oid not in self.hub.lfs or len(self.hub.lfs[oid]) != payload["size"]:
            raise HttpError(404, f"LFS object {oid} was not uploaded")
        self._json({})

    def commit(self, type: str, repo: str, rev: str) -> None:
        self._require_token()
        found = self._repo(type, repo)
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        base = self._commit(found, rev)
        files = dict(base.files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                continue
            if key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if data is None:
                    raise HttpError(422, f"LFS object {value['oid']} of {value['path']} is missing")
                files[value["path"]] = Blob(data, True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HttpError(404, "A file with this name doesn't exist")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(prefix)}
            else:
                raise HttpError(400, f"hub double: commit operation {key!r} is not implemented")
        pr_url = None
        ref = rev
        if self.query.get("create_pr") == ["1"]:
            found.pull_requests += 1
            ref = f"refs/pr/{found.pull_requests}"
            pr_url = f"{self._base()}/{type}s/{repo}/discussions/{found.pull_requests}"
        elif rev not in found.refs:
            raise HttpError(400, f"Invalid rev id: {rev} is not a branch")
        new = found.commit(ref, base, header["summary"], files)
        self._json(
            {
                "commitUrl": f"{self._base()}/{type}s/{repo}/commit/{new.oid}",
                "commitOid": new.oid,
                "pullRequestUrl": pr_url,
            }
        )

    # -- read side -------------------------------------------------------------------

    def repo_info(self, type: str, repo: str, rev: str = "main") -> None:
        found = self._repo(type, repo)
        commit = self._commit(found, rev)
        readme = commit.files.get("README.md")
        card = {}
        if readme is not None:
            match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.data.decode(), re.DOTALL)
            card = (yaml.safe_load(match.group(1)) if match else None) or {}
        self._json(
            {
                "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
                "id": repo,
                "author": repo.split("/")[0],
                "sha": commit.oid,
                "private": found.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": COMMIT_TIME,
                "createdAt": COMMIT_TIME,
                "cardData": card,
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            }
        )

    def _entries(self, commit: Commit, path: str, recursive: bool) -> list[dict]:
        """Tree entries under `path`: files and directories, children only unless recursive."""
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            raise HttpError(404, f"Path {path} does not exist")
        out, dirs = [], set()
        for p in sorted(commit.files):
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    dirs.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                out.append(commit.files[p].entry(p, commit.oid))
        for d in sorted(dirs):
            tree = hashlib.sha1(f"{commit.oid}:{d}".encode()).hexdigest()
            out.append({"type": "directory", "oid": tree, "size": 0, "path": d})
        return sorted(out, key=lambda e: e["path"])

    def tree(self, type: str, repo: str, rev: str, path: str = "") -> None:
        commit = self._commit(self._repo(type, repo), rev)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        self._json(self._entries(commit, path, recursive))

    def paths_info(self, type: str, repo: str, rev: str) -> None:
        commit = self._commit(self._repo(type, repo), rev)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            paths = json.loads(self.body).get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        out = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                out.append(commit.files[path].entry(path, commit.oid))
            elif any(p.startswith(path + "/") for p in commit.files) or path == "":
                tree = hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()
                out.append({"type": "directory", "oid": tree, "size": 0, "path": path})
        self._json(out)

    def resolve(self, type: str, repo: str, rev: str, path: str) -> None:
        found = self._repo(type, repo)
        commit = self._commit(found, rev)
        blob = commit.files.get(path)
        if blob is None:
            self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit.oid})
            return
        data = blob.data
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{blob.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        status = 200
        wanted = self.headers.get("Range")
        if wanted:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted.strip())
            if match is None:
                raise HttpError(400, f"unsupported Range {wanted!r}")
            first, last = match.groups()
            if first == "":  # suffix range: the last N bytes
                start, end = max(0, len(data) - int(last)), len(data) - 1
            else:
                start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
            if start >= len(data) or start > end:
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if self.command == "GET":
            self.hub.served.append((path, len(data)))
        self._send(status, data, headers)
