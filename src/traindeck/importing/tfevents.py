"""Decoding TensorBoard event records: scalars, images and hparams, fast.

Two paths over the records ``tfrecord.scan`` found:

* **The scalar fast path, vectorised.** Most of a long log is events of one shape, the one
  ``add_scalar`` of ``torch.utils.tensorboard`` and tensorboardX writes:
  ``Event{wall_time, step, summary{value{tag, simple_value}}}``. Its bytes are checked and
  decoded with numpy over all records at once (the wall time's 8 bytes, the step's varint,
  the tag's place, the float's 4 bytes), with no protobuf object per event.
* **Everything else, through protobuf** (TensorBoard's compiled ``event_pb2``, upb):
  scalars as TF2 ``tf.summary.scalar`` writes them (a 0-d tensor under the ``scalars``
  plugin, whose metadata only the first event of a tag carries), several values per
  event, step 0 (proto3 leaves a zero step out, so the fast shape does not match), images
  (``Summary.Image`` or the ``images`` plugin's tensor of encoded images), and the
  ``hparams`` plugin's session start info (its hyperparameters become the run's config).

Both paths give the same points; the unit tests check it on a log written by
``torch.utils.tensorboard.SummaryWriter``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .tfrecord import Records

INSTALL: Final = "pip install 'traindeck[tensorboard]'"
_EIGHT: Final = np.arange(8, dtype=np.int64)
_FOUR: Final = np.arange(4, dtype=np.int64)


class MissingTensorBoard(RuntimeError):
    """The ``tensorboard`` package (its compiled protos) is not installed."""


def protos() -> tuple[Any, Any, Any]:
    """``(event_pb2, hparams plugin_data_pb2, tensor_util)``, or :class:`MissingTensorBoard`."""
    try:
        event_pb2 = importlib.import_module("tensorboard.compat.proto.event_pb2")
        hparams = importlib.import_module("tensorboard.plugins.hparams.plugin_data_pb2")
        tensor_util = importlib.import_module("tensorboard.util.tensor_util")
    except ImportError:
        raise MissingTensorBoard(
            f"importing TensorBoard logs needs the tensorboard package: {INSTALL}") from None
    return event_pb2, hparams, tensor_util


@dataclass(slots=True)
class Decoded:
    """What a run's event records hold."""

    #: ``{tag: [(steps, times, values), ...]}``.
    scalars: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                                  npt.NDArray[np.float64]]]] = field(default_factory=dict)
    #: ``(tag, step, encoded image, extension)``.
    images: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    hparams: dict[str, Any] = field(default_factory=dict)
    #: The plugin of each tensor tag seen with metadata (TF2 writes it once per tag).
    plugins: dict[str, str] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return sum(len(s) for parts in self.scalars.values() for s, _, _ in parts)

    def add(self, tag: str, steps: Any, times: Any, values: Any) -> None:
        self.scalars.setdefault(tag, []).append((
            np.asarray(steps, dtype=np.int64), np.asarray(times, dtype=np.float64),
            np.asarray(values, dtype=np.float64)))


def image_ext(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _fast(rec: Records, idx: npt.NDArray[np.int64], out: Decoded) -> npt.NDArray[np.bool_]:
    """Decode the records ``idx`` of the simple scalar shape; returns which they were."""
    buf = rec.buf
    top = len(buf) - 1
    s = rec.starts[idx]
    n = rec.lengths[idx]

    def at(i: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return buf[np.minimum(i, top)].astype(np.int64)

    m: npt.NDArray[np.bool_] = (n >= 22) & (at(s) == 0x09) & (at(s + 9) == 0x10)
    q = s + 10
    step = np.zeros(len(s), dtype=np.uint64)
    k = np.zeros(len(s), dtype=np.int64)
    done = np.zeros(len(s), dtype=bool)
    for j in range(10):
        b = at(q + j)
        live = ~done
        step |= np.where(live, (b & 0x7F).astype(np.uint64) << np.uint64(7 * j), np.uint64(0))
        fin = live & (b < 0x80)
        k[fin] = j + 1
        done |= fin
    p = q + k
    tl = at(p + 5)
    m &= done & (at(p) == 0x2A) & (at(p + 2) == 0x0A) & (at(p + 4) == 0x0A) & (tl < 0x80)
    m &= (at(p + 1) == tl + 9) & (at(p + 3) == tl + 7) & (at(p + 6 + tl) == 0x15)
    m &= p + 11 + tl == s + n
    if not m.any():
        return m
    s, p, tl, step = s[m], p[m], tl[m], step[m]
    times = np.ascontiguousarray(buf[(s + 1)[:, None] + _EIGHT]).view("<f8").ravel()
    vals = np.ascontiguousarray(buf[(p + 7 + tl)[:, None] + _FOUR]).view("<f4").ravel()
    raw = buf.data
    tag_of: dict[bytes, int] = {}
    codes = np.fromiter((tag_of.setdefault(bytes(raw[a:a + b]), len(tag_of))
                         for a, b in zip((p + 6).tolist(), tl.tolist(), strict=True)),
                        dtype=np.int64, count=len(s))
    steps = step.view(np.int64)
    if len(tag_of) == 1:
        out.add(next(iter(tag_of)).decode("utf-8", "replace"), steps, times, vals)
        return m
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    for part in np.split(order, cuts):
        tag = list(tag_of)[int(codes[part[0]])]
        out.add(tag.decode("utf-8", "replace"), steps[part], times[part], vals[part])
    return m


def _hparams(value: Any, hparams_pb2: Any, out: Decoded) -> None:
    data = hparams_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    if not data.HasField("session_start_info"):
        return
    for name, v in data.session_start_info.hparams.items():
        kind = v.WhichOneof("kind")
        if kind == "number_value":
            num = v.number_value
            out.hparams[name] = int(num) if float(num).is_integer() and abs(num) < 2**53 \
                else num
        elif kind == "string_value":
            out.hparams[name] = v.string_value
        elif kind == "bool_value":
            out.hparams[name] = v.bool_value


def _slow(data: bytes, mods: tuple[Any, Any, Any], out: Decoded,
          single: dict[str, tuple[list[int], list[float], list[float]]]) -> None:
    event_pb2, hparams_pb2, tensor_util = mods
    ev = event_pb2.Event.FromString(data)
    if not ev.HasField("summary"):
        return
    step, when = ev.step, ev.wall_time
    for v in ev.summary.value:
        tag = v.tag
        if v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
            out.plugins[tag] = v.metadata.plugin_data.plugin_name
        plugin = out.plugins.get(tag, "")
        kind = v.WhichOneof("value")
        if kind == "simple_value":
            col = single.setdefault(tag, ([], [], []))
            col[0].append(step)
            col[1].append(when)
            col[2].append(v.simple_value)
        elif kind == "image":
            img = v.image.encoded_image_string
            ext = image_ext(img)
            if ext is not None:
                out.images.append((tag, step, img, ext))
        elif plugin == "hparams":
            _hparams(v, hparams_pb2, out)
        elif kind == "tensor" and plugin == "images":
            for img in list(v.tensor.string_val)[2:]:
                ext = image_ext(img)
                if ext is not None:
                    out.images.append((tag, step, img, ext))
        elif kind == "tensor" and plugin in ("scalars", ""):
            arr = tensor_util.make_ndarray(v.tensor)
            if arr.ndim == 0 and arr.dtype.kind in "fiub":
                col = single.setdefault(tag, ([], [], []))
                col[0].append(step)
                col[1].append(when)
                col[2].append(float(arr))


def decode(rec: Records, out: Decoded | None = None) -> Decoded:
    """The scalars, images and hparams of the records (corrupt ones skipped)."""
    out = out or Decoded()
    idx = np.flatnonzero(rec.ok)
    fast = _fast(rec, idx, out)
    rest = idx[~fast]
    if len(rest):
        mods = protos()
        single: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for i in rest.tolist():
            _slow(rec.data(i), mods, out, single)
        for tag, (st, tt, vv) in single.items():
            out.add(tag, st, tt, vv)
    return out


__all__ = ["INSTALL", "Decoded", "MissingTensorBoard", "decode", "image_ext", "protos"]
