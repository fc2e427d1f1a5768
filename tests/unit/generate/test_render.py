"""The local renderer's pictures: sized as asked, decided by the seed, captioned with the prompt."""

from __future__ import annotations

import numpy as np

from mediacraft.worker_generate.render import ascii_caption, caption_overlay, render_image


def test_an_image_has_the_asked_size_and_is_the_same_for_the_same_seed() -> None:
    first = render_image(320, 200, "a lighthouse", "vivid", seed=5)
    assert first.shape == (200, 320, 3) and first.dtype == np.uint8
    assert np.array_equal(first, render_image(320, 200, "a lighthouse", "vivid", seed=5))
    assert not np.array_equal(first, render_image(320, 200, "a lighthouse", "vivid", seed=6))


def test_the_style_changes_the_colours() -> None:
    mono = render_image(128, 128, "x", "mono", seed=3).astype(int)
    vivid = render_image(128, 128, "x", "vivid", seed=3).astype(int)
    # mono is grey: its channels agree; vivid is saturated: they do not
    assert np.abs(mono[..., 0] - mono[..., 2]).mean() < 3
    assert np.abs(vivid[..., 0] - vivid[..., 2]).mean() > 20


def test_the_caption_band_holds_the_prompt_text() -> None:
    layer = caption_overlay(400, 300, "hello world", "label")
    band = layer[-60:]
    assert (band[..., 3] > 150).any()  # text strokes are more opaque than the band under them
    assert (band[..., :3].max(axis=2) > 200).any()  # and white
    assert (layer[100:200, :, 3] == 0).all()  # the middle of the picture is left alone


def test_a_very_long_prompt_is_cut_to_a_few_lines_inside_the_frame() -> None:
    layer = caption_overlay(256, 256, "word " * 500, "label")
    covered = np.flatnonzero(layer[:, :, 3].max(axis=1))
    assert covered.size < 256  # the band does not take over the picture


def test_captions_fold_accents_and_mark_what_cannot_be_drawn() -> None:
    assert ascii_caption("Café  crème\n brûlée") == "Cafe creme brulee"
    assert ascii_caption("夜の街 at night") == "??? at night"
