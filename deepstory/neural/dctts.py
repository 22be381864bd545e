"""DC-TTS (Tachibana et al. 2017) as used by deepstory: ``Text2Mel`` + ``SSRN`` + Griffin-Lim.

Own implementation of the architecture of deepstory ``modules/dctts`` (a port of
pytorch-dc-tts), laid out so that the published per-speaker checkpoints
``t2m*.pth`` and ``ssrn.pth`` (``{'epoch', 'global_step', 'state_dict',
'optimizer'}``) load with ``strict=True``.  The state-dict layout is pinned by
``tests/data/checkpoint_specs/dctts_{text2mel,ssrn}.json``.

Architecture (d=512, e=128, c=640, 80 mels, 1025 linear bins):

* Every convolution unit is ``conv -> [drop the last (k-1)*dilation frames if
  causal] -> [LayerNorm over channels] -> dropout -> [ReLU]``.  Causal units pad
  ``(k-1)*dilation`` on both sides and drop the tail (= left padding only);
  non-causal units pad ``(k-1)*dilation // 2``.
* Text2Mel uses LayerNorm (eps 1e-5) after every conv and gated-conv blocks
  ``x + GLU(conv(x))`` whose conv has 2x the channels.  ``TextEnc`` is non-causal,
  ``AudioEnc`` and ``AudioDec`` are causal, so frame ``t`` of the output depends
  only on input frames ``<= t``.
* Attention: ``A = softmax_N(K^T Q / sqrt(d))``, ``R = V A``,
  ``Y_logit = AudioDec([R; Q])``, ``Y = sigmoid(Y_logit)``.  With
  ``monotonic_attention=True`` each column whose raw argmax jumps by less than
  -1 or more than +3 positions from the previous column's argmax is replaced by
  a one-hot logit column (``1`` at ``min(N-1, prev+1)``, ``-2**20`` elsewhere).
* SSRN uses the legacy weight normalisation (``weight_g``, ``weight_v``; the
  effective weight is ``g * v / ||v||`` with the norm over every dim but 0, which
  for a transposed conv is the input-channel axis), residual blocks
  ``x + relu(C2(relu(C1(x))))`` and two stride-2 transposed convs (4x in time).

Synthesis (as deepstory's ``voice.py``): start from one zero mel frame, generate
frames one at a time with monotonic attention and stop right after the step
whose attention argmax lands on the ``'E'`` (end of text) character, or after
``max_frames`` steps.  Because everything after the text encoder is causal the
generation here is *incremental* (each causal conv keeps the last
``(k-1)*dilation`` input frames), which gives the same frames as re-running the
whole Text2Mel on the growing input, in O(T) instead of O(T^2).  The mel frames
(including the leading zero frame) go through SSRN to a normalised linear
magnitude ``Z`` in [0, 1], which is turned into a waveform with the original
DC-TTS conventions, the inverse of its preprocessing:

* ``dB = clip(Z, 0, 1) * max_db - max_db + ref_db`` (max_db 140, ref_db 20 in
  deepstory), amplitude ``10 ** (dB / 20)``, raised to ``power`` (1.2) to sharpen;
* Griffin-Lim with ``n_fft`` 2048, hop 275, window 1102 (periodic Hann, centred
  in the FFT frame), ``center=True`` with reflect padding; the initial phase is
  zero (the magnitude itself, as the original code does), so the result is
  deterministic; 32 iterations by default (the original uses 50);
* de-emphasis ``y[n] = x[n] + 0.97 * y[n-1]`` (the inverse of the 0.97
  pre-emphasis), float32 output at 22050 Hz.  The original's final
  ``librosa.effects.trim`` is not applied (the caller's silence trimming does
  that job); no peak normalisation.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointError, load_strict, read_checkpoint

VOCAB = "PE abcdefghijklmnopqrstuvwxyz'.,!?"
PAD, EOS = "P", "E"


@dataclass(frozen=True)
class HParams:
    """deepstory's DC-TTS hyper-parameters (only what inference needs)."""

    vocab: str = VOCAB
    e: int = 128  # character embedding size
    d: int = 512  # Text2Mel hidden size (upstream pytorch-dc-tts uses 256)
    c: int = 640  # SSRN hidden size
    n_mels: int = 80
    n_fft: int = 2048
    sr: int = 22050
    hop_length: int = 275  # 0.0125 s
    win_length: int = 1102  # 0.05 s
    reduction_rate: int = 4  # SSRN upsamples time by this factor (two stride-2 deconvs)
    max_T: int = 326  # maximum number of generated mel frames
    max_db: float = 140.0
    ref_db: float = 20.0
    power: float = 1.2
    preemphasis: float = 0.97
    dropout_rate: float = 0.05
    gl_iters: int = 32

    @property
    def n_bins(self) -> int:
        return 1 + self.n_fft // 2


# --------------------------------------------------------------------------- layers


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, T) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class WeightNormConv1d(nn.Module):
    """A (transposed) 1-D convolution with legacy weight normalisation.

    Parameters are registered as ``bias``, ``weight_g``, ``weight_v`` — the names
    and order ``torch.nn.utils.weight_norm`` left in old state dicts.
    ``weight_g`` has shape ``[weight_v.shape[0], 1, 1]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        transposed: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.transposed = transposed
        shape = (in_channels, out_channels, kernel_size) if transposed else (out_channels, in_channels, kernel_size)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        v = torch.randn(shape) / math.sqrt(shape[1] * kernel_size)
        self.weight_g = nn.Parameter(v.flatten(1).norm(dim=1).view(-1, 1, 1))
        self.weight_v = nn.Parameter(v)

    def weight(self) -> torch.Tensor:
        v = self.weight_v
        return v * (self.weight_g / v.norm(dim=tuple(range(1, v.dim())), keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding, 0, 1, self.dilation)
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:  # same wording as nn.Conv1d / nn.ConvTranspose1d
        s = f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kernel_size},), stride=({self.stride},)"
        if self.padding:
            s += f", padding=({self.padding},)"
        if self.dilation != 1:
            s += f", dilation=({self.dilation},)"
        return s


class ConvUnit(nn.Module):
    """conv -> [causal crop] -> [LayerNorm] -> dropout -> [ReLU]  (pytorch-dc-tts ``C``)."""

    conv: WeightNormConv1d | nn.Conv1d  # weight-normed with norm="weight"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        *,
        causal: bool = False,
        norm: str = "layer",
        relu: bool = False,
        dropout: float = 0.05,
    ) -> None:
        super().__init__()
        self.causal, self.relu, self.dropout = causal, relu, dropout
        self.kernel_size, self.dilation = kernel_size, dilation
        self.pad = (kernel_size - 1) * dilation if causal else (kernel_size - 1) * dilation // 2
        if norm == "weight":
            self.conv = WeightNormConv1d(in_channels, out_channels, kernel_size, padding=self.pad, dilation=dilation)
        else:
            self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=self.pad, dilation=dilation)
        if norm == "layer":
            self.layer_norm = ChannelLayerNorm(out_channels)

    def _post(self, y: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "layer_norm"):
            y = self.layer_norm(y)
        y = F.dropout(y, self.dropout, self.training)
        return F.relu(y) if self.relu else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.causal and self.pad:
            y = y[:, :, : -self.pad]
        return self._post(y)

    def step(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        """One new frame ``x`` (B, C, 1) of a causal unit; ``cache`` keeps the last inputs."""
        span = self.pad + 1
        if span > 1:
            past = cache.get(self)
            if past is None:
                past = x.new_zeros(x.shape[0], x.shape[1], span - 1)
            x = torch.cat((past, x), dim=2)
            cache[self] = x[:, :, 1:]
        weight = self.conv.weight() if isinstance(self.conv, WeightNormConv1d) else self.conv.weight
        return self._post(F.conv1d(x, weight, self.conv.bias, dilation=self.dilation))


class DeconvUnit(nn.Module):
    """Weight-normed stride-2 transposed conv -> dropout  (pytorch-dc-tts ``D``)."""

    def __init__(self, channels: int, kernel_size: int = 2, dropout: float = 0.05) -> None:
        super().__init__()
        self.dropout = dropout
        self.deconv = WeightNormConv1d(channels, channels, kernel_size, stride=2, transposed=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.deconv(x), self.dropout, self.training)


class GatedConvBlock(nn.Module):
    """``x + GLU(C(x))`` with ``C`` doubling the channels."""

    def __init__(self, d: int, k: int, dilation: int, causal: bool, dropout: float) -> None:
        super().__init__()
        self.C = ConvUnit(d, 2 * d, k, dilation, causal=causal, norm="layer", dropout=dropout)
        self.glu = nn.GLU(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.glu(self.C(x)) + x

    def step(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        return self.glu(self.C.step(x, cache)) + x


class ResidualBlock(nn.Module):
    """``x + C2(C1(x))``, both units weight-normed with ReLU (SSRN, widening factor 1)."""

    def __init__(self, d: int, k: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.C1 = ConvUnit(d, d, k, dilation, norm="weight", relu=True, dropout=dropout)
        self.C2 = ConvUnit(d, d, k, dilation, norm="weight", relu=True, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.C2(self.C1(x)) + x


class _Stack(nn.Module):
    def __init__(self, layers: Iterable[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def step(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        for layer in self.layers:  # the causal units and blocks that AudioEnc and AudioDec stack
            x = cast("ConvUnit | GatedConvBlock", layer).step(x, cache)
        return x


class Embed(nn.Module):
    def __init__(self, vocab_size: int, e: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, e, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)


class TextEnc(nn.Module):
    """Characters (B, N) -> keys and values, each (B, d, N).  Non-causal."""

    def __init__(self, vocab_size: int, e: int, d: int, dropout: float) -> None:
        super().__init__()
        self.d = d
        self.embedding = Embed(vocab_size, e)
        blocks = [(3, 1), (3, 3), (3, 9), (3, 27)] * 2 + [(3, 1)] * 2 + [(1, 1)] * 2
        self.layers = nn.Sequential(
            ConvUnit(e, 2 * d, 1, relu=True, dropout=dropout),
            ConvUnit(2 * d, 2 * d, 1, dropout=dropout),
            *[GatedConvBlock(2 * d, k, dil, False, dropout) for k, dil in blocks],
        )

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.layers(self.embedding(ids).transpose(1, 2))
        return out[:, : self.d], out[:, self.d :]


class AudioEnc(_Stack):
    """Mel frames (B, n_mels, T) -> queries (B, d, T).  Causal."""

    def __init__(self, d: int, n_mels: int, dropout: float) -> None:
        dilations = [1, 3, 9, 27] * 2 + [3, 3]
        super().__init__(
            [
                ConvUnit(n_mels, d, 1, causal=True, relu=True, dropout=dropout),
                ConvUnit(d, d, 1, causal=True, relu=True, dropout=dropout),
                ConvUnit(d, d, 1, causal=True, dropout=dropout),
                *[GatedConvBlock(d, 3, dil, True, dropout) for dil in dilations],
            ]
        )

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        return self.layers(S)


class AudioDec(_Stack):
    """[R; Q] (B, 2d, T) -> mel logits (B, n_mels, T).  Causal."""

    def __init__(self, d: int, n_mels: int, dropout: float) -> None:
        blocks = [(3, 1), (3, 3), (3, 9), (3, 27), (3, 1), (3, 1), (1, 1)]
        super().__init__(
            [
                ConvUnit(2 * d, d, 1, causal=True, dropout=dropout),
                *[GatedConvBlock(d, k, dil, True, dropout) for k, dil in blocks],
                ConvUnit(d, d, 1, causal=True, relu=True, dropout=dropout),
                ConvUnit(d, n_mels, 1, causal=True, dropout=dropout),
            ]
        )

    def forward(self, RQ: torch.Tensor) -> torch.Tensor:
        return self.layers(RQ)


# --------------------------------------------------------------------------- networks


def _monotonic_column(logits: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Force one attention column (B, N) to move by -1..+3 positions from ``prev`` (B,)."""
    n = logits.argmax(dim=1)
    jump = n - prev
    bad = (jump < -1) | (jump > 3)
    forced = torch.full_like(logits, -(2.0**20))
    forced.scatter_(1, (prev + 1).clamp(max=logits.shape[1] - 1).unsqueeze(1), 1.0)
    logits = torch.where(bad.unsqueeze(1), forced, logits)
    return logits, logits.argmax(dim=1)


class Text2Mel(nn.Module):
    """``text2mel(L, S, monotonic_attention=False) -> (Y_logit, Y, A)``.

    ``L`` (B, N) int64 character ids, ``S`` (B, n_mels, T) mel frames so far;
    ``Y_logit``/``Y`` (B, n_mels, T) predict the next frames, ``A`` (B, N, T).
    """

    def __init__(self, vocab: str = VOCAB, e: int = 128, d: int = 512, n_mels: int = 80, dropout: float = 0.05) -> None:
        super().__init__()
        self.vocab, self.d = vocab, d
        self.text_enc = TextEnc(len(vocab), e, d, dropout)
        self.audio_enc = AudioEnc(d, n_mels, dropout)
        self.audio_dec = AudioDec(d, n_mels, dropout)

    def attend(
        self, K: torch.Tensor, V: torch.Tensor, Q: torch.Tensor, monotonic_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.bmm(K.transpose(1, 2), Q) / math.sqrt(self.d)
        if monotonic_attention:
            prev = torch.full((logits.shape[0],), -1, dtype=torch.long, device=logits.device)
            columns = []
            for t in range(logits.shape[2]):
                column, prev = _monotonic_column(logits[:, :, t], prev)
                columns.append(column)
            logits = torch.stack(columns, dim=2)
        A = torch.softmax(logits, dim=1)
        return torch.bmm(V, A), A

    def forward(self, L: torch.Tensor, S: torch.Tensor, monotonic_attention: bool = False):
        K, V = self.text_enc(L)
        Q = self.audio_enc(S)
        R, A = self.attend(K, V, Q, monotonic_attention)
        Y_logit = self.audio_dec(torch.cat((R, Q), dim=1))
        return Y_logit, torch.sigmoid(Y_logit), A


class SSRN(nn.Module):
    """``ssrn(Y) -> (Z_logit, Z)``: mels (B, n_mels, T) -> linear magnitudes (B, 1 + n_fft/2, 4T)."""

    def __init__(self, c: int = 640, n_mels: int = 80, n_bins: int = 1025, dropout: float = 0.05) -> None:
        super().__init__()

        def conv(i: int, o: int) -> ConvUnit:
            return ConvUnit(i, o, 1, norm="weight", dropout=dropout)

        def res(ch: int, k: int, dil: int) -> ResidualBlock:
            return ResidualBlock(ch, k, dil, dropout)

        self.layers = nn.Sequential(
            conv(n_mels, c),
            res(c, 3, 1),
            res(c, 3, 3),
            DeconvUnit(c, 2, dropout),
            res(c, 3, 1),
            res(c, 3, 3),
            DeconvUnit(c, 2, dropout),
            res(c, 3, 1),
            res(c, 3, 3),
            conv(c, 2 * c),
            res(2 * c, 3, 1),
            res(2 * c, 3, 1),
            conv(2 * c, n_bins),
            res(n_bins, 1, 1),
            conv(n_bins, n_bins),
        )

    def forward(self, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        Z_logit = self.layers(Y)
        return Z_logit, torch.sigmoid(Z_logit)


def build_text2mel(hp: HParams = HParams()) -> Text2Mel:
    return Text2Mel(hp.vocab, hp.e, hp.d, hp.n_mels, hp.dropout_rate)


def build_ssrn(hp: HParams = HParams()) -> SSRN:
    return SSRN(hp.c, hp.n_mels, hp.n_bins, hp.dropout_rate)


# --------------------------------------------------------------------------- text

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miss",
    "dr": "doctor",
    "st": "saint",
    "jr": "junior",
    "sr": "senior",
    "vs": "versus",
    "etc": "et cetera",
}
_CURRENCY = {"$": "dollars", "\u20ac": "euros", "\u00a3": "pounds"}
_SYMBOLS = {
    "&": " and ",
    "%": " percent ",
    "+": " plus ",
    "=": " equals ",
    "@": " at ",
    **{symbol: f" {word} " for symbol, word in _CURRENCY.items()},
}
_PAUSES = str.maketrans(
    {
        ";": ",",
        ":": ",",
        "\u2014": ",",
        "\u2013": ",",
        "\u2026": ".",
        "\u2018": "'",
        "\u2019": "'",
        "`": "'",
        "\u00b4": "'",
        "\u00a1": " ",
        "\u00bf": " ",
    }
)


def number_to_words(n: int) -> str:
    """Cardinal English words for a non-negative integer ("one hundred twenty three")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return number_to_words(head) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError(n)


def _spell_number(match: re.Match) -> str:
    whole, frac = match.group(1).replace(",", ""), match.group(2)
    digit_by_digit = len(whole) > 15  # absurdly long
    words = " ".join(_ONES[int(ch)] for ch in whole) if digit_by_digit else number_to_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(ch)] for ch in frac)
    return f" {words} "


def normalize_text(text: str, vocab: str = VOCAB) -> str:
    """Lower-case text using only ``vocab``'s characters (without the 'P'/'E' markers).

    Accents are stripped, digits and a few symbols/abbreviations are spelled out,
    ``; : — –`` become commas, ``…`` a full stop; anything else outside the
    vocabulary becomes a space, and runs of spaces collapse.
    """
    text = unicodedata.normalize("NFKD", text.translate(_PAUSES))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = re.sub(
        r"([$\u20ac\u00a3]) ?(\d(?:[\d,]*\d)?(?:\.\d+)?)", lambda m: f"{m.group(2)} {_CURRENCY[m.group(1)]}", text
    )
    text = re.sub(r"(\d[\d,]*\d|\d)(?:\.(\d+))?", _spell_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.lower()
    text = re.sub(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", lambda m: _ABBREVIATIONS[m.group(1)], text)
    allowed = re.escape("".join(ch for ch in vocab if ch not in (PAD, EOS)))
    text = re.sub(f"[^{allowed}]", " ", text)
    text = re.sub(r" +", " ", text)
    text = re.sub(r" ([.,!?])", r"\1", text)
    return text.strip()


def encode_text(text: str, vocab: str = VOCAB) -> list[int]:
    """Normalised text as character ids, ending with the 'E' id; [] when nothing is speakable."""
    text = normalize_text(text, vocab)
    if not re.search("[a-z]", text):
        return []
    index = {ch: i for i, ch in enumerate(vocab)}
    return [index[ch] for ch in text] + [index[EOS]]


# --------------------------------------------------------------------------- synthesis


@torch.no_grad()
def generate_mel(text2mel: Text2Mel, L: torch.Tensor, max_frames: int, incremental: bool = True) -> torch.Tensor:
    """Autoregressive mel generation for one text ``L`` (1, N) ending in 'E'.

    Returns (1, n_mels, 1 + steps): the initial zero frame followed by one frame
    per step.  Stops after the step whose (monotonic) attention argmax is on an
    'E' character, or after ``max_frames`` steps.  ``incremental=False`` re-runs
    the whole network on the growing input each step (the reference method).
    """
    if L.dim() != 2 or L.shape[0] != 1:
        raise ValueError(f"generate_mel expects one text of shape (1, N), got {list(L.shape)}")
    eos = text2mel.vocab.index(EOS)
    is_eos = (L[0] == eos).tolist()
    n_mels = cast(ConvUnit, text2mel.audio_dec.layers[-1]).conv.out_channels  # AudioDec ends in a ConvUnit
    zero = torch.zeros(1, n_mels, 1, device=L.device)
    if not incremental:
        Y = zero
        for _ in range(max_frames):
            _, Y_t, A = text2mel(L, Y, monotonic_attention=True)
            Y = torch.cat((zero, Y_t), dim=2)
            if is_eos[int(A[0, :, -1].argmax())]:
                break
        return Y
    K, V = text2mel.text_enc(L)
    scale = math.sqrt(text2mel.d)
    cache: dict = {}
    prev = torch.full((1,), -1, dtype=torch.long, device=L.device)
    frames, s = [zero], zero
    for _ in range(max_frames):
        q = text2mel.audio_enc.step(s, cache)  # (1, d, 1)
        logits = torch.bmm(K.transpose(1, 2), q)[:, :, 0] / scale  # (1, N)
        logits, prev = _monotonic_column(logits, prev)
        r = torch.bmm(V, torch.softmax(logits, dim=1).unsqueeze(2))  # (1, d, 1)
        s = torch.sigmoid(text2mel.audio_dec.step(torch.cat((r, q), dim=1), cache))
        frames.append(s)
        if is_eos[int(prev[0])]:
            break
    return torch.cat(frames, dim=2)


def griffin_lim(
    magnitude: torch.Tensor, n_fft: int = 2048, hop_length: int = 275, win_length: int = 1102, n_iter: int = 32
) -> torch.Tensor:
    """Waveform (hop * (frames - 1),) from a linear magnitude (1 + n_fft/2, frames); zero initial phase."""
    window = torch.hann_window(win_length, periodic=True, dtype=magnitude.dtype, device=magnitude.device)
    args: dict[str, Any] = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=True)
    spec = magnitude.to(torch.complex64 if magnitude.dtype != torch.float64 else torch.complex128)
    for _ in range(n_iter):
        wave = torch.istft(spec, **args)
        est = torch.stft(wave, pad_mode="reflect", return_complex=True, **args)
        spec = magnitude * est / est.abs().clamp_min(1e-8)
    return torch.istft(spec, **args)


def deemphasis(wave: np.ndarray, coefficient: float) -> np.ndarray:
    """Undo the pre-emphasis filter: ``y[n] = x[n] + coefficient * y[n-1]``."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -coefficient], np.asarray(wave, dtype=np.float64))


@torch.no_grad()
def spectrogram_to_wave(Z: torch.Tensor, hp: HParams = HParams(), n_iter: int | None = None) -> np.ndarray:
    """Normalised linear magnitude ``Z`` (1 + n_fft/2, frames) in [0, 1] -> float32 waveform at ``hp.sr``."""
    db = Z.detach().float().clamp(0.0, 1.0) * hp.max_db - hp.max_db + hp.ref_db
    magnitude = torch.pow(10.0, db * 0.05) ** hp.power
    wave = griffin_lim(magnitude, hp.n_fft, hp.hop_length, hp.win_length, hp.gl_iters if n_iter is None else n_iter)
    return deemphasis(wave.cpu().numpy(), hp.preemphasis).astype(np.float32)


class DCTTSVoice:
    """One speaker: a Text2Mel and an SSRN on one device, text in, 22050 Hz float32 samples out."""

    def __init__(self, text2mel: Text2Mel, ssrn: SSRN, hp: HParams = HParams()) -> None:
        self.text2mel, self.ssrn, self.hp = text2mel.eval(), ssrn.eval(), hp

    @property
    def device(self) -> torch.device:
        return next(self.text2mel.parameters()).device

    @property
    def sample_rate(self) -> int:
        return self.hp.sr

    @torch.no_grad()
    def mel(self, text: str, max_frames: int | None = None) -> torch.Tensor:
        """(1, n_mels, frames) for ``text``; frames == 0 when nothing is speakable."""
        ids = encode_text(text, self.hp.vocab)
        if not ids:
            return torch.zeros(1, self.hp.n_mels, 0, device=self.device)
        L = torch.tensor([ids], dtype=torch.long, device=self.device)
        return generate_mel(self.text2mel, L, self.hp.max_T if max_frames is None else max_frames)

    @torch.no_grad()
    def synthesize(self, text: str, max_frames: int | None = None, n_iter: int | None = None) -> np.ndarray:
        """Mono float32 samples; at most ``hop * (4 * (max_frames + 1) - 1)`` of them; empty when unspeakable."""
        Y = self.mel(text, max_frames)
        if Y.shape[2] == 0:
            return np.zeros(0, dtype=np.float32)
        _, Z = self.ssrn(Y)
        return spectrogram_to_wave(Z[0], self.hp, n_iter)


# --------------------------------------------------------------------------- loading


def _legacy_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torch>=2.1 parametrized weight-norm names onto the legacy ``weight_g``/``weight_v``."""
    out = {}
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        out[key] = value
    return out


def _state_dict_of(path: Path, where: str) -> Mapping[str, torch.Tensor]:
    checkpoint = read_checkpoint(path, where)
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise CheckpointError(f"{where}: {path} has no 'state_dict' entry (found {found})")
    return checkpoint["state_dict"]


def load_voice(
    folder: Path | str, where: str, device: torch.device | str | None = None, hp: HParams = HParams()
) -> DCTTSVoice:
    """Load ``<folder>/t2m*.pth`` (exactly one) and ``<folder>/ssrn.pth`` strictly.

    ``where`` is the config key the folder came from; it starts every error message.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{where}: DC-TTS voice folder not found: {folder}")
    matches = sorted(folder.glob("t2m*.pth"))
    if not matches:
        raise CheckpointError(f"{where}: checkpoint not found: {folder / 't2m*.pth'} (no Text2Mel file in {folder})")
    if len(matches) > 1:
        raise CheckpointError(
            f"{where}: ambiguous Text2Mel checkpoints in {folder}: "
            f"{', '.join(p.name for p in matches)} (keep exactly one t2m*.pth)"
        )
    ssrn_path = folder / "ssrn.pth"
    text2mel, ssrn = build_text2mel(hp), build_ssrn(hp)
    load_strict(text2mel, _legacy_names(_state_dict_of(matches[0], where)), matches[0], where)
    load_strict(ssrn, _legacy_names(_state_dict_of(ssrn_path, where)), ssrn_path, where)
    if device is not None:
        text2mel.to(device), ssrn.to(device)
    return DCTTSVoice(text2mel, ssrn, hp)


__all__ = [
    "VOCAB",
    "HParams",
    "Text2Mel",
    "SSRN",
    "DCTTSVoice",
    "WeightNormConv1d",
    "build_text2mel",
    "build_ssrn",
    "normalize_text",
    "encode_text",
    "number_to_words",
    "generate_mel",
    "griffin_lim",
    "spectrogram_to_wave",
    "load_voice",
]
