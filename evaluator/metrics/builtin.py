"""Every built-in metric, each registered once with all of its behaviour.

The descriptions are what the PR comment and the site show next to the
numbers, so they say what is computed, including where a number is not
comparable with a published one of the same name.
"""

from __future__ import annotations

import numpy as np

from .cmmd import CMMD_SCALE, CmmdBootstrap, cmmd
from .distances import FidBootstrap, KidBootstrap, frechet_distance, kid
from .images import PSNR_CAP_DB, psnr, ssim
from .lpips import LPIPS_BACKBONE, lpips_distance, lpips_upper_bound
from .memorization import artfid, memorization_distance, memorization_distances, mifid
from .prdc import DC_K, PR_K, PrdcBootstrap, precision_recall_density_coverage
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


class _PrdcShared:
    """The four k-NN metrics of one feature set, computed once and shared by their four statistics.

    Each metric is its own registry entry (a track lists any of them), but
    they share the k-NN radii and distance matrices: the last SetData and the
    last resample's rows (by identity) are remembered.
    """

    _last: "_PrdcShared | None" = None

    def __init__(self, data: SetData):
        self.data = data
        self.point = precision_recall_density_coverage(data.ref, data.out)  # real = the references, fake = the outputs
        self._boot: PrdcBootstrap | None = None
        self._rows: tuple = (None, None)
        self._values: dict = {}

    @classmethod
    def of(cls, data: SetData) -> "_PrdcShared":
        if cls._last is None or cls._last.data is not data:
            cls._last = cls(data)
        return cls._last

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> dict:
        if self._rows[0] is not rows_out or self._rows[1] is not rows_ref:
            if self._boot is None:
                self._boot = PrdcBootstrap(self.data.ref, self.data.out, self.data.options.seed,
                                           paired=self.data.paired)
            self._values = self._boot(rows_out, rows_ref)
            self._rows = (rows_out, rows_ref)
        return self._values


def _prdc_statistic(name: str):
    class PrdcStatistic:
        """One of precision/recall/density/coverage (``name``) of the outputs against the references."""

        def __init__(self, data: SetData):
            self._shared = _PrdcShared.of(data)
            self.point = self._shared.point[name]
            self.extra: dict = {}

        def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
            return self._shared.resample(rows_out, rows_ref)[name]

    PrdcStatistic.__name__ = PrdcStatistic.__qualname__ = f"{name.capitalize()}Statistic"
    return PrdcStatistic


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
_LPIPS_SOURCE = ("LPIPS v0.1 AlexNet-lin (Zhang et al. 2018): the lpips package's learned channel weights on "
                 "torchvision's ImageNet AlexNet (backbone lpips_alex), as the lpips package computes it. With the "
                 "offline stand-in alexnet_random_seed0 (random AlexNet; the result's backbone record says so) it is "
                 "the LPIPS formula on an untrained network: not comparable with LPIPS numbers.")
register("content_distance", "asc", STYLE_KINDS,
         "Perceptual distance between each input and its output. " + _LPIPS_SOURCE,
         needs=("input_maps", "output_maps"), backbone=LPIPS_BACKBONE,
         per_image=lambda b: lpips_distance(b.input_maps, b.output_maps), low=0.0, high=lpips_upper_bound())
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
         "Perceptual distance between output and target. " + _LPIPS_SOURCE,
         needs=("output_maps", "target_maps"), backbone=LPIPS_BACKBONE,
         per_image=lambda b: lpips_distance(b.output_maps, b.target_maps), low=0.0, high=lpips_upper_bound())
register("artfid", "asc", STYLE_KINDS,
         "ArtFID formula (1 + content_distance) · (1 + FID) of Wright & Ommer 2022, on plain FID and the LPIPS "
         "content distance above: not comparable with published ArtFID numbers, which use FID∞ (and with the "
         "offline stand-ins, an untrained network for both).",
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


# The k-NN metrics read DINOv2 ViT-L/14 features by default, the space Stein et al. 2023 (dgm-eval) compute
# them in, as FD-DINOv2; offline its seeded stand-in is used and every result says so.
KNN_BACKBONE = "dinov2_vitl14"
_KNN_RULE = ("Closed balls (distance ≤ radius, as Kynkäänniemi's code and torch-fidelity; prdc uses <), "
             "Euclidean distances on DINOv2 ViT-L/14 CLS features (backbone dinov2_vitl14, unless the track names "
             "another; offline its seeded stand-in, named in the result); real = the held-out reference images.")
register("precision", "desc", ALL_KINDS,
         f"Precision (Kynkäänniemi et al. 2019, k = {PR_K}): the fraction of outputs inside the k-NN manifold of "
         f"the reference images (fidelity: falls for images unlike any real one). " + _KNN_RULE,
         combine="set", statistic=_prdc_statistic("precision"), low=0.0, high=1.0, backbone=KNN_BACKBONE,
         min_images=PR_K + 1)
register("recall", "desc", ALL_KINDS,
         f"Recall (Kynkäänniemi et al. 2019, k = {PR_K}): the fraction of reference images inside the k-NN manifold "
         f"of the outputs (diversity: falls when modes are missed, e.g. a collapsed generator). " + _KNN_RULE,
         combine="set", statistic=_prdc_statistic("recall"), low=0.0, high=1.0, backbone=KNN_BACKBONE,
         min_images=PR_K + 1)
register("density", "desc", ALL_KINDS,
         f"Density (Naeem et al. 2020, k = {DC_K}): how many reference k-NN balls hold each output, over k; ≈ 1 "
         f"when outputs are spread like the references, above 1 when they crowd into dense regions (unbounded "
         f"above, so rank by coverage rather than density). " + _KNN_RULE,
         combine="set", statistic=_prdc_statistic("density"), low=0.0, backbone=KNN_BACKBONE, min_images=DC_K + 1)
register("coverage", "desc", ALL_KINDS,
         f"Coverage (Naeem et al. 2020, k = {DC_K}): the fraction of reference images whose k-NN ball holds at "
         f"least one output (diversity, robust to outlier outputs). " + _KNN_RULE,
         combine="set", statistic=_prdc_statistic("coverage"), low=0.0, high=1.0, backbone=KNN_BACKBONE,
         min_images=DC_K + 1)
