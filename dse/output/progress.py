"""Search progress: a bar on a terminal, status lines in a job log.

On a terminal (stderr is a TTY) a rich bar moves per evaluated trial and shows trials done of
the budget, the rate, the time left and the best feasible values so far. Elsewhere (a Slurm job's
log, a pipe) one plain line goes to stderr every ``every_s`` seconds and at the end, e.g.::

    dse search gpt2_resnet50__mcm4_hetero: 120/300 trials, 9.8 trials/s, 18 s left; best throughput_per_s 35.9, energy_j 0.35
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO


def best_values_text(summary: Any) -> str:
    """The best feasible value of each objective, or why there is none yet."""
    if not summary.best or any(math.isnan(v) for v in summary.best):
        return "no feasible design yet"
    return "best " + ", ".join(f"{name} {v:.4g}" for (name, _), v in zip(summary.objectives, summary.best))


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Call :meth:`update` with the runner's SearchSummary after every trial; :meth:`close` at the end."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 5.0, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.bar: Any = None
        self.task: Any = None
        self.last_line = 0.0
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.summary: Any = None

    def counts(self, s: Any) -> tuple[int, float, float]:
        """(trials done including evaluated-but-untold, trials per second this run, seconds left)."""
        done = min(s.budget, s.complete_after + s.pending)
        if self.first_done is None:
            self.first_done = s.complete_before
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (done - self.first_done) / elapsed
        left = (s.budget - done) / rate if rate > 0 else math.inf
        return done, rate, left

    def line(self, s: Any) -> str:
        done, rate, left = self.counts(s)
        return (f"dse search {s.study}: {done}/{s.budget} trials, {rate:.3g} trials/s, {_clock(left)} left; "
                f"{best_values_text(s)}")

    def update(self, s: Any) -> None:
        self.summary = s
        if not self.tty:
            now = time.monotonic()
            if now - self.last_line >= self.every_s:
                self.last_line = now
                print(self.line(s), file=self.stream, flush=True)
            return
        done, rate, left = self.counts(s)
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as Bar, TextColumn

            self.bar = Bar(TextColumn("search"), BarColumn(bar_width=16), TextColumn("{task.completed}/{task.total}"),
                           TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[left]}"),
                           TextColumn("{task.fields[best]}", table_column=None),
                           console=Console(file=self.stream), transient=False)
            self.bar.start()
            self.task = self.bar.add_task("search", total=s.budget, rate="", left="", best="")
        self.bar.update(self.task, completed=done, rate=f"{rate:.3g}/s", left=f"{_clock(left)} left",
                        best=best_values_text(s))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif not self.tty and self.summary is not None:
            print(self.line(self.summary), file=self.stream, flush=True)
