"""Render a world split to disk with Mitsuba 3: ``images/``, ``masks/``, ``labels.csv``, ``world.json``.

Each image is one procedural mesh (posed, scaled, placed, textured) in front of a procedural
environment map that both lights it and shows as the background, plus one directional light.
The object mask is the film's alpha channel (per-pixel coverage), so RGB and mask come from one pass.
Images are independent of which worker renders them: the sampler seed is a function of the split
seed and the image index, and Mitsuba renders each pixel from one block with a box filter.
"""

from __future__ import annotations

import json
import logging
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
from robustscope.synth.backgrounds import make_envmap
from robustscope.synth.meshes import make_mesh
from robustscope.synth.spec import WorldSpec, load_spec
from robustscope.synth.textures import LIGHT_COLORS, linear_to_srgb, make_texture, parse_color

log = logging.getLogger(__name__)

#: Bump when a change to the renderer changes pixels; it is part of every cache key.
RENDERER_VERSION = "synth-1"
DEFAULT_VARIANT = "scalar_rgb"
VARIANT_ENV = "ROBUSTSCOPE_MITSUBA_VARIANT"

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

# Camera: fixed, looking down -z at the origin. The object's unit bounding sphere at scale 1 spans
# a bit over half the frame; positions are in units of half the frame width at the object's depth.
CAMERA_DISTANCE = 5.0
CAMERA_FOV = 40.0
HALF_FRAME = CAMERA_DISTANCE * math.tan(math.radians(CAMERA_FOV / 2))
ENV_SCALE = 0.8


def pick_variant(variant: str | None = None) -> str:
    """Mitsuba variant to render with: ``variant``, else ``$ROBUSTSCOPE_MITSUBA_VARIANT``, else scalar_rgb.

    ``"auto"`` tries ``cuda_ad_rgb`` and falls back to ``scalar_rgb`` (``llvm_ad_rgb`` is not tried:
    it recompiles per image and crashed in LLVM codegen with Mitsuba 3.9 here); a variant
    this Mitsuba build lacks falls back to ``scalar_rgb`` with a warning.

    Example:
        >>> pick_variant("scalar_rgb")
        'scalar_rgb'
    """
    import mitsuba as mi

    wanted = variant or os.environ.get(VARIANT_ENV) or DEFAULT_VARIANT
    available = set(mi.variants())
    candidates = ["cuda_ad_rgb"] if wanted == "auto" else [wanted]
    for candidate in candidates:
        if candidate not in available:
            continue
        try:
            mi.set_variant(candidate)
            # A variant can be compiled in yet unusable (no GPU, no LLVM): try a trivial object.
            mi.load_dict({"type": "diffuse"})
            return candidate
        except Exception as err:  # any failure means "not usable here"
            log.warning("mitsuba variant %s unusable (%s); falling back", candidate, err)
    if wanted != "auto":
        log.warning("mitsuba variant %r not available; using %s", wanted, DEFAULT_VARIANT)
    return DEFAULT_VARIANT


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Yaw about y (up), then pitch about x, then roll about the viewing axis z; degrees."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def light_direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector the light travels along; azimuth 0 = light from the camera, 90 = from the right.

    Example:
        >>> [round(float(c), 3) for c in light_direction(0, 90)]
        [-0.0, -1.0, -0.0]
    """
    a, e = math.radians(azimuth), math.radians(elevation)
    towards_light = np.array([math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])
    return -towards_light


def image_seed(split_seed: int, index: int) -> int:
    """Sampler seed of one image: independent of worker and chunking, so renders are reproducible."""
    return (split_seed * 1_000_003 + index * 7919 + 12345) % (2**31 - 1)


class SceneRenderer:
    """Renders single samples of one resolved spec; caches meshes, textures and env maps.

    Example:
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> rgb, mask = SceneRenderer(spec).render(spec.samples()[0])
        >>> rgb.shape, mask.dtype.name
        ((32, 32, 3), 'uint8')
    """

    def __init__(self, spec: WorldSpec, variant: str | None = None):
        import mitsuba as mi

        self.mi = mi
        self.variant = pick_variant(variant)
        mi.set_variant(self.variant)
        self.spec = spec
        self.jit = not self.variant.startswith("scalar")
        self._bsdfs: dict[tuple[str, str], Any] = {}
        self._envs: dict[str, Any] = {}

    def _bsdf(self, texture: str, color: str) -> Any:
        key = (texture, color)
        if key not in self._bsdfs:
            if len(self._bsdfs) > 256:  # colours can be arbitrary hex codes: bound the cache
                self._bsdfs.clear()
            bitmap = self.mi.Bitmap(make_texture(texture, color))
            self._bsdfs[key] = self.mi.load_dict(
                {
                    "type": "twosided",
                    "bsdf": {
                        "type": "diffuse",
                        "reflectance": {"type": "bitmap", "bitmap": bitmap, "raw": True, "filter_type": "bilinear"},
                    },
                }
            )
        return self._bsdfs[key]

    def _env(self, background: str) -> Any:
        if background not in self._envs:
            self._envs[background] = self.mi.load_dict(
                {"type": "envmap", "bitmap": self.mi.Bitmap(make_envmap(background)), "scale": ENV_SCALE}
            )
        return self._envs[background]

    def _mesh(self, record: dict[str, Any]) -> Any:
        mi = self.mi
        base = make_mesh(record["character_label"])
        rot = _rotation(record["yaw"], record["pitch"], record["roll"])
        offset = np.array([record["position_x"] * HALF_FRAME, record["position_y"] * HALF_FRAME, 0.0])
        positions = (base.positions @ rot.T) * record["scale"] + offset
        normals = base.normals @ rot.T
        props = mi.Properties()
        props["bsdf"] = self._bsdf(record["texture"], record["color"])
        mesh = mi.Mesh(
            "object", base.n_vertices, base.n_faces, props=props, has_vertex_normals=True, has_vertex_texcoords=True
        )
        params = mi.traverse(mesh)
        as_float = mi.Float if self.jit else (lambda a: a)
        as_uint = mi.UInt32 if self.jit else (lambda a: a)
        params["vertex_positions"] = as_float(positions.astype(np.float32).ravel())
        params["vertex_normals"] = as_float(normals.astype(np.float32).ravel())
        params["vertex_texcoords"] = as_float(base.uvs.ravel())
        params["faces"] = as_uint(base.faces.ravel())
        params.update()
        return mesh

    def render(self, record: dict[str, Any], with_object: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Render one sample record; returns sRGB ``uint8 [H,W,3]`` and mask ``uint8 [H,W]``.

        ``with_object=False`` renders the same view without the object: the clean background plate
        that background-swap benchmarks (ImageNet-9's mixed_same/mixed_rand) composite onto.
        """
        mi = self.mi
        res = self.spec.resolution
        light_rgb = np.array(parse_color(record["light_color"], LIGHT_COLORS)) * record["light_intensity"]
        scene = mi.load_dict(
            {
                "type": "scene",
                "integrator": {"type": "direct"},
                "sensor": {
                    "type": "perspective",
                    "fov": CAMERA_FOV,
                    "to_world": mi.ScalarTransform4f().look_at(
                        origin=[0, 0, CAMERA_DISTANCE], target=[0, 0, 0], up=[0, 1, 0]
                    ),
                    "film": {
                        "type": "hdrfilm",
                        "width": res,
                        "height": res,
                        "pixel_format": "rgba",
                        "rfilter": {"type": "box"},
                    },
                    "sampler": {"type": "independent", "sample_count": self.spec.spp},
                },
                **({"object": self._mesh(record)} if with_object else {}),
                "environment": self._env(record["background"]),
                "sun": {
                    "type": "directional",
                    "direction": [
                        float(c) for c in light_direction(record["light_azimuth"], record["light_elevation"])
                    ],
                    "irradiance": {"type": "rgb", "value": [float(c) for c in light_rgb]},
                },
            }
        )
        image = np.array(mi.render(scene, seed=image_seed(self.spec.seed, record["index"])))
        rgb = np.round(linear_to_srgb(image[..., :3]) * 255).astype(np.uint8)
        mask = np.round(np.clip(image[..., 3], 0, 1) * 255).astype(np.uint8)
        return rgb, mask


def _write_png(array: np.ndarray, path: Path) -> None:
    """Write atomically so that an interrupted render never leaves a truncated PNG behind."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)


def image_name(index: int) -> str:
    return f"images/{index:06d}.png"


def mask_name(index: int) -> str:
    return f"masks/{index:06d}.png"


def label_rows(spec: WorldSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """labels.csv of a resolved spec's sample records (PUG:ImageNet columns plus factor columns)."""
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
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


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
        rgb, mask = renderer.render(record)
        _write_png(rgb, out / image_name(record["index"]))
        _write_png(mask, out / mask_name(record["index"]))
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
) -> Path:
    """Render one split of a world (or the spec itself if it has no splits) into ``out_dir``.

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
    records = resolved.samples()
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
                rgb, mask = renderer.render(record)
                _write_png(rgb, out / image_name(record["index"]))
                _write_png(mask, out / mask_name(record["index"]))
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
