"""Every change to Asana data, whether it comes through Asana's write endpoints or the control API.

Each change happens under the store's lock, bumps `modified_at` where Asana would, and records the events Asana would
emit (events.py), so `/events` sees writes from any source alike. Raising `ValueError` means "bad input, nothing
changed": the REST layer validates before calling, the control API turns it into its 400.

Guesses where Asana documents nothing (the spec's Event description is the only source):

- a task created in or added to a project: one `added` event, parent = the project; moved to another section of a
  project it is already in: `added`, parent = the section (both bump `modified_at`, as the spec's modified_since
  note says associations do); reordered inside its section: no event; a task created with no project: `added`,
  parent = the workspace;
- a field change: one `changed` event per field that really changed (an update to the same value changes nothing,
  not even `modified_at`), `change.field` named as in the API;
- a deleted task goes to the trash (restorable through the control API, which records `undeleted`);
- deleting a project deletes the tasks that are in no other project (each with its own `deleted` event) and removes
  it from the others (`removed`, parent = the project); a deleted project cannot be restored here;
- user and team changes are events of the workspace and team streams; Asana names their webhook filters
  `workspace_membership` and `team_membership`, so team membership events name the membership, while workspace
  events (no such objects here) name the user with the workspace as parent;
- deactivating a user (an organization admin's "Deactivate") removes them from the workspace and its teams but keeps
  them resolvable by gid to that workspace's members, e.g. as the assignee of their old tasks; removing a user makes
  them leave the workspace without a trace; both leave their tasks assigned;
- deleting a team deletes its projects, as above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from local.asana_sandbox.events import Change, EventLog, Ref
from local.asana_sandbox.models import Project, Section, Task, TaskMembership, Team, TeamMembership, User, Workspace
from local.asana_sandbox.render import TASK_SUBTYPE, resource_type
from local.asana_sandbox.store import SandboxStore

# Task and project fields a change may set, and the event field each is reported as (the model's name otherwise).
TASK_FIELDS = ("name", "notes", "completed", "assignee_gid", "due_on")
PROJECT_FIELDS = ("name", "notes", "archived", "color", "owner_gid", "privacy_setting", "default_view", "team_gid")
_EVENT_FIELD = {"assignee_gid": "assignee", "owner_gid": "owner", "team_gid": "team"}


def ref(obj: Workspace | User | Team | TeamMembership | Project | Section | Task) -> Ref:
    if isinstance(obj, Task):
        return Ref(obj.gid, "task", obj.name, TASK_SUBTYPE)
    if isinstance(obj, TeamMembership):
        return Ref(obj.gid, "team_membership")
    return Ref(obj.gid, resource_type(obj), obj.name)


class Changes:
    def __init__(self, store: SandboxStore, events: EventLog, clock: Callable[[], float]) -> None:
        self.store = store
        self.events = events
        self.clock = clock

    def _user(self, gid: str | None) -> Ref | None:
        user = self.store.users.get(gid) if gid else None
        return ref(user) if user else None

    def _record(
        self,
        action: str,
        resource: Ref,
        actor: str | None,
        streams: Iterable[str],
        *,
        parent: Ref | None = None,
        change: Change | None = None,
    ) -> None:
        self.events.record(action, resource, streams=streams, parent=parent, user=self._user(actor), change=change)

    # --- Tasks ------------------------------------------------------------------------------------------------------
    def _task_streams(self, task: Task) -> list[str]:
        return [*(m.project_gid for m in task.memberships), task.workspace_gid]

    def create_task(
        self,
        actor: str | None,
        *,
        workspace_gid: str,
        projects: list[Project],
        fields: dict[str, Any],
    ) -> Task:
        with self.store.lock:
            now = self.clock()
            task = Task(self.store.new_gid(), str(fields.get("name", "")), workspace_gid, now, now)
            for name in TASK_FIELDS:
                if name in fields:
                    setattr(task, name, fields[name])
            if task.completed:
                task.completed_at = now
            self.store.tasks[task.gid] = task
            for project in projects:
                self._place(task, project, self._default_section(project), before=None, after=None, start=False)
            if not projects:
                workspace = self.store.workspaces[workspace_gid]
                self._record("added", ref(task), actor, [workspace_gid], parent=ref(workspace))
            for project in projects:
                self._record("added", ref(task), actor, self._task_streams(task), parent=ref(project))
            return task

    def update_task(self, actor: str | None, task: Task, fields: dict[str, Any]) -> list[str]:
        """Apply the given fields; returns the names of those that really changed."""
        with self.store.lock:
            changed = [name for name in TASK_FIELDS if name in fields and getattr(task, name) != fields[name]]
            if not changed:
                return []
            now = self.clock()
            for name in changed:
                setattr(task, name, fields[name])
            if "completed" in changed:
                task.completed_at = now if task.completed else None
            task.modified_at = now
            for name in changed:
                value = self._user(task.assignee_gid) if name == "assignee_gid" else None
                change = Change(_EVENT_FIELD.get(name, name), "changed", value)
                self._record("changed", ref(task), actor, self._task_streams(task), change=change)
            return changed

    def delete_task(self, actor: str | None, task: Task) -> None:
        with self.store.lock:
            streams = self._task_streams(task)
            for membership in task.memberships:
                section = self.store.sections.get(membership.section_gid)
                if section is not None and task.gid in section.task_gids:
                    section.task_gids.remove(task.gid)
            del self.store.tasks[task.gid]
            self.store.trashed_tasks[task.gid] = task
            self._record("deleted", ref(task), actor, streams)

    def undelete_task(self, actor: str | None, task_gid: str) -> Task:
        with self.store.lock:
            task = self.store.trashed_tasks.pop(task_gid, None)
            if task is None:
                raise ValueError(f"task {task_gid} is not in the trash")
            # Memberships of projects deleted meanwhile are gone; the others come back where the task was (at the end).
            task.memberships = [m for m in task.memberships if m.section_gid in self.store.sections]
            for membership in task.memberships:
                self.store.sections[membership.section_gid].task_gids.append(task.gid)
            task.modified_at = self.clock()
            self.store.tasks[task.gid] = task
            self._record("undeleted", ref(task), actor, self._task_streams(task))
            return task

    def _default_section(self, project: Project) -> Section:
        # Asana adds a task without a position "to the end of the project": the end of its last section.
        if not project.section_gids:
            section = Section(self.store.new_gid(), "Untitled section", project.gid, self.clock())
            self.store.sections[section.gid] = section
            project.section_gids.append(section.gid)
        return self.store.sections[project.section_gids[-1]]

    def _place(
        self, task: Task, project: Project, section: Section, *, before: Task | None, after: Task | None, start: bool
    ) -> None:
        """Put the task into the section (of that project) at the asked position, leaving any old place there."""
        for membership in [m for m in task.memberships if m.project_gid == project.gid]:
            self.store.sections[membership.section_gid].task_gids.remove(task.gid)
            task.memberships.remove(membership)
        gids = section.task_gids
        if before is not None:
            gids.insert(gids.index(before.gid), task.gid)
        elif after is not None:
            gids.insert(gids.index(after.gid) + 1, task.gid)
        elif start:
            gids.insert(0, task.gid)
        else:
            gids.append(task.gid)
        task.memberships.append(TaskMembership(project.gid, section.gid))

    def add_task_to_project(
        self,
        actor: str | None,
        task: Task,
        project: Project,
        *,
        section: Section | None = None,
        insert_before: Task | None = None,
        insert_after: Task | None = None,
        at_section_start: bool = False,
    ) -> None:
        """Add (or move) the task; `insert_before`/`insert_after` must be other tasks of the project (REST checks)."""
        with self.store.lock:
            anchor = insert_before or insert_after
            if anchor is not None:
                section = self.store.sections[
                    next(m.section_gid for m in anchor.memberships if m.project_gid == project.gid)
                ]
            current = next((m.section_gid for m in task.memberships if m.project_gid == project.gid), None)
            target = section or (self.store.sections[current] if current else self._default_section(project))
            self._place(task, project, target, before=insert_before, after=insert_after, start=at_section_start)
            # Reordering inside the same section is not a change of the task (no event, modified_at kept).
            if current is None:
                task.modified_at = self.clock()
                self._record("added", ref(task), actor, self._task_streams(task), parent=ref(project))
            elif current != target.gid:
                task.modified_at = self.clock()
                streams = [*self._task_streams(task), target.gid]
                self._record("added", ref(task), actor, streams, parent=ref(target))

    def remove_task_from_project(self, actor: str | None, task: Task, project: Project) -> bool:
        """Returns False (and changes nothing) when the task was not in the project."""
        with self.store.lock:
            membership = next((m for m in task.memberships if m.project_gid == project.gid), None)
            if membership is None:
                return False
            streams = self._task_streams(task)
            self.store.sections[membership.section_gid].task_gids.remove(task.gid)
            task.memberships.remove(membership)
            task.modified_at = self.clock()
            self._record("removed", ref(task), actor, streams, parent=ref(project))
            return True

    # --- Projects ---------------------------------------------------------------------------------------------------
    def _project_streams(self, project: Project) -> list[str]:
        return [gid for gid in (project.team_gid, project.workspace_gid) if gid]

    def create_project(self, actor: str | None, *, workspace_gid: str, fields: dict[str, Any]) -> Project:
        with self.store.lock:
            now = self.clock()
            project = Project(self.store.new_gid(), "", workspace_gid, None, actor, created_at=now, modified_at=now)
            for name in PROJECT_FIELDS:
                if name in fields:
                    setattr(project, name, fields[name])
            self.store.projects[project.gid] = project
            self._default_section(project)
            container = self.store.teams[project.team_gid] if project.team_gid else self.store.workspaces[workspace_gid]
            self._record("added", ref(project), actor, self._project_streams(project), parent=ref(container))
            return project

    def update_project(self, actor: str | None, project: Project, fields: dict[str, Any]) -> list[str]:
        with self.store.lock:
            changed = [name for name in PROJECT_FIELDS if name in fields and getattr(project, name) != fields[name]]
            if not changed:
                return []
            old_streams = self._project_streams(project)
            for name in changed:
                setattr(project, name, fields[name])
            project.modified_at = self.clock()
            for name in changed:
                value: Ref | None = None
                if name == "owner_gid":
                    value = self._user(project.owner_gid)
                elif name == "team_gid" and project.team_gid:
                    value = ref(self.store.teams[project.team_gid])
                change = Change(_EVENT_FIELD.get(name, name), "changed", value)
                streams = {*old_streams, *self._project_streams(project)}
                self._record("changed", ref(project), actor, streams, change=change)
            return changed

    def delete_project(self, actor: str | None, project: Project) -> None:
        with self.store.lock:
            for task in self.store.project_tasks(project):
                if len(task.memberships) == 1:
                    self.delete_task(actor, task)
                else:
                    self.remove_task_from_project(actor, task, project)
            for section_gid in project.section_gids:
                del self.store.sections[section_gid]
            del self.store.projects[project.gid]
            self._record("deleted", ref(project), actor, self._project_streams(project))

    # --- Users (control API only) -----------------------------------------------------------------------------------
    def _org_teams(self, workspace_gid: str) -> list[Team]:
        return [t for t in self.store.teams.values() if t.organization_gid == workspace_gid]

    def add_user(
        self,
        actor: str | None,
        *,
        workspace_gid: str,
        name: str | None = None,
        email: str | None = None,
        user_gid: str | None = None,
    ) -> User:
        """Create a user in the workspace, or (with user_gid) add an existing one, reactivating a deactivated one."""
        with self.store.lock:
            workspace = self._workspace(workspace_gid)
            if user_gid is not None:
                user = self._existing_user(user_gid)
                if workspace.gid in user.workspace_gids:
                    raise ValueError(f"user {user_gid} is already a member of workspace {workspace.gid}")
            else:
                if not name:
                    raise ValueError("a new user needs a name")
                user = User(self.store.new_gid(), name, email)
                self.store.users[user.gid] = user
            user.workspace_gids.append(workspace.gid)
            if workspace.gid in user.deactivated_workspace_gids:
                user.deactivated_workspace_gids.remove(workspace.gid)
            self._record("added", ref(user), actor, [workspace.gid], parent=ref(workspace))
            return user

    def deactivate_user(self, actor: str | None, user_gid: str, workspace_gid: str) -> User:
        return self._leave(actor, user_gid, workspace_gid, deactivate=True)

    def remove_user(self, actor: str | None, user_gid: str, workspace_gid: str) -> User:
        return self._leave(actor, user_gid, workspace_gid, deactivate=False)

    def _leave(self, actor: str | None, user_gid: str, workspace_gid: str, *, deactivate: bool) -> User:
        with self.store.lock:
            workspace = self._workspace(workspace_gid)
            user = self._existing_user(user_gid)
            if workspace.gid not in user.workspace_gids:
                raise ValueError(f"user {user_gid} is not a member of workspace {workspace.gid}")
            for team in self._org_teams(workspace.gid):
                if self.store.is_team_member(team.gid, user.gid):
                    self.remove_team_member(actor, team.gid, user.gid)
            user.workspace_gids.remove(workspace.gid)
            if workspace.gid in user.admin_workspace_gids:
                user.admin_workspace_gids.remove(workspace.gid)
            if deactivate:
                user.deactivated_workspace_gids.append(workspace.gid)
            self._record("removed", ref(user), actor, [workspace.gid], parent=ref(workspace))
            return user

    # --- Teams (control API only) -----------------------------------------------------------------------------------
    def create_team(
        self, actor: str | None, *, workspace_gid: str, name: str, description: str = "", visibility: str = "public"
    ) -> Team:
        with self.store.lock:
            workspace = self._workspace(workspace_gid)
            if not workspace.is_organization:
                raise ValueError(f"workspace {workspace.gid} is not an organization: teams exist only in organizations")
            if not name:
                raise ValueError("a team needs a name")
            if visibility not in ("public", "request_to_join", "secret"):
                raise ValueError("visibility must be public, request_to_join or secret")
            team = Team(self.store.new_gid(), name, workspace.gid, description, visibility)
            self.store.teams[team.gid] = team
            self.store.memberships_by_team[team.gid] = {}
            self._record("added", ref(team), actor, [workspace.gid], parent=ref(workspace))
            return team

    def rename_team(self, actor: str | None, team_gid: str, name: str) -> Team:
        with self.store.lock:
            team = self._team(team_gid)
            if not name:
                raise ValueError("a team needs a name")
            if team.name != name:
                team.name = name
                self._record("changed", ref(team), actor, [team.organization_gid], change=Change("name", "changed"))
            return team

    def delete_team(self, actor: str | None, team_gid: str) -> None:
        with self.store.lock:
            team = self._team(team_gid)
            for project in [p for p in self.store.projects.values() if p.team_gid == team.gid]:
                self.delete_project(actor, project)
            for user_gid in list(self.store.memberships_by_team.get(team.gid, {})):
                self.remove_team_member(actor, team.gid, user_gid)
            del self.store.teams[team.gid]
            self.store.memberships_by_team.pop(team.gid, None)
            self._record("deleted", ref(team), actor, [team.organization_gid])

    def add_team_member(
        self, actor: str | None, team_gid: str, user_gid: str, *, is_admin: bool = False, is_guest: bool = False
    ) -> TeamMembership:
        with self.store.lock:
            team = self._team(team_gid)
            user = self._existing_user(user_gid)
            if team.organization_gid not in user.workspace_gids:
                raise ValueError(f"user {user_gid} is not a member of the team's organization {team.organization_gid}")
            if self.store.is_team_member(team.gid, user.gid):
                raise ValueError(f"user {user_gid} is already a member of team {team.gid}")
            membership = TeamMembership(self.store.new_gid(), team.gid, user.gid, is_admin=is_admin, is_guest=is_guest)
            self.store.add_team_membership(membership)
            streams = [team.gid, team.organization_gid]
            self._record("added", ref(membership), actor, streams, parent=ref(team))
            return membership

    def remove_team_member(self, actor: str | None, team_gid: str, user_gid: str) -> TeamMembership:
        with self.store.lock:
            team = self._team(team_gid)
            membership = self.store.memberships_by_team.get(team.gid, {}).get(user_gid)
            if membership is None:
                raise ValueError(f"user {user_gid} is not a member of team {team.gid}")
            self.store.remove_team_membership(membership)
            streams = [team.gid, team.organization_gid]
            self._record("removed", ref(membership), actor, streams, parent=ref(team))
            return membership

    # --- Lookups that fail as bad input -----------------------------------------------------------------------------
    def _workspace(self, gid: str) -> Workspace:
        workspace = self.store.workspaces.get(gid)
        if workspace is None:
            raise ValueError(f"unknown workspace {gid}")
        return workspace

    def _existing_user(self, gid: str) -> User:
        user = self.store.users.get(gid)
        if user is None:
            raise ValueError(f"unknown user {gid}")
        return user

    def _team(self, gid: str) -> Team:
        team = self.store.teams.get(gid)
        if team is None:
            raise ValueError(f"unknown team {gid}")
        return team
