/* SecureDB ↔ Asana admin page.
 *
 * Plain JavaScript, no build step, no external resources. Every value that comes from the API or the URL is written
 * with textContent (never innerHTML), so nothing Asana or a tenant controls can inject markup.
 *
 * Authentication: every API call carries "Authorization: Bearer <SecureDB JWT>". The page takes the token from, in
 * order of precedence:
 *   1. the URL fragment "#token=<jwt>" (the local dev sign-in redirects there). It is moved to sessionStorage and the
 *      fragment is removed from the address bar and history at once (history.replaceState).
 *   2. a message from SecureDB's UI when this page is embedded in an iframe (see the postMessage contract below).
 *   3. sessionStorage (this tab only; it is never written to localStorage or a cookie).
 * Without a token the page shows a sign-in prompt. A 401 from the API drops the token and shows the prompt again.
 *
 * postMessage contract with the embedding SecureDB UI (all messages are plain objects with a "type"):
 *   parent -> page  {type: "securedb:asana:token", token: "<jwt>"}
 *       Accepted only when event.origin is this page's own origin or the embedding parent's origin, and (when the
 *       origin is the parent's) event.source is window.parent. Which parents may embed the page at all is enforced
 *       by the server's CSP frame-ancestors, so "the parent's origin" is always a SecureDB origin. Sending a new
 *       token at any time replaces the current one and reloads the page's data.
 *   page -> parent  {type: "securedb:asana:ready"}          once the page listens for a token;
 *                   {type: "securedb:asana:token-rejected"} after the API answered 401 (send a fresh token);
 *                   {type: "securedb:asana:resize", height} when the content height changes (to size the iframe).
 *       Sent with targetOrigin set to the parent's origin only (never "*"), and only when that origin is known.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "securedb.asana.token";
  var MSG_TOKEN = "securedb:asana:token";

  var STATE_LABELS = {
    connected: "Connected",
    requires_connection: "Requires connection",
    error: "Error",
    not_configured: "Not configured",
    needs_reconnect: "Needs reconnect",
    not_connected: "Not connected"
  };

  var $ = function (id) { return document.getElementById(id); };

  var bootstrap = readBootstrap();
  var apiBase = (bootstrap.api_base || "/asana/api").replace(/\/+$/, "");
  var framed = window.parent !== window;
  var parentOrigin = framed ? findParentOrigin() : null;

  var state = {
    token: null,
    role: null,          // "admin" | "member" | null (unknown)
    settings: null,      // last status JSON from GET/PUT /settings
    loadSeq: 0,          // ignores stale answers when the token changes mid-flight
    lists: {
      workspaces: { items: [], next: null, workspace: null },
      projects: { items: [], next: null, workspace: null },
      teams: { items: [], next: null, workspace: null }
    }
  };

  // ------------------------------------------------------------------------------------------------ bootstrap --

  function readBootstrap() {
    var el = $("bootstrap");
    try {
      var data = JSON.parse(el ? el.textContent : "{}");
      return data && typeof data === "object" ? data : {};
    } catch (e) {
      return {};
    }
  }

  function findParentOrigin() {
    try {
      if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
        return originOf(window.location.ancestorOrigins[0]);
      }
    } catch (e) { /* not supported */ }
    return document.referrer ? originOf(document.referrer) : null;
  }

  function originOf(url) {
    try {
      var origin = new URL(url).origin;
      return origin && origin !== "null" ? origin : null;
    } catch (e) {
      return null;
    }
  }

  function postToParent(message) {
    if (framed && parentOrigin) {
      window.parent.postMessage(message, parentOrigin);
    }
  }

  // ----------------------------------------------------------------------------------------------------- token --

  function storeToken(token) {
    state.token = token;
    try { window.sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage blocked: memory only */ }
  }

  function clearToken() {
    state.token = null;
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
  }

  function tokenFromFragment() {
    var hash = window.location.hash;
    if (!hash || hash.length < 2) { return null; }
    var params = new URLSearchParams(hash.slice(1));
    var token = params.get("token");
    if (token === null) { return null; }
    // Remove the token from the address bar and from history before anything else can read or log it.
    params.delete("token");
    var rest = params.toString();
    history.replaceState(history.state, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
    return token.trim() || null;
  }

  function initialToken() {
    var fromFragment = tokenFromFragment();
    if (fromFragment) { return fromFragment; }
    try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function onMessage(event) {
    var data = event.data;
    if (!data || typeof data !== "object" || data.type !== MSG_TOKEN) { return; }
    var fromSelf = event.origin === window.location.origin;
    var fromParent = framed && parentOrigin !== null && event.origin === parentOrigin && event.source === window.parent;
    if (!fromSelf && !fromParent) { return; }
    if (typeof data.token !== "string" || !data.token.trim()) { return; }
    var token = data.token.trim();
    if (token === state.token) { return; }
    storeToken(token);
    loadAll();
  }

  // ------------------------------------------------------------------------------------------------------- API --

  function ApiError(status, error, retryAfter) {
    this.status = status;
    this.code = (error && error.code) || "error";
    this.message = (error && error.message) || "Something went wrong.";
    this.fix = (error && error.fix) || null;
    this.connectUrl = (error && error.connect_url) || null;
    this.details = (error && Array.isArray(error.details)) ? error.details : [];
    this.retryAfter = retryAfter || null;
  }

  function genericError(status) {
    if (status >= 500) {
      return { code: "server_error", message: "SecureDB could not complete the request (HTTP " + status + ").",
        fix: "Try again in a minute. If it keeps failing, contact SecureDB support." };
    }
    return { code: "http_" + status, message: "The request was refused (HTTP " + status + ").",
      fix: "Reload the page and try again." };
  }

  async function api(method, path, body) {
    if (!state.token) {
      showSignIn();
      throw new ApiError(401, { code: "not_signed_in", message: "You are not signed in to SecureDB.",
        fix: "Sign in, then try again." });
    }
    var token = state.token;
    var headers = { "Authorization": "Bearer " + token, "Accept": "application/json" };
    var init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch(apiBase + path, init);
    } catch (e) {
      throw new ApiError(0, { code: "network_error", message: "Could not reach SecureDB.",
        fix: "Check your network connection, then try again." });
    }
    var payload = null;
    var text = await response.text();
    if (text) {
      try { payload = JSON.parse(text); } catch (e) { payload = null; }
    }
    if (response.ok) { return payload || {}; }
    var error = payload && payload.error && typeof payload.error === "object" ? payload.error : genericError(response.status);
    var apiError = new ApiError(response.status, error, response.headers.get("Retry-After"));
    // A 401 for a token that has since been replaced (a fresh one arrived mid-flight) says nothing about the new one.
    if (response.status === 401 && token === state.token) {
      clearToken();
      postToParent({ type: "securedb:asana:token-rejected" });
      showSignIn(apiError);
    }
    throw apiError;
  }

  // -------------------------------------------------------------------------------------------------- helpers --

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function setText(id, text) { $(id).textContent = text === undefined || text === null ? "" : String(text); }
  function show(id, visible) { $(id).hidden = !visible; }

  /** Render a notice into a live region. notice: {kind, title, message, fix, details, connectPurpose, retryAfter} */
  function notify(regionId, notice) {
    var region = $(regionId);
    region.replaceChildren();
    if (!notice) { return; }
    var box = el("div", "notice notice--" + (notice.kind || "info"));
    if (notice.title) { box.appendChild(el("p", "notice__title", notice.title)); }
    if (notice.message && notice.message !== notice.title) { box.appendChild(el("p", null, notice.message)); }
    if (notice.details && notice.details.length) {
      var list = el("ul", "notice__details");
      notice.details.forEach(function (d) {
        list.appendChild(el("li", null, (d.field ? d.field + ": " : "") + (d.message || "")));
      });
      box.appendChild(list);
    }
    if (notice.fix) {
      var fix = el("p", "notice__fix");
      fix.appendChild(el("strong", null, "How to fix: "));
      fix.appendChild(document.createTextNode(notice.fix));
      box.appendChild(fix);
    }
    if (notice.retryAfter) {
      box.appendChild(el("p", null, "You can retry in " + notice.retryAfter + " seconds."));
    }
    if (notice.connectPurpose) {
      var actions = el("div", "actions");
      var button = el("button", "btn btn--primary", "Connect / Authorize");
      button.type = "button";
      button.addEventListener("click", function () { startConnect(notice.connectPurpose, button, regionId); });
      actions.appendChild(button);
      box.appendChild(actions);
    }
    region.appendChild(box);
  }

  function errorNotice(error, title, connectPurpose) {
    return {
      kind: "error",
      title: title || null,
      message: error.message,
      fix: error.fix,
      details: error.details.filter(function (d) { return !fieldName(d.field); }),  // those show at their field
      retryAfter: error.retryAfter,
      connectPurpose: error.connectUrl ? (connectPurpose || "organization") : null
    };
  }

  /** Show a failed request in a notice region. A 401 is not repeated there: the sign-in prompt already says it. */
  function reportError(regionId, error, title, connectPurpose) {
    if (error.status !== 401) { notify(regionId, errorNotice(error, title, connectPurpose)); }
  }

  /** Disable a button while its request runs; restore the label afterwards. */
  async function busy(button, label, work) {
    var original = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (label) { button.textContent = label; }
    try {
      return await work();
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = original;
    }
  }

  function formatTime(iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  function describeUser(user) {
    if (!user) { return ""; }
    var name = user.name || user.gid || "";
    return user.email ? name + " (" + user.email + ")" : name;
  }

  var confirmDialog = $("confirm");
  function confirmAction(title, body, confirmLabel) {
    return new Promise(function (resolve) {
      var opener = document.activeElement;
      setText("confirm-title", title);
      setText("confirm-body", body);
      setText("confirm-ok", confirmLabel);
      confirmDialog.returnValue = "";
      confirmDialog.addEventListener("close", function onClose() {
        confirmDialog.removeEventListener("close", onClose);
        if (opener && typeof opener.focus === "function") { opener.focus(); }
        resolve(confirmDialog.returnValue === "confirm");
      });
      confirmDialog.showModal();
      $("confirm-cancel").focus();  // the safe choice first (no autofocus attribute: blocked in cross-origin frames)
    });
  }

  // -------------------------------------------------------------------------------------------------- sign-in --

  function showSignIn(error) {
    show("signin", true);
    show("org", false);
    show("danger", false);
    show("personal", false);
    show("member-note", false);
    show("session", false);
    show("loading", false);
    if (bootstrap.dev_signin_url) {
      $("signin-link").href = bootstrap.dev_signin_url;
      show("signin-dev", true);
    }
    if (error) {
      notify("page-notice", { kind: "warning", title: "Your SecureDB session has ended.", message: error.message,
        fix: error.fix || "Sign in again to continue." });
    }
  }

  // ------------------------------------------------------------------------------------------------- loading --

  async function loadAll() {
    var seq = ++state.loadSeq;
    show("signin", false);
    show("loading", true);
    show("session", !framed);
    var settingsResult = loadSettings(seq);
    var personalResult = loadPersonal(seq);
    await Promise.allSettled([settingsResult, personalResult]);
    if (seq === state.loadSeq) { show("loading", false); }
  }

  async function loadSettings(seq) {
    try {
      var status = await api("GET", "/settings");
      if (seq !== state.loadSeq) { return; }
      state.role = "admin";
      show("member-note", false);
      show("org", true);
      renderSettings(status);
      announceAdmin();
    } catch (error) {
      if (seq !== state.loadSeq || error.status === 401) { return; }
      if (error.status === 403) {
        state.role = "member";
        show("org", false);
        show("danger", false);
        show("member-note", true);
        setText("member-note-detail", error.message + (error.fix ? " " + error.fix : ""));
        return;
      }
      notify("page-notice", errorNotice(error, "Could not load the organization's Asana settings."));
    }
  }

  async function loadPersonal(seq) {
    try {
      var connection = await api("GET", "/connection?purpose=personal");
      if (seq !== state.loadSeq) { return; }
      show("personal", true);
      renderPersonal(connection);
    } catch (error) {
      if (seq !== state.loadSeq || error.status === 401) { return; }
      show("personal", true);
      $("personal-state").dataset.state = "error";
      setText("personal-state", "Unavailable");
      setText("personal-message", "");
      show("personal-connect", false);
      show("personal-disconnect", false);
      notify("personal-notice", errorNotice(error, "Could not load your Asana connection.", "personal"));
    }
  }

  // ------------------------------------------------------------------------------------------ organization UI --

  function renderSettings(s) {
    state.settings = s;
    show("danger", !!s.configured);  // nothing to disconnect before anything is saved

    // Credentials form. The Client ID is not secret and is shown; the secret and PAT never come back from the API.
    var clientId = $("client_id");
    if (document.activeElement !== clientId || !clientId.value) { clientId.value = s.client_id || ""; }
    setText("client_secret-state", s.client_secret_set ? "A secret is saved; leave empty to keep it." : "Not set.");
    setText("pat-state", s.pat_set ? "Saved: •••• " + (s.pat_last4 || "") + ". Leave empty to keep it." : "Not set.");
    show("pat-remove-row", !!s.pat_set);
    if (!s.pat_set) { $("pat-remove").checked = false; $("pat").disabled = false; }

    // URLs to register in Asana.
    var uris = Array.isArray(s.redirect_uris) ? s.redirect_uris : [];
    var noSlash = uris.filter(function (u) { return !/\/$/.test(u); })[0] || uris[0] || "";
    var slash = uris.filter(function (u) { return /\/$/.test(u); })[0] || (noSlash ? noSlash + "/" : "");
    setText("redirect-uri", noSlash);
    setText("redirect-uri-slash", slash);
    setText("webhook-url", s.webhook_url || "");
    setText("scopes", s.recommended_scopes || "");
    setText("scopes-mode", s.scopes_mode === "granular"
      ? "This organization requests the granular scopes above: add each of them under OAuth → Scopes in your Asana app."
      : "This organization requests Full permissions (“default”): enable Full permissions in your Asana app, or add the granular scopes above if you prefer to limit access.");

    renderConnection(s.connection || {}, s);
  }

  function renderConnection(c, s) {
    var stateName = c.state || (s.configured ? "error" : "not_configured");
    var badge = $("connection-state");
    badge.dataset.state = stateName;
    badge.textContent = STATE_LABELS[stateName] || stateName;

    setText("connection-message", c.message || "");
    setText("connection-fix", c.fix || "");
    show("connection-fix", !!c.fix);

    var identity = "None";
    if (c.mode === "pat") {
      identity = "Personal Access Token (PAT)" + (s.pat_last4 ? " •••• " + s.pat_last4 : "");
    } else if (c.mode === "oauth") {
      identity = "OAuth (an admin's Asana connection)";
    }
    setText("connection-identity", identity);
    setText("connection-user", describeUser(c.asana_user));
    show("connection-user-row", !!c.asana_user);
    setText("connection-by", c.connected_by || "");
    show("connection-by-row", c.mode === "oauth" && !!c.connected_by);
    var workspaces = Array.isArray(c.workspaces) ? c.workspaces : [];
    setText("connection-workspaces", workspaces.map(function (w) { return w.name; }).join(", "));
    show("connection-workspaces-row", workspaces.length > 0);
    setText("connection-checked", formatTime(c.checked_at));
    show("connection-checked-row", !!c.checked_at);

    show("org-connect", stateName === "requires_connection" || (stateName === "error" && !!c.connect_url));
    show("org-verify", !!s.configured);
    show("org-oauth-disconnect", c.mode === "oauth");

    if (workspaces.length && !state.lists.workspaces.items.length) { fillWorkspaceSelect(workspaces); }
  }

  var FORM_FIELDS = ["client_id", "client_secret", "pat"];

  /** The form field a validation detail belongs to ("pat" or a nested location such as "pat.x"), or null. */
  function fieldName(field) {
    var name = String(field || "").split(".")[0];
    return FORM_FIELDS.indexOf(name) >= 0 ? name : null;
  }

  function clearFieldErrors() {
    FORM_FIELDS.forEach(function (name) {
      $(name).removeAttribute("aria-invalid");
      setText(name + "-error", "");
    });
  }

  function setFieldError(name, message) {
    $(name).setAttribute("aria-invalid", "true");
    setText(name + "-error", message);
  }

  async function saveSettings(event) {
    event.preventDefault();
    clearFieldErrors();
    notify("form-notice", null);
    var s = state.settings || {};
    var clientId = $("client_id").value.trim();
    var secret = $("client_secret").value.trim();
    var pat = $("pat").value.trim();
    var removePat = $("pat-remove").checked;

    var invalid = [];
    if (!clientId) { invalid.push(["client_id", "Enter the Client ID from your Asana app's OAuth tab."]); }
    if (!secret && !s.client_secret_set) {
      invalid.push(["client_secret", "Enter the Client Secret from your Asana app's OAuth tab (click “Show Secret”)."]);
    }
    if (invalid.length) {
      invalid.forEach(function (pair) { setFieldError(pair[0], pair[1]); });
      notify("form-notice", { kind: "error", title: "Check the highlighted fields." });
      $(invalid[0][0]).focus();
      return;
    }

    var body = { client_id: clientId };
    if (secret) { body.client_secret = secret; }
    if (removePat) { body.pat = null; } else if (pat) { body.pat = pat; }

    var button = $("save");
    try {
      var status = await busy(button, "Saving and verifying…", function () { return api("PUT", "/settings", body); });
      $("client_secret").value = "";
      $("pat").value = "";
      $("pat-remove").checked = false;
      $("pat").disabled = false;
      renderSettings(status);
      var c = status.connection || {};
      var ok = c.state === "connected";
      notify("form-notice", {
        kind: ok ? "success" : (c.state === "requires_connection" ? "warning" : "error"),
        title: ok ? "Saved. Connected to Asana." : "Saved. " + (STATE_LABELS[c.state] || "Not connected yet") + ".",
        message: c.message,
        fix: c.fix,
        connectPurpose: c.state === "requires_connection" || (c.state === "error" && c.connect_url) ? "organization" : null
      });
    } catch (error) {
      if (error.status === 401) { return; }
      var first = null;
      error.details.forEach(function (d) {
        var name = fieldName(d.field);
        if (name) {
          setFieldError(name, d.message);
          first = first || name;
        }
      });
      notify("form-notice", errorNotice(error, "The settings were not saved."));
      if (first) { $(first).focus(); }
    }
  }

  async function verify() {
    try {
      var status = await busy($("org-verify"), "Verifying…", function () { return api("POST", "/settings/verify"); });
      renderSettings(status);
      var c = status.connection || {};
      notify("connection-notice", {
        kind: c.state === "connected" ? "success" : "warning",
        title: c.state === "connected" ? "Verified: SecureDB can reach Asana." : "Verification finished: " +
          (STATE_LABELS[c.state] || c.state) + "."
      });
    } catch (error) {
      reportError("connection-notice", error, "Verification failed.");
    }
  }

  async function startConnect(purpose, button, regionId) {
    try {
      var result = await busy(button, "Opening Asana…", function () {
        return api("POST", "/connect", { purpose: purpose });
      });
      if (!result.connect_url) { throw new ApiError(500, genericError(500)); }
      var url = new URL(result.connect_url, window.location.href);
      if (url.protocol !== "https:" && url.protocol !== "http:") { throw new ApiError(500, genericError(500)); }
      if (framed) {
        // Asana's consent page refuses to be framed: finish in a new tab, then refresh here when the user returns.
        // Not the "noopener" feature: with it window.open always returns null, so a blocked pop-up could not be told
        // from an opened tab. The tab opens blank (same origin), loses its opener, and only then goes to Asana.
        var opened = window.open("about:blank", "_blank");
        if (opened) {
          opened.opener = null;
          opened.location.href = url.href;
        }
        notify(regionId, {
          kind: "info",
          title: opened === null ? "Allow pop-ups to continue." : "Continue in the new tab.",
          message: opened === null ? "Your browser blocked the Asana consent page." :
            "Approve SecureDB on Asana's consent page. This page refreshes when you come back."
        });
        return;
      }
      window.location.assign(url.href);
    } catch (error) {
      reportError(regionId, error, "Could not start the Asana connection.", purpose);
    }
  }

  async function disconnectOrgOAuth() {
    var ok = await confirmAction("Disconnect the organization's OAuth connection?",
      "SecureDB revokes the OAuth token at Asana and deletes it. The saved Client ID and Client Secret stay; " +
      "without a PAT, the organization requires a new connection.", "Disconnect");
    if (!ok) { return; }
    try {
      var result = await busy($("org-oauth-disconnect"), "Disconnecting…", function () {
        return api("DELETE", "/connection?purpose=organization");
      });
      notify("connection-notice", revokeNotice(result, "The organization's OAuth connection was removed."));
      await loadSettings(state.loadSeq);
      $("connection-title").focus();  // the button that had focus is gone with the OAuth connection
    } catch (error) {
      reportError("connection-notice", error, "Could not disconnect.");
    }
  }

  async function disconnectOrganization() {
    var ok = await confirmAction("Disconnect the organization from Asana?",
      "This revokes every Asana authorization of the organization (its own and its users') at Asana and deletes " +
      "the saved Client ID, Client Secret and PAT.", "Disconnect organization");
    if (!ok) { return; }
    try {
      await busy($("org-disconnect"), "Disconnecting…", function () { return api("DELETE", "/settings"); });
      resetLists();
      await loadSettings(state.loadSeq);
      // The danger zone hides once nothing is configured: report in the connection card and move focus there.
      notify("connection-notice", { kind: "success", title: "The organization was disconnected from Asana.",
        message: "Its tokens were revoked and its credentials deleted. Save new settings to connect again." });
      $("connection-title").focus();
    } catch (error) {
      reportError("danger-notice", error, "Could not disconnect the organization.");
    }
  }

  function revokeNotice(result, title) {
    if (result && result.revoked === false) {
      return { kind: "warning", title: title,
        message: "Asana could not be reached to revoke the token, so it was deleted from SecureDB only.",
        fix: "To be sure, remove SecureDB under My Settings → Apps in Asana." };
    }
    return { kind: "success", title: title, message: "The token was revoked at Asana and deleted from SecureDB." };
  }

  // ------------------------------------------------------------------------------------------- Quick Actions --

  var LIST_KINDS = ["workspaces", "projects", "teams"];  // also the API path and the plural shown to the user

  function resetLists() {
    LIST_KINDS.forEach(function (kind) {
      state.lists[kind] = { items: [], next: null, workspace: null };
      show("result-" + kind, false);
      $("result-" + kind + "-list").replaceChildren();
    });
    fillWorkspaceSelect([]);
  }

  function fillWorkspaceSelect(workspaces) {
    var select = $("workspace");
    var previous = select.value;
    select.replaceChildren();
    if (!workspaces.length) {
      select.appendChild(el("option", null, "Click “View Workspaces” first")).value = "";
      return;
    }
    workspaces.forEach(function (w) {
      var option = el("option", null, w.name + (w.is_organization ? " (organization)" : ""));
      option.value = w.gid;
      select.appendChild(option);
    });
    var keep = workspaces.some(function (w) { return w.gid === previous; });
    var org = workspaces.filter(function (w) { return w.is_organization; })[0];
    select.value = keep ? previous : (org || workspaces[0]).gid;
  }

  function workspaceName(gid) {
    var option = Array.prototype.find.call($("workspace").options, function (o) { return o.value === gid; });
    return option ? option.textContent.replace(/ \(organization\)$/, "") : gid;
  }

  async function loadList(kind, append, button) {
    notify("quick-notice", null);
    var list = state.lists[kind];
    var workspace = null;
    if (kind !== "workspaces") {
      workspace = append ? list.workspace : $("workspace").value;
      if (!workspace) {
        // No workspace yet: list them first, which also picks the organization workspace.
        var loaded = await loadList("workspaces", false, button);
        if (!loaded) { return false; }
        workspace = $("workspace").value;
        if (!workspace) {
          notify("quick-notice", { kind: "warning", title: "No workspace to list.",
            message: "The Asana identity in use cannot see any workspace." });
          return false;
        }
      }
    }
    var params = new URLSearchParams();
    if (workspace) { params.set("workspace", workspace); }
    if (append && list.next) { params.set("offset", list.next); }
    var query = params.toString();

    try {
      var page = await busy(button, append ? "Loading more…" : "Loading…", function () {
        return api("GET", "/" + kind + (query ? "?" + query : ""));
      });
      var items = Array.isArray(page.data) ? page.data : [];
      state.lists[kind] = {
        items: append ? list.items.concat(items) : items,
        next: page.next_offset || null,
        workspace: workspace
      };
      renderList(kind, append ? items : null);
      if (kind === "workspaces") { fillWorkspaceSelect(state.lists.workspaces.items); }
      return true;
    } catch (error) {
      reportError("quick-notice", error, "Could not load " + kind + " from Asana.");
      return false;
    }
  }

  function renderList(kind, appended) {
    var data = state.lists[kind];
    var listEl = $("result-" + kind + "-list");
    var firstNew = null;
    if (!appended) { listEl.replaceChildren(); }
    (appended || data.items).forEach(function (item) {
      var li = el("li");
      li.dataset.gid = item.gid || "";
      var name = el("span", "result__name", item.name || "(no name)");
      li.appendChild(name);
      var meta = el("span", "result__meta", item.gid || "");
      if (kind === "workspaces") { meta.appendChild(el("span", "tag", item.is_organization ? "Organization" : "Workspace")); }
      if (item.archived === true) { meta.appendChild(el("span", "tag", "Archived")); }
      if (kind === "teams" && item.visibility) { meta.appendChild(el("span", "tag", item.visibility)); }
      li.appendChild(meta);
      listEl.appendChild(li);
      firstNew = firstNew || li;
    });

    var where = kind === "workspaces" ? "" : " in " + workspaceName(data.workspace);
    var title = kind.charAt(0).toUpperCase() + kind.slice(1) + where;
    setText("result-" + kind + "-title", title);
    var count = data.items.length;
    var summary = count === 0 ? "No " + kind + " found" + where + "." :
      count + " " + (count === 1 ? kind.replace(/s$/, "") : kind) + " shown" +
      (data.next ? "; more are available." : ".");
    setText("result-" + kind + "-summary", summary);
    show("result-" + kind + "-more", !!data.next);
    show("result-" + kind, true);
    // After "Load more", keep keyboard users where the new items start.
    if (appended && firstNew) {
      firstNew.tabIndex = -1;
      firstNew.focus({ preventScroll: false });
    }
  }

  // ------------------------------------------------------------------------------------------------ personal --

  function renderPersonal(connection) {
    var status = connection.status || "not_connected";
    var badge = $("personal-state");
    badge.dataset.state = status;
    badge.textContent = STATE_LABELS[status] || status;
    var message = "You have not connected your Asana account.";
    if (status === "connected") {
      message = "Connected as " + describeUser(connection.asana_user) + ".";
    } else if (status === "needs_reconnect") {
      message = "Authentication failed. Your token may have expired. Reconnect your Asana account." +
        (connection.asana_user ? " (Last connected as " + describeUser(connection.asana_user) + ".)" : "");
    }
    setText("personal-message", message);
    var connect = $("personal-connect");
    connect.textContent = status === "needs_reconnect" ? "Reconnect my Asana account" : "Connect my Asana account";
    show("personal-connect", status !== "connected");
    show("personal-disconnect", status === "connected" || status === "needs_reconnect");
  }

  async function disconnectPersonal() {
    var ok = await confirmAction("Disconnect your Asana account?",
      "SecureDB revokes your Asana token and deletes it. You can connect again at any time.", "Disconnect");
    if (!ok) { return; }
    try {
      var result = await busy($("personal-disconnect"), "Disconnecting…", function () {
        return api("DELETE", "/connection?purpose=personal");
      });
      notify("personal-notice", revokeNotice(result, "Your Asana account was disconnected."));
      await loadPersonal(state.loadSeq);
      $("personal-title").focus();  // the Disconnect button is gone now
    } catch (error) {
      reportError("personal-notice", error, "Could not disconnect.", "personal");
    }
  }

  // ------------------------------------------------------------------------------------------- OAuth outcome --

  function showOutcome(outcome) {
    if (!outcome || typeof outcome !== "object") { return; }
    var success = outcome.code === "connected";  // every other code is a failure that stored nothing
    var personal = outcome.purpose === "personal";
    notify("page-notice", {
      kind: success ? "success" : "error",
      title: success
        ? (personal ? "Your Asana account is connected." : "The organization is connected to Asana.")
        : (personal ? "Your Asana account was not connected." : "The organization was not connected to Asana."),
      message: outcome.message,
      fix: outcome.fix
    });
    // Drop ?outcome (and anything OAuth left behind) so a reload or a shared link does not show it again.
    var url = new URL(window.location.href);
    ["outcome", "purpose", "code", "state", "error", "error_description"].forEach(function (p) { url.searchParams.delete(p); });
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }

  // ------------------------------------------------------------------------------------------------- copying --

  async function copyValue(button) {
    var source = $(button.dataset.copy);
    var value = source.textContent;
    if (!value) { return; }
    var copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(value);
        copied = true;
      }
    } catch (e) { copied = false; }
    if (!copied) { copied = legacyCopy(value); }
    var label = $(button.getAttribute("aria-describedby")).textContent;
    if (copied) {
      button.textContent = "Copied";
      setText("copy-notice", label + " copied to the clipboard.");
    } else {
      // Last resort: select the text so the user can copy it with the keyboard.
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Press Ctrl+C";
      setText("copy-notice", "Copying is blocked here. " + label + " is selected: press Ctrl+C (⌘C on a Mac).");
    }
    window.setTimeout(function () { button.textContent = "Copy"; }, 2500);
  }

  function legacyCopy(value) {
    var area = document.createElement("textarea");
    area.value = value;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  // ---------------------------------------------------------------------------------------------- page panels --

  /* Panels in their own files (page/sync-panel.js …) share this page's session instead of keeping their own: once
   * the caller is known to be an admin, they receive the API helper (bearer token, 401 handling and sign-in prompt
   * included) and the notice, busy and confirmation helpers, in a "securedb:asana:admin-ready" event on document. */
  var panelTools = Object.freeze({
    api: api, notify: notify, reportError: reportError, busy: busy, confirmAction: confirmAction, formatTime: formatTime
  });

  function announceAdmin() {
    document.dispatchEvent(new CustomEvent("securedb:asana:admin-ready", { detail: panelTools }));
  }

  // ---------------------------------------------------------------------------------------------------- wire --

  function wire() {
    $("settings-form").addEventListener("submit", saveSettings);
    $("pat-remove").addEventListener("change", function () {
      var pat = $("pat");
      pat.disabled = this.checked;
      if (this.checked) { pat.value = ""; }
    });
    $("org-verify").addEventListener("click", verify);
    $("org-connect").addEventListener("click", function () { startConnect("organization", this, "connection-notice"); });
    $("org-oauth-disconnect").addEventListener("click", disconnectOrgOAuth);
    $("org-disconnect").addEventListener("click", disconnectOrganization);
    $("personal-connect").addEventListener("click", function () { startConnect("personal", this, "personal-notice"); });
    $("personal-disconnect").addEventListener("click", disconnectPersonal);
    LIST_KINDS.forEach(function (kind) {
      $("qa-" + kind).addEventListener("click", function () { loadList(kind, false, this); });
      $("result-" + kind + "-more").addEventListener("click", function () { loadList(kind, true, this); });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      button.addEventListener("click", function () { copyValue(button); });
    });
    $("sign-out").addEventListener("click", function () {
      clearToken();
      state.loadSeq++;
      showSignIn();
      notify("page-notice", { kind: "info", title: "Signed out of this page." });
    });
    window.addEventListener("message", onMessage);
    // Back from Asana's consent page in another tab (embedded mode): refresh what may have changed.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && state.token && framed) { loadAll(); }
    });
    if (framed && parentOrigin && typeof ResizeObserver === "function") {
      var lastHeight = 0;
      new ResizeObserver(function () {
        var height = Math.ceil(document.documentElement.scrollHeight);
        if (height !== lastHeight) {
          lastHeight = height;
          postToParent({ type: "securedb:asana:resize", height: height });
        }
      }).observe(document.body);
    }
  }

  function start() {
    wire();
    showOutcome(bootstrap.outcome);
    var token = initialToken();
    if (token) {
      storeToken(token);
      loadAll();
    } else {
      showSignIn();
    }
    postToParent({ type: "securedb:asana:ready" });
  }

  start();
})();
