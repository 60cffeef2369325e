"""`python -m src.cli`: what the Makefile, the image, the systemd unit and the runbook run."""

from src.cli import app

if __name__ == "__main__":
    app()
