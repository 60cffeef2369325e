"""Command line for authors and operators: `python -m src.cli --help`.

`migrate` is what every start path runs before serving (the image, the systemd unit, `make migrate`).
`index` is in `indexing.py`, `report` in `reports.py`, the operator commands in `operations.py`; they are
registered here in the order `--help` lists them.
"""

from __future__ import annotations

import typer

from src.cli.indexing import index
from src.cli.operations import cleanup, migrate, restore_check, show_key
from src.cli.reports import report

app = typer.Typer(help="AI-textbook chatbot backend: indexing and operations.", no_args_is_help=True)
app.command()(index)
app.command()(migrate)
app.command("show-key")(show_key)
app.command()(cleanup)
app.command()(report)
app.command("restore-check")(restore_check)
