"""What the restore check found: one line per step, passed or failed, with what it saw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Step:
    name: str
    passed: bool
    detail: str


@dataclass
class RestoreReport:
    database: str  # the scratch database's name, or the SQLite copy's path
    steps: list[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def add(self, name: str, passed: bool, detail: str) -> bool:
        self.steps.append(Step(name, passed, detail))
        return passed
