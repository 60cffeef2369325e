"""The ASGI entry point the runbook names: `uvicorn src.api.main:app`, `gunicorn src.api.main:app ...`."""

from src.app import create_app

app = create_app()
