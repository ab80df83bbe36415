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
 *
 * Connect finishes only in the browser session that started it. Connect gets an authorize URL and a completion key
 * from the API; the key stays in this tab's sessionStorage and never goes to Asana. Asana's redirect comes back to
 * this page with the state and code in the URL fragment (the server exchanged nothing); the page removes them from the
 * address bar at once and finishes with POST /connect/complete: its own JWT, the key, the state and the code.
 *   - top-level: the same tab went to Asana and back, so it still holds the token and the key;
 *   - embedded: Asana refuses to be framed, so Connect opens a pop-up. The pop-up, back on this page, posts
 *     {type: "securedb:asana:oauth-redirect", state, code} to its opener (this page, same origin only) and closes;
 *     the opener finishes. The opener is kept for this (the pop-up only ever shows Asana and this page).
 * A page that has no token yet (signed out) keeps the redirect in sessionStorage until one arrives; a page with
 * another user's token, or without the key, is refused by the server and says how to start Connect instead.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "securedb.asana.token";
  var MSG_TOKEN = "securedb:asana:token";
  var MSG_REDIRECT = "securedb:asana:oauth-redirect";
  var CONNECT_KEY = "securedb.asana.connect";      // {completion_key, purpose}: the Connect this tab started
  var REDIRECT_KEY = "securedb.asana.redirect";    // {state, code}: Asana's redirect, waiting for a signed-in session
  var URL_PATTERN = /https?:\/\/[^\s<>"')]+[^\s<>"').,;:]/g;

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
    popup: null,         // the Connect pop-up (embedded mode), the one window whose redirect message is accepted
    countdowns: {},      // Retry-After countdown timers by notice region
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

  function readSession(key) {
    try {
      var value = JSON.parse(window.sessionStorage.getItem(key) || "null");
      return value && typeof value === "object" ? value : null;
    } catch (e) {
      return null;
    }
  }

  function writeSession(key, value) {
    try {
      if (value === null) { window.sessionStorage.removeItem(key); } else { window.sessionStorage.setItem(key, JSON.stringify(value)); }
    } catch (e) { /* storage blocked: this Connect can still finish in memory only */ }
  }

  /** Asana's redirect in the fragment (#asana_state=…&asana_code=…), removed from the address bar and history. */
  function redirectFromFragment() {
    var hash = window.location.hash;
    if (!hash || hash.length < 2) { return null; }
    var params = new URLSearchParams(hash.slice(1));
    var stateParam = params.get("asana_state");
    var code = params.get("asana_code");
    if (stateParam === null && code === null) { return null; }
    params.delete("asana_state");
    params.delete("asana_code");
    var rest = params.toString();
    history.replaceState(history.state, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
    return stateParam && code ? { state: stateParam, code: code } : null;
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
    if (data && typeof data === "object" && data.type === MSG_REDIRECT) {
      // Only from the pop-up this page opened for Connect, showing this very origin.
      if (event.origin !== window.location.origin || !state.popup || event.source !== state.popup) { return; }
      state.popup = null;
      if (typeof data.state === "string" && typeof data.code === "string") {
        finishConnect({ state: data.state, code: data.code });
      }
      return;
    }
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
    var seconds = parseInt(retryAfter || (error && error.retry_after) || "", 10);
    this.retryAfter = isFinite(seconds) && seconds > 0 ? seconds : null;
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

  /** Text with each web address in it as a link (opening in a new tab): a message that names a page links to it. */
  function withLinks(node, text) {
    var last = 0;
    String(text).replace(URL_PATTERN, function (url, at) {
      node.appendChild(document.createTextNode(text.slice(last, at)));
      var link = el("a", null, url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      node.appendChild(link);
      last = at + url.length;
      return url;
    });
    node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }

  /** "You can retry in N seconds", counting down to "You can retry now." */
  function countdown(regionId, seconds) {
    var line = el("p", "notice__retry");
    var left = seconds;
    function tick() {
      line.textContent = left > 0 ? "You can retry in " + left + (left === 1 ? " second." : " seconds.") : "You can retry now.";
      if (left <= 0) { window.clearInterval(state.countdowns[regionId]); delete state.countdowns[regionId]; }
      left -= 1;
    }
    tick();
    state.countdowns[regionId] = window.setInterval(tick, 1000);
    return line;
  }

  /** Render a notice into a live region. notice: {kind, title, message, fix, details, connectPurpose, retryAfter} */
  function notify(regionId, notice) {
    var region = $(regionId);
    region.replaceChildren();
    window.clearInterval(state.countdowns[regionId]);
    delete state.countdowns[regionId];
    if (!notice) { return; }
    var box = el("div", "notice notice--" + (notice.kind || "info"));
    if (notice.title) { box.appendChild(el("p", "notice__title", notice.title)); }
    if (notice.message && notice.message !== notice.title) { box.appendChild(withLinks(el("p"), notice.message)); }
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
      withLinks(fix, notice.fix);
      box.appendChild(fix);
    }
    if (notice.retryAfter) {
      box.appendChild(countdown(regionId, notice.retryAfter));
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
      kind: error.code === "already_used" ? "info" : "error",
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
    var waiting = readSession(REDIRECT_KEY);
    if (waiting) {
      // Asana's redirect arrived before this session had a token: finish it now that there is one.
      writeSession(REDIRECT_KEY, null);
      await finishConnect(waiting, seq);
      return;
    }
    var settingsResult = loadSettings(seq);
    var personalResult = loadPersonal(seq);
    await Promise.allSettled([settingsResult, personalResult, loadSignedInUser(seq)]);
    if (seq === state.loadSeq) { show("loading", false); }
  }

  /** Who is signed in, by name (SecureDB's name claim, else the user id), in the header. */
  async function loadSignedInUser(seq) {
    try {
      var me = await api("GET", "/me");
      if (seq !== state.loadSeq) { return; }
      setText("session-user", "Signed in to SecureDB as " + (me.display_name || me.user_id) +
        (me.is_admin ? " (administrator)" : ""));
      show("sign-out", !framed);
      show("session", true);
    } catch (error) {
      if (seq === state.loadSeq && error.status !== 401) { show("session", false); }
    }
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
    setText("pat-state", !s.pat_set ? "Not set." :
      (s.pat_rejected ? "Saved, but Asana rejected it: save a new one, or remove it." :
        "Saved" + (s.pat_last4 ? ": •••• " + s.pat_last4 : "") + ". Leave empty to keep it."));
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
    setText("connection-by", c.connected_by_name || c.connected_by || "");
    show("connection-by-row", c.mode === "oauth" && !!c.connected_by);
    var workspaces = Array.isArray(c.workspaces) ? c.workspaces : [];
    setText("connection-workspaces", workspaces.map(function (w) { return w.name; }).join(", "));
    show("connection-workspaces-row", workspaces.length > 0);
    setText("connection-checked", formatTime(c.checked_at));
    show("connection-checked-row", !!c.checked_at);

    // Connect is offered whenever nothing can act for the organization: the status then carries a connect_url.
    show("org-connect", stateName === "requires_connection" || !!c.connect_url);
    show("org-verify", !!s.configured);
    show("org-oauth-disconnect", c.mode === "oauth");

    if (workspaces.length && !state.lists.workspaces.items.length) { fillWorkspaceSelect(workspaces); }
    updateTeamsButton();
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
      var check = status.credentials_check || {};
      var unverified = check.client === "unverified";
      notify("connection-notice", null);  // the card now says what the save found; an older notice would contradict it
      notify("form-notice", {
        kind: ok && !unverified ? "success" : (ok || c.state === "requires_connection" ? "warning" : "error"),
        title: ok ? "Saved. Connected to Asana." : "Saved. " + (STATE_LABELS[c.state] || "Not connected yet") + ".",
        message: unverified ? check.message + " " + (c.message || "") : c.message,
        fix: unverified && ok ? check.fix : c.fix,
        connectPurpose: c.state === "requires_connection" || c.connect_url ? "organization" : null
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
    // Opened before the request, while the click still allows a pop-up; pointed at Asana once the link is known.
    var popup = framed ? window.open("", "securedb-asana-connect", "popup,width=760,height=820") : null;
    try {
      var result = await busy(button, "Opening Asana…", function () {
        return api("POST", "/connect", { purpose: purpose });
      });
      if (!result.connect_url || !result.completion_key) { throw new ApiError(500, genericError(500)); }
      var url = new URL(result.connect_url, window.location.href);
      if (url.protocol !== "https:" && url.protocol !== "http:") { throw new ApiError(500, genericError(500)); }
      // The key stays in this tab: only this session can finish what it starts.
      writeSession(CONNECT_KEY, { completion_key: result.completion_key, purpose: purpose });
      if (framed) {
        // Asana's consent page refuses to be framed: it opens in a pop-up, which posts Asana's redirect back here.
        if (popup === null) {
          notify(regionId, { kind: "warning", title: "Allow pop-ups to continue.",
            message: "Your browser blocked the window for Asana's consent page. Allow pop-ups for this site, then " +
              "click Connect again." });
          return;
        }
        state.popup = popup;
        popup.location.href = url.href;
        notify(regionId, { kind: "info", title: "Continue in the pop-up window.",
          message: "Approve SecureDB on Asana's consent page. The window closes itself and this page finishes the " +
            "connection." });
        return;
      }
      window.location.assign(url.href);
    } catch (error) {
      if (popup) { popup.close(); }
      reportError(regionId, error, "Could not start the Asana connection.", purpose);
    }
  }

  /** Finish Connect after Asana's redirect, with this session's token and completion key (see the header). */
  async function finishConnect(redirect, seq) {
    var started = readSession(CONNECT_KEY) || {};
    var body = { state: redirect.state, code: redirect.code };
    if (started.completion_key) { body.completion_key = started.completion_key; }
    notify("page-notice", { kind: "info", title: "Finishing the connection to Asana…" });
    try {
      var done = await api("POST", "/connect/complete", body);
      writeSession(CONNECT_KEY, null);
      showFinished({ kind: "success", message: done.message, fix: "", purpose: done.purpose, code: done.code });
    } catch (error) {
      if (error.status === 401) {  // the session ended: finish after signing in again
        waitForSignIn(redirect);
        return;
      }
      showFinished({ kind: error.code === "already_used" ? "info" : "error", message: error.message, fix: error.fix,
        purpose: started.purpose || null, code: error.code });
    }
    await reloadAfterConnect(seq);
  }

  /** Reload what a finished (or refused) Connect may have changed, leaving no notice that contradicts it. */
  async function reloadAfterConnect(seq) {
    ["connection-notice", "form-notice", "quick-notice", "personal-notice"].forEach(function (id) { notify(id, null); });
    var current = seq === undefined ? ++state.loadSeq : seq;
    await Promise.allSettled([loadSettings(current), loadPersonal(current), loadSignedInUser(current)]);
    if (current === state.loadSeq) { show("loading", false); }
  }

  /** A redirect back from Asana, arriving in this page: hand it to the opener (pop-up), finish it, or keep it. */
  function receiveRedirect(redirect) {
    var opener = null;
    try {
      opener = window.opener && window.opener.location.origin === window.location.origin ? window.opener : null;
    } catch (e) {
      opener = null;  // another origin's window, or the link to it was cut: not ours to message
    }
    if (opener) {
      opener.postMessage({ type: MSG_REDIRECT, state: redirect.state, code: redirect.code }, window.location.origin);
      notify("page-notice", { kind: "info", title: "Asana approved the connection.",
        message: "Back in the SecureDB window, the connection is being finished. You can close this window." });
      window.close();
      return "handed";
    }
    if (!state.token) {
      waitForSignIn(redirect);
      return "waiting";
    }
    finishConnect(redirect);
    return "finishing";
  }

  /** Keep Asana's redirect until a token arrives (a sign-in, or SecureDB's UI): nothing is stored before that. */
  function waitForSignIn(redirect) {
    writeSession(REDIRECT_KEY, redirect);
    notify("page-notice", { kind: "warning", title: "Sign in to finish connecting Asana.",
      message: "Nothing is connected until the SecureDB user who clicked Connect is signed in here.",
      fix: "Sign in as that user. If someone else sent you this link, click Connect yourself instead." });
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
      // The server words it by the real cause: Asana refused (and why), could not be reached, or no longer knew it.
      return { kind: result.revocation === "unknown_token" ? "success" : "warning", title: title,
        message: result.message || "Asana did not confirm the revocation, so the token was deleted from SecureDB only.",
        fix: result.fix || null };
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
      option.dataset.organization = w.is_organization ? "true" : "false";
      select.appendChild(option);
    });
    var keep = workspaces.some(function (w) { return w.gid === previous; });
    var org = workspaces.filter(function (w) { return w.is_organization; })[0];
    select.value = keep ? previous : (org || workspaces[0]).gid;
    updateTeamsButton();
  }

  /** Load Teams is offered for organizations only: Asana keeps no teams in a plain workspace. */
  function updateTeamsButton() {
    var option = $("workspace").selectedOptions[0];
    var plain = !!option && option.dataset.organization === "false";
    $("qa-teams").disabled = plain;
    $("qa-teams").title = plain ? "Teams exist in Asana organizations only: pick a workspace marked “organization”." : "";
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
      // The error replaces what this list showed: results from before would read as if they were current.
      state.lists[kind] = { items: [], next: null, workspace: null };
      $("result-" + kind + "-list").replaceChildren();
      show("result-" + kind, false);
      reportError("quick-notice", error, "Could not load " + kind + " from Asana.");
      if (error.status === 409 || error.code === "asana_forbidden") {
        loadSettings(state.loadSeq);  // Asana refused the identity: the status card says so now too
      }
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
    if (outcome.code !== "awaiting_completion") { showFinished(outcome); }
    // Drop ?outcome (and anything OAuth left behind) so a reload or a shared link does not show it again.
    dropOutcomeFromUrl();
  }

  /** The end of a Connect, once: success, nothing changed (info), or nothing stored (error, with the fix). */
  function showFinished(outcome) {
    var kind = outcome.kind || (outcome.code === "connected" ? "success" : "error");
    var personal = outcome.purpose === "personal";
    var titles = {
      success: personal ? "Your Asana account is connected." : "The organization is connected to Asana.",
      info: "Nothing changed.",
      error: personal ? "Your Asana account was not connected." : "The organization was not connected to Asana."
    };
    notify("page-notice", { kind: kind, title: titles[kind] || titles.error, message: outcome.message, fix: outcome.fix });
  }

  function dropOutcomeFromUrl() {
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
    $("workspace").addEventListener("change", updateTeamsButton);
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
    var redirect = redirectFromFragment();
    var token = initialToken();
    if (token) { storeToken(token); }
    if (redirect) {
      if (receiveRedirect(redirect) === "waiting") { showSignIn(); }
    } else if (state.token) {
      loadAll();
    } else {
      showSignIn();
    }
    postToParent({ type: "securedb:asana:ready" });
  }

  start();
})();
