/*! Patchbay connect widget SDK, v1. No dependencies.

   <script src="https://patchbay.example/static/patchbay/v1/connect.js"></script>
   const widget = Patchbay.connect({
     session: "<token from POST /api/v1/connect-sessions>",
     providers: ["hubspot"],          // optional: show only these
     container: "#integrations",      // optional: inline in this element; a modal otherwise
     onEvent(e) {}                    // e.type: ready | connected | error | closed
   });
   widget.close();

   The token is never put in a URL: the widget page asks for it by postMessage once it has loaded, and this
   script answers only that iframe, at Patchbay's exact origin. Messages from anything else are ignored. */
(function (global) {
  "use strict";

  var script = document.currentScript;
  var PATCHBAY_ORIGIN = script && script.src ? new URL(script.src).origin : "";
  var WIDGET_PATH = "/connect/widget/";
  var LOAD_TIMEOUT_MS = 15000;
  var EVENT_TYPES = { ready: true, connected: true, error: true, closed: true };
  var EVENT_FIELDS = ["type", "connectionId", "provider", "status", "reason", "code", "message"];

  function resolveContainer(container) {
    if (!container) return null;
    var element = typeof container === "string" ? document.querySelector(container) : container;
    if (!element || !element.appendChild) throw new Error("Patchbay.connect: container " + container + " was not found.");
    return element;
  }

  function cleanEvent(raw) {
    var event = {};
    EVENT_FIELDS.forEach(function (field) {
      if (typeof raw[field] === "string") event[field] = raw[field];
    });
    return event;
  }

  function buildModal(iframe, onDismiss) {
    var overlay = document.createElement("div");
    overlay.setAttribute("data-patchbay-widget", "");
    overlay.style.cssText = "position:fixed;inset:0;z-index:2147483000;background:rgba(15,23,42,.55);" +
      "display:flex;align-items:center;justify-content:center;padding:8px;box-sizing:border-box;";
    var dialog = document.createElement("div");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-label", iframe.title);
    dialog.style.cssText = "width:min(480px,100%);height:min(720px,100%);background:#fff;border-radius:14px;" +
      "overflow:hidden;box-shadow:0 20px 60px rgba(0,0,0,.3);";
    dialog.appendChild(iframe);
    overlay.appendChild(dialog);
    overlay.addEventListener("click", function (event) { if (event.target === overlay) onDismiss(); });
    return overlay;
  }

  function connect(options) {
    options = options || {};
    if (typeof options.session !== "string" || !options.session) {
      throw new Error("Patchbay.connect: `session` (a token from POST /api/v1/connect-sessions) is required.");
    }
    if (!PATCHBAY_ORIGIN) throw new Error("Patchbay.connect: load connect.js with a <script src> from Patchbay.");
    var onEvent = typeof options.onEvent === "function" ? options.onEvent : function () {};
    var providers = Array.isArray(options.providers) ? options.providers.filter(function (p) { return typeof p === "string"; }) : [];
    var container = resolveContainer(options.container);
    var token = options.session;
    var closed = false;
    var tokenSent = false;

    var iframe = document.createElement("iframe");
    iframe.src = PATCHBAY_ORIGIN + WIDGET_PATH + "?origin=" + encodeURIComponent(window.location.origin);
    iframe.title = options.title || "Connect your accounts";
    iframe.referrerPolicy = "no-referrer";
    iframe.style.cssText = "border:0;width:100%;height:" + (container ? (options.height || "640px") : "100%") + ";display:block;";

    function emit(event) {
      try { onEvent(event); } catch (error) { window.setTimeout(function () { throw error; }); }
    }

    var loadTimer = window.setTimeout(function () {
      if (closed) return;
      emit({ type: "error", code: "widget_unavailable", message: "The Patchbay widget did not load. This page's origin must be one of the application's allowed origins." });
    }, options.loadTimeoutMs || LOAD_TIMEOUT_MS);

    function onMessage(event) {
      if (closed || event.origin !== PATCHBAY_ORIGIN || event.source !== iframe.contentWindow) return;
      var data = event.data;
      if (!data || data.source !== "patchbay-widget" || !data.event || typeof data.event.type !== "string") return;
      var type = data.event.type;
      if (type === "shell-ready") {
        if (!tokenSent) {
          tokenSent = true;
          iframe.contentWindow.postMessage({ source: "patchbay-host", type: "session", token: token, providers: providers }, PATCHBAY_ORIGIN);
          token = null;
        }
        return;
      }
      if (!EVENT_TYPES[type]) return;
      if (type === "ready" || type === "error") window.clearTimeout(loadTimer);
      if (type === "closed" && data.event.reason === "done") { close("done"); return; }
      emit(cleanEvent(data.event));
    }

    function onKey(event) {
      if (event.key === "Escape") close("dismissed");
    }

    var mounted = container ? iframe : buildModal(iframe, function () { close("dismissed"); });

    function close(reason) {
      if (closed) return;
      closed = true;
      window.clearTimeout(loadTimer);
      window.removeEventListener("message", onMessage);
      document.removeEventListener("keydown", onKey);
      if (mounted.parentNode) mounted.parentNode.removeChild(mounted);
      emit({ type: "closed", reason: reason });
    }

    window.addEventListener("message", onMessage);
    if (!container) document.addEventListener("keydown", onKey);
    (container || document.body).appendChild(mounted);
    iframe.focus();
    return { close: function () { close("host"); } };
  }

  global.Patchbay = Object.freeze({ version: "1", connect: connect });
})(window);
