"""``robustscope.evaluate(..., private=True)``: a two-party CrypTen evaluation whose results land in the store.

The launching process plays the data owner's back office: it checks options, starts both parties
(:func:`robustscope.private.crypten_session.run_local`) without loading the model or decoding an image itself,
then reads the revealed logits from the data owner's PredictionStore and writes metric rows (marked ``private``,
with the protocol in ``private_protocol``) to the ResultStore, like any run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.data.base import Dataset
from robustscope.engine.evaluation import Evaluation
from robustscope.engine.label_space import to_dataset_space
from robustscope.errors import OptionError, RobustscopeError
from robustscope.models.base import Model
from robustscope.private.card import public_model
from robustscope.private.crypten_session import run_local, run_party
from robustscope.private.data_side import DataRequest
from robustscope.private.parties import data_owner, model_owner
from robustscope.private.protocol import DATA_OWNER, PrivateEvaluationError, PrivateProtocol
from robustscope.shifts.base import Shift

__all__ = ["both_parties", "evaluate_private", "private_rows", "run_private_party"]


def both_parties(model: str | Model, request: DataRequest, protocol: PrivateProtocol, audit: bool = False) -> Any:
    """The function every rank runs: the model owner's side on rank 0, the data owner's on rank 1.

    Each side receives both arguments (one function is launched for all ranks) but reads only its own: rank 0
    never looks at ``request``, rank 1 never at ``model``. Across machines pass a placeholder for the other's.

    Example:
        >>> # run_party(both_parties, "file:models/demo-clean", None, PrivateProtocol())   # on the vendor's host
        >>> # run_party(both_parties, None, DataRequest("csv:scans.csv"), PrivateProtocol())  # on the hospital's
    """
    from robustscope.private.crypten_session import communicator

    if communicator().get_rank() == DATA_OWNER:
        return data_owner(request, protocol, audit=audit)
    return model_owner(model, protocol, audit=audit)


def _raise_party_error(record: dict[str, Any]) -> None:
    """Raise what a party reported, as its own error class when robustscope defines it (one line, with the fix)."""
    if record.get("ok") is not False:
        return
    import robustscope.errors
    import robustscope.private.protocol

    for module in (robustscope.private.protocol, robustscope.errors):
        error = getattr(module, str(record.get("error")), None)
        if isinstance(error, type) and issubclass(error, RobustscopeError):
            try:
                raise error(record["message"])
            except TypeError:  # an error class whose constructor takes other arguments
                break
    raise PrivateEvaluationError(record["message"])


def _wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of ``correct / n`` (what a revealed count alone supports; no bootstrap)."""
    if n == 0:
        return float("nan"), float("nan")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def private_rows(rows: pd.DataFrame, protocol: PrivateProtocol) -> pd.DataFrame:
    """``rows`` marked private: ``private = True`` and the protocol as JSON in ``private_protocol``.

    Example:
        >>> private_rows(pd.DataFrame({"metric": ["top1"]}), PrivateProtocol())[["private", "metric"]].values.tolist()
        [[True, 'top1']]
    """
    out = rows.copy()
    out["private"] = True
    out["private_protocol"] = json.dumps(protocol.to_dict(), sort_keys=True)
    return out


def evaluate_private(
    model: str | Model,
    dataset: str | Dataset,
    shifts: Sequence[str | Shift] = ("none",),
    metrics: Sequence[str] = ("top1", "top5", "ece", "nll", "brier"),
    slice_by: str | Sequence[str] | None = "all",
    seed: int = 0,
    batch_size: int = 64,
    on_bad_image: str = "raise",
    n_resamples: int = 1000,
    store: str | Path | Workspace | None = None,
    progress: bool = True,
    max_image_pixels: int | None = None,
    precision_bits: int = 16,
    reveal: str = "logits",
    data_root: str | Path | None = None,
    audit: bool = False,
) -> pd.DataFrame:
    """Evaluate ``model`` on ``dataset`` under two-party secure computation; return (and store) the results table.

    The arguments mean what they mean for :func:`robustscope.evaluate`. ``reveal="logits"`` decrypts every logit
    to the data owner (stored as usual; every metric works); ``reveal="metric"`` decrypts only each shift's
    number of correct top-1 predictions (``metrics`` must be ``["top1"]``; its CI is Wilson's, from the count).
    ``table.attrs["parties"]`` holds both parties' records (images, batches, seconds; ``audit=True`` adds what
    each process held: see :class:`robustscope.private.parties.Audit`).

    Example:
        >>> table = evaluate_private("file:models/demo-clean", "synth:demo:test-id", reveal="metric")  # doctest: +SKIP
        >>> table[["metric", "value", "private"]].values.tolist()  # doctest: +SKIP
        [['top1', 0.9375, True]]
    """
    protocol, request, metrics, ws = _prepare(
        dataset, shifts, metrics, seed, batch_size, on_bad_image, n_resamples, store, progress, max_image_pixels,
        precision_bits, reveal, data_root,
    )
    model_side, data_side = run_local(both_parties, model, request, protocol, audit)
    _raise_party_error(model_side)
    _raise_party_error(data_side)
    table = _result_table(data_side, request.dataset, metrics, slice_by, seed, n_resamples, ws, protocol)
    table.attrs["parties"] = [model_side, data_side]
    table.attrs["bad_images"] = sorted({b["path"] for run in data_side["runs"] for b in run["bad_images"]})
    table.attrs["shards_computed"] = sum(run["shards_computed"] for run in data_side["runs"])
    table.attrs["shards_reused"] = sum(run["shards_reused"] for run in data_side["runs"])
    return table


def _prepare(
    dataset: str | Dataset, shifts: Sequence[str | Shift], metrics: Sequence[str], seed: int, batch_size: int,
    on_bad_image: str, n_resamples: int, store: str | Path | Workspace | None, progress: bool,
    max_image_pixels: int | None, precision_bits: int, reveal: str, data_root: str | Path | None,
) -> tuple[PrivateProtocol, DataRequest, list[str], Workspace]:
    """Check every option before a process starts; the data owner's request with its dataset loaded."""
    from robustscope.data.registry import load_dataset
    from robustscope.engine.options import check_run_options
    from robustscope.metrics.registry import get_metric
    from robustscope.shifts.registry import load_shift

    protocol = PrivateProtocol(precision_bits=precision_bits, reveal=reveal, crypten_version=_crypten_version())
    check_run_options(batch_size, n_resamples, on_bad_image)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in metrics:
        get_metric(name)
    if reveal == "metric" and metrics != ["top1"]:
        raise OptionError(
            f"reveal='metric' decrypts only the top-1 correct count, so it computes only top1, not {metrics}; "
            "pass metrics=['top1'] (--metric top1) or reveal='logits'"
        )
    loaded = [load_shift(s) for s in ([shifts] if isinstance(shifts, str | Shift) else shifts)]
    for shift in loaded:
        if shift.needs_model:
            raise PrivateEvaluationError(
                f"shift {shift.spec()!r} needs the model's gradients (an attack), which the data owner does not "
                "have; evaluate attacks in plaintext"
            )
    ws = store if isinstance(store, Workspace) else workspace(store)
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, root=data_root)
    if data.metadata.get("ood") or data.metadata.get("external_labels"):
        raise OptionError(
            f"dataset {data.name!r} is out-of-distribution data or has labels outside any model's label space; "
            "a private evaluation scores labelled data only: pass a labelled dataset"
        )
    request = DataRequest(
        data, tuple(s.spec() for s in loaded), seed, batch_size, on_bad_image, max_image_pixels,
        str(ws.predictions), str(ws.content_index), None if data_root is None else str(data_root), progress,
    )
    return protocol, request, metrics, ws


def _crypten_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("crypten")
    except metadata.PackageNotFoundError:
        raise PrivateEvaluationError(
            "private evaluation needs CrypTen: SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True "
            "pip install 'robustscope[private]'"
        ) from None


def _result_table(
    record: dict[str, Any], dataset: Dataset, metrics: list[str], slice_by: Any, seed: int, n_resamples: int,
    ws: Workspace, protocol: PrivateProtocol,
) -> pd.DataFrame:
    """Metric rows from what the data owner kept: stored logits, or each shift's revealed count."""
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.shifts.registry import load_shift

    card = record["card"]
    stand_in = public_model(card)
    evaluation = replace(
        Evaluation.in_workspace(stand_in, ws, seed=seed, n_resamples=n_resamples, progress=False),
        model_fingerprint=card["fingerprint"],
    )
    evaluation._shared.dataset_fingerprints[id(dataset)] = (dataset, record["dataset_fingerprint"])
    store = PredictionStore(ws.predictions)
    tables = []
    for run in record["runs"]:
        shift = load_shift(run["shift"])
        if protocol.reveal == "metric":
            n = int(run["images"])
            low, high = _wilson(int(run["correct"]), n)
            row = evaluation.custom_row(
                "top1", run["correct"] / n if n else float("nan"), n,
                {"name": "top1", "higher_is_better": True, "revealed": "top-1 correct count"}, (low, high),
            )
            row["protocol"] = json.dumps({**json.loads(row["protocol"]), "ci": {"method": "wilson", "level": 0.95}})
            table = pd.DataFrame([row])
        else:
            predictions, _ = store.load_with_bad_images(run["key"])
            predictions = to_dataset_space(predictions, dataset, stand_in.labels, stand_in.label_index())
            table = evaluation.metric_table(predictions, metrics, slice_by, binned=True)
        tables.append(private_rows(evaluation.rows(table, dataset, shift, run["key"]), protocol))
    table = pd.concat(tables, ignore_index=True)
    recipe = None
    if protocol.reveal == "logits":  # rebuildable from the stored logits, like any evaluation
        recipe = evaluation.evaluation_recipe(dataset, table, metrics, slice_by)
    evaluation.write(table, recipe)
    return table


def run_private_party(
    role: str,
    model: str | Model | None = None,
    dataset: str | Dataset | None = None,
    shifts: Sequence[str | Shift] = ("none",),
    metrics: Sequence[str] = ("top1", "top5", "ece", "nll", "brier"),
    slice_by: str | Sequence[str] | None = "all",
    seed: int = 0,
    batch_size: int = 64,
    on_bad_image: str = "raise",
    n_resamples: int = 1000,
    store: str | Path | Workspace | None = None,
    progress: bool = True,
    max_image_pixels: int | None = None,
    precision_bits: int = 16,
    reveal: str = "logits",
    data_root: str | Path | None = None,
) -> pd.DataFrame | dict[str, Any] | None:
    """Run this machine's party of a private evaluation across machines; the rendezvous is ``$RENDEZVOUS``.

    ``role``: ``"model"`` (rank 0; pass ``model``), ``"data"`` (rank 1; pass ``dataset`` and the options of
    :func:`evaluate_private`; returns the results table, written to its ``store``) or ``"dealer"`` (rank 2, the
    triple dealer, on a host neither party controls). ``precision_bits`` and ``reveal`` must agree on all three.
    The model owner gets its record (images and batches served, seconds); the dealer None.

    Example:
        >>> # RENDEZVOUS=tcp://10.0.0.5:29500 on every host, then:
        >>> # run_private_party("model", model="file:models/demo-clean")                # vendor
        >>> # run_private_party("data", dataset="csv:scans.csv", store="ws")              # hospital
        >>> # run_private_party("dealer")                                                 # third host
    """
    ranks = {"model": 0, "data": 1, "dealer": 2}
    if role not in ranks:
        raise OptionError(f"role {role!r} is not one of {list(ranks)}; pass model, data or dealer")
    if (role == "model" and model is None) or (role == "data" and dataset is None):
        raise OptionError(f"the {role} party needs its input: pass {'model' if role == 'model' else 'dataset'}=...")
    protocol = PrivateProtocol(precision_bits=precision_bits, reveal=reveal, crypten_version=_crypten_version())
    if role != "data":
        record = run_party(ranks[role], both_parties, model, None, protocol)
        if record is not None:
            _raise_party_error(record)
        return record
    protocol, request, metrics, ws = _prepare(
        dataset, shifts, metrics, seed, batch_size, on_bad_image, n_resamples, store, progress, max_image_pixels,
        precision_bits, reveal, data_root,
    )
    record = run_party(ranks[role], both_parties, None, request, protocol)
    assert record is not None
    _raise_party_error(record)
    table = _result_table(record, request.dataset, metrics, slice_by, seed, n_resamples, ws, protocol)
    table.attrs["parties"] = [record]
    return table
