"""``inception_fid``: the original FID network, the 2015-12-05 Inception frozen GraphDef.

``classify_image_graph_def.pb`` from ``inception-2015-12-05.tgz`` is the graph
TTUR, TF-GAN, pytorch-fid and clean-fid reproduce; ``pool_3`` gives 2048-d
features. It is read from the cache and checked against its public record
(size + md5) or an organizer's sha256 pin before TensorFlow parses it. When it
is absent, the offline stand-in ``inception_v3_random_seed0`` is used with a
loud warning, and every result says so.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import EaselError
from ...fsutil import sha256_bytes
from ..registry import Backbone, BackboneSpec, LoadRequest
from ..weights import load_offline_standin, md5_hex, pinned_sha256, read_tar_member

INCEPTION_FID_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
INCEPTION_FID_MEMBER = "classify_image_graph_def.pb"
# No sha256 of the graph has been published. Its public record is its size
# (95,673,916 bytes, the same in two independent records) and
# its md5, the way Keras pins its own weights: an md5 second preimage of a file
# made in 2015 is out of reach, so size + md5 identify it. An organizer may add
# a sha256 pin on top (EASEL_INCEPTION_FID_SHA256, or this constant), which then
# replaces the record check; every result records the file's sha256 either way.
INCEPTION_FID_BYTES = 95_673_916
INCEPTION_FID_MD5 = "e6bb154e85f5d4331c22abcddb5dcf31"
INCEPTION_FID_SHA256: str | None = None
INCEPTION_FID_SHA256_ENV = "EASEL_INCEPTION_FID_SHA256"
STANDIN_ID = "inception_v3_random_seed0"


def verify_inception_fid(data: bytes, sha256_pin: str | None) -> str:
    """The sha256 of ``data`` once it is known to be the 2015-12-05 FID graph, else E_WEIGHTS_HASH.

    With a sha256 pin the file must match it; without one it must match the
    public record (:data:`INCEPTION_FID_BYTES` bytes, md5 :data:`INCEPTION_FID_MD5`).
    """
    digest = sha256_bytes(data)
    if sha256_pin is not None:
        if digest != sha256_pin:
            raise EaselError("E_WEIGHTS_HASH", f"inception_fid: {INCEPTION_FID_MEMBER} has sha256 {digest}, "
                             f"expected the pinned {sha256_pin}", detail="inception_fid")
        return digest
    md5 = md5_hex(data)
    if len(data) != INCEPTION_FID_BYTES or md5 != INCEPTION_FID_MD5:
        raise EaselError("E_WEIGHTS_HASH", f"inception_fid: {INCEPTION_FID_MEMBER} is {len(data)} bytes with md5 "
                         f"{md5}; the published 2015-12-05 graph is {INCEPTION_FID_BYTES} bytes with md5 "
                         f"{INCEPTION_FID_MD5}. If another trusted source vouches for this file, pin its sha256 "
                         f"with {INCEPTION_FID_SHA256_ENV}={digest}", detail="inception_fid")
    return digest


def upgrade_deprecated_ops(graph_def):
    """A copy of ``graph_def`` with each BatchNormWithGlobalNormalization node rewritten as current ops.

    The 2015 graph (GraphDef producer < 9) uses that op, which TensorFlow
    still runs in the graph's own version but refuses to re-create in a
    current graph, as pruning a wrapped function does. The rewrite keeps the
    node's name and the kernel's arithmetic: (t - m) * (rsqrt(v + eps) [* gamma]) + beta.
    """
    import tensorflow as tf

    upgraded = tf.compat.v1.GraphDef()
    upgraded.CopyFrom(graph_def)
    del upgraded.node[:]
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            upgraded.node.add().CopyFrom(node)
            continue
        t, mean, var, beta, gamma = node.input
        dtype = node.attr["T"]

        def add(suffix, op, inputs):
            new = upgraded.node.add(name=node.name + suffix, op=op, input=inputs, device=node.device)
            new.attr["T"].CopyFrom(dtype)
            return new.name

        eps = upgraded.node.add(name=node.name + "/_eps", op="Const", device=node.device)
        eps.attr["dtype"].type = dtype.type
        eps.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(node.attr["variance_epsilon"].f,
                                                               tf.as_dtype(dtype.type)))
        scale = add("/_rsqrt", "Rsqrt", [add("/_var_eps", "AddV2", [var, eps.name])])
        if node.attr["scale_after_normalization"].b:
            scale = add("/_scale", "Mul", [scale, gamma])
        scaled = add("/_scaled", "Mul", [add("/_centred", "Sub", [t, mean]), scale])
        add("", "AddV2", [scaled, beta])
    return upgraded


def load(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    """The frozen FID graph, its input ``ExpandDims:0`` mapped to a [None, S, S, 3] float input in 0..255."""
    path = request.root / spec.weights_file
    if not path.is_file():
        return load_offline_standin(
            spec, request, path, STANDIN_ID, "random weights",
            "Its FID/KID are NOT comparable with published numbers.",
            "Run `easel weights fetch` where there is a network, or `easel weights fetch --archive FILE` with a "
            "copy of the archive.")
    data = path.read_bytes()
    digest = verify_inception_fid(data, request.expected_sha256 or pinned_sha256(spec.id))
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - a protobuf decode error of a verified file
        raise EaselError("E_BACKBONE", f"{spec.id}: not a GraphDef ({type(exc).__name__})", detail=spec.id) from None
    graph_def = upgrade_deprecated_ops(graph_def)
    fetch = ["pool_3:0", *spec.map_names]

    def imported(x):
        return tf.compat.v1.import_graph_def(graph_def, input_map={"ExpandDims:0": x}, return_elements=fetch,
                                             name="fid")

    try:
        wrapped = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, spec.input_size, spec.input_size, 3],
                                                                       tf.float32)])
        # Prune to the fetched tensors: the graph's own head reshapes to batch 1.
        fn = wrapped.prune(wrapped.inputs[0], [wrapped.graph.get_tensor_by_name(f"fid/{t}") for t in fetch])
    except (ValueError, KeyError, tf.errors.OpError) as exc:
        raise EaselError("E_BACKBONE", f"{spec.id}: graph lacks the expected tensors ({exc})"[:300],
                         detail=spec.id) from None
    return Backbone(spec, request.resize, digest, lambda x: fn(tf.constant(x)))


def fetch(spec: BackboneSpec, archive: Path) -> bytes:
    """The graph out of ``inception-2015-12-05.tgz``, only once :func:`verify_inception_fid` accepts it."""
    import sys

    data = read_tar_member(spec, archive, INCEPTION_FID_MEMBER)
    digest = verify_inception_fid(data, pinned_sha256(spec.id))
    print(f"{spec.id}: {INCEPTION_FID_MEMBER} sha256 {digest}", file=sys.stderr)
    return data


SPEC = BackboneSpec(
    id="inception_fid", input_size=299, pool_dim=2048, offline_standin=False, load=load, fetch=fetch,
    weights_sha256=INCEPTION_FID_SHA256, sha256_env=INCEPTION_FID_SHA256_ENV,
    description="Original FID Inception (2015-12-05 frozen graph), pool_3 2048-d: the standard for FID/KID.",
    map_names=("mixed/join:0", "mixed_4/join:0", "mixed_8/join:0"),
    weights_file=f"inception_fid/{INCEPTION_FID_MEMBER}", url=INCEPTION_FID_URL)
