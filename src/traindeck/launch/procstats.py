"""CPU, memory and GPU memory of a launched process tree, for scripts that do not sample
themselves (a script that does not import traindeck still gets its run's system panel).

The launcher calls :meth:`TreeStats.sample` on its tick (every :data:`SAMPLE_EVERY`
seconds) while the run is not sampling itself: a run the SDK attached to logs ``sys/*``
itself (it offers commands, so ``commands_offered`` is set), and then the launcher stops.

Keys are the SDK's own (``sdk/system.py``) so the dashboard shows them the same way:
``sys/proc_cpu_percent`` (summed over the tree; 100 = one core), ``sys/proc_rss_gb``
(summed resident memory), plus ``sys/proc_count`` (processes in the tree) and, when
``pynvml`` finds NVIDIA GPUs, ``sys/gpu{i}/proc_mem_used`` (bytes the tree holds on GPU
*i*). Without a driver, GPUs are skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import psutil

from traindeck.nvml import Nvml
from traindeck.store import NotFound, Store

#: Seconds between two samples of a launched process tree.
SAMPLE_EVERY: Final = 2.0
_GB: Final = 1024**3


class TreeStats:
    """Samples the process ``pid`` and all its descendants."""

    def __init__(self, pid: int, *, gpus: bool = True) -> None:
        self.pid = pid
        self._procs: dict[int, psutil.Process] = {}
        self._nvml: Any = None
        self._gpus: list[Any] = []
        self._nvml_gpus: Nvml | None = None
        if gpus:
            self._init_gpus()
        self.processes()  # prime cpu_percent: its first call has nothing to compare with

    def _init_gpus(self) -> None:
        self._nvml_gpus = Nvml()
        self._gpus, self._nvml = self._nvml_gpus.handles, self._nvml_gpus.lib

    def processes(self) -> list[psutil.Process]:
        """The tree's live processes (the same ``Process`` objects from call to call, so
        that their CPU percent is measured since the last sample)."""
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            self._procs = {}
            return []
        procs: dict[int, psutil.Process] = {}
        for p in found:
            known = self._procs.get(p.pid)
            if known is None:
                try:
                    p.cpu_percent(None)  # a new process: start measuring
                except psutil.Error:
                    continue
                known = p
            procs[p.pid] = known
        self._procs = procs
        return list(procs.values())

    def sample(self) -> dict[str, float]:
        """The tree's figures now; empty when the tree is gone."""
        procs = self.processes()
        if not procs:
            return {}
        cpu = rss = 0.0
        count = 0
        for p in procs:
            try:
                with p.oneshot():
                    if p.status() == psutil.STATUS_ZOMBIE:
                        continue
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
                count += 1
            except psutil.Error:
                continue
        out = {"sys/proc_cpu_percent": cpu, "sys/proc_rss_gb": rss / _GB,
               "sys/proc_count": float(count)}
        self._gpu_memory(out, {p.pid for p in procs})
        return out

    def _gpu_memory(self, out: dict[str, float], pids: set[int]) -> None:
        nvml = self._nvml
        for i, handle in enumerate(self._gpus):
            try:
                used = 0
                for fn in (nvml.nvmlDeviceGetComputeRunningProcesses,
                           nvml.nvmlDeviceGetGraphicsRunningProcesses):
                    for info in fn(handle):
                        if info.pid in pids and isinstance(info.usedGpuMemory, int):
                            used += info.usedGpuMemory
                out[f"sys/gpu{i}/proc_mem_used"] = float(used)
            except Exception:
                continue

    def close(self) -> None:
        if self._nvml_gpus is not None:
            self._nvml_gpus.close()
        self._nvml = None


class RunTreeStats:
    """Writes a launched run's tree figures as its ``sys/`` series, one step per sample
    (continuing after the run's existing ``sys/`` steps), until the run samples itself."""

    def __init__(self, store: Store, run_id: str, stats: TreeStats, *,
                 clock: Callable[[], float] = time.time, every: float = SAMPLE_EVERY) -> None:
        self.store, self.run_id, self.stats = store, run_id, stats
        self._clock, self._every = clock, every
        self._next = clock() + every
        self._step: int | None = None
        self.off = False  # the run samples itself (or is gone)

    def due(self, now: float) -> bool:
        return not self.off and now >= self._next

    def tick(self, now: float) -> bool:
        """Sample and write when it is time; whether a point was written (it also
        heartbeats the run)."""
        if not self.due(now):
            return False
        self._next = now + self._every
        try:
            run = self.store.get_run(self.run_id)
            if run.commands_offered:  # the SDK attached: it samples the system itself
                self.close()
                return False
            if self._step is None:
                last = [s.last_step for s in self.store.metric_keys(self.run_id)
                        if s.key.startswith("sys/") and s.last_step is not None]
                self._step = max(last) + 1 if last else 0
            values = self.stats.sample()
            if not values:
                return False
            step = self._step
            self._step += 1
            self.store.write_metrics(
                self.run_id, {k: ([step], [now], [v]) for k, v in values.items()},
                heartbeat=now)
        except NotFound:
            self.close()
            return False
        return True

    def close(self) -> None:
        self.off = True
        self.stats.close()
