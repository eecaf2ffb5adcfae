"""AutoAttack (Croce & Hein 2020) as an optional shift: specs, the missing-library error, strength vs PGD."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import write_colour_folder
from robustscope.errors import SpecError
from robustscope.models import Model, Preprocessing
from robustscope.shifts import autoattack
from robustscope.shifts.attacks import PGD, MissingDependencyError
from robustscope.shifts.autoattack import AutoAttack
from robustscope.shifts.registry import load_shift

HAVE_LIBRARY = importlib.util.find_spec(autoattack.AUTOATTACK_PACKAGE) is not None
needs_library = pytest.mark.skipif(
    not HAVE_LIBRARY, reason=f"{autoattack.AUTOATTACK_PACKAGE} not installed (pip install 'robustscope[autoattack]')"
)
SIZE = 8


def test_specs_parse_without_the_library() -> None:
    shift = load_shift("autoattack:linf:eps=4/255")
    assert isinstance(shift, AutoAttack) and shift.needs_model
    assert (shift.norm, shift.eps, shift.aa_version, shift.attacks, shift.per_sample) == (
        "linf",
        4 / 255,
        "standard",
        None,
        True,
    )
    assert shift.spec() == "autoattack:linf:eps=4/255"
    cheap = load_shift("autoattack:l2:eps=0.5:attacks=apgd-ce+apgd-t:per_sample=false")
    assert (cheap.norm, cheap.eps, cheap.attacks, cheap.aa_version, cheap.per_sample) == (
        "l2",
        0.5,
        ("apgd-ce", "apgd-t"),
        "custom",
        False,
    )
    for spec in (shift, cheap, load_shift("autoattack:linf:eps=8/255:version=plus")):
        assert load_shift(spec.spec()).params() == spec.params()  # round trip
    assert shift.params() != load_shift("autoattack:linf:eps=8/255").params()
    for bad in (
        "autoattack:l3:eps=1",
        "autoattack:linf:attacks=pgd",
        "autoattack:linf:version=rand",
        "autoattack:linf:steps=3",
    ):
        with pytest.raises(SpecError):
            load_shift(bad)


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autoattack, "AUTOATTACK_PACKAGE", "robustscope_no_such_package")
    shift = load_shift("autoattack:linf:eps=4/255")
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    with pytest.raises(MissingDependencyError, match=r"pip install 'robustscope\[autoattack\]'"):
        shift(torch.rand(1, 3, 2, 2), ["a"], model=net, labels=torch.tensor([0]))
    with pytest.raises(MissingDependencyError):
        shift.key()  # the Runner fails while planning, before any forward pass


def _trained_model() -> tuple[Model, torch.Tensor, torch.Tensor, list[str]]:
    """A small MLP trained for a second on 4 noisy colour classes, and 24 held-out test images."""
    gen = torch.Generator().manual_seed(0)
    means = torch.rand(4, 3, generator=gen) * 0.6 + 0.2

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 4
        x = means[y].view(n, 3, 1, 1) + 0.15 * torch.randn(n, 3, SIZE, SIZE, generator=gen)
        return x.clamp(0, 1), y

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 32), nn.ReLU(), nn.Linear(32, 4))
    model = Model.from_module(net, Preprocessing(input_size=SIZE, crop_pct=1.0), labels=["a", "b", "c", "d"])
    x, y = sample(512)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x_test, y_test = sample(24)
    return model, x_test, y_test, [f"t{i:02d}" for i in range(24)]


def _accuracy(model: Model, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).float().mean())


@needs_library
def test_autoattack_at_least_as_strong_as_pgd() -> None:
    model, x, y, ids = _trained_model()
    eps = 20 / 255  # where PGD breaks about half of the test images
    clean = _accuracy(model, x, y)
    assert clean >= 0.9
    pgd = PGD("linf", eps=eps, steps=10)(x.clone(), ids, seed=0, model=model, labels=y)
    state = torch.get_rng_state()
    aa = AutoAttack("linf", eps=eps, attacks=("apgd-ce", "apgd-t"))
    adv = aa(x.clone(), ids, seed=0, model=model, labels=y)
    assert torch.equal(torch.get_rng_state(), state)  # the library's global seeding is undone
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    robust_pgd, robust_aa = _accuracy(model, pgd, y), _accuracy(model, adv, y)
    assert robust_aa <= robust_pgd < clean  # APGD + targeted APGD finds at least what PGD finds (here 50 vs 54 %)
    # Per-sample seeding: a sub-batch gets the same adversarial images.
    assert torch.equal(aa(x[5:12].clone(), ids[5:12], seed=0, model=model, labels=y[5:12]), adv[5:12])
    # The standard version (APGD-CE, APGD-T, FAB-T, Square) at a budget APGD-CE alone already wins.
    standard = AutoAttack("linf", eps=48 / 255)(x[:4].clone(), ids[:4], seed=0, model=model, labels=y[:4])
    assert _accuracy(model, standard, y[:4]) == 0.0
    l2 = AutoAttack("l2", eps=0.5, attacks=("apgd-ce",))(x[:8].clone(), ids[:8], seed=0, model=model, labels=y[:8])
    assert float((l2 - x[:8]).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-4


@needs_library
def test_autoattack_through_the_runner(tmp_path: Path) -> None:
    import robustscope

    # 1x1 conv head: logit_red = R - G, logit_green = G - R; the colours sit ~10 grey levels from
    # the boundary, so eps=8/255 flips every image and eps=1/255 none.
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]]).view(2, 3, 1, 1))
    model = Model.from_module(
        conv, Preprocessing(input_size=16, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3), labels=["red", "green"]
    )
    root = write_colour_folder(tmp_path / "data", {"red": (130, 120, 125), "green": (120, 130, 125)}, per_class=3)
    shifts = ["autoattack:linf:eps=8/255:attacks=apgd-ce", "autoattack:linf:eps=1/255:attacks=apgd-ce"]
    table = robustscope.evaluate(
        model, f"folder:{root}", shifts=shifts, metrics=["top1"], slice_by=None, progress=False, n_resamples=10
    )
    top1 = table.query("metric == 'top1' and slice_factor == ''").set_index("shift")["value"]
    assert top1[load_shift(shifts[0]).spec()] == 0.0 and top1[load_shift(shifts[1]).spec()] == 1.0
    with pytest.raises(ValueError, match="at least 4 classes"):  # DLR losses on a 2-class model
        AutoAttack("linf", eps=1 / 255)(torch.rand(1, 3, 4, 4), ["a"], model=model, labels=torch.tensor([0]))
