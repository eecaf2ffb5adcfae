"""Synthetic counterparts of the real robustness benchmarks, written in the real benchmarks' layouts.

Each axis of the synthetic-clones benchmark has a real dataset; the world builds its own version so the
axis runs offline, and writes it in the release's on-disk layout so the *same loader* reads both:

* ``cue-conflict`` (Geirhos et al., ICLR 2019): the world's cue-conflict split (every object wears
  another class's texture) as ``<shape>/<shape><i>-<texture class><j>.png``. The texture class is the
  class a texture is tied to in the training split, so a model that learned the texture shortcut
  answers with the texture class.
* ``imagenet-9`` (Xiao et al., ICLR 2021): the ID test set as ``<variant>/val/<class>/<id>.png`` for
  ``original``, ``only_fg`` (object on black), ``mixed_same`` (object on the background plate of
  another image of the same class) and ``mixed_rand`` (of an image of a random class). Plates are
  rendered without the object from the same camera, and composited with the rendered alpha mask.
* ``context`` (FOCUS, Kattakinda & Feizi, ICML 2022): the world's context split with three binary
  attributes, ``lighting`` (coloured light), ``location`` (a background not common for the class) and
  ``weather`` (ImageNet-C fog at severity 3 on a seeded half), and ``n_uncommon``, their count.
* ``ood-shapes``: held-out shape classes (the world's ``ood-shapes`` split); ``ood-textures``: flat
  texture images with no object (the synthetic Textures/DTD). Both are out-of-distribution sets.

Outputs are cached under the render cache by a hash of their sources and :data:`BUILDER_VERSION`.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from robustscope.errors import UnknownNameError
from robustscope.registry import suggest
from robustscope.synth.render import ensure_rendered, write_image
from robustscope.synth.spec import WorldSpec, load_spec

#: Bump when a builder's output changes, so cached builds are redone.
BUILDER_VERSION = "2"

#: Which split of a world each benchmark is built from (the built-in worlds use these names).
SOURCE_SPLITS = {
    "cue-conflict": "test-texture",
    "imagenet-9": "test-id",
    "context": "context",
    "ood-shapes": "ood-shapes",
    "ood-textures": "test-id",
}
#: The split that defines the shortcuts (texture → class ties, the backgrounds seen in training).
TRAINING_SPLIT = "train-narrow"
#: The ImageNet-9 variants the world builds.
BACKGROUND_VARIANTS = ("original", "only_fg", "mixed_same", "mixed_rand")
#: Context attributes (FOCUS's time, weather, location) and the uncommon value of each.
CONTEXT_ATTRIBUTES = {"lighting": "coloured", "weather": "fog", "location": "uncommon"}


def texture_classes(world: WorldSpec) -> dict[str, str]:
    """Texture → the class it is tied to in the training split (textures tied to several classes are left out).

    Example:
        >>> texture_classes(load_spec("tiny"))["stripes"]
        'cube'
    """
    factor = world.resolve(TRAINING_SPLIT).factors.get("texture")
    ties = factor.tie_to_class if factor is not None else {}
    owners: dict[str, list[str]] = {}
    for cls, textures in ties.items():
        for texture in textures:
            owners.setdefault(texture, []).append(cls)
    return {texture: classes[0] for texture, classes in owners.items() if len(classes) == 1}


def common_backgrounds(world: WorldSpec) -> dict[str, list[str]]:
    """Class → the backgrounds that are common for it in the training split (any other is an uncommon "location").

    FOCUS calls a setting uncommon *for the object* (a ship on land): where the training split ties
    backgrounds to a class, the tied ones are that class's common backgrounds; otherwise every
    background the training split draws from is common for every class.

    Example:
        >>> common_backgrounds(load_spec("tiny"))["torus"]
        ['forest']
    """
    factor = world.resolve(TRAINING_SPLIT).factor("background")
    drawn = list(factor.values or [])
    return {cls: list(factor.tie_to_class.get(cls, drawn)) for cls in world.classes}


# -- small helpers ------------------------------------------------------------------------------------
def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float32)[..., None] / 255.0


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(array, path)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        target.write_bytes(source.read_bytes())


def _seeded(sample_id: str, *parts: object) -> random.Random:
    text = "\x1f".join([sample_id, *map(str, parts)])
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


# -- builders -----------------------------------------------------------------------------------------
def _build_cue_conflict(world: WorldSpec, source: Path, out: Path, **_: Any) -> None:
    owner = texture_classes(world)
    labels = pd.read_csv(source / "labels.csv")
    for row in labels.itertuples():
        texture_class = owner.get(str(row.character_texture))
        if texture_class is None:  # a texture no class owns carries no texture label: not a cue conflict
            continue
        index = int(str(row.sample_id).rsplit("-", 1)[-1])
        shape = str(row.character_label)
        _link_or_copy(source / str(row.filename), out / shape / f"{shape}{index}-{texture_class}{index}.png")


def _build_imagenet9(world: WorldSpec, source: Path, out: Path, workers: int | None = None, **_: Any) -> None:
    from robustscope.synth.scene import SceneRenderer

    labels = pd.read_csv(source / "labels.csv")
    resolved = world.resolve(SOURCE_SPLITS["imagenet-9"])
    records = {f"{resolved.split}-{r['index']:06d}": r for r in resolved.samples()}
    renderer = SceneRenderer(resolved)
    plates: dict[str, np.ndarray] = {}

    def plate(sample_id: str) -> np.ndarray:
        record = records[sample_id]
        if record["background"] not in plates:  # the camera is fixed: one plate per environment map
            rgb, _ = renderer.render(record, with_object=False)
            plates[record["background"]] = rgb.astype(np.float32) / 255.0
        return plates[record["background"]]

    ids = labels["sample_id"].astype(str).tolist()
    by_class = labels.groupby("character_label")["sample_id"].apply(lambda s: s.astype(str).tolist()).to_dict()
    for row in labels.itertuples():
        sid, cls = str(row.sample_id), str(row.character_label)
        image, mask = _read(source / str(row.filename)), _read_mask(source / str(row.mask_filename))
        same = [other for other in by_class[cls] if other != sid] or [sid]
        rng = _seeded(sid, "imagenet-9")
        variants = {
            "original": image,
            "only_fg": image * mask,
            "mixed_same": mask * image + (1 - mask) * plate(rng.choice(same)),
            "mixed_rand": mask * image + (1 - mask) * plate(rng.choice(ids)),
        }
        for variant, array in variants.items():
            _save(array, out / variant / "val" / cls / f"{sid}.png")


def _build_context(world: WorldSpec, source: Path, out: Path, **_: Any) -> None:
    import torch

    # The fog comes from the shifts package's ImageNet-C fog: the same function the corruption axis uses.
    from robustscope.shifts.corruptions import corrupt

    labels = pd.read_csv(source / "labels.csv")
    common = common_backgrounds(world)
    rows = []
    for row in labels.itertuples():
        sid = str(row.sample_id)
        image = _read(source / str(row.filename))
        foggy = _seeded(sid, "context-weather").random() < 0.5
        if foggy:
            batch = torch.from_numpy(image).permute(2, 0, 1)[None]
            image = corrupt(batch, "fog", 3, seed=0, sample_ids=[sid])[0].permute(1, 2, 0).numpy()
        target = f"images/{sid}.png"
        _save(image, out / target)
        attributes = {
            "lighting": "coloured" if str(row.light_color) != "white" else "white",
            "weather": "fog" if foggy else "clear",
            "location": "uncommon" if str(row.background) not in common[str(row.character_label)] else "common",
        }
        n_uncommon = sum(attributes[name] == value for name, value in CONTEXT_ATTRIBUTES.items())
        rows.append({**row._asdict(), "filename": target, **attributes, "n_uncommon": n_uncommon})
    frame = pd.DataFrame(rows).drop(columns=["Index"])
    frame.to_csv(out / "labels.csv", index=False)
    (out / "classes.txt").write_text((source / "classes.txt").read_text())


def _build_ood_textures(world: WorldSpec, source: Path, out: Path, **_: Any) -> None:
    from robustscope.synth.textures import COLORS, TEXTURES, linear_to_srgb, make_texture

    size = world.resolution
    n = len(pd.read_csv(source / "labels.csv"))
    colours = sorted(COLORS)
    for i in range(n):
        rng = _seeded(f"texture-{i}", "ood-textures")
        texture, colour = rng.choice(TEXTURES), rng.choice(colours)
        # A random crop at a random zoom, so texture images differ in scale as DTD's do.
        crop = rng.randint(size // 2, 2 * size)
        tile = make_texture(texture, colour, size=max(crop, 16))
        image = Image.fromarray(np.round(linear_to_srgb(tile) * 255).astype(np.uint8)).resize((size, size))
        _save(np.asarray(image, dtype=np.float32) / 255.0, out / "textures" / f"{texture}_{colour}_{i:05d}.png")


_BUILDERS: dict[str, Callable[..., None]] = {
    "cue-conflict": _build_cue_conflict,
    "imagenet-9": _build_imagenet9,
    "context": _build_context,
    "ood-shapes": lambda *args, **kwargs: None,  # never called: the rendered split is the dataset
    "ood-textures": _build_ood_textures,
}
SYNTHETIC_BENCHMARKS = tuple(_BUILDERS)


def build_synthetic_benchmark(
    world: str | WorldSpec,
    benchmark: str,
    cache_root: str | Path,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render (or reuse) the source split and write the synthetic ``benchmark`` in its real layout.

    Args:
        world: a built-in world name, a YAML path or a spec.
        benchmark: one of :data:`SYNTHETIC_BENCHMARKS`.
        cache_root: the render cache; the build goes to ``<cache_root>/<world>-<benchmark>-<hash>/``.

    Returns:
        The folder to give the benchmark's loader (``cue-conflict:``, ``imagenet-9:``, …).

    Example:
        >>> import tempfile
        >>> root = build_synthetic_benchmark("tiny", "cue-conflict", tempfile.mkdtemp(), workers=1, progress=False)
        >>> sorted(p.name for p in root.iterdir() if p.is_dir())
        ['cone', 'cube', 'sphere', 'torus']
    """
    if benchmark not in _BUILDERS:
        raise UnknownNameError("synthetic benchmark", benchmark, suggest(benchmark, _BUILDERS), list(_BUILDERS))
    spec = load_spec(world) if isinstance(world, (str, Path)) else world
    source = ensure_rendered(spec, SOURCE_SPLITS[benchmark], cache_root, workers=workers, progress=progress)
    if benchmark == "ood-shapes":  # the rendered split is already the dataset
        return source
    key = hashlib.sha256(f"{source.name}\x1f{benchmark}\x1f{BUILDER_VERSION}".encode()).hexdigest()[:12]
    out = Path(cache_root) / f"{spec.name}-{benchmark}-{key}"
    marker = out / ".complete"
    if marker.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    _BUILDERS[benchmark](spec, source, out, workers=workers)
    marker.write_text(f"{benchmark} from {source.name}\n")
    return out
