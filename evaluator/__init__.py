"""Easel: the evaluator of a git-native GAN style-transfer competition.

The package reads as the flow of a submission (README, "Development", maps each
stage to its module): config and teams → data → submission and models → sandbox →
features → metrics and scoring → evaluate, gallery, oracle, result → report,
leaderboard, site_build → scope and github; cli and each package's commands module
are the command-line edge.
"""

__version__ = "0.1.0"
