"""An oversized upload over a real socket gets the documented 413 and its error body, not a
connection reset: the server reads and discards the rest of the body (up to a bound) before it
closes. Clients that write the whole body before reading (requests, httpx) are the common case."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import requests

from tests.conftest import auth, make_settings

THIRTY_MB = 30 * 1024 * 1024


def body_of(size: int) -> bytes:
    filler = b"x" * (size - 80)
    return b'{"content": "' + filler + b'", "metadata": {"source_file": "big.md"}}'


def assert_too_large(status: int, payload: dict[str, Any], max_bytes: int) -> None:
    assert status == 413
    assert payload["error"] == "payload_too_large"
    assert payload["details"]["max_bytes"] == max_bytes
    assert payload["request_id"]


def test_thirty_megabytes_get_the_413_and_its_body(tmp_path: Path, live_server_factory: Any) -> None:
    settings = make_settings(tmp_path)
    server = live_server_factory(settings)
    url = server.url + "/api/v1/index"
    headers = {**auth(), "Content-Type": "application/json"}
    body = body_of(THIRTY_MB)

    r = requests.post(url, data=body, headers=headers, timeout=60)  # Content-Length declared
    assert_too_large(r.status_code, r.json(), settings.max_body_bytes)

    with httpx.Client(timeout=60) as client:
        h = client.post(url, content=body, headers=headers)
    assert_too_large(h.status_code, h.json(), settings.max_body_bytes)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while reading
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/api/v1/index", body=chunks(), headers=headers, encode_chunked=True)
    response = conn.getresponse()
    assert_too_large(response.status, json.loads(response.read()), settings.max_body_bytes)
    conn.close()

    # Nothing was stored, and the service goes on serving.
    listed = httpx.get(server.url + "/api/v1/index/documents", headers=auth(), timeout=10).json()
    assert listed["total"] == 0
    assert httpx.get(server.url + "/api/v1/health/ready", timeout=10).status_code == 200
    assert server.log().count('"body_too_large"') == 3
