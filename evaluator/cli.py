"""The `easel` console script: one entry point, one subcommand group per stage.

Each module in :data:`COMMAND_MODULES` defines ``register(subparsers, settings=None)``,
adding its subcommands with a ``func(args) -> int`` default. The environment is read
once per run into a :class:`~evaluator.settings.Settings` (``args.settings``); options
shared by several commands (``--competition``, ``--leaderboard``, ``--teams``) are
defined once, below. Modules import heavy
libraries (TensorFlow) inside their handlers so `easel --help` stays instant.

Every parser is an :class:`EaselParser` (subparsers inherit the class), so
every command's help shows each option's default and takes ``-v/--verbose``.

Quiet by default: :func:`quiet_output` sets TF_CPP_MIN_LOG_LEVEL before
TensorFlow can be imported, hides the C++ start-up lines that TensorFlow
prints while it is imported (they ignore that variable), and prints each
warning once as ``warning: ...`` whether it came through `logging` or
`warnings`. ``--verbose`` (or EASEL_VERBOSE=1) leaves all of it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import traceback
import warnings

from pathlib import Path

from . import __version__
from .errors import EXIT_ERROR, EaselError
from .settings import Settings

# Adding a command group touches this list and the module itself.
COMMAND_MODULES = (
    "evaluator.data.commands",   # easel data synth | prepare | verify
    "evaluator.features.commands",  # easel weights fetch | list
    "evaluator.submission_commands",  # easel validate | fetch-model | check
    "evaluator.commands",        # easel evaluate | report | demo
    "evaluator.leaderboard.commands",  # easel leaderboard add | reveal | show | rescore-list
    "evaluator.site_build.commands",   # easel site build
    "evaluator.github.commands",       # easel bot comment | gate | bind | find-pr
    "evaluator.scope.commands",        # easel scope check | pending, easel fetch-pr
    "evaluator.baseline_commands",     # easel baselines add
)


VERBOSE_FLAGS = ("-v", "--verbose")


class HelpFormatter(argparse.HelpFormatter):
    """An option's help ends with its default unless it names one (or the default is None or False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "%(default)" in text or "default" in text.lower() or unset:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


class _Subcommands(argparse._SubParsersAction):
    """Subcommands whose ``--help`` page starts with their one-line help when no description is given."""

    def add_parser(self, name, **kwargs):
        if kwargs.get("description") is None and kwargs.get("help"):
            text = kwargs["help"]
            kwargs["description"] = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
        return super().add_parser(name, **kwargs)


class EaselParser(argparse.ArgumentParser):
    """An ArgumentParser with :class:`HelpFormatter` and ``-v/--verbose``; its subparsers are EaselParsers too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Subcommands)
        # SUPPRESS: a subcommand that is not given the flag leaves the top-level value alone.
        self.add_argument(*VERBOSE_FLAGS, action="store_true", default=argparse.SUPPRESS,
                          help="show TensorFlow's logs and every log message (default: quiet)")


def command_group(subparsers, name: str, help: str):
    """Add ``easel NAME ACTION ...``: a command whose actions are its own subparsers (returned)."""
    group = subparsers.add_parser(name, help=help, description=help)
    actions = group.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar="ACTION")
    actions.required = True
    return actions


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The whole CLI; ``settings`` (read from the environment when None) give the env-backed defaults
    and reach every handler as ``args.settings``."""
    settings = settings or Settings.from_environ()
    parser = EaselParser(
        prog="easel", description="Easel: git-native GAN style-transfer competitions.")
    parser.add_argument("--version", action="version", version=f"easel {__version__}")
    parser.set_defaults(settings=settings)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, settings)
    return parser


# --- options shared by several commands: one definition each --------------------------

DEFAULT_FILE = "./{name}, else the repository's"


def add_competition_option(parser, purpose: str = "", absent: str | None = None) -> None:
    """``--competition FILE``; :func:`competition_of` loads it. ``purpose`` says what the command uses it
    for; ``absent`` replaces the default's wording where leaving it out means something else."""
    what = f"competition.yaml{' ' + purpose if purpose else ''}"
    parser.add_argument("--competition", type=Path, default=None, metavar="FILE",
                        help=f"{what} (default: {absent or DEFAULT_FILE.format(name='competition.yaml')})")


def competition_of(args):
    """The competition ``--competition`` names (or the default file), loaded and checked."""
    from .config import default_competition_path, load_competition

    return load_competition(args.competition or default_competition_path())


def add_leaderboard_option(parser, purpose: str = "the board") -> None:
    """``--leaderboard FILE`` (default ./leaderboard.yaml)."""
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"), metavar="FILE",
                        help=f"leaderboard.yaml: {purpose} (default: %(default)s)")


def add_teams_option(parser, purpose: str = "") -> None:
    """``--teams FILE``: teams.yaml (default ./teams.yaml, else the repository's)."""
    parser.add_argument("--teams", type=Path, default=None, metavar="FILE",
                        help=f"teams.yaml{' ' + purpose if purpose else ''} "
                             f"(default: {DEFAULT_FILE.format(name='teams.yaml')})")


def report_error(exc: EaselError) -> None:
    print(f"error {exc.code}: {exc.message}", file=sys.stderr)
    if exc.detail and exc.detail not in exc.message:
        print(f"  detail: {exc.detail}", file=sys.stderr)
    print(f"  fix: {exc.hint}", file=sys.stderr)


# --- quiet by default ----------------------------------------------------------

# Lines TensorFlow's C++ side writes while `import tensorflow` runs, before its log
# level applies: absl's "I0000 00:00:1796136991.22 11927 port.cc:153] ..." prefix,
# absl's preamble, and the cpu_feature_guard note's second line.
_TF_STARTUP_NOISE = re.compile(
    r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow)")


@contextlib.contextmanager
def _startup_noise_hidden():
    """Send file descriptor 2 to a temp file for the block, then replay what is not TensorFlow start-up noise."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to protect (a closed descriptor): import as is
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _TF_STARTUP_NOISE.match(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of the `tensorflow` package with its start-up noise hidden."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader  # the package sees its own loader
        with _startup_noise_hidden():
            self._loader.exec_module(module)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        with contextlib.suppress(ImportError):
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: the first `import tensorflow` (from any module) runs through :class:`_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _OncePerMessage(logging.Handler):
    """stderr lines ``warning: ...`` / ``error: ...``, each distinct text once per run."""

    def __init__(self, level: int):
        super().__init__(level)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        self.say(text, record.levelname.lower() if record.levelno >= logging.WARNING else record.name)

    def say(self, text: str, label: str) -> None:
        if text in self.seen:
            return
        self.seen.add(text)
        sys.stderr.write(f"{label}: {text}\n")
        sys.stderr.flush()

    def show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.say(str(message), "warning")


def wants_verbose(argv: list[str], settings: Settings | None = None) -> bool:
    """True when ``-v``/``--verbose`` is among the arguments or EASEL_VERBOSE is set to 1."""
    return (settings or Settings.from_environ()).verbose or any(arg in VERBOSE_FLAGS for arg in argv)


@contextlib.contextmanager
def quiet_output(verbose: bool):
    """The output policy for one CLI run (see the module docstring); restores the process's state after."""
    root = logging.getLogger()
    handler = _OncePerMessage(logging.INFO if verbose else logging.WARNING)
    hook = None if verbose else _QuietTensorFlowImport()
    if hook is not None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before any import of TensorFlow
        if "tensorflow" not in sys.modules:
            sys.meta_path.insert(0, hook)
    saved_level, saved_show = root.level, warnings.showwarning
    root.addHandler(handler)
    if verbose:
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
    warnings.showwarning = handler.show_warning
    try:
        yield
    finally:
        warnings.showwarning = saved_show
        root.removeHandler(handler)
        root.setLevel(saved_level)
        if hook is not None and hook in sys.meta_path:
            sys.meta_path.remove(hook)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = Settings.from_environ()  # the one read of the environment in this run
    with quiet_output(wants_verbose(argv, settings)):
        return _run(argv, settings)


def _run(argv: list[str], settings: Settings) -> int:
    parser = build_parser(settings)
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
