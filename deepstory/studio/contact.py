"""One character's contact sheet of mouth shapes for the studio, in a process of its own (torch and the
animator stay out of the server):

    python -m deepstory.studio.contact SPEAKERS_YAML NAME OUT.png [SIZE]

Writes ``OUT.png``: one row of the character's portrait as the configured animator (``models.animator``, the
warp) draws it, at rest and in each mouth shape (``deepstory.contact.stage.shape_rows``), ``SIZE`` pixels a tile
(128), before any render.  The portrait is fitted as the single layout fits it, and a mouth the photo has open
is closed at rest, as in a render.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.console import Console

from deepstory.errors import DeepstoryError
from deepstory.files import atomic_path
from deepstory.run.config import register_schemas
from deepstory.voices import config_dir

SIZE = 128


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    speakers_file, name, out = args[:3]
    size = int(args[3]) if len(args) > 3 else SIZE
    console = Console(stderr=True)
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["device=cpu"] if _has_cpu_device() else [])
    speakers = OmegaConf.load(speakers_file)
    if not isinstance(speakers, DictConfig) or name not in speakers:
        console.print(f"error: {name!r} is not in {speakers_file}")
        return 2
    cfg.speakers = OmegaConf.create({name: speakers[name]})
    try:
        sheet = draw(cfg, name, size)
    except DeepstoryError as exc:
        console.print(f"error: {exc}")
        return exc.exit_code
    with atomic_path(Path(out)) as tmp:
        sheet.save(tmp, format="PNG")
    return 0


def draw(cfg: DictConfig, name: str, size: int) -> Image.Image:
    """The character's row of mouth shapes, drawn by the configured animator."""
    from deepstory.animate.rest import RestPose
    from deepstory.config import instantiate
    from deepstory.contact.stage import draw_sheet
    from deepstory.errors import UserError
    from deepstory.portrait.cast import Cast
    from deepstory.track import FACE

    layout = instantiate(cfg.layout, "layout")
    background = tuple(int(v) for v in cfg.video.get("background", (255, 255, 255)))
    cast = Cast(cfg.speakers, background, layout.face_margin, framing=layout.framing, rest=RestPose())  # type: ignore[arg-type]
    animator = instantiate(cfg.models.animator, "models.animator")
    try:
        if animator.accepts != FACE:
            raise UserError(f"{type(animator).__name__} takes no mouth shapes: no contact sheet to draw")
        return draw_sheet(animator, [(name, cast.portrait(name, (size, size)))], size)
    finally:
        animator.close()


def _has_cpu_device() -> bool:
    return (config_dir() / "device" / "cpu.yaml").is_file()


if __name__ == "__main__":
    sys.exit(main())
