"""World grammar: group factors (region, income, country, house), weighted values, mapped choices and sub-ranges.

The existing worlds must draw and hash exactly as before the grammar grew (their render caches stay valid)."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest

from robustscope.errors import SpecError
from robustscope.synth.factors import Factor, house_id, parse_factor
from robustscope.synth.render import LABEL_COLUMNS, label_rows
from robustscope.synth.scene import RENDERER_VERSION
from robustscope.synth.spec import WorldSpec, load_spec

# Measured before group factors, weights and mapped choices existed (commit 7690fc8): each split's cache
# fingerprint, and a hash of every split's sampled records.
BEFORE = {
    "tiny": ({"train-narrow": "63207b7cfe58", "train-diverse": "39b1a6e5f677", "train-texture-shortcut": "c1673602bbda",
              "train-background-shortcut": "a0457bb3af55", "train-context-shortcut": "42f46b87bc94",
              "test-id": "af6f61ef32f4", "test-pose": "c6d136a178ad", "test-background": "aa916bdebec1",
              "test-lighting": "a1281d077bd6", "test-texture": "95ab9f9c120f", "context": "7c4b830f55a9",
              "ood-shapes": "7817c9372aa3"}, "15a3dfaf193558b3"),
    "demo": ({"train-narrow": "5cbbc84bb0dc", "train-diverse": "0fe94eaa5d5a", "train-texture-shortcut": "f5a4bcbcc789",
              "train-background-shortcut": "04a643f9f485", "train-context-shortcut": "979f96fd4ecc",
              "test-id": "274fbacfe91c", "test-pose": "efbf08604193", "test-background": "88a753ffce2e",
              "test-lighting": "1c3a1276dcdf", "test-texture": "984b613ac457", "context": "d363f70490ac",
              "ood-shapes": "de2bc258e246"}, "a6d6fcf0fb237e0a"),
}  # fmt: skip


@pytest.mark.parametrize("world", ["tiny", "demo"])
def test_existing_worlds_hash_and_draw_as_before(world: str) -> None:
    spec = load_spec(world)
    fingerprints, records_hash = BEFORE[world]
    digest = hashlib.sha256()
    for split in fingerprints:  # the splits of that time (splits added since change nothing of these)
        resolved = spec.resolve(split)
        assert resolved.fingerprint(RENDERER_VERSION) == fingerprints[split], split
        records = resolved.samples()
        assert not {"region", "income", "country", "house"} & set(records[0])
        digest.update(json.dumps(records, sort_keys=True).encode())
    assert digest.hexdigest()[:16] == records_hash
    assert list(label_rows(spec.resolve("test-id"), spec.resolve("test-id").samples()).columns) == list(LABEL_COLUMNS)


def within_binomial(count: int, n: int, p: float, z: float = 4.5) -> bool:
    """|count − n·p| ≤ z·sqrt(n·p·(1−p)) (+1 for rounding): z = 4.5 fails a correct draw with p < 1e-5."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def toy(factors: dict, n: int = 4000, seed: int = 0) -> list[dict]:
    return WorldSpec.from_dict({"name": "toy", "classes": ["cube", "sphere"], "n": n, "seed": seed,
                                "factors": factors}).samples()  # fmt: skip


def test_weighted_values_and_mapped_choices_follow_their_distributions() -> None:
    n = 6000
    records = toy({
        "region": {"values": ["A", "B", "C"], "weights": [0.6, 0.3, 0.1]},
        "income": {"values": ["low", "high"], "follows": "region",
                   "map": {"A": {"low": 0.2, "high": 0.8}, "B": ["low", "high"]}},
        "background": {"values": "all", "follows": "region", "map": {"A": ["sky", "studio"], "C": "desert"}},
        "light_intensity": {"range": [1.0, 4.0], "follows": "income", "map": {"low": [0.5, 1.0]}},
    }, n=n)  # fmt: skip
    regions = Counter(r["region"] for r in records)
    for name, p in {"A": 0.6, "B": 0.3, "C": 0.1}.items():
        assert within_binomial(regions[name], n, p), (name, regions[name])
    in_a = [r for r in records if r["region"] == "A"]
    assert within_binomial(sum(r["income"] == "low" for r in in_a), len(in_a), 0.2)
    in_b = [r for r in records if r["region"] == "B"]
    assert within_binomial(sum(r["income"] == "low" for r in in_b), len(in_b), 0.5)
    in_c = [r for r in records if r["region"] == "C"]
    assert {r["income"] for r in in_c} == {"low", "high"}  # unmapped: the plain (uniform) draw
    assert within_binomial(sum(r["background"] == "sky" for r in in_a), len(in_a), 0.5)
    assert {r["background"] for r in in_a} == {"sky", "studio"} and {r["background"] for r in in_c} == {"desert"}
    low = np.array([r["light_intensity"] for r in records if r["income"] == "low"])
    high = np.array([r["light_intensity"] for r in records if r["income"] == "high"])
    assert low.min() >= 0.5 and low.max() <= 1.0 and high.min() >= 1.0 and high.max() <= 4.0
    assert abs(high.mean() - 2.5) < 0.1  # uniform on [1, 4]


def test_houses_nest_in_country_and_income_and_recur_across_splits() -> None:
    factors = {"region": ["A", "B"], "income": ["low", "high"], "country": {"values": ["x", "y", "z"],
               "follows": "region", "map": {"A": "x", "B": ["y", "z"]}}, "house": {"range": [0, 5]}}  # fmt: skip
    one, two = toy(factors, n=400, seed=1), toy(factors, n=400, seed=2)
    for record in one:
        country, income, number = record["house"].split("-")
        assert (country, income) == (record["country"], record["income"]) and 0 <= int(number) < 5
    assert len({r["house"] for r in one} & {r["house"] for r in two}) > 10  # the same households, another split
    assert house_id({"region": "A", "house": 3.0}) == "A-003"


def test_group_factors_are_labels_not_rendered_and_only_where_declared() -> None:
    spec = WorldSpec.from_dict({"name": "toy", "classes": ["cube"], "n": 3,
                                "factors": {"region": ["A"], "house": {"range": [0, 2]}}})  # fmt: skip
    frame = label_rows(spec, spec.samples())
    assert list(frame.columns) == [*LABEL_COLUMNS, "region", "house"]
    assert set(frame["region"]) == {"A"}


def test_mapped_entries_and_weights_round_trip_through_to_dict() -> None:
    raw = {"name": "toy", "classes": ["cube"], "n": 50, "factors": {
        "region": {"values": ["A", "B"], "weights": [3, 1]},
        "scale": {"range": [0.5, 1.0], "follows": "region", "map": {"A": [0.5, 0.6]}},
        "texture": {"values": ["plain", "dots"], "follows": "region", "map": {"A": {"plain": 1, "dots": 2}}}}}
    spec = WorldSpec.from_dict(raw)
    again = WorldSpec.from_dict(spec.to_dict())
    assert again.to_dict() == spec.to_dict() and again.samples() == spec.samples()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("region", {"values": ["A", "B"], "weights": [1]}, "one weight per value"),
        ("region", {"values": ["A"], "weights": [-1]}, "non-negative"),
        ("region", ["Sub Saharan"], "plain names"),
        ("region", {"values": ["A"], "follows": "income", "map": {"low": "A"}}, "can follow a factor drawn before"),
        ("texture", {"values": ["plain"], "follows": "light_color", "map": {"white": "plain"}}, "drawn before"),
        ("scale", {"range": [0.5, 1], "follows": "income", "map": {"low": 0.6}}, "[low, high] sub-range"),
        ("scale", {"range": [0.5, 1], "follows": "income", "map": {"low": [0.9, 0.6]}}, "above high"),
        ("background", {"values": "all", "follows": "region", "map": {"A": ["moon"]}}, "unknown background"),
        ("region", {"range": [0, 1]}, "categorical"),
    ],
)
def test_bad_group_and_mapping_entries_name_the_field(name: str, raw: dict, message: str) -> None:
    with pytest.raises(SpecError, match=r"w\.factors\." + name) as err:
        parse_factor(name, raw, ["cube"], f"w.factors.{name}")
    assert message in str(err.value)


def test_group_factors_need_random_sampling() -> None:
    spec = WorldSpec.from_dict({"name": "toy", "classes": ["cube"], "sampling": "grid", "factors": {"region": ["A"]}})
    with pytest.raises(SpecError, match="need sampling: random"):
        spec.samples()


def test_a_mapped_choice_reuses_the_draws_own_number() -> None:
    # Same seed, a fixed value vs a one-element choice: the same stream, the same other factors.
    fixed = Factor("color", values=["red", "blue"], follows="texture", follow_map={"dots": "blue"})
    choice = Factor("color", values=["red", "blue"], follows="texture", follow_map={"dots": ["blue"]})
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [fixed.sample("cube", a, {"texture": "dots"}) for _ in range(5)] == [
        choice.sample("cube", b, {"texture": "dots"}) for _ in range(5)]
    assert a.random() == b.random()
