/* hqueue dashboard: polls the JSON API and updates the page in place (no reload).
   Every value from the server is written with textContent, never as HTML. */
"use strict";

(() => {
  const body = document.body;
  const POLL_MS = Number(body.dataset.pollMs) || 2000;
  const $ = (id) => document.getElementById(id);

  // a ?token= in the address bar has been turned into a cookie by the server: hide it
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname);
  }

  // -- formatting ---------------------------------------------------------------------------
  function num(v, digits = 4) {
    if (v === null || v === undefined || v === "") return "";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-4)) return v.toExponential(digits - 1);
    return String(Number(v.toPrecision(digits)));
  }
  function duration(s) {
    if (s === null || s === undefined || typeof s !== "number") return "";
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  function clock(iso) {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : iso + "Z");
    return isNaN(d) ? iso : d.toLocaleTimeString();
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function badge(state) { return el("span", state, "badge s-" + state); }
  function kv(obj) {
    return Object.entries(obj || {}).map(([k, v]) => k + "=" + (typeof v === "object" && v !== null
      ? JSON.stringify(v) : num(v))).join("  ");
  }
  function fill(tbody, rows, colspan, emptyText) {
    tbody.replaceChildren(...(rows.length ? rows : [emptyRow(colspan, emptyText)]));
  }
  function emptyRow(colspan, text) {
    const tr = el("tr", null, "empty");
    const td = el("td", text);
    td.colSpan = colspan;
    tr.append(td);
    return tr;
  }

  // -- fetching -----------------------------------------------------------------------------
  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" },
                                        credentials: "same-origin", cache: "no-store" });
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) throw new Error((data && data.error) || response.status + " " + response.statusText);
    return data;
  }
  function status(ok, text) {
    const live = $("live");
    live.textContent = ok ? "● live · " + new Date().toLocaleTimeString() : "● paused";
    live.className = "live " + (ok ? "ok" : "bad");
    const banner = $("banner");
    banner.hidden = ok;
    if (!ok) banner.textContent = text;
  }
  function loop(step) {
    const tick = async () => {
      try { await step(); status(true); } catch (e) { status(false, String(e.message || e)); }
      setTimeout(tick, POLL_MS);
    };
    tick();
  }

  // -- workers table (both pages) -----------------------------------------------------------
  function renderWorkers(workers) {
    const rows = workers.map((w) => {
      const tr = el("tr", null, w.alive ? "" : "stale");
      const pid = el("td", w.pid, "num");
      pid.title = "trials run in pid " + w.trial_pid;
      tr.append(el("td", w.worker_id, "mono"), el("td", w.host), pid,
                el("td", w.queues.join(", ")), el("td", w.gpus || ""),
                el("td", (w.alive ? "" : "dead · ") + num(w.age_s, 2) + " s ago", "num"),
                el("td", w.alive ? (w.trials.map(([e, t]) => e + "#" + t).join(", ") || "idle")
                                 : "-"));
      return tr;
    });
    fill(document.querySelector("#workers tbody"), rows, 7, "no worker seen in the last 5 minutes");
  }

  // -- experiments list ---------------------------------------------------------------------
  function startIndex() {
    loop(async () => {
      const [data, workers] = await Promise.all([getJSON("/api/experiments"),
                                                 getJSON("/api/workers")]);
      const rows = data.experiments.map((s) => {
        const tr = el("tr");
        const name = el("td");
        const a = el("a", s.exp_key);
        a.href = "/experiments/" + encodeURIComponent(s.exp_key);
        name.append(a);
        if (s.damaged && s.damaged.length) {
          name.append(el("span", " damaged: " + s.damaged.join(", "), "damaged"));
        }
        tr.append(name);
        for (const k of ["new", "running", "done", "error", "cancel"]) tr.append(el("td", s.counts[k], "num"));
        tr.append(el("td", num(s.best_loss), "num"), el("td", num(s.trials_per_min, 3), "num"),
                  el("td", s.queue_depth, "num"), el("td", s.live_workers, "num"),
                  el("td", s.driver_alive ? "running" : "—"));
        return tr;
      });
      fill(document.querySelector("#experiments tbody"), rows, 11,
           "no experiment yet: run fmin(..., trials=RedisTrials(url, exp_key=...))");
      renderWorkers(workers.workers);
      $("workers-count").textContent = data.workers.alive + " alive of " + data.workers.known;
    });
  }

  // -- one experiment -----------------------------------------------------------------------
  function startExperiment() {
    const exp = body.dataset.exp;
    const api = "/api/experiments/" + encodeURIComponent(exp);
    const points = new Map(); // tid -> loss of finished trials
    let sorted = [];
    let drawn = false;
    let cursor = "";
    const table = { sort: "tid", order: "desc", state: "", offset: 0, limit: 100, cursor: null,
                    columns: [], total: 0 };

    function applyPoints(data) {
      if (data.full) points.clear();
      for (const [tid, loss] of data.points) {
        if (loss === null) points.delete(tid); else points.set(tid, loss);
      }
      if (data.full || data.points.length || !drawn) {  // redraw only when a point changed
        sorted = Array.from(points.entries()).sort((a, b) => a[0] - b[0]);
        LossChart.draw($("chart"), sorted);
        drawn = true;
      }
    }

    function renderSummary(s) {
      $("c-total").textContent = s.total;
      $("c-done").textContent = s.counts.done;
      $("c-running").textContent = s.counts.running;
      $("c-queued").textContent = s.queue_depth;
      $("c-error").textContent = s.counts.error;
      $("c-best").textContent = s.best_loss === null ? "–" : num(s.best_loss);
      $("c-rate").textContent = num(s.trials_per_min, 3);
      $("c-workers").textContent = s.live_workers;
      $("c-driver").textContent = s.driver_alive ? "running" : "stopped";
      $("best-params").textContent = (s.best_tid === null ? ""
        : "best: trial " + s.best_tid + "  " + kv(s.best_params))
        + (s.damaged && s.damaged.length ? "  damaged Redis keys: " + s.damaged.join(", ") : "");
    }

    function renderRunning(running) {
      const rows = running.map((r) => {
        const tr = el("tr");
        tr.dataset.tid = r.tid;
        const last = r.reports.length ? r.reports[r.reports.length - 1] : null;
        const parts = [];
        if (last !== null) parts.push("last report " + kv(last) + " (" + r.n_reports + " so far)");
        if (Object.keys(r.partial).length) parts.push(kv(r.partial));
        tr.append(el("td", r.tid, "num"), el("td", r.worker || "", "mono"),
                  el("td", duration(r.running_s), "num"), el("td", kv(r.params), "mono"),
                  el("td", parts.join("  ·  ") || "nothing reported yet", "mono partial"));
        return tr;
      });
      $("running-count").textContent = running.length ? "(" + running.length + ")" : "";
      fill(document.querySelector("#running tbody"), rows, 5, "no trial running");
    }

    let headerKey = "";
    function renderHeader() {
      const key = [table.columns.join(","), table.sort, table.order].join("|");
      if (key === headerKey) return;  // unchanged: keep the elements (and a click in flight)
      headerKey = key;
      const tr = document.querySelector("#trials thead tr");
      tr.replaceChildren(...table.columns.map((c) => {
        const th = el("th", c);
        th.dataset.col = c;
        th.title = "sort by " + c;
        if (c === table.sort) th.classList.add(table.order === "asc" ? "asc" : "desc");
        th.addEventListener("click", () => {
          if (table.sort === c) table.order = table.order === "asc" ? "desc" : "asc";
          else { table.sort = c; table.order = "asc"; }
          table.offset = 0;
          refreshTable(true).catch((e) => status(false, String(e.message || e)));
        });
        return th;
      }));
    }

    function cell(col, v) {
      if (col === "state") { const td = el("td"); td.append(badge(v)); return td; }
      if (col === "duration_s") return el("td", duration(v), "num");
      if (col === "book_time" || col === "refresh_time") return el("td", clock(v), "num");
      if (col === "worker") return el("td", v, "mono");
      if (col === "error") return el("td", v, "error-text");
      return el("td", num(v), typeof v === "number" ? "num" : "");
    }

    async function refreshTable(force) {
      const q = new URLSearchParams({ sort: table.sort, order: table.order, offset: table.offset,
                                      limit: table.limit });
      if (table.state) q.set("state", table.state);
      if (!force && table.cursor !== null) q.set("if_version", table.cursor);
      const data = await getJSON(api + "/trials?" + q);
      if (data.unchanged) return;
      table.cursor = data.cursor;
      table.total = data.total;
      table.columns = data.columns;
      renderHeader();
      const rows = data.rows.map((row) => {
        const tr = el("tr");
        tr.dataset.tid = row.tid;
        for (const c of table.columns) tr.append(cell(c, row[c]));
        return tr;
      });
      fill(document.querySelector("#trials tbody"), rows, Math.max(1, table.columns.length),
           "no trial" + (table.state ? " in state " + table.state : ""));
      const first = data.total ? data.offset + 1 : 0;
      $("page-info").textContent = first + "–" + (data.offset + data.rows.length) + " of " + data.total;
      $("trials-count").textContent = "(" + data.total + ")";
      $("prev").disabled = data.offset === 0;
      $("next").disabled = data.offset + data.rows.length >= data.total;
    }

    const onControl = (fn) => () => { fn(); refreshTable(true).catch((e) => status(false, String(e.message || e))); };
    $("state-filter").addEventListener("change", onControl(() => {
      table.state = $("state-filter").value; table.offset = 0; }));
    $("page-size").addEventListener("change", onControl(() => {
      table.limit = Number($("page-size").value); table.offset = 0; }));
    $("prev").addEventListener("click", onControl(() => {
      table.offset = Math.max(0, table.offset - table.limit); }));
    $("next").addEventListener("click", onControl(() => { table.offset += table.limit; }));
    window.addEventListener("resize", () => LossChart.draw($("chart"), sorted));

    // the learning curve of the trial clicked in a table, redrawn at each poll while shown
    let curveTid = null;
    async function refreshCurve() {
      if (curveTid === null) return;
      const data = await getJSON(api + "/trials/" + curveTid + "/curve");
      $("curve-panel").hidden = false;
      $("curve-title").textContent = "trial " + data.tid + " (" +
        [data.state, data.status, data.points.length + " reports"].filter(Boolean).join(", ") + ")";
      CurveChart.draw($("curve"), data.points);
    }
    function selectCurve(event) {
      const tr = event.target.closest("tr[data-tid]");
      if (!tr) return;
      curveTid = Number(tr.dataset.tid);
      refreshCurve().catch((e) => status(false, String(e.message || e)));
    }
    document.querySelector("#trials tbody").addEventListener("click", selectCurve);
    document.querySelector("#running tbody").addEventListener("click", selectCurve);

    // -- one trial's captured output (issue 13): click a row, refreshed while shown ------
    let outputTid = null;
    async function refreshOutput() {
      if (outputTid === null) return;
      const data = await getJSON(api + "/trials/" + outputTid + "/output");
      $("output-tid").textContent = data.tid;
      $("output-size").textContent = data.output === null ? ""
        : "(last " + data.bytes + " bytes)";
      $("trial-output").textContent = data.output === null
        ? "nothing captured (it printed nothing yet, or its worker does not capture)"
        : data.output;
      $("trial-view").hidden = false;
    }
    for (const id of ["trials", "running"]) {
      document.querySelector("#" + id + " tbody").addEventListener("click", (ev) => {
        const tr = ev.target.closest("tr");
        const tid = tr && (tr.dataset.tid || (id === "running" && tr.firstChild
          ? tr.firstChild.textContent : ""));
        if (!tid) return;
        outputTid = Number(tid);
        refreshOutput().catch((e) => status(false, String(e.message || e)));
      });
    }

    loop(async () => {
      await refreshOutput();
      const data = await getJSON(api + "?since=" + encodeURIComponent(cursor));
      cursor = data.cursor;
      renderSummary(data.summary);
      applyPoints(data);
      renderRunning(data.running);
      renderWorkers(data.workers);
      await refreshTable(false);
      await refreshCurve();
    });
  }

  if (body.dataset.page === "index") startIndex();
  else if (body.dataset.page === "experiment") startExperiment();
})();
