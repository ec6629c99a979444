// gripctl dashboard: live run updates over Server-Sent Events. No build step, no dependencies.
"use strict";
(function () {
  const CLASS = {
    healthy: "ok", failed: "bad", "rolled-back": "bad", deploying: "busy", verifying: "busy",
    monitoring: "busy", pending: "muted", skipped: "muted",
  };
  const OUTCOME = { succeeded: "ok", failed: "bad", rolled_back: "bad", interrupted: "bad", refused: "muted", running: "busy" };
  const KINDS = ["run-started", "phase", "release-failed", "remediation", "lock", "recovered", "note", "run-finished"];
  window.gripctlReceived = []; // [event id, time received in ms since the epoch]: read by the benchmark

  function pill(state, cls) {
    const span = document.createElement("span");
    span.className = "pill " + (cls || "muted");
    span.dataset.state = state;
    span.textContent = state;
    return span;
  }

  function onEvent(run, ev) {
    const e = JSON.parse(ev.data);
    window.gripctlReceived.push([e.id, performance.timeOrigin + performance.now()]);
    run.dataset.after = String(e.id);
    if (e.release && e.state) {
      const card = run.querySelector('[data-release="' + CSS.escape(e.release) + '"]');
      if (card) {
        card.dataset.state = e.state;
        card.className = "release-card " + (CLASS[e.state] || "muted");
        card.querySelector(".state-text").textContent = e.phase === "unchanged" ? "unchanged" : e.state;
        if (e.kind === "release-failed" || (e.phase === "failed" && e.message)) {
          const reason = card.querySelector(".rreason");
          reason.textContent = e.message;
          reason.hidden = false;
        }
      }
    }
    const body = document.getElementById("timeline");
    if (body && !body.querySelector('[data-event="' + e.id + '"]')) {
      const tr = document.createElement("tr");
      tr.dataset.event = String(e.id);
      tr.className = "new";
      const t = new Date(e.ts);
      const cells = [t.toISOString().substring(11, 23), e.kind, e.release || "", e.message];
      cells.forEach(function (text, i) {
        const td = document.createElement("td");
        if (i === 0) td.className = "small mono";
        if (i === 1) { const k = document.createElement("span"); k.className = "kind"; k.textContent = text; td.appendChild(k); }
        else td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    if (e.kind === "run-finished") {
      const outcome = (e.data && e.data.outcome) || "finished";
      const box = document.getElementById("outcome");
      box.replaceChildren(pill(outcome, OUTCOME[outcome]));
      run.dataset.live = "false";
      const error = document.getElementById("run-error");
      if (outcome !== "succeeded" && error) { error.textContent = e.message; error.hidden = false; }
    }
  }

  function follow(run) {
    const url = "/api/v1/runs/" + run.dataset.run + "/events?after=" + (run.dataset.after || "0");
    const source = new EventSource(url);
    const handler = function (ev) { onEvent(run, ev); };
    KINDS.forEach(function (k) { source.addEventListener(k, handler); });
    source.onmessage = handler;
    source.addEventListener("end", function () { source.close(); run.dataset.streaming = "done"; });
    run.dataset.streaming = "open";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const run = document.getElementById("run");
    if (run && run.dataset.live === "true") follow(run);
  });
})();
