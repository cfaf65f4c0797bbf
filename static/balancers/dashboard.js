/* Dashboard self-refresh: replaces #dashboard-grid with the server's partial every few seconds.
   Pauses while the operator is typing in it (load factor field) or the tab is hidden; stops with a
   notice when the session has expired (the partial then answers with the login page). No framework. */
(function () {
  "use strict";
  function start(grid) {
    var url = grid.getAttribute("data-refresh-url");
    var interval = parseInt(grid.getAttribute("data-refresh-ms") || "5000", 10);
    var failures = 0;
    function busy(el) {
      var active = document.activeElement;
      return document.hidden || (active && el.contains(active) && active.tagName === "INPUT");
    }
    function schedule() { setTimeout(tick, interval * Math.min(1 + failures, 6)); }
    function tick() {
      var el = document.getElementById("dashboard-grid");
      if (!el) { return; }
      if (busy(el)) { schedule(); return; }
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin", redirect: "manual" })
        .then(function (r) {
          if (r.type === "opaqueredirect" || r.status === 302 || r.status === 403) { throw new Error("session"); }
          if (!r.ok) { throw new Error(String(r.status)); }
          return r.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("#dashboard-grid");
          if (fresh && !busy(el)) { el.replaceWith(fresh); }
          failures = 0;
          schedule();
        })
        .catch(function (err) {
          if (err.message === "session") {
            var note = document.getElementById("dashboard-stale");
            if (note) { note.hidden = false; }
            return;
          }
          failures += 1;
          schedule();
        });
    }
    schedule();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.getElementById("dashboard-grid");
    if (grid) { start(grid); }
  });
})();
