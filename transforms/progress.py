"""Progress of a local run: DoFns count what they finish into small files a launcher sums up.

Active only where FACELAKE_PROGRESS_DIR is set (the ``facelake detect`` launcher sets it for
local runs; worker processes inherit it). On a distributed runner it is unset and this does
nothing: use the runner's own UI and the Beam counters.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ENV = "FACELAKE_PROGRESS_DIR"
WORKERS_NAMESPACE = "facelake.workers"  # Beam counters, one per worker process: see count_work


def count_work(n: int) -> None:
    """Count ``n`` inputs analysed by this worker process, in a Beam counter of its own (named
    host:pid), so that a run summary says how many processes did the work on any runner."""
    import apache_beam as beam

    beam.metrics.Metrics.counter(WORKERS_NAMESPACE, f"{socket.gethostname()}:{os.getpid()}").inc(n)


class ProgressReporter:
    """Counts kept by one DoFn instance, written out at most once a second."""

    def __init__(self):
        folder = os.environ.get(ENV)
        self.path = Path(folder) / f"{uuid.uuid4().hex}.json" if folder else None
        self.counts: Counter = Counter()
        self._last = 0.0

    def add(self, **counts: int) -> None:
        if self.path is None:
            return
        self.counts.update(counts)
        if time.monotonic() - self._last > 1.0:
            self.flush()

    def flush(self) -> None:
        if self.path is None or not self.counts:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.counts))
        os.replace(tmp, self.path)
        self._last = time.monotonic()


def read_totals(folder: str | Path) -> Counter:
    totals: Counter = Counter()
    for p in Path(folder).glob("*.json"):
        try:
            totals.update(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass  # being replaced right now; next poll reads it
    return totals


class ProgressPrinter(threading.Thread):
    """Prints 'files done/total, faces, images/s, errors' while a local run works."""

    def __init__(self, folder: str | Path, stream, interval: float = 1.0):
        super().__init__(daemon=True)
        self.folder, self.stream, self.interval = folder, stream, interval
        self.start_time = time.monotonic()
        self._halt = threading.Event()
        self._tty = hasattr(stream, "isatty") and stream.isatty()
        self._last_line = ""

    def line(self) -> str:
        t = read_totals(self.folder)
        done = t["images"] + t["errors"] + t["skipped"]
        rate = t["images"] / max(time.monotonic() - self.start_time, 1e-9)
        total = f"/{t['inputs']}" if t["inputs"] else ""
        return (f"files {done}{total}, faces {t['faces']}, {rate:.1f} images/s, errors {t['errors']}"
                + (f", skipped {t['skipped']}" if t["skipped"] else ""))

    def run(self) -> None:
        last_print = 0.0
        while not self._halt.wait(self.interval):
            text = self.line()
            if self._tty:
                self.stream.write("\r" + text.ljust(len(self._last_line)))
                self.stream.flush()
            elif text != self._last_line and time.monotonic() - last_print >= 10:
                self.stream.write(text + "\n")
                last_print = time.monotonic()
            self._last_line = text

    def stop(self) -> None:
        self._halt.set()
        self.join()
        text = self.line()
        self.stream.write(("\r" + text.ljust(len(self._last_line)) if self._tty else text) + "\n")
        self.stream.flush()
