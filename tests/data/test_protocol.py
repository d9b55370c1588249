"""Data protocols (gmc.data.protocol): valid ones build, every bad field is refused with its name."""

import pytest

from gmc.data.protocol import DataProtocol, resolve_protocol
from gmc.errors import ConfigError


def test_default_is_whole_image_resize():
    protocol = DataProtocol.from_dict({})
    expected = {"kind": "resize", "train_crops": 1, "test_crops": 1, "test_crop_mode": "center"}
    assert protocol.as_dict() == expected
    assert protocol.describe(224) == "whole image resized to 224 px"


def test_config_overrides_single_fields_of_the_card():
    card = {"kind": "crop", "train_crops": 25, "test_crops": 25, "test_crop_mode": "random"}
    protocol = resolve_protocol(card, {"train_crops": 2, "test_crops": 4}, "models.m.protocol")
    assert (protocol.kind, protocol.train_crops, protocol.test_crops, protocol.test_crop_mode) == (
        "crop",
        2,
        4,
        "random",
    )
    expected = "random 96 px crops (2 per image per epoch); test: 4 random crops averaged"
    assert protocol.describe(96) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "patch"}, "models.m.protocol.kind: 'patch' is not one of resize, crop"),
        ({"kind": "crop", "test_crop_mode": "corner"}, "test_crop_mode: 'corner'"),
        ({"kind": "crop", "train_crops": 0}, "train_crops: 0 must be an integer >= 1"),
        ({"kind": "crop", "test_crops": 2.5, "test_crop_mode": "random"}, "test_crops: 2.5"),
        ({"train_crops": 4}, "kind 'resize' feeds each whole image once"),
        ({"kind": "crop", "test_crops": 5}, "'center' takes one crop, not test_crops=5"),
        ({"kind": "crop", "test_crops": 8, "test_crop_mode": "grid"}, "square number of test_crops"),
        ({"crops": 3}, "unknown protocol field(s) 'crops'"),
    ],
)
def test_bad_protocols_name_the_field(fields, message):
    with pytest.raises(ConfigError) as err:
        DataProtocol.from_dict(fields, "models.m.protocol")
    assert message in str(err.value)
