"""The recipe of the synthetic UrbanCars: its families, training correlation, cell sizes and folder names.

UrbanCars (Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies
Others", CVPR 2023) has three binary factors, each ``urban`` or ``country``: the object (the label), the
background and a co-occurring object. In the training split each shortcut agrees with the object with
probability 0.95 (:data:`TRAIN_RATIO`); val and test are balanced. From the world (built by
:func:`robustscope.synth.urbancars.build_synthetic_urbancars`):

* **objects** — two families of the world's shape classes (the first half of its classes is ``urban``,
  the second ``country``), rendered with their alpha masks in random colours (:data:`OBJECT_COLOURS`,
  none of the co-occurring objects' colours) and random textures (:data:`OBJECT_TEXTURES`), both families
  alike, at any yaw and a pitch and roll within ±45° (:data:`OBJECT_POSE`);
* **backgrounds** — two families of the world's environment maps (:data:`BACKGROUND_FAMILIES`);
* **co-occurring objects** — two families of shapes the world's classes do not use, each family in its
  own colours (:data:`CO_OCCUR_COLOURS`, as hydrants and stop signs differ from cows and sheep).

Cell sizes follow the reference generator's rule (``create_datasets/urbancars/gen_urbancars.py`` in
facebookresearch/Whac-A-Mole) ``max(1, int(p_bg · p_coobj · n))`` per object class, with ``p = ratio`` where
the shortcut agrees with the object and ``1 − ratio`` where it does not; with ``n`` a multiple of 400 every
cell is exact (361, 19, 19, 1 per 400), so each shortcut agrees with the object in exactly 95% of training
images.

Example:
    >>> sizes = cell_sizes(400)
    >>> [sizes[("urban", b, c)] for b, c in (("urban", "urban"), ("country", "urban"), ("country", "country"))]
    [361, 19, 1]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from robustscope.synth.meshes import SHAPES
from robustscope.synth.spec import WorldSpec
from robustscope.synth.textures import TEXTURES

__all__ = [
    "BACKGROUND_FAMILIES",
    "CO_OCCUR_COLOURS",
    "DEFAULT_POOL",
    "DEFAULT_SIZES",
    "FAMILIES",
    "OBJECT_COLOURS",
    "OBJECT_POSE",
    "OBJECT_TEXTURES",
    "TRAIN_RATIO",
    "WORLD_POOLS",
    "WORLD_SIZES",
    "UrbanCarsDesign",
    "cell_sizes",
    "default_design",
    "ratio_folder",
]

FAMILIES: tuple[str, str] = ("urban", "country")
#: The training correlation of each shortcut (the reference's ``--bg_ratio`` and ``--co_occur_obj_ratio``).
TRAIN_RATIO = 0.95
#: The world's environment maps of each background family.
BACKGROUND_FAMILIES: dict[str, tuple[str, ...]] = {
    "urban": ("studio", "indoor", "night"),
    "country": ("forest", "desert", "sky"),
}
#: The colours of each co-occurring object family.
CO_OCCUR_COLOURS: dict[str, tuple[str, ...]] = {
    "urban": ("red", "yellow", "blue"),
    "country": ("brown", "white", "green"),
}
#: The colours of the objects: the others, so a colour tells a co-occurring object apart from the object.
OBJECT_COLOURS: tuple[str, ...] = ("orange", "teal", "purple", "pink")
#: The textures the objects wear: all of the world's, in both families, so texture tells nothing.
OBJECT_TEXTURES: tuple[str, ...] = TEXTURES
#: Ranges of the objects' rotation angles, degrees: any yaw, pitch and roll within ±45°.
OBJECT_POSE: dict[str, tuple[float, float]] = {"yaw": (-180.0, 180.0), "pitch": (-45.0, 45.0), "roll": (-45.0, 45.0)}
#: Images per object class in each split (the reference: 4000, 500, 500 at 256 px). Multiples of 400
#: (train) and 4 (val, test) make every cell exact.
DEFAULT_SIZES: dict[str, int] = {"train": 2000, "val": 200, "test": 400}
#: Object (and co-occurring object) renders per family in each split.
DEFAULT_POOL: dict[str, int] = {"train": 400, "val": 100, "test": 200}
#: Test-sized builds of named worlds (images per object class, renders per family): the ``tiny`` world's
#: UrbanCars renders 278 images of 32 px and composites 1,040 (a few seconds on one core).
WORLD_SIZES: dict[str, dict[str, int]] = {"tiny": {"train": 400, "val": 40, "test": 80}}
WORLD_POOLS: dict[str, dict[str, int]] = {"tiny": {"train": 32, "val": 12, "test": 24}}


@dataclass(frozen=True)
class UrbanCarsDesign:
    """Which shapes, environment maps and colours make up each family of the synthetic UrbanCars, and how
    the objects vary (colours, textures and rotation ranges, the same for both families).

    Example:
        >>> from robustscope.synth.spec import load_spec
        >>> design = default_design(load_spec("tiny"))
        >>> design.objects["urban"], design.objects["country"]
        (('sphere', 'cube'), ('torus', 'cone'))
    """

    objects: dict[str, tuple[str, ...]]
    backgrounds: dict[str, tuple[str, ...]]
    co_occur: dict[str, tuple[str, ...]]
    co_occur_colours: dict[str, tuple[str, ...]]
    object_colours: tuple[str, ...] = OBJECT_COLOURS
    object_textures: tuple[str, ...] = OBJECT_TEXTURES
    object_pose: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(OBJECT_POSE))

    def to_dict(self) -> dict[str, Any]:
        return {k: ({f: list(v) for f, v in value.items()} if isinstance(value, dict) else list(value))
                for k, value in asdict(self).items()}  # fmt: skip


def default_design(world: WorldSpec) -> UrbanCarsDesign:
    """The families for ``world``: its classes split in halves (objects), two shapes it does not use per
    co-occurring family (taken alternately from the remaining shapes), :data:`BACKGROUND_FAMILIES` and
    :data:`CO_OCCUR_COLOURS` (objects in :data:`OBJECT_COLOURS`).

    Example:
        >>> from robustscope.synth.spec import load_spec
        >>> default_design(load_spec("tiny")).co_occur
        {'urban': ('cylinder', 'octahedron'), 'country': ('capsule', 'pyramid')}
        >>> default_design(load_spec("demo")).co_occur
        {'urban': ('pyramid',), 'country': ('ring',)}
    """
    classes = list(world.classes)
    if len(classes) < 2:
        raise ValueError(f"world {world.name} has {len(classes)} class(es); UrbanCars needs two object families")
    half = len(classes) // 2
    rest = [s for s in SHAPES if s not in classes]
    if len(rest) < 2:
        raise ValueError(
            f"world {world.name} uses {len(classes)} of the {len(SHAPES)} shapes; the co-occurring objects need "
            "two shapes it does not use"
        )
    k = min(2, len(rest) // 2)
    return UrbanCarsDesign(
        objects={"urban": tuple(classes[:half]), "country": tuple(classes[half:])},
        backgrounds=dict(BACKGROUND_FAMILIES),
        co_occur={"urban": tuple(rest[0::2][:k]), "country": tuple(rest[1::2][:k])},
        co_occur_colours=dict(CO_OCCUR_COLOURS),
    )


def cell_sizes(
    n_per_object: int, bg_ratio: float = TRAIN_RATIO, co_occur_obj_ratio: float = TRAIN_RATIO
) -> dict[tuple[str, str, str], int]:
    """Images per (object, background, co-occurring object) cell, by the reference generator's rule.

    ``int(p_bg · p_coobj · n_per_object)``, at least 1, where ``p = ratio`` if the factor agrees with the
    object and ``1 − ratio`` otherwise (balanced splits: ratio 0.5).

    Example:
        >>> sizes = cell_sizes(64, 0.5, 0.5)
        >>> set(sizes.values()), sum(sizes.values())
        ({16}, 128)
    """
    out = {}
    for obj in FAMILIES:
        for bg in FAMILIES:
            for co in FAMILIES:
                p_bg = bg_ratio if bg == obj else 1 - bg_ratio
                p_co = co_occur_obj_ratio if co == obj else 1 - co_occur_obj_ratio
                # the reference's int(); the epsilon keeps 0.05 * 0.05 * 400 = 0.99999… from becoming 0
                out[(obj, bg, co)] = max(1, int(p_bg * p_co * n_per_object + 1e-9))
    return out


def ratio_folder(bg_ratio: float, co_occur_obj_ratio: float) -> str:
    """The release's folder name for a split generated with these correlations.

    Example:
        >>> ratio_folder(0.95, 0.95), ratio_folder(0.5, 0.5)
        ('bg-0.95_co_occur_obj-0.95', 'bg-0.5_co_occur_obj-0.5')
    """
    return f"bg-{bg_ratio}_co_occur_obj-{co_occur_obj_ratio}"
