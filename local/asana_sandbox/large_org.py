"""A generated organization at a chosen size, deterministic by seed, for sync tests and benchmarks.

`build_large_org(users=2000, teams=300, projects=5000, imported_tasks=20000, seed=0)` returns demo data whose
organization (Acme Security) has been grown to exactly those sizes. Everything of the small demo stays (gids, users,
the plain workspace, apps, PATs), so the demo credentials and every demo constant keep working. Sizes are totals:

- `users`: the organization's active members, the demo's 11 included; `deactivated_users` more were deactivated
  (absent from `/users?workspace=`, still named as assignees of old tasks); every `EMAIL_HIDDEN_EVERY`-th generated
  user has no visible email;
- `teams`: the organization's teams, the demo's 5 included; every `SECRET_TEAM_EVERY`-th generated team is secret.
  Dana Admin is a member of every secret team, so the demo admin's token sees the whole organization;
- `projects`: the organization's projects, the demo's 230 included; every tenth is archived, as in the demo;
- `imported_tasks`: the organization's tasks, the demo's 7 included; the generated ones are spread evenly over
  `task_projects` generated projects (three sections each), with assignees, due dates, completion and `modified_at`
  spread over the half year after the demo epoch.

Start a sandbox with it with `AsanaSandbox(dataset=build_large_org(...))`, `python -m local.asana_sandbox --size
large`, or `POST /_sandbox/dataset {"users": 2000, ...}` on a running one.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.asana_sandbox import demo
from local.asana_sandbox.demo import (
    DEMO_ADMIN_USER_GID,
    ORG_EMAIL_DOMAIN,
    ORG_WORKSPACE_GID,
    PROJECT_COLORS,
    PROJECT_PREFIX,
    PROJECT_TOPICS,
    TASK_PREFIX,
    TEAM_MEMBERSHIP_PREFIX,
    TEAM_PREFIX,
    USER_PREFIX,
    DemoData,
    add_sections,
    add_task,
    numbered_gid,
)
from local.asana_sandbox.models import DEMO_EPOCH, Project, Task, Team, TeamMembership, User

EMAIL_HIDDEN_EVERY = 20
SECRET_TEAM_EVERY = 25
ADMIN_EVERY = 250
TASK_SECTIONS: tuple[str, ...] = ("Backlog", "Doing", "Done")
_DAY = 86400.0

_FIRST = (
    "Ada", "Bo", "Cyra", "Dev", "Eli", "Fen", "Gus", "Hal", "Ines", "Jia", "Kai", "Lena", "Milo", "Nia", "Omar",
    "Pia", "Quin", "Rae", "Sami", "Tara", "Uma", "Vik", "Wren", "Xia", "Yuri", "Zoe", "Arlo", "Bea", "Cruz", "Dina",
)  # fmt: skip
_LAST = (
    "Abbott", "Baker", "Cho", "Dutta", "Evans", "Flores", "Garcia", "Hughes", "Iyer", "Jensen", "Kowalski", "Lopez",
    "Murphy", "Nakamura", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Varga", "Weber", "Xu",
    "Yilmaz", "Zhang", "Adams", "Brooks", "Castro", "Dubois", "Ekström", "Fischer", "Gomez", "Haddad", "Ivanova",
)  # fmt: skip
_TEAM_AREAS = (
    "AppSec", "Cloud", "Data", "Endpoint", "Identity", "Network", "Payments", "Mobile", "Risk", "SRE", "Support",
    "Web", "Finance", "Legal", "People", "Sales",
)  # fmt: skip


@dataclass(frozen=True)
class OrgSize:
    users: int = 2000
    teams: int = 300
    projects: int = 5000
    imported_tasks: int = 20000
    task_projects: int = 20
    deactivated_users: int = 40
    seed: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> OrgSize:
        """From a control-API body; unknown keys are an error, missing ones keep the large defaults."""
        unknown = set(body) - set(asdict(cls()))
        if unknown:
            raise ValueError(f"unknown size fields: {sorted(unknown)}")
        return cls(**{name: int(value) for name, value in body.items()})


# The sizes issue 9 names: thousands of users, hundreds of teams, thousands of projects, tens of thousands of tasks.
LARGE = OrgSize()


def build_large_org(
    users: int = LARGE.users,
    teams: int = LARGE.teams,
    projects: int = LARGE.projects,
    imported_tasks: int = LARGE.imported_tasks,
    *,
    task_projects: int = LARGE.task_projects,
    deactivated_users: int = LARGE.deactivated_users,
    seed: int = LARGE.seed,
) -> DemoData:
    size = OrgSize(users, teams, projects, imported_tasks, task_projects, deactivated_users, seed)
    return _Generator(size).build()


def build(size: OrgSize) -> DemoData:
    return _Generator(size).build()


class _Generator:
    def __init__(self, size: OrgSize) -> None:
        self.size = size
        self.rng = random.Random(size.seed)
        self.data = demo.build_demo_data()
        demo_members = demo.org_member_gids()
        minimums = {
            "users": len(demo_members),
            "teams": len(demo.TEAM_GIDS),
            "projects": demo.ORG_PROJECT_COUNT,
            "imported_tasks": demo.DEMO_TASK_COUNT,
        }
        for name, minimum in minimums.items():
            if getattr(size, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum} (the demo organization's own)")
        if size.task_projects < 1 or size.deactivated_users < 0:
            raise ValueError("task_projects must be at least 1 and deactivated_users at least 0")
        # Tasks go to generated projects that are not archived (every tenth is).
        holders = sum(1 for number in range(demo.ORG_PROJECT_COUNT + 1, size.projects + 1) if number % 10)
        if holders < size.task_projects and size.imported_tasks > demo.DEMO_TASK_COUNT:
            raise ValueError(f"{size.projects} projects leave {holders} unarchived generated ones for the tasks")
        self.active: list[str] = list(demo_members)
        self.deactivated: list[str] = []

    def build(self) -> DemoData:
        self._users()
        self._teams()
        self._projects()
        return self.data

    def _users(self) -> None:
        first_number = len(demo.USER_GIDS) + 1
        generated = self.size.users - len(self.active) + self.size.deactivated_users
        for offset in range(generated):
            number = first_number + offset
            first, last = _FIRST[number % len(_FIRST)], _LAST[(number // len(_FIRST)) % len(_LAST)]
            email = None if number % EMAIL_HIDDEN_EVERY == 0 else f"{first}.{last}.{number}@{ORG_EMAIL_DOMAIN}".lower()
            user = User(numbered_gid(USER_PREFIX, number), f"{first} {last}", email)
            if offset < generated - self.size.deactivated_users:
                user.workspace_gids = [ORG_WORKSPACE_GID]
                user.admin_workspace_gids = [ORG_WORKSPACE_GID] if number % ADMIN_EVERY == 0 else []
                self.active.append(user.gid)
            else:
                user.deactivated_workspace_gids = [ORG_WORKSPACE_GID]
                self.deactivated.append(user.gid)
            self.data.users.append(user)

    def _teams(self) -> None:
        for number in range(len(demo.TEAM_GIDS) + 1, self.size.teams + 1):
            area = _TEAM_AREAS[number % len(_TEAM_AREAS)]
            secret = number % SECRET_TEAM_EVERY == 0
            team = Team(
                numbered_gid(TEAM_PREFIX, number),
                f"{area} {number:03d}",
                ORG_WORKSPACE_GID,
                f"Generated team {number} ({area}).",
                "secret" if secret else "public",
            )
            self.data.teams.append(team)
            members = self.rng.sample(self.active, min(len(self.active), self.rng.randint(3, 30)))
            if secret and DEMO_ADMIN_USER_GID not in members:
                members.append(DEMO_ADMIN_USER_GID)
            for index, user_gid in enumerate(members):
                membership_number = len(self.data.team_memberships) + 1
                self.data.team_memberships.append(
                    TeamMembership(
                        numbered_gid(TEAM_MEMBERSHIP_PREFIX, membership_number), team.gid, user_gid, is_admin=index == 0
                    )
                )

    def _projects(self) -> None:
        members_by_team: dict[str, list[str]] = {}
        for membership in self.data.team_memberships:
            members_by_team.setdefault(membership.team_gid, []).append(membership.user_gid)
        task_projects: list[Project] = []
        for number in range(demo.ORG_PROJECT_COUNT + 1, self.size.projects + 1):
            team = self.rng.choice(self.data.teams)
            members = members_by_team[team.gid]
            created = DEMO_EPOCH + self.rng.uniform(0, 90) * _DAY
            project = Project(
                gid=numbered_gid(PROJECT_PREFIX, number),
                name=f"{PROJECT_TOPICS[number % len(PROJECT_TOPICS)]} {number:04d}",
                workspace_gid=ORG_WORKSPACE_GID,
                team_gid=team.gid,
                owner_gid=self.rng.choice(members),
                archived=number % 10 == 0,
                color=PROJECT_COLORS[number % len(PROJECT_COLORS)],
                notes=f"Generated project {number} of {team.name}.",
                created_at=created,
                modified_at=created + self.rng.uniform(0, 30) * _DAY,
                privacy_setting="private_to_team" if team.visibility == "secret" else "public_to_workspace",
            )
            self.data.projects.append(project)
            if len(task_projects) < self.size.task_projects and not project.archived:
                task_projects.append(project)
                add_sections(self.data, project, TASK_SECTIONS)
            else:
                add_sections(self.data, project, demo.UNTITLED)
        self._tasks(task_projects, members_by_team)

    def _tasks(self, projects: list[Project], members_by_team: dict[str, list[str]]) -> None:
        total = self.size.imported_tasks - demo.DEMO_TASK_COUNT
        sections = {s.gid: s for s in self.data.sections}
        first_number = demo.DEMO_TASK_COUNT + 1
        for offset in range(total):
            project = projects[offset % len(projects)]
            number = first_number + offset
            section = sections[project.section_gids[self.rng.randrange(len(project.section_gids))]]
            done = section.name == TASK_SECTIONS[-1]
            created = project.created_at + self.rng.uniform(0, 90) * _DAY
            modified = created + self.rng.uniform(0, 60) * _DAY
            candidates = [*members_by_team[project.team_gid or ""], *self.deactivated[:3]]
            assignee = None if self.rng.random() < 0.15 else self.rng.choice(candidates)
            due = None if self.rng.random() < 0.3 else datetime.fromtimestamp(created, UTC) + timedelta(days=14)
            task = Task(
                gid=numbered_gid(TASK_PREFIX, number),
                name=f"{PROJECT_TOPICS[number % len(PROJECT_TOPICS)]}: item {number}",
                workspace_gid=ORG_WORKSPACE_GID,
                created_at=created,
                modified_at=modified,
                completed=done,
                completed_at=modified if done else None,
                assignee_gid=assignee,
                due_on=due.date().isoformat() if due else None,
            )
            add_task(self.data, task, section)
