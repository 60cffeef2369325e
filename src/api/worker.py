"""The gunicorn worker class `gunicorn.conf.py` names: the maintained uvicorn worker, with uvicorn's own
proxy-header handling off.

uvicorn rewrites the client address from X-Forwarded-For (and the scheme from X-Forwarded-Proto) for any peer
in FORWARDED_ALLOW_IPS, by default loopback, before the app sees the request. The service decides the client
itself, from TRUSTED_PROXIES (`kit/request_context.py`), and unset means the peer: so uvicorn must leave the
address as the connection gave it, or a client on the same host (or behind a local proxy) picks its own.

Imported by the gunicorn master before it forks: it must not import the app (nor prometheus_client, which picks
its multiprocess mode when imported).
"""

from __future__ import annotations

from typing import Any

import uvicorn_worker


class UvicornWorker(uvicorn_worker.UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no type information
    CONFIG_KWARGS: dict[str, Any] = {**uvicorn_worker.UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
