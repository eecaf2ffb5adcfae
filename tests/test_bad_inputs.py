"""A table of bad inputs → the one-line error each must give, before any work starts (issue 10, section 5).

Every row is tried as a user would: through ``robustscope.cli.main`` (exit code 2, stderr one line
``robustscope: error: …`` that names the input and the fix, no traceback, no prediction computed) or, for
API-only inputs, as a call that must raise a :class:`~robustscope.errors.RobustscopeError`.

A failing row says which way it failed (``traceback``, ``silent`` for a run that went on as if nothing was
wrong, ``unclear`` for an error that is not one clear line, ``late`` when predictions were computed first),
so ``pytest tests/test_bad_inputs.py -q -rf`` counts the outcomes.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import robustscope
from conftest import write_colour_folder
from robustscope.cli import main
from robustscope.errors import MissingDependencyError, OptionError, RobustscopeError, ShiftSpecError
from test_engine_support import ForwardCounter, make_dataset, tiny_model

COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


@dataclass(frozen=True)
class Case:
    """One bad input: CLI arguments (``{name}`` placeholders filled from the fixture's paths) or an API call.

    ``expect``: substrings the error message must contain (what was wrong and what to do).
    ``setup``: prepares the environment (a package that is not installed, no GPU) through ``monkeypatch``.
    """

    id: str
    expect: tuple[str, ...]
    argv: tuple[str, ...] = ()
    call: Callable[[dict[str, Path]], object] | None = None
    setup: Callable[[pytest.MonkeyPatch], None] | None = None


def _run(*extra: str) -> tuple[str, ...]:
    """``robustscope -q run --model {model} --data {data}`` plus ``extra``."""
    return ("-q", "run", "--model", "file:{model}", "--data", "folder:{data}", "--n-resamples", "0", *extra)


def _without(module: str) -> Callable[[pytest.MonkeyPatch], None]:
    """An environment where ``import module`` fails, as when the package is not installed."""

    def setup(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, module, None)

    return setup


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _no_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTSCOPE_CJK_FONT", "/nonexistent/font.otf")


def _load_world(name: str) -> Callable[[dict[str, Path]], object]:
    def call(paths: dict[str, Path]) -> object:
        from robustscope.synth import load_spec

        spec = paths["tmp"] / f"world-{abs(hash(name))}.yaml"
        spec.write_text(json.dumps({"name": name, "classes": ["cube"], "n": 1, "resolution": 8, "spp": 1}))
        return load_spec(spec)

    return call


def _load_suite(axis: str, body: dict) -> Callable[[dict[str, Path]], object]:
    def call(paths: dict[str, Path]) -> object:
        from robustscope.suites import load_suite

        spec = paths["tmp"] / f"suite-{axis}.yaml"
        spec.write_text(json.dumps({"name": "bad", "axes": {axis: body}}))
        return load_suite(spec)

    return call


CASES = [
    # -- data: CSV manifests ------------------------------------------------------------------------------
    Case("csv-empty-file", ("empty.csv", "empty"), ("-q", "run", "--model", "file:{model}", "--data",
                                                    "csv:{tmp}/empty.csv")),
    Case("csv-not-utf8", ("latin1.csv", "UTF-8"), ("-q", "run", "--model", "file:{model}", "--data",
                                                   "csv:{tmp}/latin1.csv")),
    Case("csv-duplicate-rows", ("dup.csv", "duplicate", "row 3"), ("-q", "run", "--model", "file:{model}",
                                                                    "--data", "csv:{tmp}/dup.csv")),
    Case("csv-ragged-long-row", ("ragged.csv", "row 3 has 4 fields, expected 3"),
         ("-q", "run", "--model", "file:{model}", "--data", "csv:{tmp}/ragged.csv")),
    Case("csv-ragged-short-row", ("short.csv", "row 2 has 2 fields, expected 3"),
         ("-q", "run", "--model", "file:{model}", "--data", "csv:{tmp}/short.csv")),
    # -- shift specs -----------------------------------------------------------------------------------------
    Case("fgsm-eps-not-a-number", ("fgsm:eps=abc", "number"), _run("--shift", "fgsm:eps=abc")),
    Case("fgsm-eps-negative", ("fgsm:eps=-1/255", ">= 0"), _run("--shift", "fgsm:eps=-1/255")),
    Case("fgsm-eps-division-by-zero", ("fgsm:eps=1/0", "number"), _run("--shift", "fgsm:eps=1/0")),
    Case("fgsm-unknown-key", ("fgsm:foo=1", "foo", "eps"), _run("--shift", "fgsm:foo=1")),
    Case("fgsm-extra-positional", ("fgsm:1/255:2", "'2'"), _run("--shift", "fgsm:1/255:2")),
    Case("pgd-negative-steps", ("steps=-3", ">= 0"), _run("--shift", "pgd:linf:eps=1/255:steps=-3")),
    Case("pgd-unknown-norm", ("pgd:l3", "linf", "l2"), _run("--shift", "pgd:l3")),
    Case("pgd-steps-not-an-integer", ("steps=abc", "whole number"), _run("--shift", "pgd:linf:steps=abc")),
    Case("pgd-alpha-not-a-number", ("alpha=x", "number"), _run("--shift", "pgd:linf:alpha=x")),
    Case("watermark-opacity-not-a-number", ("opacity=abc", "number"), _run("--shift", "watermark:opacity=abc")),
    Case("watermark-opacity-out-of-range", ("opacity=2", "[0, 1]"), _run("--shift", "watermark:opacity=2")),
    Case("watermark-without-a-font", ("CJK font", "pip install imagenet-w"), _run("--shift", "watermark"),
         setup=_no_font),
    Case("bad-third-shift-fails-before-the-first", ("fgsm:eps=abc",),
         _run("--shift", "none", "corruption:fog:2", "fgsm:eps=abc")),
    # -- options ------------------------------------------------------------------------------------------------
    Case("batch-size-zero", ("--batch-size", "positive integer"), _run("--batch-size", "0")),
    Case("n-resamples-negative", ("--n-resamples", "-5", ">= 0"), (*_run("--n-resamples", "-5"),)),
    Case("device-cuda-without-gpu", ("cuda", "--device cpu"), _run("--device", "cuda"), setup=_no_gpu),
    Case("device-unknown", ("tpu9", "cpu", "cuda"), _run("--device", "tpu9")),
    Case("train-zero-epochs", ("--epochs", "positive integer"),
         ("-q", "train", "--data", "folder:{data}", "--out", "{tmp}/never", "--epochs", "0")),
    Case("compare-alpha-out-of-range", ("--alpha", "between 0 and 1"),
         ("-q", "compare", "file:{model}", "file:{model}", "--data", "folder:{data}", "--alpha", "5")),
    Case("run-without-data-or-suite", ("--data", "--suite"), ("-q", "run", "--model", "file:{model}")),
    # -- models: optional packages -------------------------------------------------------------------------------
    Case("timm-not-installed", ("timm", "pip install 'robustscope[hub]'"),
         ("-q", "run", "--model", "timm:resnet18", "--data", "folder:{data}"), setup=_without("timm")),
    Case("open-clip-not-installed", ("open_clip", "pip install 'robustscope[hub]'"),
         ("-q", "run", "--model", "clip:RN50/openai", "--data", "folder:{data}"), setup=_without("open_clip")),
    # -- datasets a plain evaluation cannot score ------------------------------------------------------------------
    Case("run-on-ood-folder", ("ood", "--suite"), ("-q", "run", "--model", "file:{model}", "--data",
                                                   "ood-folder:{data}")),
    Case("compare-on-ood-folder", ("ood", "suite"), ("-q", "compare", "file:{model}", "file:{model}", "--data",
                                                      "ood-folder:{data}")),
    Case("synth-bench-without-benchmark", ("synth-bench:tiny", "cue-conflict"),
         ("-q", "run", "--model", "file:{model}", "--data", "synth-bench:tiny")),
    # -- suites ---------------------------------------------------------------------------------------------------
    Case("suite-unknown-param", ("metricz", "metrics"),
         ("-q", "run", "--model", "file:{model}", "--suite", "{tmp}/suite-param.yaml")),
    Case("suite-bad-shift", ("fgsm:eps=abc",),
         ("-q", "run", "--model", "file:{model}", "--suite", "{tmp}/suite-shift.yaml")),
    Case("suite-every-dataset-missing", ("no dataset", "imagenet-val", "--data-root"),
         ("-q", "run", "--model", "file:{model}", "--suite", "{tmp}/suite-missing.yaml", "--data-root",
          "{tmp}/empty-root")),
    Case("suite-api-unknown-param", ("calibration", "metricz", "known"),
         call=_load_suite("calibration", {"datasets": {"d": "folder:x"}, "params": {"metricz": ["top1"]}})),
    Case("suite-api-bad-shift", ("adversarial", "pgd:l3"),
         call=_load_suite("adversarial", {"datasets": {"d": "folder:x"}, "shifts": ["none", "pgd:l3"]})),
    # -- world specs whose name would write outside the workspace -------------------------------------------------
    Case("world-name-parent-dir", ("../x", "name"), call=_load_world("../x")),
    Case("world-name-absolute", ("/tmp/x", "name"), call=_load_world("/tmp/x")),
    Case("world-name-hidden", (".x", "name"), call=_load_world(".x")),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny saved model, a 6-image folder, and the bad files the table names."""
    from robustscope.models.smallcnn import SmallCNN

    tmp = tmp_path_factory.mktemp("bad-inputs")
    data = write_colour_folder(tmp / "data", COLOURS, per_class=2, size=8)
    model = tmp / "model"
    model.mkdir()
    torch.manual_seed(0)
    save_file(SmallCNN(len(COLOURS), width=4, depth=1).state_dict(), str(model / "model.safetensors"))
    (model / "config.json").write_text(json.dumps({
        "arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 1}, "labels": list(COLOURS),
        "preprocessing": {"input_size": 8, "crop_pct": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]},
    }))
    image = "data/blue/000.png"
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "latin1.csv").write_bytes(f"path,label,place\n{image},blue,caf\xe9\n".encode("latin-1"))
    (tmp / "dup.csv").write_text(f"path,label\n{image},blue\n{image},blue\n")
    (tmp / "ragged.csv").write_text(f"path,label,pose\n{image},blue,front\n{image},blue,front,extra\n")
    (tmp / "short.csv").write_text(f"path,label,pose\n{image},blue\n")
    suite = {"datasets": {"clean": f"folder:{data}"}}
    (tmp / "suite-param.yaml").write_text(json.dumps(
        {"name": "typo", "axes": {"calibration": {**suite, "params": {"metricz": ["top1"]}}}}))
    (tmp / "suite-shift.yaml").write_text(json.dumps(
        {"name": "badshift", "axes": {"adversarial": {**suite, "shifts": ["none", "fgsm:eps=abc"]}}}))
    (tmp / "suite-missing.yaml").write_text(json.dumps(
        {"name": "nodata", "axes": {"calibration": {"datasets": {"val": "imagenet-val:{data:imagenet-val}"}}}}))
    (tmp / "empty-root").mkdir()
    return {"tmp": tmp, "data": data, "model": model}


def _stored_files(workspace: Path) -> list[Path]:
    """Prediction files a run wrote (any file under the prediction store)."""
    store = workspace / "predictions"
    return [p for p in store.rglob("*") if p.is_file()] if store.exists() else []


def attempt(case: Case, paths: dict[str, Path], workspace: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """Try one bad input; return ``(outcome, detail)``, outcome one of clear, traceback, silent, unclear, late."""
    if case.call is not None:
        try:
            case.call(paths)
        except RobustscopeError as err:
            message = str(err)
            missing = [s for s in case.expect if s not in message]
            if missing or "\n" in message.strip():
                return "unclear", f"{type(err).__name__}: {message!r} lacks {missing}"
            return "clear", message
        except Exception:  # any other exception is what this table looks for
            return "traceback", traceback.format_exc(limit=-3)
        return "silent", "accepted without an error"
    argv = [part.format(**{k: str(v) for k, v in paths.items()}) for part in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        if not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    except Exception:
        return "traceback", traceback.format_exc(limit=-3)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 0:
        return "silent", f"exit 0; stderr {err[-300:]!r}"
    if len(lines) != 1 or not lines[0].startswith("robustscope: error: ") or code != 2:
        return "unclear", f"exit {code}; stderr {err[-500:]!r}"
    missing = [s for s in case.expect if s not in lines[0]]
    if missing:
        return "unclear", f"{lines[0]!r} lacks {missing}"
    if _stored_files(workspace):
        return "late", f"{lines[0]!r}, but predictions were computed first"
    return "clear", lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(
    case: Case,
    paths: dict[str, Path],
    isolated_workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if case.setup is not None:
        case.setup(monkeypatch)
    outcome, detail = attempt(case, paths, isolated_workspace, capsys)
    assert outcome == "clear", f"{outcome}: {detail}"


# -- API level: nothing runs before every input is checked ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"shifts": ["none", "corruption:fog:2", "fgsm:eps=abc"]}, ShiftSpecError, "fgsm:eps=abc"),
        ({"shifts": ["none", "pgd:l3"]}, ShiftSpecError, "pgd:l3"),
        ({"batch_size": 0}, OptionError, "batch_size"),
        ({"n_resamples": -5}, OptionError, "n_resamples"),
        ({"on_bad_image": "ignore"}, OptionError, "on_bad_image"),
        ({"device": "tpu9"}, OptionError, "tpu9"),
    ],
    ids=["bad-third-shift", "bad-second-shift", "batch-size", "n-resamples", "on-bad-image", "device"],
)
def test_evaluate_checks_every_input_before_the_first_forward_pass(
    tmp_path: Path, options: dict, error: type[Exception], message: str
) -> None:
    model, data = tiny_model(), make_dataset(tmp_path / "d", n=6, size=8)
    counter = ForwardCounter(model.network)
    with pytest.raises(error, match=re.escape(message)):
        robustscope.evaluate(model, data, progress=False, **{"shifts": ["none"], "n_resamples": 0, **options})
    assert counter.calls == 0
    # the counter does count: the same call with good inputs runs the model
    robustscope.evaluate(model, data, shifts=["none"], progress=False, n_resamples=0)
    assert counter.calls > 0


def test_compare_and_run_suite_check_options_before_loading_anything(tmp_path: Path) -> None:
    from robustscope.suites import run_suite

    missing = "file:/nonexistent/model"  # loading it would fail with another error: the option must fail first
    with pytest.raises(OptionError, match="tpu9"):
        robustscope.compare(missing, missing, "folder:/nonexistent", device="tpu9", progress=False)
    with pytest.raises(OptionError, match="n_resamples"):
        robustscope.compare(missing, missing, "folder:/nonexistent", n_resamples=-1, progress=False)
    with pytest.raises(OptionError, match="batch_size"):
        run_suite(missing, "synthetic-clones-offline", batch_size=0, progress=False)


def test_shift_spec_keys_are_checked_one_by_one() -> None:
    from robustscope.shifts.registry import check_shift_spec, load_shift

    assert load_shift("fgsm:1/255").spec() == load_shift("fgsm:eps=1/255").spec() == "fgsm:eps=1/255"
    assert load_shift("pgd:eps=1/255:l2").params()["norm"] == "l2"  # the positional norm may come last
    for spec, message in [
        ("fgsm:eps=1/255:eps=2/255", "eps is given twice"),  # last-one-wins would silently attack at 2/255
        ("pgd:linf:norm=l2", "norm is given twice"),
        ("pgd:linf:eps=1e400", "eps must be a number"),  # overflows a float
        ("pgd:linf:random_start=maybe", "random_start must be true or false"),
        ("none:x", "takes no parameters"),
        ("corruption:fog:9", "severity of 1-5"),
    ]:
        with pytest.raises(ShiftSpecError, match=re.escape(message)):
            load_shift(spec)
    with pytest.raises(ShiftSpecError, match="spec string"):
        load_shift(None)  # type: ignore[arg-type]
    # a well-formed watermark spec passes the check even where its font is missing (reported when it runs)
    os.environ["ROBUSTSCOPE_CJK_FONT"] = "/nonexistent/font.otf"
    try:
        check_shift_spec("watermark:opacity=0.5")
        with pytest.raises(MissingDependencyError):
            load_shift("watermark:opacity=0.5")
    finally:
        del os.environ["ROBUSTSCOPE_CJK_FONT"]


def test_optional_model_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from robustscope.api import load_model

    for module, spec in (("timm", "timm:resnet18"), ("open_clip", "clip:RN50/openai")):
        with monkeypatch.context() as patched:
            patched.setitem(sys.modules, module, None)
            with pytest.raises(MissingDependencyError, match=re.escape("pip install 'robustscope[hub]'")) as caught:
                load_model(spec, pretrained=False)
            assert isinstance(caught.value, ImportError)  # as `import timm` would have raised


def test_a_suite_run_with_no_dataset_lists_what_was_tried(tmp_path: Path) -> None:
    from robustscope.suites import SuiteSpec, run_suite
    from robustscope.suites.spec import AxisSpec

    spec = SuiteSpec("nodata", "", (AxisSpec("calibration", {"val": "imagenet-val:{data:imagenet-val}"}),))
    result = run_suite(tiny_model(), spec, data_root=tmp_path, n_resamples=0, progress=False)
    assert result.table.empty and [s.role for s in result.skipped] == ["val"]
    reason = result.empty_reason()
    assert "calibration/val" in reason and str(tmp_path / "imagenet" / "val") in reason and "\n" not in reason
