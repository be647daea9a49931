/* Patchbay connect pages. No inline scripts: behaviour hangs off data attributes.
   - The last page of the widget's sign-in window (data-popup-finished) closes the window by itself; the
     widget learns the outcome from the server, so nothing is posted to any other window from here.
   - Inside a frame (the hosted portal on an allowed origin), provider sign-ins open in a new window:
     providers refuse to be framed.
   - Confirm destructive form posts (data-confirm). */
(function () {
  "use strict";

  var CLOSE_AFTER_MS = 1200;
  var framed = window.self !== window.top;

  function openSignInsOutsideFrame() {
    if (!framed) return;
    document.querySelectorAll("[data-connect-link], form[data-connect-form]").forEach(function (el) {
      el.setAttribute("target", "_blank");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-close-window]")) window.close();
  });

  document.addEventListener("DOMContentLoaded", function () {
    openSignInsOutsideFrame();
    if (document.querySelector("[data-popup-finished]")) window.setTimeout(function () { window.close(); }, CLOSE_AFTER_MS);
  });
  document.addEventListener("htmx:afterSwap", openSignInsOutsideFrame);
})();
