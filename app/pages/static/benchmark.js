// The results page, live: follow benchmark.progress on /ws and swap in the
// server-rendered results section (GET /benchmarks/{id}/live) when it changes.
// The WebSocket authenticates with the page's HttpOnly cookie (ltb_ws), which the
// browser sends itself: this script never sees a credential. Should the socket
// fail, the page polls the fragment instead, every few seconds, until the end.
(function () {
  "use strict";

  var page = document.getElementById("page");
  if (!page || page.dataset.live !== "true") {
    return;
  }
  var id = page.dataset.benchmarkId;
  var fragmentUrl = "/benchmarks/" + encodeURIComponent(id) + "/live";
  var finished = ["completed", "failed", "cancelled"];
  var socket = null;
  var fetching = false;
  var again = false;
  var pollTimer = null;

  function status() {
    var results = document.getElementById("results");
    return results ? results.dataset.status : "";
  }

  function done() {
    return finished.indexOf(status()) !== -1;
  }

  function refresh() {
    // One request at a time; events arriving meanwhile ask for one more.
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    fetch(fragmentUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected) {
          window.location.reload(); // the session ended: on to the login form
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) {
          document.getElementById("results").outerHTML = html;
          page.dataset.updates = String(Number(page.dataset.updates || "0") + 1);
        }
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        fetching = false;
        if (done()) {
          stop();
        } else if (again) {
          again = false;
          refresh();
        }
      });
  }

  function stop() {
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
      socket = null;
    }
    if (pollTimer) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
    page.dataset.live = "false";
  }

  function poll() {
    if (!pollTimer && !done()) {
      pollTimer = setInterval(refresh, 3000);
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws");
    socket.onopen = function () {
      socket.send(JSON.stringify({
        type: "subscribe",
        topics: ["benchmark.progress"],
        filter: { benchmark_id: id },
        request_id: "page-" + id.slice(0, 64)
      }));
      page.dataset.socket = "open";
    };
    socket.onmessage = function (message) {
      var body = JSON.parse(message.data);
      if (body.type === "ack") {
        // Subscribed: catch up with what happened before the subscription.
        refresh();
      } else if (body.type === "event" && body.topic === "benchmark.progress" &&
                 body.data && body.data.benchmark_id === id) {
        refresh();
      }
    };
    socket.onclose = function () {
      socket = null;
      page.dataset.socket = "closed";
      poll();
    };
  }

  connect();
})();
