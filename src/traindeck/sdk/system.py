"""System load sampling: CPU, memory, disk, network (psutil) and NVIDIA GPUs (NVML).

The sampler returns plain ``{key: value}`` dicts under ``sys/``; the run's background thread
logs them as ordinary series. Without an NVIDIA driver (``pynvml`` missing or
``nvmlInit`` failing) it samples everything else and says so once in ``gpu_error``.

Keys: ``sys/cpu_percent``, ``sys/mem_percent``, ``sys/mem_used_gb``, ``sys/proc_rss_gb``,
``sys/proc_cpu_percent``, ``sys/disk_percent``, ``sys/disk_read_mbps``,
``sys/disk_write_mbps``, ``sys/net_sent_mbps``, ``sys/net_recv_mbps``, and per GPU *i*:
``sys/gpu{i}/util``, ``sys/gpu{i}/mem_used`` (bytes), ``sys/gpu{i}/mem_total`` (bytes),
``sys/gpu{i}/mem_percent``, ``sys/gpu{i}/temp_c``, ``sys/gpu{i}/power_w``.

``prefix`` replaces ``sys/``: one rank of a distributed job samples under ``sys/rank{r}/``
(``ranks.py``), so every rank's load has its own series in the shared run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import psutil

from ..nvml import Nvml

_GB = 1024**3
_MB = 1024**2


class SystemSampler:
    def __init__(self, disk_path: str | os.PathLike[str] = ".", *, gpus: bool = True,
                 clock: Callable[[], float] = time.monotonic, prefix: str = "sys/") -> None:
        self._disk_path = os.fspath(disk_path)
        self._prefix = prefix
        self._clock = clock
        self._proc = psutil.Process()
        self._last_io: tuple[float, Any, Any] | None = None
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._gpu_lib: Nvml | None = None
        self.gpu_error: str | None = None
        psutil.cpu_percent(interval=None)  # prime: the first call has nothing to compare with
        self._proc.cpu_percent(interval=None)
        if gpus:
            self._init_gpus()
        else:
            self.gpu_error = "GPU sampling disabled"

    def _init_gpus(self) -> None:
        gpus = Nvml()
        self._nvml, self._handles, self._gpu_lib = gpus.lib, gpus.handles, gpus
        if gpus.error is not None:
            self.gpu_error = gpus.error

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        out["sys/cpu_percent"] = float(psutil.cpu_percent(interval=None))
        vm = psutil.virtual_memory()
        out["sys/mem_percent"] = float(vm.percent)
        out["sys/mem_used_gb"] = (vm.total - vm.available) / _GB
        try:
            out["sys/proc_rss_gb"] = self._proc.memory_info().rss / _GB
            out["sys/proc_cpu_percent"] = float(self._proc.cpu_percent(interval=None))
        except psutil.Error:
            pass
        try:
            out["sys/disk_percent"] = float(psutil.disk_usage(self._disk_path).percent)
        except OSError:
            pass
        self._io_rates(out)
        self._gpus(out)
        if self._prefix != "sys/":
            prefix = self._prefix
            return {prefix + k[4:]: v for k, v in out.items()}
        return out

    def _io_rates(self, out: dict[str, float]) -> None:
        now = self._clock()
        try:
            disk = psutil.disk_io_counters()
        except Exception:
            disk = None
        try:
            net = psutil.net_io_counters()
        except Exception:
            net = None
        if self._last_io is not None:
            then, last_disk, last_net = self._last_io
            dt = max(now - then, 1e-6)
            if disk is not None and last_disk is not None:
                out["sys/disk_read_mbps"] = (disk.read_bytes - last_disk.read_bytes) / _MB / dt
                out["sys/disk_write_mbps"] = (disk.write_bytes - last_disk.write_bytes) / _MB / dt
            if net is not None and last_net is not None:
                out["sys/net_sent_mbps"] = (net.bytes_sent - last_net.bytes_sent) / _MB / dt
                out["sys/net_recv_mbps"] = (net.bytes_recv - last_net.bytes_recv) / _MB / dt
        self._last_io = (now, disk, net)

    def _gpus(self, out: dict[str, float]) -> None:
        nv = self._nvml
        for i, h in enumerate(self._handles):
            p = f"sys/gpu{i}/"
            for name, read in (
                ("util", lambda h=h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                ("temp_c", lambda h=h: float(nv.nvmlDeviceGetTemperature(h, 0))),
                ("power_w", lambda h=h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
            ):
                try:
                    out[p + name] = read()
                except Exception:  # a field this GPU does not report
                    pass
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                out[p + "mem_used"] = float(mem.used)
                out[p + "mem_total"] = float(mem.total)
                out[p + "mem_percent"] = 100.0 * mem.used / mem.total if mem.total else 0.0
            except Exception:
                pass

    def close(self) -> None:
        if self._gpu_lib is not None:
            self._gpu_lib.close()
        self._nvml = None
