"""leaderboard.yaml: every scored, merged entry; adding, revealing and ranking.

The file is written only by the publish, reveal and rescore workflows
(``easel leaderboard add | reveal``) and read by the site, the PR comment and
``easel leaderboard show``. One module per job:

- :mod:`.schema`: the file's keys, their check (E_LEADERBOARD) and the records the process holds:
  :class:`Board` of frozen :class:`Entry` values;
- :mod:`.yamlio`: the safe, fast YAML reader and the stable writer;
- :mod:`.identity`: the scoring identity (which results rank together);
- :mod:`.rules`: what a result needs to enter, plausible values, the final selection;
  binding a result to its files, data, commit and PR is :mod:`evaluator.binding`;
- :mod:`.update`: ``add_result``, ``reveal``, ``rescore_list``;
- :mod:`.ranking`: the one ranking, number format and metric order;
- :mod:`.commands`: the CLI (the only module that imports :mod:`evaluator.cli`).
"""

from .rules import check_plausible, clean_meta, final_overflow, final_selection
from .identity import ScoringIdentity, current_scoring
from .ranking import (
    RankedEntry,
    format_interval,
    format_value,
    metric_order,
    rank_rows,
    rank_track,
    ranking_split,
    row_notes,
    show_table,
    standing,
    track_entries,
)
from .schema import (
    EFFICIENCY_KEYS,
    ENTRY_KEYS,
    SCHEMA_VERSION,
    Board,
    Entry,
    Revealed,
    empty_board,
    iso_utc,
    parse_time,
    utc,
    validate_board,
)
from .update import add_result, rescore_list, reveal
from .yamlio import _parse_yaml, dump_leaderboard, load_leaderboard, save_leaderboard

__all__ = [
    "Board", "EFFICIENCY_KEYS", "ENTRY_KEYS", "Entry", "RankedEntry", "Revealed", "SCHEMA_VERSION", "ScoringIdentity", "add_result",
    "check_plausible", "clean_meta", "current_scoring",
    "dump_leaderboard", "empty_board", "final_overflow", "final_selection", "format_interval",
    "format_value", "iso_utc", "load_leaderboard", "metric_order", "parse_time", "rank_rows",
    "rank_track", "ranking_split", "rescore_list", "reveal", "row_notes", "save_leaderboard", "show_table",
    "standing", "track_entries", "utc", "validate_board", "_parse_yaml",
]
