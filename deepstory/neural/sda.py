"""Speech-Driven Animation (Vougioukas et al.), the GRID model behind deepstory's ``modules/sda``.

Three networks, named and shaped exactly like the state dicts inside the
published ``grid.dat`` (loaded with ``strict=True``):

* ``encoder`` (:class:`AudioEncoder`): every 0.2 s audio window goes through a
  strided 1-D conv stack (``encoder.cl``/``encoder.activations``) to a 256-d
  code, and a 2-layer GRU (``rnn``) runs over the window codes, one per video
  frame.
* ``encoder_id`` (:class:`IdentityEncoder`): a 2-D conv stack over the
  128x96 still portrait; gives the 128-d identity code ``z_id`` and the five
  intermediate feature maps used as U-Net skips.
* ``generator`` (:class:`FrameGenerator`): the per-frame latent
  ``[z, aux, c]`` (audio code, noise passed through the noise GRU
  ``rnn_noise`` and a tanh, identity code; in that channel order) is decoded by transposed convs; the four inner
  blocks take the identity skips, deepest first.  Output ``[B*T,3,128,96]`` in
  tanh range.

:func:`load_sda` reads ``grid.dat``; :class:`SdaModel` holds the networks and
settings, cuts a waveform into one audio window per video frame
(:meth:`SdaModel.audio_windows`) and generates the video in windows of frames
with the recurrent state carried over (:meth:`SdaModel.generate`), so long
audio costs bounded memory and gives the same frames as one pass.

No global state: the noise comes from an explicit :class:`torch.Generator`.
On CUDA, TF32 should be off for results that match the CPU to float32
rounding; this module does not touch those global switches.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence, cast

import numpy as np
import torch
from torch import nn

from deepstory.neural.checkpoint import CheckpointError, load_strict, read_checkpoint

__all__ = [
    "SdaSettings",
    "GRID",
    "AudioEncoder",
    "IdentityEncoder",
    "FrameGenerator",
    "SdaModel",
    "build_networks",
    "load_sda",
    "NETWORK_KEYS",
    "AUX_STD",
]

NETWORK_KEYS = ("encoder", "encoder_id", "generator")
AUX_STD = 0.33  # VideoAnimator's noise: N(0, 0.33) per frame and latent dimension


@dataclass(frozen=True)
class SdaSettings:
    """The scalar settings stored in an SDA checkpoint next to the state dicts."""

    img_size: tuple[int, int] = (128, 96)  # (H, W)
    audio_rate: int = 50000
    video_rate: int = 25
    audio_feat_len: float = 0.2
    audio_feat_samples: int = 10000
    id_enc_dim: int = 128
    rnn_gen_dim: int = 256
    aud_enc_dim: int = 256
    aux_latent: int = 10
    sequential_noise: bool = True

    @property
    def stride(self) -> int:
        """Audio samples per video frame (VideoAnimator's cutting stride)."""
        return int(self.audio_rate / float(self.video_rate))

    @property
    def pad(self) -> int:
        """Zeros added around the waveform in total, ``pad // 2`` of them on the left."""
        return self.audio_feat_samples - self.stride


GRID = SdaSettings()


# ---------------------------------------------------------------------------------------------
# Audio encoder
# ---------------------------------------------------------------------------------------------


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _conv_plan(samples: int, rate: int, init_kernel: float, init_stride: float) -> list[tuple[int, int, int]]:
    """``(kernel, stride, padding)`` of the strided conv layers of the audio window encoder.

    The first layer has a kernel/stride given in seconds.  The rest have the
    prime factors of the first layer's output length as strides (ascending),
    kernels twice the stride, and "same"-style padding, except that the last
    prime factor is not used by a strided layer: a final conv spanning the
    whole remaining length takes its place (see :class:`WindowEncoder`).
    """
    kernels = [int(init_kernel * rate)]
    strides = [int(init_stride * rate)]
    length = samples
    total_pad = _same_padding(length, kernels[0], strides[0])
    after_first = _out_len(length, kernels[0], strides[0], total_pad)
    for s in _prime_factors(after_first):
        strides.append(s)
        kernels.append(2 * s)
    plan = []
    for k, s in zip(kernels[:-1], strides[:-1]):
        total_pad = _same_padding(length, k, s)
        length = _out_len(length, k, s, total_pad)
        plan.append((k, s, int(math.ceil(total_pad / 2.0))))
    return plan


def _same_padding(length: int, kernel: int, stride: int) -> int:
    """Total padding so that the output has ``ceil(length / stride)`` steps."""
    out = int(math.ceil(length / float(stride)))
    return max(0, (out - 1) * stride + kernel - length)


def _out_len(length: int, kernel: int, stride: int, total_pad: int) -> int:
    return (length + total_pad - kernel) // stride + 1


class WindowEncoder(nn.Module):
    """One audio window ``[N,1,samples]`` -> code ``[N,code]``: strided Conv1d+BN+ReLU, last conv+tanh."""

    def __init__(
        self,
        code_size: int,
        rate: int,
        feat_len: float,
        init_kernel: float = 0.005,
        init_stride: float = 0.001,
        base_maps: int = 16,
    ):
        super().__init__()
        samples = int(rate * feat_len)
        self.samples, self.code_size = samples, code_size
        self.cl = nn.ModuleList()
        self.activations = nn.ModuleList()
        length, channels = samples, 1
        for i, (k, s, p) in enumerate(_conv_plan(samples, rate, init_kernel, init_stride)):
            maps = base_maps if i == 0 else 2 * channels
            self.cl.append(nn.Conv1d(channels, maps, k, stride=s, padding=p))
            self.activations.append(nn.Sequential(nn.BatchNorm1d(maps), nn.ReLU(True)))
            length = (length + 2 * p - k) // s + 1
            channels = maps
        self.cl.append(nn.Conv1d(channels, code_size, length))
        self.activations.append(nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, act in zip(self.cl, self.activations):
            x = act(conv(x))
        return x.reshape(x.shape[0], self.code_size)


class AudioEncoder(nn.Module):
    """SDA's ``RNN``: window codes, then a GRU over the frames.  ``[B,T,samples(,1)]`` -> ``[B,T,rnn]``."""

    def __init__(
        self,
        feat_len: float,
        enc_code_size: int,
        rnn_code_size: int,
        rate: int,
        n_layers: int = 2,
        init_kernel: float = 0.005,
        init_stride: float = 0.001,
    ):
        super().__init__()
        self.samples = int(rate * feat_len)
        self.enc_code_size, self.rnn_code_size = enc_code_size, rnn_code_size
        self.encoder = WindowEncoder(enc_code_size, rate, feat_len, init_kernel, init_stride)
        self.rnn = nn.GRU(enc_code_size, rnn_code_size, n_layers, batch_first=True)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Per-window conv codes ``[B,T,enc]`` of windows ``[B,T,samples]`` or ``[B,T,samples,1]``."""
        b, t = x.shape[0], x.shape[1]
        return self.encoder(x.reshape(b * t, 1, self.samples)).view(b, t, self.enc_code_size)

    def encode(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All frames of every sequence (no padding), from GRU ``state`` (zeros if None): ``(z, state)``."""
        return self.rnn(self.codes(x), state)

    def forward(self, x: torch.Tensor, lengths: Sequence[int] | None = None) -> torch.Tensor:
        """Like SDA: ``lengths`` per sequence; frames past a sequence's length come out as zeros."""
        codes = self.codes(x)
        t = codes.shape[1]
        if lengths is None or all(int(n) == t for n in lengths):
            return self.rnn(codes)[0].contiguous()
        packed = nn.utils.rnn.pack_padded_sequence(
            codes, torch.as_tensor(list(lengths), dtype=torch.int64).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return out.contiguous()


# ---------------------------------------------------------------------------------------------
# Identity encoder
# ---------------------------------------------------------------------------------------------


def _halvings(img_size: tuple[int, int], kernel: int = 4) -> tuple[int, tuple[int, int]]:
    """Number of stride-2 layers and the final feature size: halve until the larger side is ``kernel``."""
    h, w = img_size
    n = int(round(math.log2(max(h, w) / kernel)))
    if max(h, w) != kernel * 2**n or h % 2**n or w % 2**n:
        raise ValueError(f"image size {img_size} is not supported (sides must halve down to {kernel})")
    return n, (h // 2**n, w // 2**n)


class IdentityEncoder(nn.Module):
    """SDA's image ``Encoder``: ``[B,3,H,W]`` in [-1,1] -> ``z_id [B,code]`` (+ the skips)."""

    def __init__(
        self, code_size: int, img_size: tuple[int, int], kernel: int = 4, in_channels: int = 3, base_maps: int = 64
    ):
        super().__init__()
        n, self.final_size = _halvings(img_size, kernel)
        self.code_size = code_size
        self.channels = [base_maps * 2**i for i in range(n)]
        self.cl = nn.ModuleList()
        prev = in_channels
        for ch in self.channels:
            self.cl.append(
                nn.Sequential(
                    nn.Conv2d(prev, ch, kernel, stride=2, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)
                )
            )
            prev = ch
        self.cl.append(nn.Sequential(nn.Conv2d(prev, code_size, self.final_size, bias=False), nn.Tanh()))

    def forward(self, x: torch.Tensor, retain_intermediate: bool = False):
        skips = []
        for layer in self.cl:
            x = layer(x)
            skips.append(x)
        z = x.reshape(-1, self.code_size)
        return (z, skips[:-1]) if retain_intermediate else z


# ---------------------------------------------------------------------------------------------
# Frame generator
# ---------------------------------------------------------------------------------------------


class UnetBlock(nn.Module):
    """Skip concat, 3x3 transposed conv (same size) + BN + ReLU, 4x4/2 transposed conv (x2) + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, kernel: int = 4):
        super().__init__()
        # registration order = state-dict order of the checkpoint: dcl1, dcl2, activation1, activation2
        self.dcl1 = nn.ConvTranspose2d(in_channels + skip_channels, in_channels, 3, padding=1, bias=False)
        self.dcl2 = nn.ConvTranspose2d(in_channels, out_channels, kernel, stride=2, padding=1, bias=False)
        self.activation1 = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(True))
        self.activation2 = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.activation1(self.dcl1(torch.cat((x, skip), dim=1)))
        return self.activation2(self.dcl2(x))


class FrameGenerator(nn.Module):
    """SDA's image ``Generator`` with sequential noise and U-Net skips from the identity encoder."""

    def __init__(
        self,
        img_size: tuple[int, int],
        latent_size: int,
        condition_size: int,
        num_gen_channels: int,
        skip_channels: Sequence[int],
        aux_size: int,
        sequential_noise: bool = True,
        kernel: int = 4,
        out_channels: int = 3,
    ):
        super().__init__()
        n, self.init_size = _halvings(img_size, kernel)
        self.img_size = tuple(img_size)
        self.latent_size, self.condition_size, self.aux_size = latent_size, condition_size, aux_size
        self.total_latent_size = latent_size + condition_size + aux_size
        self.sequential_noise = bool(sequential_noise and aux_size > 0)
        if self.sequential_noise:
            self.rnn_noise = nn.GRU(aux_size, aux_size, batch_first=True)
            self.rnn_noise_squashing = nn.Tanh()
        self.dcl = nn.ModuleList()
        self.dcl.append(
            nn.Sequential(
                nn.ConvTranspose2d(self.total_latent_size, num_gen_channels, self.init_size, bias=False),
                nn.BatchNorm2d(num_gen_channels),
                nn.ReLU(True),
            )
        )
        skip_channels = list(skip_channels)
        ch = num_gen_channels
        for i in range(n - 1):
            self.dcl.append(UnetBlock(ch, ch // 2, skip_channels[i], kernel))
            ch //= 2
        self.dcl.append(nn.ConvTranspose2d(ch, out_channels, kernel, stride=2, padding=1, bias=False))
        self.final_activation = nn.Tanh()
        self.num_skips = n - 1

    def noise(self, aux: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``aux [B,T,aux]`` through the noise GRU and tanh (identity without sequential noise)."""
        if not self.sequential_noise:
            return aux, state
        out, state = self.rnn_noise(aux, state)
        return self.rnn_noise_squashing(out), state

    def decode(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        aux: torch.Tensor | None,
        skip: Sequence[torch.Tensor],
        noise_state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frames ``[B*T,3,H,W]`` of ``z [B,T,latent]``, ``c [B,T,cond]``, ``aux [B,T,aux]`` and skips
        ``[B,T,C,h,w]`` (deepest first); also the noise GRU's final state."""
        parts = [z]
        if self.aux_size > 0:
            if aux is None:
                raise ValueError("this generator needs aux noise")
            aux, noise_state = self.noise(aux, noise_state)
            parts.append(aux)
        parts.append(c)  # latent order [z, aux, c]: the golden video tells the orders apart
        x = torch.cat(parts, dim=2).reshape(-1, self.total_latent_size, 1, 1)
        if len(skip) < self.num_skips:
            raise ValueError(f"generator needs {self.num_skips} skips, got {len(skip)}")
        x = self.dcl[0](x)
        for i in range(1, len(self.dcl) - 1):
            s = skip[i - 1]
            x = self.dcl[i](x, s.reshape(-1, *s.shape[-3:]))
        return self.final_activation(self.dcl[-1](x)), noise_state

    def forward(
        self, z: torch.Tensor, c: torch.Tensor, aux: torch.Tensor | None = None, skip: Sequence[torch.Tensor] = ()
    ) -> torch.Tensor:
        return self.decode(z, c, aux, skip)[0]


# ---------------------------------------------------------------------------------------------
# Building, loading, generating
# ---------------------------------------------------------------------------------------------


def build_networks(settings: SdaSettings = GRID) -> dict[str, nn.Module]:
    """The three networks of ``settings`` as VideoAnimator builds them (random weights, eval mode)."""
    s = settings
    encoder = AudioEncoder(
        s.audio_feat_len, s.aud_enc_dim, s.rnn_gen_dim, s.audio_rate, init_kernel=0.005, init_stride=0.001
    )
    encoder_id = IdentityEncoder(s.id_enc_dim, s.img_size)
    generator = FrameGenerator(
        s.img_size,
        s.rnn_gen_dim,
        condition_size=s.id_enc_dim,
        num_gen_channels=encoder_id.channels[-1],
        skip_channels=list(reversed(encoder_id.channels)),
        aux_size=s.aux_latent,
        sequential_noise=s.sequential_noise,
    )
    return {"encoder": encoder.eval(), "encoder_id": encoder_id.eval(), "generator": generator.eval()}


class SdaModel:
    """The loaded GRID model: networks, settings and VideoAnimator's audio handling."""

    def __init__(
        self, settings: SdaSettings = GRID, networks: Mapping[str, nn.Module] | None = None, mean_face: Any = None
    ):
        self.settings = settings
        nets = dict(networks) if networks is not None else build_networks(settings)
        # The keys hold the classes build_networks makes (a plain Mapping[str, nn.Module] in the signature).
        self.encoder = cast(AudioEncoder, nets["encoder"]).eval()
        self.encoder_id = cast(IdentityEncoder, nets["encoder_id"]).eval()
        self.generator = cast(FrameGenerator, nets["generator"]).eval()
        self.mean_face = mean_face

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "encoder_id": self.encoder_id, "generator": self.generator}

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: torch.device | str) -> "SdaModel":
        for net in self.networks.values():
            net.to(device)
        return self

    # -- audio --------------------------------------------------------------------------------

    def audio_windows(
        self, audio: np.ndarray | torch.Tensor, sample_rate: int, n_frames: int | None = None
    ) -> torch.Tensor:
        """VideoAnimator's audio cutting: one ``audio_feat_samples`` window per video frame, ``[T, samples]``.

        ``audio`` is mono: int16 samples (scaled by 1/32767 as VideoAnimator
        does) or floats already on that scale (deepstory's convention).  It is
        resampled to ``audio_rate`` (polyphase, :func:`deepstory.dsp.resample`;
        VideoAnimator uses scipy's FFT ``resample``), ``pad // 2`` zeros go on the left and the
        rest on the right, and window ``i`` starts at ``i * stride`` of the
        padded signal, so it is centred on video frame ``i``.  ``T`` is
        ``n_frames`` if given (the audio is zero-padded at the end to
        ``n_frames * stride`` samples when shorter; samples beyond only give
        the last windows their right context), otherwise
        ``len // stride`` as in VideoAnimator.
        """
        s = self.settings
        if torch.is_tensor(audio):
            audio = audio.detach().cpu().numpy()
        audio = np.asarray(audio)
        if audio.ndim == 2 and audio.shape[1] == 1:
            audio = audio[:, 0]
        if audio.ndim != 1:
            raise ValueError(f"SDA needs mono audio, got shape {audio.shape}")
        if audio.dtype == np.int16:
            wave = audio.astype(np.float32) / np.float32(32767.0)
        elif np.issubdtype(audio.dtype, np.floating):
            wave = audio.astype(np.float32)
        else:
            raise ValueError(f"audio must be int16 or float, got {audio.dtype}")
        if int(sample_rate) != s.audio_rate:
            from deepstory.dsp import resample

            wave = resample(wave, s.audio_rate / float(sample_rate))
        if n_frames is None:
            n_frames = len(wave) // s.stride
        n_frames = int(n_frames)
        if n_frames <= 0:
            return torch.zeros(0, s.audio_feat_samples)
        length = max(len(wave), n_frames * s.stride)
        padded = np.zeros(s.pad // 2 + length + (s.pad - s.pad // 2), dtype=np.float32)
        padded[s.pad // 2 : s.pad // 2 + len(wave)] = wave
        windows = torch.from_numpy(padded).unfold(0, s.audio_feat_samples, s.stride)
        return windows[:n_frames].clone()

    def draw_aux(self, n_frames: int, aux_generator: torch.Generator) -> torch.Tensor:
        """VideoAnimator's noise ``N(0, 0.33)`` ``[1,T,aux]``, from ``aux_generator`` (CPU)."""
        return AUX_STD * torch.randn(
            1, n_frames, self.settings.aux_latent, generator=aux_generator, dtype=torch.float32
        )

    # -- video --------------------------------------------------------------------------------

    @torch.no_grad()
    def identity(self, frame: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``z_id [1,id]`` and the skips (shallowest first) of a ``[3,H,W]``/``[1,3,H,W]`` frame in [-1,1]."""
        frame = frame.to(self.device, torch.float32)
        if frame.dim() == 3:
            frame = frame.unsqueeze(0)
        if tuple(frame.shape[-2:]) != tuple(self.settings.img_size):
            raise ValueError(f"frame must be {tuple(self.settings.img_size)} (H, W), got {tuple(frame.shape[-2:])}")
        return self.encoder_id(frame, retain_intermediate=True)

    @torch.no_grad()
    def generate(
        self,
        audio: torch.Tensor,
        frame: torch.Tensor,
        aux_generator: torch.Generator | None = None,
        max_frames: int = 64,
        aux: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The video ``[T,3,H,W]`` in tanh range for audio windows and a still frame, as VideoAnimator.

        ``audio``: windows ``[T,samples]`` (from :meth:`audio_windows`) or
        ``[1,T,samples(,1)]``.  ``frame``: the aligned portrait ``[3,H,W]`` in
        [-1,1].  The noise is drawn for all frames at once from
        ``aux_generator`` (or given as ``aux [1,T,aux]``).  At most
        ``max_frames`` frames are decoded at a time; both GRUs carry their
        state from one window to the next, so the result does not depend on
        ``max_frames`` (up to float rounding, about 1e-6 on CPU).  The frame is
        not face-aligned here (VideoAnimator's ``aligned=True`` path).
        """
        device = self.device
        windows = audio.reshape(-1, self.settings.audio_feat_samples)
        t = windows.shape[0]
        out = torch.empty(t, 3, *self.settings.img_size, device=device)
        if t == 0:
            return out
        if self.settings.aux_latent > 0 and aux is None:
            if aux_generator is None:
                raise ValueError("generate needs an aux_generator (torch.Generator) for the noise")
            aux = self.draw_aux(t, aux_generator)
        z_id, skips = self.identity(frame)
        skips = skips[::-1]
        audio_state = noise_state = None
        step = max(1, int(max_frames))
        for start in range(0, t, step):
            stop = min(t, start + step)
            n = stop - start
            x = windows[start:stop].to(device, torch.float32).unsqueeze(0)
            z, audio_state = self.encoder.encode(x, audio_state)
            c = z_id.unsqueeze(1).expand(-1, n, -1)
            skip = [s.unsqueeze(1).expand(-1, n, -1, -1, -1) for s in skips]
            a = aux[:, start:stop].to(device, torch.float32) if aux is not None else None
            out[start:stop], noise_state = self.generator.decode(z, c, a, skip, noise_state)
        return out


def _numpy_safe_globals() -> list:
    """The numpy globals needed to unpickle a plain ndarray (``mean_face``), old and new module names."""
    try:
        ma = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.x
        ma = importlib.import_module("numpy.core.multiarray")
    allowed: list = [np.ndarray, np.dtype, ma._reconstruct, ma.scalar]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        for name in (
            "Bool",
            "Int8",
            "Int16",
            "Int32",
            "Int64",
            "UInt8",
            "UInt16",
            "UInt32",
            "UInt64",
            "Float16",
            "Float32",
            "Float64",
        ):
            cls = getattr(dtypes, f"{name}DType", None)
            if cls is not None:
                allowed.append(cls)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(ma._reconstruct, f"{mod}._reconstruct"), (ma.scalar, f"{mod}.scalar")]
    return allowed


def _settings_from(ckpt: Mapping[str, Any], path: Path, where: str, expected: SdaSettings) -> SdaSettings:
    values = {}
    for f in fields(SdaSettings):
        if f.name not in ckpt:
            raise CheckpointError(f"{where}: {path}: missing setting {f.name} (expected {getattr(expected, f.name)!r})")
        found, want = ckpt[f.name], getattr(expected, f.name)
        if torch.is_tensor(found) or isinstance(found, np.ndarray):
            found = found.tolist()
        if isinstance(want, tuple):
            ok = (
                isinstance(found, (tuple, list))
                and len(found) == len(want)
                and all(_num_eq(a, b) for a, b in zip(found, want))
            )
            found = tuple(found) if isinstance(found, (tuple, list)) else found
        elif isinstance(want, bool):
            ok = isinstance(found, (bool, np.bool_)) or found in (0, 1)
            ok = ok and bool(found) == want
        else:
            ok = _num_eq(found, want)
        if not ok:
            raise CheckpointError(f"{where}: {path}: setting {f.name} expected {want!r}, found {found!r}")
        values[f.name] = want
    return SdaSettings(**values)


def _num_eq(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def _one_line(message: str, path: Path, where: str) -> str:
    """torch's weights-only refusal spans many lines; keep the line that names the refused global."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) <= 1:
        return message.strip()
    detail = next((line for line in lines if "Unsupported global" in line or "got <class" in line), None)
    if detail is None:
        return " ".join(lines)
    detail = detail.replace("WeightsUnpickler error: ", "").split(". Please use", 1)[0]
    return f"{where}: cannot read checkpoint {path}: refused by torch.load(weights_only=True): {detail}"


def load_sda(
    path: Path | str,
    where: str = "models.motion.checkpoint",
    settings: SdaSettings = GRID,
    device: torch.device | str = "cpu",
) -> SdaModel:
    """Read an SDA checkpoint (``grid.dat``) strictly; the one-line :class:`CheckpointError` names what is wrong.

    ``grid.dat`` is a plain pickled dict: the three state dicts, python scalars
    and a numpy ``mean_face``.  It is read with ``weights_only=True``; only the
    numpy globals needed to rebuild a plain array are allowlisted (never
    ``weights_only=False``, which would run arbitrary pickled code).
    """
    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            ckpt = read_checkpoint(path, where)
    except CheckpointError as exc:
        raise CheckpointError(_one_line(str(exc), path, where)) from exc
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(
            f"{where}: {path} is not an SDA checkpoint (found {type(ckpt).__name__}, expected a dict)"
        )
    for key in NETWORK_KEYS:
        if key not in ckpt:
            raise CheckpointError(
                f"{where}: {path}: missing key {key!r} (an SDA checkpoint holds {', '.join(NETWORK_KEYS)})"
            )
    found = _settings_from(ckpt, path, where, settings)
    nets = build_networks(found)
    for key in NETWORK_KEYS:
        load_strict(nets[key], ckpt[key], path, f"{where} [{key}]")
    return SdaModel(found, nets, mean_face=ckpt.get("mean_face")).to(device)
