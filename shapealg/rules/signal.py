"""Signal processing: DFT, STFT, the window functions, MelWeightMatrix."""
from __future__ import annotations

from typing import Optional

from ..costmodel import free_cost
from ..dims import MaybeDim, as_dim, floordiv
from ..enums import DType
from ..records import Value
from ._util import norm_axis
from .data_dependent import data_dependent_symbol
from .elementwise import elementwise_cost
from .registry import NodeContext, RuleError, describe, register


def scalar_int(ctx: NodeContext, v: Optional[Value], what: str) -> MaybeDim:
    """The value of a scalar (or 1-element) integer input; None (with a note) when it is computed at run time."""
    if v is None:
        return None
    if v.value is not None and len(v.value) == 1:
        x = v.value[0]
        if isinstance(x, float):
            if not x.is_integer():
                raise RuleError(f"{what} is not an integer ({x})")
            x = int(x)
        return as_dim(x)
    ctx.warn(f"{what} is computed at run time and could not be derived; what depends on it is unknown")
    return None


def _dft(ctx: NodeContext, x: Value, length: Optional[Value], axis: Optional[int], axis_known: bool,
         inverse: int, onesided: int):
    r = len(x.shape)
    if r < 3:
        raise RuleError(f"input rank {r}: DFT needs (batch, ..., signal, 1 or 2)")
    if x.shape[-1] is not None:
        ctx.require(x.shape[-1] in (1, 2) if isinstance(x.shape[-1], int) else False,
                    f"the last dim {x.shape[-1]} must be 1 (real) or 2 (complex)")
    irfft = bool(onesided and inverse)  # a one-sided complex spectrum back to a real signal: last dim 1
    if irfft and x.shape[-1] is not None:
        ctx.require_equal(x.shape[-1], 2, "an inverse one-sided DFT (IRFFT) needs complex input (last dim 2)")
    out = list(x.shape[:-1]) + [1 if irfft else 2]
    if not axis_known:  # the axis is computed at run time: every signal dim may change
        return Value(tuple([None] * (r - 1) + [out[-1]]), x.dtype)
    if axis < -r or axis >= r - 1 or (-r <= axis < 0 and axis + r >= r - 1):
        raise RuleError(f"axis {axis} out of range for rank {r}")
    a = norm_axis(axis, r)
    n = x.shape[a]
    if irfft and n is not None:  # n_fft of a one-sided spectrum of n bins: 2 * (n - 1)
        n = as_dim(2 * (n - 1))
    if length is not None:
        n = scalar_int(ctx, length, "dft_length")
        if n is not None:
            ctx.require_positive(n, "dft_length")
    if onesided and not inverse and n is not None:
        n = as_dim(floordiv(n, 2) + 1)
    out[a] = n
    return Value(tuple(out), x.dtype)


@register("DFT", since=17, until=19, cost=elementwise_cost)  # spec: https://onnx.ai/onnx/operators/onnx__DFT.html
def dft17(ctx: NodeContext, x: Value, length: Optional[Value] = None, *, axis=1, inverse=0, onesided=0):
    return _dft(ctx, x, length, axis, True, inverse, onesided)


@register("DFT", since=20, cost=elementwise_cost)
def dft20(ctx: NodeContext, x: Value, length: Optional[Value] = None, axis_in: Optional[Value] = None, *,
          inverse=0, onesided=0):
    axis, known = -2, True
    if axis_in is not None:
        a = scalar_int(ctx, axis_in, "axis")
        known = isinstance(a, int)
        axis = a if known else 0
    return _dft(ctx, x, length, axis, known, inverse, onesided)


@register("STFT", since=17, cost=elementwise_cost)  # spec: https://onnx.ai/onnx/operators/onnx__STFT.html
def stft(ctx: NodeContext, signal: Value, frame_step: Value, window: Optional[Value] = None,
         frame_length: Optional[Value] = None, *, onesided=1):
    """signal (batch, length, 1|2): (batch, floor((length - frame_length) / frame_step) + 1, bins, 2), bins =
    floor(frame_length / 2) + 1 when onesided, else frame_length."""
    if len(signal.shape) != 3:
        raise RuleError(f"signal must have rank 3, got {len(signal.shape)}")
    step = scalar_int(ctx, frame_step, "frame_step")
    fl: MaybeDim = None
    if frame_length is not None:
        fl = scalar_int(ctx, frame_length, "frame_length")
        if window is not None and window.shape is not None and len(window.shape) == 1 and fl is not None:
            ctx.require_equal(window.shape[0], fl, f"window length {window.shape[0]} must equal frame_length {fl}")
    elif window is not None:
        if window.shape is None or len(window.shape) != 1:
            raise RuleError("window must be 1-D")
        fl = window.shape[0]
    else:
        raise RuleError("neither window nor frame_length given")
    frames = None
    if step is not None and fl is not None and signal.shape[1] is not None:
        ctx.require_positive(step, "frame_step")
        ctx.require_positive(fl, "frame_length")
        frames = as_dim(floordiv(signal.shape[1] - fl, step) + 1)
        ctx.require_positive(frames, "the number of frames (the signal must hold one frame)")
    bins = None if fl is None else (as_dim(floordiv(fl, 2) + 1) if onesided else fl)
    return Value((signal.shape[0], frames, bins, 2), signal.dtype)


@register("HannWindow", "HammingWindow", "BlackmanWindow", since=17, cost=free_cost)
def window(ctx: NodeContext, size: Value, *, output_datatype=1, periodic=1):
    n = scalar_int(ctx, size, "size") if size.value is not None else None
    if n is None:
        n = data_dependent_symbol(ctx, "win", "the window size")
    else:
        ctx.require_nonnegative(n, "window size")
    return Value((n,), int(output_datatype))


@register("MelWeightMatrix", since=17, cost=free_cost)
def mel_weight_matrix(ctx: NodeContext, num_mel_bins: Value, dft_length: Value, sample_rate: Value,
                      lower: Value, upper: Value, *, output_datatype=1):
    """(floor(dft_length / 2) + 1, num_mel_bins)."""
    mel = scalar_int(ctx, num_mel_bins, "num_mel_bins") if num_mel_bins.value is not None else None
    dl = scalar_int(ctx, dft_length, "dft_length") if dft_length.value is not None else None
    if mel is None:
        mel = data_dependent_symbol(ctx, "mel", "num_mel_bins")
    if dl is None:
        dl = data_dependent_symbol(ctx, "dftlen", "dft_length")
    return Value((as_dim(floordiv(dl, 2) + 1), mel), int(output_datatype))


describe("DFT", "STFT", cost=elementwise_cost)
_ = DType
