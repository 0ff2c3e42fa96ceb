"""`easel weights fetch | list`: the command-line edge of the features stage."""

from __future__ import annotations

import argparse

from ..cache import cache_root
from ..cli import command_group
from ..errors import EaselError
from .registry import BACKBONES
from .weights import fetch_weights

_CACHE_HELP = "cache directory (default: $EASEL_CACHE, else ~/.cache/easel)"


def _cmd_fetch(args: argparse.Namespace) -> int:
    if args.name is not None:  # `easel weights fetch lpips-alex`: the id, '-' written for '_'
        wanted = args.name.replace("-", "_")
        if wanted not in BACKBONES:
            raise EaselError("E_BACKBONE", f"unknown backbone {args.name!r}; known: {', '.join(BACKBONES)}",
                             detail="weights fetch")
        args.backbone = wanted
    path = fetch_weights(args.backbone, args.cache, args.archive)
    if path is None:
        print(f"{args.backbone}: weights are generated from a seed; nothing to fetch")
    else:
        print(f"{args.backbone}: verified weights at {path}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    root = cache_root(args.cache)
    for spec in BACKBONES.values():
        if spec.weights_file is None:
            state = "generated"
        else:
            state = "present" if (root / spec.weights_file).is_file() else "absent"
        flags = " [offline stand-in]" if spec.offline_standin else ""
        size = f"{spec.input_size:4d}px" if spec.input_size else "native"
        print(f"{spec.id:28s} {size} d={spec.pool_dim:<5d} {state:9s}{flags}  {spec.description}")
    print(f"cache: {root}")
    return 0


def register(subparsers, settings=None) -> None:
    """`easel weights fetch [BACKBONE | --backbone ID] [--cache DIR] [--archive FILE]` and `easel weights list [--cache DIR]`."""
    sub = command_group(subparsers, "weights", "fetch and list feature-backbone weights")
    fetch = sub.add_parser("fetch", help="download and verify a backbone's weights (needs network, or --archive)",
                           description="Download a backbone's weights, verify them against their pin and "
                                       "install them in the cache. Without network, download the file "
                                       "elsewhere and pass it with --archive.")
    fetch.add_argument("name", nargs="?", default=None, metavar="BACKBONE",
                       help="backbone id, '-' allowed for '_' (e.g. lpips-alex); the same as --backbone")
    fetch.add_argument("--backbone", default="inception_fid", choices=sorted(BACKBONES),
                       help="backbone whose weights to fetch (default: inception_fid)")
    fetch.add_argument("--cache", default=None, help=_CACHE_HELP)
    fetch.add_argument("--archive", default=None, metavar="FILE",
                       help="verify and install a file already downloaded, with no network use "
                            "(for runners without internet; default: download)")
    fetch.set_defaults(func=_cmd_fetch)
    listing = sub.add_parser("list", help="list registered backbones and whether their weights are present",
                             description="List the registered backbones and whether their weights are in the cache.")
    listing.add_argument("--cache", default=None, help=_CACHE_HELP)
    listing.set_defaults(func=_cmd_list)
