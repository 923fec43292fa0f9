// Tenant console: form/YAML switch, and the job table kept live by /v1/stream/jobs.
// Data goes into the page only through textContent.
"use strict";
(function () {
  document.body.classList.add("js");
  const panes = document.querySelectorAll(".pane");
  function showMode() {
    const checked = document.querySelector('input[name="mode"]:checked');
    const mode = checked ? checked.value : "form";
    panes.forEach((p) => { p.hidden = p.dataset.mode !== mode; });
  }
  document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", showMode));
  showMode();

  const table = document.getElementById("jobs");
  if (!table || table.dataset.filtered === "yes") return;  // a filtered list stays as asked
  const fmt = (ts) => {
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  const td = (text) => { const c = document.createElement("td"); c.textContent = text; return c; };
  const source = new EventSource("/v1/stream/jobs");
  source.addEventListener("jobs", (ev) => {
    const jobs = JSON.parse(ev.data);
    if (!jobs.length) return;
    const rows = jobs.map((j) => {
      const tr = document.createElement("tr");
      tr.dataset.job = j.id;
      const name = document.createElement("td");
      const a = document.createElement("a");
      a.href = "/console/jobs/" + encodeURIComponent(j.id);
      a.textContent = j.name;
      name.append(a);
      const st = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "state s-" + j.state;
      badge.textContent = j.state;
      st.append(badge);
      tr.append(name, td(j.kind), st, td(j.pool || "—"), td(j.reason || ""), td(fmt(j.updated_at)));
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
  });
})();
