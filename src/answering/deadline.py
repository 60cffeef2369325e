"""When CPU work on a client's text stops and answers with what it has."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """When composing stops reading and answers with what it has (a `time.monotonic()` instant). The
    composer runs in a worker thread, which cannot be cancelled: it checks this as it goes instead."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def passed(self) -> bool:
        return time.monotonic() >= self.at


NEVER = Deadline(math.inf)
