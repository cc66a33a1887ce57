"""The IDX reader and the MNIST loader, on files the tests write."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from neural_ode.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IDXError, read_idx, write_idx
from neural_ode.data.images import DataError, load_data, load_mnist


def _images(count: int, side: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, side, side), dtype=np.uint8)


def _labels(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, size=count, dtype=np.uint8)


def write_mnist(folder, train=20, test=10, compress=False):
    """MNIST's four files with random content; returns the arrays written."""
    arrays = {
        "train-images-idx3-ubyte": _images(train, seed=1),
        "train-labels-idx1-ubyte": _labels(train, seed=2),
        "t10k-images-idx3-ubyte": _images(test, seed=3),
        "t10k-labels-idx1-ubyte": _labels(test, seed=4),
    }
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if compress else "")), array, compress=compress)
    return arrays


def test_header_bytes_are_mnists(tmp_path):
    path = write_idx(tmp_path / "images", _images(3, side=4))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"  # magic 0x00000803
    assert raw[4:16] == (3).to_bytes(4, "big") + (4).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert len(raw) == 16 + 3 * 4 * 4


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_images_and_labels(tmp_path, compress):
    images, labels = _images(5), _labels(5)
    write_idx(tmp_path / "i", images, compress=compress)
    write_idx(tmp_path / "l", labels, compress=compress)
    assert (tmp_path / "i").read_bytes()[:2] == (b"\x1f\x8b" if compress else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(tmp_path / "i", IMAGES_MAGIC), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "l", LABELS_MAGIC), labels)


def test_multibyte_types_are_big_endian(tmp_path):
    values = np.array([[1.5, -2.25], [3.0, 1e6]], dtype=np.float32)
    path = write_idx(tmp_path / "f", values)
    assert path.read_bytes()[2] == 0x0D
    assert path.read_bytes()[12:16] == b"\x3f\xc0\x00\x00"  # 1.5, big-endian float32
    np.testing.assert_array_equal(read_idx(path), values)


def test_wrong_magic_number_names_file_and_expected(tmp_path):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", _labels(4))
    with pytest.raises(IDXError) as info:
        read_idx(path, IMAGES_MAGIC)
    message = str(info.value)
    assert str(path) in message
    assert "wrong magic number 0x00000801, expected 0x00000803" in message


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, world")
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(path)


def test_truncated_data_says_how_much_is_missing(tmp_path):
    path = write_idx(tmp_path / "images", _images(3, side=4))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IDXError) as info:
        read_idx(path, IMAGES_MAGIC)
    assert str(info.value) == f"{path}: truncated: the header promises 48 data bytes (3x4x4 of uint8), found 43"


def test_extra_bytes_are_an_error(tmp_path):
    path = write_idx(tmp_path / "labels", _labels(4))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IDXError, match="longer than its header says: the header promises 4 data bytes"):
        read_idx(path, LABELS_MAGIC)


def test_truncated_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big"))
    with pytest.raises(IDXError, match="truncated header: 3 dimension sizes need 16 bytes, the file has 8"):
        read_idx(path, IMAGES_MAGIC)


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "images.gz", _images(20), compress=True)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IDXError, match="gzip stream is damaged or truncated"):
        read_idx(path)


def test_load_mnist_folder(tmp_path):
    arrays = write_mnist(tmp_path, compress=True)
    data = load_data(f"mnist:{tmp_path}")
    assert data.name == f"mnist:{tmp_path}"
    assert data.train_images.shape == (20, 1, 28, 28) and data.test_images.shape == (10, 1, 28, 28)
    assert data.train_images.dtype == torch.float32 and data.train_labels.dtype == torch.int64
    np.testing.assert_array_equal(data.train_labels.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.test_labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    # standardised with the training statistics; pixel order kept
    assert abs(float(data.train_images.mean())) < 1e-5 and abs(float(data.train_images.std()) - 1) < 1e-2
    raw = arrays["train-images-idx3-ubyte"].astype(np.float32) / 255
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(data.train_images[:, 0].numpy(), expected, atol=1e-5)
    assert data.side == 28


def test_plain_and_gzipped_files_give_the_same_data(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "gz").mkdir()
    write_mnist(tmp_path / "plain")
    write_mnist(tmp_path / "gz", compress=True)
    plain, gz = load_mnist(tmp_path / "plain"), load_mnist(tmp_path / "gz")
    assert torch.equal(plain.train_images, gz.train_images) and torch.equal(plain.test_labels, gz.test_labels)


def test_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no test labels file; expected t10k-labels-idx1-ubyte or t10k-labels"):
        load_mnist(tmp_path)


def test_images_and_labels_must_agree_in_count(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", _labels(19))
    with pytest.raises(IDXError, match="holds 20 images but .* holds 19 labels"):
        load_mnist(tmp_path)


def test_labels_file_in_place_of_images(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels.read_bytes())
    with pytest.raises(IDXError, match="train-images-idx3-ubyte: wrong magic number 0x00000801, expected 0x00000803"):
        load_mnist(tmp_path)


def test_bad_data_specs():
    with pytest.raises(DataError, match="unknown data 'cifar'; allowed: digits, mnist:PATH"):
        load_data("cifar")
    with pytest.raises(DataError, match="no such folder"):
        load_data("mnist:/nonexistent/folder")


def test_gzip_module_agrees(tmp_path):
    """A file gzipped by the gzip module (not by write_idx) reads the same."""
    plain = write_idx(tmp_path / "labels", _labels(7))
    (tmp_path / "labels.gz").write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), read_idx(plain))
