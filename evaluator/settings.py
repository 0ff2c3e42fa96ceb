"""Settings Easel takes from the environment, read in one object at the command-line edge.

`easel` reads :class:`Settings` once per run (:func:`evaluator.cli.build_parser`);
options default from it and handlers pass its values on as arguments, so no
stage below the CLI reads an environment variable for these.

Two library defaults keep their own single reader, on purpose:

- the cache folder, ``EASEL_CACHE`` (:func:`evaluator.cache.cache_root`): the stages that
  fill the cache take a ``cache_dir`` that wins; the variable is the process-wide default
  for every caller that passes none (the CLI, benchmarks/, tools/, the test session's
  conftest). Handing it down from here instead would leave each of those entry points
  to rebuild it, and a forgotten argument would quietly use ``~/.cache/easel``;
- an organizer's weights pin (``EASEL_INCEPTION_FID_SHA256``, ``EASEL_DINOV2_SHA256``:
  each backbone spec's ``sha256_env``, read by :func:`evaluator.features.weights.pinned_sha256`):
  it is read where weights are verified (fetch, install, load), so no path that
  verifies weights can miss the pin by not being handed it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

REQUIRE_GPU_ENV = "EASEL_REQUIRE_GPU"
MODEL_CACHE_ENV = "EASEL_MODEL_CACHE"
VERBOSE_ENV = "EASEL_VERBOSE"
BOT_LOGIN_ENV = "EASEL_BOT_LOGIN"
API_URL_ENV = "GITHUB_API_URL"
TOKEN_ENV = "GITHUB_TOKEN"
SERVER_URL_ENV, REPOSITORY_ENV = "GITHUB_SERVER_URL", "GITHUB_REPOSITORY"  # set inside GitHub Actions
DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class Settings:
    """``require_gpu``: EASEL_REQUIRE_GPU=1 (the GPU runner); ``model_cache``: EASEL_MODEL_CACHE, the
    folder `easel fetch-model` filled (None: download URL models); ``verbose``: EASEL_VERBOSE=1;
    ``api_url``: GITHUB_API_URL; ``bot_login``: EASEL_BOT_LOGIN (None: the default bot);
    ``github_token``: GITHUB_TOKEN ("" when unset; never printed); ``server_url``: $GITHUB_SERVER_URL,
    the run's GitHub server (None outside GitHub Actions); ``repo_url``:
    $GITHUB_SERVER_URL/$GITHUB_REPOSITORY inside GitHub Actions (None elsewhere)."""

    require_gpu: bool = False
    model_cache: Path | None = None
    verbose: bool = False
    api_url: str = DEFAULT_API_URL
    bot_login: str | None = None
    github_token: str = ""
    server_url: str | None = None
    repo_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        cache = env.get(MODEL_CACHE_ENV, "").strip()
        server, repository = (env.get(SERVER_URL_ENV) or "").rstrip("/") or None, env.get(REPOSITORY_ENV)
        return cls(require_gpu=env.get(REQUIRE_GPU_ENV) == "1", model_cache=Path(cache) if cache else None,
                   verbose=env.get(VERBOSE_ENV) == "1", api_url=env.get(API_URL_ENV) or DEFAULT_API_URL,
                   bot_login=env.get(BOT_LOGIN_ENV) or None, github_token=env.get(TOKEN_ENV, ""),
                   server_url=server, repo_url=f"{server}/{repository}" if server and repository else None)

    def __repr__(self) -> str:  # the token stays out of any log or traceback
        return (f"Settings(require_gpu={self.require_gpu}, model_cache={self.model_cache}, verbose={self.verbose}, "
                f"api_url={self.api_url!r}, bot_login={self.bot_login!r}, github_token=<{len(self.github_token)} "
                f"characters>, server_url={self.server_url!r}, repo_url={self.repo_url!r})")


def settings_of(args) -> Settings:
    """The run's settings from parsed arguments (read from the environment when a test built its own parser)."""
    return getattr(args, "settings", None) or Settings.from_environ()
