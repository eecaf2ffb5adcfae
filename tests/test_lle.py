"""Last Layer Ensemble on features (robustscope.mitigate.lle), and its save / load round trip (issue 12, part 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from robustscope.mitigate import save_mitigated
from robustscope.mitigate.last_layer import LastLayerConfig
from robustscope.mitigate.lle import fit_lle, lle_loss, lle_sampler
from robustscope.models import load_model
from robustscope.models.features import split_model
from robustscope.models.heads import EnsembleHead
from robustscope.models.smallcnn import SmallCNN


def _tiny_head() -> EnsembleHead:
    head = EnsembleHead(2, 2, 2)
    with torch.no_grad():
        head.heads[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        head.heads[0].bias.zero_()
        head.heads[1].weight.copy_(torch.tensor([[0.0, 2.0], [1.0, 0.0]]))
        head.heads[1].bias.copy_(torch.tensor([1.0, 0.0]))
        head.shift.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        head.shift.bias.zero_()
    return head.eval()


def test_eval_output_is_the_softmax_weighted_sum_of_head_logits() -> None:
    x = torch.tensor([[1.0, 2.0]])
    # heads: h0 = [1, 2], h1 = [0*1 + 2*2 + 1, 1*1 + 0] = [5, 1]; shift logits [1, 0] -> softmax [e/(e+1), 1/(e+1)]
    p0, p1 = np.e / (np.e + 1), 1 / (np.e + 1)
    expected = torch.tensor([[p0 * 1 + p1 * 5, p0 * 2 + p1 * 1]])
    assert torch.allclose(_tiny_head()(x), expected)


def test_loss_is_the_sum_of_two_cross_entropies() -> None:
    head = _tiny_head()
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    y, d = torch.tensor([1, 0, 0]), torch.tensor([0, 1, 1])
    h0, h1 = x @ torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T, x @ torch.tensor([[0.0, 2.0], [1.0, 0.0]]).T + torch.tensor(
        [1.0, 0.0])
    own = torch.stack([h0[0], h1[1], h1[2]])
    shift = torch.stack([x[:, 0], torch.zeros(3)], 1)

    def ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (torch.logsumexp(logits, 1) - logits[torch.arange(len(target)), target]).mean()

    assert torch.isclose(lle_loss(head, x, y, d), ce(own, y) + ce(shift, d))
    assert torch.isclose(lle_loss(head, x, y, d), F.cross_entropy(own, y) + F.cross_entropy(shift, d))


def test_sampler_draws_original_size_without_replacement() -> None:
    sampler = lle_sampler(10, 40, torch.Generator().manual_seed(0))
    drawn = list(sampler)
    assert sampler.num_samples == 10 and not sampler.replacement and len(drawn) == 10 == len(set(drawn))
    assert all(0 <= i < 40 for i in drawn)
    assert sampler.weights.tolist() == [1.0] * 40


def test_fit_starts_every_head_from_init_and_learns_the_shift() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 128)
    x = np.stack([2.0 * y - 1, rng.normal(size=128)], 1).astype(np.float32)
    shifted = x + np.array([0.0, 4.0], np.float32)  # the augmentation moves the second feature
    init = (np.array([[-1.0, 0.0], [1.0, 0.0]]), np.zeros(2))
    fit = fit_lle(x, y, {"move": shifted}, config=LastLayerConfig(epochs=0), init=init)
    assert all(torch.equal(h.weight, fit.head.heads[0].weight) for h in fit.head.heads)
    fit = fit_lle(x, y, {"move": shifted}, config=LastLayerConfig(epochs=30, batch_size=256, lr=1.0), init=init)
    with torch.no_grad():
        _, shift = fit.head.parts(torch.from_numpy(np.concatenate([x, shifted])))
    assert (shift.argmax(1).numpy() == np.repeat([0, 1], 128)).mean() > 0.95
    assert fit.params()["shifts"] == ["original", "move"] and fit.params()["sizes"] == {"original": 128, "move": 128}


def test_saved_ensemble_loads_back_as_the_same_model(tmp_path: Path) -> None:
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2},
        "labels": ["a", "b"], "preprocessing": {"input_size": 16, "crop_pct": 1.0}}))  # fmt: skip
    base = load_model(f"file:{tmp_path}")
    split = split_model(base)
    head = EnsembleHead(split.dim, 3, 3).eval()
    out = save_mitigated(f"file:{tmp_path}", split, head, None, ["x", "y", "z"], tmp_path / "lle", "lle",
                         {"shifts": ["original", "blur", "noise"]}, base_fingerprint=base.fingerprint())  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["head"]["kind"] == "ensemble" and config["head"]["num_heads"] == 3
    model = load_model(f"file:{out}")
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        expected = head(split.features(images))
        assert torch.allclose(model(images), expected, atol=1e-5)
    assert model.labels == ["x", "y", "z"] and model.fingerprint() != base.fingerprint()
