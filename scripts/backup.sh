#!/usr/bin/env bash
# Backs up the service's data: the database (pg_dump, or SQLite's online backup) and the vector store (the
# Qdrant server's snapshot API, or a tar of the embedded engine's folder), into one folder per run, then
# deletes backups older than BACKUP_RETENTION_DAYS. deploy/systemd/rag-backend-backup.timer runs it daily;
# `python -m src.cli restore-check` proves a backup restores (docs/runbook.md section 9).
#
#   sudo RAG_ENV_FILE=/opt/rag-backend/.env BACKUP_DIR=/var/backups/rag-backend scripts/backup.sh
#
# Settings are read from the service's environment file (RAG_ENV_FILE), never from the caller's shell:
# NEON_DB_URL or DATABASE_URL, QDRANT_URL, QDRANT_API_KEY, COLLECTION_NAME, DATA_DIR.
#   RAG_ENV_FILE           the service's KEY=value file (default /opt/rag-backend/.env)
#   APP_DIR                the service's working directory, for a relative DATA_DIR (default: the env file's folder)
#   BACKUP_DIR             where backups go (default /var/backups/rag-backend)
#   BACKUP_RETENTION_DAYS  backups older than this are deleted after a successful run (default 14)
#   SERVICE_UNIT           with the embedded vector store, the systemd unit stopped while its folder is archived
#                          (default rag-backend; empty: the caller has stopped the service itself)
# Each run writes BACKUP_DIR/rag-backend-YYYYmmdd_HHMMSS/: database.sql.gz (or app.db), vectors.tar.gz (embedded)
# or vectors.snapshot (Qdrant server). A run that fails leaves no folder and deletes nothing.
# Secrets never reach a command line, which every local user can read (ps, /proc/*/cmdline): the database
# password goes to pg_dump in a password file (PGPASSFILE) and the Qdrant API key to curl as a header file
# (-H @file), both in a private temporary folder removed when the script exits.
set -euo pipefail
umask 077

ENV_FILE=${RAG_ENV_FILE:-/opt/rag-backend/.env}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/rag-backend}
RETENTION_DAYS=${BACKUP_RETENTION_DAYS:-14}
SERVICE_UNIT=${SERVICE_UNIT-rag-backend}

log() { printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ -r "$ENV_FILE" ] || die "cannot read the environment file $ENV_FILE (set RAG_ENV_FILE)"
[[ "$RETENTION_DAYS" =~ ^[0-9]+$ ]] && [ "$RETENTION_DAYS" -ge 1 ] || die "BACKUP_RETENTION_DAYS must be a whole number of days, 1 or more"
APP_DIR=${APP_DIR:-$(cd "$(dirname "$ENV_FILE")" && pwd)}

# The last KEY=value line of the env file, without surrounding quotes (systemd and docker read the same file).
setting() {
  local value
  value=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\+\)\?$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" | tail -n 1)
  value=${value%$'\r'}
  if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
  printf '%s' "$value"
}

DSN=$(setting NEON_DB_URL)
[ -n "$DSN" ] || DSN=$(setting DATABASE_URL)
QDRANT_URL=$(setting QDRANT_URL)
QDRANT_API_KEY=$(setting QDRANT_API_KEY)
COLLECTION=$(setting COLLECTION_NAME)
COLLECTION=${COLLECTION:-textbook_content}
DATA_DIR=$(setting DATA_DIR)
DATA_DIR=${DATA_DIR:-./data}
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$APP_DIR/${DATA_DIR#./}"

mkdir -p "$BACKUP_DIR"
STAMP=$(date -u +%Y%m%d_%H%M%S)
FINAL="$BACKUP_DIR/rag-backend-$STAMP"
WORK="$FINAL.partial"
[ ! -e "$FINAL" ] || die "$FINAL already exists"
mkdir "$WORK"
trap 'rm -rf "$WORK"' EXIT
SECRETS=$(mktemp -d)  # mode 700: the password file and the api-key header
trap 'rm -rf "$WORK" "$SECRETS"' EXIT

# 1. The database, first: it is consistent while the service runs.
if [ -n "$DSN" ]; then
  # pg_dump takes libpq URLs: postgresql://, not the service's postgresql+asyncpg://, and sslmode, not ssl.
  # The password (in the URL's user part, or a password= parameter) is taken out of it: read from stdin,
  # written to a .pgpass line (every field a wildcard; `\` and `:` escaped) and never printed.
  PG_URL=$(printf '%s' "$DSN" | python3 -c '
import sys
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit
url = urlsplit(sys.stdin.read().strip())
userinfo, at, hosts = url.netloc.rpartition("@")
user, _, password = userinfo.partition(":")
password = unquote(password)
query = []
for name, value in parse_qsl(url.query, keep_blank_values=True):
    if name == "password":
        password = value
    else:
        query.append(("sslmode" if name == "ssl" else name, value))
if password:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    with open(sys.argv[1], "w") as passfile:
        passfile.write("*:*:*:*:" + escaped + "\n")
print(urlunsplit(("postgresql", user + at + hosts, url.path, urlencode(query, quote_via=quote), url.fragment)))
' "$SECRETS/pgpass")
  log "dumping the database"
  if [ -f "$SECRETS/pgpass" ]; then export PGPASSFILE="$SECRETS/pgpass"; fi
  pg_dump --no-owner --no-privileges --dbname="$PG_URL" | gzip -6 > "$WORK/database.sql.gz"
  gzip -t "$WORK/database.sql.gz"
  zcat "$WORK/database.sql.gz" | tail -n 5 | grep -q 'PostgreSQL database dump complete' || die "the dump is incomplete"
else
  [ -f "$DATA_DIR/app.db" ] || die "no NEON_DB_URL / DATABASE_URL in $ENV_FILE and no SQLite database at $DATA_DIR/app.db"
  log "copying the SQLite database (online backup)"
  python3 -c 'import sqlite3, sys; src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close()' \
    "$DATA_DIR/app.db" "$WORK/app.db"
fi

# 2. The vector store.
if [ -n "$QDRANT_URL" ]; then
  log "taking a snapshot of $COLLECTION on the Qdrant server"
  auth=()
  if [ -n "$QDRANT_API_KEY" ]; then
    printf 'api-key: %s\n' "$QDRANT_API_KEY" > "$SECRETS/qdrant-headers"  # printf is a builtin: no command line
    auth=(-H "@$SECRETS/qdrant-headers")
  fi
  base="${QDRANT_URL%/}/collections/$COLLECTION/snapshots"
  created=$(curl -fsS --max-time 3600 -X POST "${auth[@]}" "$base?wait=true")
  name=$(printf '%s' "$created" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["name"])')
  curl -fsS --max-time 3600 "${auth[@]}" -o "$WORK/vectors.snapshot" "$base/$name"
  # The server keeps every snapshot it takes: this one is ours now.
  curl -fsS --max-time 60 -X DELETE "${auth[@]}" "$base/$name" > /dev/null || log "could not delete snapshot $name on the server"
  [ -s "$WORK/vectors.snapshot" ] || die "the snapshot is empty"
else
  [ -d "$DATA_DIR/qdrant" ] || die "no QDRANT_URL in $ENV_FILE and no embedded store at $DATA_DIR/qdrant"
  # The embedded engine writes its files while it runs: archive them with the service stopped.
  restart=""
  if [ -n "$SERVICE_UNIT" ] && command -v systemctl > /dev/null && systemctl is-active --quiet "$SERVICE_UNIT"; then
    log "stopping $SERVICE_UNIT while the embedded store is archived"
    systemctl stop "$SERVICE_UNIT"
    restart=$SERVICE_UNIT
    trap 'systemctl start "$restart" || true; rm -rf "$WORK" "$SECRETS"' EXIT
  fi
  log "archiving $DATA_DIR/qdrant"
  tar -czf "$WORK/vectors.tar.gz" -C "$DATA_DIR" qdrant
  if [ -n "$restart" ]; then
    systemctl start "$restart"
    log "started $restart again"
    trap 'rm -rf "$WORK" "$SECRETS"' EXIT
  fi
  tar -tzf "$WORK/vectors.tar.gz" > /dev/null
fi

mv "$WORK" "$FINAL"
rm -rf "$SECRETS"
trap - EXIT
log "wrote $FINAL ($(du -sh "$FINAL" | cut -f1))"

# 3. Retention, only after a good backup: a failing run never eats the history.
cutoff_minutes=$((RETENTION_DAYS * 24 * 60))
find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name 'rag-backend-*' ! -name '*.partial' -mmin +"$cutoff_minutes" -print0 |
  while IFS= read -r -d '' old; do
    log "deleting $old (older than $RETENTION_DAYS days)"
    rm -rf -- "$old"
  done
printf '%s\n' "$FINAL"
