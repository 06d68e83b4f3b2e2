"""``traindeck tail RUN``: a live terminal view of one run, read from the store.

Each frame shows the run's status, its progress, speed and ETA, the latest value of
every metric with a sparkline of its recent points, and the newest events. The view
refreshes about four times a second until the run ends (or Ctrl-C); ``--once`` prints a
single frame and exits.

When stdout is not a terminal (a pipe, a file, ``| grep``) there is no screen to redraw:
the first frame is printed as ``--once`` prints it, then the run is followed with plain
lines, one per new event and one per new training step (its metrics' latest values),
flushed as they come, until the run ends.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from traindeck.speed import Speed, estimate, observe
from traindeck.store import TERMINAL_STATUSES, Event, Run, Store

from .output import cli_errors, console, duration, number, run_duration, status_badge, when
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store, resolve_run

SPARK_CHARS: Final = "▁▂▃▄▅▆▇█"
#: Points drawn in each sparkline.
SPARK_POINTS: Final = 32
#: Events kept on screen.
EVENT_LINES: Final = 8


def sparkline(values: Sequence[float], width: int = SPARK_POINTS) -> Text:
    """The last ``width`` values as block characters scaled between their min and max;
    NaN and infinities are a red ``!`` (they are exactly what a user must notice)."""
    values = list(values)[-width:]
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    text = Text()
    for v in values:
        if not math.isfinite(v):
            text.append("!", style="bold red")
        elif hi == lo:
            text.append(SPARK_CHARS[len(SPARK_CHARS) // 2], style="cyan")
        else:
            index = int((v - lo) / (hi - lo) * (len(SPARK_CHARS) - 1) + 0.5)
            text.append(SPARK_CHARS[index], style="cyan")
    return text


@dataclass(frozen=True, slots=True)
class MetricView:
    key: str
    step: int | None
    value: float | None
    min: float | None
    max: float | None
    recent: list[float]
    #: When the last point was logged.
    time: float | None = None


@dataclass(slots=True)
class EventFeed:
    """The newest events of a run, kept up to date by reading only what is new."""

    run_id: str
    after_seq: int = 0
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=EVENT_LINES))

    def update(self, store: Store, batch: int = 500) -> list[Event]:
        """Read the events after the last one seen; returns them (oldest first)."""
        new: list[Event] = []
        while True:
            events = store.list_events(self.run_id, after_seq=self.after_seq, limit=batch)
            self.recent.extend(events)
            new.extend(events)
            if events:
                self.after_seq = events[-1].seq
            if len(events) < batch:
                return new


@dataclass(frozen=True, slots=True)
class Frame:
    run: Run
    metrics: list[MetricView]
    events: list[Event]
    now: float
    #: Events read for this frame that earlier frames did not have.
    new_events: list[Event] = field(default_factory=list)
    #: The speed ``tail`` measured itself, from frame to frame (see :func:`pace`).
    speed: Speed | None = None


def recent_points(store: Store, run_id: str, key: str, count: int,
                  first_step: int | None, last_step: int | None, n: int) -> list[float]:
    """About the last ``n`` values of a series, read by a step window sized from its density."""
    if last_step is None or first_step is None or count == 0:
        return []
    spacing = (last_step - first_step) / (count - 1) if count > 1 else 1.0
    window = math.ceil(spacing * n) + 1
    points = store.read_points(run_id, key, after_step=last_step - window)
    return [float(v) for v in points.values[-n:]]


def read_frame(store: Store, run_id: str, feed: EventFeed, *, spark: int = SPARK_POINTS,
               speed: Speed | None = None) -> Frame:
    """A frame of the run; ``speed`` is the previous frame's, carried on."""
    run = store.get_run(run_id)
    views = []
    for s in store.metric_keys(run_id):
        views.append(MetricView(
            key=s.key, step=s.last_step, value=s.last_value, min=s.min, max=s.max,
            recent=recent_points(store, run_id, s.key, s.count, s.first_step, s.last_step,
                                 spark),
            time=s.last_time,
        ))
    # Training metrics first, system load after.
    views.sort(key=lambda v: (v.key.startswith("sys/"), v.key))
    tops = [(v.step, v.time) for v in views
            if not v.key.startswith("sys/") and v.step is not None and v.time is not None]
    if tops:
        speed = observe(speed, *max(tops))
    new = feed.update(store)
    return Frame(run=run, metrics=views, events=list(feed.recent), now=time.time(),
                 new_events=new, speed=speed)


def pace(frame: Frame) -> tuple[float | None, float | None, float | None]:
    """``(progress, steps_per_s, eta_s)``: measured by ``tail`` itself from frame to frame
    (so it needs no server), and until it has one, the speed a server stored on the run."""
    run = frame.run
    rate = None if frame.speed is None else frame.speed.rate
    return estimate(run.status, training_step(frame), run.total_steps,
                    run.steps_per_s if rate is None else rate)


def pace_text(frame: Frame) -> str:
    """``42% of 1000  12.3 steps/s  ETA 3m20s``: what is known of it ('' for nothing)."""
    progress, rate, eta = pace(frame)
    parts = []
    if progress is not None:
        parts.append(f"{progress:.0%} of {frame.run.total_steps}")
    if rate is not None:
        parts.append(f"{rate:.3g} steps/s")
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    return "  ".join(parts)


def describe_event(event: Event) -> str:
    p: dict[str, Any] = event.payload
    if event.kind == "status_change":
        old = p.get("old_status") or "new"
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return f"{old} → {p.get('new_status')}{reason}"
    if event.kind == "command":
        detail = p.get("error") or p.get("result")
        tail = "" if detail is None else ": " + (
            detail if isinstance(detail, str) else json.dumps(detail, default=str))
        return f"{p.get('name')} {p.get('status')}{tail}"
    return ", ".join(f"{k}={v}" for k, v in p.items())


def event_line(event: Event) -> str:
    """One event as a plain line: ``HH:MM:SS kind description``."""
    return f"{when(event.time)[11:]} {event.kind} {describe_event(event)[:300]}"


@dataclass(slots=True)
class PlainFollower:
    """Follows a run as plain lines (for a pipe or a file): each new event, and each new
    training step with the latest value of every training metric at or before it."""

    out: Console
    last_step: int | None = None

    def start(self, frame: Frame) -> None:
        self.out.print(render(frame))
        self.last_step = training_step(frame)
        self.out.file.flush()

    def update(self, frame: Frame) -> None:
        for e in frame.new_events:
            self.out.print(event_line(e), highlight=False, soft_wrap=True)
        step = training_step(frame)
        if step is not None and (self.last_step is None or step > self.last_step):
            self.last_step = step
            values = "  ".join(f"{m.key} {number(m.value)}" for m in frame.metrics
                               if not m.key.startswith("sys/") and m.value is not None)
            paced = pace_text(frame)
            self.out.print(f"step {step}  {values}" + (f"  | {paced}" if paced else ""),
                           highlight=False, soft_wrap=True)
        self.out.file.flush()


def training_step(frame: Frame) -> int | None:
    """The highest step any training (non ``sys/``) metric reached."""
    steps = [m.step for m in frame.metrics if m.step is not None and not m.key.startswith("sys/")]
    return max(steps) if steps else None


def render(frame: Frame) -> RenderableType:
    run = frame.run
    step = training_step(frame)
    beat = "-" if run.heartbeat_at is None else duration(frame.now - run.heartbeat_at) + " ago"
    paced = pace_text(frame)
    head = Text.assemble(
        (run.id, "bold"), f"  {run.project}/{run.name}  ", status_badge(run.status),
        f"  step {'-' if step is None else step}",
        (f"  {paced}", "cyan") if paced else "",
        f"  elapsed {duration(run_duration(run.started_at, run.ended_at, now=lambda: frame.now))}",
        f"  heartbeat {beat}" if run.status not in TERMINAL_STATUSES else "",
    )
    metrics = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    metrics.add_column("metric", no_wrap=True)
    metrics.add_column("step", justify="right", no_wrap=True)
    metrics.add_column("last", justify="right", no_wrap=True)
    metrics.add_column("min", justify="right", no_wrap=True)
    metrics.add_column("max", justify="right", no_wrap=True)
    metrics.add_column("recent", no_wrap=True)
    for m in frame.metrics:
        metrics.add_row(m.key, "-" if m.step is None else str(m.step), number(m.value),
                        number(m.min), number(m.max), sparkline(m.recent))
    events = Table(box=None, show_header=False, pad_edge=False)
    events.add_column(no_wrap=True, style="dim")
    events.add_column(no_wrap=True)
    events.add_column(overflow="fold")
    for e in frame.events:
        events.add_row(when(e.time)[11:], e.kind, describe_event(e)[:300])
    return Group(
        Panel(head, title="traindeck tail", title_align="left"),
        Panel(metrics if frame.metrics else Text("(no metrics yet)", style="dim"),
              title="metrics", title_align="left"),
        Panel(events if frame.events else Text("(no events)", style="dim"),
              title="events", title_align="left"),
    )


@cli_errors
def tail(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or its unique start).")],
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    interval: Annotated[float, typer.Option(
        "--interval", min=0.05, help="Seconds between refreshes.")] = 0.25,
) -> None:
    """Watch a run live: status, progress, speed and ETA, latest metrics with sparklines,
    recent events.

    Into a pipe or a file it prints the first view, then plain lines (new events, new
    steps) as the run goes, until it ends.
    """
    out = console()
    with open_existing_store(dir, store_url) as store:
        run_id = resolve_run(store, ref=run_ref).id
        feed = EventFeed(run_id)
        frame = read_frame(store, run_id, feed)
        if once:
            out.print(render(frame))
            return
        if not out.is_terminal:
            follow_plain(store, run_id, feed, frame, out, interval)
            return
        try:
            with Live(render(frame), console=out, refresh_per_second=1 / interval,
                      auto_refresh=False) as live:
                while frame.run.status not in TERMINAL_STATUSES:
                    time.sleep(interval)
                    frame = read_frame(store, run_id, feed, speed=frame.speed)
                    live.update(render(frame), refresh=True)
        except KeyboardInterrupt:
            return
    out.print(Text.assemble(f"run {run_id} ended: ", status_badge(frame.run.status)))


def follow_plain(store: Store, run_id: str, feed: EventFeed, frame: Frame, out: Console,
                 interval: float) -> None:
    """``tail`` into a pipe or file: plain lines as the run goes, until it ends."""
    follower = PlainFollower(out)
    follower.start(frame)
    try:
        while frame.run.status not in TERMINAL_STATUSES:
            time.sleep(interval)
            frame = read_frame(store, run_id, feed, speed=frame.speed)
            follower.update(frame)
    except (KeyboardInterrupt, BrokenPipeError):
        return
    out.print(Text.assemble(f"run {run_id} ended: ", status_badge(frame.run.status)))
    out.file.flush()
