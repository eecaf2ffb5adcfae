"""Render a world split to disk: ``images/``, ``masks/``, ``labels.csv``, ``world.json``; and the render cache.

One sample is rendered by :class:`robustscope.synth.scene.SceneRenderer`; this module renders a split's samples
in worker processes (images are independent of the worker), writes every file atomically so that an
interrupted render leaves no truncated file, and keys the render cache by the resolved spec and
:data:`~robustscope.synth.scene.RENDERER_VERSION` (:func:`ensure_rendered`).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from robustscope.formats.pug import PUG_IMAGENET_COLUMNS
from robustscope.synth.factors import GROUP_FACTORS
from robustscope.synth.scene import DEFAULT_VARIANT, RENDERER_VERSION, VARIANT_ENV, SceneRenderer
from robustscope.synth.spec import WorldSpec, load_spec

#: PUG:ImageNet columns (the release's file order), then robustscope's extra factor columns, in labels.csv order.
PUG_COLUMNS: tuple[str, ...] = PUG_IMAGENET_COLUMNS
EXTRA_COLUMNS: tuple[str, ...] = (
    "split",
    "sample_id",
    "mask_filename",
    "color",
    "position_x",
    "position_y",
    "light_azimuth",
    "light_elevation",
    "light_intensity",
    "light_color",
    "background",
)
LABEL_COLUMNS: tuple[str, ...] = PUG_COLUMNS + EXTRA_COLUMNS


def write_image(array: np.ndarray, path: Path, format: str = "PNG", **options: Any) -> None:
    """Write an image atomically (a temporary file, then renamed), so that an interrupted build never leaves a
    truncated image behind. ``uint8`` arrays are written as they are; float arrays are values in [0, 1] (clipped,
    scaled to 0–255 and rounded). ``options`` go to PIL's ``save`` (e.g. ``quality`` for JPEG).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.png"
        >>> write_image(np.array([[0.0, 0.5, 1.2]]), path)
        >>> np.asarray(Image.open(path)).tolist(), sorted(p.name for p in path.parent.iterdir())
        ([[0, 128, 255]], ['a.png'])
    """
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    Image.fromarray(array).save(tmp, format=format, **options)
    os.replace(tmp, path)


def _render_one(renderer: SceneRenderer, record: dict[str, Any], out: Path) -> None:
    """Render one sample and write its image and mask under ``out``."""
    rgb, mask = renderer.render(record)
    write_image(rgb, out / image_name(record["index"]))
    write_image(mask, out / mask_name(record["index"]))


def image_name(index: int) -> str:
    return f"images/{index:06d}.png"


def mask_name(index: int) -> str:
    return f"masks/{index:06d}.png"


def label_rows(spec: WorldSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """labels.csv of a resolved spec's sample records (PUG:ImageNet columns plus factor columns, then the group
    factors the world declares)."""
    split = spec.split or "all"
    rows = []
    for r in records:
        rows.append(
            {
                "filename": image_name(r["index"]),
                "world_name": r["background"],
                "character_name": r["character_label"],
                "character_label": r["character_label"],
                "character_rotation_yaw": r["yaw"],
                "character_rotation_roll": r["roll"],
                "character_rotation_pitch": r["pitch"],
                "character_scale": r["scale"],
                "camera_roll": 0.0,
                "camera_pitch": 0.0,
                "camera_yaw": 0.0,
                "character_texture": r["texture"],
                "scene_light": (
                    f"{r['light_color']}_az{r['light_azimuth']:g}_el{r['light_elevation']:g}_i{r['light_intensity']:g}"
                ),
                "split": split,
                "sample_id": f"{split}-{r['index']:06d}",
                "mask_filename": mask_name(r["index"]),
                "color": r["color"],
                "position_x": r["position_x"],
                "position_y": r["position_y"],
                "light_azimuth": r["light_azimuth"],
                "light_elevation": r["light_elevation"],
                "light_intensity": r["light_intensity"],
                "light_color": r["light_color"],
                "background": r["background"],
            }
        )
    frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    # Group factors (region, income, country, house) only where the world declares them: other worlds' labels.csv
    # keep their columns.
    for name in GROUP_FACTORS:
        if records and name in records[0]:
            frame[name] = [r[name] for r in records]
    return frame


# -- worker processes ------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(spec_dict: dict[str, Any], out_dir: str, variant: str | None) -> None:
    import drjit as dr

    # Parallelism comes from the processes; Mitsuba's own thread pool would oversubscribe the cores.
    dr.set_thread_count(1)
    _WORKER["renderer"] = SceneRenderer(WorldSpec.from_dict(spec_dict), variant)
    _WORKER["out"] = Path(out_dir)


def _render_chunk(records: list[dict[str, Any]]) -> int:
    renderer: SceneRenderer = _WORKER["renderer"]
    out: Path = _WORKER["out"]
    for record in records:
        _render_one(renderer, record, out)
    return len(records)


def _chunks(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def _render_parallel(
    spec: WorldSpec,
    out: Path,
    todo: list[dict[str, Any]],
    workers: int,
    chunk: int,
    variant: str | None,
    advance: Callable[[int], None],
) -> None:
    # Spawn, not fork: Mitsuba/Dr.Jit (and torch) hold threads that do not survive a fork.
    # An executor, not mp.Pool: a pool silently respawns crashed workers forever.
    context = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(spec.to_dict(), str(out), variant)
        ) as pool:
            pending = [pool.submit(_render_chunk, c) for c in _chunks(todo, chunk)]
            for future in as_completed(pending):
                advance(future.result())
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a render worker process died. If render_world was called from a script, put the call "
            "under `if __name__ == '__main__':` (workers are spawned and re-import the main module), "
            "or pass workers=1."
        ) from err


def _progress_bar(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_world(
    spec: WorldSpec | str,
    out_dir: Path | str,
    split: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    variant: str | None = None,
    resume: bool = False,
    records: list[dict[str, Any]] | None = None,
) -> Path:
    """Render one split of a world (or the spec itself if it has no splits) into ``out_dir``.

    ``records`` renders these sample records instead of the split's own (``spec.samples()``; each needs an
    ``index`` and every factor), e.g. the same instances under other poses (:mod:`robustscope.synth.pairs`).

    Writes ``images/*.png``, ``masks/*.png``, then ``world.json`` and, last, ``labels.csv`` (both
    atomically), so a folder with ``labels.csv`` is a complete render. ``resume=True`` keeps images
    already on disk (they are deterministic). Returns ``out_dir``.

    Example:
        >>> import tempfile
        >>> out = render_world("tiny", tempfile.mkdtemp(), split="test-id", workers=1, progress=False)
        >>> (out / "labels.csv").exists()
        True
    """
    base = load_spec(spec) if isinstance(spec, (str, Path)) else spec
    resolved = base.resolve(split) if (split is not None or base.splits) else base
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for stale in ("labels.csv", "world.json", "classes.txt"):
        (out / stale).unlink(missing_ok=True)
    records = resolved.samples() if records is None else records
    todo = [
        r
        for r in records
        if not (resume and (out / image_name(r["index"])).exists() and (out / mask_name(r["index"])).exists())
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    chunk = max(1, min(32, math.ceil(len(todo) / (workers * 4))))
    start = time.perf_counter()
    label = f"rendering {resolved.name}/{resolved.split or 'all'}"
    used_variant = None
    with _progress_bar(progress) as bar:
        task = bar.add_task(label, total=len(todo), rate="")

        def advance(count: int) -> None:
            bar.advance(task, count)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - start, 1e-9):.0f} img/s")

        if workers == 1:
            renderer = SceneRenderer(resolved, variant)
            used_variant = renderer.variant
            for record in todo:
                _render_one(renderer, record, out)
                advance(1)
        elif todo:
            _render_parallel(resolved, out, todo, workers, chunk, variant, advance)
    elapsed = time.perf_counter() - start
    if used_variant is None:
        used_variant = variant or os.environ.get(VARIANT_ENV) or DEFAULT_VARIANT
    info = {
        "world": resolved.name,
        "split": resolved.split,
        "seed": resolved.seed,
        "n_images": len(records),
        "classes": resolved.classes,
        "renderer_version": RENDERER_VERSION,
        "fingerprint": resolved.fingerprint(RENDERER_VERSION),
        "mitsuba_version": _mitsuba_version(),
        "variant": used_variant,
        "render_seconds": round(elapsed, 3),
        "spec": resolved.to_dict(),
    }
    _write_atomic(out / "world.json", json.dumps(info, indent=2, sort_keys=True))
    # The world's full class list, in label order: `csv:` loading picks it up, so every split of a
    # world shares one label space even when a split lacks some classes.
    _write_atomic(out / "classes.txt", "".join(f"{name}\n" for name in resolved.classes))
    _write_atomic(out / "labels.csv", label_rows(resolved, records).to_csv(index=False))
    return out


def _mitsuba_version() -> str:
    import mitsuba as mi

    return str(mi.__version__)


def is_complete(out_dir: Path | str, spec: WorldSpec) -> bool:
    """Whether ``out_dir`` holds a finished render of the resolved ``spec`` by this renderer version."""
    out = Path(out_dir)
    if not (out / "labels.csv").is_file() or not (out / "world.json").is_file():
        return False
    try:
        info = json.loads((out / "world.json").read_text())
    except (OSError, ValueError):
        return False
    return info.get("fingerprint") == spec.fingerprint(RENDERER_VERSION)


def cache_dir_name(spec: WorldSpec) -> str:
    """Folder name of a resolved spec in a render cache: ``<world>-<split>-<hash>``."""
    return f"{spec.name}-{spec.split or 'all'}-{spec.fingerprint(RENDERER_VERSION)}"


def ensure_rendered(spec: WorldSpec | str, split: str | None, cache_root: Path | str, **kw: Any) -> Path:
    """Render a split into ``cache_root/<world>-<split>-<hash>/`` unless a complete render is there.

    The hash covers the resolved split spec and :data:`RENDERER_VERSION`, so editing the spec or
    upgrading the renderer renders afresh. Keyword arguments go to :func:`render_world`.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> a = ensure_rendered("tiny", "test-id", root, workers=1, progress=False)
        >>> ensure_rendered("tiny", "test-id", root) == a  # second call returns at once
        True
    """
    base = load_spec(spec) if isinstance(spec, (str, Path)) else spec
    resolved = base.resolve(split) if (split is not None or base.splits) else base
    out = Path(cache_root) / cache_dir_name(resolved)
    if is_complete(out, resolved):
        return out
    kw.setdefault("resume", True)
    return render_world(resolved, out, **kw)
