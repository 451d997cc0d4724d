"""CelebA on fake files in the official formats (made-up images and values, never real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import CELEBA_ATTRIBUTE_NAMES, write_celeba

from learnable_weights.data import CelebA, DatasetFileMissingError, DatasetFormatError
from learnable_weights.data import celeba as celeba_module

pytestmark = pytest.mark.filterwarnings("ignore::learnable_weights.data.celeba.CelebALicenseNotice")


@pytest.fixture(autouse=True)
def _notice_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(celeba_module, "_NOTICE_SHOWN", False)


@pytest.mark.parametrize("as_zip", [True, False])
def test_split_crop_resize_and_attributes(tmp_path: Path, as_zip: bool) -> None:
    colours, attributes = write_celeba(tmp_path, splits=(0, 0, 0, 1, 2), as_zip=as_zip)
    with pytest.warns(celeba_module.CelebALicenseNotice, match="non-commercial research"):
        train = CelebA(tmp_path, download=False)
    assert len(train) == 3
    assert train.filenames == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert train.attribute_names == tuple(CELEBA_ATTRIBUTE_NAMES)
    np.testing.assert_array_equal(train.attributes.numpy(), attributes[:3])
    image = train[1]
    assert image.shape == (3, 64, 64)
    assert image.dtype == torch.float32
    # flat-colour images survive JPEG, crop and resize within a few grey levels
    np.testing.assert_allclose(image.mean(dim=(1, 2)).numpy(), colours[1] / 255, atol=3 / 255)
    test = CelebA(tmp_path, download=False, split="test", crop=None, size=None)
    assert test.filenames == ["000005.jpg"]
    assert test[0].shape == (3, 218, 178)
    assert len(CelebA(tmp_path, download=False, split="all", crop=100, size=32)) == 5


def test_transform_and_negative_index(tmp_path: Path) -> None:
    write_celeba(tmp_path)
    dataset = CelebA(tmp_path, download=False, transform=lambda image: image.flip(0))
    plain = CelebA(tmp_path, download=False)
    torch.testing.assert_close(dataset[-1], plain[2].flip(0))
    with pytest.raises(IndexError):
        plain[3]


def test_missing_files_point_to_google_drive(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileMissingError, match=r"list_eval_partition\.txt.*drive\.google"):
        CelebA(tmp_path, download=False)


def test_malformed_annotation_files(tmp_path: Path) -> None:
    write_celeba(tmp_path)
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(DatasetFormatError, match=r"line 1: expected '<file> <0\|1\|2>'"):
        CelebA(tmp_path, download=False)
    write_celeba(tmp_path)
    attributes = tmp_path / "list_attr_celeba.txt"
    attributes.write_text("6" + attributes.read_text()[1:])  # the count line says 6, rows are 5
    with pytest.raises(DatasetFormatError, match="count line says 6 images, the file has 5"):
        CelebA(tmp_path, download=False)


def test_bad_options(tmp_path: Path) -> None:
    write_celeba(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        CelebA(tmp_path, download=False, split="validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="crop must be a positive integer"):
        CelebA(tmp_path, download=False, crop=0)
