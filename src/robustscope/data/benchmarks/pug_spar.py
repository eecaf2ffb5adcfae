"""PUG:SPAR caption-retrieval tasks, built from the release's label CSV as the authors' evaluation script does.

PUG:SPAR (43,560 images, ``PUG_SPAR/README.md`` of ``facebookresearch/PUG``): ``run_eval_vlms_on_spar.py``
reads ``PATH/labels.csv`` and uses the columns :data:`SPAR_COLUMNS`, with :data:`BLANK` for an absent animal.
:func:`spar_task` reproduces its captions and subsets (see there for the departures); the dataset of one task is
:func:`robustscope.data.benchmarks.pug.load_pug_spar`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustscope.errors import MissingDataError, SpecError

__all__ = ["BLANK", "SPAR_COLUMNS", "SPAR_TASKS", "SparTask", "spar_task"]

#: The PUG:SPAR columns the authors' evaluation script reads.
SPAR_COLUMNS = (
    "filename",
    "world_name",
    "character_name",
    "character2_name",
    "character1_pos",
    "character_texture",
    "character2_texture",
)
#: The value of ``character_name`` / ``character2_name`` where PUG:SPAR has no animal.
BLANK = "blank"
#: SPAR retrieval tasks and the variants the authors' evaluation script runs (the first is the default); a
#: texture task takes any texture of the CSV, a relation task any side (left, right, bottom, top).
SPAR_TASKS: dict[str, tuple[str, ...]] = {
    "scene": (),
    "single": ("Default", "Blue", "Grass"),
    "single_relation": ("left", "bottom"),
    "double": ("Default", "Blue", "Grass"),
    "double_relation": ("left", "bottom"),
    "double_attribute": ("Blue", "Grass"),
}
_OPPOSITE = {"left": "right", "right": "left", "bottom": "top", "top": "bottom"}


@dataclass(frozen=True)
class SparTask:
    """One PUG:SPAR caption-retrieval task: which CSV rows, their captions and the right one per image.

    Attributes:
        name: ``task`` or ``task:variant`` (``+bg`` when captions name the background).
        rows: positions in the CSV of the task's images.
        captions: the captions retrieved among (unique).
        targets: ``[len(rows)]`` index of each image's caption.
        negatives: ``[len(rows)]`` index of its hard-negative caption (the same animals swapped), -1 if none.
    """

    name: str
    rows: np.ndarray
    captions: list[str]
    targets: np.ndarray
    negatives: np.ndarray


def _with_world(caption: str, world: str, with_background: bool) -> str:
    return f"{caption} in a {world} environment" if with_background else caption


def spar_task(frame: pd.DataFrame, task: str, variant: str | None = None, with_background: bool = False) -> SparTask:
    """Build a PUG:SPAR caption-retrieval task from the label CSV, as ``run_eval_vlms_on_spar.py`` does.

    Captions, per task (``{w}``: world, ``{c}``: animal, ``{t}``: texture, ``{r}``: position):

    - ``scene``: images without animals; "This is a photo in a {w} environment".
    - ``single:TEXTURE``: one animal, ``character_texture`` = TEXTURE; "This is a photo of a {c}".
    - ``single_relation:left|bottom``: one animal, texture ``Default``, ``character1_pos`` = left (bottom);
      "This is a photo of a {c} on the {r} of the picture" (the first animal is at ``character1_pos``, the
      second at the opposite side); hard negative: the other side.
    - ``double:TEXTURE``: two animals; "This is a photo of a {a} and a {b}" with the names sorted.
    - ``double_relation:left|bottom``: two different animals, texture ``Default``; "This is a photo of a {c1}
      on the {p} and a {c2} on the {p'} of the picture"; hard negative: the animals swapped.
    - ``double_attribute:Blue|Grass``: two different animals, ``character_texture`` = Blue (Grass); "This is a
      photo of a {c1} textured with {t1} and a {c2} textured with {t2}"; hard negative: the animals swapped.

    With ``with_background`` (the script's ``captionback_True`` runs) every caption is written for every world,
    ending "in a {w} environment", and the right one names the image's world.

    Departures from the script, all in the caption *set* (the right caption is the same): the script lists
    ``blank`` (no animal) among the single-animal captions ("This is a photo of a blank") and drops the first
    animal of the single-relation list; here the captions are those of the animals present, ``blank`` never
    one. The script keeps the first 10 background-only images for ``scene``; here all of them. Hard negatives
    are added to the caption set when no image has them as its own caption (the script would fail there).
    Caption order is that of first appearance (the script's order for ``single``; a Python ``set`` for the
    relation tasks), which matters only for exact ties.

    Example:
        >>> frame = pd.DataFrame({"filename": ["a", "b"], "world_name": ["Desert"] * 2,
        ...     "character_name": ["Cat", "blank"], "character2_name": ["blank", "Dog"],
        ...     "character1_pos": ["left", "left"], "character_texture": ["Default"] * 2,
        ...     "character2_texture": ["Default"] * 2})
        >>> t = spar_task(frame, "single_relation", "left")
        >>> t.captions[:2]  # the right captions first: the second animal is on the opposite side
        ['This is a photo of a Cat on the left of the picture', 'This is a photo of a Dog on the right of the picture']
        >>> t.targets.tolist(), t.negatives.tolist(), t.captions[2]
        ([0, 1], [2, 3], 'This is a photo of a Cat on the right of the picture')
    """
    if task not in SPAR_TASKS:
        raise SpecError(f"PUG:SPAR task {task!r}; choose one of {list(SPAR_TASKS)}")
    variants = SPAR_TASKS[task]
    if variants and variant is None:
        variant = variants[0]
    if task.endswith("_relation") and variant not in _OPPOSITE:
        raise SpecError(f"PUG:SPAR task {task!r}: variant {variant!r}; the first animal's side: {list(_OPPOSITE)}")
    missing = [c for c in SPAR_COLUMNS[1:] if c not in frame.columns]
    if missing:
        raise MissingDataError(f"PUG:SPAR labels lack column(s) {missing}; columns: {list(frame.columns)}")
    f = frame.astype(str)
    c1, c2 = f["character_name"].to_numpy(), f["character2_name"].to_numpy()
    worlds_all = list(pd.unique(f["world_name"]))
    one = (c1 == BLANK) != (c2 == BLANK)
    two = (c1 != BLANK) & (c2 != BLANK)
    texture = f["character_texture"].to_numpy()
    position = f["character1_pos"].to_numpy()
    pairs: list[tuple[str, str | None]] = []  # per selected row: (right caption, hard negative)
    if task == "scene":
        selected = np.flatnonzero((c1 == BLANK) & (c2 == BLANK))
        pairs = [(f"This is a photo in a {f['world_name'].iat[i]} environment", None) for i in selected]
        with_background = False  # the scene captions already name the world
    elif task == "single":
        selected = np.flatnonzero(one & (texture == variant))
        pairs = [(f"This is a photo of a {c1[i] if c1[i] != BLANK else c2[i]}", None) for i in selected]
    elif task == "single_relation":
        assert variant is not None
        selected = np.flatnonzero(one & (texture == "Default") & (position == variant))
        for i in selected:
            animal, side = (c1[i], variant) if c1[i] != BLANK else (c2[i], _OPPOSITE[variant])
            text = "This is a photo of a {} on the {} of the picture"
            pairs.append((text.format(animal, side), text.format(animal, _OPPOSITE[side])))
    elif task == "double":
        selected = np.flatnonzero(two & (texture == variant))
        pairs = [("This is a photo of a {} and a {}".format(*sorted((c1[i], c2[i]))), None) for i in selected]
    elif task == "double_relation":
        assert variant is not None
        selected = np.flatnonzero(two & (c1 != c2) & (texture == "Default") & (position == variant))
        other = _OPPOSITE[variant]
        text = "This is a photo of a {} on the {} and a {} on the {} of the picture"
        pairs = [
            (text.format(c1[i], variant, c2[i], other), text.format(c2[i], variant, c1[i], other)) for i in selected
        ]
    else:  # double_attribute
        selected = np.flatnonzero(two & (c1 != c2) & (texture == variant))
        t2 = f["character2_texture"].to_numpy()
        text = "This is a photo of a {} textured with {} and a {} textured with {}"
        pairs = [
            (text.format(c1[i], texture[i], c2[i], t2[i]), text.format(c2[i], texture[i], c1[i], t2[i]))
            for i in selected
        ]
    if not len(selected):
        raise MissingDataError(f"PUG:SPAR task {task}{':' + variant if variant else ''}: no image fits it")
    worlds = f["world_name"].to_numpy()[selected]
    bases = list(dict.fromkeys([p for p, _ in pairs] + [n for _, n in pairs if n is not None]))
    captions = [_with_world(b, w, True) for b in bases for w in worlds_all] if with_background else bases
    index = {c: i for i, c in enumerate(captions)}
    targets, negatives = [], []
    for (right, negative), world in zip(pairs, worlds, strict=True):
        targets.append(index[_with_world(right, world, with_background)])
        negatives.append(-1 if negative is None else index[_with_world(negative, world, with_background)])
    name = task + (f":{variant}" if variant else "") + ("+bg" if with_background else "")
    return SparTask(name, selected, captions, np.array(targets, dtype=np.int64), np.array(negatives, dtype=np.int64))
