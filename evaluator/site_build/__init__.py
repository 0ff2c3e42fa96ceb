"""The public static site (`easel site build`): pages, history charts and open data.

- :mod:`.render`: the Jinja2 environment, its filters, page names and link checks;
- :mod:`.chart`: the history chart (SVG);
- :mod:`.opendata`: ``leaderboard.json`` and the per-track CSV files;
- :mod:`.build`: the build itself (staging folder swapped in atomically);
- :mod:`.commands`: the CLI (the only module that imports :mod:`evaluator.cli`).
"""

from .build import STANDIN_WARNING, TrackView, build_site
from .chart import history_svg
from .opendata import CSV_NAME, JSON_NAME, OPEN_DATA_SCHEMA, leaderboard_json, track_csv
from .render import SITE_DIR, default_repo_url, entry_page_names, environment, safe_url

__all__ = ["CSV_NAME", "JSON_NAME", "OPEN_DATA_SCHEMA", "SITE_DIR", "STANDIN_WARNING", "TrackView", "build_site",
           "default_repo_url", "entry_page_names", "environment", "history_svg", "leaderboard_json", "safe_url",
           "track_csv"]
