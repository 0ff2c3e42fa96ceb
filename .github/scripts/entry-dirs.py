"""Print one submissions/<team>/<model> per line for the entries a workflow must evaluate.

Usage: python entry-dirs.py board [LEADERBOARD]   every participant entry (reveal.yml)
       python entry-dirs.py list < JSON           the entries of `easel leaderboard rescore-list --json
                                                  --search submissions` (rescore.yml)
An entry's `dir` (the folder whose content hash is the entry's) is used when the list gives one; an
entry whose scored files are no longer in the tree (`dir` null) is skipped: its folder now holds other
content, which publish.yml scores as a new entry. Baselines and oracle rows have no folder under
submissions/ and are skipped; names are checked as ids.
"""

from __future__ import annotations

import json
import sys

from evaluator.vocab import ID_RE


def main(argv: list[str]) -> int:
    if argv[:1] == ["board"]:
        from evaluator.leaderboard import load_leaderboard

        board = load_leaderboard(argv[1] if len(argv) > 1 else "leaderboard.yaml", missing_ok=True)
        entries = board.to_json()["entries"]  # the same records the `list` mode reads
    elif argv[:1] == ["list"]:
        entries = json.load(sys.stdin)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    dirs = set()
    for entry in entries:
        team, model = entry.get("team"), entry.get("model")
        if entry.get("baseline") or entry.get("oracle") or not all(isinstance(x, str) and ID_RE.match(x)
                                                                    for x in (team, model)):
            continue
        folder = f"submissions/{team}/{model}"
        if "dir" in entry and entry["dir"] != folder:
            continue  # no folder with the scored content, or one outside submissions/<team>/<model>
        dirs.add(folder)
    print("\n".join(sorted(dirs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
