"""Joint appearance factors (issue 19): a factor that ``follows`` another moves with it."""

from __future__ import annotations

import pytest

from robustscope.errors import SpecError
from robustscope.synth.benchmarks import common_backgrounds, texture_classes
from robustscope.synth.spec import WorldSpec, load_spec

APPEARANCE = {"plain": "red", "stripes": "blue"}


def _world(follow_prob: float = 1.0, tie_prob: float = 0.9, sampling: str = "random") -> WorldSpec:
    return WorldSpec.from_dict({
        "name": "joint", "classes": ["sphere", "cube"], "n": 400, "seed": 5, "sampling": sampling,
        "factors": {
            "texture": {"values": ["plain", "stripes"], "tie_to_class": {"sphere": "plain", "cube": "stripes"},
                        "tie_prob": tie_prob},
            "color": {"values": "all", "follows": "texture", "map": APPEARANCE, "follow_prob": follow_prob},
        },
    })


def test_a_following_colour_always_matches_its_texture() -> None:
    samples = _world().samples()
    assert all(s["color"] == APPEARANCE[s["texture"]] for s in samples)
    # the texture tie still holds at its own probability, and the colour goes with it
    tied = sum((s["character_label"] == "sphere") == (s["texture"] == "plain") for s in samples) / len(samples)
    assert 0.85 < tied < 0.95


def test_follow_prob_zero_draws_the_colour_freely() -> None:
    samples = _world(follow_prob=0.0).samples()
    colours = {s["color"] for s in samples}
    assert len(colours) > 2  # drawn from every colour, not only the two mapped ones


def test_a_cue_conflict_split_swaps_texture_and_colour_together() -> None:
    """tie_prob 0: never the class's own texture, so never its own colour either."""
    samples = _world(tie_prob=0.0).samples()
    for s in samples:
        own = "plain" if s["character_label"] == "sphere" else "stripes"
        assert s["texture"] != own and s["color"] != APPEARANCE[own]


def test_follow_settings_round_trip_and_change_the_fingerprint() -> None:
    world = _world()
    again = WorldSpec.from_dict(world.to_dict())
    assert again.to_dict() == world.to_dict()
    assert again.samples() == world.samples()
    assert _world(follow_prob=0.5).fingerprint() != world.fingerprint()


@pytest.mark.parametrize(
    ("colour", "message"),
    [
        ({"values": "all", "follows": "light_color", "map": {"white": "red"}}, "can follow a factor drawn before it"),
        ({"values": "all", "follows": "texture", "map": {"tartan": "red"}}, "unknown texture 'tartan'"),
        ({"values": "all", "follows": "texture", "map": {"plain": "mauve-ish"}}, "unknown color"),
        ({"values": "all", "follows": "texture"}, "must map texture values"),
        ({"values": "all", "map": {"plain": "red"}}, "need 'follows"),
        ({"values": "all", "follows": "texture", "map": {"plain": "red"}, "follow_prob": 2}, "probability"),
    ],
)
def test_bad_follow_settings_name_the_field(colour: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        WorldSpec.from_dict({"name": "w", "classes": ["cube"], "factors": {"color": colour}})


def test_a_numeric_factor_follows_its_leader() -> None:
    world = WorldSpec.from_dict({"name": "w", "classes": ["cube"], "n": 40, "seed": 1,
                                 "factors": {"texture": {"values": ["plain", "stripes"]},
                                             "yaw": {"values": [0, 45], "follows": "texture",
                                                     "map": {"plain": 0, "stripes": 45}}}})
    samples = world.samples()
    assert {s["texture"] for s in samples} == {"plain", "stripes"}
    assert all(s["yaw"] == {"plain": 0, "stripes": 45}[s["texture"]] for s in samples)


def test_grid_sampling_refuses_a_following_factor() -> None:
    with pytest.raises(SpecError, match="need sampling: random"):
        _world(sampling="grid").samples()


@pytest.mark.parametrize("world", ["demo", "tiny"])
def test_built_in_worlds_tie_appearance_and_background_per_class(world: str) -> None:
    """Each class owns one texture (in one colour) and one background: the shortcuts the axes look for."""
    spec = load_spec(world)
    owners = texture_classes(spec)
    assert sorted(owners.values()) == sorted(spec.classes)
    homes = common_backgrounds(spec)
    assert all(len(homes[c]) == 1 for c in spec.classes)
    assert len({homes[c][0] for c in spec.classes}) == len(spec.classes)
    narrow = spec.resolve("train-narrow").samples()
    colour_of = spec.resolve("train-narrow").factors["color"].follow_map
    assert all(s["color"] == colour_of[s["texture"]] for s in narrow)
