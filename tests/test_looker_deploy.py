"""`callmood looker deploy` against a stand-in for the Looker API on 127.0.0.1.

There is no Looker instance here (Looker is licensed software with no local
edition), so these tests run the real command line and the real looker-sdk
client against a small HTTP server that answers the five Looker API 4.0 calls
the deploy makes with canned responses shaped like Looker's (fields as in
looker_sdk.sdk.api40.models; written by hand from those models, not captured
from a live instance). They check what is sent: the credentials from the
LOOKERSDK_* variables, validation before any dashboard change, each dashboard
file's LookML verbatim into the chosen folder, and an existing dashboard with the
same title replaced only after its successor was imported.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from dashboards.looker_deploy import LOOKML_DIR, dashboard_files
from tests import cli

CLIENT_ID, CLIENT_SECRET = "stand-in-client-id", "stand-in-client-secret"
TOKEN = "stand-in-access-token"


class StandIn:
    """What the stand-in answers, and every request it received."""

    def __init__(self, validation_errors: list[dict] | None = None, existing: dict[str, str] | None = None):
        self.validation_errors = validation_errors or []
        self.existing = existing or {}           # title -> id of a dashboard already in the folder
        self.requests: list[dict] = []
        self.next_id = 100

    def answer(self, method: str, path: str, query: dict, body: bytes) -> tuple[int, object]:
        if method == "POST" and path == "/api/4.0/login":
            return 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
        if method == "POST" and path.startswith("/api/4.0/projects/") and path.endswith("/validate"):
            return 200, {"errors": self.validation_errors, "project_digest": "0f1e2d", "models_not_validated": [],
                         "computation_time": 0.4}
        if method == "GET" and path == "/api/4.0/dashboards/search":
            title = query.get("title", [""])[0]
            return 200, ([{"id": self.existing[title], "title": title}] if title in self.existing else [])
        if method == "POST" and path == "/api/4.0/dashboards/lookml":
            sent = json.loads(body)
            self.next_id += 1
            return 200, {"id": str(self.next_id), "folder_id": sent["folder_id"], "title": "imported"}
        if method == "DELETE" and path.startswith("/api/4.0/dashboards/"):
            return 204, None
        return 404, {"message": "Not found", "documentation_url": "https://cloud.google.com/looker/docs/"}


@contextlib.contextmanager
def stand_in_looker(state: StandIn) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append({"method": self.command, "path": url.path,
                                   "query": urllib.parse.parse_qs(url.query),
                                   "authorization": self.headers.get("Authorization"), "body": body})
            status, payload = state.answer(self.command, url.path, urllib.parse.parse_qs(url.query), body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _handle

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _deploy(base_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKERSDK_")}
    env.update({"LOOKERSDK_BASE_URL": base_url, "LOOKERSDK_CLIENT_ID": CLIENT_ID,
                "LOOKERSDK_CLIENT_SECRET": CLIENT_SECRET, "LOOKERSDK_VERIFY_SSL": "false", "LOOKERSDK_TIMEOUT": "20"})
    return cli.run("looker", *args, env=env, timeout=120)


def _calls(state: StandIn) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in state.requests]


def test_deploy_validates_then_imports_each_dashboard_file_into_the_folder():
    state = StandIn()
    with stand_in_looker(state) as url:
        done = _deploy(url, "deploy", "--project", "callmood", "--folder", "42")
    assert done.returncode == 0, done.stdout + done.stderr
    login = state.requests[0]
    assert (login["method"], login["path"]) == ("POST", "/api/4.0/login")
    assert urllib.parse.parse_qs(login["body"].decode()) == {"client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET]}
    assert _calls(state)[1] == ("POST", "/api/4.0/projects/callmood/validate")
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in state.requests[1:])
    imported = [json.loads(r["body"]) for r in state.requests if r["path"] == "/api/4.0/dashboards/lookml"]
    files = dashboard_files(LOOKML_DIR)
    assert imported == [{"folder_id": "42", "lookml": f.lookml} for f in files]
    assert not [c for c in _calls(state) if c[0] == "DELETE"]
    assert done.stdout.count("created dashboard") == 2


def test_an_existing_dashboard_is_replaced_after_its_successor_is_imported():
    state = StandIn(existing={"Agent Wellbeing": "7"})
    with stand_in_looker(state) as url:
        done = _deploy(url, "deploy", "--folder", "42")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = _calls(state)
    assert ("DELETE", "/api/4.0/dashboards/7") in calls
    imports = [i for i, c in enumerate(calls) if c == ("POST", "/api/4.0/dashboards/lookml")]
    searched = [r for r in state.requests if r["path"] == "/api/4.0/dashboards/search"]
    assert {r["query"]["folder_id"][0] for r in searched} == {"42"}
    wellbeing_import = imports[[f.title for f in dashboard_files(LOOKML_DIR)].index("Agent Wellbeing")]
    assert calls.index(("DELETE", "/api/4.0/dashboards/7")) > wellbeing_import
    assert "updated dashboard 'Agent Wellbeing'" in done.stdout


def test_lookml_errors_stop_the_deploy_before_any_dashboard_changes():
    error = {"code": "lookml-error", "severity": "error", "kind": "field", "message": "Unknown field cx.queue",
             "field_name": "cx.queue", "file_path": "callmood/customer_experience.dashboard.lookml",
             "line_number": 12, "model_id": "callmood", "explore": "cx_call_summary", "help_url": None,
             "params": {}, "sanitized_message": "Unknown field"}
    warning = {**error, "severity": "warning", "message": "only a warning"}
    state = StandIn(validation_errors=[error, warning])
    with stand_in_looker(state) as url:
        done = _deploy(url, "deploy", "--folder", "42")
    assert done.returncode == 1
    assert "Unknown field cx.queue" in done.stdout and "only a warning" not in done.stdout
    assert not [c for c in _calls(state) if "/dashboards" in c[1]]


def test_validate_only_touches_no_dashboard():
    state = StandIn()
    with stand_in_looker(state) as url:
        done = _deploy(url, "validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _calls(state) == [("POST", "/api/4.0/login"), ("POST", "/api/4.0/projects/callmood/validate")]


def test_without_credentials_it_says_which_variables_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKERSDK_")}
    done = cli.run("looker", "validate", cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1
    assert "base_url" in done.stderr and "LOOKERSDK_BASE_URL" in done.stderr and "Traceback" not in done.stderr
