/* The connect widget inside the host's iframe (loaded by /static/patchbay/v1/connect.js on the host page).

   - Waits for the host page to post the connect-session token (only from the exact parent origin the page
     was framed by), exchanges it once by POST for a widget credential, and from then on sends that credential
     in the X-Patchbay-Widget header (htmx hx-headers, and here). No cookie is needed: third-party cookies
     may be blocked.
   - Sign-ins run in a popup. Their outcome comes from the server (GET /connect/widget/events, polled),
     never through the popup's window handle; the handle only tells that the window was closed.
   - Tells the host only: ready | connected | error | closed, by postMessage to the exact parent origin. */
(function () {
  "use strict";

  var root = document.getElementById("pb-widget");
  if (!root) return;
  var parentOrigin = root.getAttribute("data-parent-origin");
  if (!parentOrigin || window.parent === window) return;

  var FLOW_POLL_MS = 700;
  var IDLE_POLL_MS = 3000;
  var POPUP_CHECK_MS = 250;

  var credential = null;
  var exchangeStarted = false;
  var reported = {};
  var flow = null; // {connectionId, provider, popup, watcher}
  var pollTimer = null;
  var polling = false;
  var ended = false;

  function tell(event) {
    window.parent.postMessage({ source: "patchbay-widget", event: event }, parentOrigin);
  }

  // "What to do:" and the error's resolution, as the server-rendered error page shows it. Text nodes only:
  // the resolution comes from the server and is never parsed as HTML.
  function fillResolution(line, resolution) {
    var label = document.createElement("strong");
    label.textContent = "What to do:";
    line.replaceChildren(label, document.createTextNode(" " + resolution));
  }

  function showError(message, resolution) {
    var box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = message;
    box.appendChild(text);
    if (resolution) {
      var line = document.createElement("p");
      line.className = "resolution";
      line.setAttribute("data-resolution", "");
      fillResolution(line, resolution);
      box.appendChild(line);
    }
    root.replaceChildren(box);
  }

  function headers() {
    var h = { "X-Patchbay-Widget": credential };
    return h;
  }

  function endSession(code, message, resolution) {
    if (ended) return;
    ended = true;
    window.clearTimeout(pollTimer);
    showError(message, resolution);
    tell({ type: "error", code: code, message: message });
  }

  function failed(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      var error = (body && body.error) || {};
      return {
        status: response.status,
        code: error.code || "http_" + response.status,
        message: error.message || "Something went wrong. Please try again.",
        resolution: typeof error.resolution === "string" ? error.resolution : ""
      };
    });
  }

  // --- token exchange ------------------------------------------------------------------------------------

  function exchange(token, providers) {
    var body = new URLSearchParams();
    body.set("token", token);
    body.set("origin", parentOrigin);
    body.set("providers", (providers || []).join(","));
    fetch(root.getAttribute("data-session-url"), { method: "POST", body: body, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) return failed(response).then(function (error) { endSession(error.code, error.message, error.resolution); });
        return response.text().then(function (html) {
          root.innerHTML = html;
          var app = document.getElementById("pb-widget-app");
          credential = JSON.parse(app.getAttribute("hx-headers"))["X-Patchbay-Widget"];
          if (window.htmx) window.htmx.process(root);
          tell({ type: "ready" });
          schedulePoll(0);
        });
      })
      .catch(function () { endSession("network_error", "Patchbay could not be reached. Check your connection and try again."); });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== parentOrigin) return;
    var data = event.data;
    if (!data || data.source !== "patchbay-host" || data.type !== "session" || typeof data.token !== "string") return;
    if (exchangeStarted) return;
    exchangeStarted = true;
    exchange(data.token, Array.isArray(data.providers) ? data.providers.filter(function (p) { return typeof p === "string"; }) : []);
  });

  // --- outcomes from the server ------------------------------------------------------------------------

  function refreshConnections() {
    if (!window.htmx || !credential || !document.getElementById("widget-connections")) return;
    window.htmx.ajax("GET", root.getAttribute("data-connections-url"), {
      target: "#widget-connections", swap: "outerHTML", headers: headers()
    });
  }

  function poll() {
    if (!credential || ended) return Promise.resolve();
    polling = true;
    return fetch(root.getAttribute("data-events-url"), { headers: headers(), credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          return failed(response).then(function (error) { endSession(error.code, error.message, error.resolution); });
        }
        if (!response.ok) return null;
        return response.json().then(function (body) {
          var changed = false;
          (body.events || []).forEach(function (event) {
            if (reported[event.key]) return;
            reported[event.key] = true;
            changed = true;
            var out = { type: event.type, connectionId: event.connectionId, provider: event.provider };
            if (event.status) out.status = event.status;
            if (event.code) out.code = event.code;
            tell(out);
            if (flow && flow.connectionId === event.connectionId) finishFlow(event.type === "connected" ? "Connected." : "The sign-in did not complete.");
          });
          if (changed) refreshConnections();
        });
      })
      .catch(function () { return null; })
      .then(function () { polling = false; });
  }

  function schedulePoll(delay) {
    window.clearTimeout(pollTimer);
    if (ended) return;
    pollTimer = window.setTimeout(function () {
      poll().then(function () { schedulePoll(flow ? FLOW_POLL_MS : IDLE_POLL_MS); });
    }, delay);
  }

  // --- the sign-in window ------------------------------------------------------------------------------

  function flowPanel(text, resolution) {
    var panel = document.getElementById("widget-flow");
    if (!panel) return;
    panel.hidden = !text;
    var label = panel.querySelector("[data-flow-text]");
    if (label) label.textContent = text || "";
    var line = panel.querySelector("[data-resolution]");
    if (!line) return;
    line.hidden = !(text && resolution);
    if (line.hidden) line.replaceChildren();
    else fillResolution(line, resolution);
  }

  function finishFlow(message) {
    if (!flow) return;
    window.clearInterval(flow.watcher);
    var opener = flow.trigger;
    flow = null;
    flowPanel("");
    announce(message);
    if (opener && document.body.contains(opener)) opener.focus();
  }

  function announce(message) {
    var live = document.getElementById("widget-announce");
    if (!live) {
      live = document.createElement("p");
      live.id = "widget-announce";
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      document.body.appendChild(live);
    }
    live.textContent = message;
  }

  function popupClosed() {
    // The window is gone: ask the server once more, so a sign-in that finished just before is reported as
    // connected/error; only a window closed without an outcome becomes `closed`.
    poll().then(function () {
      if (!flow) return;
      var ending = flow;
      finishFlow("The sign-in window was closed.");
      tell({ type: "closed", reason: "popup_closed", connectionId: ending.connectionId, provider: ending.provider });
      refreshConnections();
      schedulePoll(IDLE_POLL_MS);
    });
  }

  function startFlow(trigger, url) {
    if (flow) { if (flow.popup && !flow.popup.closed) flow.popup.focus(); return; }
    var popup = window.open("", "patchbay-signin-" + Date.now(), "popup,width=520,height=720");
    if (!popup) {
      announce("Allow pop-ups for this site to sign in.");
      flowPanel("Your browser blocked the sign-in window. Allow pop-ups for this page and try again.");
      return;
    }
    flow = { connectionId: null, provider: null, popup: popup, trigger: trigger, watcher: null };
    flowPanel("Opening the sign-in window…");
    window.scrollTo(0, 0); // the status line and the connection list are at the top
    fetch(url, { method: "POST", headers: headers(), credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) return failed(response).then(function (error) { throw error; });
        return response.json();
      })
      .then(function (body) {
        if (!flow || flow.popup !== popup) return;
        flow.connectionId = body.connectionId;
        flow.provider = body.provider;
        popup.location.href = body.popupUrl;
        flowPanel("Finish signing in in the window that opened. This page updates by itself.");
        flow.watcher = window.setInterval(function () {
          if (flow && flow.popup === popup && popup.closed && !polling) {
            window.clearInterval(flow.watcher);
            popupClosed();
          }
        }, POPUP_CHECK_MS);
        refreshConnections();
        schedulePoll(FLOW_POLL_MS);
      })
      .catch(function (error) {
        popup.close();
        finishFlow("");
        flowPanel((error && error.message) || "Something went wrong. Please try again.", error && error.resolution);
        if (error && error.status === 401) endSession(error.code, error.message, error.resolution);
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-widget-popup], [data-widget-done], [data-widget-cancel]") : null;
    if (!target || !credential) return;
    event.preventDefault();
    if (target.hasAttribute("data-widget-popup")) {
      startFlow(target, target.getAttribute("data-widget-popup"));
    } else if (target.hasAttribute("data-widget-cancel")) {
      if (flow && flow.popup) flow.popup.close();
      if (!flow) flowPanel("");
    } else if (target.hasAttribute("data-widget-done")) {
      tell({ type: "closed", reason: "done" });
    }
  });

  // Tell the host this page is ready to receive the session token (only the exact parent origin can read it).
  tell({ type: "shell-ready" });
})();
