"""robustscope.synth: a controllable synthetic world rendered with Mitsuba 3.

Shape classes, procedural textures, colours, pose, size, position, lighting and environment-map
backgrounds are factors of a declarative :class:`WorldSpec`; :func:`render_world` writes images,
masks and a PUG:ImageNet-style ``labels.csv``; :func:`ensure_rendered` caches renders by spec hash.

Example:
    >>> from robustscope.synth import load_spec
    >>> load_spec("demo").split_names()[:3]
    ['train-narrow', 'train-diverse', 'train-texture-shortcut']
"""

from __future__ import annotations

from robustscope.synth.backgrounds import BACKGROUNDS
from robustscope.synth.meshes import SHAPES
from robustscope.synth.render import LABEL_COLUMNS, PUG_COLUMNS, ensure_rendered, is_complete, render_world
from robustscope.synth.scene import RENDERER_VERSION
from robustscope.synth.spec import WorldSpec, builtin_worlds, load_spec
from robustscope.synth.textures import COLORS, LIGHT_COLORS, TEXTURES

__all__ = [
    "BACKGROUNDS",
    "COLORS",
    "LABEL_COLUMNS",
    "LIGHT_COLORS",
    "PUG_COLUMNS",
    "RENDERER_VERSION",
    "SHAPES",
    "TEXTURES",
    "WorldSpec",
    "builtin_worlds",
    "ensure_rendered",
    "is_complete",
    "load_spec",
    "render_world",
]
