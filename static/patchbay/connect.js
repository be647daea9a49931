/* Patchbay connect pages. No inline scripts: behaviour hangs off data attributes.
   - Tell the embedding application that a connection finished, by postMessage to its exact allowed origin only
     (data-notify-origin comes from the connect session; no origin, no message).
   - Inside the widget iframe, provider sign-ins open in a new window (providers refuse to be framed), and the
     framed portal refreshes its list so it sees the new connection and notifies the parent when it turns healthy.
   - Confirm destructive form posts (data-confirm). */
(function () {
  "use strict";

  var ORIGIN_PATTERN = /^https?:\/\/[^/]+$/;
  var framed = window.self !== window.top;
  var knownBadges = {};

  function post(target, payload, origin) {
    try { target.postMessage(payload, origin); } catch (e) { /* origin mismatch: the browser drops it */ }
  }

  // The result page (the whole flow ran in this window or in a popup opened by the widget).
  function notifyFromResultPage() {
    var el = document.getElementById("pb-connected");
    if (!el) return;
    var origin = el.getAttribute("data-notify-origin");
    if (!origin || !ORIGIN_PATTERN.test(origin)) return;
    var payload;
    try { payload = JSON.parse(el.getAttribute("data-notify-payload") || "{}"); } catch (e) { return; }
    if (framed) post(window.parent, payload, origin);
    if (window.opener) {
      post(window.opener, payload, origin);
      try { if (window.opener.parent !== window.opener) post(window.opener.parent, payload, origin); } catch (e) { /* cross-origin */ }
    }
  }

  // The framed portal: a row that turns healthy is a finished connect.
  function scanPortalRows(notify) {
    var root = document.getElementById("portal");
    if (!root) return;
    var origin = root.getAttribute("data-notify-origin");
    document.querySelectorAll("[data-connection-id]").forEach(function (row) {
      var id = row.getAttribute("data-connection-id");
      var badgeEl = row.querySelector("[data-badge]");
      var badge = badgeEl ? badgeEl.getAttribute("data-badge") : "";
      if (notify && framed && badge === "healthy" && knownBadges[id] !== "healthy" && origin && ORIGIN_PATTERN.test(origin)) {
        post(window.parent, { type: "patchbay:connection.connected", connection_id: id, provider: row.getAttribute("data-provider") }, origin);
      }
      knownBadges[id] = badge;
    });
  }

  function refreshConnections() {
    var root = document.getElementById("portal");
    if (!root || !window.htmx || !document.getElementById("connections")) return;
    window.htmx.ajax("GET", root.getAttribute("data-connections-url"), { target: "#connections", swap: "outerHTML" });
  }

  function openSignInsOutsideFrame() {
    if (!framed) return;
    document.querySelectorAll("[data-connect-link], form[data-connect-form]").forEach(function (el) {
      el.setAttribute("target", "_blank");
      el.setAttribute("rel", "opener");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.getAttribute) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    if (framed && form.hasAttribute("data-connect-form")) {
      // The sign-in continues in a new window; pick up the new pending row (which then polls by itself).
      window.setTimeout(refreshConnections, 1500);
      window.setTimeout(refreshConnections, 5000);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    notifyFromResultPage();
    openSignInsOutsideFrame();
    scanPortalRows(false);
  });
  document.addEventListener("htmx:afterSwap", function () {
    openSignInsOutsideFrame();
    scanPortalRows(true);
  });
})();
