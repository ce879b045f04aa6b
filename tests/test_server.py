"""Tests of flows/schedule/server.py: where the Prefect server is (the environment, the profile, a local server's
address) and whether it answers its health check, against a small HTTP server of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from flows.schedule.server import HOST, LOCAL_HOME, answers, free_port, local_api_url, port_free
from tests.conftest import ROOT


def in_fresh_process(code: str, tmp_path: Path, **env: str) -> str:
    """`code`'s output in a new interpreter with a throwaway Prefect home (no profile) and only the PREFECT_ set here:
    Prefect reads its settings once per process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=base)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_no_server_is_configured_without_an_api_url(tmp_path):
    code = "from flows.schedule.server import configured_api_url; print(configured_api_url())"
    assert in_fresh_process(code, tmp_path) == "None"


def test_the_api_url_comes_from_the_environment(tmp_path):
    code = "from flows.schedule.server import configured_api_url; print(configured_api_url())"
    url = "http://db-host.example:4300/api"
    assert in_fresh_process(code, tmp_path, PREFECT_API_URL=url) == url


def test_the_default_port_is_prefects_setting(tmp_path):
    code = "from flows.schedule.server import default_port; print(default_port())"
    assert in_fresh_process(code, tmp_path) == "4200"  # Prefect's default
    assert in_fresh_process(code, tmp_path, PREFECT_SERVER_API_PORT="4321") == "4321"


def test_a_local_server_is_on_the_loopback_with_its_home_in_the_repository():
    assert local_api_url(4200) == "http://127.0.0.1:4200/api"
    assert HOST == "127.0.0.1"
    assert LOCAL_HOME == ROOT / ".prefect"  # make serve's database and logs, git-ignored


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # http.server's name
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def health_server():
    """A server on a free port of the loopback whose /api/health returns Health.status."""
    servers = []

    def start(status: int) -> int:
        handler = type("Handler", (Health,), {"status": status})
        server = HTTPServer((HOST, 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_server_answers_when_its_health_check_says_200(health_server):
    port = health_server(200)
    assert answers(local_api_url(port))
    assert not port_free(port)  # a port a server listens on is taken


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_that_fails_its_health_check_does_not_answer(health_server, status):
    assert not answers(local_api_url(health_server(status)))


def test_a_wrong_path_does_not_answer(health_server):
    port = health_server(200)
    assert not answers(f"http://{HOST}:{port}/other")  # 404: not a Prefect API


def test_nothing_listening_does_not_answer():
    port = free_port()  # bound and closed again: nothing listens there
    assert port_free(port) and not answers(local_api_url(port))
