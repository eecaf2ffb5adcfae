"""The data owner's side of a private evaluation: images, shifts, keys and the shards of revealed logits.

:class:`DataSide` is built in the data owner's process from its :class:`DataRequest` and the model owner's public
card. It plans one :class:`PrivateRun` per shift (the private prediction key and, for ``reveal="logits"``, the
shards still missing), yields shifted image batches in plaintext (encryption happens in
:func:`robustscope.private.parties.data_owner`) and writes the revealed logits as ordinary PredictionStore shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from robustscope.data.base import Dataset
from robustscope.engine.image_loading import RowImages, bad_image_error, collate
from robustscope.engine.label_space import label_mapping
from robustscope.engine.prediction_store import PredictionStore, shard_ranges
from robustscope.private.card import public_model
from robustscope.private.protocol import PrivateEvaluationError, PrivateProtocol, private_key
from robustscope.shifts.base import Identity, Shift

__all__ = ["SHARD_SIZE", "DataRequest", "DataSide", "PrivateRun"]

#: Rows per shard of private predictions (as the Runner's default: one shard per 512 images).
SHARD_SIZE = 512


@dataclass(frozen=True)
class DataRequest:
    """What the data owner evaluates and where its results go (the model owner never receives it).

    Attributes:
        dataset: a dataset spec (``synth:tiny:test-id``) or :class:`Dataset`; ``data_root`` as for ``load_dataset``.
        shifts: shift specs or objects, applied in plaintext before encryption.
        predictions_root: the data owner's PredictionStore folder (revealed logits are stored there).
        content_index: the stat index file hashing the dataset's files for its fingerprint (None: hash each time).
    """

    dataset: str | Dataset
    shifts: tuple[str | Shift, ...] = ("none",)
    seed: int = 0
    batch_size: int = 64
    on_bad_image: str = "raise"
    max_image_pixels: int | None = None
    predictions_root: str = ".robustscope/predictions"
    content_index: str | None = None
    data_root: str | None = None
    progress: bool = False


def _empty_pending() -> dict[str, list[Any]]:
    """A shard in progress: its computed rows, their revealed logits, its skipped files."""
    return {"rows": [], "logits": [], "bad": []}


@dataclass
class PrivateRun:
    """One shift of a private evaluation: its key, the rows still to compute, and what came back."""

    shift: Shift
    key: str
    rows_to_compute: list[list[int]]
    correct: int | None = None
    images: int = 0
    bad_images: list[dict[str, str]] = field(default_factory=list)
    pending: dict[str, list[Any]] = field(default_factory=lambda: _empty_pending())
    shards_written: int = 0
    shards_reused: int = 0


class DataSide:
    """The data owner's state for one session (dataset, label map, store), built from the model's public card.

    Example:
        >>> # side = DataSide(DataRequest("synth:tiny:test-id"), card, PrivateProtocol())
        >>> # for run in side.runs(): for images, labels in side.batches(run): ...
    """

    def __init__(self, request: DataRequest, card: dict[str, Any], protocol: PrivateProtocol):
        from robustscope.data.content_index import ContentIndex
        from robustscope.data.registry import load_dataset
        from robustscope.shifts.registry import load_shift

        self.request, self.card, self.protocol = request, card, protocol
        dataset = request.dataset
        self.dataset = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, root=request.data_root)
        self.model = public_model(card)
        self.num_classes = self.model.num_classes
        self.label_map = np.asarray(label_mapping(self.model, self.dataset), dtype=np.int64)
        if protocol.reveal == "metric" and self.dataset.metadata.get("label_sets"):
            raise PrivateEvaluationError(
                f"dataset {self.dataset.name!r} is scored through label sets, which reveal='metric' cannot compute "
                "under encryption; use reveal='logits'"
            )
        index = ContentIndex(request.content_index) if request.content_index else None
        self.dataset_fingerprint = self.dataset.fingerprint(index)
        self.store = PredictionStore(request.predictions_root)
        self.images = RowImages(self.dataset, self.model.preprocessing, request.max_image_pixels)
        self.sample_ids = self.dataset.manifest["sample_id"].to_numpy()
        self.labels = self.dataset.manifest["label"].to_numpy()
        self._runs = [self._plan(load_shift(shift)) for shift in request.shifts]

    def _plan(self, shift: Shift) -> PrivateRun:
        if shift.needs_model:
            raise PrivateEvaluationError(
                f"shift {shift.spec()!r} needs the model's gradients (an attack), which the data owner does not have; "
                "evaluate attacks in plaintext, or with the model owner's consent on its side"
            )
        shift = shift.bind(self.dataset, self.model.preprocessing) if shift.needs_dataset else shift
        key = private_key(
            self.model, self.dataset, shift, self.request.seed, self.protocol,
            model_fingerprint=self.card["fingerprint"], dataset_fingerprint=self.dataset_fingerprint,
            max_image_pixels=self.request.max_image_pixels,
        )
        ranges = shard_ranges(len(self.dataset), SHARD_SIZE)
        if self.protocol.reveal == "metric":  # nothing is stored: every image is evaluated again
            return PrivateRun(shift, key, [list(range(len(self.dataset)))])
        self.store.write_meta(key, self._meta(shift, len(ranges)))
        missing = self.store.missing_shards(key, len(ranges))
        run = PrivateRun(shift, key, [list(range(*ranges[i])) for i in missing])
        run.shards_reused = len(ranges) - len(missing)
        return run

    def _meta(self, shift: Shift, num_shards: int) -> dict[str, Any]:
        return {
            "model": self.card["describe"],
            "dataset": {"name": self.dataset.name, "fingerprint": self.dataset_fingerprint, "len": len(self.dataset)},
            "shift": {**shift.key(), "spec": shift.spec()},
            "seed": int(self.request.seed),
            "num_rows": len(self.dataset),
            "shard_size": SHARD_SIZE,
            "num_shards": num_shards,
            "class_names": list(self.model.labels),
            "factor_columns": list(self.dataset.factor_columns),
            "private": self.protocol.to_dict(),
        }

    def runs(self) -> list[PrivateRun]:
        """One run per shift, in the request's order."""
        return self._runs

    def batches(self, run: PrivateRun) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shifted ``[B,C,H,W]`` images in [0,1] and their labels as logit indices; never an empty batch.

        Bad images are skipped and recorded (``on_bad_image="skip"``) or raise :class:`BadImageError`.
        """
        size = self.request.batch_size
        for shard_rows in run.rows_to_compute:
            for start in range(0, len(shard_rows), size):
                rows, images, bad = collate([self.images[row] for row in shard_rows[start : start + size]])
                for row, path, message in bad:
                    if self.request.on_bad_image == "raise":
                        raise bad_image_error(path, message)
                    record = {"sample_id": str(self.sample_ids[row]), "path": path, "reason": message}
                    run.bad_images.append(record)
                    run.pending["bad"].append(record)
                if images is not None:
                    ids = [str(s) for s in self.sample_ids[rows]]
                    if type(run.shift) is not Identity:
                        images = run.shift(images, ids, self.request.seed)
                    run.pending["rows"].extend(rows)
                    run.images += len(rows)
                    yield images.float().contiguous(), torch.from_numpy(self.label_map[self.labels[rows]])
                if self.protocol.reveal == "logits" and start + size >= len(shard_rows):  # the shard's last batch
                    self._write_shard(run, shard_rows)

    def keep(self, run: PrivateRun, logits: np.ndarray) -> None:
        """Keep the revealed logits of the batch :meth:`batches` yielded last."""
        run.pending["logits"].append(np.asarray(logits, dtype=np.float32))

    def _write_shard(self, run: PrivateRun, shard_rows: list[int]) -> None:
        rows = run.pending["rows"]
        logits = np.concatenate(run.pending["logits"]) if run.pending["logits"] else np.zeros((0, self.num_classes))
        self.store.write_shard(
            run.key, shard_rows[0] // SHARD_SIZE, self.sample_ids[rows], self.label_map[self.labels[rows]],
            logits.astype(np.float32), self.dataset.manifest[self.dataset.factor_columns].iloc[rows],
            bad_images=run.pending["bad"], row_range=(shard_rows[0], shard_rows[-1] + 1),
        )
        run.pending = _empty_pending()
        run.shards_written += 1

    def summary(self) -> dict[str, Any]:
        """What the parent needs to build result rows: the card, keys, counts and bad images per shift."""
        return {
            "card": self.card,
            "dataset_fingerprint": self.dataset_fingerprint,
            "runs": [
                {
                    "shift": run.shift.spec(),
                    "key": run.key,
                    "correct": run.correct,
                    "images": run.images,
                    "bad_images": run.bad_images,
                    "shards_computed": run.shards_written,
                    "shards_reused": run.shards_reused,
                }
                for run in self._runs
            ],
        }
