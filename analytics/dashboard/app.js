// Dashboard script for the aimeter analytics page.
//
// Every value that comes from the snapshot (model, endpoint and rule names,
// error messages) reaches the page through textContent or an SVG attribute,
// never as markup, because those strings come from callers and providers.
"use strict";

(function () {
  const WINDOWS = ["15m", "1h", "24h", "7d"];
  const DEFAULT_WINDOW = "24h";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const body = document.body;
  const apiPath = body.dataset.api || "/api/analytics";
  const refreshMillis = Math.max(1, Number(body.dataset.refreshSeconds) || 30) * 1000;

  let currentWindow = windowFromHash();
  let inFlight = null;

  // ---- formatting ----

  const integerFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  function formatInteger(n) {
    return integerFormat.format(n || 0);
  }

  function formatCompact(n) {
    return compactFormat.format(n || 0);
  }

  // formatUSD keeps enough decimals to show the cost of a single cheap call.
  function formatUSD(v) {
    v = v || 0;
    let digits = 2;
    if (v !== 0 && Math.abs(v) < 0.01) {
      digits = 6;
    } else if (Math.abs(v) < 1) {
      digits = 4;
    }
    return "$" + v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: digits });
  }

  function formatMillis(ms) {
    ms = ms || 0;
    if (ms >= 1000) {
      return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + " s";
    }
    if (ms >= 10) {
      return ms.toFixed(0) + " ms";
    }
    return ms.toFixed(ms >= 1 ? 1 : 2) + " ms";
  }

  function formatPercent(rate) {
    rate = rate || 0;
    const pct = rate * 100;
    if (pct !== 0 && pct < 0.1) {
      return "<0.1%";
    }
    return pct.toFixed(pct < 10 ? 1 : 0) + "%";
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) {
      return "–";
    }
    return d.toLocaleString(undefined, {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  // ---- DOM helpers ----

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    byId(id).textContent = text;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  // fillTable replaces the rows of a table. Each column is [getText, className].
  function fillTable(id, rows, columns, emptyText) {
    const tbody = byId(id).tBodies[0];
    clear(tbody);
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(tr, emptyText, "empty");
      td.colSpan = columns.length;
      tbody.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [getText, className] of columns) {
        cell(tr, getText(row), className);
      }
      tbody.appendChild(tr);
    }
  }

  // barChart draws one labeled horizontal bar per item: the label and value
  // are HTML text and the bar is a small SVG scaled to the largest value.
  function barChart(id, items, emptyText) {
    const container = byId(id);
    clear(container);
    if (items.length === 0) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = emptyText;
      container.appendChild(p);
      return;
    }
    const max = Math.max(...items.map((item) => item.value));
    for (const item of items) {
      const row = document.createElement("div");
      row.className = "bar-row";

      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = item.label;
      label.title = item.label;

      const svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("class", "bar");
      svg.setAttribute("viewBox", "0 0 100 10");
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("aria-hidden", "true");
      const rect = document.createElementNS(SVG_NS, "rect");
      rect.setAttribute("class", item.className || "bar-fill");
      rect.setAttribute("x", "0");
      rect.setAttribute("y", "0");
      rect.setAttribute("height", "10");
      rect.setAttribute("width", String(max > 0 ? Math.max(0.5, (item.value / max) * 100) : 0));
      svg.appendChild(rect);

      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = item.display;

      row.append(label, svg, value);
      container.appendChild(row);
    }
  }

  // ---- rendering ----

  function modelKey(provider, model) {
    return JSON.stringify([provider, model]);
  }

  function renderTotals(snap) {
    const u = snap.usage;
    const e = snap.errors;
    const p = snap.performance;

    setText("total-calls", formatInteger(u.calls));
    const callNotes = [];
    if (u.unknown_usage_calls > 0) {
      callNotes.push(formatInteger(u.unknown_usage_calls) + " without usage");
    }
    if (u.dropped_records > 0) {
      callNotes.push(formatInteger(u.dropped_records) + " records dropped");
    }
    setText("total-calls-detail", callNotes.join(" · "));

    setText("total-cost", formatUSD(u.cost_usd));
    setText("total-cost-detail", u.unpriced_calls > 0 ? formatInteger(u.unpriced_calls) + " unpriced calls not included" : "");

    setText("total-tokens", formatCompact(u.tokens.total));
    setText("total-tokens-detail",
      formatCompact(u.tokens.input) + " in (" + formatCompact(u.tokens.cached_input) + " cached) · " +
      formatCompact(u.tokens.output) + " out");

    setText("error-rate", formatPercent(e.rate));
    setText("error-rate-detail", formatInteger(e.total) + " failed calls");

    // Without calls the latencies are zeros that measure nothing.
    if (p.calls === 0) {
      setText("latency-p50", "–");
      setText("latency-detail", "");
      setText("latency-tail", "–");
    } else {
      setText("latency-p50", formatMillis(p.latency_ms.p50));
      setText("latency-detail", "mean " + formatMillis(p.latency_ms.mean) + " · max " + formatMillis(p.latency_ms.max));
      setText("latency-tail", formatMillis(p.latency_ms.p95) + " / " + formatMillis(p.latency_ms.p99));
    }
    setText("ttft-detail", p.ttft_ms ? "first token p50 " + formatMillis(p.ttft_ms.p50) + " · p95 " + formatMillis(p.ttft_ms.p95) : "");
  }

  function renderModels(snap) {
    const perf = new Map();
    for (const m of snap.performance.by_model) {
      perf.set(modelKey(m.provider, m.model), m);
    }
    const rows = snap.usage.by_model.map((m) => ({ usage: m, perf: perf.get(modelKey(m.provider, m.model)) }));

    const priced = rows.filter((r) => r.usage.cost_usd > 0);
    const chartItems = priced.length > 0
      ? priced.map((r) => ({ label: r.usage.model || "(none)", value: r.usage.cost_usd, display: formatUSD(r.usage.cost_usd) }))
      : rows.map((r) => ({ label: r.usage.model || "(none)", value: r.usage.calls, display: formatInteger(r.usage.calls) + " calls" }));
    barChart("chart-models", chartItems.slice(0, 10), "No calls in this window.");

    const latency = (r, q) => (r.perf ? formatMillis(r.perf.latency_ms[q]) : "–");
    fillTable("table-models", rows, [
      [(r) => r.usage.provider, ""],
      [(r) => r.usage.model, "name"],
      [(r) => formatInteger(r.usage.calls), "num"],
      [(r) => formatCompact(r.usage.tokens.total), "num"],
      [(r) => formatUSD(r.usage.cost_usd), "num"],
      [(r) => formatInteger(r.usage.unpriced_calls), "num"],
      [(r) => (r.perf ? formatPercent(r.perf.success_rate) : "–"), "num"],
      [(r) => latency(r, "p50"), "num"],
      [(r) => latency(r, "p95"), "num"],
      [(r) => latency(r, "p99"), "num"],
    ], "No calls in this window.");
  }

  function renderEndpoints(snap) {
    const errs = new Map(snap.errors.by_endpoint.map((e) => [e.endpoint, e]));
    const perf = new Map(snap.performance.by_endpoint.map((e) => [e.endpoint, e]));
    const rows = snap.usage.by_endpoint.map((u) => ({ usage: u, errors: errs.get(u.endpoint), perf: perf.get(u.endpoint) }));

    const latency = (r, q) => (r.perf ? formatMillis(r.perf.latency_ms[q]) : "–");
    fillTable("table-endpoints", rows, [
      [(r) => r.usage.endpoint, "name"],
      [(r) => formatInteger(r.usage.calls), "num"],
      [(r) => formatCompact(r.usage.tokens.total), "num"],
      [(r) => formatUSD(r.usage.cost_usd), "num"],
      [(r) => (r.errors ? formatInteger(r.errors.errors) : "–"), "num"],
      [(r) => (r.errors ? formatPercent(r.errors.rate) : "–"), "num"],
      [(r) => latency(r, "p50"), "num"],
      [(r) => latency(r, "p95"), "num"],
      [(r) => latency(r, "p99"), "num"],
    ], "No calls in this window.");
  }

  function renderErrors(snap) {
    const items = Object.entries(snap.errors.by_category)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([category, n]) => ({
        label: category,
        value: n,
        display: formatInteger(n),
        className: category === "canceled" ? "bar-fill muted" : "bar-fill error",
      }));
    barChart("chart-errors", items, "No failed calls in this window.");

    fillTable("table-recent", snap.errors.recent, [
      [(e) => formatTime(e.time), "time"],
      [(e) => e.category, "category"],
      [(e) => (e.http_status ? String(e.http_status) : "–"), "num"],
      [(e) => e.endpoint, "name"],
      [(e) => e.model, "name"],
      [(e) => e.message, "message"],
    ], "No recent errors in this window.");

    fillTable("table-groups", snap.errors.groups, [
      [(g) => g.category, "category"],
      [(g) => formatInteger(g.count), "num"],
      [(g) => formatTime(g.last_seen), "time"],
      [(g) => formatTime(g.first_seen), "time"],
      [(g) => g.message, "message"],
    ], "No error groups in this window.");
  }

  function renderRateLimits(snap) {
    fillTable("table-rules", snap.rate_limits.by_rule, [
      [(r) => r.rule, "name"],
      [(r) => formatInteger(r.allowed), "num"],
      [(r) => formatInteger(r.rejected), "num"],
      [(r) => formatPercent(r.allowed + r.rejected > 0 ? r.rejected / (r.allowed + r.rejected) : 0), "num"],
    ], "No rate limiters reported.");
  }

  function render(snap) {
    renderTotals(snap);
    renderModels(snap);
    renderEndpoints(snap);
    renderErrors(snap);
    renderRateLimits(snap);
  }

  // ---- loading ----

  function windowFromHash() {
    const m = /(?:^#|&)window=([^&]+)/.exec(location.hash);
    const w = m ? decodeURIComponent(m[1]) : "";
    return WINDOWS.includes(w) ? w : DEFAULT_WINDOW;
  }

  function showStatus(text, isError) {
    const status = byId("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function errorMessage(resp) {
    try {
      const body = await resp.json();
      if (body && typeof body.error === "string") {
        return body.error;
      }
    } catch (_) {
      // The body was not JSON, so the status line is the only message.
    }
    return resp.status + " " + resp.statusText;
  }

  async function load() {
    if (inFlight) {
      inFlight.abort();
    }
    const controller = new AbortController();
    inFlight = controller;

    const url = new URL(apiPath, location.href);
    url.searchParams.set("type", "all");
    url.searchParams.set("window", currentWindow);

    try {
      const resp = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!resp.ok) {
        showStatus("Loading analytics failed: " + (await errorMessage(resp)), true);
        return;
      }
      const snap = await resp.json();
      render(snap);
      showStatus("Window " + currentWindow + " · updated " + new Date().toLocaleTimeString(), false);
    } catch (err) {
      if (err.name !== "AbortError") {
        showStatus("Loading analytics failed: " + err.message, true);
      }
    } finally {
      if (inFlight === controller) {
        inFlight = null;
      }
    }
  }

  function selectWindow(w) {
    currentWindow = w;
    for (const button of document.querySelectorAll("[data-window]")) {
      button.setAttribute("aria-pressed", String(button.dataset.window === w));
    }
  }

  function start() {
    selectWindow(currentWindow);
    for (const button of document.querySelectorAll("[data-window]")) {
      button.addEventListener("click", () => {
        history.replaceState(null, "", "#window=" + button.dataset.window);
        selectWindow(button.dataset.window);
        load();
      });
    }
    byId("refresh").addEventListener("click", load);
    window.addEventListener("hashchange", () => {
      selectWindow(windowFromHash());
      load();
    });

    // A hidden tab skips its refreshes and catches up when shown again.
    setInterval(() => {
      if (!document.hidden) {
        load();
      }
    }, refreshMillis);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        load();
      }
    });

    load();
  }

  start();
})();
