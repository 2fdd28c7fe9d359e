"""Batch preparation on the device: uint8 crops -> normalised float images and JMLR targets, with flip,
optional scale/rotation/shift (image and 2D targets alike) and colour jitter, all vectorised.

Points are crop pixels with pixel centres on integers; a mirrored `res`-wide image maps x to `res-1-x`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainers.targets import mirror_x, pixels_to_unit, rescale_points, verts_to_target

_GRAY = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation; probabilities are per sample."""

    flip: bool = True
    flip_p: float = 0.5
    jitter_p: float = 0.5
    brightness: float = 0.2  # factor drawn from 1 +- brightness
    contrast: float = 0.2
    saturation: float = 0.2
    geo_p: float = 0.0  # probability of the small similarity below (0: off, as the paper)
    rotate_deg: float = 10.0
    scale: float = 0.05
    shift: float = 0.03  # fraction of the crop size


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1], channels_last (a permuted view, no copy)."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], the public JMLR code's normalisation (mean 0.5, std 0.5 per channel)."""
    return images.mul(2.0).sub_(1.0).contiguous(memory_format=torch.channels_last)


def resize(images: torch.Tensor, res: int) -> torch.Tensor:
    """Resize float images to `res` x `res` (antialiased bilinear, pixel-centre aligned)."""
    if images.shape[-1] == res:
        return images
    return F.interpolate(images, size=(res, res), mode="bilinear", align_corners=False, antialias=True)


def flip_targets(verts: torch.Tensor, points: torch.Tensor, flip_index: torch.Tensor,
                 res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of the mirrored image: permute by the flip index, negate world x, mirror crop x."""
    return verts[:, flip_index] * verts.new_tensor([-1.0, 1.0, 1.0]), mirror_x(points[:, flip_index], res)


def random_flip(images: torch.Tensor, verts: torch.Tensor, points: torch.Tensor, flip_index: torch.Tensor,
                p: float, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
    """Mirror each sample with probability `p` (images (B, 3, H, W); verts and points as targets)."""
    b = images.shape[0]
    mask = torch.rand(b, device=images.device, generator=generator) < p
    fverts, fpoints = flip_targets(verts, points, flip_index, images.shape[-1])
    images = torch.where(mask[:, None, None, None], images.flip(-1), images)
    verts = torch.where(mask[:, None, None], fverts, verts)
    points = torch.where(mask[:, None, None], fpoints, points)
    return images, verts, points


def _uniform(b: int, half: float, ref: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return (torch.rand(b, device=ref.device, generator=generator) * 2.0 - 1.0) * half


def similarity_matrices(angle_rad: torch.Tensor, scale: torch.Tensor, shift_px: torch.Tensor,
                        res: int) -> torch.Tensor:
    """(B, 2, 3) pixel maps `p -> s R (p - c) + c + t` about the crop centre c = ((res-1)/2, (res-1)/2)."""
    cos, sin = torch.cos(angle_rad) * scale, torch.sin(angle_rad) * scale
    c = (res - 1) / 2.0
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    centre = rot.new_tensor([c, c])
    offset = centre - rot @ centre + shift_px
    return torch.cat([rot, offset[..., None]], dim=-1)


def warp(images: torch.Tensor, points: torch.Tensor, mats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply pixel maps (B, 2, 3) to images (bilinear, zero border) and to points (B, V, 2)."""
    res = images.shape[-1]
    lin, off = mats[..., :2], mats[..., 2]
    points = points @ lin.transpose(1, 2) + off[:, None, :]
    # align_corners=False coordinates u = (2p + 1)/res - 1 are centred on c and scaled by 2/res, so the
    # map in them is u -> lin u + (2/res)(off + lin c - c); affine_grid wants the inverse (output -> input)
    c = (res - 1) / 2.0
    centre = lin.new_tensor([c, c])
    off_u = (2.0 / res) * (off + (lin @ centre) - centre)
    inv = torch.linalg.inv(lin)
    theta = torch.cat([inv, -(inv @ off_u[..., None])], dim=-1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False), points


def random_similarity(images: torch.Tensor, points: torch.Tensor, cfg: AugmentConfig,
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability `cfg.geo_p` per sample, a small random rotation, scale and shift."""
    b, res = images.shape[0], images.shape[-1]
    on = (torch.rand(b, device=images.device, generator=generator) < cfg.geo_p).float()
    angle = _uniform(b, math.radians(cfg.rotate_deg), images, generator) * on
    scale = 1.0 + _uniform(b, cfg.scale, images, generator) * on
    shift = torch.stack([_uniform(b, cfg.shift * res, images, generator),
                         _uniform(b, cfg.shift * res, images, generator)], -1) * on[:, None]
    return warp(images, points, similarity_matrices(angle, scale, shift, res))


def color_jitter(images: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Brightness, contrast and saturation factors per sample (with probability `cfg.jitter_p`).

    Applied in that order: `x*b`, then contrast about the mean grey level, then saturation about each
    pixel's grey level. All three are affine in x, so they fold into one pass,
    `x * (b c s) + grey(x) * (b c (1 - s)) + b m (1 - c)` with m the image's mean grey level, then clamp.
    """
    b = images.shape[0]
    on = (torch.rand(b, device=images.device, generator=generator) < cfg.jitter_p).float()
    bright, contrast, sat = (1.0 + _uniform(b, half, images, generator) * on
                             for half in (cfg.brightness, cfg.contrast, cfg.saturation))
    grey = torch.einsum("bchw,c->bhw", images, images.new_tensor(_GRAY))[:, None]  # (B, 1, H, W)
    mean = grey.mean((2, 3)).squeeze(1)
    scale = bright * contrast
    per_image = lambda v: v[:, None, None, None]  # noqa: E731
    out = images * per_image(scale * sat) + per_image(bright * mean * (1.0 - contrast))
    return out.add_(grey * per_image(scale * (1.0 - sat))).clamp_(0.0, 1.0)


def prepare_batch(images: torch.Tensor, verts: torch.Tensor | None, points: torch.Tensor | None, *, res: int,
                  flip_index: torch.Tensor | None = None, augment: AugmentConfig | None = None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """uint8 crops (B, H, W, 3), world verts (m) and crop points (px) -> network input and targets.

    Returns images (B, 3, res, res) normalised and channels_last, vertex targets (x10) and points in
    [-1, 1] at `res`. Without `augment` (evaluation) only resizing and normalisation happen; labels may
    then be None.
    """
    src_res = images.shape[1]
    x = resize(to_float_images(images), res)
    if verts is not None:
        verts = verts_to_target(verts.float())
        points = rescale_points(points.float(), src_res, res)
    if augment is not None:
        if augment.flip and augment.flip_p > 0:
            x, verts, points = random_flip(x, verts, points, flip_index, augment.flip_p, generator)
        if augment.geo_p > 0:
            x, points = random_similarity(x, points, augment, generator)
        if augment.jitter_p > 0:
            x = color_jitter(x, augment, generator)
    return normalize(x), verts, (pixels_to_unit(points, res) if points is not None else None)
