"""Adversarial attacks: budgets, strength ordering, per-sample determinism, Runner end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import write_colour_folder
from robustscope.errors import SpecError
from robustscope.models import Model, Preprocessing
from robustscope.shifts.attacks import FGSM, PGD
from robustscope.shifts.registry import load_shift

SIZE = 8


def _mlp(seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 32), nn.ReLU(), nn.Linear(32, 3))
    return Model.from_module(net, preprocessing=Preprocessing(input_size=SIZE, crop_pct=1.0), labels=["a", "b", "c"])


@pytest.fixture(scope="module")
def setup() -> tuple[Model, torch.Tensor, torch.Tensor, list[str]]:
    """A random MLP and images labelled with its own clean predictions (clean accuracy 100%)."""
    model = _mlp().eval()
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(48, 3, SIZE, SIZE, generator=gen)
    with torch.no_grad():
        labels = model(images).argmax(1)
    return model, images, labels, [f"s{i:03d}" for i in range(len(images))]


def _accuracy(model: Model, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).float().mean())


ATTACKS = [
    FGSM(8 / 255),
    PGD("linf", eps=8 / 255, alpha=2 / 255, steps=10),
    PGD("l2", eps=0.5, alpha=0.1, steps=10),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.spec())
def test_budget_range_and_strength(attack, setup) -> None:
    model, images, labels, ids = setup
    adv = attack(images.clone(), ids, seed=0, model=model, labels=labels)
    assert adv.shape == images.shape and adv.min() >= 0 and adv.max() <= 1
    delta = (adv - images).flatten(1)
    if getattr(attack, "norm", "linf") == "linf":
        assert delta.abs().max() <= attack.eps + 1e-6
    else:
        assert delta.norm(dim=1).max() <= attack.eps + 1e-5
    assert _accuracy(model, adv, labels) < 0.5  # from 100% clean


def test_pgd_at_least_as_strong_as_fgsm(setup) -> None:
    model, images, labels, ids = setup
    for eps in (1 / 255, 2 / 255, 4 / 255):
        fgsm = FGSM(eps)(images.clone(), ids, model=model, labels=labels)
        pgd = PGD("linf", eps=eps, alpha=eps / 4, steps=20)(images.clone(), ids, model=model, labels=labels)
        assert _accuracy(model, pgd, labels) <= _accuracy(model, fgsm, labels)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.spec())
def test_deterministic_per_sample(attack, setup) -> None:
    model, images, labels, ids = setup
    whole = attack(images.clone(), ids, seed=3, model=model, labels=labels)
    again = attack(images.clone(), ids, seed=3, model=model, labels=labels)
    assert torch.equal(whole, again)
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(0))
    parts = [order[:7], order[7:20], order[20:]]
    for part in parts:
        sub = attack(images[part].clone(), [ids[i] for i in part], seed=3, model=model, labels=labels[part])
        torch.testing.assert_close(sub, whole[part], atol=1e-5, rtol=0)


def test_random_start_depends_on_seed(setup) -> None:
    model, images, labels, ids = setup
    attack = PGD("linf", eps=8 / 255, steps=0)
    a = attack(images.clone(), ids, seed=0, model=model, labels=labels)
    b = attack(images.clone(), ids, seed=1, model=model, labels=labels)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("attack", [FGSM(0.0), PGD("linf", eps=0.0, steps=5), PGD("l2", eps=0.0, steps=5)])
def test_zero_budget_is_identity(attack, setup) -> None:
    model, images, labels, ids = setup
    adv = attack(images.clone(), ids, model=model, labels=labels)
    assert torch.equal(adv, images)
    assert _accuracy(model, adv, labels) == 1.0


def test_no_parameter_gradients(setup) -> None:
    model, images, labels, ids = setup
    PGD("linf", eps=4 / 255, steps=2)(images.clone(), ids, model=model, labels=labels)
    assert all(p.grad is None for p in model.parameters())


def test_specs_parse_and_round_trip() -> None:
    pgd = load_shift("pgd:linf:eps=1/255:steps=20:alpha=2/255")
    assert isinstance(pgd, PGD) and (pgd.norm, pgd.eps, pgd.alpha, pgd.steps) == ("linf", 1 / 255, 2 / 255, 20)
    assert pgd.random_start and pgd.spec() == "pgd:linf:eps=1/255:steps=20:alpha=2/255"
    assert load_shift(pgd.spec()).key() == pgd.key()
    l2 = load_shift("pgd:l2:eps=0.5:steps=3:random_start=false")
    assert (l2.norm, l2.eps, l2.steps, l2.random_start) == ("l2", 0.5, 3, False)
    fgsm = load_shift("fgsm:eps=1/255")
    assert isinstance(fgsm, FGSM) and fgsm.spec() == "fgsm:eps=1/255"
    assert load_shift(fgsm.spec()).key() == fgsm.key()
    assert load_shift("pgd:linf:eps=1/255").key() != load_shift("pgd:linf:eps=2/255").key()
    with pytest.raises(SpecError, match="epsilon"):
        load_shift("pgd:linf:epsilon=1")
    with pytest.raises(ValueError):
        load_shift("pgd:l3:eps=1")
    with pytest.raises(ValueError):
        FGSM(1 / 255)(torch.rand(1, 3, 2, 2), ["a"])  # no model/labels


def _colour_model() -> Model:
    # 1x1 conv head: logit_red = R - G, logit_green = G - R on normalised pixels; the near-grey
    # colours below sit ~10 grey levels from the boundary, so eps=8/255 on both channels flips them.
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]]).view(2, 3, 1, 1))
    preprocessing = Preprocessing(input_size=16, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)
    return Model.from_module(conv, preprocessing=preprocessing, labels=["red", "green"])


def test_evaluate_end_to_end(tmp_path: Path) -> None:
    import robustscope
    from robustscope.data.registry import load_dataset
    from robustscope.engine import PredictionStore, Runner

    root = write_colour_folder(tmp_path / "data", {"red": (130, 120, 125), "green": (120, 130, 125)}, per_class=4)
    model = _colour_model()
    shifts = ["none", "pgd:linf:eps=8/255:steps=5", "pgd:linf:eps=1/255:steps=5", "fgsm:eps=8/255"]
    table = robustscope.evaluate(model, f"folder:{root}", shifts=shifts, metrics=["top1"], slice_by=None,
                                 progress=False, n_resamples=10)
    top1 = table.query("metric == 'top1' and slice_factor == ''").set_index("shift")["value"]
    keys = table.query("metric == 'top1'").set_index("shift")["prediction_key"]
    clean = top1["none"]
    strong = top1[load_shift(shifts[1]).spec()]
    assert clean == 1.0 and strong == 0.0
    assert top1[load_shift(shifts[2]).spec()] == 1.0  # 2/255 of R-G cannot cross a 10-level margin
    assert top1[load_shift(shifts[3]).spec()] == 0.0
    assert keys[load_shift(shifts[1]).spec()] != keys[load_shift(shifts[2]).spec()]
    # Runner directly: stored labels are the true ones, and a batch split does not change the logits.
    dataset = load_dataset(f"folder:{root}")
    shift = load_shift(shifts[1])
    a = Runner(PredictionStore(tmp_path / "p1"), batch_size=8, progress=False).run(model, dataset, shift)
    b = Runner(PredictionStore(tmp_path / "p2"), batch_size=3, progress=False).run(model, dataset, shift)
    assert (a.predictions.logits.argmax(1) != a.predictions.labels).all()
    torch.testing.assert_close(torch.from_numpy(a.predictions.logits), torch.from_numpy(b.predictions.logits),
                               atol=1e-5, rtol=0)
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
