"""Backbone weights: pins, seeded generation, download, and installing a file already here (--archive).

Nothing here names a backbone: each spec says where its weights go, which
sha256 pins them (or which environment variable lets an organizer pin them)
and how a downloaded file becomes verified bytes (``spec.fetch``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cache import cache_root
from ..errors import EaselError
from ..fsutil import atomic_write_bytes
from ..vocab import HEX64_RE
from .registry import Backbone, BackboneSpec, LoadRequest, spec_of

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 200 << 20  # the largest weight file read out of an archive


def pinned_sha256(backbone_id: str) -> str | None:
    """The sha256 a backbone's weights must have: the spec's pin, else its organizer variable, else None."""
    spec = spec_of(backbone_id)
    pin = spec.weights_sha256
    if pin is None and spec.sha256_env:
        pin = os.environ.get(spec.sha256_env, "").strip().lower() or None
    if pin is not None and not HEX64_RE.match(pin):
        raise EaselError("E_WEIGHTS_HASH", f"{backbone_id}: the pinned sha256 is not 64 hex digits",
                         detail=backbone_id)
    return pin


def md5_hex(data: bytes) -> str:
    """md5 of ``data``: only for checking files against published md5 records (Keras, the 2015 graph)."""
    return hashlib.md5(data).hexdigest()  # noqa: S324 - a published record, not a security choice of ours


# --- weights generated from a seed ----------------------------------------------------

def seeded_weights(shapes: Sequence[tuple[str, tuple[int, ...]]], seed: int = 0) -> list[np.ndarray]:
    """Deterministic weights for (name, shape) pairs in order: float32 arrays.

    Kernels: He-normal (std √(2/fan_in)) from numpy's PCG64 in float64, cast to
    float32; BN moving variance and gamma 1; moving mean, beta and biases 0.
    Depends only on numpy's generator, so every machine gets the same bytes.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, shape in shapes:
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("moving_variance", "gamma"):
            out.append(np.ones(shape, np.float32))
        elif leaf in ("moving_mean", "beta", "bias"):
            out.append(np.zeros(shape, np.float32))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            out.append((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))
    return out


def weights_sha256(weights: Sequence[np.ndarray]) -> str:
    """sha256 of float32 little-endian weight bytes concatenated in order."""
    digest = hashlib.sha256()
    for w in weights:
        digest.update(np.ascontiguousarray(w, dtype="<f4").tobytes())
    return digest.hexdigest()


def check_generated(spec: BackboneSpec, digest: str) -> None:
    """Warn (loudly, once per load) when generated weights no longer hash to the spec's pin."""
    if spec.weights_sha256 and digest != spec.weights_sha256:
        message = (f"{spec.id}: generated weights hash {digest[:16]}... differs from the pinned "
                   f"{spec.weights_sha256[:16]}... (TF/Keras changed the architecture); results record the new hash")
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


# --- fetching -------------------------------------------------------------------------

def archive_hint(spec: BackboneSpec) -> str:
    """How to install the weights on a machine without network (named in every download failure)."""
    return (f"on a machine without network, download {spec.url} elsewhere and run "
            f"`easel weights fetch --backbone {spec.id} --archive FILE`")


def load_offline_standin(spec: BackboneSpec, request: LoadRequest, path: Path, standin_id: str, what: str,
                         consequence: str, fix: str) -> Backbone:
    """The seeded stand-in ``standin_id`` for ``spec``, whose weights are absent at ``path``, said loudly.

    The warning (logged, and a RuntimeWarning at the caller of load_backbone) reads
    "<id> weights not found at <path>: using the OFFLINE STAND-IN <standin> (<what>). <consequence> <fix>";
    the CLI shows each once. The backbone returned is a copy whose ``requested_id`` is ``spec.id``
    (the memoized stand-in keeps its own record). E_BACKBONE naming ``--archive`` when the request
    allows no stand-in. Call it directly from the spec's ``load`` (the warning's stack level counts on it).
    """
    import copy

    from .registry import load_backbone

    if not request.allow_offline_standin:
        raise EaselError("E_BACKBONE", f"{spec.id} weights not found at {path}; {archive_hint(spec)}",
                         detail=spec.id)
    message = (f"{spec.id} weights not found at {path}: using the OFFLINE STAND-IN {standin_id} ({what}). "
               f"{consequence} {fix}")
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)  # 1 here, 2 the spec's load, 3 load_backbone
    backbone = copy.copy(load_backbone(standin_id, request.resize, request.root))
    backbone.requested_id = spec.id
    return backbone


def _download(url: str, dest: Path) -> None:
    import urllib.request

    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as handle:  # noqa: S310 - pinned URL
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                handle.write(chunk)
                bar.update(len(chunk))


def read_tar_member(spec: BackboneSpec, archive: Path, member_name: str) -> bytes:
    """The bytes of the regular member named ``member_name`` (at any depth) of a .tgz, at most 200 MB."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if Path(m.name).name == member_name), None)
            if member is None or not member.isfile() or member.size > MAX_MEMBER_BYTES:
                raise EaselError("E_BACKBONE", f"{member_name} missing from the archive {archive.name}",
                                 detail=spec.id)
            return tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise EaselError("E_BACKBONE", f"{archive.name}: not a readable tgz ({exc})", detail=spec.id) from None


def fetch_weights(backbone_id: str = "inception_fid", cache_dir: str | os.PathLike | None = None,
                  archive: str | os.PathLike | None = None) -> Path | None:
    """Download (or take ``archive``, a file already here) and verify a backbone's weights into the cache.

    Returns the cached file, or None for generated weights. The spec's
    ``fetch`` turns the downloaded file into verified bytes, which are then
    written atomically to ``<cache>/<spec.weights_file>``; nothing is written
    when verification fails. A failed download names ``--archive``.
    """
    spec = spec_of(backbone_id)
    if spec.fetch is None:
        return None
    dest = cache_root(cache_dir) / spec.weights_file
    with tempfile.TemporaryDirectory() as tmp:
        if archive is not None:
            source = Path(archive)
            if not source.is_file():
                raise EaselError("E_BACKBONE", f"{archive}: no such file", detail=spec.id)
        else:
            source = Path(tmp) / Path(spec.url).name
            try:
                _download(spec.url, source)
            except OSError as exc:
                raise EaselError("E_BACKBONE", f"download of {spec.url} failed ({exc}); {archive_hint(spec)}",
                                 detail=spec.id) from None
        data = spec.fetch(spec, source)
        atomic_write_bytes(dest, data)
        # The pin on first fetch: loaders may refuse a file that no longer hashes to what was verified here.
        atomic_write_bytes(dest.with_name(dest.name + ".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    return dest
