"""CLI edge of submissions and competition.yaml: `easel validate`, `easel fetch-model`, `easel check`."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import add_competition_option, competition_of
from .config import default_competition_path, load_competition
from .errors import EXIT_OK, EaselError
from .settings import Settings
from .submission import Validation, folder_bytes, read_meta, validate_submission

MIB = 1024 * 1024


def print_problems(problems: list[EaselError], out=None) -> None:
    """Each problem with its code, where it is (the allowlisted detail) and the fix."""
    out = out or sys.stdout
    for p in problems:
        where = f" [{p.detail}]" if p.detail else ""
        print(f"  {p.code}{where}: {p.message}\n      fix: {p.hint}", file=out)


def print_validation(v: Validation, out=None) -> None:
    out = out or sys.stdout
    if v.ok and v.meta:
        print(f"ok: {v.meta.key} for track {v.meta.track} ({v.meta.format}, "
              f"{v.model_bytes / MIB:.2f} MB, content sha256 {v.content_sha256[:12]})", file=out)
        return
    print(f"{len(v.problems)} problem(s) in {v.root}:", file=out)
    print_problems(v.problems, out)


def _cmd_validate(args) -> int:
    v = validate_submission(args.submission_dir, competition_of(args), probe=not args.no_probe,
                            model_cache=args.model_cache)
    print_validation(v)
    return EXIT_OK if v.ok else max(p.exit_code for p in v.problems)


def _cmd_fetch_model(args) -> int:
    """Fetch and verify a URL model into --out (the hosted gate job; the GPU job reads it offline)."""
    from .model_fetch import fetch_for_limits

    competition = competition_of(args)
    root = Path(args.submission_dir)
    meta, problems = read_meta(root)
    if problems:
        print(f"{len(problems)} problem(s) in {root}:")
        print_problems(problems)
        return max(p.exit_code for p in problems)
    if not meta.url:
        print(f"{meta.key}: the model is in the folder (model.path); nothing to fetch")
        return EXIT_OK
    path = fetch_for_limits(meta.url, meta.sha256, meta.format, competition.limits, args.out, folder_bytes(root))
    print(f"fetched {meta.key}: {path} (sha256 verified)")
    return EXIT_OK


def _cmd_check(args) -> int:
    """competition.yaml alone; with --data, each track's dataset against its manifest."""
    path = args.competition or default_competition_path()
    competition = load_competition(path)
    print(f"ok: {path}: {competition.name!r}, {len(competition.tracks)} track(s), "
          f"{len(competition.phases)} phase(s)")
    if args.data is None:
        return EXIT_OK
    from .data.manifest import open_dataset

    failed: list[EaselError] = []
    for track in competition.tracks:
        try:
            _, manifest = open_dataset(args.data, track.dataset)
            if manifest.image_size != track.image_size:
                raise EaselError("E_DATA_MANIFEST", f"dataset {track.dataset} is {manifest.image_size}px, "
                                 f"track {track.id} wants {track.image_size}px", detail=track.dataset)
            if manifest.kind != track.kind:
                raise EaselError("E_DATA_MANIFEST", f"dataset {track.dataset} is of kind {manifest.kind}, "
                                 f"track {track.id} is {track.kind}", detail=track.dataset)
            print(f"ok: track {track.id}: dataset {track.dataset} matches its manifest")
        except EaselError as exc:
            print(f"track {track.id}: dataset {track.dataset}:")
            print_problems([exc])
            failed.append(exc)
    return max((p.exit_code for p in failed), default=EXIT_OK)


def add_model_cache_option(parser, settings: Settings) -> None:
    """``--model-cache DIR`` (validate, evaluate): default $EASEL_MODEL_CACHE (from ``settings``)."""
    parser.add_argument("--model-cache", type=Path, default=settings.model_cache, metavar="DIR",
                        help="folder filled by `easel fetch-model`: a URL model is read from it and never "
                             "downloaded (default: $EASEL_MODEL_CACHE, else download)")


def register(sub, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_environ()
    p = sub.add_parser("validate", help="check a submission directory without data",
                       description="Check schema, names, folder, files, size, track and the model's format, "
                                   "graph and signature. Exit 0 when valid, 2 with every problem listed "
                                   "(code, where, fix).")
    p.add_argument("submission_dir", type=Path, help="submissions/<team>/<model>/")
    add_competition_option(p)
    p.add_argument("--no-probe", action="store_true",
                   help="skip loading the model in the sandbox (static checks only; default: probe)")
    add_model_cache_option(p, settings)
    p.set_defaults(func=_cmd_validate)

    f = sub.add_parser("fetch-model", help="download and verify a submission's URL model",
                       description="Fetch model.url (https, allowlisted host, size limit, timeouts) into "
                                   "--out as <sha256>.<suffix> after checking its sha256. Exit 0 when "
                                   "fetched or when the model is in the folder, 2 on any refusal.")
    f.add_argument("submission_dir", type=Path, help="submissions/<team>/<model>/")
    f.add_argument("--out", type=Path, required=True, help="model cache folder to fill (created if absent)")
    add_competition_option(f, "for the model size limit and the allowed hosts")
    f.set_defaults(func=_cmd_fetch_model)

    c = sub.add_parser("check", help="check competition.yaml (and, with --data, each track's dataset)",
                       description="Validate competition.yaml alone, without a submission; with --data, "
                                   "also that each track's dataset exists, matches its manifest, its size "
                                   "and kind. Exit 0 when all is well, 3 otherwise.")
    add_competition_option(c, "to check")
    c.add_argument("--data", type=Path, default=None,
                   help="dataset root holding one folder per dataset id (default: skip the data check)")
    c.set_defaults(func=_cmd_check)
