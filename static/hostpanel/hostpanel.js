/* HostPanel staff panel: progressive enhancement only (every page works without JavaScript). */
(function () {
  "use strict";

  // Live refresh: an element with data-poll-url is replaced by the server's partial every
  // data-poll-interval ms until the partial says data-finished="true".
  function startPolling(el) {
    var url = el.getAttribute("data-poll-url");
    var interval = parseInt(el.getAttribute("data-poll-interval") || "2000", 10);
    function tick() {
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.firstElementChild;
          if (!fresh) { return; }
          el.replaceWith(fresh);
          el = fresh;
          if (fresh.getAttribute("data-finished") !== "true") { setTimeout(tick, interval); }
          else { document.dispatchEvent(new CustomEvent("hostpanel:finished")); }
        })
        .catch(function () { setTimeout(tick, interval * 2); });
    }
    if (el.getAttribute("data-finished") !== "true") { setTimeout(tick, interval); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(startPolling);
  });
})();
