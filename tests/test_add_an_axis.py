"""The "Add an axis" guide of docs/architecture.md, followed to the letter: its code block becomes a module in a
temporary folder, one ``register_axis`` call registers it, and a suite built here runs it. Its rows, numbers and
headline reach the results, the suite table and the report, and a typo in its params fails when the suite loads."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import write_colour_folder
from robustscope.engine import ResultStore
from robustscope.errors import SpecError
from robustscope.suites import AxisSpec, SuiteSpec, axis_names, get_axis, register_axis, run_suite, typed_params
from robustscope.suites import registry as axis_registry
from test_api import COLOURS, colour_model

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def guide_module() -> str:
    """The first Python block after the "Add an axis" heading of the architecture doc."""
    text = GUIDE.read_text()
    section = text[text.index("## Add an axis") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.fixture
def toy_axis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The guide's module on ``sys.path``, registered as the guide says; the registry is restored afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "overconfidence.py").write_text(guide_module())
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(axis_registry.AXIS_RECORDS, "_entries", dict(axis_registry.AXIS_RECORDS._entries))
    monkeypatch.setattr(axis_registry, "_ORDER", list(axis_registry._ORDER))
    yield "overconfidence"
    sys.modules.pop("overconfidence", None)


def test_the_guides_axis_runs_in_a_suite(toy_axis: str, tmp_path: Path, isolated_workspace: Path) -> None:
    register_axis(toy_axis, "overconfidence:AXIS")  # the guide's one registration
    assert axis_names()[-1] == toy_axis and get_axis(toy_axis).title == "Overconfidence"
    folder = write_colour_folder(tmp_path / "colours", COLOURS, per_class=4)
    suite = SuiteSpec.from_dict(
        {"name": "toy", "axes": {toy_axis: {"datasets": {"test": f"folder:{folder}"}, "params": {"min_confidence": 0}}}}
    )
    result = run_suite(colour_model(), suite, n_resamples=20, progress=False)
    rows = result.table
    assert rows[["axis", "suite", "metric", "shift"]].drop_duplicates().values.tolist() == [
        [toy_axis, "toy", "overconfidence", "none"]
    ]
    # the number, by hand from the model's own logits: mean max-softmax minus accuracy over the 12 images
    logits, labels = _logits_and_labels(folder)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = probs.max(1).mean() - (probs.argmax(1) == labels).mean()
    assert rows["value"].iloc[0] == pytest.approx(expected, abs=1e-6) and rows["n"].iloc[0] == 12
    assert rows["ci_low"].iloc[0] <= rows["value"].iloc[0] <= rows["ci_high"].iloc[0]
    # stored with the recipe, and the headline reaches the suite table
    stored = ResultStore(isolated_workspace / "results.duckdb").query(axis=toy_axis)
    assert len(stored) == 1
    assert result.summary()["overconfidence"].iloc[0] == pytest.approx(expected, abs=1e-6)
    # the report finds the axis by its name: the record's title heads its section (drawn by the default view)
    from robustscope.config import workspace
    from robustscope.report.from_store import report_from_store

    html = report_from_store(workspace(isolated_workspace), tmp_path / "report.html").read_text()
    assert "Overconfidence" in html and get_axis(toy_axis).summary in html


def _logits_and_labels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from robustscope.data.registry import load_dataset

    data = load_dataset(f"folder:{folder}")
    model = colour_model()
    with torch.no_grad():
        batch = torch.stack([model.preprocessing.to_tensor(data.load_image(i)) for i in range(len(data))])
        return model(batch).numpy().astype(np.float64), data.manifest["label"].to_numpy()


def test_a_typo_in_the_guides_params_fails_when_the_suite_loads(toy_axis: str) -> None:
    register_axis(toy_axis, "overconfidence:AXIS")
    body = {"datasets": {"test": "folder:x"}, "params": {"min_confidense": 0.5}}
    with pytest.raises(SpecError, match=r"did you mean 'min_confidence'.*known params of the overconfidence axis"):
        SuiteSpec.from_dict({"name": "toy", "axes": {toy_axis: body}})
    with pytest.raises(SpecError, match=r"params\.min_confidence: expected a number, got 'high'"):
        typed_params(AxisSpec(toy_axis, {"test": "folder:x"}, params={"min_confidence": "high"}))


def test_the_registry_is_restored_after_the_guide() -> None:
    assert "overconfidence" not in axis_names() and "overconfidence" not in sys.modules  # nothing leaked
