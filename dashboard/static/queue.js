// Live refresh of the queue: every 15 s, fetch the table body rendered by the server for the
// same filters and swap it in. Pauses while the tab is hidden; no framework, no inline script.
// The URL carries fragment=1, so an expired session answers 401 (and we reload to the login
// form) instead of a redirect whose login page would land inside the table.
(function () {
  "use strict";
  var body = document.getElementById("queue-rows");
  var status = document.getElementById("refresh-status");
  if (!body || !status) { return; }
  var url = body.getAttribute("data-refresh-url");
  var interval = 15000;
  var timer = null;

  function stamp() {
    var now = new Date();
    return now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        // Announced (aria-live) only when the rows changed, not every 15 seconds.
        if (html.trim() !== body.innerHTML.trim()) {
          body.innerHTML = html;
          status.textContent = "Updated " + stamp();
        }
      })
      .catch(function () { status.textContent = "Could not refresh; retrying."; });
  }

  function start() { if (timer === null) { timer = window.setInterval(refresh, interval); } }
  function stop() { if (timer !== null) { window.clearInterval(timer); timer = null; } }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { refresh(); start(); }
  });
  status.textContent = "Live: refreshes every 15 seconds";
  start();
})();
