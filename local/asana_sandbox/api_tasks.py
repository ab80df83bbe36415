"""Tasks and sections: `GET /tasks`, `GET /projects/{gid}/tasks`, `GET /tasks/{gid}`, `GET /projects/{gid}/sections`
and Asana's task writes (`POST /tasks`, `PUT`/`DELETE /tasks/{gid}`, `addProject`, `removeProject`).

Filters as the spec describes them: `completed_since` ("incomplete or completed since this time"; the keyword `now`
leaves only incomplete tasks) on both listings, `modified_since` on `GET /tasks` only (the only operation that declares
it); a task counts as modified at or after the given time (Asana says "since"). Changes go through changes.py, which
bumps `modified_at` and records the events.

Sandbox guesses: `GET /tasks` without exactly one of project, section or assignee + workspace answers 400 with
`MUST_SPECIFY_ONE` (Asana's wording, remembered, not found in its docs); `tag` and `parent` are not modelled (a tag gid
is an unknown object); `POST /tasks` needs `workspace` or `projects` (`NO_CONTAINER`); an assignee must be an active
member of the task's workspace; `removeProject` for a project the task is not in is a no-op 200; `insert_before` and
`insert_after` together answer 400.
"""

from __future__ import annotations

from flask import Flask, Response, request

from local.asana_sandbox import errors
from local.asana_sandbox.api import API_PREFIX, Api, empty, require_scope
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.models import Principal, Project, Section, Task
from local.asana_sandbox.request_body import Body, missing
from local.asana_sandbox.timestamps import parse_datetime

MUST_SPECIFY_ONE = "Must specify exactly one of project, tag, section, user task list, or assignee + workspace"
NO_CONTAINER = "You should specify one of workspace, parent, projects"

# The writable properties of the spec's request schemas (tests/contract compares them with the spec), and the
# subset the sandbox models.
TASK_CREATE_WRITABLE = frozenset(
    {
        "approval_status",
        "assignee",
        "assignee_section",
        "assignee_status",
        "completed",
        "custom_fields",
        "due_at",
        "due_on",
        "external",
        "followers",
        "html_notes",
        "liked",
        "name",
        "notes",
        "parent",
        "projects",
        "resource_subtype",
        "start_at",
        "start_on",
        "tags",
        "workspace",
    }
)
TASK_UPDATE_WRITABLE = (TASK_CREATE_WRITABLE - {"followers", "projects", "tags", "workspace"}) | {
    "custom_type",
    "custom_type_status_option",
}
TASK_ADD_PROJECT_WRITABLE = frozenset({"project", "section", "insert_before", "insert_after"})
TASK_REMOVE_PROJECT_WRITABLE = frozenset({"project"})
_TASK_MODELLED = frozenset({"name", "notes", "completed", "assignee", "due_on"})
TASK_CREATE_MODELLED = _TASK_MODELLED | {"projects", "workspace"}
TASK_UPDATE_MODELLED = _TASK_MODELLED


def register_task_routes(app: Flask, api: Api) -> None:
    _register_task_reads(app, api)
    _register_task_writes(app, api)


def _completed_filter(tasks: list[Task]) -> list[Task]:
    raw = request.args.get("completed_since")
    if raw is None:
        return tasks
    if raw == "now":
        return [t for t in tasks if not t.completed]
    since = parse_datetime("completed_since", raw)
    return [t for t in tasks if not t.completed or (t.completed_at is not None and t.completed_at >= since)]


def _register_task_reads(app: Flask, api: Api) -> None:

    @app.get(f"{API_PREFIX}/projects/<project_gid>/tasks")
    def get_tasks_for_project(project_gid: str) -> Response:
        principal = require_scope("tasks:read")
        project = api.project(principal, "project", project_gid)
        return api.listing(_completed_filter(api.store.project_tasks(project)))

    @app.get(f"{API_PREFIX}/tasks")
    def get_tasks() -> Response:
        principal = require_scope("tasks:read")
        args = request.args
        chosen = [name for name in ("project", "tag", "section") if args.get(name)]
        by_assignee = bool(args.get("assignee") or args.get("workspace"))
        if len(chosen) + by_assignee != 1 or (by_assignee and not (args.get("assignee") and args.get("workspace"))):
            raise AsanaError(400, MUST_SPECIFY_ONE)
        if args.get("project"):
            tasks = api.store.project_tasks(api.project(principal, "project", args["project"]))
        elif args.get("section"):
            section = api.section(principal, "section", args["section"])
            with api.store.lock:
                tasks = [api.store.tasks[gid] for gid in section.task_gids]
        elif args.get("tag"):
            raise errors.unknown_object("tag", args["tag"])
        else:
            workspace = api.workspace(principal, "workspace", args["workspace"])
            assignee = api.user(principal, "assignee", args["assignee"])
            with api.store.lock:
                candidates = list(api.store.tasks.values())
            tasks = sorted(
                (
                    t
                    for t in candidates
                    if t.workspace_gid == workspace.gid
                    and t.assignee_gid == assignee.gid
                    and api.task_visible(principal, t)
                ),
                key=lambda t: int(t.gid),
            )
        tasks = _completed_filter(tasks)
        if "modified_since" in args:
            since = parse_datetime("modified_since", args["modified_since"])
            tasks = [t for t in tasks if t.modified_at >= since]
        return api.listing(tasks)

    @app.get(f"{API_PREFIX}/tasks/<task_gid>")
    def get_task(task_gid: str) -> tuple[Response, int]:
        principal = require_scope("tasks:read")
        return api.one(api.task(principal, "task", task_gid))

    @app.get(f"{API_PREFIX}/projects/<project_gid>/sections")
    def get_sections_for_project(project_gid: str) -> Response:
        principal = require_scope(None)
        project = api.project(principal, "project", project_gid)
        with api.store.lock:
            sections = [api.store.sections[gid] for gid in project.section_gids]
        return api.listing(sections)


def _task_fields(api: Api, principal: Principal, body: Body, workspace_gid: str) -> dict[str, object]:
    """The modelled task fields of a create or update body, checked (the model's names, e.g. assignee_gid)."""
    fields: dict[str, object] = {}
    for name in ("name", "notes"):
        if name in body:
            fields[name] = body.string(name)
    if "completed" in body:
        fields["completed"] = body.boolean("completed")
    if "due_on" in body:
        fields["due_on"] = body.optional_date("due_on")
    if "assignee" in body:
        ref = body.data["assignee"]
        if ref is None:
            fields["assignee_gid"] = None
        else:
            assignee = api.user(principal, "assignee", body.string("assignee"))
            if workspace_gid not in assignee.workspace_gids:
                raise AsanaError(400, f"assignee: {ref} is not a member of the task's workspace.")
            fields["assignee_gid"] = assignee.gid
    return fields


def _position(
    api: Api, principal: Principal, task: Task, project: Project, body: Body
) -> tuple[Section | None, Task | None, Task | None]:
    """addProject's optional section, insert_before and insert_after, checked against the project."""
    section = None
    if "section" in body and body.data["section"] is not None:
        section = api.section(principal, "section", body.gid("section"))
        if section.project_gid != project.gid:
            raise AsanaError(400, "section: The section must belong to the project.")
    anchors: dict[str, Task] = {}
    for name in ("insert_before", "insert_after"):
        if name in body and body.data[name] is not None:
            anchor = api.task(principal, name, body.gid(name))
            if anchor.gid == task.gid or project.gid not in {m.project_gid for m in anchor.memberships}:
                raise AsanaError(400, f"{name}: Must be another task of the project.")
            if section is not None and section.gid not in {m.section_gid for m in anchor.memberships}:
                raise AsanaError(400, f"{name}: The task is not in the given section.")
            anchors[name] = anchor
    if len(anchors) > 1:
        raise AsanaError(400, "insert_before, insert_after: Specify at most one of them.")
    return section, anchors.get("insert_before"), anchors.get("insert_after")


def _register_task_writes(app: Flask, api: Api) -> None:

    @app.post(f"{API_PREFIX}/tasks")
    def create_task() -> tuple[Response, int]:
        principal = require_scope("tasks:write")
        body = Body(TASK_CREATE_WRITABLE, TASK_CREATE_MODELLED)
        projects: list[Project] = []
        if "projects" in body:
            projects = [api.project(principal, "projects", gid) for gid in body.gid_list("projects")]
        if "workspace" in body:
            workspace_gid = api.workspace(principal, "workspace", body.gid("workspace")).gid
        elif projects:
            workspace_gid = projects[0].workspace_gid
        else:
            raise AsanaError(400, NO_CONTAINER)
        if any(p.workspace_gid != workspace_gid for p in projects):
            raise AsanaError(400, "projects: Every project must be in the task's workspace.")
        fields = _task_fields(api, principal, body, workspace_gid)
        task = api.changes.create_task(
            principal.user_gid, workspace_gid=workspace_gid, projects=projects, fields=fields
        )
        return api.one(task, 201)

    @app.put(f"{API_PREFIX}/tasks/<task_gid>")
    def update_task(task_gid: str) -> tuple[Response, int]:
        principal = require_scope("tasks:write")
        task = api.task(principal, "task", task_gid)
        body = Body(TASK_UPDATE_WRITABLE, TASK_UPDATE_MODELLED)
        api.changes.update_task(principal.user_gid, task, _task_fields(api, principal, body, task.workspace_gid))
        return api.one(task)

    @app.delete(f"{API_PREFIX}/tasks/<task_gid>")
    def delete_task(task_gid: str) -> Response:
        principal = require_scope("tasks:delete")
        api.changes.delete_task(principal.user_gid, api.task(principal, "task", task_gid))
        return empty()

    @app.post(f"{API_PREFIX}/tasks/<task_gid>/addProject")
    def add_project_for_task(task_gid: str) -> Response:
        principal = require_scope("tasks:write")
        task = api.task(principal, "task", task_gid)
        body = Body(TASK_ADD_PROJECT_WRITABLE, TASK_ADD_PROJECT_WRITABLE)
        if "project" not in body:
            raise missing("project")
        project = api.project(principal, "project", body.gid("project"))
        if project.workspace_gid != task.workspace_gid:
            raise AsanaError(400, "project: The project must be in the task's workspace.")
        section, before, after = _position(api, principal, task, project, body)
        api.changes.add_task_to_project(
            principal.user_gid,
            task,
            project,
            section=section,
            insert_before=before,
            insert_after=after,
            # The spec: "section with insert_after: null" puts the task at the beginning of the section.
            at_section_start=section is not None and "insert_after" in body and body.data["insert_after"] is None,
        )
        return empty()

    @app.post(f"{API_PREFIX}/tasks/<task_gid>/removeProject")
    def remove_project_for_task(task_gid: str) -> Response:
        principal = require_scope("tasks:write")
        task = api.task(principal, "task", task_gid)
        body = Body(TASK_REMOVE_PROJECT_WRITABLE, TASK_REMOVE_PROJECT_WRITABLE)
        if "project" not in body:
            raise missing("project")
        project = api.project(principal, "project", body.gid("project"))
        api.changes.remove_task_from_project(principal.user_gid, task, project)
        return empty()
