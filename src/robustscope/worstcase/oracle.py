"""Render candidates with the world's renderer and score them with a model: the scorer a search calls.

Every candidate is a full sample record of a resolved world split and is rendered from its factor values alone,
by :class:`~robustscope.synth.scene.SceneRenderer` with the instance's own sampler seed (``index``), so the
render of a found example is reproducible bit for bit from its :func:`example_spec` on the same variant
(:func:`render_example`). The margin is the true-class logit minus the best other *world* class's logit (a model
with more labels is scored in the world's classes, matched by name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from robustscope.errors import LabelSpaceError
from robustscope.models import Model
from robustscope.synth.scene import RENDERER_VERSION, SceneRenderer, image_seed
from robustscope.synth.spec import WorldSpec, load_spec

__all__ = ["RenderOracle", "example_spec", "model_inputs", "render_example"]


def model_inputs(model: Model, images: list[np.ndarray]) -> Any:
    """``[B, C, H, W]`` float tensor of uint8 RGB renders, through the model's own preprocessing (resize, crop).

    Example:
        >>> from torch import nn
        >>> from robustscope.models import Preprocessing
        >>> m = Model.from_module(nn.Identity(), Preprocessing(8, crop_pct=1.0), ["a"])
        >>> model_inputs(m, [np.zeros((16, 16, 3), np.uint8)]).shape
        torch.Size([1, 3, 8, 8])
    """
    import torch
    from PIL import Image

    pre = model.preprocessing
    tensors = [pre.to_tensor(pre.resize_and_crop(Image.fromarray(image))) for image in images]
    return torch.stack(tensors)


class RenderOracle:
    """Renders candidate records of one resolved world split and returns the model's margins (a search's scorer).

    Renders are kept per record while the oracle lives (``cache=True``), so a candidate that a search draws twice,
    or that a second model is scored on, is rendered once; it still counts against each search's budget.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from robustscope.models import Preprocessing
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4))
        >>> model = Model.from_module(net, Preprocessing(32, crop_pct=1.0), spec.classes)
        >>> oracle = RenderOracle(spec, model)
        >>> oracle.margins(spec.samples()[:2]).shape, oracle.renders
        ((2,), 2)
    """

    def __init__(self, spec: WorldSpec, model: Model, variant: str | None = None, batch_size: int = 64,
                 cache: bool = True):  # fmt: skip
        self.spec = spec
        self.renderer = SceneRenderer(spec, variant)
        self.variant = self.renderer.variant
        self.batch_size = batch_size
        self.cache: dict[str, np.ndarray] | None = {} if cache else None
        self.renders = 0
        self.set_model(model)

    def set_model(self, model: Model) -> None:
        """Score with ``model`` from now on (renders already made are kept)."""
        index = model.label_index()
        missing = [c for c in self.spec.classes if c not in index]
        if missing:
            raise LabelSpaceError(f"worst-case search: model {model.name} has no label for world class "
                                  f"{missing[0]!r}; search a model trained on world {self.spec.name}")  # fmt: skip
        self.model = model.eval()
        self.columns = np.array([index[c] for c in self.spec.classes])

    def image(self, record: Mapping[str, Any]) -> np.ndarray:
        """The uint8 RGB render of one candidate record."""
        key = json.dumps(record, sort_keys=True, default=str)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        rgb, _ = self.renderer.render(dict(record))
        self.renders += 1
        if self.cache is not None:
            if len(self.cache) > 20_000:  # bound memory on long runs
                self.cache.clear()
            self.cache[key] = rgb
        return rgb

    def logits(self, images: list[np.ndarray]) -> np.ndarray:
        """The model's logits in the world's classes, ``[B, n_classes]``."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = model_inputs(self.model, images[start : start + self.batch_size])
                out.append(self.model(batch).float().numpy()[:, self.columns])
        return np.concatenate(out) if out else np.zeros((0, len(self.columns)))

    def margins(self, records: list[dict[str, Any]]) -> np.ndarray:
        """True-class logit minus the best other class's, per record (below 0: the model is wrong)."""
        logits = self.logits([self.image(r) for r in records])
        labels = np.array([self.spec.classes.index(r["character_label"]) for r in records])
        return margins_of(logits, labels)

    __call__ = margins


def margins_of(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """True-class logit minus the best other logit, per row.

    Example:
        >>> margins_of(np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), np.array([0, 2])).tolist()
        [1.0, -2.0]
    """
    rows = np.arange(len(labels))
    others = logits.copy()
    others[rows, labels] = -np.inf
    return logits[rows, labels] - others.max(axis=1)


def example_spec(spec: WorldSpec, record: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """Everything needed to re-render a found example from its factor values alone.

    Example:
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> sorted(example_spec(spec, spec.samples()[0], "scalar_rgb"))
        ['factors', 'fingerprint', 'renderer_version', 'resolution', 'seed', 'split', 'spp', 'variant', 'world']
    """
    return {
        "world": spec.name,
        "split": spec.split,
        "fingerprint": spec.fingerprint(RENDERER_VERSION),
        "renderer_version": RENDERER_VERSION,
        "variant": variant,
        "resolution": spec.resolution,
        "spp": spec.spp,
        "seed": image_seed(spec.seed, int(record.get("seed_index", record["index"]))),
        "factors": dict(record),
    }


def render_example(example: Mapping[str, Any], spec: WorldSpec | None = None) -> np.ndarray:
    """Re-render an example from its :func:`example_spec` (the built-in world by name unless ``spec`` is given).

    Example:
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> record = dict(spec.samples()[1], yaw=12.5)
        >>> again = render_example(example_spec(spec, record, "scalar_rgb"))
        >>> bool((again == SceneRenderer(spec, "scalar_rgb").render(record)[0]).all())
        True
    """
    from robustscope.errors import SpecError

    resolved = spec if spec is not None else load_spec(example["world"]).resolve(example["split"])
    if resolved.fingerprint(RENDERER_VERSION) != example["fingerprint"]:
        raise SpecError(f"example of world {example['world']!r}/{example['split']}: the world or the renderer changed "
                        "since it was found (fingerprint differs); search again")  # fmt: skip
    rgb, _ = SceneRenderer(resolved, example["variant"]).render(dict(example["factors"]))
    return rgb
