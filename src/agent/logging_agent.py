"""The runbook's LoggingAgent, at the runbook's import path (`from src.agent.logging_agent import
LoggingAgent`): the turn recorder plus retention cleanup, in one object as the runbook uses it.

    agent = LoggingAgent()
    agent.cleanup_old_sessions(days=30)   # returns how many sessions were removed
"""

from __future__ import annotations

from src.sessions.recorder import Turn, TurnRecorder
from src.sessions.retention import cleanup_old_sessions, cleanup_old_sessions_async

__all__ = ["LoggingAgent", "Turn"]


class LoggingAgent(TurnRecorder):
    async def cleanup_old_sessions_async(self, days: int | None = None) -> int:
        return await cleanup_old_sessions_async(self.settings, days, self._factory)

    def cleanup_old_sessions(self, days: int | None = None) -> int:
        return cleanup_old_sessions(self.settings, days)
