/* Patchbay connect pages: tell the embedding application that a connection finished (postMessage to its
   exact allowed origin only), open provider sign-ins in a new window when framed, confirm disconnects. */
(function () {
  "use strict";

  function notifyConnected() {
    var el = document.getElementById("pb-connected");
    if (!el) return;
    var origin = el.getAttribute("data-notify-origin");
    if (!origin || !/^https?:\/\/[^/]+$/.test(origin)) return; // no allowed origin, no message
    var payload;
    try { payload = JSON.parse(el.getAttribute("data-notify-payload") || "{}"); } catch (e) { return; }
    var targets = [];
    if (window.parent && window.parent !== window) targets.push(window.parent);
    if (window.opener) {
      targets.push(window.opener);
      try { if (window.opener.parent && window.opener.parent !== window.opener) targets.push(window.opener.parent); } catch (e) { /* cross-origin */ }
    }
    targets.forEach(function (target) {
      try { target.postMessage(payload, origin); } catch (e) { /* origin mismatch: the browser drops it */ }
    });
  }

  function openConnectLinksOutsideFrame() {
    if (window.self === window.top) return;
    // Providers refuse to be framed: inside the widget, sign-ins open in a new window that keeps an
    // opener, so the result page can notify the embedding application.
    document.querySelectorAll("[data-connect-link], form[data-connect-form]").forEach(function (el) {
      el.setAttribute("target", "_blank");
      el.setAttribute("rel", "opener");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    notifyConnected();
    openConnectLinksOutsideFrame();
  });
  document.addEventListener("htmx:afterSwap", openConnectLinksOutsideFrame);
})();
