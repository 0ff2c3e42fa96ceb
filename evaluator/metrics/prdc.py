"""Precision, recall, density and coverage: k-nearest-neighbour manifolds in a backbone's feature space.

Features are float ``[n, d]`` arrays (real = the held-out reference images,
fake = the submission's outputs); distances are Euclidean, in float64.

* **precision** (Kynkäänniemi et al. 2019, k = 3): the fraction of fake
  samples inside the real manifold, the union of balls around each real sample
  with radius its distance to its k-th nearest other real sample. Falls when a
  model makes images unlike any real one.
* **recall** (same paper, k = 3): the fraction of real samples inside the fake
  manifold (balls around the fakes, radii from fake-fake distances). Falls
  when a model misses modes, e.g. a collapsed generator.
* **density** (Naeem et al. 2020, k = 5): the mean number of real balls each
  fake sample lies in, divided by k; about 1 when fakes are distributed like
  the reals, above 1 when they crowd into dense real regions (not bounded by 1).
* **coverage** (same paper, k = 5): the fraction of real samples whose ball
  holds at least one fake sample; robust to outliers among the fakes.

Membership rule: a sample is inside a ball when its distance is **≤** the
radius (closed balls). Kynkäänniemi's official code and torch-fidelity use ≤;
``prdc`` (Naeem's code) uses <. Easel uses ≤ for all four so that (a) one
rule decides "inside the manifold" for precision and density alike, and (b) a
real sample whose k nearest neighbours are exact duplicates (radius 0) is still
covered by an exact copy of itself, where < would count it uncovered whatever
the model does. The two rules differ only on exact distance ties, which
continuous features never produce except for duplicated images; on tie-free
features the values equal prdc's (checked in the tests against both
reference packages).

Memory: the n x m distance matrices are never formed whole. Rows are
processed in chunks of at most :data:`CHUNK_ELEMENTS` distances (128 MiB of
float64), so the extra memory beyond the feature arrays themselves is bounded
by that constant whatever n is ("flat": O(chunk), not O(n²)). The bootstrap
(:class:`PrdcBootstrap`) keeps per-row neighbour orders of at most
:data:`MAX_BOOTSTRAP_SIDE` rows per side (a seeded subsample beyond that, for
the interval only).
"""

from __future__ import annotations

import numpy as np

from .distances import kept_rows, subsample_rows

PR_K = 3  # precision/recall neighbourhood (Kynkäänniemi et al. 2019)
DC_K = 5  # density/coverage neighbourhood (Naeem et al. 2020)
CHUNK_ELEMENTS = 1 << 24  # distances per chunk: 16 Mi float64 = 128 MiB
MAX_BOOTSTRAP_SIDE = 2048  # bootstrap neighbour orders: at most 2048² int32 (16 MiB) per side


def _check(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1] or len(fake) < 1:
        raise ValueError(f"need two [n, d] feature arrays of one d, got {real.shape} and {fake.shape}")
    if len(real) <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than {k} real samples, got {len(real)}")
    return real, fake


def _row_chunks(n_rows: int, n_cols: int):
    step = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def pairwise_distances(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray | None = None,
                       b_sq: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances float64 [n, m] between rows of a [n, d] and b [m, d].

    Through |a|² + |b|² − 2 a·b (one gemm for every pair of sets, so equal pairs of rows get equal
    distances wherever they sit), clipped at 0 before the square root (round-off can make an exact
    duplicate's value −1e-13).
    """
    a_sq = _sq_norms(a) if a_sq is None else a_sq
    b_sq = _sq_norms(b) if b_sq is None else b_sq
    # b.T as its own C-ordered copy: numpy hands x @ x.T to BLAS syrk, whose round-off differs from gemm's,
    # so a copy of a row would no longer sit exactly on a ball's radius (ties under ≤ must stay exact).
    d2 = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ np.array(b.T, order="C"))
    return np.sqrt(np.maximum(d2, 0.0))


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x [n, d] to its k-th nearest *other* row: float64 [n].

    The row itself (distance 0) is the first of the k + 1 smallest distances,
    so the radius is the (k + 1)-th smallest in its row; an exact duplicate of
    the row counts as a neighbour at distance 0. Chunked over rows.
    """
    x = np.asarray(x, np.float64)
    if len(x) <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than {k} samples, got {len(x)}")
    sq = _sq_norms(x)
    radii = np.empty(len(x))
    for rows in _row_chunks(len(x), len(x)):
        d = pairwise_distances(x[rows], x, sq[rows], sq)
        d[np.arange(d.shape[0]), np.arange(rows.start, rows.stop)] = 0.0  # self: exactly 0, whatever round-off says
        radii[rows] = np.partition(d, k, axis=1)[:, k]
    return radii


def _inside_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point [n, d]: how many balls (centres [m, d], radii [m]) hold it (distance ≤ radius): int64 [n]."""
    counts = np.empty(len(points), np.int64)
    c_sq = _sq_norms(centres)
    p_sq = _sq_norms(points)
    for rows in _row_chunks(len(points), len(centres)):
        d = pairwise_distances(points[rows], centres, p_sq[rows], c_sq)
        counts[rows] = (d <= radii[None, :]).sum(axis=1)
    return counts


def _covered(centres: np.ndarray, radii: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each ball (centres [m, d], radii [m]): whether any point [n, d] lies in it (≤): bool [m]."""
    covered = np.empty(len(centres), bool)
    c_sq = _sq_norms(centres)
    p_sq = _sq_norms(points)
    for rows in _row_chunks(len(centres), len(points)):
        d = pairwise_distances(centres[rows], points, c_sq[rows], p_sq)
        covered[rows] = d.min(axis=1) <= radii[rows]
    return covered


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """(precision, recall) of fake [m, d] against real [n, d] with k-NN manifolds (Kynkäänniemi 2019).

    precision = mean over fakes of [some real ball holds it]; recall = mean over
    reals of [some fake ball holds it]; balls closed (≤), radii from
    :func:`knn_radii`. Both in [0, 1]. Needs n > k and m > k.
    """
    real, fake = _check(real, fake, k)
    if len(fake) <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than {k} fake samples, got {len(fake)}")
    precision = float((_inside_counts(fake, real, knn_radii(real, k)) > 0).mean())
    recall = float((_inside_counts(real, fake, knn_radii(fake, k)) > 0).mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = DC_K) -> tuple[float, float]:
    """(density, coverage) of fake [m, d] against real [n, d] (Naeem et al. 2020), balls around reals only.

    density = Σ_fakes (number of real balls holding it) / (k · m), in [0, n/k];
    coverage = the fraction of real balls holding at least one fake, in [0, 1].
    Closed balls (≤; prdc uses <: see the module docstring). Needs n > k.
    """
    real, fake = _check(real, fake, k)
    radii = knn_radii(real, k)
    density = float(_inside_counts(fake, real, radii).sum() / (k * len(fake)))
    coverage = float(_covered(real, radii, fake).mean())
    return density, coverage


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, pr_k: int = PR_K, dc_k: int = DC_K) -> dict[str, float]:
    """All four: {"precision", "recall", "density", "coverage"} (k = 3 and k = 5 by default)."""
    precision, recall = precision_recall(real, fake, pr_k)
    density, coverage = density_coverage(real, fake, dc_k)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


# --- bootstrap ---------------------------------------------------------------------------

class PrdcBootstrap:
    """All four metrics of a row resample, with k-NN radii among *distinct* original rows.

    A resample draws rows with replacement; a drawn duplicate of a row would be
    its own nearest neighbour at distance 0 and shrink its radius, so here a
    row's neighbours are the distinct *other* original rows present in the
    resample (as KID's bootstrap pairs distinct originals only). Memberships
    count with multiplicity: precision = Σ_j c_j [fake j inside] / Σ c_j, and
    likewise for the others (c: how often each original row was drawn).

    Sides above :data:`MAX_BOOTSTRAP_SIDE` rows use a fixed seeded subsample
    for the interval only (the same rows of both sides when ``paired``).
    Precomputed once: distances between the kept rows (float32 would do, but
    the float64 values keep ≤ ties exact) and each row's neighbour order.
    """

    def __init__(self, real: np.ndarray, fake: np.ndarray, seed: int = 0, paired: bool = False,
                 pr_k: int = PR_K, dc_k: int = DC_K):
        real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
        rng = np.random.default_rng(seed + 104729)
        self.pr_k, self.dc_k = pr_k, dc_k
        self.pos_real, real = subsample_rows(real, MAX_BOOTSTRAP_SIDE, rng)
        if paired:
            self.pos_fake, fake = self.pos_real, (fake if self.pos_real is None else fake[self.pos_real >= 0])
        else:
            self.pos_fake, fake = subsample_rows(fake, MAX_BOOTSTRAP_SIDE, rng)
        self.n_real, self.n_fake = len(real), len(fake)
        self.d_rr = pairwise_distances(real, real)
        self.d_ff = pairwise_distances(fake, fake)
        self.d_fr = pairwise_distances(fake, real)  # [fake, real]
        np.fill_diagonal(self.d_rr, np.inf)  # never one's own neighbour
        np.fill_diagonal(self.d_ff, np.inf)
        self.order_rr = np.argsort(self.d_rr, axis=1, kind="stable").astype(np.int32)
        self.order_ff = np.argsort(self.d_ff, axis=1, kind="stable").astype(np.int32)

    @staticmethod
    def _radii(distances: np.ndarray, order: np.ndarray, present: np.ndarray, k: int) -> np.ndarray:
        """k-th nearest present other row of each row: float64 [n] (inf where fewer than k are present)."""
        hits = present[order]  # [n, n]: is the j-th nearest neighbour of row i present?
        rank = np.cumsum(hits, axis=1, dtype=np.int32)
        found = rank[:, -1] >= k
        column = np.argmax(rank >= k, axis=1)
        radii = np.full(len(order), np.inf)
        rows = np.nonzero(found)[0]
        radii[rows] = distances[rows, order[rows, column[rows]]]
        return radii

    def __call__(self, rows_fake: np.ndarray, rows_real: np.ndarray) -> dict[str, float]:
        """The four metrics on fake[rows_fake] against real[rows_real] (int arrays, drawn with replacement)."""
        c_f = np.bincount(kept_rows(self.pos_fake, rows_fake), minlength=self.n_fake).astype(np.float64)
        c_r = np.bincount(kept_rows(self.pos_real, rows_real), minlength=self.n_real).astype(np.float64)
        p_f, p_r = c_f > 0, c_r > 0
        out = {"precision": np.nan, "recall": np.nan, "density": np.nan, "coverage": np.nan}
        if p_r.sum() > self.pr_k and p_f.sum() > self.pr_k:
            r_real = self._radii(self.d_rr, self.order_rr, p_r, self.pr_k)
            r_fake = self._radii(self.d_ff, self.order_ff, p_f, self.pr_k)
            inside_real = ((self.d_fr <= r_real[None, :]) & p_r[None, :]).any(axis=1)  # [fake]
            inside_fake = ((self.d_fr <= r_fake[:, None]) & p_f[:, None]).any(axis=0)  # [real]
            out["precision"] = float(c_f @ inside_real / c_f.sum())
            out["recall"] = float(c_r @ inside_fake / c_r.sum())
        if p_r.sum() > self.dc_k:
            r_real = self._radii(self.d_rr, self.order_rr, p_r, self.dc_k)
            member = self.d_fr <= r_real[None, :]  # [fake, real]
            out["density"] = float(c_f @ member @ c_r / (self.dc_k * c_f.sum()))
            out["coverage"] = float(c_r @ (member & p_f[:, None]).any(axis=0) / c_r.sum())
        return out
