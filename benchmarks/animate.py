"""Animator speed: frames per second of ``models.animator`` alone, per demo portrait, no encoding.

Each portrait of the demo cast (``conf/speakers/chapter3.yaml``) is fitted to
``--size`` pixels and animated through a motion track that cycles through every
mouth shape with blinks and head motion, the way a render drives it.  The
figure is the animator's own work per frame (warps, compositing, the uint8
copy to the CPU), which the animate stage adds to the encoder's.

    python benchmarks/animate.py                  # 512x512, 1000 frames per portrait
    python benchmarks/animate.py --size 256 --frames 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from deepstory.config import instantiate  # noqa: E402  (registers the config's resolvers)
from deepstory.contact.stage import shape_rows  # noqa: E402
from deepstory.memory import tune_allocator  # noqa: E402
from deepstory.portrait.cast import Cast  # noqa: E402
from deepstory.run.config import register_schemas  # noqa: E402
from deepstory.threads import describe_cores  # noqa: E402
from deepstory.track import FACE  # noqa: E402


def motion(frames: int) -> np.ndarray:
    """Every shape held for four frames in turn, a blink every 40 frames, a slow sway."""
    shapes = shape_rows()
    rows = shapes[(np.arange(frames) // 4) % len(shapes)].copy()
    t = np.arange(frames)
    rows[:, FACE.index("blink")] = np.clip(1 - np.abs((t % 40) - 3) / 3, 0, 1)
    rows[:, FACE.index("dx")] = 0.02 * np.sin(t / 30)
    rows[:, FACE.index("roll")] = 1.5 * np.sin(t / 45)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and OpenCV threads (a render gives torch one, stages.animate.threads, and OpenCV all cores)",
    )
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # the head warp's remap on a CPU
    tune_allocator()  # as a render does
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose("config")
    animator = instantiate(cfg.models.animator, "models.animator")
    cast = Cast(cfg.speakers, tuple(cfg.video.background))
    track = motion(args.frames)
    total_frames, total_time = 0, 0.0
    print(f"{'speaker':10s} {'frames':>7s} {'seconds':>8s} {'fps':>7s}")
    for speaker in cfg.speakers:
        prepared = animator.prepare(cast.portrait(str(speaker), (args.size, args.size)))
        for _ in animator.frames(prepared, track[:16]):  # warm-up
            pass
        t0 = time.perf_counter()
        for _ in animator.frames(prepared, track):
            pass
        seconds = time.perf_counter() - t0
        total_frames, total_time = total_frames + args.frames, total_time + seconds
        print(f"{speaker!s:10s} {args.frames:7d} {seconds:8.2f} {args.frames / seconds:7.1f}")
    print(f"{'all':10s} {total_frames:7d} {total_time:8.2f} {total_frames / total_time:7.1f}")


if __name__ == "__main__":
    main()
