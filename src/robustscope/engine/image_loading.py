"""Decoding a dataset's images for the Runner, in DataLoader workers, with unreadable files as data.

A DataLoader worker cannot re-raise :class:`~robustscope.errors.BadImageError` faithfully (it takes two
arguments), so :class:`RowImages` returns a bad file as ``(row, None, path, message)``; :func:`collate`
separates the good images from the bad ones, and the main process raises :func:`bad_image_error` or records
the file, as the run's ``on_bad_image`` policy (:data:`BAD_IMAGE_POLICIES`) says.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.data as tud

from robustscope.data.base import Dataset
from robustscope.errors import BadImageError
from robustscope.models.preprocessing import Preprocessing

__all__ = ["BAD_IMAGE_POLICIES", "Batch", "RowImages", "bad_image_error", "collate", "worker_init"]

#: What a run does with an unreadable image: stop on it, or skip it and list it.
BAD_IMAGE_POLICIES = ("raise", "skip")

#: A collated batch: the rows decoded, their stacked images (``None`` when none was), and ``(row, path, message)``
#: of each bad file.
Batch = tuple[list[int], "torch.Tensor | None", list[tuple[int, str, str]]]


class RowImages(tud.Dataset):
    """Decoded, preprocessed images of some manifest rows; bad files come back as data, not exceptions.

    Example:
        >>> import tempfile, pandas as pd
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> Image.new("RGB", (4, 4), "red").save(f"{root}/x.png")
        >>> data = Dataset("toy", root, ["a"], pd.DataFrame({"sample_id": ["x", "y"], "path": ["x.png", "y.png"],
        ...                                                  "label": [0, 0]}))
        >>> images = RowImages(data, Preprocessing(4, 1.0))
        >>> images[0][1].shape, images[1][1], "y.png" in images[1][2]
        (torch.Size([3, 4, 4]), None, True)
    """

    def __init__(self, dataset: Dataset, preprocessing: Preprocessing, max_pixels: int | None = None):
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor | None, str | None, str | None]:
        try:
            image = self.dataset.load_image(row, max_pixels=self.max_pixels)
        except BadImageError as err:
            return row, None, str(err.path), str(err)
        return row, self.preprocessing.to_tensor(image), None, None


def collate(items: Sequence[tuple[int, torch.Tensor | None, str | None, str | None]]) -> Batch:
    """The DataLoader's ``collate_fn``: stack the decoded images, list the bad files apart.

    Example:
        >>> rows, images, bad = collate([(0, torch.zeros(3, 2, 2), None, None), (1, None, "b.png", "truncated")])
        >>> rows, tuple(images.shape), bad
        ([0], (1, 3, 2, 2), [(1, 'b.png', 'truncated')])
    """
    rows = [row for row, tensor, _, _ in items if tensor is not None]
    tensors = [tensor for _, tensor, _, _ in items if tensor is not None]
    bad = [(row, path or "", message or "") for row, tensor, path, message in items if tensor is None]
    return rows, (torch.stack(tensors) if tensors else None), bad


def worker_init(_: int) -> None:
    """The DataLoader's ``worker_init_fn``: one intra-op thread per decoding worker.

    Example:
        >>> threads = torch.get_num_threads()
        >>> worker_init(0); torch.get_num_threads()
        1
        >>> torch.set_num_threads(threads)
    """
    # Decoding workers should not each spin up a full intra-op thread pool.
    torch.set_num_threads(1)


def bad_image_error(path: str, message: str) -> BadImageError:
    """Rebuild a BadImageError from its message without appending the hint a second time.

    Example:
        >>> err = bad_image_error("b.png", str(BadImageError("b.png", "truncated")))
        >>> err.path, str(err).count("Replace or remove the file")
        ('b.png', 1)
    """
    err = BadImageError.__new__(BadImageError)
    Exception.__init__(err, message)
    err.path = path
    return err
