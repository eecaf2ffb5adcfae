"""The PUG release's CSV schema (Bordes et al., NeurIPS 2023; ``facebookresearch/PUG`` at commit d6b98fa).

Read by the PUG loaders (:mod:`robustscope.data.benchmarks.pug`) and written by the synthetic world
(:mod:`robustscope.synth.render`), whose ``labels.csv`` starts with the same columns.

Example:
    >>> PUG_IMAGENET_COLUMNS[:4]
    ('filename', 'world_name', 'character_name', 'character_label')
"""

from __future__ import annotations

#: The columns of PUG:ImageNet's ``labels_pug_imagenet.csv`` (``PUG_ImageNet/README.md``), in file order; the
#: synthetic world's ``labels.csv`` starts with the same columns.
PUG_IMAGENET_COLUMNS: tuple[str, ...] = (
    "filename",
    "world_name",
    "character_name",
    "character_label",
    "character_rotation_yaw",
    "character_rotation_roll",
    "character_rotation_pitch",
    "character_scale",
    "camera_roll",
    "camera_pitch",
    "camera_yaw",
    "character_texture",
    "scene_light",
)

__all__ = ["PUG_IMAGENET_COLUMNS"]
