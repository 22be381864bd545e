"""SDA motion: the original Deepstory's speech-driven "base", turned into FOMM keypoint tracks.

Per chunk, SDA (the GRID model) makes a small talking-face video from the
chunk's audio and the speaker's face; FOMM's keypoint detector turns every base
frame into keypoints, taken relative to the chunk's first base frame and
transferred onto the portrait's own keypoints.  The result is a
:data:`~deepstory.track.KEYPOINTS` track for
:class:`deepstory.animate.fomm.FOMMAnimator`.  The networks live in
:mod:`deepstory.neural.sda` and :mod:`deepstory.neural.fomm`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from deepstory.memory import free_device
from deepstory.motion.base import AudioReader, MotionBackend, PhoneReader, stable_seed
from deepstory.neural.checkpoint import checkpoint_fingerprint
from deepstory.neural.keypoints import FOMM_SIZE, fomm_source, image_tensor, pack_keypoints, resize
from deepstory.portrait import Portrait
from deepstory.timeline import sample_at
from deepstory.track import KEYPOINTS

if TYPE_CHECKING:  # the networks are imported on first use (torch models, heavy)
    from deepstory.neural.fomm import KPDetector
    from deepstory.neural.sda import SdaModel

__all__ = ["SDAMotion", "sda_identity_frame"]

GRID_POINTS = np.array([[31.0, 52.0], [65.0, 52.0], [48.0, 92.0]])


def _sda_points(mean_face: Any, width: int, height: int) -> np.ndarray:
    """Where the eyes and the mouth go in SDA's frame: from ``mean_face`` (68 landmarks, x/y pixels), else GRID_POINTS.

    SDA aligns its input by the mean face's eye corners (36, 39, 42, 45) and
    nose (33); the portrait knows eye centres and the mouth, so the mean
    face's eye-corner midpoints and lip centre are used.
    """
    try:
        m = np.asarray(mean_face, dtype=np.float64)
        if m.shape == (68, 2) and np.isfinite(m).all():
            eyes = sorted([m[[36, 39]].mean(0), m[[42, 45]].mean(0)], key=lambda p: p[0])
            mouth = m[48:68].mean(0)
            points = np.array([eyes[0], eyes[1], mouth])
            inside = (
                (points[:, 0] > 0).all()
                and (points[:, 0] < width).all()
                and (points[:, 1] > 0).all()
                and (points[:, 1] < height).all()
            )
            if (
                inside
                and eyes[1][0] - eyes[0][0] > 0.15 * width
                and mouth[1] > max(eyes[0][1], eyes[1][1]) + 0.1 * height
            ):
                return points
    except (TypeError, ValueError):
        pass
    return GRID_POINTS.copy()


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, float, float]:
    """Least-squares similarity ``dst = [[a, -b], [b, a]] @ src + (tx, ty)``: returns ``(a, b, tx, ty)``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1.0, 0.0], [y, x, 0.0, 1.0]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return float(a), float(b), float(tx), float(ty)


def sda_identity_frame(portrait: Portrait, mean_face: Any = None, size: tuple[int, int] = (128, 96)) -> torch.Tensor:
    """SDA's still input: the face aligned into a ``size`` (H, W) frame, ``[3,H,W]`` in [-1, 1] (CPU).

    A similarity transform (scale, rotation, shift) takes the portrait's eye
    centres and mouth to the mean face's (see :func:`_sda_points`); with fewer
    than two eyes, eye positions are taken from the face box's proportions.
    The image is first shrunk (antialiased) near the target scale, then
    resampled bilinearly; outside the image the border colour continues.
    Normalised as SDA's ``transforms.Normalize(0.5, 0.5)``.
    """
    height, width = size
    face = portrait.face
    x0, y0, x1, y1 = face.box
    if len(face.eyes) >= 2:
        eyes = sorted(face.eyes[:2], key=lambda p: p[0])
    else:
        eyes = [(x0 + 0.3 * (x1 - x0), y0 + 0.4 * (y1 - y0)), (x0 + 0.7 * (x1 - x0), y0 + 0.4 * (y1 - y0))]
    src = np.array([eyes[0], eyes[1], face.mouth], dtype=np.float64)
    dst = _sda_points(mean_face, width, height)
    a, b, tx, ty = _similarity(src, dst)
    image = image_tensor(portrait.image)
    scale = math.hypot(a, b)
    if scale < 0.5:  # shrink first so that bilinear sampling does not alias
        h, w = image.shape[-2:]
        nh, nw = max(1, round(h * 2 * scale)), max(1, round(w * 2 * scale))
        src = src * np.array([nw / w, nh / h])
        image = resize(image, (nh, nw))
        a, b, tx, ty = _similarity(src, dst)
    h, w = image.shape[-2:]
    # Inverse map: output pixel (u, v) -> source (x, y) = M^-1 ((u, v) - t).
    det = a * a + b * b
    vs, us = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    du, dv = us - tx, vs - ty
    xs, ys = (a * du + b * dv) / det, (-b * du + a * dv) / det
    grid = torch.stack([2 * xs / max(1, w - 1) - 1, 2 * ys / max(1, h - 1) - 1], dim=-1).float().unsqueeze(0)
    frame = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
    return (frame.clamp(0, 1) - 0.5) / 0.5


class SDAMotion(MotionBackend):
    """The base of each chunk, from speech: SDA's talking face, turned into FOMM keypoint motion.

    :meth:`track` for one chunk: the chunk's audio is cut into one 0.2 s
    window per video frame (SDA runs at 25 fps: any other ``fps`` is refused);
    SDA's generator makes a 128x96 face video from those windows and the
    speaker's face (aligned by :func:`sda_identity_frame`), ``window`` frames at
    a time (bounded memory); each base frame is resized to 256x256 and given
    to FOMM's keypoint detector (``kp_batch`` frames at a time); the keypoints
    are made relative to the chunk's *first* base frame and transferred onto
    the portrait's own (``normalize_kp`` with relative movement, relative
    jacobians and adapted movement scale), as the original Deepstory did.
    Returns a float32 :data:`~deepstory.track.KEYPOINTS` track.

    SDA's noise (``aux``) is drawn from a generator seeded from ``seed``, the
    speaker and the chunk's first frame, and every chunk starts from its own
    first frame; so, unlike the default backends, the base depends on where
    chunks start and ``cut_size`` may change the picture (never the sound).

    :meth:`idle`: the portrait's own keypoints repeated (no motion).

    The networks are loaded on first use, on ``device``; all their work runs
    under ``torch.inference_mode``; :meth:`close` releases them (the motion
    stage calls it when done).
    """

    # Loaded on first use (_load_sda, _load_kp), released by close().
    _sda: SdaModel | None
    _kp_detector: KPDetector | None

    format = KEYPOINTS
    needs_portrait = True  # the motion stage passes the speaker's portrait at its tile size
    context = 0  # frames of audio read beyond the chunk (SDA pads windows with zeros at the chunk's ends)

    def __init__(
        self,
        checkpoint: str | Path,
        fomm_checkpoint: str | Path,
        sample_rate: int,
        fps: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        window: int = 64,
        kp_batch: int = 16,
    ) -> None:
        from deepstory.neural.sda import GRID

        if int(fps) != GRID.video_rate:
            raise ValueError(
                f"fps={fps}: SDA's GRID model makes {GRID.video_rate} frames per second; "
                f"set fps={GRID.video_rate} to use models.motion=sda"
            )
        self.checkpoint, self.fomm_checkpoint = (
            Path(str(checkpoint)).expanduser(),
            Path(str(fomm_checkpoint)).expanduser(),
        )
        self.sample_rate, self.fps, self.seed = int(sample_rate), int(fps), int(seed)
        self.device = torch.device(device)
        self.window, self.kp_batch = int(window), int(kp_batch)
        self._sda = None
        self._kp_detector = None
        self._sources: dict[str, dict[str, torch.Tensor]] = {}

    def identity(self) -> dict[str, Any]:
        """What the checkpoints are (path, size, modification time; see :func:`files_fingerprint`)."""
        return {
            "files_sha256": checkpoint_fingerprint(
                {"models.motion.checkpoint": self.checkpoint, "models.motion.fomm_checkpoint": self.fomm_checkpoint}
            ),
            "backend": type(self).__qualname__,
            "sample_rate": self.sample_rate,
            "fps": self.fps,
            "seed": self.seed,
            "window": self.window,
            "kp_batch": self.kp_batch,
            "device": self.device.type,
        }

    # -- models --------------------------------------------------------------------------
    def _load_kp(self):
        if self._kp_detector is None:
            from deepstory.neural.fomm import load_fomm

            kp_detector, generator = load_fomm(self.fomm_checkpoint, "models.motion.fomm_checkpoint")
            del generator
            self._kp_detector = kp_detector.to(self.device)
        return self._kp_detector

    def _load_sda(self):
        if self._sda is None:
            from deepstory.neural.sda import load_sda

            self._sda = load_sda(self.checkpoint, "models.motion.checkpoint", device=self.device)
        return self._sda

    def close(self) -> None:
        """Release the networks and cached keypoints."""
        self._sda = self._kp_detector = None
        self._sources.clear()
        free_device(self.device)

    # -- keypoints -------------------------------------------------------------------------
    def _source_kp(self, portrait: Portrait) -> dict[str, torch.Tensor]:
        """Keypoints of the portrait's face square (cached per image and face)."""
        key = hashlib.sha256(
            portrait.image.tobytes() + repr((portrait.image.shape, portrait.face)).encode()
        ).hexdigest()
        if key not in self._sources:
            kp = self._load_kp()(fomm_source(portrait, self.device))
            self._sources[key] = {k: v for k, v in kp.items()}
        return self._sources[key]

    def _keypoints(self, base: torch.Tensor) -> dict[str, torch.Tensor]:
        """FOMM keypoints of base frames ``[n,3,128,96]`` (tanh range), resized to 256x256, ``kp_batch`` at a time."""
        kp_detector = self._load_kp()
        parts: list[dict[str, torch.Tensor]] = []
        for start in range(0, base.shape[0], self.kp_batch):
            frames = ((base[start : start + self.kp_batch] + 1) / 2).clamp(0, 1)
            parts.append(kp_detector(resize(frames, (FOMM_SIZE, FOMM_SIZE))))
        return {k: torch.cat([p[k] for p in parts]) for k in ("value", "jacobian")}

    @staticmethod
    def _transfer(
        source: Mapping[str, torch.Tensor], driving: Mapping[str, torch.Tensor], initial: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        from scipy.spatial import QhullError

        from deepstory.neural.fomm import normalize_kp

        def transfer(adapt_scale: bool) -> dict[str, torch.Tensor]:
            return normalize_kp(
                kp_source=source,
                kp_driving=driving,
                kp_driving_initial=initial,
                use_relative_movement=True,
                use_relative_jacobian=True,
                adapt_movement_scale=adapt_scale,
            )

        try:
            return transfer(True)
        except QhullError:  # a degenerate keypoint hull (all in a line): no scale adaptation
            return transfer(False)

    # -- the interface MotionStage calls -----------------------------------------------------
    def track(
        self,
        read: AudioReader,
        first_frame: int,
        frames: int,
        speaker: str,
        portrait: Portrait | None,
        phones: PhoneReader | None = None,
    ) -> np.ndarray:
        """The keypoint motion of global frames ``[first_frame, first_frame + frames)`` of ``speaker``."""
        out = self.format.empty(frames)
        if frames <= 0:
            return out
        assert portrait is not None, "SDA needs the speaker's portrait"
        sda = self._load_sda()
        self._load_kp()
        audio = read(
            sample_at(first_frame, self.sample_rate, self.fps),
            sample_at(first_frame + frames, self.sample_rate, self.fps),
        )
        seed = stable_seed(self.seed, "sda", speaker, first_frame) & (2**63 - 1)
        with torch.inference_mode():
            source = self._source_kp(portrait)
            windows = sda.audio_windows(audio, self.sample_rate, n_frames=frames)
            aux = sda.draw_aux(frames, torch.Generator().manual_seed(seed))
            z_id, skips = sda.identity(sda_identity_frame(portrait, sda.mean_face, sda.settings.img_size))
            skips = skips[::-1]
            audio_state = noise_state = initial = None
            for start in range(0, frames, self.window):  # SdaModel.generate, one window of frames at a time
                stop = min(frames, start + self.window)
                n = stop - start
                z, audio_state = sda.encoder.encode(windows[start:stop].to(self.device).unsqueeze(0), audio_state)
                c = z_id.unsqueeze(1).expand(-1, n, -1)
                skip = [s.unsqueeze(1).expand(-1, n, -1, -1, -1) for s in skips]
                base, noise_state = sda.generator.decode(z, c, aux[:, start:stop].to(self.device), skip, noise_state)
                driving = self._keypoints(base)
                if initial is None:
                    initial = {k: v[:1] for k, v in driving.items()}
                out[start:stop] = pack_keypoints(self._transfer(source, driving, initial)).float().cpu().numpy()
        return out

    def idle(self, first_frame: int, frames: int, speaker: str, portrait: Portrait | None) -> np.ndarray:
        """A listener: the portrait's own keypoints in every frame."""
        assert portrait is not None, "SDA needs the listener's portrait"
        self._load_kp()
        with torch.inference_mode():
            row = pack_keypoints(self._source_kp(portrait)).float().cpu().numpy()
        return np.repeat(row, int(frames), axis=0).astype(np.float32)
