"""Progress on long work: a live bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("vdmine")


class Progress:
    def __init__(self, label: str, total: int | None = None, every_s: float = 5.0, enabled: bool = True) -> None:
        self.label, self.total, self.every_s = label, total, every_s
        self.done = 0
        self.start = self._last = time.monotonic()
        self.tty = enabled and sys.stderr.isatty()
        self.enabled = enabled

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            if now - self._last >= 0.2:
                self._last = now
                sys.stderr.write("\r" + self._line(now))
                sys.stderr.flush()
        elif now - self._last >= self.every_s:
            self._last = now
            log.info(self._line(now))

    def _line(self, now: float) -> str:
        rate = self.done / max(now - self.start, 1e-9)
        of = f"/{self.total}" if self.total else ""
        return f"{self.label}: {self.done}{of} ({rate:,.0f}/s)"

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r" + self._line(time.monotonic()) + "\n")
            sys.stderr.flush()
