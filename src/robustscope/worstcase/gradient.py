"""Gradient search through the renderer: d(image)/d(factor) from Mitsuba's differentiable variant, chained with
the model's input gradient, minimising the true-class margin by projected sign-gradient steps within the box.

Differentiable factors: the pose (``yaw``, ``pitch``, ``roll``), ``scale``, ``position_x``/``position_y`` (they move
the mesh's vertices, rebuilt from the factor values inside Dr.Jit each step) and ``light_intensity`` (the sun's
irradiance). The scene is :class:`~robustscope.synth.scene.SceneRenderer`'s, rendered by the
``direct_projective`` integrator so that moving silhouettes have gradients. Each step is one differentiable render
(it counts against the budget); the margin is computed in torch from the render's linear RGB (sRGB conversion,
the model's resize) and its gradient is pushed back into Dr.Jit.

The variant is ``cuda_ad_rgb`` where a GPU runs it, else ``llvm_ad_rgb``, which needs a libLLVM that Dr.Jit can
compile with: Dr.Jit 1.x emits ``llvm.minimum`` intrinsics that LLVM 15's x86 backend cannot select (the process
aborts), so LLVM 16 or newer is required (Debian: ``apt-get install libllvm19``). :func:`differentiable_variant`
probes it in a subprocess — a failed probe cannot take the caller down — and says exactly why when nothing runs.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from robustscope.errors import SpecError
from robustscope.models import Model
from robustscope.synth.scene import SceneRenderer, image_seed
from robustscope.synth.spec import WorldSpec
from robustscope.synth.textures import LIGHT_COLORS, parse_color
from robustscope.worstcase.box import FactorBox
from robustscope.worstcase.search import Budget, InstanceSearch

__all__ = ["DIFFERENTIABLE_FACTORS", "DifferentiableRenderer", "differentiable_variant", "find_libllvm",
           "gradient_search"]  # fmt: skip

#: Factors the differentiable renderer has gradients for.
DIFFERENTIABLE_FACTORS = ("yaw", "pitch", "roll", "scale", "position_x", "position_y", "light_intensity")
LLVM_ENV = "DRJIT_LIBLLVM_PATH"
#: The oldest libLLVM Dr.Jit compiles the renderer with (LLVM 15 aborts on ``llvm.minimum``).
MIN_LLVM = 16
STEP_START, STEP_END = 0.2, 0.02  # sign-gradient step in box units, decayed linearly over the budget


def _llvm_major(path: str) -> int:
    """LLVM's major version from a library path (0 if it does not say).

    Example:
        >>> [_llvm_major(p) for p in ("/usr/lib/libLLVM-15.so.1", "/usr/lib/libLLVM.so.19.1", "/x/libLLVM.so")]
        [15, 19, 0]
    """
    found = re.search(r"LLVM(?:-|\.so\.)(\d+)", os.path.basename(path)) or re.search(r"llvm-(\d+)", path)
    return int(found.group(1)) if found else 0


def find_libllvm() -> str | None:
    """The newest libLLVM shared library on this machine (``$DRJIT_LIBLLVM_PATH`` first), or None.

    Example:
        >>> path = find_libllvm()
        >>> path is None or "LLVM" in path
        True
    """
    if os.environ.get(LLVM_ENV):
        return os.environ[LLVM_ENV]
    patterns = ["/usr/lib/x86_64-linux-gnu/libLLVM*.so*", "/usr/lib/aarch64-linux-gnu/libLLVM*.so*",
                "/usr/lib/llvm-*/lib/libLLVM*.so*", "/usr/local/lib/libLLVM*.so*"]  # fmt: skip
    found = sorted({p for pattern in patterns for p in glob.glob(pattern)}, key=lambda p: (_llvm_major(p), len(p)))
    return found[-1] if found else None


_PROBE = """
import drjit as dr, mitsuba as mi
mi.set_variant("{variant}")
scene = mi.load_dict({{"type": "scene", "integrator": {{"type": "direct_projective"}},
    "sensor": {{"type": "perspective", "film": {{"type": "hdrfilm", "width": 4, "height": 4}}}},
    "light": {{"type": "constant"}}, "shape": {{"type": "sphere", "bsdf": {{"type": "diffuse"}}}}}})
params = mi.traverse(scene)
key = "shape.bsdf.reflectance.value"
dr.enable_grad(params[key]); params.update()
dr.backward(dr.mean(mi.render(scene, params, spp=2)))
print("ok", dr.grad(params[key]))
"""


@functools.lru_cache(maxsize=1)
def differentiable_variant() -> tuple[str | None, str]:
    """``(variant, why)``: the differentiable Mitsuba variant that runs here, or None and the exact reason.

    Sets ``$DRJIT_LIBLLVM_PATH`` for this process when ``llvm_ad_rgb`` runs with a library it found.

    Example:
        >>> variant, why = differentiable_variant()
        >>> variant in (None, "cuda_ad_rgb", "llvm_ad_rgb") and isinstance(why, str)
        True
    """
    import mitsuba as mi

    reasons = []
    for variant in ("cuda_ad_rgb", "llvm_ad_rgb"):
        if variant not in mi.variants():
            reasons.append(f"{variant}: not compiled into this Mitsuba build")
            continue
        env = dict(os.environ)
        if variant == "llvm_ad_rgb":
            library = find_libllvm()
            if library is None:
                reasons.append("llvm_ad_rgb: no libLLVM found (install libllvm19, or set DRJIT_LIBLLVM_PATH)")
                continue
            if 0 < _llvm_major(library) < MIN_LLVM and not os.environ.get(LLVM_ENV):
                reasons.append(f"llvm_ad_rgb: the newest libLLVM here is {library} (LLVM {_llvm_major(library)}); "
                               f"Dr.Jit's LLVM backend aborts on it (cannot select llvm.minimum): install "
                               f"libllvm{MIN_LLVM} or newer (Debian: apt-get install libllvm19)")  # fmt: skip
                continue
            env[LLVM_ENV] = library
        try:
            done = subprocess.run([sys.executable, "-c", _PROBE.format(variant=variant)], env=env, capture_output=True,
                                  text=True, timeout=300)  # fmt: skip
        except subprocess.TimeoutExpired:
            reasons.append(f"{variant}: a 4-pixel differentiable render did not finish in 300 s")
            continue
        if done.returncode == 0 and done.stdout.startswith("ok"):
            if variant == "llvm_ad_rgb":
                os.environ[LLVM_ENV] = env[LLVM_ENV]
            return variant, f"{variant} renders with gradients" + (f" (libLLVM {env.get(LLVM_ENV)})" if
                                                                     variant == "llvm_ad_rgb" else "")  # fmt: skip
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        reasons.append(f"{variant}: a 4-pixel differentiable render failed ({last[:200]})")
    return None, "; ".join(reasons)


def _srgb_torch(linear: Any) -> Any:
    """Linear RGB → sRGB in [0, 1], differentiable (as :func:`robustscope.synth.textures.linear_to_srgb`)."""
    import torch

    c = linear.clamp(0.0, 1.0)
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp_min(1e-8) ** (1 / 2.4) - 0.055)


def _rotate(p: Any, yaw: Any, pitch: Any, roll: Any) -> tuple[Any, Any, Any]:
    """Yaw about y, then pitch about x, then roll about z (radians): SceneRenderer's rotation, in Dr.Jit."""
    import drjit as dr

    x1, y1, z1 = dr.cos(yaw) * p.x + dr.sin(yaw) * p.z, p.y, -dr.sin(yaw) * p.x + dr.cos(yaw) * p.z
    x2, y2, z2 = x1, dr.cos(pitch) * y1 - dr.sin(pitch) * z1, dr.sin(pitch) * y1 + dr.cos(pitch) * z1
    return dr.cos(roll) * x2 - dr.sin(roll) * y2, dr.sin(roll) * x2 + dr.cos(roll) * y2, z2


class DifferentiableRenderer:
    """Renders one instance with gradients w.r.t. its continuous factors (:data:`DIFFERENTIABLE_FACTORS`).

    ``render(values)`` returns the linear RGBA image as a Dr.Jit tensor and the factor variables it depends on;
    ``factor_gradients(values, image_grad)`` pushes a gradient of the image back to the factors.
    """

    def __init__(self, spec: WorldSpec, record: Mapping[str, Any], variant: str):
        import mitsuba as mi

        from robustscope.synth.meshes import make_mesh
        from robustscope.synth.scene import HALF_FRAME

        self.mi = mi
        self.base_renderer = SceneRenderer(spec, variant)  # sets the variant; builds the scene as the world does
        self.record = dict(record)
        scene = self.base_renderer.scene_dict(self.record, integrator="direct_projective")
        # Silhouettes may cross the image border as the object moves: sample past it (Mitsuba's advice for moving
        # shapes; without it the border's gradients are biased).
        scene["sensor"]["film"]["sample_border"] = True
        self.scene = mi.load_dict(scene)
        self.params = mi.traverse(self.scene)
        mesh = make_mesh(self.record["character_label"])
        self.base_positions = mi.Point3f(*(mesh.positions.astype(np.float32).T))
        self.base_normals = mi.Vector3f(*(mesh.normals.astype(np.float32).T))
        self.half_frame = HALF_FRAME
        self.light_rgb = np.array(parse_color(self.record["light_color"], LIGHT_COLORS), dtype=float)
        self.seed = image_seed(spec.seed, int(self.record.get("seed_index", self.record["index"])))
        self.spp = spec.spp

    def _apply(self, values: Mapping[str, float], factors: list[str]) -> dict[str, Any]:
        import drjit as dr

        mi = self.mi
        variables = {name: mi.Float(float(values.get(name, self.record[name]))) for name in DIFFERENTIABLE_FACTORS}
        for name in factors:
            dr.enable_grad(variables[name])
        angles = [dr.deg2rad(variables[n]) for n in ("yaw", "pitch", "roll")]
        x, y, z = _rotate(self.base_positions, *angles)
        s = variables["scale"]
        moved = mi.Point3f(x * s + variables["position_x"] * self.half_frame,
                           y * s + variables["position_y"] * self.half_frame, z * s)  # fmt: skip
        self.params["object.vertex_positions"] = dr.ravel(moved)
        self.params["object.vertex_normals"] = dr.ravel(mi.Vector3f(*_rotate(self.base_normals, *angles)))
        self.params["sun.irradiance.value"] = mi.Color3f(*(float(c) for c in self.light_rgb)) * variables[
            "light_intensity"
        ]
        self.params.update()
        return variables

    def render(self, values: Mapping[str, float], factors: list[str]) -> tuple[Any, dict[str, Any]]:
        """The linear RGBA render at ``values`` (factors not named keep the instance's) and its variables."""
        variables = self._apply(values, factors)
        image = self.mi.render(self.scene, self.params, seed=self.seed, spp=self.spp)
        return image, variables

    def image_gradient_to_factors(self, image: Any, variables: dict[str, Any], grad: np.ndarray,
                                  factors: list[str]) -> dict[str, float]:  # fmt: skip
        """d(sum(image * grad))/d(factor) for each of ``factors`` (``grad``: ``[H, W, C]`` like ``image``)."""
        import drjit as dr

        dr.backward(dr.sum(image * self.mi.TensorXf(grad.astype(np.float32)), axis=None))
        return {name: float(dr.grad(variables[name])[0]) for name in factors}


def _margin_and_image_grad(model: Model, columns: np.ndarray, label: int, linear_rgba: np.ndarray) -> Any:
    """The model's margin on one linear render and d(margin)/d(linear RGBA)."""
    import torch
    import torch.nn.functional as F

    pixels = torch.tensor(linear_rgba, dtype=torch.float32, requires_grad=True)
    x = _srgb_torch(pixels[..., :3]).permute(2, 0, 1).unsqueeze(0)
    size = model.preprocessing.input_size
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    logits = model(x)[0, torch.as_tensor(columns)]
    others = torch.cat([logits[:label], logits[label + 1 :]])
    margin = logits[label] - others.max()
    margin.backward()
    assert pixels.grad is not None
    return float(margin.detach()), pixels.grad.numpy()


def gradient_search(
    spec: WorldSpec,
    record: Mapping[str, Any],
    box: FactorBox,
    model: Model,
    budget: int,
    variant: str,
    verify: Any = None,
) -> InstanceSearch:
    """Projected sign-gradient descent on the margin within the box, one differentiable render per step.

    Starts at the instance's own values; each step moves every factor by ``± step × box width`` (the step decays
    from 0.2 to 0.02 of the box) and clips into the box. Candidates the differentiable render says fool the model
    are re-rendered from their factor values by ``verify`` (a :class:`~robustscope.worstcase.oracle.RenderOracle`
    of the world's own variant) and their margins replaced by the verified ones, so a success counts only if the
    world's renderer reproduces it.

    Example:
        >>> # gradient_search(spec, spec.samples()[0], parse_box({"yaw": {"offset": [-30, 30]}}), model, 32,
        >>> #                 "llvm_ad_rgb", verify=RenderOracle(spec, model))
    """
    if box.categorical or any(d.factor not in DIFFERENTIABLE_FACTORS for d in box.continuous):
        raise SpecError(f"gradient search: box {box.factors} has factors without gradients "
                         f"(differentiable: {', '.join(DIFFERENTIABLE_FACTORS)})")  # fmt: skip
    import torch

    renderer = DifferentiableRenderer(spec, record, variant)
    index = model.label_index()
    columns = np.array([index[c] for c in spec.classes])
    label = spec.classes.index(record["character_label"])
    factors = [d.factor for d in box.continuous]
    bounds = box.bounds(record)
    width = np.maximum(bounds[:, 1] - bounds[:, 0], 1e-12)
    unit = np.clip(box.to_unit(record, record), 0.0, 1.0)
    counted = Budget(budget, lambda batch: np.zeros(len(batch)))
    candidates, margins = [], []
    model = model.eval()
    for step in range(budget):
        candidate = box.candidate(record, unit, [])
        counted([candidate])
        image, variables = renderer.render(candidate, factors)
        with torch.enable_grad():
            margin, image_grad = _margin_and_image_grad(model, columns, label, np.array(image))
        grads = renderer.image_gradient_to_factors(image, variables, image_grad, factors)
        candidates.append(candidate)
        margins.append(margin)
        g_unit = np.array([grads[f] for f in factors]) * width
        size = STEP_START + (STEP_END - STEP_START) * step / max(budget - 1, 1)
        unit = np.clip(unit - size * np.sign(g_unit), 0.0, 1.0)
    margins_arr = np.array(margins, dtype=float)
    verified = 0
    if verify is not None:
        fooling = np.flatnonzero(margins_arr < 0)
        if len(fooling):
            margins_arr[fooling] = verify([candidates[i] for i in fooling])
            verified = len(fooling)
    distances = [box.distance(record, c) for c in candidates]
    return InstanceSearch("gradient", dict(record), candidates, margins_arr, distances,
                          extra={"variant": variant, "verification_renders": verified})  # fmt: skip
