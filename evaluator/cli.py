"""The `easel` console script: one entry point, one subcommand group per stage.

Each module in :data:`COMMAND_MODULES` defines ``register(subparsers)``, adding
its subcommands with a ``func(args) -> int`` default. Modules import heavy
libraries (TensorFlow) inside their handlers so `easel --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .errors import EXIT_ERROR, EaselError

# Adding a command group touches this list and the module itself.
COMMAND_MODULES = (
    "evaluator.data.commands",   # easel data synth | prepare | verify
    "evaluator.features.commands",  # easel weights fetch | list
    "evaluator.submission",      # easel validate
    "evaluator.evaluate",        # easel evaluate
    "evaluator.report",          # easel report
    "evaluator.leaderboard",     # easel leaderboard add | reveal | show
    "evaluator.site_build",      # easel site build
    "evaluator.github",          # easel bot comment | gate
    "evaluator.scope",           # easel scope check | easel fetch-pr
    "evaluator.demo",            # easel demo
)


def command_group(subparsers, name: str, help: str):
    """Add ``easel NAME ACTION ...``: a command whose actions are its own subparsers (returned)."""
    group = subparsers.add_parser(name, help=help, description=help)
    actions = group.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar="ACTION")
    actions.required = True
    return actions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="easel", description="Easel: git-native GAN style-transfer competitions.")
    parser.add_argument("--version", action="version", version=f"easel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def report_error(exc: EaselError) -> None:
    print(f"error {exc.code}: {exc.message}", file=sys.stderr)
    if exc.detail and exc.detail not in exc.message:
        print(f"  detail: {exc.detail}", file=sys.stderr)
    print(f"  fix: {exc.info.hint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EaselError as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - last line of defence: never a bare traceback alone
        traceback.print_exc()
        report_error(EaselError("E_INTERNAL"))
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
