"""Recipes: how each group of result rows was computed from stored predictions, so it can be recomputed.

Every metric is a pure function of stored predictions, so the results database is a cache too: when
it is lost or damaged, ``robustscope results --rebuild`` recomputes its rows from the recipes kept
beside it (``results.recipes/<sha256>.json``, one per evaluation or suite run, written atomically and
checksummed) and the PredictionStore, without a forward pass.

A recipe is a JSON object with a ``kind`` (``"evaluate"`` or ``"suite"``) and what that kind needs to
recompute its rows (see :func:`robustscope.engine.recipes.evaluation_recipe` and
``robustscope.suites.rebuild``), plus a ``recorded_at`` time: rows with the same identity are replaced
by later writes, so recipes are replayed in the order they were recorded.

:func:`replaying` marks a recomputation: inside it the Runner refuses to run a forward pass (a missing
prediction is an error, not a silent recomputation) and :class:`RecipeBook` records nothing new.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustscope.engine.integrity import (
    CHECKSUM_FIELD,
    IntegrityFailure,
    atomic_write_bytes,
    checksummed_json,
    quarantine,
    verified_json,
)
from robustscope.errors import StorageError

if TYPE_CHECKING:
    import pandas as pd

    from robustscope.data.base import Dataset
    from robustscope.models.base import Model

#: Fields that change between two runs of the same computation; left out of a recipe's identity.
VOLATILE_FIELDS = ("recorded_at", CHECKSUM_FIELD)

_REPLAYING: ContextVar[bool] = ContextVar("robustscope_replaying", default=False)


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """Recompute rows from stored predictions only: no forward pass, no new recipe.

    Example:
        >>> with replaying():
        ...     is_replaying()
        True
        >>> is_replaying()
        False
    """
    token = _REPLAYING.set(True)
    try:
        yield
    finally:
        _REPLAYING.reset(token)


def is_replaying() -> bool:
    """Whether the caller runs inside :func:`replaying` (the Runner then refuses forward passes)."""
    return _REPLAYING.get()


def recipe_id(recipe: dict[str, Any]) -> str:
    """The identity of a recipe: sha256 of its content without times (rerunning the same thing keeps it).

    Example:
        >>> recipe_id({"kind": "evaluate", "recorded_at": "x"}) == recipe_id({"kind": "evaluate", "recorded_at": "y"})
        True
    """
    stable = {k: v for k, v in recipe.items() if k not in VOLATILE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RecipeBook:
    """A folder of recipes, one checksummed JSON file each, replayed in the order they were recorded.

    Example:
        >>> import tempfile
        >>> book = RecipeBook(tempfile.mkdtemp())
        >>> _ = book.record({"kind": "evaluate", "runs": [1]})
        >>> _ = book.record({"kind": "suite", "suite": {"name": "s"}})
        >>> recipes, damaged = book.recipes()
        >>> [r["kind"] for r in recipes], damaged
        (['evaluate', 'suite'], [])
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"RecipeBook({str(self.folder)!r})"

    def record(self, recipe: dict[str, Any]) -> Path | None:
        """Store ``recipe`` (replacing the record of the same computation); None while :func:`replaying`."""
        if is_replaying():
            return None
        stamped = {**recipe, "recorded_at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}
        path = self.folder / f"{recipe_id(recipe)}.json"
        atomic_write_bytes(path, checksummed_json(stamped))
        return path

    @contextlib.contextmanager
    def recording(self, recipe: dict[str, Any] | None) -> Iterator[None]:
        """Record ``recipe`` for the rows written inside the block; if writing them fails, undo the record.

        The recipe goes first, so rows in the database always have one; a failed write (a full disk)
        leaves the book as it was, so nothing of it is half there.

        Example:
            >>> import tempfile
            >>> book = RecipeBook(tempfile.mkdtemp())
            >>> try:
            ...     with book.recording({"kind": "evaluate"}):
            ...         raise OSError("the rows could not be written")
            ... except OSError:
            ...     pass
            >>> book.recipes()
            ([], [])
        """
        if recipe is None or is_replaying():
            yield
            return
        path = self.folder / f"{recipe_id(recipe)}.json"
        previous = path.read_bytes() if path.exists() else None
        self.record(recipe)
        try:
            yield
        except BaseException:
            # Same id: the same computation, so failing to restore the old record only changes its time.
            with contextlib.suppress(OSError, StorageError):
                if previous is None:
                    path.unlink()
                else:
                    atomic_write_bytes(path, previous)
            raise

    def recipes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every recipe that passes its checksum, oldest first, and a line per damaged one (moved aside)."""
        if not self.folder.is_dir():
            return [], []
        found, damaged = [], []
        for path in sorted(self.folder.glob("*.json")):
            try:
                found.append(verified_json(path.read_bytes()))
            except IntegrityFailure as failure:
                quarantine(path, str(failure))
                damaged.append(f"recipe {path} is corrupt ({failure}); its rows cannot be rebuilt")
        found.sort(key=lambda recipe: str(recipe.get("recorded_at", "")))
        return found, damaged


#: Columns whose value is the same on every row of one evaluation; a recipe keeps them once.
EVALUATION_CONSTANTS = (
    "model", "model_fingerprint", "dataset", "dataset_fingerprint", "suite", "axis", "private", "private_protocol",
)


def _json_scalar(value: Any) -> Any:
    """A numpy scalar (a bool column's ``np.bool_``) as its Python value, so JSON keeps it a bool, not its str()."""
    return value.item() if type(value).__module__ == "numpy" else value


def evaluation_recipe(
    model: Model,
    dataset: Dataset,
    table: pd.DataFrame,
    metrics: Sequence[str],
    slice_by: str | Sequence[str] | None,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    """The recipe of rows ``table`` from one :func:`robustscope.api.evaluate` call: recomputes them without the model.

    It keeps each shift's prediction key, the metrics and their settings, and the values every row
    shares (model, fingerprints, dataset, suite, axis). For datasets scored
    through label sets (:mod:`robustscope.engine.label_space`) it also keeps the resolved logit columns
    of each set and each sample's dataset-space label, which stored predictions do not hold.

    Example:
        >>> import pandas as pd
        >>> from torch import nn
        >>> from robustscope.data.base import Dataset
        >>> from robustscope.models import Model, Preprocessing
        >>> data = Dataset("toy", ".", ["a", "b"], pd.DataFrame({"sample_id": ["x"], "path": ["x"], "label": [0]}))
        >>> pre = Preprocessing(8, 1.0, "bilinear", (0.5,) * 3, (0.5,) * 3)
        >>> model = Model.from_module(nn.Identity(), pre, ["a", "b"])
        >>> rows = pd.DataFrame({"model": ["m"], "shift": ["none"], "prediction_key": ["k"], "created_at": ["t"]})
        >>> recipe = evaluation_recipe(model, data, rows, ["top1"], "all", 100, 0)
        >>> recipe["runs"], recipe["columns"], recipe["dataset_space"]
        ([{'shift': 'none', 'prediction_key': 'k'}], {'model': 'm'}, None)
    """
    from robustscope.engine.label_space import has_label_sets, label_set_columns

    dataset_space = None
    if has_label_sets(dataset):
        manifest = dataset.manifest
        dataset_space = {
            "classes": list(dataset.classes),
            "label_sets": label_set_columns(model.labels, model.label_index(), dataset),
            "reduction": str(dataset.metadata.get("set_reduction", "mean_prob")),
            "labels": dict(zip(manifest["sample_id"].astype(str), manifest["label"].astype(int).tolist(), strict=True)),
        }
    first_of_each_run = table.drop_duplicates(["shift", "prediction_key"])
    run_columns = [c for c in ("shift", "prediction_key", "shift_params") if c in table.columns]
    return {
        "kind": "evaluate",
        "columns": {c: _json_scalar(table[c].iloc[0]) for c in EVALUATION_CONSTANTS if c in table.columns},
        "runs": first_of_each_run[run_columns].to_dict("records"),
        "metrics": list(metrics),
        "slice_by": slice_by if slice_by is None or isinstance(slice_by, str) else list(slice_by),
        "n_resamples": int(n_resamples),
        "seed": int(seed),
        "dataset_space": dataset_space,
    }
