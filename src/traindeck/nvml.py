"""NVIDIA GPUs through NVML (``pynvml``, the ``[gpu]`` extra), for whoever samples them: the
SDK's system sampler (the whole GPU) and the launcher (what a launched process tree holds).
Without the library, the driver or a device there is simply no GPU, with the reason."""

from __future__ import annotations

from typing import Any


class Nvml:
    """NVML, initialised once: ``handles`` (one per GPU, empty without any), ``lib`` (the
    ``pynvml`` module, ``None`` without GPUs) and ``error`` (why there are none)."""

    def __init__(self) -> None:
        self.lib: Any = None
        self.handles: list[Any] = []
        self.error: str | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                            for i in range(pynvml.nvmlDeviceGetCount())]
            self.lib = pynvml
        except Exception as exc:  # no library, no driver, no device: carry on without GPUs
            self.error = f"{type(exc).__name__}: {exc}"
            self.handles = []

    def close(self) -> None:
        if self.lib is not None:
            try:
                self.lib.nvmlShutdown()
            except Exception:
                pass
            self.lib = None
