"""Render one sample of a world with Mitsuba 3: the scene, the camera, the light and the sampler seed.

Each image is one procedural mesh (posed, scaled, placed, textured) in front of a procedural
environment map that both lights it and shows as the background, plus one directional light.
The object mask is the film's alpha channel (per-pixel coverage), so RGB and mask come from one pass.
Images are independent of which worker renders them: the sampler seed is a function of the split
seed and the image index, and Mitsuba renders each pixel from one block with a box filter.
Writing whole splits to disk (and caching them) is :mod:`robustscope.synth.render`'s.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np

from robustscope.synth.backgrounds import make_envmap
from robustscope.synth.meshes import make_mesh
from robustscope.synth.spec import WorldSpec
from robustscope.synth.textures import LIGHT_COLORS, linear_to_srgb, make_texture, parse_color

__all__ = [
    "DEFAULT_VARIANT",
    "RENDERER_VERSION",
    "VARIANT_ENV",
    "SceneRenderer",
    "image_seed",
    "light_direction",
    "pick_variant",
]

log = logging.getLogger(__name__)

#: Bump when a change to the renderer changes pixels; it is part of every cache key.
RENDERER_VERSION = "synth-1"
DEFAULT_VARIANT = "scalar_rgb"
VARIANT_ENV = "ROBUSTSCOPE_MITSUBA_VARIANT"

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
        >>> from robustscope.synth.spec import load_spec
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
        if mi.variant() != self.variant:  # another renderer (a differentiable one) switched Mitsuba's variant
            mi.set_variant(self.variant)
        scene = mi.load_dict(self.scene_dict(record, with_object))
        # A record may name the sample whose sampler seed it shares (the same instance under another pose).
        seed_index = record.get("seed_index", record["index"])
        image = np.array(mi.render(scene, seed=image_seed(self.spec.seed, seed_index)))
        rgb = np.round(linear_to_srgb(image[..., :3]) * 255).astype(np.uint8)
        mask = np.round(np.clip(image[..., 3], 0, 1) * 255).astype(np.uint8)
        return rgb, mask

    def scene_dict(
        self, record: dict[str, Any], with_object: bool = True, integrator: str = "direct"
    ) -> dict[str, Any]:
        """The Mitsuba scene description of one sample record (:meth:`render` loads and renders it).

        ``integrator="direct_projective"`` gives the same scene to a differentiable variant with silhouette
        gradients (:mod:`robustscope.worstcase.gradient`).
        """
        mi = self.mi
        res = self.spec.resolution
        light_rgb = np.array(parse_color(record["light_color"], LIGHT_COLORS)) * record["light_intensity"]
        return (
            {
                "type": "scene",
                "integrator": {"type": integrator},
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
