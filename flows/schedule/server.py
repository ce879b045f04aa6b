"""Where the Prefect server is and whether it answers: the configured API, the local server's home, host and port."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

LOCAL_HOME = Path(__file__).resolve().parents[2] / ".prefect"  # a local server's home (make serve)
HOST = "127.0.0.1"


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile; None when no server is configured."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def default_port() -> int:
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.api.port)


def local_api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answers(api_url: str) -> bool:
    """Whether a Prefect API answers its health check at api_url (with or without a trailing slash) now."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as `prefect server start` checks it
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True
