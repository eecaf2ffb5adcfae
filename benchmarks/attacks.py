"""PGD fidelity and speed: robustscope's PGD against torchattacks (or a plain Madry et al. loop).

Same model, same images, same start (``random_start=False`` on both, so no RNG has to be shared),
L∞ eps=1/255, alpha=2/255, 20 steps (the seed benchmark's setting, without the random start).
Prints robust accuracy and images/s side by side; the accuracies must agree within 0.5 points.

torchattacks is optional and not a project dependency (it pins an old ``requests``); install it
with ``pip install --no-deps torchattacks`` to compare against it. Without it the reference is
the loop below, written straight from Madry et al. (ICLR 2018), and the table says so.

Run:
    .venv/bin/python benchmarks/attacks.py [--n 512] [--size 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.models import Model, Preprocessing
from robustscope.shifts.attacks import PGD


def madry_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """L∞ PGD exactly as in Madry et al.: x ← clip_[0,1](clip_{x0±eps}(x + alpha·sign(∇ CE))), from x0."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach()


def _model(size: int, seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 10),
    )
    return Model.from_module(net, preprocessing=Preprocessing(input_size=size, crop_pct=1.0),
                             labels=[str(i) for i in range(10)]).eval()


def _timed(fn, repeats: int = 2) -> tuple[torch.Tensor, float]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    eps, alpha, steps = 1 / 255, 2 / 255, 20

    model = _model(args.size).to(device)
    x = torch.rand(args.n, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        # Labels = the model's clean predictions, so clean accuracy is 100% and the attack has work to do.
        y = torch.cat([model(b).argmax(1) for b in x.split(args.batch)])
    ids = [f"s{i}" for i in range(args.n)]

    ours_attack = PGD("linf", eps=eps, alpha=alpha, steps=steps, random_start=False)

    def ours() -> torch.Tensor:
        return torch.cat([
            ours_attack(xb.clone(), ids[i * args.batch:(i + 1) * args.batch], model=model, labels=yb)
            for i, (xb, yb) in enumerate(zip(x.split(args.batch), y.split(args.batch), strict=True))
        ])

    try:
        import torchattacks

        ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
        ref_name = f"torchattacks {torchattacks.__version__} PGD"

        def theirs() -> torch.Tensor:
            batches = zip(x.split(args.batch), y.split(args.batch), strict=True)
            return torch.cat([ta(xb, yb) for xb, yb in batches])
    except ImportError:
        ref_name = "reference loop (Madry et al. 2018; torchattacks not installed)"

        def theirs() -> torch.Tensor:
            return torch.cat([madry_pgd(model, xb, yb, eps, alpha, steps)
                              for xb, yb in zip(x.split(args.batch), y.split(args.batch), strict=True)])

    rows = []
    for name, fn in (("robustscope PGD", ours), (ref_name, theirs)):
        adv, seconds = _timed(fn)
        with torch.no_grad():
            acc = float((torch.cat([model(b).argmax(1) for b in adv.split(args.batch)]) == y).float().mean())
        assert (adv - x).abs().max() <= eps + 1e-6
        rows.append((name, 100 * acc, args.n / seconds, adv))

    agree = float((rows[0][3] - rows[1][3]).abs().max())
    print(f"PGD L-inf eps=1/255 alpha=2/255 steps=20 random_start=False; {args.n} images {args.size}px, "
          f"batch {args.batch}, device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| implementation | robust acc (%) | images/s |\n|---|---:|---:|")
    for name, acc, speed, _ in rows:
        print(f"| {name} | {acc:.2f} | {speed:,.0f} |")
    gap = abs(rows[0][1] - rows[1][1])
    print(f"accuracy gap {gap:.2f} points (limit 0.5); max |adv_ours - adv_ref| = {agree:.2e}")
    if gap > 0.5:
        raise SystemExit("FAIL: robust accuracies differ by more than 0.5 points")


if __name__ == "__main__":
    main()
