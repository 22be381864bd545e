"""The neural networks as pipeline backends: DC-TTS voices, the SDA base turned into FOMM keypoints, the FOMM animator.

Selected together by one override (``conf/models/deepstory.yaml``)::

    python run.py models=deepstory models.data_dir=/path/to/deepstory/data

where the data folder has the original published layout::

    dctts/<Speaker>/t2m*.pth + ssrn.pth     one folder per voice (DCTTSSpeech)
    sda/grid.dat                            the SDA GRID model (SDAMotion)
    fom/vox-cpk.pth.tar                     FOMM vox-256: keypoints (SDAMotion) and generator (FOMMAnimator)

The data flow is the original Deepstory's: each sentence is spoken by its
speaker's DC-TTS voice; per chunk, SDA makes a small talking-face video (the
"base") from the chunk's audio and the speaker's face; FOMM's keypoint detector
turns every base frame into 10 keypoints with jacobians, taken relative to the
chunk's first base frame and transferred onto the portrait's own keypoints;
the FOMM generator then animates the portrait's face with those keypoints.

The motion track of a chunk (``temp/motion/cNNNNN.npy``) is therefore float32
``[frames, TRACK_WIDTH]``: per frame the transferred keypoints, laid out as
:data:`KP_VALUES` and :data:`KP_JACOBIANS` say.

The face crop both FOMM stages use is :func:`face_square` of the portrait at
its tile size: a square around the face box, ``FACE_MARGIN`` of the face's size
wider on each side, resized to 256x256.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from deepstory.memory import release_memory
from deepstory.motion import stable_seed
from deepstory.neural.checkpoint import CheckpointError
from deepstory.portrait import Portrait
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.dsp import normalize_peak, resample, trim_silence
from deepstory.timeline import sample_at

__all__ = ["NUM_KP", "KP_VALUES", "KP_JACOBIANS", "TRACK_WIDTH", "FOMM_SIZE", "FACE_MARGIN", "pack_keypoints",
           "unpack_keypoints", "face_square", "sda_identity_frame", "files_fingerprint", "DCTTSSpeech",
           "SDAMotion", "FOMMAnimator"]

# ------------------------------------------------------------------------------ the motion track layout

NUM_KP = 10  # FOMM vox-256 keypoints
KP_VALUES = slice(0, 2 * NUM_KP)  # keypoint k at columns 2k (x), 2k+1 (y); [-1, 1] coordinates of the 256x256 face crop
KP_JACOBIANS = slice(2 * NUM_KP, 6 * NUM_KP)  # keypoint k's 2x2 jacobian, row-major: 20+4k .. 20+4k+3 = j00 j01 j10 j11
TRACK_WIDTH = 6 * NUM_KP  # 60 floats per frame
FOMM_SIZE = 256  # FOMM's image size (vox-256)
FACE_MARGIN = 0.25  # the face crop extends this fraction of the face's size beyond the face box on each side


def pack_keypoints(kp: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """FOMM keypoints ``{'value': [B,K,2], 'jacobian': [B,K,2,2]}`` -> track rows ``[B, TRACK_WIDTH]``."""
    b = kp["value"].shape[0]
    return torch.cat([kp["value"].reshape(b, -1), kp["jacobian"].reshape(b, -1)], dim=1)


def unpack_keypoints(rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """Track rows ``[B, TRACK_WIDTH]`` -> FOMM keypoints (views of ``rows``)."""
    b = rows.shape[0]
    return {"value": rows[:, KP_VALUES].reshape(b, NUM_KP, 2),
            "jacobian": rows[:, KP_JACOBIANS].reshape(b, NUM_KP, 2, 2)}


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


def _image_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``[H,W,3]`` -> float ``[1,3,H,W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B,C,H,W]``, antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def fomm_source(portrait: Portrait, device: torch.device | str = "cpu",
                box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """The portrait's face square resized to FOMM's input: ``[1,3,256,256]`` in [0, 1] on ``device``."""
    x0, y0, x1, y1 = box or face_square(portrait)
    crop = _image_tensor(portrait.image[y0:y1, x0:x1], device)
    return _resize(crop, (FOMM_SIZE, FOMM_SIZE)).clamp(0, 1)


# Eye centres and mouth centre (x, y) in a 96x128 (W x H) GRID frame; used when the checkpoint's mean_face is unusable.
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
            inside = (points[:, 0] > 0).all() and (points[:, 0] < width).all() and (points[:, 1] > 0).all() \
                and (points[:, 1] < height).all()
            if inside and eyes[1][0] - eyes[0][0] > 0.15 * width and mouth[1] > max(eyes[0][1], eyes[1][1]) + 0.1 * height:
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
    image = _image_tensor(portrait.image)
    scale = math.hypot(a, b)
    if scale < 0.5:  # shrink first so that bilinear sampling does not alias
        h, w = image.shape[-2:]
        nh, nw = max(1, round(h * 2 * scale)), max(1, round(w * 2 * scale))
        src = src * np.array([nw / w, nh / h])
        image = _resize(image, (nh, nw))
        a, b, tx, ty = _similarity(src, dst)
    h, w = image.shape[-2:]
    # Inverse map: output pixel (u, v) -> source (x, y) = M^-1 ((u, v) - t).
    det = a * a + b * b
    vs, us = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    du, dv = us - tx, vs - ty
    xs, ys = (a * du + b * dv) / det, (-b * du + a * dv) / det
    grid = torch.stack([2 * xs / max(1, w - 1) - 1, 2 * ys / max(1, h - 1) - 1], dim=-1).float().unsqueeze(0)
    frame = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
    return (frame.clamp(0, 1) - 0.5) / 0.5


# ------------------------------------------------------------------------------ file identities


def files_fingerprint(paths: Iterable[Path], root: Path | None = None) -> str:
    """SHA-256 of the (path, size, modification time) of ``paths``: cheap, changes when a file is replaced.

    Not a hash of the contents: a file rewritten with the same size and
    time would not be noticed, and a copied data folder (new times) makes new
    cache entries once.
    """
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        st = path.stat()
        name = path.relative_to(root).as_posix() if root is not None else str(path)
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _checkpoint_fingerprint(files: Mapping[str, Path]) -> str:
    """:func:`files_fingerprint` of checkpoint files keyed by their config key; missing -> CheckpointError."""
    for where, path in files.items():
        if not Path(path).is_file():
            raise CheckpointError(f"{where}: checkpoint not found: {path}")
    return files_fingerprint(files.values())


def _free(device: torch.device) -> None:
    release_memory()
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ speech


class DCTTSSpeech(SpeechBackend):
    """DC-TTS voices, one per speaker, from ``<data_dir>/dctts/<folder>/`` (``t2m*.pth`` + ``ssrn.pth``).

    The folder is ``speakers.<Name>.voice.dctts`` when set (a name under
    ``dctts/``, or an absolute path), else the speaker's name.  Each voice is
    loaded once, on first use, and kept until :meth:`close`.  Synthesis is
    deterministic (greedy monotonic attention, zero-phase Griffin-Lim with
    ``griffin_lim_iters`` iterations, at most ``max_frames`` mel frames of 4 x
    12.5 ms, i.e. ``max_frames * 0.05`` seconds), at 22050 Hz, resampled to
    ``sample_rate`` when that differs; leading and trailing silence is trimmed
    and the peak normalised to ``peak``.

    ``pitch`` and ``rate`` of a voice are ignored: every DC-TTS voice is one
    trained speaker already, and changing its pitch or speed by resampling
    would only distort it.

    :meth:`identity` (part of every speech cache key) holds ``data_dir`` and
    a SHA-256 of the path, size and modification time of every file under
    ``dctts/`` (cheap: no file is read), not of the files' contents.
    """

    NATIVE_RATE = 22050

    def __init__(self, sample_rate: int, data_dir: str | Path, device: str | torch.device = "cpu",
                 griffin_lim_iters: int = 32, max_frames: int = 326, peak: float = 0.9) -> None:
        super().__init__(sample_rate)
        if int(griffin_lim_iters) < 1:
            raise ValueError(f"griffin_lim_iters must be at least 1, got {griffin_lim_iters}")
        if int(max_frames) < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.data_dir = Path(str(data_dir)).expanduser()
        self.device = torch.device(device)
        self.griffin_lim_iters, self.max_frames, self.peak = int(griffin_lim_iters), int(max_frames), float(peak)
        self._voices: dict[Path, Any] = {}
        self._identity: dict[str, Any] | None = None

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "dctts"

    def voice_folder(self, voice: Voice) -> tuple[Path, str]:
        """The voice's folder and the config key it comes from (for error messages)."""
        name = voice.options.get("dctts")
        if name is not None:
            return self.voices_dir / str(name), f"speakers.{voice.speaker}.voice.dctts"
        return (self.voices_dir / voice.speaker,
                f"models.data_dir (voice of {voice.speaker}: dctts/{voice.speaker}, or set speakers.{voice.speaker}.voice.dctts)")

    def _voice(self, voice: Voice):
        from deepstory.neural.dctts import load_voice

        folder, where = self.voice_folder(voice)
        if folder not in self._voices:
            self._voices[folder] = load_voice(folder, where, device=self.device)
        return self._voices[folder]

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        model = self._voice(voice)
        with torch.inference_mode():
            audio = model.synthesize(text, max_frames=self.max_frames, n_iter=self.griffin_lim_iters)
        if self.sample_rate != self.NATIVE_RATE:
            audio = resample(audio, self.sample_rate / self.NATIVE_RATE)
        release_memory()
        return normalize_peak(trim_silence(audio), self.peak)

    def close(self) -> None:
        """Drop the loaded voices (and their device memory)."""
        self._voices.clear()
        _free(self.device)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            if not self.voices_dir.is_dir():
                raise CheckpointError(f"models.data_dir: DC-TTS voices folder not found: {self.voices_dir} "
                                      f"(expected dctts/<Speaker>/t2m*.pth and ssrn.pth)")
            files = [p for p in self.voices_dir.rglob("*") if p.is_file()]
            self._identity = {
                **super().identity(),
                "data_dir": str(self.data_dir),
                "files_sha256": files_fingerprint(files, self.voices_dir),  # path, size, mtime; not contents
                "device": self.device.type,
                "griffin_lim_iters": self.griffin_lim_iters,
                "max_frames": self.max_frames,
                "peak": self.peak,
            }
        return self._identity


# ------------------------------------------------------------------------------ motion


class SDAMotion:
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
    Returns float32 ``[frames, TRACK_WIDTH]`` (see :data:`KP_VALUES`).

    SDA's noise (``aux``) is drawn from a generator seeded from ``seed``, the
    speaker and the chunk's first frame, and every chunk starts from its own
    first frame; so, unlike the default backends, the base depends on where
    chunks start and ``cut_size`` may change the picture (never the sound).

    :meth:`idle`: the portrait's own keypoints repeated (no motion).

    The networks are loaded on first use, on ``device``; all their work runs
    under ``torch.inference_mode``; :meth:`close` releases them (the motion
    stage calls it when done).
    """

    needs_portrait = True  # MotionStage passes portrait=<the speaker's Portrait at its tile size>
    context = 0  # frames of audio read beyond the chunk (SDA pads windows with zeros at the chunk's ends)

    def __init__(self, checkpoint: str | Path, fomm_checkpoint: str | Path, sample_rate: int, fps: int,
                 seed: int = 0, device: str | torch.device = "cpu", window: int = 64, kp_batch: int = 16) -> None:
        from deepstory.neural.sda import GRID

        if int(fps) != GRID.video_rate:
            raise ValueError(f"fps={fps}: SDA's GRID model makes {GRID.video_rate} frames per second; "
                             f"set fps={GRID.video_rate} to use models.motion=sda")
        if int(window) < 1 or int(kp_batch) < 1:
            raise ValueError(f"window and kp_batch must be at least 1, got {window} and {kp_batch}")
        self.checkpoint, self.fomm_checkpoint = Path(str(checkpoint)).expanduser(), Path(str(fomm_checkpoint)).expanduser()
        self.sample_rate, self.fps, self.seed = int(sample_rate), int(fps), int(seed)
        self.device = torch.device(device)
        self.window, self.kp_batch = int(window), int(kp_batch)
        self._sda = None
        self._kp_detector = None
        self._sources: dict[str, dict[str, torch.Tensor]] = {}

    def identity(self) -> dict[str, Any]:
        """What the checkpoints are (path, size, modification time; see :func:`files_fingerprint`)."""
        return {"files_sha256": _checkpoint_fingerprint({"models.motion.checkpoint": self.checkpoint,
                                                         "models.motion.fomm_checkpoint": self.fomm_checkpoint}),
                "device": self.device.type}

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
        _free(self.device)

    # -- keypoints -------------------------------------------------------------------------
    def _source_kp(self, portrait: Portrait) -> dict[str, torch.Tensor]:
        """Keypoints of the portrait's face square (cached per image and face)."""
        key = hashlib.sha256(portrait.image.tobytes() + repr((portrait.image.shape, portrait.face)).encode()).hexdigest()
        if key not in self._sources:
            kp = self._load_kp()(fomm_source(portrait, self.device))
            self._sources[key] = {k: v for k, v in kp.items()}
        return self._sources[key]

    def _keypoints(self, base: torch.Tensor) -> dict[str, torch.Tensor]:
        """FOMM keypoints of base frames ``[n,3,128,96]`` (tanh range), resized to 256x256, ``kp_batch`` at a time."""
        kp_detector = self._load_kp()
        parts: list[dict[str, torch.Tensor]] = []
        for start in range(0, base.shape[0], self.kp_batch):
            frames = ((base[start:start + self.kp_batch] + 1) / 2).clamp(0, 1)
            parts.append(kp_detector(_resize(frames, (FOMM_SIZE, FOMM_SIZE))))
        return {k: torch.cat([p[k] for p in parts]) for k in ("value", "jacobian")}

    @staticmethod
    def _transfer(source: Mapping[str, torch.Tensor], driving: Mapping[str, torch.Tensor],
                  initial: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from scipy.spatial import QhullError

        from deepstory.neural.fomm import normalize_kp

        try:
            return normalize_kp(kp_source=source, kp_driving=driving, kp_driving_initial=initial,
                                use_relative_movement=True, use_relative_jacobian=True, adapt_movement_scale=True)
        except QhullError:  # a degenerate keypoint hull (all in a line): no scale adaptation
            return normalize_kp(kp_source=source, kp_driving=driving, kp_driving_initial=initial,
                                use_relative_movement=True, use_relative_jacobian=True, adapt_movement_scale=False)

    # -- the interface MotionStage calls -----------------------------------------------------
    def track(self, read: Callable[[int, int], np.ndarray], first_frame: int, frames: int, speaker: str,
              portrait: Portrait) -> np.ndarray:
        """The keypoint motion of global frames ``[first_frame, first_frame + frames)`` of ``speaker``."""
        out = np.zeros((int(frames), TRACK_WIDTH), dtype=np.float32)
        if frames <= 0:
            return out
        sda = self._load_sda()
        self._load_kp()
        audio = read(sample_at(first_frame, self.sample_rate, self.fps),
                     sample_at(first_frame + frames, self.sample_rate, self.fps))
        seed = stable_seed(self.seed, "sda", speaker, first_frame) & (2 ** 63 - 1)
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

    def idle(self, first_frame: int, frames: int, speaker: str, portrait: Portrait) -> np.ndarray:
        """A listener: the portrait's own keypoints in every frame."""
        self._load_kp()
        with torch.inference_mode():
            row = pack_keypoints(self._source_kp(portrait)).float().cpu().numpy()
        return np.repeat(row, int(frames), axis=0).astype(np.float32)


# ------------------------------------------------------------------------------ animator


@dataclass
class PreparedFace:
    """A portrait's tensors on the device, built once by :meth:`FOMMAnimator.prepare`."""

    still: torch.Tensor  # uint8 [H, W, 3]
    box: tuple[int, int, int, int]  # the face square x0, y0, x1, y1
    source: torch.Tensor  # float [1, 3, 256, 256] in [0, 1]
    features: torch.Tensor  # the generator's encoding of ``source``
    kp_source: dict[str, torch.Tensor]
    still_row: np.ndarray  # float32 [TRACK_WIDTH]: the source's own keypoints (a row of "no motion")
    crop: torch.Tensor  # float [1, 3, side, side] in [0, 1]: the still face square
    blend: torch.Tensor  # float [1, 1, side, side]: 1 inside, easing to 0 at the square's edges inside the image


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)


class FOMMAnimator:
    """The FOMM (vox-256) generator animating each portrait's face square with keypoint tracks.

    :meth:`prepare`: the portrait's face square (:func:`face_square`) resized to
    256x256, its keypoints and its generator encoding, computed once.
    :meth:`frames`: per batch of ``batch_size`` track rows, the generator
    warps the face by the rows' keypoints; the prediction is resized back to
    the square's size, blended into the still square (easing over the outer
    ``feather`` of the square wherever the image goes on), converted to uint8
    and permuted to ``HWC`` on the device, pasted into the still portrait and
    moved to the CPU: uint8 ``[B, H, W, 3]`` frames of the portrait's full
    size, streamed one batch at a time.

    Rows equal to the portrait's own keypoints (a listener's :meth:`SDAMotion.idle`
    track) need no network: a batch made only of them is the still portrait.
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 4, checkpoint: str | Path = "",
                 feather: float = 0.08) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"animator batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.checkpoint = Path(str(checkpoint)).expanduser()
        self.feather = float(feather)
        self._kp_detector = None
        self._generator = None

    def identity(self) -> dict[str, Any]:
        return {"files_sha256": _checkpoint_fingerprint({"models.animator.checkpoint": self.checkpoint})}

    def _load(self):
        if self._generator is None:
            from deepstory.neural.fomm import load_fomm

            self._kp_detector, self._generator = load_fomm(self.checkpoint, "models.animator.checkpoint", self.device)
        return self._kp_detector, self._generator

    def close(self) -> None:
        self._kp_detector = self._generator = None
        _free(self.device)

    def _encode(self, source: torch.Tensor) -> torch.Tensor:
        generator = self._load()[1]
        out = generator.first(source)
        for block in generator.down_blocks:
            out = block(out)
        return out

    def _generate(self, p: PreparedFace, kp_driving: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``OcclusionAwareGenerator.forward(...)['prediction']`` with the source's encoding computed once."""
        generator = self._load()[1]
        b = kp_driving["value"].shape[0]
        source = p.source.expand(b, -1, -1, -1)
        kp_source = {k: v.expand(b, *v.shape[1:]) for k, v in p.kp_source.items()}
        out = p.features.expand(b, -1, -1, -1)
        if generator.dense_motion_network is not None:
            motion = generator.dense_motion_network(source_image=source, kp_driving=kp_driving, kp_source=kp_source)
            out = generator.deform_input(out, motion["deformation"])
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                if out.shape[2:] != occlusion.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
                out = out * occlusion
        out = generator.bottleneck(out)
        for block in generator.up_blocks:
            out = block(out)
        return torch.sigmoid(generator.final(out))

    def prepare(self, portrait: Portrait) -> PreparedFace:
        kp_detector, _ = self._load()  # outside inference mode: the weights stay ordinary tensors
        with torch.inference_mode():
            return self._prepare(kp_detector, portrait)

    def _prepare(self, kp_detector, portrait: Portrait) -> PreparedFace:
        height, width = portrait.image.shape[:2]
        box = x0, y0, x1, y1 = face_square(portrait)
        source = fomm_source(portrait, self.device, box)
        kp_source = {k: v for k, v in kp_detector(source).items()}
        still = torch.from_numpy(np.array(portrait.image)).to(self.device)
        side = x1 - x0
        ramp = max(1.0, self.feather * side)
        t = torch.arange(side, dtype=torch.float32, device=self.device) + 0.5
        ease_x = (_smoothstep(t / ramp) if x0 > 0 else 1.0) * (_smoothstep((side - t) / ramp) if x1 < width else 1.0)
        ease_y = (_smoothstep(t / ramp) if y0 > 0 else 1.0) * (_smoothstep((side - t) / ramp) if y1 < height else 1.0)
        blend = (torch.ones(side, device=self.device) * ease_y).view(side, 1) * \
            (torch.ones(side, device=self.device) * ease_x).view(1, side)
        crop = still[y0:y1, x0:x1].permute(2, 0, 1).unsqueeze(0).float() / 255
        return PreparedFace(still, box, source, self._encode(source), kp_source,
                            pack_keypoints(kp_source)[0].float().cpu().numpy(), crop, blend.view(1, 1, side, side))

    @torch.inference_mode()
    def frames(self, prepared: PreparedFace, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Yield uint8 ``[B, H, W, 3]`` arrays on the CPU, ``batch_size`` frames at a time."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != TRACK_WIDTH:
            raise ValueError(f"the FOMM animator needs keypoint tracks [frames, {TRACK_WIDTH}] (models.motion=sda), "
                             f"got shape {list(rows.shape)}")
        p = prepared
        x0, y0, x1, y1 = p.box
        side = x1 - x0
        for start in range(0, len(rows), self.batch_size):
            batch = np.array(rows[start:start + self.batch_size], dtype=np.float32)
            frames = p.still.unsqueeze(0).expand(len(batch), -1, -1, -1).clone()
            if not (batch == p.still_row).all():
                kp_driving = unpack_keypoints(torch.from_numpy(batch).to(self.device))
                face = _resize(self._generate(p, kp_driving), (side, side))
                face = face * p.blend + p.crop * (1 - p.blend)
                face = (face * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
                frames[:, y0:y1, x0:x1] = face
            yield frames.cpu().numpy()
