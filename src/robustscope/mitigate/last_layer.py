"""Last-layer baselines on precomputed features: ERM, group-balanced sampling, GroupDRO and JTT, one linear head.

All four train an ``nn.Linear`` on penultimate features (:func:`robustscope.engine.features.extract_features`)
with the same optimiser (:class:`LastLayerConfig`: the linear-probing settings of Whac-A-Mole's ImageNet trainers,
github.com/facebookresearch/Whac-A-Mole, commit ``c91b097043246bc726fccd70f9860873e28d6122``,
``imagenet_trainers/base_trainer.py`` and ``launcher.py``), so that they compare; only sampling and loss differ:

- ERM: shuffled batches, mean cross-entropy.
- group-balanced: ``WeightedRandomSampler`` with weight ``N / count(group)`` per sample, ``N`` draws with
  replacement (github.com/kohpangwei/group_DRO, commit ``cbbc1c5b06844e46b87e264326b56056d2a437d1``,
  ``data/dro_dataset.py``, ``get_loader`` with ``reweight_groups``).
- GroupDRO (Sagawa et al., ICLR 2020): same repo and commit, ``loss.py``, ``LossComputer.compute_robust_loss``:
  ``q ← q · exp(η · loss_g)``, normalised, loss ``Σ_g q_g loss_g``; batches group-balanced as the README's commands
  (``--reweight_groups --robust``) do.
- JTT (Liu et al., ICML 2021): github.com/anniesch/jtt, commit ``1de6cc5b65e56e8d4db9ad6beb27c3070ba3ee1b``,
  ``run_expt.py`` (``up_weight``): the training examples an ERM head gets wrong after ``id_epochs`` epochs are
  added ``up_weight`` more times to the training set, and a fresh head is trained on it.

Heads are saved with :func:`robustscope.mitigate.save_mitigated` (``fit.weight``, ``fit.bias``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, Sampler, SubsetRandomSampler, WeightedRandomSampler

__all__ = ["DEFAULT_CONFIG", "HeadFit", "LastLayerConfig", "balanced_sampler", "fit_erm", "fit_group_balanced",
           "fit_group_dro", "fit_jtt", "group_dro_update", "group_losses", "jtt_errors", "jtt_indices",
           "train_head"]  # fmt: skip

#: Initial head: the base model's ``(weight [K, D], bias [K])`` (the reference starts from it) or None (random).
Init = tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor] | None


@dataclass(frozen=True)
class LastLayerConfig:
    """SGD settings shared by every last-layer method. Defaults: Whac-A-Mole's linear probing (``--lr 1e-3``
    scaled by ``batch_size / 256``, momentum 0.9, weight decay 1e-4, 90 epochs, batches of 1024, cosine decay
    per epoch). ``seed`` drives initialisation and sampling.

    Example:
        >>> config = LastLayerConfig(epochs=2, batch_size=512)
        >>> config.init_lr(), config.lr_at(0), config.lr_at(1)
        (0.002, 0.002, 0.001)
    """

    epochs: int = 90
    batch_size: int = 1024
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    cosine: bool = True
    seed: int = 0

    def init_lr(self) -> float:
        """The reference's ``args.lr * args.batch_size / 256``.

        Example:
            >>> LastLayerConfig().init_lr()
            0.004
        """
        return self.lr * self.batch_size / 256

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) ``epoch``: cosine from ``init_lr`` towards 0, or constant.

        Example:
            >>> LastLayerConfig(epochs=4, batch_size=256, cosine=False).lr_at(3)
            0.001
        """
        if not self.cosine:
            return self.init_lr()
        return self.init_lr() * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))

    def params(self) -> dict[str, Any]:
        """The settings, JSON-able.

        Example:
            >>> LastLayerConfig().params()["momentum"]
            0.9
        """
        return asdict(self)


#: The defaults (the reference's linear probing).
DEFAULT_CONFIG = LastLayerConfig()


@dataclass
class HeadFit:
    """A fitted linear head: ``head`` (``nn.Linear``), the method's name and what it chose (``details``).

    Example:
        >>> fit = HeadFit("erm", nn.Linear(3, 2), LastLayerConfig())
        >>> fit.weight.shape, fit.bias.shape, fit.params()["method"]
        ((2, 3), (2,), 'erm')
    """

    method: str
    head: nn.Linear
    config: LastLayerConfig
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def weight(self) -> np.ndarray:
        """``[K, D]`` float32."""
        return self.head.weight.detach().cpu().numpy().copy()

    @property
    def bias(self) -> np.ndarray:
        """``[K]`` float32."""
        return self.head.bias.detach().cpu().numpy().copy()

    def params(self) -> dict[str, Any]:
        """Method, optimiser settings and details: what ``save_mitigated`` records.

        Example:
            >>> HeadFit("jtt", nn.Linear(1, 2), LastLayerConfig(), {"up_weight": 100}).params()["up_weight"]
            100
        """
        return {"method": self.method, **self.config.params(), **self.details}


def _tensors(features: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"features {tuple(x.shape)} and labels {tuple(y.shape)}: expected [N, D] and [N]")
    return x, y


def _group_ids(groups: np.ndarray | torch.Tensor | list[Any], n: int) -> tuple[torch.Tensor, int]:
    values = np.asarray(groups)
    if values.shape != (n,):
        raise ValueError(f"groups of shape {values.shape}, expected ({n},)")
    names, ids = np.unique(values, return_inverse=True)
    return torch.as_tensor(ids, dtype=torch.long), len(names)


def new_linear(dim: int, classes: int, init: Init = None, seed: int = 0) -> nn.Linear:
    """An ``nn.Linear(dim, classes)``: a copy of ``init`` or PyTorch's default initialisation under ``seed``.

    Example:
        >>> new_linear(2, 3, (np.ones((3, 2)), np.zeros(3))).weight.sum().item()
        6.0
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(dim, classes)
    if init is not None:
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(np.asarray(init[0]), dtype=torch.float32))
            head.bias.copy_(torch.as_tensor(np.asarray(init[1]), dtype=torch.float32))
    return head


def train_head(module: nn.Module, batches: Callable[[int], Iterable[list[int]]],
               loss_of: Callable[[torch.Tensor], torch.Tensor], config: LastLayerConfig) -> None:  # fmt: skip
    """SGD on ``module``'s parameters: each epoch sets the learning rate, then steps on ``loss_of(indices)`` for the
    index batches ``batches(epoch)`` yields.

    Example:
        >>> w = nn.Linear(1, 1, bias=False)
        >>> train_head(w, lambda e: [[0]], lambda i: (w.weight - 1).pow(2).sum(), LastLayerConfig(epochs=200,
        ...            batch_size=2560, weight_decay=0.0, cosine=False))
        >>> round(w.weight.item(), 3)
        1.0
    """
    optimiser = torch.optim.SGD(module.parameters(), config.init_lr(), momentum=config.momentum,
                                weight_decay=config.weight_decay)  # fmt: skip
    module.train()
    for epoch in range(config.epochs):
        for group in optimiser.param_groups:
            group["lr"] = config.lr_at(epoch)
        for batch in batches(epoch):
            loss = loss_of(torch.as_tensor(batch, dtype=torch.long))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    module.eval()


def _epochs(sampler: Sampler[int], batch_size: int) -> Callable[[int], Iterable[list[int]]]:
    return lambda epoch: BatchSampler(sampler, batch_size, drop_last=False)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def balanced_sampler(group_ids: torch.Tensor, generator: torch.Generator | None = None) -> WeightedRandomSampler:
    """group_DRO's ``reweight_groups`` sampler: weight ``N / count(group)`` per sample, ``N`` draws, replacement.

    Example:
        >>> sampler = balanced_sampler(torch.tensor([0, 0, 0, 1]), torch.Generator().manual_seed(0))
        >>> sampler.weights.tolist(), sampler.num_samples, sampler.replacement
        ([1.3333333333333333, 1.3333333333333333, 1.3333333333333333, 4.0], 4, True)
    """
    counts = torch.bincount(group_ids).double()
    weights = len(group_ids) / counts[group_ids]
    return WeightedRandomSampler(weights, len(group_ids), replacement=True, generator=generator)


def _ce_fit(method: str, x: torch.Tensor, y: torch.Tensor, sampler: Sampler[int], config: LastLayerConfig,
            init: Init, details: dict[str, Any] | None = None) -> HeadFit:  # fmt: skip
    head = new_linear(x.shape[1], int(y.max()) + 1 if init is None else len(init[1]), init, config.seed)
    train_head(head, _epochs(sampler, config.batch_size), lambda i: F.cross_entropy(head(x[i]), y[i]), config)
    return HeadFit(method, head, config, dict(details or {}))


def fit_erm(features: np.ndarray, labels: np.ndarray, *, config: LastLayerConfig = DEFAULT_CONFIG,
            init: Init = None) -> HeadFit:  # fmt: skip
    """ERM last layer: shuffled batches, mean cross-entropy (``init``: start from the base model's head).

    Example:
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8, np.float32); y = np.array([0, 1] * 8)
        >>> fit = fit_erm(x, y, config=LastLayerConfig(epochs=30, batch_size=256, lr=1.0))
        >>> (fit.head(torch.from_numpy(x)).argmax(1).numpy() == y).all()
        np.True_
    """
    x, y = _tensors(features, labels)
    return _ce_fit("erm", x, y, SubsetRandomSampler(range(len(x)), _generator(config.seed)), config, init)


def fit_group_balanced(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                       config: LastLayerConfig = DEFAULT_CONFIG, init: Init = None) -> HeadFit:  # fmt: skip
    """Group-balanced last layer: batches from :func:`balanced_sampler`, mean cross-entropy.

    Example:
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8, np.float32); y = np.array([0, 1] * 8)
        >>> fit = fit_group_balanced(x, y, y, config=LastLayerConfig(epochs=30, batch_size=256, lr=1.0))
        >>> fit.method, (fit.head(torch.from_numpy(x)).argmax(1).numpy() == y).all()
        ('group_balanced', np.True_)
    """
    x, y = _tensors(features, labels)
    g, n_groups = _group_ids(groups, len(x))
    sampler = balanced_sampler(g, _generator(config.seed))
    return _ce_fit("group_balanced", x, y, sampler, config, init, {"groups": n_groups})


def group_losses(per_sample: torch.Tensor, group_ids: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, ...]:
    """Mean loss and count per group of a batch (``LossComputer.compute_group_avg``; an absent group: 0, 0).

    Example:
        >>> loss, count = group_losses(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 2]), 3)
        >>> loss.tolist(), count.tolist()
        ([2.0, 0.0, 5.0], [2.0, 0.0, 1.0])
    """
    group_map = (group_ids == torch.arange(n_groups).unsqueeze(1)).float()
    count = group_map.sum(1)
    return (group_map @ per_sample.reshape(-1)) / (count + (count == 0).float()), count


def group_dro_update(q: torch.Tensor, group_loss: torch.Tensor, step_size: float = 0.01) -> torch.Tensor:
    """GroupDRO's exponentiated-gradient step: ``q · exp(step_size · loss_g)``, normalised to sum 1.

    Example:
        >>> group_dro_update(torch.tensor([0.5, 0.5]), torch.tensor([0.0, 100.0]), 0.01).tolist()
        [0.2689414322376251, 0.7310585975646973]
    """
    q = q * torch.exp(step_size * group_loss.detach())
    return q / q.sum()


def fit_group_dro(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, step_size: float = 0.01,
                  balanced: bool = True, config: LastLayerConfig = DEFAULT_CONFIG,
                  init: Init = None) -> HeadFit:  # fmt: skip
    """GroupDRO last layer: per batch, update ``q`` (:func:`group_dro_update`, from uniform) with the batch's group
    losses, then step on ``Σ_g q_g loss_g``. ``balanced``: group-balanced batches (the reference's commands).

    Example:
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8, np.float32); y = np.array([0, 1] * 8)
        >>> fit = fit_group_dro(x, y, y, config=LastLayerConfig(epochs=30, batch_size=256, lr=1.0))
        >>> len(fit.details["q"]), (fit.head(torch.from_numpy(x)).argmax(1).numpy() == y).all()
        (2, np.True_)
    """
    x, y = _tensors(features, labels)
    g, n_groups = _group_ids(groups, len(x))
    head = new_linear(x.shape[1], int(y.max()) + 1 if init is None else len(init[1]), init, config.seed)
    generator = _generator(config.seed)
    sampler = balanced_sampler(g, generator) if balanced else SubsetRandomSampler(range(len(x)), generator)
    state = {"q": torch.full((n_groups,), 1.0 / n_groups)}

    def loss_of(i: torch.Tensor) -> torch.Tensor:
        loss, _ = group_losses(F.cross_entropy(head(x[i]), y[i], reduction="none"), g[i], n_groups)
        state["q"] = group_dro_update(state["q"], loss, step_size)
        return loss @ state["q"]

    train_head(head, _epochs(sampler, config.batch_size), loss_of, config)
    details = {"step_size": step_size, "balanced": balanced, "groups": n_groups, "q": state["q"].tolist()}
    return HeadFit("group_dro", head, config, details)


def jtt_errors(head: nn.Module, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of the examples ``head`` misclassifies (JTT's error set), in order.

    Example:
        >>> jtt_errors(nn.Identity(), np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([0, 1, 1])).tolist()
        [1]
    """
    x, y = _tensors(features, labels)
    with torch.no_grad():
        return torch.nonzero(head(x).argmax(1) != y).flatten().numpy()


def jtt_indices(n: int, errors: np.ndarray, up_weight: int = 100) -> np.ndarray:
    """JTT's training set as indices: every example once, then the error set ``up_weight`` more times
    (``ConcatDataset([train, Subset(train, errors * up_weight)])``).

    Example:
        >>> jtt_indices(3, np.array([2]), 2).tolist()
        [0, 1, 2, 2, 2]
    """
    return np.concatenate([np.arange(n), np.tile(np.asarray(errors, dtype=np.int64), up_weight)])


def fit_jtt(features: np.ndarray, labels: np.ndarray, *, up_weight: int = 100, id_epochs: int = 1,
            config: LastLayerConfig = DEFAULT_CONFIG, init: Init = None) -> HeadFit:  # fmt: skip
    """JTT last layer: an ERM head trained ``id_epochs`` epochs (constant learning rate) finds the error set; a
    fresh head (from ``init`` again) is trained on :func:`jtt_indices`. ``details["errors"]``: the error set.

    Example:
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8, np.float32); y = np.array([0, 1] * 8)
        >>> fit = fit_jtt(x, y, config=LastLayerConfig(epochs=5, batch_size=256, lr=1.0))
        >>> fit.details["up_weight"], (fit.head(torch.from_numpy(x)).argmax(1).numpy() == y).all()
        (100, np.True_)
    """
    x, y = _tensors(features, labels)
    identify = LastLayerConfig(**{**config.params(), "epochs": id_epochs, "cosine": False})
    errors = jtt_errors(fit_erm(x.numpy(), y.numpy(), config=identify, init=init).head, x.numpy(), y.numpy())
    indices = torch.as_tensor(jtt_indices(len(x), errors, up_weight))
    sampler = SubsetRandomSampler(indices.tolist(), _generator(config.seed + 1))
    details = {"up_weight": up_weight, "id_epochs": id_epochs, "errors": errors.tolist()}
    return _ce_fit("jtt", x, y, sampler, config, init, details)
