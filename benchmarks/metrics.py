"""Side-by-side benchmarks of the metrics core (run by hand: `python benchmarks/metrics.py`).

Prints markdown tables:
1. Fréchet distance: ours vs the textbook scipy.linalg.sqrtm formula, d=2048,
   n = 500, 2000, 10000 (time, speed-up, relative difference).
2. KID: vectorized vs the per-subset loop (100 subsets x 1000, d=2048).
3. A track's bootstrap (FID + KID, 200 resamples) at n = m = 500, d = 2048:
   score_track now (unpaired, paired) vs a copy of the implementation before
   metric specs, kept in this file, best of 3 interleaved.
4. Feature extraction images/s vs a bare `model(x)` loop on the same backbone
   (inception_v3_random_seed0, batch 16, 64 px inputs resized inside).
5. Peak memory of extracting 200 vs 2000 images (convnet_random_seed0, 64 px,
   each in a fresh subprocess: Python/numpy peak via tracemalloc and RSS growth).

6. With --fid-graph (needs the real weights: `easel weights fetch`): the
   inception_fid extractor vs the 2015 graph run as TF-GAN/TTUR run it (a v1
   Session, ExpandDims:0 fed from a placeholder): images/s and the largest
   pool_3 difference, to confirm the features on the machine that will score.

Options: --quick (smaller sizes, for a smoke run), --skip-textbook-above N,
--bootstrap-only (only section 3), --fid-graph (only section 6).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator import metrics as M  # noqa: E402
from evaluator import scoring as S  # noqa: E402


def textbook_fid(a: np.ndarray, b: np.ndarray) -> float:
    """TTUR / pytorch-fid: sqrtm of the non-symmetric product, real part taken."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def features(n: int, d: int, seed: int, mix: np.ndarray | None = None) -> np.ndarray:
    """Non-negative, correlated, Inception-like features: ReLU of a mixed Gaussian, float32 [n, d]."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)).astype(np.float32)
    if mix is not None:
        z = z @ mix
    return np.maximum(z + 0.3, 0.0).astype(np.float32)


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def bench_fid(sizes, d, skip_textbook_above):
    rng = np.random.default_rng(0)
    mix = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    print(f"\n### Fréchet distance, d={d} (float64; textbook = scipy.linalg.sqrtm(S1·S2); ours best of 3)\n")
    print("| n | ours (s) | textbook (s) | speed-up | relative difference |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        a, b = features(n, d, 1, mix), features(n, d, 2)
        # ours: best of 3 (cheap, so one slow run from a shared CPU does not decide); textbook: one run
        runs = [timed(M.frechet_distance, a, b) for _ in range(3)]
        ours, t_ours = runs[0][0], min(t for _, t in runs)
        if n > skip_textbook_above:
            print(f"| {n} | {t_ours:.3f} | skipped | - | - |")
            continue
        ref, t_ref = timed(textbook_fid, a, b)
        print(f"| {n} | {t_ours:.3f} | {t_ref:.2f} | {t_ref / t_ours:.1f}x | {abs(ours - ref) / abs(ref):.1e} |",
              flush=True)


def naive_kid_loop(a, b, subsets, m, seed):
    """clean-fid's per-subset loop (three m×m kernel products per subset), same subsets as ours."""
    ia, ib = M.kid_subset_indices(len(a), len(b), subsets, m, seed)
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = a.shape[1]
    vals = []
    for i, j in zip(ia, ib):
        x, y = a[i], b[j]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


def bench_kid(n, d, subsets, m):
    a, b = features(n, d, 3), features(n, d, 4) * 1.05
    (ours, _), t_ours = timed(lambda: M.kid(a, b, subsets=subsets, subset_size=m))
    (ref, _), t_ref = timed(naive_kid_loop, a, b, subsets, m, 0)
    print(f"\n### KID, {subsets} subsets x {m}, n={n} per set, d={d}\n")
    print("| vectorized (s) | per-subset loop (s) | speed-up | relative difference |")
    print("|---:|---:|---:|---:|")
    print(f"| {t_ours:.2f} | {t_ref:.2f} | {t_ref / t_ours:.1f}x | {abs(ours - ref) / abs(ref):.1e} |", flush=True)


# --- the bootstrap as it was before metric specs (kept for the side-by-side timing) ---------

class OldFidBootstrap:
    """FID of row-resampled feature sets from count vectors, without touching d per resample.

    Resampling rows = weighting each original row by its count c. With X, Y
    centred on their own means and G = X Yᵀ precomputed, the weighted means,
    the traces and the cross-factor K = diag(√c1)(X − 1μ1ᵀ)(Y − 1μ2ᵀ)ᵀdiag(√c2)
    follow from G, the row norms and two [d] weighted means, so each resample costs
    O(n1·n2) plus the small eigenproblem; the result equals
    :func:`evaluator.metrics.frechet_distance` on the resampled rows.
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
        if not self.fast:
            return M.frechet_distance(self.a[ia], self.b[ib])
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
        value = float(mean_diff @ mean_diff + tr1 + tr2 - 2.0 * M._trace_sqrt_cross(k))
        return max(value, 0.0)


class OldKidBootstrap:
    """Unbiased MMD² of a resample, as a weighted U-statistic over distinct original rows.

    With counts c: within-set term (cᵀKc − Σ cᵢ²Kᵢᵢ) / ((Σc)² − Σcᵢ²), cross term
    cᵀK_xy e / (Σc·Σe). Kernel matrices are computed once; sides larger than
    4096 rows use a fixed seeded subsample of 4096 for the interval only.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, seed: int):
        rng = np.random.default_rng(seed + 7919)
        self.pos_a, a = self._subsample(a, rng)
        self.pos_b, b = self._subsample(b, rng)
        self.kxx, self.kyy, self.kxy = M.polynomial_kernel(a, a), M.polynomial_kernel(b, b), M.polynomial_kernel(a, b)
        self.na, self.nb = len(a), len(b)

    @staticmethod
    def _subsample(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray | None, np.ndarray]:
        """(position of each original row in the subsample or -1, the kept rows)."""
        if len(rows) <= 4096:
            return None, rows
        keep = np.sort(rng.choice(len(rows), 4096, replace=False))
        pos = np.full(len(rows), -1, np.int64)
        pos[keep] = np.arange(len(keep))
        return pos, rows[keep]

    def __call__(self, ia: np.ndarray, ib: np.ndarray) -> float:
        if self.pos_a is not None:
            ia = self.pos_a[ia]
            ia = ia[ia >= 0]
        if self.pos_b is not None:
            ib = self.pos_b[ib]
            ib = ib[ib >= 0]
        c1 = np.bincount(ia, minlength=self.na).astype(np.float64)
        c2 = np.bincount(ib, minlength=self.nb).astype(np.float64)

        def within(c, k):
            denom = c.sum() ** 2 - (c * c).sum()
            return (c @ k @ c - (c * c) @ np.diag(k)) / denom if denom > 0 else np.nan

        return float(within(c1, self.kxx) + within(c2, self.kyy) - 2.0 * (c1 @ self.kxy @ c2) / (c1.sum() * c2.sum()))


def old_score_fid_kid(out: np.ndarray, ref: np.ndarray, n_resamples: int, seed: int = 0,
                      kid_subset_size: int = 1000) -> dict:
    """The old score_track for ["fid", "kid"]: points, then one independent resample loop."""
    from threadpoolctl import threadpool_limits

    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    n, m = len(out), len(ref)
    point = {"fid": M.frechet_distance(out, ref),
             "kid": M.kid(out, ref, subsets=100, subset_size=kid_subset_size, seed=seed)[0]}
    rng = np.random.default_rng(seed)
    fid_boot, kid_boot = OldFidBootstrap(out, ref), OldKidBootstrap(out, ref, seed)
    stats = {name: np.empty(n_resamples) for name in point}
    with threadpool_limits(limits=1 if max(n, m) <= 2048 else None, user_api="blas"):
        for r in range(n_resamples):
            io, ir = rng.integers(0, n, n), rng.integers(0, m, m)
            stats["fid"][r] = fid_boot(io, ir)
            stats["kid"][r] = kid_boot(io, ir)
    return {name: (point[name], S._interval(stats[name], point[name])) for name in point}


def _bootstrap_round(out, ref, sample, paired, resamples, times):
    old, t = timed(old_score_fid_kid, out, ref, resamples)
    times["old"].append(t)
    new, t = timed(lambda: S.score_track(["fid", "kid"], sample, n_resamples=resamples))
    times["new"].append(t)
    _, t = timed(lambda: S.score_track(["fid", "kid"], paired, n_resamples=resamples))
    times["new, paired"].append(t)
    return old, new


def bench_bootstrap(n, d, resamples):
    """score_track(fid, kid) now (unpaired and paired) vs the old implementation above, same data, one run."""
    out, ref = features(n, d, 5), features(n, d, 6)
    sample = S.TrackSample(out, ref, None, {})
    paired = S.TrackSample(out, ref, None, {}, paired=True)
    rounds = 3  # best of 3 each, interleaved, so a busy moment on a shared CPU does not decide
    times = {"old": [], "new": [], "new, paired": []}
    # score_track's progress bar goes to stderr: keep it out of the tables
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        for _ in range(rounds):
            old, new = _bootstrap_round(out, ref, sample, paired, resamples, times)
    same = all(new[0][k]["value"] == old[k][0] and new[0][k]["ci95"] == list(old[k][1]) for k in old)
    best = {k: min(v) for k, v in times.items()}
    print(f"\n### Bootstrap: score_track(fid, kid), n = m = {n}, d = {d}, {resamples} resamples (best of {rounds})\n")
    print("| implementation | seconds | vs old |")
    print("|---|---:|---:|")
    for name, t in best.items():
        print(f"| {name} | {t:.2f} | {t / best['old']:.2f}x |")
    print(f"\nunpaired values and intervals identical to the old implementation: {same}", flush=True)


def bench_throughput(n_batches, batch):
    import tensorflow as tf

    from evaluator import features as F

    bb = F.load_backbone("inception_v3_random_seed0")
    model = F._keras_inception(None, F.BACKBONES["inception_v3_random_seed0"])
    model.set_weights(F.seeded_weights([(w.path, tuple(w.shape)) for w in model.weights], seed=0))
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8) for _ in range(n_batches)]
    # the bare loop gets inputs already resized and scaled: it measures the network alone
    ready = [tf.constant(F.resize_images(x, 299, "clean") / 127.5 - 1.0) for x in images]
    compiled = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    bb.features(images[0])
    model(ready[0], training=False)
    compiled(ready[0])

    def bare(call):
        start = time.perf_counter()
        for x in ready:
            call(x)[0].numpy()
        return time.perf_counter() - start

    best = {"extractor": float("inf"), "eager": float("inf"), "compiled": float("inf")}
    for _ in range(2):  # alternate, keep the best of two: the CPU is shared with other jobs
        best["extractor"] = min(best["extractor"],
                                timed(lambda: F.extract_features(bb, iter(images), n=batch * n_batches))[1])
        best["eager"] = min(best["eager"], bare(lambda x: model(x, training=False)))
        best["compiled"] = min(best["compiled"], bare(compiled))
    n = batch * n_batches
    print(f"\n### Feature extraction, inception_v3_random_seed0, batch {batch}, {n} images of 64 px\n")
    print("| extractor, incl. clean resize 64->299 (img/s) | bare eager model(x) (img/s) "
          "| bare tf.function(model)(x) (img/s) | extractor / compiled bare |")
    print("|---:|---:|---:|---:|")
    print(f"| {n / best['extractor']:.1f} | {n / best['eager']:.1f} | {n / best['compiled']:.1f} "
          f"| {best['compiled'] / best['extractor']:.2f} |", flush=True)


def bench_fid_graph(n_batches, batch):
    import tensorflow as tf

    from evaluator import features as F

    bb = F.load_backbone("inception_fid", allow_offline_standin=False)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((F.cache_root() / F.BACKBONES["inception_fid"].weights_file).read_bytes())
    rng = np.random.default_rng(8)
    images = [rng.integers(0, 256, (batch, 299, 299, 3), dtype=np.uint8) for _ in range(n_batches)]
    graph = tf.Graph()
    with graph.as_default():
        fed = tf.compat.v1.placeholder(tf.float32, [None, 299, 299, 3])
        pool = tf.compat.v1.import_graph_def(graph_def, input_map={"ExpandDims:0": fed},
                                             return_elements=["pool_3:0"], name="")[0]
    bb.features(images[0], maps=False)
    ours, t_ours = timed(lambda: F.extract_features(bb, iter(images), n=batch * n_batches))
    sess = tf.compat.v1.Session(graph=graph)  # not a `with`: that would make `graph` the default for ours too

    def session_run():
        return np.concatenate([sess.run(pool, {fed: x.astype(np.float32)}).reshape(len(x), -1) for x in images])

    session_run()
    theirs, t_theirs = timed(session_run)
    sess.close()
    n = batch * n_batches
    print(f"\n### inception_fid (sha256 {bb.weights_sha256[:12]}), batch {batch}, {n} images of 299 px\n")
    print("| extractor (img/s) | v1 Session.run of the graph (img/s) | extractor / session | max pool_3 diff |")
    print("|---:|---:|---:|---:|")
    print(f"| {n / t_ours:.1f} | {n / t_theirs:.1f} | {t_theirs / t_ours:.2f} | "
          f"{float(np.abs(ours - theirs).max()):.2e} |", flush=True)


_MEMORY_CHILD = r"""
import json, resource, sys, threading, time, tracemalloc
import numpy as np
from evaluator import features as F
n = int(sys.argv[1])
bb = F.load_backbone("convnet_random_seed0")
def batches():
    rng = np.random.default_rng(0)
    for start in range(0, n, 16):
        yield rng.integers(0, 256, (min(16, n - start), 64, 64, 3), dtype=np.uint8)
F.extract_features(bb, iter([np.zeros((16, 64, 64, 3), np.uint8)]), n=16)  # warm-up: tracing, allocator pools
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
before = rss()
peak_rss = [before]
stop = threading.Event()
def sample():  # ru_maxrss is a lifetime peak (TF start-up included), so sample RSS during the run
    while not stop.is_set():
        peak_rss[0] = max(peak_rss[0], rss())
        time.sleep(0.002)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
tracemalloc.start()
feats = F.extract_features(bb, batches(), n=n)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
stop.set()
sampler.join()
print(json.dumps({"n": n, "feature_bytes": feats.nbytes, "tracemalloc_peak": peak,
                  "rss_peak_growth": max(peak_rss[0], rss()) - before}))
"""


def bench_memory(sizes):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(root)}
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n)], capture_output=True, text=True,
                             env=env, cwd=root, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print("\n### Peak memory of extraction (convnet_random_seed0, d=256, 64 px, batch 16; fresh process each)\n")
    print("| images | features (MiB) | tracemalloc peak (MiB) | peak RSS growth, sampled every 2 ms (MiB) |")
    print("|---:|---:|---:|---:|")
    mib = 1 / 2 ** 20
    for r in rows:
        print(f"| {r['n']} | {r['feature_bytes'] * mib:.2f} | {r['tracemalloc_peak'] * mib:.2f} | "
              f"{r['rss_peak_growth'] * mib:.1f} |")
    grow = (rows[-1]["tracemalloc_peak"] - rows[0]["tracemalloc_peak"]) * mib
    feat = (rows[-1]["feature_bytes"] - rows[0]["feature_bytes"]) * mib
    print(f"\ntracemalloc peak grows {grow:.2f} MiB from {rows[0]['n']} to {rows[-1]['n']} images; "
          f"the features themselves grow {feat:.2f} MiB.", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--skip-textbook-above", type=int, default=10**9,
                        help="skip the textbook formula above this n")
    parser.add_argument("--bootstrap-only", action="store_true",
                        help="only section 3: the bootstrap, new vs the old implementation")
    parser.add_argument("--fid-graph", action="store_true",
                        help="only: inception_fid extractor vs the graph's own Session.run (needs the weights)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, {os.cpu_count()} CPUs (shared: timings are noisy)")
    if args.bootstrap_only:
        bench_bootstrap(100, 256, 20) if args.quick else bench_bootstrap(500, 2048, 200)
    elif args.fid_graph:
        bench_fid_graph(2 if args.quick else 10, 4 if args.quick else 16)
    elif args.quick:
        bench_fid([100, 400], 256, args.skip_textbook_above)
        bench_kid(200, 256, 10, 100)
        bench_bootstrap(100, 256, 20)
        bench_throughput(2, 4)
        bench_memory([32, 96])
    else:
        bench_fid([500, 2000, 10000], 2048, args.skip_textbook_above)
        bench_kid(1000, 2048, 100, 1000)
        bench_bootstrap(500, 2048, 200)
        bench_throughput(10, 16)
        bench_memory([200, 2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
