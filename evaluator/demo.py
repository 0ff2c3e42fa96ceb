"""`easel demo`: the whole flow on one machine, no GitHub, no GPU.

synthesize the dev datasets → evaluate every submission and baseline →
print each PR comment → score the oracle of every synthesized track →
add them to a local leaderboard copy → build the site.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import load_competition
from .folders import submission_folders
from .fsutil import atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_submissions(*roots: Path) -> list[Path]:
    """Every submission directory (holding submission.yaml) two levels below the roots, sorted
    (:func:`evaluator.folders.submission_folders`: the copyable template is not a submission)."""
    return [folder.path for folder in submission_folders(*roots, with_meta=True)]


def _data_ready(data_root: Path, dataset_ids: set[str]) -> bool:
    """Whether every dataset verifies and has showcase images (data from before showcases is remade)."""
    from .data.manifest import SHOWCASE, verify_dataset
    from .errors import EaselError

    try:
        for dataset_id in dataset_ids:
            if not verify_dataset(data_root / dataset_id).paths("showcase/A", SHOWCASE):
                return False
    except EaselError:
        return False
    return True


def oracle_results(data_root: Path, competition, out: Path) -> list[dict]:
    """Score the oracle of every track whose dataset was synthesized; write results/<track>/oracle--ideal.json
    and its gallery as samples/<track>/oracle/ideal.png.

    Tracks on prepared data get no oracle (their ideal outputs are unknown).
    """
    from .data.manifest import read_manifest
    from .oracle import ORACLE_MODEL, ORACLE_TEAM, has_oracle, oracle_result

    results = []
    for track in competition.tracks:
        if not has_oracle(read_manifest(data_root / track.dataset)):
            print(f"  {track.id}: dataset {track.dataset} was not synthesized; no oracle")
            continue
        result = oracle_result(data_root, competition, track.id,
                               samples_path=out / "samples" / track.id / ORACLE_TEAM / f"{ORACLE_MODEL}.png")
        atomic_write_json(out / "results" / track.id / "oracle--ideal.json", result.to_json())
        rank = result.metrics[track.ranking.metric]
        print(f"  {track.id}: oracle {track.ranking.metric} = {rank.value:.4g} "
              f"[{rank.ci95[0]:.4g}, {rank.ci95[1]:.4g}]", flush=True)
        results.append(result)
    return results


def run_demo(out: Path, competition_path: Path, repo_root: Path = REPO_ROOT, size: int = 64, count: int = 120,
             seed: int = 0) -> int:
    from .data.synth import synthesize
    from .evaluate import evaluate_submission, summary_line
    from .leaderboard import add_result, empty_board, load_leaderboard, save_leaderboard
    from .oracle import ORACLE_META
    from .report import render_comment
    from .site_build import build_site
    from .submission import read_meta

    competition = load_competition(competition_path)
    data_root = out / "data"
    datasets = {t.dataset for t in competition.tracks}
    if _data_ready(data_root, datasets):
        print(f"[1/5] dev data: reusing verified datasets in {data_root}")
    else:
        print(f"[1/5] dev data: synthesizing {sorted(datasets)} into {data_root}")
        synthesize(data_root, size=size, count=count, seed=seed, datasets=sorted(datasets))

    submissions = find_submissions(repo_root / "submissions", repo_root / "baselines")
    print(f"[2/5] evaluating {len(submissions)} submissions (public split)")
    board_path = out / "leaderboard.yaml"
    source_board = repo_root / "leaderboard.yaml"
    if source_board.is_file():
        shutil.copyfile(source_board, board_path)
    board = load_leaderboard(board_path) if board_path.is_file() else empty_board()

    results, failures = [], 0
    for number, sub_dir in enumerate(submissions, start=1):
        meta, _ = read_meta(sub_dir)
        label = f"{sub_dir.parent.name}/{sub_dir.name}"
        track_id = meta.track if meta else "unknown"
        stem = f"{track_id}/{label.replace('/', '--')}"
        samples = out / "samples" / track_id / (f"{meta.team}/{meta.model}.png" if meta else "unknown.png")
        print(f"\n=== [{number}/{len(submissions)}] {label}", flush=True)
        result = evaluate_submission(sub_dir, data_root, competition, split="public", samples_path=samples)
        atomic_write_json(out / "results" / f"{stem}.json", result.to_json())
        results.append(result)
        comment = render_comment(result, competition, board)
        atomic_write_text(out / "comments" / f"{stem}.md", comment)
        print(comment)
        print(summary_line(result), flush=True)
        if result.status != "ok":
            failures += 1

    print("\n[3/5] oracle rows (ideal outputs of the synthesized tracks, never ranked)")
    oracles = oracle_results(data_root, competition, out)

    print("\n[4/5] local leaderboard:", board_path)
    for sub_dir, result in zip(submissions, results):
        if result.status == "ok":
            meta, _ = read_meta(sub_dir)
            # The result's content hash is this evaluation's own hash of sub_dir: no need to hash it again.
            board, _changed = add_result(board, result, pr=None, commit=None, meta=meta.public_meta(),
                                         competition=competition)
    for result in oracles:
        board, _changed = add_result(board, result, pr=None, commit=None, meta=ORACLE_META, competition=competition)
    save_leaderboard(board_path, board)

    index = build_site(board, competition, out / "site", samples_dir=out / "samples")
    print(f"[5/5] site built: {index.resolve()}")
    print(f"\n{len(results) - failures} scored, {failures} not scored; results in {out / 'results'}")
    return 0 if failures == 0 else 1
