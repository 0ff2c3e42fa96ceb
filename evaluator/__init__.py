"""Easel: the evaluator of a git-native GAN style-transfer competition.

Stages (one module each, see DESIGN.md): config, data, submission, modelcheck,
sandbox, features, metrics, scoring, evaluate, report, leaderboard, site,
github, cli.
"""

__version__ = "0.1.0"
