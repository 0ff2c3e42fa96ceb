"""Backbones: batch independence, resize modes, the FID-graph path with a synthetic graph, caches, CLI."""

import argparse
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from evaluator import features as F
from evaluator.features import commands as FC
from evaluator.features import reference as FR
from evaluator.features import registry as FREG
from evaluator.features import weights as FW
from evaluator.features.backends import inception_fid as FID
from evaluator.features.backends import keras_imagenet as FK
from evaluator.errors import EaselError
from evaluator.fsutil import sha256_file


@pytest.fixture(scope="module")
def convnet():
    return F.load_backbone("convnet_random_seed0")


def _images(n, size=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_convnet_batch_independent_and_recorded(convnet):
    x = _images(16)
    full = convnet.features(x)
    single = [convnet.features(x[i:i + 1]) for i in range(16)]
    np.testing.assert_allclose(np.concatenate([s.pool for s in single]), full.pool, atol=1e-5, rtol=0)
    for k in range(3):
        np.testing.assert_allclose(np.concatenate([s.maps[k] for s in single]), full.maps[k], atol=1e-5, rtol=0)
    assert full.pool.shape == (16, 256) and full.pool.dtype == np.float32
    assert [m.shape[1:3] for m in full.maps] == [(32, 32), (16, 16), (8, 8)]
    assert convnet.weights_sha256 == F.BACKBONES["convnet_random_seed0"].weights_sha256
    assert convnet.offline_standin and convnet.describe()["id"] == "convnet_random_seed0"
    assert full.pool.std() > 1e-3  # not a degenerate (all-equal) feature


def test_seeded_weights_match_numpy_by_hand():
    got = F.seeded_weights([("c/kernel", (3, 3, 2, 4)), ("bn/moving_variance", (4,)), ("c/bias", (4,))], seed=0)
    expected = (np.random.default_rng(0).standard_normal((3, 3, 2, 4)) * np.sqrt(2 / 18)).astype(np.float32)
    np.testing.assert_array_equal(got[0], expected)
    np.testing.assert_array_equal(got[1], np.ones(4, np.float32))
    np.testing.assert_array_equal(got[2], np.zeros(4, np.float32))


def _pil_bicubic_matrix(n_in, n_out):
    """PIL's resampling weights (bicubic a=-0.5, support widened when shrinking), written out by hand."""
    def cubic(x, a=-0.5):
        x = abs(x)
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0

    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = 2.0 * fscale
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
        w = np.array([cubic((x + lo - center + 0.5) / fscale) for x in range(hi - lo)])
        m[i, lo:hi] = w / w.sum()
    return m


@pytest.mark.parametrize("h,w,size", [(40, 30, 64), (96, 80, 64)])
def test_clean_resize_is_float_bicubic_not_requantized(h, w, size):
    x = np.random.default_rng(1).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    out = F.resize_images(x, size, "clean")
    assert out.dtype == np.float32 and out.shape == (2, size, size, 3)
    assert np.any(out != np.round(out))  # no re-quantization
    mv, mh = _pil_bicubic_matrix(h, size), _pil_bicubic_matrix(w, size)
    manual = np.clip(np.einsum("ij,bjkc,lk->bilc", mv, x.astype(np.float64), mh), 0, 255)
    np.testing.assert_allclose(out, manual, atol=2e-3)


def test_legacy_resize_matches_manual_bilinear():
    x = _images(1, size=5, seed=2)[:, :, :4]  # 5 x 4 -> 8 x 8
    out = F.resize_images(list(x), 8, "legacy_tensorflow")[0]
    src = x[0].astype(np.float64)
    h, w = src.shape[:2]
    manual = np.zeros((8, 8, 3))
    for i in range(8):
        for j in range(8):
            y, xx = i * h / 8, j * w / 8  # align_corners=False, no half-pixel centres
            y0, x0 = int(np.floor(y)), int(np.floor(xx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, xx - x0
            manual[i, j] = ((1 - dy) * (1 - dx) * src[y0, x0] + (1 - dy) * dx * src[y0, x1]
                            + dy * (1 - dx) * src[y1, x0] + dy * dx * src[y1, x1])
    np.testing.assert_allclose(out, manual, atol=1e-3)


def _fid_graph_bytes() -> bytes:
    """A tiny frozen GraphDef shaped like the 2015 graph where it matters to the loader.

    Same tensor names (DecodeJpeg -> ExpandDims -> ResizeBilinear, mixed*/join
    as Concat, pool_3 then a batch-1 reshape head), GraphDef producer 5 and
    the BatchNormWithGlobalNormalization op that current TensorFlow refuses to
    create (edited into the GraphDef, as it cannot be built with today's ops).
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    batchnorms = []
    g = tf.Graph()
    with g.as_default():
        img = tf.compat.v1.placeholder(tf.uint8, [None, None, 3], name="DecodeJpeg")
        x = tf.expand_dims(tf.cast(img, tf.float32), 0, name="ExpandDims")
        x = tf.compat.v1.image.resize_bilinear(x, [299, 299])
        h = (x - 128.0) / 128.0

        def const(shape, scale=1.0, offset=0.0):
            return tf.constant((rng.standard_normal(shape) * scale + offset).astype(np.float32))

        def conv_bn(h, cin, cout, stride, scope, scale_after):
            with tf.name_scope(scope):
                c = tf.nn.conv2d(h, const((3, 3, cin, cout), 0.3), stride, "SAME", name="conv")
                params = [const(cout), tf.abs(const(cout)) + 0.5, const(cout), const(cout, 0.1, 1.0)]
                bn = tf.identity(c, name="batchnorm")  # becomes the deprecated op below
                batchnorms.append((bn.op.name, [c.op.name] + [p.op.name for p in params], scale_after))
                return tf.nn.relu(bn)

        def mixed(h, cin, cout, stride, scope):
            a = conv_bn(h, cin, cout // 2, stride, scope + "/a", True)
            b = conv_bn(h, cin, cout - cout // 2, stride, scope + "/b", False)
            return tf.raw_ops.Concat(concat_dim=3, values=[a, b], name=scope + "/join")

        m0 = mixed(h, 3, 8, 4, "mixed")
        m4 = mixed(m0, 8, 16, 2, "mixed_4")
        m8 = mixed(m4, 16, 32, 2, "mixed_8")
        top = mixed(m8, 32, 2048, 1, "mixed_10")
        pool = tf.nn.avg_pool2d(top, ksize=19, strides=1, padding="VALID", name="pool_3")
        tf.nn.softmax(tf.reshape(pool, [1, 2048], name="pool_3/_reshape"), name="softmax")  # batch-1 head
    graph_def = g.as_graph_def()
    nodes = {n.name: n for n in graph_def.node}
    for name, inputs, scale_after in batchnorms:
        node = nodes[name]
        node.op = "BatchNormWithGlobalNormalization"
        del node.input[:]
        node.input.extend(inputs)
        node.attr.clear()
        node.attr["T"].type = tf.float32.as_datatype_enum
        node.attr["variance_epsilon"].f = 0.001
        node.attr["scale_after_normalization"].b = scale_after
    graph_def.versions.producer = 5
    return graph_def.SerializeToString()


@pytest.fixture(scope="module")
def fid_graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    path = root / F.BACKBONES["inception_fid"].weights_file
    path.parent.mkdir(parents=True)
    path.write_bytes(_fid_graph_bytes())
    return root, sha256_file(path)


def test_inception_fid_graph_path_matches_session_run(fid_graph):
    import tensorflow as tf

    root, digest = fid_graph
    bb = F.load_backbone("inception_fid", cache_dir=root, expected_sha256=digest)
    assert (bb.id, bb.weights_sha256, bb.offline_standin) == ("inception_fid", digest, False)
    x = _images(3, size=32, seed=3)
    got = bb.features(x)
    assert got.pool.shape == (3, 2048) and [m.shape[-1] for m in got.maps] == [8, 16, 32]
    resized = F.resize_images(x, 299, "clean")
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((root / F.BACKBONES["inception_fid"].weights_file).read_bytes())
    assert "BatchNormWithGlobalNormalization" in {n.op for n in graph_def.node}
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")  # the graph's own ops, at its own version
        with tf.compat.v1.Session(graph=g) as sess:
            for i in range(3):  # the original graph, one image at a time as TTUR feeds it
                pool, m8 = sess.run(["pool_3:0", "mixed_8/join:0"], {"ExpandDims:0": resized[i:i + 1]})
                np.testing.assert_allclose(got.pool[i], pool.reshape(-1), rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(got.maps[2][i], m8[0], rtol=1e-5, atol=1e-5)


def test_inception_fid_accepted_by_its_public_record(fid_graph, monkeypatch):
    root, digest = fid_graph
    data = (root / F.BACKBONES["inception_fid"].weights_file).read_bytes()
    monkeypatch.delenv(F.INCEPTION_FID_SHA256_ENV, raising=False)
    with pytest.raises(EaselError) as exc:  # the synthetic graph is not the published one
        F.verify_inception_fid(data, None)
    assert exc.value.code == "E_WEIGHTS_HASH" and F.INCEPTION_FID_MD5 in exc.value.message
    import hashlib

    monkeypatch.setattr(FID, "INCEPTION_FID_BYTES", len(data))
    monkeypatch.setattr(FID, "INCEPTION_FID_MD5", hashlib.md5(data).hexdigest())
    assert F.verify_inception_fid(data, None) == digest
    with pytest.raises(EaselError):  # same size, one byte changed
        F.verify_inception_fid(data[:-1] + bytes([data[-1] ^ 1]), None)
    with pytest.raises(EaselError):  # a sha256 pin, where set, is what decides
        F.verify_inception_fid(data, "0" * 64)
    monkeypatch.setattr(FREG, "_LOADED", {})  # memoized loads made under this record stay in this test
    bb = F.load_backbone("inception_fid", cache_dir=root)
    assert bb.id == "inception_fid" and bb.weights_sha256 == digest


def test_inception_fid_refusals(fid_graph, tmp_path, monkeypatch):
    root, digest = fid_graph
    with pytest.raises(EaselError) as exc:
        F.load_backbone("inception_fid", cache_dir=root, expected_sha256="0" * 64)
    assert exc.value.code == "E_WEIGHTS_HASH"
    monkeypatch.delenv(F.INCEPTION_FID_SHA256_ENV, raising=False)
    with pytest.raises(EaselError) as exc:  # present, unpinned, and not the published graph: refused
        F.load_backbone("inception_fid", cache_dir=root)
    assert exc.value.code == "E_WEIGHTS_HASH" and str(F.INCEPTION_FID_BYTES) in exc.value.message
    with pytest.raises(EaselError) as exc:
        F.load_backbone("inception_fid", cache_dir=tmp_path, allow_offline_standin=False)
    assert exc.value.code == "E_BACKBONE"
    with pytest.raises(EaselError) as exc:  # Keras' ImageNet weights: only where they were fetched
        F.load_backbone("keras_inception_v3_imagenet", cache_dir=tmp_path)
    assert exc.value.code == "E_BACKBONE"


def test_keras_imagenet_backbone_loads_its_h5_checked_by_md5(tmp_path, monkeypatch):
    """Keras' ImageNet InceptionV3 path, on a file laid out like Keras' notop .h5 (random weights)."""
    import hashlib

    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    spec = F.BACKBONES["keras_inception_v3_imagenet"]
    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3))
    path = tmp_path / spec.weights_file
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as handle:  # the legacy format Keras' own download uses
        legacy_h5_format.save_weights_to_hdf5_group(handle, net)
    with pytest.raises(EaselError) as exc:  # not Keras' file: refused before Keras reads it
        F.load_backbone(spec.id, cache_dir=tmp_path)
    assert exc.value.code == "E_WEIGHTS_HASH"
    monkeypatch.setattr(FK, "KERAS_INCEPTION_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    bb = F.load_backbone(spec.id, cache_dir=tmp_path)
    assert (bb.id, bb.offline_standin, bb.weights_sha256) == (spec.id, False, sha256_file(path))
    x = _images(2, size=32, seed=9)
    got = bb.features(x)
    expected = net(F.resize_images(x, 299, "clean") / 127.5 - 1.0, training=False).numpy()
    np.testing.assert_allclose(got.pool, expected, rtol=1e-4, atol=1e-5)
    assert [m.shape[1:] for m in got.maps] == [(35, 35, 256), (17, 17, 768), (8, 8, 1280)]


def test_offline_standin_is_loud_recorded_and_batch_independent(tmp_path):
    with pytest.warns(RuntimeWarning, match="OFFLINE STAND-IN"):
        bb = F.load_backbone("inception_fid", cache_dir=tmp_path)
    assert bb.id == "inception_v3_random_seed0" and bb.requested_id == "inception_fid"
    assert bb.offline_standin and bb.weights_sha256 == F.INCEPTION_V3_RANDOM_SEED0_SHA256
    assert F.load_backbone("inception_v3_random_seed0").requested_id == "inception_v3_random_seed0"
    x = _images(3, size=32, seed=4)
    both = bb.features(x)
    one = np.concatenate([bb.features(x[i:i + 1], maps=False).pool for i in range(3)])
    assert both.pool.shape == (3, 2048)
    np.testing.assert_allclose(one, both.pool, atol=1e-5 * max(1.0, np.abs(both.pool).max()), rtol=0)


def test_extract_features_streams(convnet):
    x = _images(10, seed=5)
    consumed = []

    def gen():
        for s in range(0, 10, 4):
            consumed.append(s)
            yield x[s:s + 4]

    got = F.extract_features(convnet, gen(), n=10)
    np.testing.assert_allclose(got, convnet.features(x).pool, atol=1e-5)
    assert consumed == [0, 4, 8]
    np.testing.assert_allclose(F.extract_features(convnet, iter([x[:3], x[3:]])), got, atol=1e-5)
    with pytest.raises(ValueError):
        F.extract_features(convnet, iter([x]), n=9)


def test_reference_features_cached_and_reused(convnet, tmp_path, monkeypatch):
    paths = []
    for i, img in enumerate(_images(5, size=40, seed=6)):
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(img).save(paths[-1])
    key = {"manifest_sha256": "a" * 64, "folder": "test/B", "split": "public", "image_size": 40}
    first = F.reference_features(convnet, paths, key, tmp_path / "cache")
    expected = convnet.features(np.stack([np.asarray(Image.open(p)) for p in paths])).pool
    np.testing.assert_allclose(first, expected, atol=1e-5)
    assert len(list((tmp_path / "cache" / "features").glob("ref-*.npz"))) == 1

    def no_reads(path):
        raise AssertionError("images were read again instead of the cache")

    monkeypatch.setattr(FR, "load_rgb_uint8", no_reads)
    np.testing.assert_array_equal(F.reference_features(convnet, paths, dict(key), tmp_path / "cache"), first)
    with pytest.raises(AssertionError):  # another split is another key
        F.reference_features(convnet, paths, {**key, "split": "private"}, tmp_path / "cache")
    with pytest.raises(ValueError):
        F.reference_features(convnet, paths, {**key, "backbone": "inception_fid"}, tmp_path / "cache")


def test_jpeg_reference_warns(convnet, tmp_path):
    path = tmp_path / "a.jpg"
    Image.fromarray(_images(1, seed=7)[0]).save(path)
    key = {"manifest_sha256": "b" * 64, "folder": "test/B", "split": "public", "image_size": 48}
    with pytest.warns(UserWarning, match="JPEG"):
        F.reference_features(convnet, [path], key, tmp_path / "cache")


def _cli(argv):
    parser = argparse.ArgumentParser()
    FC.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_weights_fetch_verifies_pin_offline(fid_graph, tmp_path, monkeypatch, capsys):
    root, digest = fid_graph
    pb = (root / F.BACKBONES["inception_fid"].weights_file).read_bytes()
    archive = tmp_path / "inception-2015-12-05.tgz"  # the archive as the real URL serves it, built locally
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(F.INCEPTION_FID_MEMBER)
        info.size = len(pb)
        tar.addfile(info, io.BytesIO(pb))

    def fake_download(url, dest):
        assert url == F.INCEPTION_FID_URL
        dest.write_bytes(archive.read_bytes())

    monkeypatch.setattr(FW, "_download", fake_download)
    monkeypatch.setenv(F.INCEPTION_FID_SHA256_ENV, "1" * 64)
    with pytest.raises(EaselError) as exc:
        F.fetch_weights("inception_fid", tmp_path / "c1")
    assert exc.value.code == "E_WEIGHTS_HASH" and not (tmp_path / "c1").exists()
    monkeypatch.delenv(F.INCEPTION_FID_SHA256_ENV)
    with pytest.raises(EaselError) as exc:  # unpinned: must be the published graph
        F.fetch_weights("inception_fid", tmp_path / "c1")
    assert exc.value.code == "E_WEIGHTS_HASH" and not (tmp_path / "c1").exists()
    monkeypatch.setenv(F.INCEPTION_FID_SHA256_ENV, digest)
    assert _cli(["weights", "fetch", "--cache", str(tmp_path / "c2")]) == 0
    assert sha256_file(tmp_path / "c2" / F.BACKBONES["inception_fid"].weights_file) == digest
    assert digest in capsys.readouterr().err
    monkeypatch.delenv(F.INCEPTION_FID_SHA256_ENV)
    monkeypatch.setattr(FID, "INCEPTION_FID_BYTES", len(pb))
    monkeypatch.setattr(FID, "INCEPTION_FID_MD5", __import__("hashlib").md5(pb).hexdigest())
    monkeypatch.setattr(FW, "_download", None)  # --archive: no network use at all
    assert _cli(["weights", "fetch", "--cache", str(tmp_path / "c3"), "--archive", str(archive)]) == 0
    assert sha256_file(tmp_path / "c3" / F.BACKBONES["inception_fid"].weights_file) == digest
    (tmp_path / "broken.tgz").write_bytes(archive.read_bytes()[:100])
    for bad in (tmp_path / "broken.tgz", tmp_path / "absent.tgz"):
        with pytest.raises(EaselError) as exc:
            F.fetch_weights("inception_fid", tmp_path / "c4", archive=bad)
        assert exc.value.code == "E_BACKBONE" and not (tmp_path / "c4").exists()
    assert _cli(["weights", "fetch", "--backbone", "convnet_random_seed0", "--cache", str(tmp_path)]) == 0
    assert _cli(["weights", "list", "--cache", str(tmp_path / "c2")]) == 0
    out = capsys.readouterr().out
    assert "nothing to fetch" in out
    listing = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in F.BACKBONES}
    assert "present" in listing["inception_fid"] and "absent" in listing["keras_inception_v3_imagenet"]
    assert "offline stand-in" in listing["inception_v3_random_seed0"]
