"""Every built-in metric, each registered once with all of its behaviour.

The descriptions are what the PR comment and the site show next to the
numbers, so they say what is computed, including where a number is not
comparable with a published one of the same name.
"""

from __future__ import annotations

import numpy as np

from .cmmd import CMMD_SCALE, CmmdBootstrap, cmmd
from .distances import FidBootstrap, KidBootstrap, frechet_distance, kid
from .images import PSNR_CAP_DB, perceptual_distance, psnr, ssim
from .memorization import artfid, memorization_distance, memorization_distances, mifid
from .registry import ALL_KINDS, SetData, register
from ..vocab import STYLE_KINDS



# --- set statistics ---------------------------------------------------------------

class FidStatistic:
    """FID of output against reference features; resamples through :class:`FidBootstrap`."""

    def __init__(self, data: SetData):
        self.point = frechet_distance(data.out, data.ref)
        self.extra: dict = {}
        self._boot = FidBootstrap(data.out, data.ref)

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
        return self._boot(rows_out, rows_ref)


class KidStatistic:
    """KID: mean unbiased MMD² over 100 seeded subsets; resamples as distinct-pair U-statistics."""

    def __init__(self, data: SetData):
        o = data.options
        self.point = kid(data.out, data.ref, subsets=100, subset_size=o.kid_subset_size, seed=o.seed,
                         paired=data.paired)[0]
        self.extra: dict = {}
        self._boot = KidBootstrap(data.out, data.ref, o.seed, paired=data.paired)

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
        return self._boot(rows_out, rows_ref)


class MemorizationStatistic:
    """Mean memorization ratio: each output's MiFID distance d over the d of the held-out references.

    Calibrated by how close genuinely new images of the style (the held-out
    references) come to the training set: a copy gives 0, a fresh image about 1,
    whatever the backbone's feature geometry (raw distances of the random-init
    stand-in are all tiny, so a fixed ε would flag every model).
    """

    def __init__(self, data: SetData):
        raw = memorization_distances(data.out, data.train)
        reference = max(memorization_distance(data.ref, data.train), 1e-12)
        self.each = raw / reference
        self.point = float(self.each.mean())
        meaningful = data.options.memorization_meaningful
        self.extra = {"memorization_distance": float(raw.mean()), "memorization_reference": float(reference),
                      "memorization_ratio": self.point, "memorization_meaningful": meaningful,
                      "memorized": bool(meaningful and self.point < data.options.memorization_eps)}

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
        return float(self.each[rows_out].mean())


class CmmdStatistic:
    """CMMD of output against reference embeddings; resamples through :class:`CmmdBootstrap`."""

    def __init__(self, data: SetData):
        self.point = cmmd(data.out, data.ref)
        self.extra: dict = {}
        self._boot = CmmdBootstrap(data.out, data.ref, data.options.seed, paired=data.paired)

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
        return self._boot(rows_out, rows_ref)


# --- the registry -------------------------------------------------------------------

register("fid", "asc", ALL_KINDS,
         "Fréchet distance between Gaussians fitted to backbone features of the outputs and of the held-out "
         "target-style images (exact, float64). Biased upward at small n: compare only at equal n.",
         combine="set", statistic=FidStatistic, low=0.0)
register("fd_dinov2", "asc", ALL_KINDS,
         "FD-DINOv2 (Stein et al. 2023, dgm-eval): Fréchet distance between Gaussians fitted to DINOv2 ViT-L/14 "
         "CLS features (1024-d, 224 px, ImageNet normalisation) of the outputs and of the held-out target-style "
         "images; the distance people's judgements agree with best in that study. Biased upward at small n.",
         combine="set", statistic=FidStatistic, low=0.0, backbone="dinov2_vitl14")
register("cmmd", "asc", ALL_KINDS,
         "CMMD (Jayasumana et al. 2024, google-research cmmd): MMD with a Gaussian kernel (σ = 10) between "
         "L2-normalised CLIP ViT-L/14@336px embeddings of the outputs and of the held-out target-style images, "
         f"biased minimum-variance estimator, ×{CMMD_SCALE:g}; no normality assumption, little dependence on n.",
         combine="set", statistic=CmmdStatistic, low=0.0, high=2.0 * CMMD_SCALE, backbone="clip_vitl14_336")
register("kid", "asc", ALL_KINDS,
         "Kernel Inception distance: unbiased MMD² with the cubic polynomial kernel (can be slightly negative; "
         "rank by it at small n). On paired tracks the cross term leaves each output's own target out.",
         combine="set", statistic=KidStatistic)
register("memorization", "desc", STYLE_KINDS,
         "Memorization ratio: each output's distance to its nearest training style image (1 − |cos| of "
         "features centred at the training mean) over the same distance of held-out images of the style; "
         "≈ 0 for copies, ≈ 1 for new images.",
         combine="set", needs=("train_features",), statistic=MemorizationStatistic, low=0.0, listed=False)
register("content_distance", "asc", STYLE_KINDS,
         "Perceptual distance between each input and its output on the backbone's feature maps (the LPIPS "
         "formula with unit layer weights on an untrained network: not comparable with LPIPS numbers).",
         needs=("input_maps", "output_maps"), per_image=lambda b: perceptual_distance(b.input_maps, b.output_maps),
         low=0.0, high=4.0)
register("content_ssim", "desc", STYLE_KINDS,
         "SSIM between each input and its output, on luminance.",
         needs=("input", "output"), per_image=lambda b: ssim(b.input, b.output), low=-1.0, high=1.0)
register("psnr", "desc", ("paired",),
         f"Peak signal-to-noise ratio between output and target (dB, capped at {PSNR_CAP_DB:g}).",
         needs=("output", "target"), per_image=lambda b: psnr(b.output, b.target), low=0.0, high=PSNR_CAP_DB)
register("ssim", "desc", ("paired",),
         "SSIM between output and target, on luminance.",
         needs=("output", "target"), per_image=lambda b: ssim(b.output, b.target), low=-1.0, high=1.0)
register("perceptual_distance", "asc", ("paired",),
         "Perceptual distance between output and target on the backbone's feature maps (the LPIPS formula "
         "with unit layer weights on an untrained network: not comparable with LPIPS numbers).",
         needs=("output_maps", "target_maps"),
         per_image=lambda b: perceptual_distance(b.output_maps, b.target_maps), low=0.0, high=4.0)
register("artfid", "asc", STYLE_KINDS,
         "ArtFID formula (1 + content_distance) · (1 + FID) of Wright & Ommer 2022, on plain FID and the "
         "untrained content network above: not comparable with published ArtFID numbers (FID∞, trained LPIPS).",
         combine="derived", derives_from=("content_distance", "fid"),
         derive=lambda v, o: artfid(v["content_distance"], v["fid"]), low=1.0)
def _mifid(values, options) -> float:
    """MiFID from FID and the memorization ratio; equal to FID (no penalty) when the backbone's feature
    distances mean nothing (``options.memorization_meaningful`` False: the offline stand-in), since a
    ratio below ε there says nothing about copying."""
    if not options.memorization_meaningful:
        return float(values["fid"])
    return mifid(values["fid"], values["memorization"], options.memorization_eps)[0]


register("mifid", "asc", STYLE_KINDS,
         "Memorization-informed FID, a calibrated variant of Kaggle's MiFID: FID divided by the memorization "
         "ratio when it falls below ε (features centred at the training mean, distance divided by that of "
         "held-out images of the style). Not comparable with Kaggle MiFID numbers. With the offline stand-in "
         "backbone no penalty is applied (MiFID = FID): its feature distances cannot tell a copy from a new image.",
         combine="derived", derives_from=("fid", "memorization"), derive=_mifid, low=0.0)
