/* The admin page's data sync panel: runs and Start now, imported projects, and the users' mapping.
 *
 * Built into #sync-panel once settings.js announces an admin ("securedb:asana:admin-ready" on document, whose detail
 * carries the page's API helper and its notice, busy and confirmation helpers), so the panel shares the page's session
 * and never handles the token itself. Like the page, it writes every value from the API with textContent.
 *
 * Routes: GET/POST /sync, GET /mirror/projects, POST/DELETE /projects/{gid}/import, GET /users,
 * PUT /users/{gid}/mapping.
 */
(function () {
  "use strict";

  var POLL_MS = 3000;  // while a run is live, its progress is re-read this often
  var RUN_STATES = { running: "Running", succeeded: "Succeeded", failed: "Failed", partial: "Partly failed" };
  var TRIGGERS = { schedule: "Schedule", manual: "Start now", "import": "Project import" };
  var METHODS = { connection: "Their Asana connection", email: "Same email", manual: "Set by an admin" };
  var USER_STATES = { mapped: "Mapped", unmatched: "Unmatched", deactivated: "Deactivated" };

  var tools = null;      // the page's helpers, from the admin-ready event
  var built = false;
  var pollTimer = null;
  var data = {
    imports: [],                                   // imported projects from GET /sync
    projects: { items: [], next: null },           // mirrored projects shown for import
    people: { items: [], next: null, filter: "" }  // mirrored users with their mapping
  };

  var $ = function (id) { return document.getElementById(id); };

  /** h("p", {id: "x", className: "muted"}, "text" | [children]) — text is always set as text, never as markup. */
  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (name) {
      var value = props[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "className") { node.className = value; }
      else if (name === "text") { node.textContent = String(value); }
      else if (name === "hidden") { node.hidden = true; }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function button(id, label, className) {
    return h("button", { type: "button", id: id, className: "btn " + (className || "") }, label);
  }

  function liveRegion(id) {
    return h("div", { id: id, className: "notice-region", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  }

  function number(value) { return typeof value === "number" ? value.toLocaleString() : "0"; }

  // ------------------------------------------------------------------------------------------------ markup --

  function build(root) {
    root.replaceChildren(
      h("section", { className: "card", id: "sync", "aria-labelledby": "sync-title" }, [
        h("div", { className: "card__head" }, [
          h("h2", { id: "sync-title", tabindex: "-1" }, "Data sync"),
          h("span", { id: "sync-state", className: "badge", "data-state": "" }, "Never run")
        ]),
        h("p", { className: "muted" }, "SecureDB keeps a copy of your Asana workspaces, teams, team memberships, " +
          "users and projects, and of the tasks of the projects you import. It syncs on a schedule; Start now " +
          "runs a full sync at once."),
        h("div", { id: "sync-current", hidden: true }, [
          h("p", { id: "sync-current-text" }),
          h("div", { className: "progress-row" }, [
            h("label", { "for": "sync-progress" }, "Progress"),
            h("progress", { id: "sync-progress", max: "1", value: "0", "aria-describedby": "sync-progress-text" }),
            h("span", { id: "sync-progress-text", className: "muted" })
          ])
        ]),
        h("div", { className: "actions" }, [
          button("sync-start", "Start now", "btn--primary"),
          button("sync-refresh", "Refresh")
        ]),
        liveRegion("sync-notice"),
        h("h3", { id: "sync-runs-title" }, "Recent runs"),
        h("p", { id: "sync-runs-empty", className: "muted" }, "No sync has run yet."),
        h("div", { className: "table-wrap", id: "sync-runs-wrap", hidden: true }, [
          h("table", { className: "data-table", id: "sync-runs", "aria-labelledby": "sync-runs-title" }, [
            h("thead", {}, h("tr", {}, ["Started", "Trigger", "Status", "Created", "Updated", "Unchanged",
              "Deleted", "Asana calls"].map(function (label) { return h("th", { scope: "col" }, label); }))),
            h("tbody", { id: "sync-runs-body" })
          ])
        ]),
        h("div", { id: "sync-errors", hidden: true }, [
          h("h3", { id: "sync-errors-title" }, "Errors of the latest run"),
          h("ul", { id: "sync-errors-list", className: "error-list" })
        ])
      ]),

      h("section", { className: "card", id: "imports", "aria-labelledby": "imports-title" }, [
        h("h2", { id: "imports-title", tabindex: "-1" }, "Imported projects"),
        h("p", { className: "muted" }, "The tasks of an imported project (name, completion, assignee, due date, " +
          "section) are mirrored and kept current by each sync. Importing starts the first task import at once; " +
          "stopping removes the project's mirrored tasks."),
        h("ul", { id: "imports-list", className: "row-list", "aria-labelledby": "imports-title" }),
        h("p", { id: "imports-empty", className: "muted" }, "No project is imported yet."),
        liveRegion("imports-notice"),
        h("h3", {}, "Import a project"),
        h("div", { className: "quick-bar" }, [
          h("div", { className: "field field--inline" }, [
            h("label", { "for": "import-filter" }, "Filter the projects shown"),
            h("input", { id: "import-filter", type: "search", autocomplete: "off", spellcheck: "false",
              "aria-describedby": "import-filter-hint", "aria-controls": "import-projects" }),
            h("p", { className: "hint", id: "import-filter-hint" }, "Projects come from the last sync.")
          ]),
          h("div", { className: "actions" }, [button("import-load", "Show synced projects")])
        ]),
        h("p", { id: "import-summary", className: "result__summary", role: "status", "aria-live": "polite" }),
        h("ul", { id: "import-projects", className: "row-list", "aria-label": "Synced projects" }),
        button("import-more", "Load more projects", "btn--small")
      ]),

      h("section", { className: "card", id: "people", "aria-labelledby": "people-title" }, [
        h("h2", { id: "people-title", tabindex: "-1" }, "Asana users and SecureDB users"),
        h("p", { className: "muted" }, "Each synced Asana user is matched to a SecureDB user through their own " +
          "Asana connection, else by the email they sign in to SecureDB with. Set a mapping by hand where that " +
          "finds no one or the wrong person; yours wins."),
        h("div", { className: "quick-bar" }, [
          h("div", { className: "field field--inline" }, [
            h("label", { "for": "people-filter" }, "Show"),
            h("select", { id: "people-filter" }, [
              h("option", { value: "" }, "All users"),
              h("option", { value: "unmatched" }, "Unmatched users"),
              h("option", { value: "mapped" }, "Mapped users"),
              h("option", { value: "deactivated" }, "Deactivated users")
            ])
          ]),
          h("div", { className: "actions" }, [button("people-load", "Show users")])
        ]),
        h("p", { id: "people-summary", className: "result__summary", role: "status", "aria-live": "polite" }),
        liveRegion("people-notice"),
        h("div", { className: "table-wrap", id: "people-wrap", hidden: true }, [
          h("table", { className: "data-table", id: "people-table", "aria-labelledby": "people-title" }, [
            h("thead", {}, h("tr", {}, ["Asana user", "Status", "SecureDB user", "Matched by", "Mapping"]
              .map(function (label) { return h("th", { scope: "col" }, label); }))),
            h("tbody", { id: "people-body" })
          ])
        ]),
        button("people-more", "Load more users", "btn--small"),
        h("datalist", { id: "people-securedb-users" })
      ])
    );
    $("import-more").hidden = true;
    $("people-more").hidden = true;
    $("sync-start").addEventListener("click", startNow);
    $("sync-refresh").addEventListener("click", function () { loadSync(this); });
    $("import-load").addEventListener("click", function () { loadProjects(false, this); });
    $("import-more").addEventListener("click", function () { loadProjects(true, this); });
    $("import-filter").addEventListener("input", renderProjects);
    $("people-load").addEventListener("click", function () { loadPeople(false, this); });
    $("people-more").addEventListener("click", function () { loadPeople(true, this); });
    $("people-filter").addEventListener("change", function () { loadPeople(false, $("people-load")); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && pollTimer === null && panelShown()) { loadSync(); }
    });
  }

  function panelShown() {
    var org = $("org");
    return !!tools && !!org && !org.hidden;
  }

  // ---------------------------------------------------------------------------------------------------- runs --

  async function loadSync(refreshButton) {
    stopPolling();
    try {
      var overview = refreshButton
        ? await tools.busy(refreshButton, "Refreshing…", function () { return tools.api("GET", "/sync"); })
        : await tools.api("GET", "/sync");
      renderSync(overview);
    } catch (error) {
      tools.reportError("sync-notice", error, "Could not load the sync status.");
    }
  }

  function stopPolling() {
    if (pollTimer !== null) {
      window.clearTimeout(pollTimer);
      pollTimer = null;
    }
  }

  function pollWhileRunning(current) {
    stopPolling();
    if (current && current.status === "running") {
      pollTimer = window.setTimeout(function () {
        pollTimer = null;
        // Hidden (signed out, a member, a background tab): stop; the next admin-ready or visit starts again.
        if (panelShown() && document.visibilityState === "visible") { loadSync(); }
      }, POLL_MS);
    }
  }

  function renderSync(overview) {
    var current = overview.current || null;
    var runs = Array.isArray(overview.runs) ? overview.runs : [];
    var latest = current || runs[0] || null;
    var badge = $("sync-state");
    var stateName = latest ? latest.status : "";
    badge.dataset.state = stateName;
    badge.textContent = latest ? (RUN_STATES[latest.status] || latest.status) : "Never run";

    $("sync-current").hidden = !current;
    if (current) {
      var total = current.total_units || 0;
      var done = Math.max(total - (current.pending || 0), 0);
      $("sync-current-text").textContent = (current.mode === "incremental" ? "Incremental" : "Full") +
        " sync running since " + tools.formatTime(current.started_at) + " (" +
        (TRIGGERS[current.trigger] || current.trigger) + ").";
      var bar = $("sync-progress");
      bar.max = Math.max(total, 1);
      bar.value = Math.min(done, bar.max);
      $("sync-progress-text").textContent = total ? done + " of " + total + " steps done" : "Planning the steps…";
    }

    var body = $("sync-runs-body");
    body.replaceChildren();
    runs.forEach(function (run) {
      var totals = countTotals(run.counts);
      body.appendChild(h("tr", { "data-run": run.run_id }, [
        h("td", {}, tools.formatTime(run.started_at)),
        h("td", {}, (TRIGGERS[run.trigger] || run.trigger) + (run.mode === "incremental" ? " · incremental" : " · full")),
        h("td", {}, h("span", { className: "run-state", "data-state": run.status }, RUN_STATES[run.status] || run.status)),
        h("td", { className: "num" }, number(totals.created)),
        h("td", { className: "num" }, number(totals.updated)),
        h("td", { className: "num" }, number(totals.unchanged)),
        h("td", { className: "num" }, number(totals.deleted)),
        h("td", { className: "num" }, number(run.asana_calls) +
          (run.rate_limited ? " (" + number(run.rate_limited) + " rate-limited)" : ""))
      ]));
    });
    $("sync-runs-empty").hidden = runs.length > 0;
    $("sync-runs-wrap").hidden = runs.length === 0;

    var errors = latest && Array.isArray(latest.errors) ? latest.errors : [];
    var list = $("sync-errors-list");
    list.replaceChildren();
    errors.forEach(function (error) {
      var fix = h("p", { className: "notice__fix" }, [h("strong", {}, "How to fix: "), String(error.fix || "")]);
      var title = (error.message || error.code) + (error.count > 1 ? " (" + error.count + " times)" : "");
      list.appendChild(h("li", {}, [h("p", { className: "notice__title" }, title), fix]));
    });
    $("sync-errors").hidden = errors.length === 0;

    data.imports = Array.isArray(overview.imports) ? overview.imports : [];
    renderImports();
    renderProjects();
    pollWhileRunning(current);
  }

  function countTotals(counts) {
    var totals = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
    Object.keys(counts || {}).forEach(function (kind) {
      Object.keys(totals).forEach(function (name) { totals[name] += Number(counts[kind][name]) || 0; });
    });
    return totals;
  }

  async function startNow() {
    tools.notify("sync-notice", null);
    try {
      var result = await tools.busy($("sync-start"), "Starting…", function () {
        return tools.api("POST", "/sync", { mode: "full" });
      });
      tools.notify("sync-notice", result.started
        ? { kind: "success", title: "Sync started.", message: "Its progress shows below and updates by itself." }
        : { kind: "info", title: "A sync is already running.", message: "It is shown below; no second one was started." });
      await loadSync();
    } catch (error) {
      tools.reportError("sync-notice", error, "The sync did not start.");
    }
  }

  // ------------------------------------------------------------------------------------------------ imports --

  function isImported(gid) {
    return data.imports.some(function (item) { return item.gid === gid; });
  }

  function renderImports() {
    var list = $("imports-list");
    list.replaceChildren();
    data.imports.forEach(function (item) {
      var name = item.name || item.gid;
      var stop = h("button", { type: "button", className: "btn btn--small btn--danger-outline",
        "aria-label": "Stop importing " + name }, "Stop importing");
      stop.addEventListener("click", function () { stopImport(item, stop); });
      list.appendChild(h("li", { "data-gid": item.gid }, [
        h("span", { className: "row-list__main" }, [
          h("span", { className: "result__name" }, name),
          h("span", { className: "result__meta" }, "Imported " + tools.formatTime(item.imported_at) +
            (item.imported_by ? " by " + item.imported_by : ""))
        ]),
        stop
      ]));
    });
    $("imports-empty").hidden = data.imports.length > 0;
  }

  async function loadProjects(append, trigger) {
    tools.notify("imports-notice", null);
    var params = new URLSearchParams({ limit: "100" });
    if (append && data.projects.next) { params.set("offset", data.projects.next); }
    try {
      var page = await tools.busy(trigger, append ? "Loading more…" : "Loading…", function () {
        return tools.api("GET", "/mirror/projects?" + params.toString());
      });
      var items = Array.isArray(page.data) ? page.data : [];
      data.projects = { items: append ? data.projects.items.concat(items) : items, next: page.next_offset || null };
      renderProjects();
    } catch (error) {
      tools.reportError("imports-notice", error, "Could not load the synced projects.");
    }
  }

  function renderProjects() {
    if (!built) { return; }
    var list = $("import-projects");
    var filter = $("import-filter").value.trim().toLowerCase();
    var shown = data.projects.items.filter(function (project) {
      return !filter || String(project.name || "").toLowerCase().indexOf(filter) >= 0;
    });
    list.replaceChildren();
    shown.forEach(function (project) {
      var name = project.name || project.gid;
      var meta = h("span", { className: "result__meta" }, project.gid);
      if (project.archived === true) { meta.appendChild(h("span", { className: "tag" }, "Archived")); }
      var action;
      if (isImported(project.gid)) {
        action = h("span", { className: "tag" }, "Imported");
      } else {
        action = h("button", { type: "button", className: "btn btn--small", "aria-label": "Import " + name }, "Import");
        action.addEventListener("click", function () { importProject(project, action); });
      }
      list.appendChild(h("li", { "data-gid": project.gid }, [
        h("span", { className: "row-list__main" }, [h("span", { className: "result__name" }, name), meta]),
        action
      ]));
    });
    var loaded = data.projects.items.length;
    $("import-summary").textContent = loaded === 0 ? "" :
      (filter ? shown.length + " of " + loaded + " loaded projects match." : loaded + " projects shown.") +
      (data.projects.next ? " More are available." : "");
    $("import-more").hidden = !data.projects.next;
  }

  async function importProject(project, trigger) {
    var name = project.name || project.gid;
    try {
      var result = await tools.busy(trigger, "Importing…", function () {
        return tools.api("POST", "/projects/" + encodeURIComponent(project.gid) + "/import");
      });
      tools.notify("imports-notice", { kind: "success", title: "Importing " + name + ".",
        message: result.started === false ? "It was already imported." :
          "Its tasks are being imported now and are kept current by each sync." });
      await loadSync();
      $("imports-title").focus();  // the Import button is gone: the project now shows as imported
    } catch (error) {
      tools.reportError("imports-notice", error, "Could not import " + name + ".");
    }
  }

  async function stopImport(item, trigger) {
    var name = item.name || item.gid;
    var ok = await tools.confirmAction("Stop importing " + name + "?",
      "SecureDB stops syncing this project's tasks and deletes its mirrored tasks. Asana is not changed; you can " +
      "import the project again later.", "Stop importing");
    if (!ok) { return; }
    try {
      var result = await tools.busy(trigger, "Stopping…", function () {
        return tools.api("DELETE", "/projects/" + encodeURIComponent(item.gid) + "/import");
      });
      tools.notify("imports-notice", { kind: "success", title: "Stopped importing " + name + ".",
        message: number(result.tasks_removed) + " mirrored tasks were removed." });
      await loadSync();
      $("imports-title").focus();
    } catch (error) {
      tools.reportError("imports-notice", error, "Could not stop importing " + name + ".");
    }
  }

  // ------------------------------------------------------------------------------------------------- people --

  async function loadPeople(append, trigger) {
    tools.notify("people-notice", null);
    var filter = append ? data.people.filter : $("people-filter").value;
    var params = new URLSearchParams({ limit: "100" });
    if (filter) { params.set("status", filter); }
    if (append && data.people.next) { params.set("offset", data.people.next); }
    try {
      var page = await tools.busy(trigger, append ? "Loading more…" : "Loading…", function () {
        return tools.api("GET", "/users?" + params.toString());
      });
      var items = Array.isArray(page.data) ? page.data : [];
      data.people = { items: append ? data.people.items.concat(items) : items, next: page.next_offset || null,
        filter: filter };
      if (Array.isArray(page.securedb_users)) { fillSecureDbUsers(page.securedb_users); }
      renderPeopleSummary(page.counts || {});
      renderPeople(append ? items : null);
    } catch (error) {
      tools.reportError("people-notice", error, "Could not load the users.");
    }
  }

  function fillSecureDbUsers(users) {
    var list = $("people-securedb-users");
    list.replaceChildren();
    users.forEach(function (user) {
      list.appendChild(h("option", { value: user.id }, user.email ? user.email + (user.name ? " (" + user.name + ")" : "") : user.name || ""));
    });
  }

  function renderPeopleSummary(counts) {
    $("people-summary").textContent = number(counts.mapped) + " mapped, " + number(counts.unmatched) +
      " unmatched, " + number(counts.deactivated) + " deactivated." +
      (data.people.next ? " More users are available." : "");
  }

  function renderPeople(appended) {
    var body = $("people-body");
    if (!appended) { body.replaceChildren(); }
    (appended || data.people.items).forEach(function (user) { body.appendChild(personRow(user)); });
    $("people-wrap").hidden = data.people.items.length === 0;
    $("people-more").hidden = !data.people.next;
    if (data.people.items.length === 0) {
      tools.notify("people-notice", { kind: "info", title: "No users to show.",
        message: "Run a sync to mirror your Asana users, or choose another filter." });
    }
  }

  function personRow(user) {
    var mapping = user.mapping || null;
    var name = user.name || user.gid;
    var row = h("tr", { "data-gid": user.gid }, [
      h("th", { scope: "row" }, [h("span", { className: "result__name" }, name),
        h("span", { className: "result__meta" }, user.email || "no email visible")]),
      h("td", {}, h("span", { className: "run-state", "data-state": user.status }, USER_STATES[user.status] || user.status)),
      h("td", { className: "mapped-to" }, mapping ? mapping.securedb_user_id : "—"),
      h("td", {}, mapping ? (METHODS[mapping.method] || mapping.method) : "—"),
      h("td", { className: "mapping-cell" })
    ]);
    // The accessible name starts with the visible label (WCAG 2.5.3) and says whose mapping it is.
    var change = h("button", { type: "button", className: "btn btn--small",
      "aria-label": mapping ? "Change the mapping of " + name : "Map " + name }, mapping ? "Change" : "Map");
    change.addEventListener("click", function () { editMapping(user, row); });
    row.lastChild.appendChild(change);
    return row;
  }

  function editMapping(user, row) {
    var name = user.name || user.gid;
    var cell = row.lastChild;
    var inputId = "map-" + user.gid;
    var input = h("input", { id: inputId, type: "text", list: "people-securedb-users", autocomplete: "off",
      spellcheck: "false", value: user.mapping ? user.mapping.securedb_user_id : "" });
    var save = h("button", { type: "submit", className: "btn btn--small btn--primary" }, "Save");
    var cancel = h("button", { type: "button", className: "btn btn--small" }, "Cancel");
    var form = h("form", { className: "mapping-form", "aria-label": "Mapping of " + name }, [
      h("label", { "for": inputId }, "SecureDB user for " + name),
      input,
      h("div", { className: "actions" }, [save, cancel])
    ]);
    if (user.mapping && user.mapping.method === "manual") {
      var clear = h("button", { type: "button", className: "btn btn--small btn--danger-outline" }, "Clear manual mapping");
      clear.addEventListener("click", function () { saveMapping(user, row, null, clear); });
      form.lastChild.appendChild(clear);
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = input.value.trim();
      if (!value) {
        input.setAttribute("aria-invalid", "true");
        tools.notify("people-notice", { kind: "error", title: "Enter a SecureDB user id.",
          message: "Pick one of the SecureDB users who have signed in, or type the user id." });
        input.focus();
        return;
      }
      saveMapping(user, row, value, save);
    });
    cancel.addEventListener("click", function () {
      var fresh = personRow(user);
      row.replaceWith(fresh);
      fresh.lastChild.firstChild.focus();
    });
    cell.replaceChildren(form);
    input.focus();
  }

  async function saveMapping(user, row, securedbUserId, trigger) {
    var name = user.name || user.gid;
    try {
      var updated = await tools.busy(trigger, "Saving…", function () {
        return tools.api("PUT", "/users/" + encodeURIComponent(user.gid) + "/mapping", { securedb_user_id: securedbUserId });
      });
      data.people.items = data.people.items.map(function (item) { return item.gid === updated.gid ? updated : item; });
      var fresh = personRow(updated);
      row.replaceWith(fresh);
      fresh.lastChild.firstChild.focus();
      tools.notify("people-notice", { kind: "success",
        title: securedbUserId === null ? "The manual mapping of " + name + " was cleared." :
          name + " is mapped to " + securedbUserId + ".",
        message: updated.mapping ? "Now mapped to " + updated.mapping.securedb_user_id + " (" +
          (METHODS[updated.mapping.method] || updated.mapping.method) + ")." : "Now unmatched." });
    } catch (error) {
      tools.reportError("people-notice", error, "The mapping of " + name + " was not saved.");
    }
  }

  // ------------------------------------------------------------------------------------------------- start --

  document.addEventListener("securedb:asana:admin-ready", function (event) {
    var root = $("sync-panel");
    if (!root || !event.detail) { return; }
    tools = event.detail;
    if (!built) {
      build(root);
      built = true;
    }
    loadSync();
  });
})();
