"""Deterministic demo data: the same gids, names and credentials on every run.

Other code (local stack seeding, e2e tests, docs) imports these constants instead of copying values, so they are the
single source of truth for "the demo Asana". All credentials here are fake and only valid against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from local.asana_sandbox.models import OAuthApp, Project, Team, User, Workspace

# --- Workspaces -------------------------------------------------------------------------------------------------
ORG_WORKSPACE_GID = "1201000000000001"
ORG_WORKSPACE_NAME = "Acme Security"
ORG_EMAIL_DOMAIN = "acme-security.example"
PLAIN_WORKSPACE_GID = "1201000000000002"
PLAIN_WORKSPACE_NAME = "Personal Projects"

# --- Users ------------------------------------------------------------------------------------------------------
DEMO_ADMIN_USER_GID = "1202000000000001"
DEMO_ADMIN_NAME = "Dana Admin"
DEMO_ADMIN_EMAIL = f"dana.admin@{ORG_EMAIL_DOMAIN}"
# A member of the organization only (not of the plain workspace).
ORG_MEMBER_USER_GID = "1202000000000002"
# A user who belongs only to the plain workspace: a token of theirs must not see the organization.
OUTSIDER_USER_GID = "1202000000000012"

_USER_NAMES = (
    "Dana Admin",
    "Blake Chen",
    "Carmen Diaz",
    "Devon Edwards",
    "Emery Fischer",
    "Farah Ghani",
    "Gideon Hart",
    "Hana Ito",
    "Imani Jones",
    "Jonas Keller",
    "Kira Lund",
    "Luca Moretti",
)
USER_GIDS: tuple[str, ...] = tuple(f"12020000000000{i:02d}" for i in range(1, len(_USER_NAMES) + 1))

# --- Teams (organization only) ----------------------------------------------------------------------------------
TEAM_SECURITY_GID = "1203000000000001"
TEAM_PLATFORM_GID = "1203000000000002"
TEAM_COMPLIANCE_GID = "1203000000000003"
TEAM_IT_OPS_GID = "1203000000000004"
TEAM_LEADERSHIP_GID = "1203000000000005"  # secret: only its members see it
TEAM_GIDS: tuple[str, ...] = (
    TEAM_SECURITY_GID,
    TEAM_PLATFORM_GID,
    TEAM_COMPLIANCE_GID,
    TEAM_IT_OPS_GID,
    TEAM_LEADERSHIP_GID,
)

# --- Projects ---------------------------------------------------------------------------------------------------
# 230 projects: a listing with limit=100 takes exactly three pages (100, 100, 30).
ORG_PROJECT_COUNT = 230
PLAIN_PROJECT_COUNT = 5
# Every tenth organization project is archived, so archived=true/false filters have something to split.
ORG_ARCHIVED_PROJECT_COUNT = ORG_PROJECT_COUNT // 10

# --- OAuth apps -------------------------------------------------------------------------------------------------
DEMO_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:3000/asana/settings",
    "http://127.0.0.1:3000/asana/settings/",
    "http://localhost:3000/asana/settings",
    "http://localhost:3000/asana/settings/",
)
DEMO_REDIRECT_URI = DEMO_REDIRECT_URIS[0]

# Full permissions ("default" scope), as the requirement doc recommends.
DEMO_APP_CLIENT_ID = "1209000000000001"
DEMO_APP_CLIENT_SECRET = "5b2f0c1e8d7a4e6f9a3c1b0d2e4f6a8c"
DEMO_APP_NAME = "SecureDB Integration (demo)"

# Granular scopes: the minimal set from the requirement doc.
GRANULAR_APP_CLIENT_ID = "1209000000000002"
GRANULAR_APP_CLIENT_SECRET = "a41d7e0b96c3f2851e0d4b7a9c6f3e12"
GRANULAR_APP_NAME = "SecureDB Integration (granular scopes)"
GRANULAR_APP_SCOPES: frozenset[str] = frozenset(
    {"projects:read", "tasks:read", "tasks:write", "users:read", "teams:read", "webhooks:write", "workspaces:read"}
)

# Registered but with no scopes at all: authorizing it fails with invalid_scope.
NO_SCOPES_APP_CLIENT_ID = "1209000000000003"
NO_SCOPES_APP_CLIENT_SECRET = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
NO_SCOPES_APP_NAME = "SecureDB Integration (no scopes)"

# --- Personal access tokens -------------------------------------------------------------------------------------
# Shape of a current Asana PAT: 2/<user gid>/<token gid>:<32 hex>. Clients must not parse it; it is opaque.
DEMO_PAT = f"2/{DEMO_ADMIN_USER_GID}/1208000000000001:3c9d1f0e7b2a48c6a5e1d0f9b8c7a6e5"


@dataclass
class DemoData:
    workspaces: list[Workspace] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    apps: list[OAuthApp] = field(default_factory=list)
    pats: dict[str, str] = field(default_factory=dict)  # token -> user gid


_TEAM_NAMES = {
    TEAM_SECURITY_GID: "Security Engineering",
    TEAM_PLATFORM_GID: "Platform",
    TEAM_COMPLIANCE_GID: "Compliance",
    TEAM_IT_OPS_GID: "IT Operations",
    TEAM_LEADERSHIP_GID: "Leadership",
}
_PROJECT_TOPICS = (
    "Vulnerability triage",
    "Pen test follow-up",
    "Access review",
    "Incident response drill",
    "Patch rollout",
    "Vendor assessment",
    "Policy refresh",
    "Threat model",
    "Audit evidence",
    "Key rotation",
)
_COLORS = ("dark-blue", "light-green", "dark-red", "light-purple", "none")


def _org_members() -> list[str]:
    return [gid for gid in USER_GIDS if gid != OUTSIDER_USER_GID]


def build_demo_data() -> DemoData:
    """Build a fresh copy of the demo data (callers may mutate it freely)."""
    org_members = _org_members()
    plain_members = [DEMO_ADMIN_USER_GID, USER_GIDS[10], OUTSIDER_USER_GID]
    data = DemoData()
    data.workspaces = [
        Workspace(ORG_WORKSPACE_GID, ORG_WORKSPACE_NAME, is_organization=True, email_domains=[ORG_EMAIL_DOMAIN]),
        Workspace(PLAIN_WORKSPACE_GID, PLAIN_WORKSPACE_NAME, is_organization=False),
    ]
    for gid, name in zip(USER_GIDS, _USER_NAMES, strict=True):
        email = f"{name.lower().replace(' ', '.')}@{ORG_EMAIL_DOMAIN}"
        workspaces = [
            ws
            for ws, members in ((ORG_WORKSPACE_GID, org_members), (PLAIN_WORKSPACE_GID, plain_members))
            if gid in members
        ]
        data.users.append(User(gid, name, email, workspaces))
    # The admin is in every team (so a demo token sees all of them), plus two other members each.
    for index, team_gid in enumerate(TEAM_GIDS):
        members = [DEMO_ADMIN_USER_GID, *org_members[1 + index * 2 : 3 + index * 2]]
        visibility = "secret" if team_gid == TEAM_LEADERSHIP_GID else "public"
        data.teams.append(
            Team(
                team_gid,
                _TEAM_NAMES[team_gid],
                ORG_WORKSPACE_GID,
                visibility=visibility,
                member_gids=members,
                description=f"{_TEAM_NAMES[team_gid]} at Acme",
            )
        )
    for i in range(1, ORG_PROJECT_COUNT + 1):
        team = data.teams[(i - 1) % len(data.teams)]
        data.projects.append(
            Project(
                gid=f"1204{i:012d}",
                name=f"{_PROJECT_TOPICS[(i - 1) % len(_PROJECT_TOPICS)]} {i:03d}",
                workspace_gid=ORG_WORKSPACE_GID,
                team_gid=team.gid,
                owner_gid=team.member_gids[i % len(team.member_gids)],
                archived=i % 10 == 0,
                color=_COLORS[i % len(_COLORS)],
                notes=f"Demo project {i} of {team.name}.",
                privacy_setting="private_to_team" if team.visibility == "secret" else "public_to_workspace",
            )
        )
    for i in range(1, PLAIN_PROJECT_COUNT + 1):
        data.projects.append(
            Project(
                gid=f"1205{i:012d}",
                name=f"Personal list {i}",
                workspace_gid=PLAIN_WORKSPACE_GID,
                team_gid=None,
                owner_gid=DEMO_ADMIN_USER_GID,
            )
        )
    data.apps = [
        OAuthApp(
            DEMO_APP_CLIENT_ID, DEMO_APP_CLIENT_SECRET, DEMO_APP_NAME, list(DEMO_REDIRECT_URIS), full_permissions=True
        ),
        OAuthApp(
            GRANULAR_APP_CLIENT_ID,
            GRANULAR_APP_CLIENT_SECRET,
            GRANULAR_APP_NAME,
            list(DEMO_REDIRECT_URIS),
            scopes=GRANULAR_APP_SCOPES,
        ),
        OAuthApp(NO_SCOPES_APP_CLIENT_ID, NO_SCOPES_APP_CLIENT_SECRET, NO_SCOPES_APP_NAME, list(DEMO_REDIRECT_URIS)),
    ]
    data.pats = {DEMO_PAT: DEMO_ADMIN_USER_GID}
    return data
