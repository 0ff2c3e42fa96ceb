"""Distribution distances between feature sets: Fréchet distance and KID, with fast bootstraps.

Features are float ``[n, d]`` arrays (float32 from :mod:`evaluator.features`);
every statistic is computed in float64.

* FID is biased upward at small n (Chong & Forsyth 2020); KID's estimator is
  unbiased, so tracks with small test sets should rank by KID.
* The Fréchet distance never takes ``sqrtm`` of the non-symmetric product
  S1·S2 (the source of complex parts and "eps" hacks in older code). It uses
  one of two exact identities, whichever is cheaper (see
  :func:`frechet_distance`). Eigenvalues of positive semi-definite matrices
  below the round-off bound n·eps·λmax (including slightly negative ones)
  are set to 0; nothing else is clipped or offset.
* Paired sets (row i of the outputs was made from the input whose target is
  row i of the references): KID's cross term leaves the matched pairs (i, i)
  out, so it is the U-statistic over i ≠ j like its within-set terms; a
  matched pair is dependent by construction and would reward copying the target's
  features rather than matching the distribution.
"""

from __future__ import annotations

import numpy as np

_MAX_KERNEL_SIDE = 4096  # KID bootstrap kernel matrices: at most 4096² float64 (128 MiB) per side


# --- Fréchet distance -------------------------------------------------------------

def _psd_eigh_floor(w: np.ndarray) -> np.ndarray:
    """Set eigenvalues of a symmetric PSD matrix that round-off cannot tell from 0 to exactly 0.

    eigh's absolute error is about n·eps·λmax; below that bound an eigenvalue
    (negative or positive) is noise, and its square root (~1e-8·√λmax) would
    otherwise add up over every null direction of a rank-deficient covariance.
    """
    if w.size == 0:
        return w
    tol = max(w.max(), 0.0) * w.size * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _sqrt_eig_sum(sym: np.ndarray) -> float:
    """Sum of square roots of a symmetric PSD matrix's eigenvalues (round-off floor: see above)."""
    sym = (sym + sym.T) * 0.5
    return float(np.sqrt(_psd_eigh_floor(np.linalg.eigvalsh(sym))).sum())


def _trace_sqrt_cross(k: np.ndarray) -> float:
    """Sum of singular values of ``k`` [n1, n2] via eigenvalues of its smaller Gram matrix.

    eigvalsh of K·Kᵀ is about twice as fast as an SVD and agrees to ~1e-15 relative.
    """
    gram = k @ k.T if k.shape[0] <= k.shape[1] else k.T @ k
    return _sqrt_eig_sum(gram)


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray,
                                mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu: float [d]; sigma: float [d, d] symmetric PSD. Uses
    tr sqrt(S1 S2) = Σ sqrt(eig(S1^½ S2 S1^½)), both factors symmetric (eigh),
    in float64. Returns a float >= 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) * 0.5)
    s1_half = (v * np.sqrt(_psd_eigh_floor(w))) @ v.T
    tr_cross = _sqrt_eig_sum(s1_half @ s2 @ s1_half)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross)
    return max(value, 0.0)  # a distance: a negative value here is round-off on equal inputs


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to feature sets ``a`` [n1, d] and ``b`` [n2, d].

    Sample covariances (ddof=1) in float64. When the sample counts are small
    against d, tr sqrt(S1 S2) is the sum of singular values of A·Bᵀ/√((n1-1)(n2-1))
    with A, B the centered feature matrices (the non-zero eigenvalues of
    AᵀA·BᵀB are those of (ABᵀ)(ABᵀ)ᵀ), which costs O(n1·n2·d) and never forms a
    d×d matrix; otherwise the symmetric form of
    :func:`frechet_distance_from_stats`. Whichever is cheaper is used; both are exact.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two [n>=2, d] feature arrays, got {a.shape} and {b.shape}")
    (n1, d), n2 = a.shape, len(b)
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    small, large = min(n1, n2), max(n1, n2)
    cross_cost = n1 * n2 * d + small * small * large + small ** 3
    eig_cost = (n1 + n2) * d * d + 12 * d ** 3  # two covariances, eigh x2 and products
    if cross_cost < eig_cost:
        ac = (a - mu1) / np.sqrt(n1 - 1)
        bc = (b - mu2) / np.sqrt(n2 - 1)
        diff = mu1 - mu2
        value = float(diff @ diff + np.einsum("ij,ij->", ac, ac) + np.einsum("ij,ij->", bc, bc)
                      - 2.0 * _trace_sqrt_cross(ac @ bc.T))
        return max(value, 0.0)
    return frechet_distance_from_stats(mu1, np.cov(a, rowvar=False), mu2, np.cov(b, rowvar=False))


# --- KID ---------------------------------------------------------------------------

def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³ for x [n, d], y [m, d] -> float64 [n, m]."""
    d = x.shape[1]
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / d + 1.0) ** 3


def _mmd_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, paired: bool = False) -> float:
    """Unbiased MMD² from full kernel matrices (diagonals of kxx, kyy excluded; of kxy too when paired)."""
    n, m = len(kxx), len(kyy)
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    xy = (kxy.sum() - np.trace(kxy)) / (n * (n - 1)) if paired else kxy.mean()
    return float(xx + yy - 2.0 * xy)


def kid_subset_indices(n_a: int, n_b: int, subsets: int, m: int, seed: int,
                       paired: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The subsets KID draws: int [subsets, m] into a and into b (without replacement, seeded).

    Paired: one draw per subset, shared by a and b (ib is ia).
    """
    rng = np.random.default_rng(seed)
    ia = np.empty((subsets, m), np.int64)
    ib = ia if paired else np.empty((subsets, m), np.int64)
    for s in range(subsets):
        ia[s] = rng.choice(n_a, m, replace=False)
        if not paired:
            ib[s] = rng.choice(n_b, m, replace=False)
    return ia, ib


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int | None = 1000,
        seed: int = 0, paired: bool = False) -> tuple[float, float]:
    """Kernel Inception distance: (mean, std) of the unbiased MMD² over random subsets.

    a [n_a, d], b [n_b, d]; kernel (x·y/d + 1)³ as clean-fid / torch-fidelity.
    ``subset_size`` is capped at min(n_a, n_b); std is over subsets (ddof 0).
    ``subsets=1, subset_size=None`` gives the full-sample unbiased estimate
    (all of a against all of b, std 0).

    ``paired`` (n_a == n_b, row i of a belongs with row i of b): each subset
    takes the same rows of both, and the cross term leaves the matched pairs
    out (the U-statistic over i ≠ j). A subset holding every row is the
    full-sample estimate, computed once.

    Vectorized: when the full kernel matrices are no more work than the
    subsets' own, they are computed once and every subset's sums become
    indicator-vector products; otherwise each subset costs three m×m products.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        raise ValueError("KID needs at least 2 samples per set")
    if paired and n_a != n_b:
        raise ValueError(f"paired KID needs sets of one size, got {n_a} and {n_b}")
    m = min(n_a, n_b, subset_size if subset_size is not None else n_a)
    if (subsets == 1 and subset_size is None) or (paired and m == n_a):
        kernels = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
        return _mmd_from_kernels(*kernels, paired=paired), 0.0
    ia, ib = kid_subset_indices(n_a, n_b, subsets, m, seed, paired)
    full_cost = n_a * n_a + n_b * n_b + n_a * n_b
    if full_cost <= 3 * subsets * m * m and full_cost <= 60_000_000:
        kxx, kyy, kxy = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
        sa = np.zeros((subsets, n_a))
        sb = np.zeros((subsets, n_b))
        rows = np.arange(subsets)[:, None]
        sa[rows, ia] = 1.0
        sb[rows, ib] = 1.0
        xx = np.einsum("si,si->s", sa @ kxx, sa) - sa @ np.diag(kxx)
        yy = np.einsum("si,si->s", sb @ kyy, sb) - sb @ np.diag(kyy)
        xy = np.einsum("si,si->s", sa @ kxy, sb)
        if paired:
            xy = (xy - sa @ np.diag(kxy)) * m / (m - 1)
        mmd = xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)
    else:
        mmd = np.array([_mmd_from_kernels(polynomial_kernel(a[i], a[i]), polynomial_kernel(b[j], b[j]),
                                          polynomial_kernel(a[i], b[j]), paired) for i, j in zip(ia, ib)])
    return float(mmd.mean()), float(mmd.std())


# --- fast bootstraps: a resample as row counts ------------------------------------------

class FidBootstrap:
    """FID of row-resampled feature sets from count vectors, without touching d per resample.

    Resampling rows = weighting each original row by its count c. With X, Y
    centred on their own means and G = X Yᵀ precomputed, the weighted means,
    the traces and the cross-factor K = diag(√c1)(X − 1μ1ᵀ)(Y − 1μ2ᵀ)ᵀdiag(√c2)
    follow from G, the row norms and two [d] weighted means, so each resample costs
    O(n1·n2) plus the small eigenproblem; the result equals
    :func:`frechet_distance` on the resampled rows.
    Used when min(n1, n2) ≤ d; otherwise the resampled rows go through
    frechet_distance (two d×d eigendecompositions each).
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        self.a, self.b = a, b
        self.fast = min(len(a), len(b)) <= a.shape[1] and len(a) * len(b) <= 25_000_000
        if self.fast:
            ma, mb = a.mean(0), b.mean(0)
            self.x, self.y = a - ma, b - mb
            self.delta = ma - mb
            self.g = self.x @ self.y.T
            self.nx, self.ny = np.einsum("ij,ij->i", self.x, self.x), np.einsum("ij,ij->i", self.y, self.y)

    def __call__(self, ia: np.ndarray, ib: np.ndarray) -> float:
        """FID of a[ia] against b[ib]; ia int [n1'], ib int [n2'] (rows drawn with replacement)."""
        if not self.fast:
            return frechet_distance(self.a[ia], self.b[ib])
        c1 = np.bincount(ia, minlength=len(self.x)).astype(np.float64)
        c2 = np.bincount(ib, minlength=len(self.y)).astype(np.float64)
        n1, n2 = c1.sum(), c2.sum()
        m1, m2 = c1 @ self.x / n1, c2 @ self.y / n2  # weighted means of the centred rows, [d]
        mean_diff = self.delta + m1 - m2
        tr1 = (c1 @ self.nx - n1 * (m1 @ m1)) / (n1 - 1)
        tr2 = (c2 @ self.ny - n2 * (m2 @ m2)) / (n2 - 1)
        s1, s2 = c1 > 0, c2 > 0  # rows never drawn add nothing to K: drop them before the eigenproblem
        c1, c2, g = c1[s1], c2[s2], self.g[np.ix_(s1, s2)]
        # (x_i − m1)·(y_j − m2) = g_ij − x_i·m2 − m1·y_j + m1·m2
        xm2 = g @ c2 / n2
        m1y = c1 @ g / n1
        cross = g - xm2[:, None] - m1y[None, :] + (c1 @ g @ c2) / (n1 * n2)
        k = np.sqrt(c1)[:, None] * cross * np.sqrt(c2)[None, :] / np.sqrt((n1 - 1) * (n2 - 1))
        value = float(mean_diff @ mean_diff + tr1 + tr2 - 2.0 * _trace_sqrt_cross(k))
        return max(value, 0.0)


def subsample_rows(rows: np.ndarray, limit: int, rng: np.random.Generator) -> tuple[np.ndarray | None, np.ndarray]:
    """A bootstrap's fixed seeded subsample of at most ``limit`` rows of ``rows`` [n, ...], so its
    precomputed n x n matrices stay bounded: (pos, kept rows), pos int64 [n] the position of each
    original row among the kept ones (-1: left out), or (None, rows) when n <= limit."""
    n = len(rows)
    if n <= limit:
        return None, rows
    keep = np.sort(rng.choice(n, limit, replace=False))
    pos = np.full(n, -1, np.int64)
    pos[keep] = np.arange(len(keep))
    return pos, rows[keep]


def kept_rows(pos: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Resampled original row indices mapped into a :func:`subsample_rows` subsample (left-out rows dropped)."""
    if pos is None:
        return rows
    rows = pos[rows]
    return rows[rows >= 0]


class KidBootstrap:
    """Unbiased MMD² of a resample, as a weighted U-statistic over distinct original rows.

    With counts c: within-set term (cᵀKc − Σ cᵢ²Kᵢᵢ) / ((Σc)² − Σcᵢ²), cross term
    cᵀK_xy e / (Σc·Σe); ``paired`` (rows drawn with shared indices, c = e): the
    cross term leaves matched originals out like the within terms,
    (cᵀK_xy c − Σ cᵢ²(K_xy)ᵢᵢ) / ((Σc)² − Σcᵢ²). Kernel matrices are computed once;
    sides larger than 4096 rows use a fixed seeded subsample of 4096 (the same
    rows of both sides when paired) for the interval only.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, seed: int, paired: bool = False):
        rng = np.random.default_rng(seed + 7919)
        self.paired = paired
        self.pos_a, a = subsample_rows(a, _MAX_KERNEL_SIDE, rng)
        if paired:
            self.pos_b, b = self.pos_a, (b if self.pos_a is None else b[self.pos_a >= 0])
        else:
            self.pos_b, b = subsample_rows(b, _MAX_KERNEL_SIDE, rng)
        self.kxx, self.kyy, self.kxy = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
        self.na, self.nb = len(a), len(b)

    def __call__(self, ia: np.ndarray, ib: np.ndarray) -> float:
        """Resampled MMD² of a[ia] against b[ib] (ib is ia when paired)."""
        ia, ib = kept_rows(self.pos_a, ia), kept_rows(self.pos_b, ib)
        c1 = np.bincount(ia, minlength=self.na).astype(np.float64)
        c2 = np.bincount(ib, minlength=self.nb).astype(np.float64)

        def distinct(c, k, e):
            denom = c.sum() ** 2 - (c * c).sum()
            return (c @ k @ e - (c * c) @ np.diag(k)) / denom if denom > 0 else np.nan

        cross = distinct(c1, self.kxy, c2) if self.paired else (c1 @ self.kxy @ c2) / (c1.sum() * c2.sum())
        return float(distinct(c1, self.kxx, c1) + distinct(c2, self.kyy, c2) - 2.0 * cross)
