"""Ops that move data between channels and space or sample it: DepthToSpace / SpaceToDepth, GridSample,
AffineGrid, Col2Im, RoiAlign, MaxUnpool, CenterCropPad, ReverseSequence."""
from __future__ import annotations

from typing import Optional

import sympy

from ..dims import MaybeDim, as_dim, exactdiv, mod, prod
from ..formulas import conv_out
from ..records import Value
from ._util import const_ints, norm_axis, spatial_list
from ..costmodel import free_cost
from .registry import NodeContext, RuleError, describe, register
from .shape_ops import dims_of as _dims


def require_divisible(ctx: NodeContext, n: MaybeDim, d: int, reason: str) -> MaybeDim:
    """States d | n and returns n / d."""
    if n is None:
        return None
    r = mod(n, d)
    if r != 0:
        ctx.require(sympy.Eq(sympy.sympify(r), 0) if not isinstance(r, int) else False, reason)
    return exactdiv(n, d)


@register("DepthToSpace")
def depth_to_space(ctx: NodeContext, x: Value, *, blocksize=None, mode="DCR"):
    """(N, C, H, W) -> (N, C / b^2, H * b, W * b); b^2 must divide C."""
    if blocksize is None or blocksize < 1:
        raise RuleError(f"blocksize {blocksize} must be a positive integer")
    if len(x.shape) != 4:
        raise RuleError(f"input must have rank 4, got {len(x.shape)}")
    n, c, h, w = x.shape
    b = blocksize
    c2 = require_divisible(ctx, c, b * b, f"channels {c} must be divisible by blocksize^2 = {b * b}")
    return Value((n, c2, None if h is None else as_dim(h * b), None if w is None else as_dim(w * b)), x.dtype)


@register("SpaceToDepth")
def space_to_depth(ctx: NodeContext, x: Value, *, blocksize=None):
    """(N, C, H, W) -> (N, C * b^2, H / b, W / b); b must divide H and W."""
    if blocksize is None or blocksize < 1:
        raise RuleError(f"blocksize {blocksize} must be a positive integer")
    if len(x.shape) != 4:
        raise RuleError(f"input must have rank 4, got {len(x.shape)}")
    n, c, h, w = x.shape
    b = blocksize
    h2 = require_divisible(ctx, h, b, f"height {h} must be divisible by blocksize {b}")
    w2 = require_divisible(ctx, w, b, f"width {w} must be divisible by blocksize {b}")
    return Value((n, None if c is None else as_dim(c * b * b), h2, w2), x.dtype)


@register("GridSample", since=16)
def grid_sample(ctx: NodeContext, x: Value, grid: Value, *, align_corners=0, mode="linear", padding_mode="zeros"):
    """X (N, C, D1..Dr), grid (N, D1_out..Dr_out, r) -> (N, C, D1_out..Dr_out)."""
    r = len(x.shape) - 2
    if r < 1:
        raise RuleError(f"input must have rank >= 3, got {len(x.shape)}")
    if len(grid.shape) != r + 2:
        raise RuleError(f"grid must have rank {r + 2} for a rank-{r + 2} input, got {len(grid.shape)}")
    ctx.require_equal(x.shape[0], grid.shape[0], f"batch: input {x.shape[0]}, grid {grid.shape[0]}")
    ctx.require_equal(grid.shape[-1], r, f"the grid's last dim is {grid.shape[-1]}, must be {r} (the spatial rank)")
    return Value((x.shape[0], x.shape[1], *grid.shape[1:-1]), x.dtype)


@register("AffineGrid", since=20)
def affine_grid(ctx: NodeContext, theta: Value, size: Value, *, align_corners=0):
    """theta (N, 2, 3) and size (N, C, H, W) -> (N, H, W, 2); theta (N, 3, 4), size (N, C, D, H, W) ->
    (N, D, H, W, 3)."""
    dims = _dims(size, "size")
    if dims is None:
        n = size.shape[0] if size.shape else None
        if not isinstance(n, int):
            raise RuleError("size is computed at run time and its length is unknown")
        ctx.warn(f"size is computed at run time and could not be derived; "
                 f"output dims unknown")
        return Value((theta.shape[0] if theta.shape else None,) + (None,) * (n - 1), theta.dtype)
    if len(dims) not in (4, 5):
        raise RuleError(f"size must have 4 or 5 entries, got {len(dims)}")
    k = len(dims) - 2
    if theta.shape is not None:
        if len(theta.shape) != 3:
            raise RuleError(f"theta must have rank 3, got {len(theta.shape)}")
        ctx.require_equal(theta.shape[0], dims[0], f"batch: theta has {theta.shape[0]}, size says {dims[0]}")
        ctx.require_equal(theta.shape[1], k, f"theta is (N, {theta.shape[1]}, ...), must be (N, {k}, {k + 1})")
        ctx.require_equal(theta.shape[2], k + 1, f"theta is (N, ..., {theta.shape[2]}), must be (N, {k}, {k + 1})")
    return Value((dims[0], *dims[2:], k), theta.dtype)


@register("Col2Im", since=18)
def col2im(ctx: NodeContext, x: Value, image_shape: Value, block_shape: Value, *, dilations=None, pads=None,
           strides=None):
    """(N, C * prod(block), L) -> (N, C, *image_shape); L must equal the number of sliding blocks,
    prod_i floor((image_i + pads - dilation*(block_i - 1) - 1) / stride) + 1."""
    img = _dims(image_shape, "image_shape")
    blk = const_ints(block_shape, "block_shape")
    if len(x.shape) != 3:
        raise RuleError(f"input must have rank 3, got {len(x.shape)}")
    k = len(blk)
    if img is None:
        ctx.warn(f"image_shape is computed at run time and could not be derived; "
                 f"spatial dims unknown")
        img = [None] * k
    if len(img) != k:
        raise RuleError(f"image_shape has {len(img)} entries, block_shape {k}")
    st = spatial_list(strides, k, 1)
    dil = spatial_list(dilations, k, 1)
    p = spatial_list(pads, 2 * k, 0) if pads is not None else [0] * (2 * k)
    kb = prod(blk)
    c = require_divisible(ctx, x.shape[1], kb, f"dim 1 ({x.shape[1]}) must be divisible by the block size {kb}")
    blocks = [conv_out(img[i], blk[i], st[i], p[i], dil[i], False, p[i + k]) for i in range(k)]
    for i, b in enumerate(blocks):
        ctx.require_positive(b, f"sliding blocks along image axis {i}")
    if all(b is not None for b in blocks):
        ctx.require_equal(x.shape[2], prod(blocks), f"dim 2 ({x.shape[2]}) must equal the number of sliding "
                                                    f"blocks {prod(blocks)}")
    return Value((x.shape[0], c, *img), x.dtype)


@register("RoiAlign", since=10)
def roi_align(ctx: NodeContext, x: Value, rois: Value, batch_indices: Value, *, output_height=1, output_width=1,
              **_):
    """X (N, C, H, W), rois (R, 4), batch_indices (R) -> (R, C, output_height, output_width)."""
    if len(x.shape) != 4:
        raise RuleError(f"input must have rank 4, got {len(x.shape)}")
    if rois.shape is not None:
        if len(rois.shape) != 2:
            raise RuleError(f"rois must have rank 2, got {len(rois.shape)}")
        ctx.require_equal(rois.shape[1], 4, f"rois are (R, {rois.shape[1]}), must be (R, 4)")
    r = rois.shape[0] if rois.shape is not None else None
    if batch_indices.shape is not None and rois.shape is not None:
        ctx.require_equal(batch_indices.shape[0], r, f"{batch_indices.shape[0]} batch indices for {r} rois")
    if r is None and batch_indices.shape is not None:
        r = batch_indices.shape[0]
    return Value((r, x.shape[1], output_height, output_width), x.dtype)


@register("MaxUnpool", since=9)
def max_unpool(ctx: NodeContext, x: Value, indices: Value, output_shape: Optional[Value] = None, *,
               kernel_shape=None, pads=None, strides=None):
    """(N, C, D...) -> (N, C, (D - 1) * stride - pad_begin - pad_end + kernel ...), or output_shape."""
    if kernel_shape is None:
        raise RuleError("kernel_shape attribute missing")
    n = len(kernel_shape)
    if len(x.shape) != n + 2:
        raise RuleError(f"input rank {len(x.shape)} does not match the {n}-D kernel")
    if indices.shape is not None:
        for i, (a, b) in enumerate(zip(x.shape, indices.shape)):
            ctx.require_equal(a, b, f"axis {i}: input {a}, indices {b} (they must have the same shape)")
    if output_shape is not None:
        dims = _dims(output_shape, "output_shape")
        if dims is None:
            ctx.warn(f"output_shape is computed at run time and could not be "
                     f"derived; output dims unknown")
            return Value((None,) * len(x.shape), x.dtype)
        return Value(tuple(dims), x.dtype)
    st = spatial_list(strides, n, 1)
    p = spatial_list(pads, 2 * n, 0) if pads is not None else [0] * (2 * n)
    sp = []
    for i in range(n):
        d = x.shape[2 + i]
        o = None if d is None else as_dim((d - 1) * st[i] - p[i] - p[i + n] + kernel_shape[i])
        ctx.require_positive(o, f"output spatial axis {i}")
        sp.append(o)
    return Value((*x.shape[:2], *sp), x.dtype)


@register("CenterCropPad", since=18)
def center_crop_pad(ctx: NodeContext, x: Value, shape: Value, *, axes=None):
    """The input with each listed axis cropped or padded (centred) to the given length."""
    r = len(x.shape)
    ax = list(range(r)) if axes is None else [norm_axis(a, r) for a in axes]
    dims = _dims(shape, "shape")
    out = list(x.shape)
    if dims is None:
        ctx.warn(f"the target shape is computed at run time and could not "
                 f"be derived; cropped / padded dims unknown")
        for a in ax:
            out[a] = None
        return Value(tuple(out), x.dtype)
    if len(dims) != len(ax):
        raise RuleError(f"{len(dims)} target lengths for {len(ax)} axes")
    for a, d in zip(ax, dims):
        out[a] = d
    return Value(tuple(out), x.dtype)


@register("ReverseSequence", since=10)
def reverse_sequence(ctx: NodeContext, x: Value, sequence_lens: Value, *, batch_axis=1, time_axis=0):
    """Shape kept; one length per batch entry."""
    if len(x.shape) < 2:
        raise RuleError(f"input must have rank >= 2, got {len(x.shape)}")
    b = x.shape[norm_axis(batch_axis, len(x.shape))]
    if sequence_lens.shape is not None:
        if len(sequence_lens.shape) != 1:
            raise RuleError(f"sequence_lens must be 1-D, got rank {len(sequence_lens.shape)}")
        ctx.require_equal(sequence_lens.shape[0], b, f"{sequence_lens.shape[0]} sequence lengths for batch {b}")
    return Value(x.shape, x.dtype)


describe("DepthToSpace", "SpaceToDepth", cost=free_cost)


@register("MaxRoiPool", cost=free_cost)
def max_roi_pool(ctx: NodeContext, x: Value, rois: Value, *, pooled_shape=None, spatial_scale=1.0):
    """X (N, C, H, W), rois (num_rois, 5): (num_rois, C, pooled_h, pooled_w)."""
    if pooled_shape is None or len(pooled_shape) != 2:
        raise RuleError("pooled_shape attribute missing (two values)")
    if len(x.shape) != 4:
        raise RuleError(f"X must have rank 4, got {len(x.shape)}")
    n = None
    if rois.shape is not None and len(rois.shape) == 2:
        ctx.require_equal(rois.shape[1], 5, f"rois' second dim {rois.shape[1]} must be 5 (batch, x1, y1, x2, y2)")
        n = rois.shape[0]
    return Value((n, x.shape[1], int(pooled_shape[0]), int(pooled_shape[1])), x.dtype)
