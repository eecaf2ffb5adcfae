"""Render a list of sample records (not a split's own draw) into a content-addressed folder of the render cache.

Studies build their images record by record — the same instances under other poses (:mod:`robustscope.synth.pairs`),
the same instances with one factor fixed or varied (the diversity study) — and render them in the world's layout
(``images/``, ``masks/``, ``labels.csv``), with extra columns appended to ``labels.csv``. The folder's name hashes
the resolved spec, the records themselves and the renderer version; ``records.json`` is written last, so a folder
that has it is complete, and a second call returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.synth.render import render_world
from robustscope.synth.scene import RENDERER_VERSION
from robustscope.synth.spec import WorldSpec

__all__ = ["render_records"]


def render_records(
    resolved: WorldSpec,
    records: list[dict[str, Any]],
    cache_root: str | Path,
    tag: str,
    *,
    columns: Sequence[str] = (),
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render ``records`` (each with an ``index`` and every factor) of the resolved spec; return the folder.

    ``columns`` are record keys appended to ``labels.csv`` (e.g. ``instance``); ``tag`` names the folder
    (``<world>-<split>-<tag>-<hash>``). A record may carry ``seed_index`` (the sampler seed of another sample).

    Example:
        >>> import tempfile
        >>> from robustscope.synth import load_spec
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> records = [dict(r, yaw=0.0, mark=i % 2) for i, r in enumerate(spec.samples())]
        >>> folder = render_records(spec, records, tempfile.mkdtemp(), "front", columns=["mark"], workers=1,
        ...                         progress=False)
        >>> pd.read_csv(folder / "labels.csv")[["character_rotation_yaw", "mark"]].iloc[1].tolist()
        [0.0, 1.0]
    """
    records_hash = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
    identity = {"fingerprint": resolved.fingerprint(RENDERER_VERSION), "tag": tag, "records": records_hash}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_root) / f"{resolved.name}-{resolved.split or 'all'}-{tag}-{key}"
    if (folder / "records.json").is_file():
        return folder
    render_world(resolved, folder, workers=workers, progress=progress, resume=True, records=records)
    labels = pd.read_csv(folder / "labels.csv")
    for column in columns:
        labels[column] = [r[column] for r in records]
    tmp = folder / f"labels.csv.tmp{os.getpid()}"
    labels.to_csv(tmp, index=False)
    os.replace(tmp, folder / "labels.csv")
    (folder / "records.json").write_text(json.dumps(identity, indent=2, sort_keys=True))
    return folder
