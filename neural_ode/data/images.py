"""The image-classification data of the Section 3 experiment, read locally (no download).

Two sources, named by a data spec string:

- ``digits``: the handwritten digits that ship with scikit-learn (``sklearn.datasets.load_digits``:
  1797 greyscale 8x8 images, pixel values 0..16, ten classes), split into train and test sets
  by a seeded, stratified split.
- ``mnist:PATH``: MNIST from the four IDX files in the folder PATH (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each may
  end in ``.gz``, and ``train-images.idx3-ubyte`` spellings are accepted too).

Pixels are scaled to [0, 1] and then standardised with the training set's mean and standard
deviation. Images are float32 tensors of shape (N, 1, side, side); labels are int64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neural_ode.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IDXError, read_idx

DATA_SOURCES = ("digits", "mnist:PATH")

#: stems of MNIST's four files, by split and kind
MNIST_STEMS = {
    ("train", "images"): ("train-images", "idx3"),
    ("train", "labels"): ("train-labels", "idx1"),
    ("test", "images"): ("t10k-images", "idx3"),
    ("test", "labels"): ("t10k-labels", "idx1"),
}


class DataError(ValueError):
    """A data spec or data file that cannot be used; the message says what is allowed."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split of single-channel square images with integer class labels.

    Attributes:
        name: the data spec it was loaded from (``digits``, ``mnist:PATH``).
        train_images, test_images: float32, shape (N, 1, side, side), standardised.
        train_labels, test_labels: int64, shape (N,), values 0..classes-1.
        classes: the number of classes.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: int = 10

    @property
    def side(self) -> int:
        """Height (= width) of an image in pixels."""
        return int(self.train_images.shape[-1])

    def subset(self, train: int | None, test: int | None) -> Dataset:
        """The first ``train`` training and the first ``test`` test images (None: all of them)."""
        return Dataset(
            name=self.name,
            train_images=self.train_images[:train],
            train_labels=self.train_labels[:train],
            test_images=self.test_images[:test],
            test_labels=self.test_labels[:test],
            classes=self.classes,
        )

    def describe(self) -> str:
        """One line: name, sizes and image side."""
        return (
            f"{self.name}: {len(self.train_labels)} training and {len(self.test_labels)} test images, "
            f"{self.side}x{self.side}, {self.classes} classes"
        )


def _standardised(train: np.ndarray, test: np.ndarray, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale to [0, 1], standardise with the training statistics, add the channel axis."""
    train = train.astype(np.float32) / scale
    test = test.astype(np.float32) / scale
    mean, std = float(train.mean()), float(train.std()) or 1.0
    return (
        torch.from_numpy((train - mean) / std).unsqueeze(1),
        torch.from_numpy((test - mean) / std).unsqueeze(1),
    )


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits (bundled with the package), split stratified by ``seed``."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = bunch.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    train_images, test_images = _standardised(train_x, test_x, scale=16.0)
    return Dataset(
        name="digits",
        train_images=train_images,
        train_labels=torch.from_numpy(train_y),
        test_images=test_images,
        test_labels=torch.from_numpy(test_y),
    )


def mnist_file(folder: Path, split: str, kind: str) -> Path:
    """The IDX file of ``split`` (train/test) and ``kind`` (images/labels) in ``folder``."""
    stem, idx = MNIST_STEMS[(split, kind)]
    candidates = [f"{stem}-{idx}-ubyte", f"{stem}.{idx}-ubyte"]
    for name in candidates:
        for suffix in ("", ".gz"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    raise DataError(f"{folder}: no {split} {kind} file; expected {candidates[0]} or {candidates[0]}.gz")


def _read_pair(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = mnist_file(folder, split, "images")
    labels_path = mnist_file(folder, split, "labels")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1] != images.shape[2]:
        raise IDXError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected square images")
    if len(images) != len(labels):
        raise IDXError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise IDXError(f"{labels_path}: label {int(labels.max())} found, expected digits 0..9")
    return images, labels.astype(np.int64)


def load_mnist(folder: str | Path) -> Dataset:
    """MNIST from its four local IDX files in ``folder`` (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"mnist:{folder}: no such folder (it must hold MNIST's four IDX files)")
    train_x, train_y = _read_pair(folder, "train")
    test_x, test_y = _read_pair(folder, "test")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise IDXError(f"{folder}: training images are {train_x.shape[1:]}, test images {test_x.shape[1:]}")
    train_images, test_images = _standardised(train_x, test_x, scale=255.0)
    return Dataset(
        name=f"mnist:{folder}",
        train_images=train_images,
        train_labels=torch.from_numpy(train_y),
        test_images=test_images,
        test_labels=torch.from_numpy(test_y),
    )


def check_data_spec(spec: str) -> None:
    """Raise :class:`DataError` unless ``spec`` is ``digits`` or ``mnist:PATH``."""
    if spec == "digits":
        return
    if spec.startswith("mnist:") and spec[len("mnist:") :]:
        return
    raise DataError(f"unknown data {spec!r}; allowed: {', '.join(DATA_SOURCES)}")


def load_data(spec: str, seed: int = 0) -> Dataset:
    """The dataset named by ``spec`` (``digits`` or ``mnist:PATH``); ``seed`` fixes the digits split."""
    check_data_spec(spec)
    if spec == "digits":
        return load_digits(seed)
    return load_mnist(spec[len("mnist:") :])
