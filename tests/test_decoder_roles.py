"""One decoder: an image gives the same pixels and features as an input, a target or a reference."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from evaluator import features as F
from evaluator.data.images import load_rgb_uint8

REPO = Path(__file__).resolve().parent.parent


def _scene(h=24, w=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _awkward_files(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (file, the uint8 RGB a correct decoder must produce), computed without the decoder."""
    files = {}
    rgb = _scene()
    alpha = np.where(np.arange(40)[None, :] < 20, 255, 0).astype(np.uint8) * np.ones((24, 1), np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder / "rgba.png")
    files["rgba"] = (folder / "rgba.png", np.where(alpha[..., None] == 255, rgb, 255).astype(np.uint8))

    palette = Image.fromarray(rgb).quantize(colors=16)  # mode P
    palette.save(folder / "palette.png")
    files["palette"] = (folder / "palette.png", np.asarray(palette.convert("RGB")))

    gray16 = (np.linspace(0, 65535, 40)[None, :] * np.ones((24, 1))).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")  # mode I;16
    gray8 = np.rint(gray16 / 65535.0 * 255).astype(np.uint8)
    files["gray16"] = (folder / "gray16.png", np.repeat(gray8[..., None], 3, axis=2))

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    upright = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.open(io.BytesIO(buf.getvalue())).save(folder / "rotated.jpg", quality=95, exif=exif.tobytes())
    stored = np.asarray(Image.open(folder / "rotated.jpg").convert("RGB"))
    files["exif_jpeg"] = (folder / "rotated.jpg", np.rot90(stored, k=-1))
    assert stored.shape == upright.shape  # the file stores pixels landscape; it displays portrait
    return files


def test_decoder_handles_alpha_palette_16bit_exif(tmp_path):
    for name, (path, expected) in _awkward_files(tmp_path).items():
        np.testing.assert_array_equal(load_rgb_uint8(path), expected, err_msg=name)


@pytest.fixture(scope="module")
def convnet():
    return F.load_backbone("convnet_random_seed0")


def test_same_features_as_input_target_and_reference(convnet, tmp_path):
    """The evaluator's input/target path (run_inference) and the reference path give identical features."""
    from evaluator.data.images import to_uint8
    from evaluator.evaluate import Stopwatch, TestSet, run_inference

    files = _awkward_files(tmp_path)
    rel = [p.name for p, _ in files.values()]

    class IdentityModel:  # outputs = inputs, so output features are the features of the decoded inputs
        def predict(self, inputs):
            return inputs[0]

    tests = TestSet(inputs=rel, styles=None, targets=rel, reference_folder="test/A_target", reference=rel,
                    train_reference=[])
    track = SimpleNamespace(id="t", kind="paired", metrics=["psnr", "kid"])
    got = run_inference(IdentityModel(), convnet, tmp_path, tests, track, 1, Stopwatch())
    as_input = np.concatenate(got.out_feats)
    key = {"manifest_sha256": "c" * 64, "folder": "test/A_target", "split": "public", "image_size": 0}
    with pytest.warns(UserWarning, match="JPEG"):
        as_reference = F.reference_features(convnet, [tmp_path / r for r in rel], key, tmp_path / "cache")
    np.testing.assert_array_equal(as_input, as_reference)
    expected = np.concatenate([convnet.features(to_uint8(e[None] / 127.5 - 1.0)).pool for _, e in files.values()])
    np.testing.assert_allclose(as_reference, expected, rtol=0, atol=1e-6)
    # identical decode as target: the output (= decoded input) matches its target exactly
    assert np.all(np.concatenate(got.per_image["psnr"]) == 100.0)


def test_no_second_decoder_in_the_evaluator():
    """Only evaluator/data/images.py turns image files into pixels (site_build only reads a PNG's size)."""
    offenders = []
    for path in (REPO / "evaluator").rglob("*.py"):
        text = path.read_text()
        if path.name == "images.py" and path.parent.name == "data":
            continue
        decodes = re.search(r"Image\.open\([^)]*\)\s*as\s+\w+:\s*\n\s*return np", text)
        if re.search(r"\.convert\(\s*[\"']RGB", text) or decodes:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
    assert not hasattr(F, "load_image_uint8")
