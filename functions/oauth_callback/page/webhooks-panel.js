/* The admin page's webhooks panel: the organization's Asana webhooks with their health, create one for a project,
 * arm a handshake window for one made by hand in Asana, delete one, and run the built-in test handshake.
 *
 * Built into #webhooks-panel once settings.js announces an admin ("securedb:asana:admin-ready" on document, whose
 * detail carries the page's API helper and its notice, busy and confirmation helpers), so the panel shares the page's
 * session and never handles the token itself. Every value from the API is written with textContent.
 *
 * Routes: GET/POST /webhooks, POST /webhooks/expect, POST /webhooks/test, DELETE /webhooks/{gid}, and
 * GET /mirror/projects (the synced projects offered when creating one).
 */
(function () {
  "use strict";

  var POLL_MS = 3000;  // while a handshake window is armed, the list is re-read this often
  var HEALTH = {
    healthy: ["Healthy", "good"],
    awaiting_handshake: ["Waiting for the handshake", "info"],
    handshake_expired: ["Handshake window expired", "warn"],
    failing: ["Failing", "bad"],
    inactive: ["Inactive", "bad"],
    deleted_at_asana: ["Deleted in Asana", "bad"],
    heartbeat_overdue: ["Heartbeat overdue", "warn"],
    not_found_in_asana: ["Not found in Asana", "warn"],
    unknown: ["Unknown", "info"],
    deleted: ["Deleted", "info"]
  };
  var CHECKS = { dns: "DNS", tls: "TLS", handshake: "Handshake", test_event: "Signed test event" };
  var CHECK_STATES = { passed: "Passed", failed: "Failed", skipped: "Skipped" };

  var tools = null;
  var built = false;
  var pollTimer = null;
  var armed = null;  // the handshake window armed from this page: {id, target_url, expires_at}
  var webhooks = [];

  var $ = function (id) { return document.getElementById(id); };

  /** h("p", {id: "x", className: "muted"}, "text" | [children]) — text is always set as text, never as markup. */
  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (name) {
      var value = props[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "className") { node.className = value; }
      else if (name === "hidden") { node.hidden = true; }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function button(id, label, className, type) {
    return h("button", { type: type || "button", id: id, className: "btn " + (className || "") }, label);
  }

  function liveRegion(id) {
    return h("div", { id: id, className: "notice-region", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  }

  // ------------------------------------------------------------------------------------------------ markup --

  function build(root) {
    root.replaceChildren(
      h("section", { className: "card", id: "webhooks", "aria-labelledby": "webhooks-title" }, [
        h("div", { className: "card__head" }, [
          h("h2", { id: "webhooks-title", tabindex: "-1" }, "Webhooks"),
          h("span", { id: "webhooks-state", className: "badge", "data-state": "" }, "None yet")
        ]),
        h("p", { className: "muted" }, "Asana tells SecureDB about changes through webhooks, so the synced data " +
          "stays current between syncs. Each webhook has its own address under your webhook URL; SecureDB accepts " +
          "exactly one handshake for it and then only deliveries signed with that handshake's secret. A scheduled " +
          "check re-creates webhooks that stop working."),
        h("div", { className: "actions" }, [
          button("webhooks-refresh", "Refresh"),
          button("webhooks-test", "Test webhook handshake")
        ]),
        liveRegion("webhooks-notice"),

        h("section", { id: "webhook-test", className: "result", "aria-labelledby": "webhook-test-title", hidden: true }, [
          h("h3", { id: "webhook-test-title", tabindex: "-1" }, "Test handshake"),
          h("p", { id: "webhook-test-verdict", className: "lead-text" }),
          h("ul", { id: "webhook-test-checks", className: "check-list", "aria-label": "Test handshake steps" }),
          h("ul", { id: "webhook-test-notes", className: "error-list" }),
          h("div", { id: "webhook-test-fix", hidden: true })
        ]),

        h("h3", { id: "webhooks-list-title" }, "Your webhooks"),
        h("p", { id: "webhooks-empty", className: "muted" }, "This organization has no webhook yet."),
        h("div", { className: "table-wrap", id: "webhooks-wrap", hidden: true }, [
          h("table", { className: "data-table", id: "webhooks-table", "aria-labelledby": "webhooks-list-title" }, [
            h("thead", {}, h("tr", {}, ["Resource", "Health", "Asana reports", "Last heard from Asana", "Actions"]
              .map(function (label) { return h("th", { scope: "col" }, label); }))),
            h("tbody", { id: "webhooks-body" })
          ])
        ]),

        h("h3", { id: "webhook-create-title" }, "Create a webhook for a project"),
        h("form", { id: "webhook-create", "aria-labelledby": "webhook-create-title", novalidate: true }, [
          h("div", { className: "quick-bar" }, [
            h("div", { className: "field field--inline" }, [
              h("label", { "for": "webhook-resource" }, "Asana project"),
              h("input", { id: "webhook-resource", name: "resource", type: "text", inputmode: "numeric",
                autocomplete: "off", spellcheck: "false", list: "webhook-projects",
                "aria-describedby": "webhook-resource-hint webhook-resource-error" }),
              h("p", { className: "hint", id: "webhook-resource-hint" }, "The project's gid: the number in its " +
                "Asana link. Synced projects are suggested as you type."),
              h("p", { className: "field-error", id: "webhook-resource-error" })
            ]),
            h("div", { className: "field field--inline" }, [
              h("label", { "for": "webhook-events" }, "Deliver"),
              h("select", { id: "webhook-events", name: "events" }, [
                h("option", { value: "" }, "Every change in the project"),
                h("option", { value: "task" }, "Task changes only")
              ])
            ]),
            h("div", { className: "actions" }, [button("webhook-create-submit", "Create webhook", "btn--primary", "submit")])
          ]),
          h("datalist", { id: "webhook-projects" })
        ]),
        liveRegion("webhook-create-notice"),

        h("h3", { id: "webhook-arm-title" }, "A webhook made in Asana"),
        h("p", { className: "muted" }, "Creating a webhook in Asana yourself (with its API explorer or a script)? " +
          "Arm a handshake window first: SecureDB gives you a target URL that accepts one handshake for a few " +
          "minutes. Use it as the webhook's target in Asana."),
        h("div", { className: "actions" }, [button("webhook-arm", "Arm a handshake window")]),
        h("div", { id: "webhook-window", className: "result", hidden: true }, [
          h("dl", { className: "copy-list" }, [
            h("div", { className: "copy-row" }, [
              h("dt", { id: "webhook-window-label" }, "Target URL for Asana"),
              h("dd", {}, [
                h("code", { id: "webhook-window-url", className: "copy-value" }),
                h("button", { type: "button", className: "btn btn--small", id: "webhook-window-copy",
                  "aria-label": "Copy the target URL for Asana", "aria-describedby": "webhook-window-label" }, "Copy")
              ])
            ])
          ]),
          h("p", { id: "webhook-window-status", role: "status", "aria-live": "polite" })
        ]),
        liveRegion("webhook-arm-notice")
      ])
    );
    $("webhooks-refresh").addEventListener("click", function () { loadWebhooks(this); });
    $("webhooks-test").addEventListener("click", runTest);
    $("webhook-create").addEventListener("submit", createWebhook);
    $("webhook-arm").addEventListener("click", armWindow);
    $("webhook-window-copy").addEventListener("click", copyTarget);
  }

  function panelShown() {
    var org = $("org");
    return !!tools && !!org && !org.hidden;
  }

  // ---------------------------------------------------------------------------------------------------- list --

  async function loadWebhooks(refreshButton) {
    try {
      var list = refreshButton
        ? await tools.busy(refreshButton, "Refreshing…", function () { return tools.api("GET", "/webhooks"); })
        : await tools.api("GET", "/webhooks");
      webhooks = Array.isArray(list.data) ? list.data : [];
      renderWebhooks();
      if (list.asana_error) {
        tools.notify("webhooks-notice", { kind: "warning", title: "Asana's view of the webhooks could not be read.",
          message: list.asana_error.message, fix: list.asana_error.fix });
      } else if (refreshButton) {
        tools.notify("webhooks-notice", null);
      }
      followWindow();
    } catch (error) {
      tools.reportError("webhooks-notice", error, "Could not load the webhooks.");
    }
  }

  function resourceName(webhook) {
    if (!webhook.resource) { return webhook.kind === "expected-manual" ? "Made in Asana" : "Unknown resource"; }
    return webhook.resource.name || webhook.resource.gid;
  }

  function renderWebhooks() {
    var body = $("webhooks-body");
    body.replaceChildren();
    webhooks.forEach(function (webhook) { body.appendChild(webhookRow(webhook)); });
    $("webhooks-empty").hidden = webhooks.length > 0;
    $("webhooks-wrap").hidden = webhooks.length === 0;
    var troubled = webhooks.filter(function (w) { return (HEALTH[w.health] || [])[1] === "bad" || (HEALTH[w.health] || [])[1] === "warn"; });
    var badge = $("webhooks-state");
    if (webhooks.length === 0) {
      badge.dataset.state = "";
      badge.textContent = "None yet";
    } else if (troubled.length) {
      badge.dataset.state = "partial";
      badge.textContent = troubled.length + " need" + (troubled.length === 1 ? "s" : "") + " attention";
    } else {
      badge.dataset.state = "succeeded";
      badge.textContent = webhooks.length + " healthy";
    }
  }

  function webhookRow(webhook) {
    var name = resourceName(webhook);
    var health = HEALTH[webhook.health] || [webhook.health, "info"];
    var meta = [webhook.resource ? webhook.resource.resource_type + " " + webhook.resource.gid : "resource not known yet",
      webhook.kind === "expected-manual" ? "made in Asana" : "created from SecureDB"];
    if (webhook.filters && webhook.filters.length) {
      meta.push("filters: " + webhook.filters.map(function (f) { return [f.resource_type, f.action].filter(Boolean).join(" "); }).join(", "));
    }
    var asana = webhook.asana;
    var reports = asana
      ? [asana.active === false ? "Inactive" : "Active",
         asana.last_success_at ? "last success " + tools.formatTime(asana.last_success_at) : "no success yet",
         asana.last_failure_at ? "last failure " + tools.formatTime(asana.last_failure_at) : null,
         asana.delivery_retry_count ? asana.delivery_retry_count + " retries" : null,
         asana.failure_deletion_timestamp ? "deleted by Asana at " + tools.formatTime(asana.failure_deletion_timestamp) + " unless a delivery succeeds" : null
        ].filter(Boolean).join("; ")
      : { not_found: "No such webhook", unavailable: "Could not be read", not_linked: "Not listed for this integration",
          not_asked: "—" }[webhook.asana_status] || "—";
    var heard = webhook.last_heartbeat_at || webhook.last_delivery_at || webhook.handshake_at;
    var healthCell = [h("span", { className: "health", "data-health": health[1] }, health[0]),
      h("span", { className: "result__meta" }, webhook.health_message)];
    if (asana && asana.last_failure_content && webhook.health === "failing") {
      healthCell.push(h("span", { className: "result__meta" }, "Asana's last failure: " + asana.last_failure_content));
    }
    if (webhook.last_check) {
      healthCell.push(h("span", { className: "result__meta" }, "Checked " + tools.formatTime(webhook.last_check.checked_at) +
        ": " + webhook.last_check.message));
    }
    var row = h("tr", { "data-id": webhook.id }, [
      h("th", { scope: "row" }, [h("span", { className: "result__name" }, name),
        h("span", { className: "result__meta" }, meta.join(" · "))]),
      h("td", {}, healthCell),
      h("td", {}, reports),
      h("td", {}, heard ? tools.formatTime(heard) : (webhook.state === "pending" ? "Waiting for the handshake" : "Never")),
      h("td", {})
    ]);
    if (webhook.state !== "deleted") {
      var remove = h("button", { type: "button", className: "btn btn--small btn--danger-outline",
        "aria-label": "Delete the webhook for " + name }, "Delete");
      remove.addEventListener("click", function () { deleteWebhook(webhook, remove); });
      row.lastChild.appendChild(remove);
    }
    return row;
  }

  // -------------------------------------------------------------------------------------------------- create --

  async function createWebhook(event) {
    event.preventDefault();
    var input = $("webhook-resource");
    var resource = input.value.trim();
    tools.notify("webhook-create-notice", null);
    if (!/^\d{1,32}$/.test(resource)) {
      input.setAttribute("aria-invalid", "true");
      $("webhook-resource-error").textContent = "Enter the project's gid: digits only, as in its Asana link.";
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    $("webhook-resource-error").textContent = "";
    var events = $("webhook-events").value;
    var filters = events ? [{ resource_type: events }] : [];
    try {
      var created = await tools.busy($("webhook-create-submit"), "Creating…", function () {
        return tools.api("POST", "/webhooks", { resource: resource, filters: filters });
      });
      input.value = "";
      tools.notify("webhook-create-notice", { kind: "success", title: "Webhook created for " + resourceName(created) + ".",
        message: "Asana completed the handshake and confirmed its secret. Changes now reach SecureDB as they happen." });
      await loadWebhooks();
    } catch (error) {
      tools.reportError("webhook-create-notice", error, "The webhook was not created.");
    }
  }

  async function loadProjectSuggestions() {
    try {
      var page = await tools.api("GET", "/mirror/projects?limit=100");
      var list = $("webhook-projects");
      list.replaceChildren();
      (Array.isArray(page.data) ? page.data : []).forEach(function (project) {
        if (project.archived !== true) { list.appendChild(h("option", { value: project.gid }, project.name || project.gid)); }
      });
    } catch (error) {
      // Suggestions only: without a sync there are none, and the gid can still be typed.
    }
  }

  // ---------------------------------------------------------------------------------------------- arm window --

  async function armWindow() {
    tools.notify("webhook-arm-notice", null);
    try {
      armed = await tools.busy($("webhook-arm"), "Arming…", function () { return tools.api("POST", "/webhooks/expect"); });
      $("webhook-window-url").textContent = armed.target_url;
      $("webhook-window").hidden = false;
      $("webhook-window-status").textContent = "Waiting for Asana's handshake until " + tools.formatTime(armed.expires_at) +
        ". Create the webhook in Asana with this target URL now.";
      await loadWebhooks();
    } catch (error) {
      tools.reportError("webhook-arm-notice", error, "No handshake window was armed.");
    }
  }

  /** While a window armed here is open, re-read the list until its handshake arrives or it expires. */
  function followWindow() {
    if (pollTimer !== null) { window.clearTimeout(pollTimer); pollTimer = null; }
    if (!armed) { return; }
    var shown = webhooks.filter(function (w) { return w.id === armed.id; })[0];
    var status = $("webhook-window-status");
    if (shown && shown.handshake_at) {
      status.textContent = "Handshake arrived at " + tools.formatTime(shown.handshake_at) +
        ". The webhook made in Asana is active.";
      armed = null;
      return;
    }
    if (!shown || shown.health === "handshake_expired" || Date.parse(armed.expires_at) <= Date.now()) {
      status.textContent = "The window closed without a handshake; this URL accepts nothing now. Arm a new window " +
        "to try again.";
      armed = null;
      return;
    }
    pollTimer = window.setTimeout(function () {
      pollTimer = null;
      if (panelShown() && document.visibilityState === "visible") { loadWebhooks(); }
    }, POLL_MS);
  }

  async function copyTarget() {
    var value = $("webhook-window-url").textContent;
    var copyButton = $("webhook-window-copy");
    try {
      await navigator.clipboard.writeText(value);
      copyButton.textContent = "Copied";
    } catch (error) {
      var range = document.createRange();
      range.selectNodeContents($("webhook-window-url"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      copyButton.textContent = "Press Ctrl+C";
    }
    window.setTimeout(function () { copyButton.textContent = "Copy"; }, 2500);
  }

  // -------------------------------------------------------------------------------------------------- delete --

  async function deleteWebhook(webhook, trigger) {
    var name = resourceName(webhook);
    var ok = await tools.confirmAction("Delete the webhook for " + name + "?",
      "SecureDB deletes it in Asana and refuses its deliveries from now on. Changes in Asana then reach SecureDB only " +
      "with the next sync.", "Delete webhook");
    if (!ok) { return; }
    try {
      var result = await tools.busy(trigger, "Deleting…", function () {
        return tools.api("DELETE", "/webhooks/" + encodeURIComponent(webhook.gid || webhook.id));
      });
      tools.notify("webhooks-notice", { kind: "success", title: "The webhook for " + name + " was deleted.",
        message: result.note || (result.deleted_at_asana ? "It was deleted in Asana too." :
          "Asana had no such webhook any more.") });
      await loadWebhooks();
      $("webhooks-title").focus();  // the row and its button are gone
    } catch (error) {
      tools.reportError("webhooks-notice", error, "The webhook for " + name + " was not deleted.");
    }
  }

  // ---------------------------------------------------------------------------------------------------- test --

  async function runTest() {
    tools.notify("webhooks-notice", null);
    try {
      var report = await tools.busy($("webhooks-test"), "Testing…", function () {
        return tools.api("POST", "/webhooks/test");
      });
      renderReport(report);
    } catch (error) {
      tools.reportError("webhooks-notice", error, "The test handshake could not run.");
    }
  }

  function renderReport(report) {
    var section = $("webhook-test");
    section.hidden = false;
    section.dataset.ok = report.ok ? "true" : "false";
    $("webhook-test-verdict").textContent = (report.ok ? "Passed. " : "Failed. ") + report.verdict;
    var checks = $("webhook-test-checks");
    checks.replaceChildren();
    (report.checks || []).forEach(function (check) {
      var facts = [check.http_status ? "HTTP " + check.http_status : null,
        check.secret_echoed === true ? "secret echoed" : check.secret_echoed === false ? "secret not echoed" : null,
        typeof check.latency_ms === "number" ? check.latency_ms + " ms" : null].filter(Boolean).join(", ");
      checks.appendChild(h("li", { "data-check": check.name, "data-status": check.status }, [
        h("span", { className: "check-state", "data-status": check.status }, CHECK_STATES[check.status] || check.status),
        h("span", { className: "check-name" }, CHECKS[check.name] || check.name),
        h("span", { className: "result__meta" }, check.summary + (facts ? " (" + facts + ")" : ""))
      ]));
    });
    var notes = $("webhook-test-notes");
    notes.replaceChildren();
    (report.notes || []).forEach(function (note) { notes.appendChild(h("li", {}, note)); });
    var fix = $("webhook-test-fix");
    fix.replaceChildren();
    fix.hidden = report.ok;
    if (!report.ok) {
      fix.className = "notice notice--error";
      fix.appendChild(h("p", { className: "notice__title" }, report.message || "The webhook URL does not work."));
      fix.appendChild(h("p", { className: "notice__fix" }, [h("strong", {}, "How to fix: "), report.fix || ""]));
    }
    $("webhook-test-title").focus();
  }

  // ------------------------------------------------------------------------------------------------- start --

  document.addEventListener("securedb:asana:admin-ready", function (event) {
    var root = $("webhooks-panel");
    if (!root || !event.detail) { return; }
    tools = event.detail;
    if (!built) {
      build(root);
      built = true;
    }
    loadWebhooks();
    loadProjectSuggestions();
  });
})();
