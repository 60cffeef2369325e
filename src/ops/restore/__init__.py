"""The restore check (`python -m src.cli restore-check`): a backup made by scripts/backup.sh is restored into
a scratch copy (a PostgreSQL dump into a scratch database, the embedded SQLite database into a scratch
folder), brought to this release's schema, and asked a known question; each step is reported as passed or
failed, and the scratch copy is removed afterwards.

Steps, in order (a failed step stops the ones that need it):

1. restore (postgres.py, sqlite.py): a PostgreSQL dump (`database.sql.gz` or plain SQL) is loaded with
   `psql -v ON_ERROR_STOP=1` into a new database `rag_restore_check_<random>` on the given server (default: the
   service's own); an SQLite database (`app.db`, known by its header, whatever its name) is copied into a new
   folder `rag-restore-check-<random>` under the temporary directory and must pass `PRAGMA integrity_check`.
   The backup itself is only read, and the service's own DATA_DIR is never the copy's.
2. migrations (checks.py): the restored revision is read; if it is older than this release's head, the
   migrations are applied to the copy (so an upgrade of the real data is tried too); the copy must end at head,
   with every table of src/db/models.py present, and the rows of each are reported. A copy a newer release
   migrated (a revision this release does not ship) is left as it is: it passes as `ahead_compatible` when its
   `schema_compatibility` lists this release's head, and fails, saying so, when it does not.
3. answer (checks.py): the service is opened on the copy (no Redis: no cached answer can stand in) and on the
   restored vector store (vectors.py: the embedded engine unpacked from `vectors.tar.gz` into a scratch
   DATA_DIR), or on the configured Qdrant server when no vector snapshot is given (an embedded store without
   one fails the check at once, as `vectors`: the one under DATA_DIR is the live store, not the backup's); the
   question must be answered with citations, every cited file must be in the restored `indexed_documents`, and
   `expect_source`, when given, among them.

command.py runs the steps in that order; report.py holds what they found.
"""

from src.ops.restore.command import restore_check
from src.ops.restore.report import RestoreReport, Step

__all__ = ["RestoreReport", "Step", "restore_check"]
