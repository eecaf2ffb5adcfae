"""A synthetic UrbanCars built from the world, written in the release's layout (read by ``urbancars:``).

UrbanCars (Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies
Others", CVPR 2023) composites a car (Stanford Cars, with its mask) on a background (Places) and adds a
smaller co-occurring object (LVIS, with its mask). This module builds the same thing from the world,
following the authors' generator (``create_datasets/urbancars/gen_urbancars.py`` and
``data_utils/object_scale.py`` in facebookresearch/Whac-A-Mole); which shapes, environment maps and colours
make up each family, the training correlation and the cell sizes are the recipe in
:mod:`robustscope.synth.urbancars_design`. Objects and co-occurring objects are rendered with their alpha
masks; backgrounds are rendered without object (``SceneRenderer.render(record, with_object=False)``) at twice
the image size, and each image takes a random crop (between 1× and 2× the image size) and a random flip of
one plate.

Composition as in the reference: the mask's bounding box (mask > 0.5) is cropped and scaled so its
longer side is :data:`OBJECT_SCALE` (0.5) of the image for the object, centred, and
:data:`CO_OCCUR_SCALE` (0.25) for the co-occurring object, centred at (row 0.5, column 0.875); the
co-occurring object goes on the background first, the object on top.

**Why the objects vary so much.** In UrbanCars the object (a car's body type) is the hardest of the three
cues, and the background and co-occurring object are easier ones; that is what makes an ERM model lean
on both shortcuts. A world shape in a narrow range of poses and a plain texture is the easiest cue of
all: built that way, the tiny world's reference model recognised the object and barely used either
shortcut (BG and CoObj gaps between −0.09 and 0). Any yaw, pitch and roll within ±45°, every texture and
four colours shared by both families make the object a harder cue (a cone seen from its base is a disc, a
torus edge-on a bar), while the background and the co-occurring object stay easy: a reference model then
shows both gaps (``docs/axes/shortcuts.md``).

Differences from the release, for CI-sized builds: the images are the world's resolution (32–64 px, not
256); masks are the renderer's soft alpha (anti-aliased), not binarised; JPEG quality 95 (torchvision's
``save_image`` writes PIL's default, 75: at 32 px its artefacts would smear the 8-px co-occurring
object); and object renders are drawn from a pool per split and family (``DEFAULT_POOL``,
``WORLD_POOLS``; disjoint between splits) with a random horizontal flip, instead of one photograph
per image. Every image's factors are also listed in ``samples.csv`` at the build's root.

Background-only images: like the release after its ``create_datasets/urbancars/urbancars_aug_gen_bg_only.py`` step,
the train split has ``{i:03d}_bg_only.png`` beside each image, for the LLE augmentations
(:mod:`robustscope.mitigate.urbancars_aug`). The release *paints over* the object and co-occurring object of the
composed photograph with strips of background copied from its left quarter; here the background plate is known, so
``_bg_only.png`` is that plate itself (cropped and flipped as the image's), before anything is composited on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from robustscope.synth.render import ensure_rendered, write_image
from robustscope.synth.scene import RENDERER_VERSION, SceneRenderer
from robustscope.synth.spec import WorldSpec, load_spec
from robustscope.synth.urbancars_design import (
    DEFAULT_POOL,
    DEFAULT_SIZES,
    FAMILIES,
    TRAIN_RATIO,
    WORLD_POOLS,
    WORLD_SIZES,
    UrbanCarsDesign,
    cell_sizes,
    default_design,
    ratio_folder,
)

#: Bump when the builder's output changes, so cached builds are redone.
BUILDER_VERSION = "3"  # 3: train images get their background-only plate, {i:03d}_bg_only.png
#: Longer side of the object's bounding box, as a fraction of the image side, and its centre (row, column).
OBJECT_SCALE, OBJECT_CENTRE = 0.5, (0.5, 0.5)
#: Same for the co-occurring object.
CO_OCCUR_SCALE, CO_OCCUR_CENTRE = 0.25, (0.5, 0.875)
_SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}


def place(
    rgb: np.ndarray, alpha: np.ndarray, size: int, scale: float, centre: tuple[float, float], flip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Crop an object to its mask's bounding box, scale its longer side to ``scale·size``, centre it at ``centre``.

    As ``crop_mask_and_img`` + ``rescale_cropped_mask_and_img`` of the reference (the box is where the
    mask exceeds 0.5; the centre is (row, column) as fractions of the side, the top-left corner
    ``centre − extent // 2``); the soft alpha is resized with the image instead of nearest-neighbour.

    Args:
        rgb: ``[H, W, 3]`` float in [0, 1]; alpha: ``[H, W]`` in [0, 1].

    Returns:
        ``([size, size, 3], [size, size])``: the object and its alpha on an empty canvas.

    Example:
        >>> alpha = np.zeros((10, 10)); alpha[2:6, 3:5] = 1.0
        >>> _, mask = place(np.ones((10, 10, 3)), alpha, 16, 0.5, (0.5, 0.5))
        >>> [int(v) for v in np.argwhere(mask > 0.5).min(0)], [int(v) for v in np.argwhere(mask > 0.5).max(0)]
        ([4, 6], [11, 9])
    """
    inside = np.argwhere(alpha > 0.5)
    if inside.size == 0:
        inside = np.argwhere(alpha > 0)
    canvas, coverage = np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32)
    if inside.size == 0:
        return canvas, coverage
    (top, left), (bottom, right) = inside.min(0), inside.max(0) + 1
    crop_rgb, crop_alpha = rgb[top:bottom, left:right], alpha[top:bottom, left:right]
    if flip:
        crop_rgb, crop_alpha = crop_rgb[:, ::-1], crop_alpha[:, ::-1]
    factor = scale * size / max(crop_alpha.shape)
    height = max(1, round(crop_alpha.shape[0] * factor))
    width = max(1, round(crop_alpha.shape[1] * factor))
    as_u8 = np.round(np.clip(crop_rgb, 0, 1) * 255).astype(np.uint8)
    scaled_rgb = np.asarray(Image.fromarray(as_u8).resize((width, height), Image.BILINEAR), np.float32) / 255
    scaled_alpha = (
        np.asarray(
            Image.fromarray(np.round(np.clip(crop_alpha, 0, 1) * 255).astype(np.uint8)).resize(
                (width, height), Image.BILINEAR
            ),
            np.float32,
        )
        / 255
    )
    row0 = max(0, int(centre[0] * size) - height // 2)
    col0 = max(0, int(centre[1] * size) - width // 2)
    rows, cols = min(height, size - row0), min(width, size - col0)
    canvas[row0 : row0 + rows, col0 : col0 + cols] = scaled_rgb[:rows, :cols]
    coverage[row0 : row0 + rows, col0 : col0 + cols] = scaled_alpha[:rows, :cols]
    return canvas, coverage


# -- pools of renders --------------------------------------------------------------------------------
def _pool_spec(world: WorldSpec, kind: str, split: str, design: UrbanCarsDesign, per_family: int) -> WorldSpec:
    """A world spec whose render is the pool of objects (or co-occurring objects) of one split."""
    families = design.objects if kind == "objects" else design.co_occur
    classes = [*families["urban"], *families["country"]]
    n = len(classes) * max(1, math.ceil(2 * per_family / len(classes)))
    factors: dict[str, Any] = {
        "texture": "plain",
        "background": "studio",
        "yaw": {"range": [-60, 60]},
        "pitch": {"range": [-20, 20]},
        "roll": {"range": [-10, 10]},
        "scale": {"range": [0.75, 0.95]},
    }
    if kind == "objects":
        factors["color"] = list(design.object_colours)
        factors["texture"] = list(design.object_textures)
        factors.update({angle: {"range": list(span)} for angle, span in design.object_pose.items()})
    else:
        colours = sorted({c for family in design.co_occur_colours.values() for c in family})
        ties = {shape: list(design.co_occur_colours[f]) for f in FAMILIES for shape in families[f]}
        factors["color"] = {"values": colours, "tie_to_class": ties, "tie_prob": 1.0}
    seed = world.seed * 7919 + (100 if kind == "objects" else 200) + _SPLIT_SEEDS[split]
    return WorldSpec.from_dict(
        {
            "name": f"{world.name}-urbancars-{kind}-{split}",
            "classes": classes,
            "resolution": world.resolution,
            "spp": world.spp,
            "n": n,
            "seed": seed,
            "factors": factors,
        }
    )


def _read_pool(folder: Path, families: Mapping[str, tuple[str, ...]]) -> dict[str, list[dict[str, Any]]]:
    """Renders of a pool by family: ``{family: [{rgb, alpha, shape, color, texture}, …]}``."""
    labels = pd.read_csv(folder / "labels.csv")
    family_of = {shape: family for family, shapes in families.items() for shape in shapes}
    out: dict[str, list[dict[str, Any]]] = {f: [] for f in FAMILIES}
    for row in labels.itertuples():
        with Image.open(folder / str(row.filename)) as image:
            rgb = np.asarray(image.convert("RGB"), np.float32) / 255
        with Image.open(folder / str(row.mask_filename)) as mask:
            alpha = np.asarray(mask.convert("L"), np.float32) / 255
        out[family_of[str(row.character_label)]].append(
            {
                "rgb": rgb,
                "alpha": alpha,
                "shape": str(row.character_label),
                "color": str(row.color),
                "texture": str(row.character_texture),
            }
        )
    return out


def _plates(world: WorldSpec, design: UrbanCarsDesign) -> dict[str, np.ndarray]:
    """One background plate per environment map, rendered without object at twice the image size."""
    spec = WorldSpec.from_dict(
        {"name": f"{world.name}-urbancars-plates", "classes": [world.classes[0]], "n": 1,
         "resolution": 2 * world.resolution, "spp": world.spp}
    )  # fmt: skip
    renderer = SceneRenderer(spec)
    record = spec.samples()[0]
    names = sorted({b for family in design.backgrounds.values() for b in family})
    return {
        name: renderer.render({**record, "background": name}, with_object=False)[0].astype(np.float32) / 255
        for name in names
    }


def _background(plate: np.ndarray, size: int, rng: random.Random) -> np.ndarray:
    """A random crop (1× to 2× ``size``), flipped at random, resized to ``size``."""
    side = min(plate.shape[0], plate.shape[1], rng.randint(size, 2 * size))
    top, left = rng.randint(0, plate.shape[0] - side), rng.randint(0, plate.shape[1] - side)
    crop = plate[top : top + side, left : left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    image = Image.fromarray(np.round(crop * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    return np.asarray(image, np.float32) / 255


def _seeded(*parts: object) -> random.Random:
    text = "\x1f".join(map(str, parts))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def build_synthetic_urbancars(
    world: str | Path | WorldSpec,
    cache_root: str | Path,
    sizes: Mapping[str, int] | None = None,
    pool: Mapping[str, int] | None = None,
    correlation: float = TRAIN_RATIO,
    design: UrbanCarsDesign | None = None,
    resolution: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    jpeg_quality: int = 95,
) -> Path:
    """Build (or reuse) the world's UrbanCars: train (correlated), val and test (balanced), masks included.

    Args:
        world: a built-in world name, a YAML path or a spec.
        cache_root: the render cache; the build goes to ``<cache_root>/<world>-urbancars-<hash>/``.
        sizes: images per object class per split (default :data:`WORLD_SIZES` for the world, else
            :data:`DEFAULT_SIZES`).
        pool: object renders per family per split (default :data:`WORLD_POOLS`, else :data:`DEFAULT_POOL`).
        correlation: the training correlation of both shortcuts (0.95 in UrbanCars).
        design: the families (default :func:`default_design`).
        resolution: the image side in pixels (default: the world's).
        workers: render processes for the pools (default: all cores).

    Returns:
        The ``urbancars`` folder: ``bg-0.95_co_occur_obj-0.95/train/…`` and ``bg-0.5_co_occur_obj-0.5/{val,test}/…``,
        to give to ``urbancars:PATH[:SPLIT]``.

    Example:
        >>> import tempfile
        >>> root = build_synthetic_urbancars("tiny", tempfile.mkdtemp(), sizes={"train": 20, "val": 4, "test": 4},
        ...                                  pool={"train": 2, "val": 2, "test": 2}, workers=1, progress=False)
        >>> sorted(p.name for p in root.iterdir() if p.is_dir())
        ['bg-0.5_co_occur_obj-0.5', 'bg-0.95_co_occur_obj-0.95']
    """
    spec = load_spec(world) if isinstance(world, (str, Path)) else world
    if resolution is not None and resolution != spec.resolution:
        spec = WorldSpec.from_dict({**spec.to_dict(), "resolution": int(resolution)})
    design = design or default_design(spec)
    sizes = {**DEFAULT_SIZES, **WORLD_SIZES.get(spec.name, {}), **dict(sizes or {})}
    pool = {**DEFAULT_POOL, **WORLD_POOLS.get(spec.name, {}), **dict(pool or {})}
    if not 0.5 <= float(correlation) <= 1.0:
        raise ValueError(f"correlation must lie in [0.5, 1], got {correlation!r}")
    identity = {
        "world": spec.name,
        "resolution": spec.resolution,
        "spp": spec.spp,
        "seed": spec.seed,
        "classes": list(spec.classes),
        "design": design.to_dict(),
        "sizes": sizes,
        "pool": pool,
        "correlation": correlation,
        "jpeg_quality": jpeg_quality,
        "builder": BUILDER_VERSION,
        "renderer": RENDERER_VERSION,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    out = Path(cache_root) / f"{spec.name}-urbancars-{key}"
    marker = out / ".complete"
    if marker.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    size = spec.resolution
    plates = _plates(spec, design)
    rows: list[dict[str, Any]] = []
    for split in ("train", "val", "test"):
        ratio = correlation if split == "train" else 0.5
        objects = _read_pool(
            ensure_rendered(_pool_spec(spec, "objects", split, design, pool[split]), None, cache_root,
                            workers=workers, progress=progress),
            design.objects,
        )  # fmt: skip
        co_objects = _read_pool(
            ensure_rendered(_pool_spec(spec, "co_occur", split, design, pool[split]), None, cache_root,
                            workers=workers, progress=progress),
            design.co_occur,
        )  # fmt: skip
        used = {("object", f): 0 for f in FAMILIES} | {("co_occur", f): 0 for f in FAMILIES}
        for (obj, bg, co), count in cell_sizes(sizes[split], ratio, ratio).items():
            cell = f"obj-{obj}_bg-{bg}_co_occur_obj-{co}"
            folder = out / ratio_folder(ratio, ratio) / split / cell
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                rng = _seeded(spec.name, split, cell, i)
                thing = objects[obj][used[("object", obj)] % len(objects[obj])]
                extra = co_objects[co][used[("co_occur", co)] % len(co_objects[co])]
                used[("object", obj)] += 1
                used[("co_occur", co)] += 1
                plate_name = rng.choice(design.backgrounds[bg])
                image = _background(plates[plate_name], size, rng)
                if split == "train":  # the release writes background-only images for the train split only
                    write_image(image, folder / f"{i:03d}_bg_only.png")
                co_rgb, co_alpha = place(extra["rgb"], extra["alpha"], size, CO_OCCUR_SCALE, CO_OCCUR_CENTRE,
                                         flip=rng.random() < 0.5)  # fmt: skip
                image = co_alpha[..., None] * co_rgb + (1 - co_alpha[..., None]) * image
                obj_rgb, obj_alpha = place(thing["rgb"], thing["alpha"], size, OBJECT_SCALE, OBJECT_CENTRE,
                                           flip=rng.random() < 0.5)  # fmt: skip
                image = obj_alpha[..., None] * obj_rgb + (1 - obj_alpha[..., None]) * image
                write_image(image, folder / f"{i:03d}.jpg", "JPEG", quality=jpeg_quality)
                write_image(obj_alpha, folder / f"{i:03d}_mask.png")
                write_image(co_alpha, folder / f"{i:03d}_co_occur_obj_mask.png")
                rows.append(
                    {
                        "split": split,
                        "path": f"{ratio_folder(ratio, ratio)}/{split}/{cell}/{i:03d}.jpg",
                        "object": obj,
                        "background": bg,
                        "co_occur": co,
                        "object_shape": thing["shape"],
                        "object_color": thing["color"],
                        "object_texture": thing["texture"],
                        "background_map": plate_name,
                        "co_occur_shape": extra["shape"],
                        "co_occur_color": extra["color"],
                    }
                )
    pd.DataFrame(rows).to_csv(out / "samples.csv", index=False)
    counts = pd.DataFrame(rows).groupby(["split", "object", "background", "co_occur"]).size()
    info = {**identity, "counts": {"/".join(k): int(v) for k, v in counts.items()}}
    (out / "urbancars.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    marker.write_text(f"urbancars from world {spec.name}\n")
    return out


__all__ = ["BUILDER_VERSION", "CO_OCCUR_CENTRE", "CO_OCCUR_SCALE", "OBJECT_CENTRE", "OBJECT_SCALE",
           "build_synthetic_urbancars", "place"]
