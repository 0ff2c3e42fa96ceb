"""Teams own their folders: teams.yaml and the ownership rule the gate and fetch-pr apply.

``teams.yaml`` at the repository root maps each team id to its members'
GitHub logins, a display name and an optional affiliation::

    teams:
      acme:
        name: ACME Vision
        members: [alice, bob]
        affiliation: Example University    # optional

It is changed only by maintainer-reviewed pull requests (CODEOWNERS), and
always read from the trusted checkout of ``main``, never from the PR. The
reserved id ``oracle`` (the ideal-output reference rows) is refused, and a
login belongs to at most one team, so a team's daily limit cannot be doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import EaselError
from .schema import Checker
from .vocab import ID_RE, ID_RULE, LOGIN_RE, SUBMISSIONS_DIR, submission_of

TEAMS_FILE = "teams.yaml"
RESERVED_TEAMS = ("oracle",)
MAX_TEAMS, MAX_MEMBERS = 1000, 20


@dataclass(frozen=True)
class Team:
    """One registered team: id, display name, members' logins (as written) and affiliation."""

    id: str
    name: str
    members: tuple[str, ...]
    affiliation: str | None = None

    def has_member(self, login: str | None) -> bool:
        """GitHub logins are case-insensitive."""
        return bool(login) and login.lower() in {m.lower() for m in self.members}


def parse_teams(raw, source: str = TEAMS_FILE) -> dict[str, Team]:
    """The teams of a parsed teams.yaml, by id; E_TEAMS naming the key path on any problem."""
    check = Checker(source, "E_TEAMS")
    check.mapping(raw, "", required=("teams",))
    teams_raw = raw["teams"] if raw["teams"] is not None else {}
    if not isinstance(teams_raw, dict):
        check.fail("teams", "a mapping of team id to team", teams_raw)
    if len(teams_raw) > MAX_TEAMS:
        check.fail("teams", f"at most {MAX_TEAMS} teams", f"{len(teams_raw)} teams")
    teams: dict[str, Team] = {}
    owner: dict[str, str] = {}
    for team_id, entry in teams_raw.items():
        path = f"teams.{team_id}" if isinstance(team_id, str) and ID_RE.match(team_id) else "teams.(key)"
        check.match(team_id, path, ID_RE, f"a team id: {ID_RULE}")
        if team_id in RESERVED_TEAMS:
            check.fail(path, "a team id other than the reserved " + ", ".join(RESERVED_TEAMS), team_id)
        check.mapping(entry, path, required=("name", "members"), optional=("affiliation",))
        name = check.text(entry["name"], f"{path}.name", most=80)
        members = check.sequence(entry["members"], f"{path}.members", most=MAX_MEMBERS, least=1)
        for i, login in enumerate(members):
            check.match(login, f"{path}.members[{i}]", LOGIN_RE, "a GitHub login")
            if login.lower() in owner:
                check.fail(f"{path}.members[{i}]", f"a login not already in team {owner[login.lower()]}", login)
            owner[login.lower()] = team_id
        affiliation = entry.get("affiliation")
        if affiliation is not None:
            check.text(affiliation, f"{path}.affiliation", most=120)
        teams[team_id] = Team(team_id, name.strip(), tuple(members), affiliation)
    return teams


def load_teams(path: str | Path = TEAMS_FILE) -> dict[str, Team]:
    """teams.yaml from ``path`` (the trusted checkout's); a missing file is E_TEAMS with the fix."""
    from .fsutil import load_yaml_file

    path = Path(path)
    if not path.is_file():
        raise EaselError("E_TEAMS", f"{path.name}: file not found at {path}: create it with `teams: {{}}` "
                                    "(docs/organizers.md, section Teams)", detail=TEAMS_FILE)
    try:
        raw = load_yaml_file(path)
    except EaselError as exc:
        raise EaselError("E_TEAMS", f"{path.name}: {exc.message}", detail=TEAMS_FILE) from None
    return parse_teams(raw, path.name)


def touched_teams(paths: list[str]) -> set[str]:
    """Team ids whose folder ``submissions/<team>/...`` any of ``paths`` lies in (team-level files too)."""
    found = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == SUBMISSIONS_DIR and ID_RE.match(parts[1]):
            found.add(parts[1])
    return found


def check_ownership(teams: dict[str, Team], author: str | None, paths: list[str]) -> str | None:
    """Apply the ownership rule to a PR's changed ``paths`` by ``author``; return its team, or None.

    None when no team folder is touched (the scope check answers that case).
    Raises E_TEAM_REGISTER_MIXED (teams.yaml and a submission together),
    E_TEAM_REGISTRATION (a registration: reviewed, not evaluated),
    E_TEAM_FOLDER (two teams' folders), E_TEAM_RESERVED (``oracle``),
    E_TEAM_UNREGISTERED, E_TEAM_MEMBER.
    """
    registers = TEAMS_FILE in paths
    touched = touched_teams(paths)
    if registers and (touched or any(submission_of(p) for p in paths)):
        raise EaselError("E_TEAM_REGISTER_MIXED", "the pull request changes teams.yaml and a submission folder",
                         detail=TEAMS_FILE)
    if registers:
        raise EaselError("E_TEAM_REGISTRATION", "the pull request changes teams.yaml", detail=TEAMS_FILE)
    if not touched:
        return None
    if len(touched) > 1:
        names = sorted(touched)
        raise EaselError("E_TEAM_FOLDER", f"the pull request changes the folders of teams {', '.join(names)}",
                         detail=next((t for t in names if not teams.get(t) or not teams[t].has_member(author)),
                                     names[0]))
    team = touched.pop()
    if team in RESERVED_TEAMS:
        raise EaselError("E_TEAM_RESERVED", f"submissions/{team}/ is reserved", detail=team)
    if team not in teams:
        raise EaselError("E_TEAM_UNREGISTERED", f"team {team} is not in teams.yaml", detail=team)
    if not teams[team].has_member(author):
        raise EaselError("E_TEAM_MEMBER", f"{author or 'the author'} is not a member of team {team}", detail=team)
    return team


def default_teams_path() -> Path:
    """teams.yaml in the current directory (the workflows' checkout of main), else the repository's."""
    here = Path(TEAMS_FILE)
    return here if here.is_file() else Path(__file__).resolve().parent.parent / TEAMS_FILE
