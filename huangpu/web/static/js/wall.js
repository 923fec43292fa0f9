// The wall: renders the server's snapshot, then follows /v1/stream/wall (server-sent events).
// Every value from the server goes into the page through textContent or ECharts options,
// never as HTML, so names cannot inject markup.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("i18n").textContent);
  let lang = cfg.lang;
  let snap = JSON.parse(document.getElementById("initial-snapshot").textContent);
  let series = snap.series || { t: [], suppliers: {} };
  const TILES_PER_PAGE = 9;
  const PAGE_SECONDS = 10;
  let page = 0;
  const charts = {};
  const seenEvents = new Set();
  const FAMILY_COLORS = {
    nvidia: "#76b900", ascend: "#ff5a5f", cambricon: "#38d6f5", hygon: "#f59e0b",
    iluvatar: "#a78bfa", metax: "#f472b6", biren: "#60a5fa", moorethreads: "#fb923c",
    enflame: "#2dd4bf", kunlunxin: "#facc15", other: "#94a3b8",
  };
  const PALETTE = ["#38d6f5", "#3ee0a1", "#ffc445", "#ff6b6b", "#a78bfa", "#f472b6", "#60a5fa",
    "#fb923c", "#2dd4bf", "#facc15"];

  const t = (key) => (cfg.strings[lang] && cfg.strings[lang][key]) || cfg.strings.en[key] || key;
  const fam = (name) => (cfg.families[lang] && cfg.families[lang][name]) || name;
  const rem = () => window.innerWidth / 120;
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const fmt = (n) => Number(n).toLocaleString(lang === "en" ? "en-US" : "zh-CN");
  const compact = (n) => (n >= 10000 ? (n / 1000).toFixed(1) + "k" : String(n));
  const yuan = (fen) => "¥" + (fen / 100).toFixed(fen % 100 ? 2 : 0);
  const bigYuan = (fen) => (fen >= 1e8 ? "¥" + (fen / 1e8).toFixed(1) + (lang === "en" ? "M" : "百万") : yuan(fen));
  const hhmm = (ts) => new Date(ts * 1000).toTimeString().slice(0, 5);
  const hhmmss = (ts) => new Date(ts * 1000).toTimeString().slice(0, 8);

  function setText(id, value) {
    const node = document.getElementById(id);
    if (node && node.textContent !== String(value)) node.textContent = String(value);
  }

  function applyStrings() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      node.textContent = t(node.dataset.i18n);
    });
    document.title = t("wall_title") + " · huangpu";
  }

  // --- KPIs and tiles ------------------------------------------------------------------------

  function renderTotals() {
    const tot = snap.totals;
    setText("k-inuse", fmt(tot.accelerators.in_use));
    setText("k-total", fmt(tot.accelerators.total));
    const pf = (v) => (v >= 100 ? fmt(Math.round(v)) : v.toFixed(1));
    setText("k-pflops", pf(tot.pflops_in_use));
    setText("k-pflops-total", pf(tot.pflops_total));
    setText("k-running", fmt(tot.jobs_running));
    setText("k-queued", fmt(tot.jobs_queued));
    setText("k-tenants", fmt(tot.tenants_today));
    setText("k-done", fmt(tot.jobs_done));
    const pct = tot.accelerators.total ? (100 * tot.accelerators.in_use) / tot.accelerators.total : 0;
    document.getElementById("k-bar").style.width = pct.toFixed(1) + "%";
  }

  function utilColor(u) {
    return u >= 90 ? "#ff6b6b" : u >= 70 ? "#ffc445" : "#3ee0a1";
  }

  function tile(p) {
    const node = el("article", "tile");
    node.dataset.pool = p.name;
    node.dataset.health = p.health;
    const head = el("div", "t-head");
    head.append(el("span", "t-sup", p.supplier), el("span", "t-pool", p.name + " · " + p.region));
    head.title = `${p.supplier} / ${p.name} / ${p.region}`;
    const ring = el("div", "ring");
    ring.style.setProperty("--p", String(p.util));
    ring.style.setProperty("--c", utilColor(p.util));
    ring.dataset.label = Math.round(p.util) + "%";
    ring.setAttribute("role", "img");
    ring.setAttribute("aria-label", `${p.name} ${Math.round(p.util)}%`);
    const chips = el("ul", "chips");
    p.chips.slice(0, 3).forEach((c) => {
      const li = el("li");
      const sw = el("span", "sw");
      sw.style.background = FAMILY_COLORS[c.family] || FAMILY_COLORS.other;
      const label = el("span", "", c.chip.toUpperCase());
      label.title = c.name;
      const cn = el("span", "cn", `${compact(c.in_use)}/${compact(c.total)}`);
      li.append(sw, label, cn);
      const bar = el("div", "cb");
      bar.style.gridColumn = "1 / 4";
      const fill = el("span");
      fill.style.width = (c.total ? (100 * c.in_use) / c.total : 0) + "%";
      fill.style.background = FAMILY_COLORS[c.family] || FAMILY_COLORS.other;
      bar.append(fill);
      li.append(bar);
      chips.append(li);
    });
    const foot = el("div", "t-foot");
    const q = el("span", "", t("queue") + " ");
    q.append(el("b", "", fmt(p.queue)));
    const health = el("span", "health");
    health.dataset.health = p.health;
    const age = p.heartbeat_age === null ? "—" : Math.round(p.heartbeat_age) + "s";
    health.textContent = `${t("health_" + p.health)} ${age}`;
    health.title = `${t("heartbeat")} ${age}`;
    const price = el("span", "", t("price") + " ");
    price.append(el("b", "", p.price_fen === null || p.price_fen === undefined ? "—" : yuan(p.price_fen) + "/h"));
    foot.append(q, health, price);
    node.append(head, ring, chips, foot);
    return node;
  }

  function renderTiles() {
    const box = document.getElementById("tiles");
    const pools = snap.pools.slice().sort((a, b) => b.total - a.total);
    const pages = Math.max(1, Math.ceil(pools.length / TILES_PER_PAGE));
    page %= pages;
    const shown = pools.slice(page * TILES_PER_PAGE, (page + 1) * TILES_PER_PAGE);
    const nodes = shown.map(tile);
    if (!nodes.length) nodes.push(el("p", "empty", t("no_pools")));
    box.replaceChildren(...nodes);
    setText("pools-page", pages > 1 ? `${page + 1} / ${pages} · ${pools.length}` : String(pools.length));
  }

  function renderTicker() {
    const list = document.getElementById("ticker");
    const items = snap.events.slice(0, 14).map((e) => {
      const li = el("li");
      // Only events not on screen before slide in; the rest stay still when redrawn.
      const key = `${e.type}|${e.job_id || e.agent || e.pool}|${e.at}`;
      if (!seenEvents.has(key)) li.className = "new";
      seenEvents.add(key);
      li.dataset.type = e.type;
      if (e.job_id) li.dataset.job = e.job_id;
      const what = el("span", "what");
      what.append(el("span", "ev", t(e.type)), document.createTextNode(" "));
      const parts = [];
      if (e.job) parts.push(t(e.kind || "") + " #" + e.job);
      if (e.agent) parts.push(e.agent);
      if (e.pool) parts.push("@ " + e.pool);
      what.append(document.createTextNode(parts.join(" ")));
      li.append(el("time", "", hhmmss(e.at)), what);
      return li;
    });
    list.replaceChildren(...items);
    if (seenEvents.size > 500) seenEvents.clear();
  }

  function renderSubsidy() {
    const box = document.getElementById("subsidy");
    const ledger = snap.ledger || {};
    if (!ledger.available || !(ledger.programs || []).length) {
      box.replaceChildren(el("p", "muted", t(ledger.available ? "no_programs" : "ledger_na")));
      return;
    }
    const rows = [];
    const total = el("p", "sub-total");
    total.append(el("b", "", bigYuan(ledger.spent_fen)), document.createTextNode(" / " + bigYuan(ledger.budget_fen)));
    rows.push(total);
    ledger.programs.slice(0, 4).forEach((g) => {
      const row = el("div", "sub-row");
      const pctUsed = g.budget_fen ? Math.min(100, (100 * g.spent_fen) / g.budget_fen) : 0;
      row.append(el("span", "sub-name", g.name), el("span", "sub-pct", pctUsed.toFixed(1) + "%"));
      const bar = el("div", "sub-bar");
      const fill = el("span");
      fill.style.width = pctUsed + "%";
      bar.append(fill);
      row.append(bar);
      rows.push(row);
    });
    box.replaceChildren(...rows);
  }

  // --- charts --------------------------------------------------------------------------------

  function axisStyle() {
    const f = rem();
    return {
      axisLabel: { color: "#9fb2cc", fontSize: 0.85 * f },
      axisLine: { lineStyle: { color: "#1d3656" } },
      splitLine: { lineStyle: { color: "#13253f" } },
    };
  }

  function renderCharts() {
    if (!window.echarts) return;
    const f = rem();
    const textStyle = { color: "#e8f1ff", fontSize: 0.9 * f };
    // Utilisation over 24 h, one line per supplier.
    // The stored series has a point per 5 minutes; the live value is appended as "now".
    const now = snap.util_now || {};
    const names = Array.from(new Set([...Object.keys(series.suppliers || {}), ...Object.keys(now)])).sort();
    const times = series.t.map(hhmm).concat([hhmm(snap.at)]);
    const pad = (arr) => (arr || new Array(series.t.length).fill(null));
    charts.util.setOption(
      {
        color: PALETTE,
        animation: false,  // redrawn every second: an animation would never finish
        grid: { left: 3 * f, right: 1 * f, top: 2.2 * f, bottom: 1.8 * f },
        legend: { top: 0, textStyle, itemWidth: f, itemHeight: 0.6 * f, type: "scroll",
          pageTextStyle: { color: "#9fb2cc" } },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: times, boundaryGap: false, ...axisStyle() },
        yAxis: { type: "value", max: 100, min: 0, ...axisStyle(), axisLabel: { ...axisStyle().axisLabel, formatter: "{value}%" } },
        series: names.map((n) => ({
          name: n, type: "line", showSymbol: series.t.length < 2, smooth: true, connectNulls: true,
          lineStyle: { width: 0.18 * f }, areaStyle: { opacity: 0.08 },
          data: pad(series.suppliers[n]).concat([now[n] === undefined ? null : now[n]]),
        })),
      },
      { replaceMerge: ["series"] }
    );
    // Accelerators by family: in use vs idle.
    const families = snap.totals.families;
    charts.family.setOption({
      animationDurationUpdate: 300,
      grid: { left: 9 * f, right: 6 * f, top: 1.8 * f, bottom: 1 * f },
      legend: { top: 0, right: 0, textStyle, itemWidth: f, itemHeight: 0.6 * f, data: [t("in_use"), t("idle")] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", ...axisStyle() },
      yAxis: { type: "category", inverse: true, data: families.map((x) => fam(x.family)),
        ...axisStyle(), axisLabel: { ...axisStyle().axisLabel, fontSize: 0.95 * f, color: "#e8f1ff" } },
      series: [
        { name: t("in_use"), type: "bar", stack: "a", barWidth: "55%",
          data: families.map((x) => ({ value: x.in_use, itemStyle: { color: FAMILY_COLORS[x.family] || "#94a3b8" } })) },
        { name: t("idle"), type: "bar", stack: "a", itemStyle: { color: "#1e3558" },
          data: families.map((x) => x.total - x.in_use),
          label: { show: true, position: "right", color: "#9fb2cc", fontSize: 0.8 * f,
            formatter: (p) => `${compact(families[p.dataIndex].in_use)}/${compact(families[p.dataIndex].total)}` } },
      ],
    });
    // Running jobs by kind.
    const kinds = Object.entries(snap.kinds || {});
    charts.kinds.setOption({
      color: PALETTE,
      animationDurationUpdate: 300,
      tooltip: { trigger: "item" },
      legend: { bottom: 0, textStyle: { ...textStyle, fontSize: 0.8 * f }, itemWidth: 0.8 * f, itemHeight: 0.6 * f },
      title: { text: fmt(kinds.reduce((s, [, v]) => s + v, 0)), left: "center", top: "33%",
        textStyle: { color: "#fff", fontSize: 1.7 * f, fontWeight: "bold" } },
      series: [{ type: "pie", radius: ["48%", "72%"], center: ["50%", "42%"], label: { show: false },
        itemStyle: { borderColor: "#0a1526", borderWidth: 0.15 * f },
        data: kinds.length ? kinds.map(([k, v]) => ({ name: t(k), value: v })) : [{ name: "—", value: 0 }] }],
    });
    // Domestic vs other chips in use.
    const d = snap.domestic;
    const dom = d.domestic.in_use, oth = d.other.in_use;
    const share = dom + oth ? Math.round((100 * dom) / (dom + oth)) : 0;
    charts.domestic.setOption({
      color: ["#ff5a5f", "#76b900"],
      animationDurationUpdate: 300,
      tooltip: { trigger: "item" },
      legend: { bottom: 0, textStyle: { ...textStyle, fontSize: 0.8 * f }, itemWidth: 0.8 * f, itemHeight: 0.6 * f },
      title: { text: share + "%", subtext: t("domestic"), left: "center", top: "28%",
        textStyle: { color: "#fff", fontSize: 1.7 * f, fontWeight: "bold" },
        subtextStyle: { color: "#9fb2cc", fontSize: 0.8 * f } },
      series: [{ type: "pie", radius: ["48%", "72%"], center: ["50%", "42%"], label: { show: false },
        itemStyle: { borderColor: "#0a1526", borderWidth: 0.15 * f },
        data: [
          { name: `${t("domestic")} ${fmt(dom)}/${fmt(d.domestic.total)}`, value: dom },
          { name: `${t("other")} ${fmt(oth)}/${fmt(d.other.total)}`, value: oth },
        ] }],
    });
  }

  function render() {
    renderTotals();
    renderTiles();
    renderTicker();
    renderSubsidy();
    renderCharts();
    document.body.dataset.version = String(snap.version);
    // For the benchmark and tests: when the latest data reached the screen.
    window.__wall = { version: snap.version, renderedAt: performance.now() };
  }

  // --- live ----------------------------------------------------------------------------------

  function connect() {
    const live = document.getElementById("live");
    const source = new EventSource("/v1/stream/wall");
    source.addEventListener("series", (ev) => { series = JSON.parse(ev.data); });
    source.addEventListener("snapshot", (ev) => {
      const next = JSON.parse(ev.data);
      next.series = series;
      snap = next;
      live.dataset.state = "live";
      setText("live-text", t("live"));
      render();
    });
    source.onopen = () => { live.dataset.state = "live"; setText("live-text", t("live")); };
    source.onerror = () => { live.dataset.state = "offline"; setText("live-text", t("offline")); };
  }

  function tick() {
    const now = new Date();
    setText("clock", now.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false }));
  }

  function start() {
    applyStrings();
    if (window.echarts) {
      for (const id of ["util", "family", "kinds", "domestic"]) {
        charts[id] = window.echarts.init(document.getElementById("c-" + id), null, { renderer: "canvas" });
      }
    }
    render();
    tick();
    setInterval(tick, 1000);
    setInterval(() => { page += 1; renderTiles(); }, PAGE_SECONDS * 1000);
    document.getElementById("lang").addEventListener("click", () => {
      lang = lang === "en" ? "zh-CN" : "en";
      document.cookie = `hp_lang=${lang}; path=/; max-age=31536000; samesite=lax`;
      applyStrings();
      render();
      tick();
    });
    window.addEventListener("resize", () => {
      Object.values(charts).forEach((c) => c.resize());
      renderCharts();
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
