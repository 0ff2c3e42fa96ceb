"""`easel` explains itself: every command and group has a description, every option its help and default."""

from __future__ import annotations

import argparse

import pytest

from evaluator.cli import HelpFormatter, build_parser

FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction, argparse._VersionAction,
         argparse._CountAction, argparse._StoreConstAction)


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("easel",)):
    """(command path, parser, help line in the parent's listing) for the parser and every subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))


PARSERS = list(walk(build_parser()))


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in PARSERS}
    assert {"easel evaluate", "easel report", "easel data synth", "easel data prepare", "easel data verify",
            "easel leaderboard add", "easel site build", "easel validate"} <= names


@pytest.mark.parametrize("path, parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_every_command_option_and_listing_explains_itself(path, parser):
    assert parser.description and parser.description.strip(), f"{' '.join(path)} has no description"
    text = parser.format_help()
    assert "%%" not in text, text
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            problems += [f"subcommand {name} has no help" for name in action.choices if not listed.get(name)]
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            problems.append(f"{name} has no help")
            continue
        if action.option_strings and not isinstance(action, FLAGS) and not action.required:
            shown = HelpFormatter(" ".join(path))._expand_help(action)
            if "default" not in shown.lower():
                problems.append(f"{name}: help does not give the default: {shown!r}")
    assert problems == [], f"{' '.join(path)}: {problems}"


def test_defaults_are_shown_by_the_formatter():
    parser = build_parser()
    report = next(p for path, p in PARSERS if path == ("easel", "report"))
    assert "(default: leaderboard.yaml)" in " ".join(report.format_help().split())
    assert parser.parse_args(["--verbose", "report", "r.json"]).verbose is True
    assert parser.parse_args(["report", "r.json", "-v"]).verbose is True
    assert not hasattr(parser.parse_args(["report", "r.json"]), "verbose")
