"""FD-DINOv2 and CMMD: their math against independent computations, their backbones' layouts against
the references, the checkpoint reader against files PyTorch wrote, and their intervals.

The fixtures in tests/fixtures/ (dinov2_tiny.pth, clip_tiny.pt, vit_tiny.npz) were written once by
tools/write_vit_fixtures.py with PyTorch 2.13 (torch.save, torch.jit.save and
torch.nn.functional.interpolate); PyTorch is not needed to run these tests.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from evaluator import metrics as M
from evaluator import scoring as S
from evaluator.errors import EaselError
from evaluator.features import torch_checkpoint
from evaluator.features.backends import vit, vit_backbones

FIXTURES = Path(__file__).parent / "fixtures"
DINO_TINY = vit.ViTConfig("dinov2", 28, 14, 8, 1, 2, 16, 3, 8)  # as tools/write_vit_fixtures.py
CLIP_TINY = vit.ViTConfig("clip", 28, 14, 8, 1, 2, 16, 2, 4)


# --- CMMD math --------------------------------------------------------------------------

def textbook_cmmd(x, y, sigma=10.0, scale=1000.0):
    """The biased MMD² of Gretton et al. 2012 (Eq. 5) with a Gaussian kernel, written out with loops."""
    x = [np.asarray(v, float) / math.sqrt(sum(t * t for t in v)) for v in x]
    y = [np.asarray(v, float) / math.sqrt(sum(t * t for t in v)) for v in y]

    def k(a, b):
        return math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * sigma * sigma))

    kxx = sum(k(a, b) for a in x for b in x) / len(x) ** 2
    kyy = sum(k(a, b) for a in y for b in y) / len(y) ** 2
    kxy = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
    return scale * (kxx + kyy - 2 * kxy)


def test_cmmd_matches_the_textbook_formula():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((7, 5)) * 3, rng.standard_normal((4, 5)) + 1
    assert M.cmmd(x, y) == pytest.approx(textbook_cmmd(x, y), rel=1e-12)


def test_cmmd_closed_forms():
    # Two orthogonal unit vectors, one per set: 1000 (1 + 1 - 2 exp(-2 / 200)).
    assert M.cmmd(np.array([[1.0, 0.0]]), np.array([[0.0, 5.0]])) == pytest.approx(1000 * (2 - 2 * math.exp(-0.01)))
    x = np.random.default_rng(0).standard_normal((6, 3))
    assert M.cmmd(x, x) == pytest.approx(0.0, abs=1e-12)
    assert M.cmmd(x, 3.0 * x) == pytest.approx(0.0, abs=1e-12)  # embeddings are L2-normalised first


def test_cmmd_resample_is_the_formula_on_the_resampled_rows():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((9, 4)), rng.standard_normal((6, 4))
    boot = M.CmmdBootstrap(x, y)
    assert boot(np.arange(9), np.arange(6)) == pytest.approx(M.cmmd(x, y), rel=1e-12)
    rows_x, rows_y = rng.integers(0, 9, 9), rng.integers(0, 6, 6)
    assert boot(rows_x, rows_y) == pytest.approx(textbook_cmmd(x[rows_x], y[rows_y]), rel=1e-10)


@pytest.mark.parametrize("paired", [False, True])
def test_fd_dinov2_and_cmmd_intervals_follow_the_track_kind_and_stay_in_range(paired):
    rng = np.random.default_rng(5)
    ref = rng.standard_normal((40, 6))
    out = ref + 0.3 * rng.standard_normal((40, 6)) if paired else rng.standard_normal((40, 6)) + 0.5
    dino, clip = S.FeatureSet(out, ref), S.FeatureSet(out[:, :4], ref[:, :4])
    sample = S.TrackSample(None, None, sets={"d": dino, "c": clip}, backbone_of={"fd_dinov2": "d", "cmmd": "c"},
                           paired=paired)
    res, _ = S.score_track(["fd_dinov2", "cmmd"], sample, n_resamples=60)
    assert res["fd_dinov2"]["value"] == pytest.approx(M.frechet_distance(out, ref))
    assert res["cmmd"]["value"] == pytest.approx(M.cmmd(out[:, :4], ref[:, :4]))
    for name, high in (("fd_dinov2", math.inf), ("cmmd", 2000.0)):
        lo, hi = res[name]["ci95"]
        assert 0.0 <= lo <= res[name]["value"] <= hi <= high
    # Paired tracks resample (output, target) rows together: by hand, the same draw for both sides.
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 40, 40)
    other = rows if paired else rng.integers(0, 40, 40)
    boot = M.CmmdBootstrap(out[:, :4], ref[:, :4], paired=paired)
    assert boot(rows, other) == pytest.approx(M.cmmd(out[rows, :4], ref[other, :4]), rel=1e-9)


# --- the backbones' layouts and the reader ------------------------------------------------

def test_full_size_layouts_match_the_reference_parameter_counts():
    counts = {name: sum(int(np.prod(shape)) for _, shape in vit.shapes(cfg)) for name, cfg in vit.LAYOUTS.items()}
    # DINOv2 ViT-L/14: 304,368,640 parameters in Meta's state dict, of which mask_token (1024) is
    # used only in training; CLIP ViT-L/14@336px's image tower (`visual.*`): 304,293,888.
    assert counts == {"dinov2_vitl14": 304_368_640 - 1024, "clip_vitl14_336": 304_293_888}
    dino = dict(vit.shapes(vit.LAYOUTS["dinov2_vitl14"]))
    assert dino["pos_embed"] == (1, 1 + 37 * 37, 1024) and dino["blocks.23.ls2.gamma"] == (1024,)
    clip = dict(vit.shapes(vit.LAYOUTS["clip_vitl14_336"]))
    assert clip["visual.positional_embedding"] == (577, 1024) and clip["visual.proj"] == (1024, 768)


def test_position_embeddings_interpolated_as_pytorch_does():
    golden = np.load(FIXTURES / "vit_tiny.npz")
    got = vit.interpolate_pos_embed(golden["pos/in"], 37, 16)
    np.testing.assert_allclose(got, golden["pos/out"], rtol=0, atol=1e-5)


def test_checkpoints_read_without_pickled_code_match_what_pytorch_saved():
    golden = np.load(FIXTURES / "vit_tiny.npz")
    dino = torch_checkpoint.flat_parameters(torch_checkpoint.read_torch_checkpoint(FIXTURES / "dinov2_tiny.pth"))
    clip = torch_checkpoint.flat_parameters(torch_checkpoint.read_torch_checkpoint(FIXTURES / "clip_tiny.pt"))
    for prefix, params, cfg in (("dino", dino, DINO_TINY), ("clip", clip, CLIP_TINY)):
        ordered = vit.check_weights(cfg, params, prefix)
        for (name, _), array in zip(vit.shapes(cfg), ordered):
            np.testing.assert_array_equal(array, golden[f"{prefix}/{name}"], err_msg=name)
    assert clip["visual.conv1.weight"].dtype == np.float16  # as in OpenAI's file; cast to float32 on load


def test_a_missing_weight_fails_loudly():
    params = torch_checkpoint.flat_parameters(torch_checkpoint.read_torch_checkpoint(FIXTURES / "dinov2_tiny.pth"))
    del params["blocks.0.ls1.gamma"]
    with pytest.raises(EaselError, match="blocks.0.ls1.gamma missing"):
        vit.check_weights(DINO_TINY, params, "dinov2_tiny.pth")
    params["blocks.0.ls1.gamma"] = np.ones(7, np.float32)
    with pytest.raises(EaselError, match=r"has shape \(7,\), expected \(8,\)"):
        vit.check_weights(DINO_TINY, params, "dinov2_tiny.pth")


def test_a_checkpoint_naming_other_code_is_refused(tmp_path):
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(EaselError, match=r"print, which a weights file does not need; refused without running it"):
        torch_checkpoint.read_torch_checkpoint(path)


def _hand_pickled_archive(path, size):
    """A zip checkpoint whose data.pkl (opcodes written by hand, no torch) holds one float tensor of ``size``
    elements on a storage of 4 floats."""
    import struct
    import zipfile

    def text(value):
        raw = value.encode()
        return b"X" + struct.pack("<I", len(raw)) + raw

    storage = b"(" + text("storage") + b"ctorch\nFloatStorage\n" + text("0") + text("cpu") + b"K\x04tQ"
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K\x00K" + bytes([size]) + b"\x85K\x01\x85tR")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hand/data.pkl", b"\x80\x02}" + text("w") + tensor + b"s.")
        archive.writestr("hand/data/0", np.arange(4, dtype="<f4").tobytes())


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    _hand_pickled_archive(tmp_path / "ok.pth", 4)
    assert np.array_equal(torch_checkpoint.read_torch_checkpoint(tmp_path / "ok.pth")["w"], np.arange(4))
    _hand_pickled_archive(tmp_path / "long.pth", 8)  # would read 16 bytes of whatever follows the storage
    with pytest.raises(EaselError, match="reaches past the end of its storage"):
        torch_checkpoint.read_torch_checkpoint(tmp_path / "long.pth")


def test_the_tiny_vits_run_and_differ_by_flavour():
    images = np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 3)).astype(np.float32)
    for cfg in (DINO_TINY, CLIP_TINY):
        weights = vit.seeded_vit_weights(cfg)
        run = vit.build_forward(cfg, [weights[name] for name, _ in vit.shapes(cfg)])
        feats = run(images)[0].numpy()
        assert feats.shape == (3, cfg.out) and np.isfinite(feats).all()
        one = run(images[:1])[0].numpy()
        np.testing.assert_allclose(one, feats[:1], rtol=1e-5, atol=1e-5)  # batch size does not matter


def test_pins_and_stand_ins(tmp_path, monkeypatch):
    from evaluator.features import BACKBONES, load_backbone

    assert BACKBONES["clip_vitl14_336"].weights_sha256 == vit_backbones.CLIP_SHA256  # OpenAI's published sha256
    assert vit_backbones.CLIP_SHA256 in BACKBONES["clip_vitl14_336"].url
    with pytest.warns(RuntimeWarning, match="OFFLINE STAND-IN dinov2_vit_random_seed0"):
        standin = load_backbone("dinov2_vitl14", cache_dir=tmp_path)
    assert standin.id == "dinov2_vit_random_seed0" and standin.offline_standin
    assert standin.weights_sha256 == BACKBONES["dinov2_vit_random_seed0"].weights_sha256
    with pytest.raises(EaselError, match="E_BACKBONE"):
        load_backbone("clip_vitl14_336", cache_dir=tmp_path, allow_offline_standin=False)
    # DINOv2 without a published sha256: the published size, or the organizer's pin.
    fake = tmp_path / "dinov2_vitl14" / "dinov2_vitl14_pretrain.pth"
    fake.parent.mkdir()
    shutil.copy(FIXTURES / "dinov2_tiny.pth", fake)
    with pytest.raises(EaselError, match="1217586395 bytes"):
        vit_backbones.verify_file(BACKBONES["dinov2_vitl14"], fake, None)
    monkeypatch.setenv("EASEL_DINOV2_SHA256", "0" * 64)
    with pytest.raises(EaselError, match="E_WEIGHTS_HASH"):
        vit_backbones.verify_file(BACKBONES["dinov2_vitl14"], fake, None)
    digest = vit_backbones.file_sha256(fake)
    monkeypatch.setenv("EASEL_DINOV2_SHA256", digest)
    assert vit_backbones.verify_file(BACKBONES["dinov2_vitl14"], fake, None) == digest


def test_fetch_records_the_pin_on_first_fetch_and_load_refuses_a_changed_file(tmp_path, monkeypatch):
    """`weights fetch --archive` of a (tiny, re-pinned) DINOv2-format checkpoint: verified, recorded, loaded."""
    import dataclasses

    from evaluator.features import BACKBONES, LoadRequest, fetch_weights

    spec = BACKBONES["dinov2_vitl14"]
    source = tmp_path / "download.pth"
    shutil.copy(FIXTURES / "dinov2_tiny.pth", source)
    monkeypatch.setenv("EASEL_DINOV2_SHA256", vit_backbones.file_sha256(source))
    monkeypatch.setitem(vit.LAYOUTS, "dinov2_vitl14", DINO_TINY)  # the tiny file stands for the full one
    cache = tmp_path / "cache"
    dest = fetch_weights("dinov2_vitl14", cache, archive=source)
    assert (dest.parent / (dest.name + ".sha256")).read_text().strip() == vit_backbones.file_sha256(source)
    tiny_spec = dataclasses.replace(spec, input_size=28, pool_dim=8)
    backbone = vit_backbones.load_reference(tiny_spec, LoadRequest(cache, "clean"))
    assert backbone.id == "dinov2_vitl14" and not backbone.offline_standin
    feats = backbone.features(np.zeros((2, 28, 28, 3), np.uint8)).pool
    assert feats.shape == (2, 8) and np.isfinite(feats).all()
    dest.write_bytes(dest.read_bytes() + b"\0")  # changed after the fetch
    monkeypatch.delenv("EASEL_DINOV2_SHA256")
    with pytest.raises(EaselError, match="E_WEIGHTS_HASH"):
        vit_backbones.load_reference(tiny_spec, LoadRequest(cache, "clean"))
