"""The runbook's import path: `from src.agent.logging_agent import LoggingAgent`."""

from src.sessions.logging_agent import LoggingAgent, Turn

__all__ = ["LoggingAgent", "Turn"]
