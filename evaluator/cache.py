"""Where Easel keeps what it downloads or computes once: one rule for every stage.

Backbone weights (``<root>/inception_fid/...``), cached reference features
(``<root>/features/``) and URL models (``<root>/models/``) all live under
:func:`cache_root`, so one setting moves them together.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EASEL_CACHE"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: ``cache_dir`` if given, else ``$EASEL_CACHE``, else ``~/.cache/easel``.

    An empty or blank ``EASEL_CACHE`` counts as unset (it would otherwise mean
    the current directory, which a runner's checkout must never receive).
    """
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env) if env else Path.home() / ".cache" / "easel"
