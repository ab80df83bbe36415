"""Deterministic demo data: the same gids, names and credentials on every run.

Other code (local stack seeding, e2e tests, docs) imports these constants instead of copying values, so they are the
single source of truth for "the demo Asana". All credentials here are fake and only valid against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from local.asana_sandbox.models import (
    DEMO_EPOCH,
    OAuthApp,
    Project,
    Section,
    Task,
    TaskMembership,
    Team,
    TeamMembership,
    User,
    Workspace,
)

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

# Every project has at least one section, as in Asana; the first demo project also has tasks in three sections.
DEMO_TASK_PROJECT_GID = "1204000000000001"
DEMO_SECTION_NAMES: tuple[str, ...] = ("To do", "In progress", "Done")
DEMO_TASK_COUNT = 7
# The one section Asana gives a project that has no others.
UNTITLED: tuple[str, ...] = ("Untitled section",)


def numbered_gid(prefix: str, number: int) -> str:
    """The sandbox's gid scheme: a 4-digit kind prefix and a 12-digit number (e.g. 1204000000000001)."""
    return f"{prefix}{number:012d}"


# Gid prefixes of the kinds the demo and the generated organization number (see large_org.py).
USER_PREFIX, TEAM_PREFIX, PROJECT_PREFIX = "1202", "1203", "1204"
TASK_PREFIX, SECTION_PREFIX, TEAM_MEMBERSHIP_PREFIX = "1206", "1207", "1210"

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
    team_memberships: list[TeamMembership] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    apps: list[OAuthApp] = field(default_factory=list)
    pats: dict[str, str] = field(default_factory=dict)  # token -> user gid

    def members_of(self, team_gid: str) -> list[str]:
        return [m.user_gid for m in self.team_memberships if m.team_gid == team_gid]

    def task_project_gids(self) -> list[str]:
        """Projects holding at least one task, in gid order."""
        gids = {m.project_gid for task in self.tasks for m in task.memberships}
        return sorted(gids, key=int)


_TEAM_NAMES = {
    TEAM_SECURITY_GID: "Security Engineering",
    TEAM_PLATFORM_GID: "Platform",
    TEAM_COMPLIANCE_GID: "Compliance",
    TEAM_IT_OPS_GID: "IT Operations",
    TEAM_LEADERSHIP_GID: "Leadership",
}
PROJECT_TOPICS = (
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
PROJECT_COLORS = ("dark-blue", "light-green", "dark-red", "light-purple", "none")


def org_member_gids() -> list[str]:
    """The demo organization's members (every demo user but the outsider)."""
    return [gid for gid in USER_GIDS if gid != OUTSIDER_USER_GID]


_DEMO_TASK_NAMES = (
    "Triage the OpenSSL advisory",
    "Re-scan the payments API",
    "Confirm the WAF rule rollout",
    "Close stale scanner findings",
    "Document the triage rota",
    "Patch the build agents",
    "Review the exception register",
)


def add_sections(data: DemoData, project: Project, names: tuple[str, ...]) -> list[Section]:
    """Give a project its sections, numbering their gids after the sections already in `data`."""
    sections = [
        Section(numbered_gid(SECTION_PREFIX, len(data.sections) + i), name, project.gid, created_at=project.created_at)
        for i, name in enumerate(names, start=1)
    ]
    data.sections.extend(sections)
    project.section_gids = [section.gid for section in sections]
    return sections


def add_task(data: DemoData, task: Task, section: Section) -> None:
    task.memberships.append(TaskMembership(section.project_gid, section.gid))
    section.task_gids.append(task.gid)
    data.tasks.append(task)


def _add_users(data: DemoData) -> None:
    org_members = org_member_gids()
    plain_members = [DEMO_ADMIN_USER_GID, USER_GIDS[10], OUTSIDER_USER_GID]
    for gid, name in zip(USER_GIDS, _USER_NAMES, strict=True):
        email = f"{name.lower().replace(' ', '.')}@{ORG_EMAIL_DOMAIN}"
        workspaces = [
            ws
            for ws, members in ((ORG_WORKSPACE_GID, org_members), (PLAIN_WORKSPACE_GID, plain_members))
            if gid in members
        ]
        admin_of = [ORG_WORKSPACE_GID] if gid == DEMO_ADMIN_USER_GID else []
        data.users.append(User(gid, name, email, workspaces, admin_workspace_gids=admin_of))


def _add_teams(data: DemoData) -> None:
    org_members = org_member_gids()
    # The admin is in every team (so a demo token sees all of them) as its team admin, plus two other members each.
    for index, team_gid in enumerate(TEAM_GIDS):
        visibility = "secret" if team_gid == TEAM_LEADERSHIP_GID else "public"
        name = _TEAM_NAMES[team_gid]
        data.teams.append(Team(team_gid, name, ORG_WORKSPACE_GID, f"{name} at Acme", visibility))
        for user_gid in (DEMO_ADMIN_USER_GID, *org_members[1 + index * 2 : 3 + index * 2]):
            number = len(data.team_memberships) + 1
            data.team_memberships.append(
                TeamMembership(
                    numbered_gid(TEAM_MEMBERSHIP_PREFIX, number),
                    team_gid,
                    user_gid,
                    is_admin=user_gid == DEMO_ADMIN_USER_GID,
                )
            )


def _add_projects(data: DemoData) -> None:
    for i in range(1, ORG_PROJECT_COUNT + 1):
        team = data.teams[(i - 1) % len(data.teams)]
        members = data.members_of(team.gid)
        project = Project(
            gid=numbered_gid(PROJECT_PREFIX, i),
            name=f"{PROJECT_TOPICS[(i - 1) % len(PROJECT_TOPICS)]} {i:03d}",
            workspace_gid=ORG_WORKSPACE_GID,
            team_gid=team.gid,
            owner_gid=members[i % len(members)],
            archived=i % 10 == 0,
            color=PROJECT_COLORS[i % len(PROJECT_COLORS)],
            notes=f"Demo project {i} of {team.name}.",
            privacy_setting="private_to_team" if team.visibility == "secret" else "public_to_workspace",
        )
        data.projects.append(project)
        add_sections(data, project, DEMO_SECTION_NAMES if project.gid == DEMO_TASK_PROJECT_GID else UNTITLED)
    for i in range(1, PLAIN_PROJECT_COUNT + 1):
        project = Project(
            gid=f"1205{i:012d}",
            name=f"Personal list {i}",
            workspace_gid=PLAIN_WORKSPACE_GID,
            team_gid=None,
            owner_gid=DEMO_ADMIN_USER_GID,
        )
        data.projects.append(project)
        add_sections(data, project, UNTITLED)


def _add_tasks(data: DemoData) -> None:
    sections = [s for s in data.sections if s.project_gid == DEMO_TASK_PROJECT_GID]
    assignees = [*data.members_of(TEAM_SECURITY_GID), None]
    for i, name in enumerate(_DEMO_TASK_NAMES, start=1):
        section = sections[min(i // 3, len(sections) - 1)]  # 2 to do, 3 in progress, 2 done
        done = section is sections[-1]
        created = DEMO_EPOCH + i * 3600
        task = Task(
            gid=numbered_gid(TASK_PREFIX, i),
            name=name,
            workspace_gid=ORG_WORKSPACE_GID,
            created_at=created,
            modified_at=created + 600,
            completed=done,
            completed_at=created + 600 if done else None,
            assignee_gid=assignees[i % len(assignees)],
            due_on=f"2025-02-{i:02d}" if i % 2 else None,
            notes=f"Demo task {i}.",
        )
        add_task(data, task, section)


def build_demo_data() -> DemoData:
    """Build a fresh copy of the demo data (callers may mutate it freely)."""
    data = DemoData()
    data.workspaces = [
        Workspace(ORG_WORKSPACE_GID, ORG_WORKSPACE_NAME, is_organization=True, email_domains=[ORG_EMAIL_DOMAIN]),
        Workspace(PLAIN_WORKSPACE_GID, PLAIN_WORKSPACE_NAME, is_organization=False),
    ]
    _add_users(data)
    _add_teams(data)
    _add_projects(data)
    _add_tasks(data)
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
