// Job page: state, reason and history from /v1/stream/jobs/<id>, and the log as it grows.
"use strict";
(function () {
  const logs = document.getElementById("logs");
  const jobId = logs.dataset.job;
  const offset = logs.dataset.offset || "0";
  const fmt = (ts) => {
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  const td = (text) => { const c = document.createElement("td"); c.textContent = text; return c; };
  const source = new EventSource(`/v1/stream/jobs/${encodeURIComponent(jobId)}?offset=${offset}`);
  source.addEventListener("job", (ev) => {
    const j = JSON.parse(ev.data);
    const state = document.getElementById("job-state");
    state.textContent = j.state;
    state.className = "state s-" + j.state;
    document.getElementById("job-reason").textContent = j.reason || "—";
    document.getElementById("job-pool").textContent = j.pool || "—";
    document.getElementById("job-exit").textContent = j.exit_code === null ? "—" : String(j.exit_code);
    const rows = j.history.map((h) => {
      const tr = document.createElement("tr");
      tr.append(td(fmt(h.at)), td(`${h.from_state || "∅"} → ${h.to_state}`), td(h.reason || ""));
      return tr;
    });
    document.getElementById("history").replaceChildren(...rows);
    const cancel = document.getElementById("cancel-form");
    if (cancel && ["SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"].includes(j.state)) cancel.remove();
  });
  source.addEventListener("log", (ev) => {
    const chunk = JSON.parse(ev.data);
    const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.append(document.createTextNode(chunk.data));
    logs.dataset.offset = String(chunk.next_offset);
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  });
  source.addEventListener("end", () => source.close());
})();
