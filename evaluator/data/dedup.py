"""Near-duplicate detection for `data prepare` and `data synth`: crop-aware perceptual hashes and groups.

A plain 64-bit pHash survives re-encoding, resizing and small colour shifts
but not cropping: a 90 % corner crop of a photo sits 18-26 bits away from it,
as far as unrelated pictures (benchmarks/near_duplicates.py). So each image
gets six hashes: the whole square and five 90 % crops (centre and the four
corners). Two images are near-duplicates when the whole of one is within the
threshold of any of the other's six (either way round): a crop of a photo
matches the photo's own crop at the same place. Near-duplicates form groups
(``UnionFind`` over ``near_duplicate_pairs``, so a chain of twins is one group);
`data prepare` keeps one unit per group.
"""

from __future__ import annotations

import numpy as np

# Hamming distance (bits of 64) at or below which two images are near-duplicates.
# Calibrated by benchmarks/near_duplicates.py (README: miss and false-alarm rates).
PHASH_MAX_DISTANCE = 8
CROP_SHARE = 0.9
N_HASHES = 6  # whole image, centre crop, four corner crops


def phash64(image: np.ndarray) -> int:
    """64-bit perceptual hash (imagehash.phash) of uint8 [H, W, 3] as an int."""
    import imagehash  # only prepare and synth need these
    from PIL import Image

    bits = imagehash.phash(Image.fromarray(np.asarray(image, dtype=np.uint8))).hash.ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def crop_hashes(image: np.ndarray) -> np.ndarray:
    """uint64 [6]: pHash of uint8 [H, W, 3] whole, then of its 90 % crops (centre, then corners TL TR BL BR)."""
    height, width = image.shape[:2]
    h, w = round(height * CROP_SHARE), round(width * CROP_SHARE)
    dy, dx = height - h, width - w
    offsets = [(dy // 2, dx // 2), (0, 0), (0, dx), (dy, 0), (dy, dx)]
    hashes = [phash64(image)] + [phash64(image[top:top + h, left:left + w]) for top, left in offsets]
    return np.array(hashes, dtype=np.uint64)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Bit counts of a uint64 array (any shape), as int64."""
    return np.bitwise_count(np.asarray(values, dtype=np.uint64)).astype(np.int64)


def hash_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Near-duplicate distance of two images from their ``crop_hashes`` (uint64 [6] each), in bits."""
    whole_a = _popcount(np.asarray(b, np.uint64) ^ np.uint64(a[0])).min()
    whole_b = _popcount(np.asarray(a, np.uint64) ^ np.uint64(b[0])).min()
    return int(min(whole_a, whole_b))


def distances_to(hashes: np.ndarray, index: int, others: np.ndarray) -> np.ndarray:
    """int64 [m]: ``hash_distance`` of ``hashes[index]`` to each row of ``others`` (uint64 [m, 6])."""
    mine = hashes[index]
    whole_mine = _popcount(others ^ mine[0]).min(axis=1)
    whole_theirs = _popcount(others[:, :1] ^ mine[None, :]).min(axis=1)
    return np.minimum(whole_mine, whole_theirs)


class UnionFind:
    """Disjoint sets over 0..n-1 (path halving, union by smaller root index so roots are stable)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)

    def groups(self) -> list[list[int]]:
        """Members of every set, each sorted, sets ordered by their smallest member."""
        table: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            table.setdefault(self.find(i), []).append(i)
        return [table[root] for root in sorted(table)]


def near_duplicate_pairs(hashes: np.ndarray, max_distance: int, block: int = 128) -> list[tuple[int, int, int]]:
    """Every pair (i, j, distance) with i < j whose ``hash_distance`` is at most ``max_distance``.

    hashes: uint64 [n, 6] from ``crop_hashes``. All n^2 / 2 pairs are compared,
    ``block`` rows at a time against every later row (memory ~ block * n * 6 words).
    """
    hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, N_HASHES)
    whole = hashes[:, 0]
    pairs = []
    for start in range(0, len(hashes), block):
        rows = hashes[start:start + block]
        # [b, n]: the whole of each row against all six of every other, and the other way round
        one_way = np.bitwise_count(whole[None, :, None] ^ rows[:, None, :]).min(axis=2)
        other_way = np.bitwise_count(rows[:, None, :1] ^ hashes[None, :, :]).min(axis=2)
        dist = np.minimum(one_way, other_way)
        for r, j in zip(*np.nonzero(dist <= max_distance)):
            i = start + int(r)
            if int(j) > i:
                pairs.append((i, int(j), int(dist[r, j])))
    return pairs


def has_near_duplicate(candidate: np.ndarray, pool: np.ndarray, max_distance: int) -> bool:
    """Whether ``candidate`` (uint64 [6]) is within ``max_distance`` of any row of ``pool`` (uint64 [m, 6])."""
    pool = np.asarray(pool, dtype=np.uint64).reshape(-1, N_HASHES)
    if not len(pool):
        return False
    stacked = np.concatenate([np.asarray(candidate, np.uint64)[None, :], pool])
    return bool((distances_to(stacked, 0, stacked[1:]) <= max_distance).any())


__all__ = ["PHASH_MAX_DISTANCE", "UnionFind", "crop_hashes", "has_near_duplicate",
           "hash_distance", "near_duplicate_pairs", "phash64"]
