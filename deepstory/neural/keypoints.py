"""FOMM keypoints and face crops, shared by the SDA motion backend and the FOMM animator.

Both work on the same face crop of a portrait: :func:`face_square` at the
portrait's tile size, a square around the face box, ``FACE_MARGIN`` of the
face's size wider on each side, resized to 256x256 (:func:`fomm_source`).
Keypoint tracks are laid out as :data:`deepstory.track.KEYPOINTS`;
:func:`pack_keypoints` and :func:`unpack_keypoints` convert between FOMM's
dictionaries and track rows.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from deepstory.portrait import Portrait
from deepstory.track import KEYPOINTS, KP_JACOBIANS, KP_VALUES, NUM_KP

__all__ = [
    "NUM_KP",
    "KP_VALUES",
    "KP_JACOBIANS",
    "TRACK_WIDTH",
    "FOMM_SIZE",
    "FACE_MARGIN",
    "pack_keypoints",
    "unpack_keypoints",
    "face_square",
    "fomm_source",
    "image_tensor",
    "resize",
]

TRACK_WIDTH = KEYPOINTS.width  # 60 floats per frame
FOMM_SIZE = 256  # FOMM's image size (vox-256)
FACE_MARGIN = 0.25  # the face crop extends this fraction of the face's size beyond the face box on each side


def pack_keypoints(kp: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """FOMM keypoints ``{'value': [B,K,2], 'jacobian': [B,K,2,2]}`` -> track rows ``[B, TRACK_WIDTH]``."""
    b = kp["value"].shape[0]
    return torch.cat([kp["value"].reshape(b, -1), kp["jacobian"].reshape(b, -1)], dim=1)


def unpack_keypoints(rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """Track rows ``[B, TRACK_WIDTH]`` -> FOMM keypoints (views of ``rows``)."""
    b = rows.shape[0]
    return {
        "value": rows[:, KP_VALUES].reshape(b, NUM_KP, 2),
        "jacobian": rows[:, KP_JACOBIANS].reshape(b, NUM_KP, 2, 2),
    }


# ------------------------------------------------------------------------------ face crops


def face_square(portrait: Portrait, margin: float = FACE_MARGIN) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: a square of whole pixels around the face, inside the image.

    The square is centred on the face box and ``1 + 2 * margin`` times its
    larger side; it is shifted (never cut) to stay inside the image, and made
    no larger than the image's smaller side.
    """
    height, width = portrait.image.shape[:2]
    fx0, fy0, fx1, fy1 = portrait.face.box
    side = int(round(max(fx1 - fx0, fy1 - fy0) * (1 + 2 * margin)))
    side = max(1, min(side, width, height))
    x0 = int(np.clip(round((fx0 + fx1) / 2 - side / 2), 0, width - side))
    y0 = int(np.clip(round((fy0 + fy1) / 2 - side / 2), 0, height - side))
    return x0, y0, x0 + side, y0 + side


def image_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``[H,W,3]`` -> float ``[1,3,H,W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B,C,H,W]``, antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def fomm_source(
    portrait: Portrait, device: torch.device | str = "cpu", box: tuple[int, int, int, int] | None = None
) -> torch.Tensor:
    """The portrait's face square resized to FOMM's input: ``[1,3,256,256]`` in [0, 1] on ``device``."""
    x0, y0, x1, y1 = box or face_square(portrait)
    crop = image_tensor(portrait.image[y0:y1, x0:x1], device)
    return resize(crop, (FOMM_SIZE, FOMM_SIZE)).clamp(0, 1)


# Eye centres and mouth centre (x, y) in a 96x128 (W x H) GRID frame; used when the checkpoint's mean_face is unusable.
