"""Image-quality metrics: one registry, pure numpy/scipy functions, float64 statistics.

Every metric a track may list in competition.yaml is registered once, with its
behaviour, direction, range and description (:mod:`.registry`; the built-in
ones in :mod:`.builtin`). The functions take plain arrays (features are
float32 ``[n, d]`` from :mod:`evaluator.features`, images uint8
``[n, H, W, 3]``) and return float64 values.

Modules: :mod:`.distances` (FID, KID and their fast bootstraps),
:mod:`.images` (SSIM, PSNR), :mod:`.memorization`
(ArtFID, MiFID), :mod:`.prdc` (precision, recall, density, coverage), :mod:`.lpips` (LPIPS v0.1), :mod:`.registry`, :mod:`.builtin`.
"""

from __future__ import annotations

from .cmmd import CMMD_SCALE, CMMD_SIGMA, CmmdBootstrap, cmmd, l2_normalise, rbf_kernel  # noqa: F401
from .distances import (FidBootstrap, KidBootstrap, frechet_distance, frechet_distance_from_stats,  # noqa: F401
                        kid, kid_subset_indices, polynomial_kernel, _trace_sqrt_cross)
from .images import (PSNR_CAP_DB, SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW, gaussian_window_1d,  # noqa: F401
                     luminance, psnr, ssim)
from .lpips import (LPIPS_BACKBONE, LPIPS_CHANNELS, lpips_distance, lpips_linear_weights,  # noqa: F401
                    lpips_upper_bound)
from .memorization import artfid, memorization_distance, memorization_distances, mifid  # noqa: F401
from .prdc import (DC_K, PR_K, PrdcBootstrap, density_coverage, knn_radii, pairwise_distances,  # noqa: F401
                   precision_recall, precision_recall_density_coverage)
from .registry import (ALL_KINDS, METRICS, SPECS, Batch, MetricSpec, Options, SetData, backbones_of, describe,  # noqa: F401,E501
                       needs_of, register, resolve, unregister)
from . import builtin  # noqa: F401,E402  (registers the built-in metrics)
from ..vocab import STYLE_KINDS  # noqa: F401
