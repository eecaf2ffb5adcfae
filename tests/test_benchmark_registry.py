"""Every registered benchmark loads from a copy of its release, by its scheme and through ``--data-root`` (issue 11).

Parametrised over :data:`robustscope.data.benchmarks.catalog.BENCHMARKS`, so a benchmark added to the table is
tested here as soon as it has a release fixture in ``benchmark_fixtures.RELEASES`` (and fails until it does); the
data-root test runs once per folder spelling, the seed project's included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark_fixtures import RELEASES
from robustscope.data import registry as data_registry
from robustscope.data.benchmarks import load_benchmark, roots
from robustscope.data.benchmarks.catalog import BENCHMARKS, Benchmark
from robustscope.data.benchmarks.roots import BENCHMARK_FOLDERS, SCHEME_OF, benchmark_spec, find_benchmark
from robustscope.data.registry import ARGUMENT_KINDS, DATASET_SCHEMES, load_dataset, register_benchmark
from robustscope.errors import SpecError, UnknownNameError

SCHEMES = BENCHMARKS.schemes()
#: (name found under --data-root, one of its folders), for every folder of every benchmark.
FOLDERS = [(name, folder) for name, folders in BENCHMARKS.folders().items() for folder in folders]
OOD_LOADER = "robustscope.data.benchmarks.ood:load_ood_folder"


def test_every_registered_benchmark_has_a_release_fixture() -> None:
    assert sorted(RELEASES) == sorted(SCHEMES), "add a builder of the release's layout to benchmark_fixtures.RELEASES"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_loads_from_its_release_through_its_scheme(tmp_path: Path, scheme: str) -> None:
    benchmark = BENCHMARKS[scheme]
    path = tmp_path / "release"
    release = RELEASES[scheme](path)
    ds = load_dataset(f"{scheme}:{path}{release.extras}")
    assert len(ds) == release.samples
    assert ds.metadata["benchmark"] == scheme
    assert ds.manifest["sample_id"].is_unique and all(ds.image_path(i).is_file() for i in range(len(ds)))
    # `robustscope list datasets` shows what the benchmark registered, and the example reads this scheme.
    entry = DATASET_SCHEMES.entry(scheme)
    assert (entry.target, entry.summary, entry.example) == (benchmark.loader, benchmark.summary, benchmark.example)
    assert entry.example.startswith(f"{scheme}:") and ARGUMENT_KINDS[scheme] == "benchmark"
    with pytest.raises(SpecError, match="too many ':'-separated values"):
        load_dataset(f"{scheme}:{path}" + ":x" * (len(benchmark.extras) + 1))


@pytest.mark.parametrize(("name", "folder"), FOLDERS, ids=[f"{n}@{f}" for n, f in FOLDERS])
def test_found_under_the_data_root_by_each_folder_name(tmp_path: Path, name: str, folder: str) -> None:
    scheme = BENCHMARKS.scheme_of(name)
    release = RELEASES[scheme](tmp_path / folder)
    assert find_benchmark(name, tmp_path) == tmp_path / folder
    if BENCHMARKS[scheme].folders:
        data = load_dataset(f"{scheme}:{release.extras}", root=tmp_path)  # an empty PATH: looked up by its folders
    else:
        data = load_dataset(benchmark_spec(name, tmp_path))  # a named set (sun, textures) by the spec suites use
    assert len(data) == release.samples
    assert Path(data.root).is_relative_to(tmp_path / folder)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_empty_path_without_a_data_root_says_what_to_write(scheme: str) -> None:
    # A scheme with folders can be looked up under a data root; ood-folder cannot (which OOD set?).
    hint = " or pass a data root" if BENCHMARKS[scheme].folders else "$"
    with pytest.raises(SpecError, match=rf"^{scheme}: no path given; write {scheme}:PATH{hint}"):
        load_benchmark(scheme, "")


def test_the_derived_views_agree_with_the_table() -> None:
    benchmark_kinds = sorted(s for s, kind in ARGUMENT_KINDS.items() if kind == "benchmark")
    assert sorted(ARGUMENT_KINDS) == DATASET_SCHEMES.keys() and benchmark_kinds == sorted(SCHEMES)
    assert BENCHMARKS.folders() == BENCHMARK_FOLDERS
    assert SCHEME_OF["textures"] == "ood-folder" and SCHEME_OF["imagenet-c"] == "imagenet-c"
    assert {name for name, scheme in SCHEME_OF.items() if scheme == "ood-folder"} == {
        "inaturalist", "sun", "places", "textures"
    }  # fmt: skip


def test_a_benchmark_registered_later_is_read_and_found_like_a_built_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Work on copies of the three tables, so the toy benchmark leaves no trace in other tests.
    monkeypatch.setattr(BENCHMARKS, "_by_scheme", dict(BENCHMARKS._by_scheme))
    monkeypatch.setattr(DATASET_SCHEMES, "_entries", dict(DATASET_SCHEMES._entries))
    monkeypatch.setattr(data_registry, "ARGUMENT_KINDS", dict(ARGUMENT_KINDS))
    toy = Benchmark("toy-ood", OOD_LOADER, "a toy OOD set: PATH/*", "toy-ood:~/toy", folders=("toys/ood",))
    register_benchmark(toy)
    RELEASES["ood-folder"](tmp_path / "toys" / "ood")
    assert len(load_dataset("toy-ood:", root=tmp_path)) == len(load_dataset(f"toy-ood:{tmp_path / 'toys/ood'}")) == 2
    assert find_benchmark("toy-ood", tmp_path) == tmp_path / "toys" / "ood" and roots.SCHEME_OF["toy-ood"] == "toy-ood"
    with pytest.raises(ValueError, match="'toy-ood' is already registered"):
        register_benchmark(toy)
    with pytest.raises(ValueError, match="'folder' is already registered"):
        register_benchmark(Benchmark("folder", OOD_LOADER, "", ""))
    with pytest.raises(ValueError, match="'sun' is already registered"):
        BENCHMARKS.add(Benchmark("my-sun", OOD_LOADER, "", "", named_sets={"sun": ("x",)}))
    with pytest.raises(UnknownNameError, match="did you mean"):
        BENCHMARKS["imagenet-rr"]
