"""The kernel below, the stages above: what the kernel imports, the frontier stages added through config publish
and read, and stage objects that keep no per-run state."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, compose_cfg, render_here, tiny_args

#: The stage rooms and the driver: the kernel may import none of them.
ABOVE_THE_KERNEL = ("story", "speech", "chunk", "motion", "animate", "compose", "contact", "lipsync", "report", "run")
ABOVE_THE_KERNEL += ("scene", "voices", "portrait", "layout", "neural")  # the scene and the rooms it draws from


def module_path(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def deepstory_imports(path: Path) -> set[str]:
    """Every ``deepstory`` module ``path`` imports, at the top or inside a function (relative imports resolved)."""
    found: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("deepstory"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.startswith("deepstory"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names if module_path(f"{base}.{a.name}"))
    return found


def reached_from(roots: list[str]) -> dict[str, str]:
    """Every deepstory module the ``roots`` reach through imports, each with the module that imports it."""
    seen: dict[str, str] = {r: "" for r in roots}
    todo = list(roots)
    while todo:
        name = todo.pop()
        path = module_path(name)
        if path is None:
            continue
        for imported in deepstory_imports(path):
            parts = imported.split(".")
            for k in range(2, len(parts) + 1):  # a package's __init__ runs too
                prefix = ".".join(parts[:k])
                if prefix not in seen:
                    seen[prefix] = name
                    todo.append(prefix)
    return seen


def kernel_modules() -> list[str]:
    return [f"deepstory.kernel.{p.stem}" for p in sorted((ROOT / "deepstory" / "kernel").glob("*.py"))]


def test_the_kernel_imports_no_stage_package():
    """Walks the kernel's imports (the whole closure, imports inside functions too): none reaches a stage room."""
    reached = reached_from(kernel_modules())
    above = {m: by for m, by in reached.items() if m.split(".")[1] in ABOVE_THE_KERNEL}
    assert not above, f"the kernel reaches stage rooms: {above} (module: imported by)"
    assert "deepstory.cache" in reached and "deepstory.kernel.stage" in reached  # the walk does walk


def test_the_walk_finds_a_stage_import(tmp_path):
    """The check above can fail: a module importing a stage room, and one reaching it through another, are found."""
    reached = reached_from(["deepstory.staging"])
    assert reached["deepstory.story.files"] == "deepstory.staging"
    assert "deepstory.story.parse" in reached  # through story.files


def room_imports() -> dict[str, set[str]]:
    """Which rooms (``deepstory.<room>``: a package or a top-level module) each room imports."""
    edges: dict[str, set[str]] = {}
    for path in (ROOT / "deepstory").rglob("*.py"):
        room = path.relative_to(ROOT / "deepstory").with_suffix("").parts[0]
        for imported in deepstory_imports(path):
            other = imported.split(".")[1] if imported.count(".") else room
            if other != room:
                edges.setdefault(room, set()).add(other)
    return edges


def test_no_two_rooms_import_each_other():
    """Imports run one way between rooms: the floor below, the kernel, the stages in data-flow order, the driver."""
    edges = room_imports()
    both = sorted({tuple(sorted((a, b))) for a, to in edges.items() for b in to if a in edges.get(b, set())})
    assert not both, f"rooms that import each other: {both}"
    assert "speech" in edges["chunk"] and "kernel" in edges["speech"]  # the walk sees the data flow


def test_importing_the_kernel_loads_no_stage_module():
    code = (
        "import sys, deepstory.kernel.stage, deepstory.kernel.context, deepstory.kernel.progress\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('deepstory.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    rooms = {m.split(".")[1] for m in loaded.split()}
    assert not rooms & set(ABOVE_THE_KERNEL), sorted(rooms)


TALLY = [
    "stages.compose.enabled=false",
    "stages.contact.enabled=false",
    "stages.lipsync.enabled=false",
    "report.enabled=false",
    "+stages.tally={_target_: stage_plugins.ClipTally}",
    "+stages.echo={_target_: stage_plugins.TallyEcho}",
]


@pytest.mark.slow
def test_stages_added_through_config_follow_and_feed_each_other(tmp_path, tiny_story):
    """Two stages that are not deepstory's, added through config: the first follows the animate stage's
    published segments as they grow and publishes them under its own name; the second follows that.  Run one
    after the other, they read the same from the files."""
    side = render_here(tmp_path / "side", *tiny_args(tiny_story, tmp_path / "cache"), "cut_size=30000", *TALLY)
    tally = json.loads((side / "export" / "tally.json").read_text())
    grid = json.loads((side / "temp" / "animated" / "segments.json").read_text())["segments"]
    assert tally["clips"] == [s["frames"] for s in grid] and len(grid) >= 2
    seen = tally["seen"]
    assert seen == sorted(seen) and seen[0] < seen[-1] == len(grid), seen  # it followed a growing frontier
    assert json.loads((side / "export" / "echo.json").read_text()) == tally["clips"]
    alone = render_here(
        tmp_path / "alone", *tiny_args(tiny_story, tmp_path / "cache"), "cut_size=30000", "overlap=false", *TALLY
    )
    assert json.loads((alone / "export" / "tally.json").read_text())["seen"] == [len(grid)]  # one finished frontier
    assert json.loads((alone / "export" / "echo.json").read_text()) == tally["clips"]


@pytest.mark.slow
@pytest.mark.parametrize("overlap", [True, False])
def test_stage_objects_keep_no_per_run_state(tmp_path, tiny_story, overlap):
    """After a whole render the stage objects hold exactly what they held when built: one object could serve
    another run."""
    from rich.console import Console

    from deepstory.run.render import build_context, build_stages, run_stages

    cfg = compose_cfg(*tiny_args(tiny_story, tmp_path / "cache"), "report.enabled=false", f"overlap={overlap}")
    stages = build_stages(cfg)

    def state() -> dict[str, dict[str, str]]:
        return {s.name: {k: repr(v) for k, v in vars(s).items() if k != "_built"} for s in stages}

    before = state()
    ctx = build_context(cfg, tmp_path / "run", Console(file=io.StringIO()), stages)
    (tmp_path / "run" / "temp").mkdir(parents=True)
    (tmp_path / "run" / "export").mkdir()
    run_stages(ctx, stages)
    assert (tmp_path / "run" / "export" / "animated.mp4").is_file()
    assert state() == before
