// Dashboard script for the aimeter analytics page.
//
// Every value that comes from the snapshot (model, endpoint, key and rule
// names, error messages) reaches the page through textContent or an SVG
// attribute, never as markup, because those strings come from callers and
// providers. Charts are SVG elements built with DOM calls.
"use strict";

(function () {
  const WINDOWS = ["15m", "1h", "24h", "7d"];
  const SORTS = ["cost", "calls"];
  const FILTER_FIELDS = ["endpoint", "provider", "model", "key"];
  const DEFAULT_WINDOW = "24h";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART_HEIGHT = 190;

  const body = document.body;
  const apiPath = body.dataset.api || "/api/analytics";
  const refreshMillis = Math.max(1, Number(body.dataset.refreshSeconds) || 30) * 1000;

  // state is what the page shows, kept in the URL fragment so that a
  // reload or a shared link opens the same view.
  let state = stateFromHash();
  let inFlight = null;
  let lastSnapshot = null;
  let loads = 0;

  // ---- formatting ----

  const integerFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
  const rateFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

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

  // formatUSDAxis writes an axis tick with as few decimals as its step needs.
  function formatUSDAxis(v, step) {
    if (v === 0) {
      return "$0";
    }
    const digits = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
    return "$" + v.toFixed(digits);
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

  function formatMillisAxis(v, step) {
    if (v === 0) {
      return "0";
    }
    if (step >= 1000) {
      return (v / 1000).toFixed(step % 1000 === 0 ? 0 : 1) + " s";
    }
    return v.toFixed(step >= 1 ? 0 : 1) + " ms";
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

  // setValue sets a card's text and keeps the raw number in data-value, so
  // the displayed figure can be traced to the snapshot.
  function setValue(id, text, raw) {
    const node = byId(id);
    node.textContent = text;
    if (raw === undefined || raw === null) {
      delete node.dataset.value;
    } else {
      node.dataset.value = String(raw);
    }
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function svgElement(name, attrs) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) {
      el.setAttribute(k, String(v));
    }
    return el;
  }

  // fillTable replaces the rows of a table. Each column is an object with
  // text(row) and optional className, label, value(row) and filter(row).
  // The label names the value where a narrow screen hides the header. The
  // value is kept in data-value. A filter object that filter returns makes
  // the cell a button that applies it.
  function fillTable(id, rows, columns, emptyText) {
    const tbody = byId(id).tBodies[0];
    clear(tbody);
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.className = "empty";
      td.colSpan = columns.length;
      td.textContent = emptyText;
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      if (row.other) {
        tr.className = "other";
      }
      for (const col of columns) {
        const td = document.createElement("td");
        if (col.className) {
          td.className = col.className;
        }
        const text = col.text(row);
        const filter = col.filter && !row.other ? col.filter(row) : null;
        if (filter && Object.values(filter).some(Boolean)) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "link";
          button.textContent = text;
          button.title = "Show only this";
          button.addEventListener("click", () => applyFilter(filter));
          td.appendChild(button);
        } else {
          td.textContent = text;
        }
        if (col.label) {
          td.dataset.label = col.label;
        }
        if (col.value) {
          td.dataset.value = String(col.value(row));
        }
        tr.appendChild(td);
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

      const svg = svgElement("svg", { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" });
      svg.appendChild(svgElement("rect", {
        class: item.className || "bar-fill",
        x: 0,
        y: 0,
        height: 10,
        width: max > 0 ? Math.max(0.5, (item.value / max) * 100) : 0,
      }));

      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = item.display;

      row.append(label, svg, value);
      container.appendChild(row);
    }
  }

  // ---- time charts ----

  // niceStep returns a round tick step (1, 2 or 5 times a power of ten)
  // that splits max into about ticks parts.
  function niceStep(max, ticks) {
    const raw = max / ticks;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / magnitude;
    let step = 10;
    if (norm <= 1) {
      step = 1;
    } else if (norm <= 2) {
      step = 2;
    } else if (norm <= 5) {
      step = 5;
    }
    return step * magnitude;
  }

  // bucketLabel names a bucket in a tooltip: its date and start time.
  function bucketLabel(start, bucketSeconds) {
    const d = new Date(start);
    if (bucketSeconds >= 86400) {
      return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    }
    return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  }

  // Intervals between time axis labels, in seconds. timeChart takes the
  // shortest that is a whole number of buckets and leaves room for a label.
  const LABEL_INTERVALS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const LABEL_SPACING = 64;

  // localSeconds returns the seconds since the epoch of a time as the
  // browser's zone writes it, so labels fall on local hours and midnights.
  function localSeconds(ms) {
    return Math.floor(ms / 1000) - new Date(ms).getTimezoneOffset() * 60;
  }

  // axisLabel writes the time of a label placed every interval seconds: the
  // date for whole days and at local midnight, the time otherwise.
  function axisLabel(ms, interval) {
    const d = new Date(ms);
    if (interval >= 86400 || localSeconds(ms) % 86400 === 0) {
      return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    }
    return d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
  }

  // timeChart draws the points of a series as an SVG chart with a y axis,
  // a time axis, and one hover area per bucket whose title lists the
  // bucket's values. Each entry of spec.series has a key, label, kind ("bar"
  // or "line"), className, value(point) and format(value). With spec.stack
  // the bars are stacked, and without it they overlap, each from zero. A
  // line value of null leaves a gap. With spec.counts the y axis ticks at
  // whole numbers only.
  function timeChart(id, spec) {
    const container = byId(id);
    clear(container);

    const points = spec.points;
    const n = points.length;
    const width = Math.max(260, Math.floor(container.clientWidth || 600));
    const height = CHART_HEIGHT;
    const margin = { top: 10, right: 10, bottom: 24, left: 58 };
    const plotWidth = width - margin.left - margin.right;
    const plotHeight = height - margin.top - margin.bottom;

    // The y axis covers the largest bar, stack or line value.
    let max = 0;
    for (const p of points) {
      let stacked = 0;
      for (const s of spec.series) {
        const v = s.value(p);
        if (v === null || v === undefined) {
          continue;
        }
        if (spec.stack && s.kind === "bar") {
          stacked += v;
        } else {
          max = Math.max(max, v);
        }
      }
      max = Math.max(max, stacked);
    }
    const empty = max === 0;
    // Counts get whole-number ticks.
    const step = empty ? 1 : (spec.counts ? Math.max(1, niceStep(max, 4)) : niceStep(max, 4));
    const top = empty ? 1 : Math.ceil(max / step) * step;
    const y = (v) => margin.top + plotHeight - (v / top) * plotHeight;
    const band = n > 0 ? plotWidth / n : plotWidth;
    const xLeft = (i) => margin.left + i * band;

    const svg = svgElement("svg", {
      class: "chart-svg",
      width: width,
      height: height,
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": spec.label,
      "data-chart": spec.name,
      "data-points": n,
    });

    // Grid lines and y labels.
    const grid = svgElement("g", { class: "grid" });
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      grid.appendChild(svgElement("line", { x1: margin.left, x2: width - margin.right, y1: yy, y2: yy }));
      const label = svgElement("text", { class: "axis-label", x: margin.left - 6, y: yy + 4, "text-anchor": "end" });
      label.textContent = spec.formatAxis(v, step);
      grid.appendChild(label);
      if (empty) {
        break;
      }
    }
    svg.appendChild(grid);

    // Time labels, each with a tick, on the first bucket of every interval
    // of local time, such as each midnight for a 7-day window. A bucket
    // width that divides none of LABEL_INTERVALS gets a label every few
    // buckets instead.
    const bucketSeconds = spec.bucketSeconds;
    const bucketsApart = Math.max(1, Math.ceil(LABEL_SPACING / band));
    const interval = LABEL_INTERVALS.find((s) => s % bucketSeconds === 0 && s / bucketSeconds >= bucketsApart);
    const xAxis = svgElement("g", { class: "x-axis" });
    const axisY = margin.top + plotHeight;
    for (let i = 0; i < n; i++) {
      const ms = Date.parse(points[i].start);
      let labeled;
      if (interval) {
        const period = Math.floor(localSeconds(ms) / interval);
        labeled = i === 0
          ? localSeconds(ms) % interval === 0
          : period !== Math.floor(localSeconds(Date.parse(points[i - 1].start)) / interval);
      } else {
        labeled = i % bucketsApart === 0;
      }
      const text = labeled ? axisLabel(ms, interval || bucketSeconds * bucketsApart) : "";
      // A label starts at its tick, so one too close to the right edge is
      // left out rather than cut off.
      if (!labeled || xLeft(i) + text.length * 6.5 > width) {
        continue;
      }
      xAxis.appendChild(svgElement("line", { class: "tick", x1: xLeft(i), x2: xLeft(i), y1: axisY, y2: axisY + 4 }));
      const label = svgElement("text", { class: "axis-label", x: xLeft(i), y: height - 6, "text-anchor": "start" });
      label.textContent = text;
      xAxis.appendChild(label);
    }
    svg.appendChild(xAxis);

    // Bars, one group per series, each rect keeping its value.
    const gap = band > 6 ? Math.min(2, band * 0.15) : 0;
    const barWidth = Math.max(0.5, band - gap);
    const base = new Array(n).fill(0);
    for (const s of spec.series) {
      if (s.kind !== "bar") {
        continue;
      }
      const g = svgElement("g", { class: "cols " + s.className, "data-series": s.key });
      points.forEach((p, i) => {
        const v = s.value(p) || 0;
        if (v <= 0) {
          return;
        }
        const from = spec.stack ? base[i] : 0;
        const y0 = y(from);
        const y1 = y(from + v);
        g.appendChild(svgElement("rect", {
          class: "col",
          x: xLeft(i) + gap / 2,
          y: y1,
          width: barWidth,
          height: Math.max(1, y0 - y1),
          "data-value": v,
        }));
        if (spec.stack) {
          base[i] += v;
        }
      });
      svg.appendChild(g);
    }

    // Lines with a dot on every point, so a lone point stays visible.
    for (const s of spec.series) {
      if (s.kind !== "line") {
        continue;
      }
      const g = svgElement("g", { class: "line " + s.className, "data-series": s.key });
      let d = "";
      let open = false;
      points.forEach((p, i) => {
        const v = s.value(p);
        if (v === null || v === undefined) {
          open = false;
          return;
        }
        const cx = xLeft(i) + band / 2;
        const cy = y(v);
        d += (open ? "L" : "M") + cx.toFixed(1) + " " + cy.toFixed(1);
        open = true;
        g.appendChild(svgElement("circle", { class: "dot", cx: cx, cy: cy, r: n > 60 ? 1.5 : 2.5, "data-value": v }));
      });
      if (d) {
        g.insertBefore(svgElement("path", { class: "path", d: d }), g.firstChild);
      }
      svg.appendChild(g);
    }

    // Hover areas with a native tooltip per bucket.
    const hover = svgElement("g", { class: "hover" });
    points.forEach((p, i) => {
      const rect = svgElement("rect", { x: xLeft(i), y: margin.top, width: band, height: plotHeight });
      const title = svgElement("title");
      const lines = [bucketLabel(p.start, spec.bucketSeconds)];
      for (const s of spec.series) {
        const v = s.value(p);
        lines.push(s.label + ": " + (v === null || v === undefined ? "–" : s.format(v)));
      }
      title.textContent = lines.join("\n");
      rect.appendChild(title);
      hover.appendChild(rect);
    });
    svg.appendChild(hover);

    if (empty) {
      const note = svgElement("text", { class: "chart-empty", x: margin.left + plotWidth / 2, y: margin.top + plotHeight / 2, "text-anchor": "middle" });
      note.textContent = spec.emptyText;
      svg.appendChild(note);
    }

    container.appendChild(svg);

    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of spec.series) {
      const item = document.createElement("span");
      item.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = "swatch " + s.className;
      item.append(swatch, document.createTextNode(s.label));
      legend.appendChild(item);
    }
    container.appendChild(legend);
  }

  // ---- rendering ----

  function modelKey(provider, model) {
    return JSON.stringify([provider, model]);
  }

  // otherLabel names the row that sums the rows a breakdown left out.
  function otherLabel(row, noun) {
    return "Other (" + formatInteger(row.other_rows) + " " + noun + ")";
  }

  function renderTotals(snap) {
    const u = snap.usage;
    const e = snap.errors;
    const p = snap.performance;

    setValue("total-calls", formatInteger(u.calls), u.calls);
    const callNotes = [rateFormat.format(p.calls_per_minute || 0) + " per minute"];
    if (u.unknown_usage_calls > 0) {
      callNotes.push(formatInteger(u.unknown_usage_calls) + " without usage");
    }
    if (u.dropped_records > 0) {
      callNotes.push(formatInteger(u.dropped_records) + " records dropped");
    }
    setText("total-calls-detail", callNotes.join(" · "));

    setValue("total-cost", formatUSD(u.cost_usd), u.cost_usd);
    setText("total-cost-detail", u.unpriced_calls > 0 ? formatInteger(u.unpriced_calls) + " unpriced calls not included" : "");

    setValue("total-tokens", formatCompact(u.tokens.total), u.tokens.total);
    setText("total-tokens-detail", formatCompact(u.tokens.input) + " in · " + formatCompact(u.tokens.output) + " out");

    setValue("cache-hit", u.tokens.input > 0 ? formatPercent(u.cache_hit_ratio) : "–", u.cache_hit_ratio);
    setText("cache-hit-detail", formatCompact(u.tokens.cached_input) + " of " + formatCompact(u.tokens.input) + " input tokens cached");

    setValue("error-rate", formatPercent(e.rate), e.rate);
    setText("error-rate-detail", formatInteger(e.total) + " failed calls");

    // Without calls the latencies are zeros that measure nothing.
    if (p.calls === 0) {
      setValue("latency-p50", "–");
      setText("latency-detail", "");
      setValue("latency-tail", "–");
    } else {
      setValue("latency-p50", formatMillis(p.latency_ms.p50), p.latency_ms.p50);
      setText("latency-detail", "mean " + formatMillis(p.latency_ms.mean) + " · max " + formatMillis(p.latency_ms.max));
      setValue("latency-tail", formatMillis(p.latency_ms.p95) + " / " + formatMillis(p.latency_ms.p99));
    }
    setText("ttft-detail", p.ttft_ms ? "first token p50 " + formatMillis(p.ttft_ms.p50) + " · p95 " + formatMillis(p.ttft_ms.p95) : "");

    const speed = p.stream_output_tokens_per_second;
    setValue("stream-speed", typeof speed === "number" ? formatCompact(speed) + " tok/s" : "–", speed);
    setText("stream-speed-detail", p.stream_calls > 0 ? "output tokens, " + formatInteger(p.stream_calls) + " streamed calls" : "no streamed calls");
  }

  function renderCharts(snap) {
    const bucketSeconds = snap.window.bucket_seconds;
    for (const note of document.querySelectorAll(".bucket-note")) {
      note.textContent = "per " + snap.window.bucket;
    }
    const noCalls = "No calls in this window.";

    timeChart("chart-spend", {
      name: "spend",
      label: "Spend per bucket",
      points: snap.usage.series,
      bucketSeconds: bucketSeconds,
      formatAxis: formatUSDAxis,
      emptyText: noCalls,
      series: [
        { key: "cost_usd", label: "Spend", kind: "bar", className: "series-cost", value: (p) => p.cost_usd, format: formatUSD },
      ],
    });

    timeChart("chart-tokens", {
      name: "tokens",
      label: "Input and output tokens per bucket",
      points: snap.usage.series,
      bucketSeconds: bucketSeconds,
      formatAxis: (v) => formatCompact(v),
      emptyText: noCalls,
      counts: true,
      stack: true,
      series: [
        { key: "input", label: "Input", kind: "bar", className: "series-input", value: (p) => p.tokens.input, format: formatInteger },
        { key: "output", label: "Output", kind: "bar", className: "series-output", value: (p) => p.tokens.output, format: formatInteger },
      ],
    });

    timeChart("chart-calls", {
      name: "calls",
      label: "Calls and failed calls per bucket",
      points: snap.errors.series,
      bucketSeconds: bucketSeconds,
      formatAxis: (v) => formatCompact(v),
      emptyText: noCalls,
      counts: true,
      series: [
        { key: "calls", label: "Calls", kind: "bar", className: "series-calls", value: (p) => p.calls, format: formatInteger },
        { key: "errors", label: "Failed", kind: "bar", className: "series-errors", value: (p) => p.errors, format: formatInteger },
      ],
    });

    // Buckets without calls have no latency, so their lines have gaps.
    const latency = (q) => (p) => (p.calls > 0 ? p.latency_ms[q] : null);
    timeChart("chart-latency", {
      name: "latency",
      label: "Latency percentiles per bucket",
      points: snap.performance.series,
      bucketSeconds: bucketSeconds,
      formatAxis: formatMillisAxis,
      emptyText: noCalls,
      series: [
        { key: "p50", label: "p50", kind: "line", className: "series-p50", value: latency("p50"), format: formatMillis },
        { key: "p95", label: "p95", kind: "line", className: "series-p95", value: latency("p95"), format: formatMillis },
        { key: "p99", label: "p99", kind: "line", className: "series-p99", value: latency("p99"), format: formatMillis },
      ],
    });
  }

  function renderModels(snap) {
    const perf = new Map();
    for (const m of snap.performance.by_model) {
      if (!m.other) {
        perf.set(modelKey(m.provider, m.model), m);
      }
    }
    const otherPerf = snap.performance.by_model.find((m) => m.other);
    const rows = snap.usage.by_model.map((m) => ({
      usage: m,
      other: Boolean(m.other),
      perf: m.other ? otherPerf : perf.get(modelKey(m.provider, m.model)),
    }));
    const name = (r) => (r.other ? otherLabel(r.usage, "models") : r.usage.model || "(none)");

    const bySpend = state.sort === "cost" && rows.some((r) => r.usage.cost_usd > 0);
    const chartItems = rows.map((r) => (bySpend
      ? { label: name(r), value: r.usage.cost_usd, display: formatUSD(r.usage.cost_usd), className: r.other ? "bar-fill muted" : "bar-fill" }
      : { label: name(r), value: r.usage.calls, display: formatInteger(r.usage.calls) + " calls", className: r.other ? "bar-fill muted" : "bar-fill" }));
    barChart("chart-models", chartItems.slice(0, 10), "No calls in this window.");

    const latency = (r, q) => (r.perf ? formatMillis(r.perf.latency_ms[q]) : "–");
    fillTable("table-models", rows, [
      { text: (r) => (r.other ? "" : r.usage.provider), filter: (r) => ({ provider: r.usage.provider }) },
      { text: name, className: "name", filter: (r) => ({ provider: r.usage.provider, model: r.usage.model }) },
      { text: (r) => formatInteger(r.usage.calls), className: "num", value: (r) => r.usage.calls },
      { text: (r) => formatCompact(r.usage.tokens.total), className: "num", value: (r) => r.usage.tokens.total },
      { text: (r) => formatUSD(r.usage.cost_usd), className: "num", value: (r) => r.usage.cost_usd },
      { text: (r) => formatInteger(r.usage.unpriced_calls), className: "num" },
      { text: (r) => (r.perf ? formatPercent(r.perf.success_rate) : "–"), className: "num" },
      { text: (r) => latency(r, "p50"), className: "num" },
      { text: (r) => latency(r, "p95"), className: "num" },
      { text: (r) => latency(r, "p99"), className: "num" },
      {
        text: (r) => (r.perf && typeof r.perf.stream_output_tokens_per_second === "number" ? formatCompact(r.perf.stream_output_tokens_per_second) : "–"),
        className: "num",
      },
    ], "No calls in this window.");
  }

  function renderEndpoints(snap) {
    const pick = (list, e) => (e.other ? list.find((x) => x.other) : list.find((x) => !x.other && x.endpoint === e.endpoint));
    const rows = snap.usage.by_endpoint.map((u) => ({
      usage: u,
      other: Boolean(u.other),
      errors: pick(snap.errors.by_endpoint, u),
      perf: pick(snap.performance.by_endpoint, u),
    }));

    const latency = (r, q) => (r.perf ? formatMillis(r.perf.latency_ms[q]) : "–");
    fillTable("table-endpoints", rows, [
      { text: (r) => (r.other ? otherLabel(r.usage, "endpoints") : r.usage.endpoint || "(none)"), className: "name", filter: (r) => ({ endpoint: r.usage.endpoint }) },
      { text: (r) => formatInteger(r.usage.calls), className: "num", value: (r) => r.usage.calls },
      { text: (r) => formatCompact(r.usage.tokens.total), className: "num", value: (r) => r.usage.tokens.total },
      { text: (r) => formatUSD(r.usage.cost_usd), className: "num", value: (r) => r.usage.cost_usd },
      { text: (r) => (r.errors ? formatInteger(r.errors.errors) : "–"), className: "num" },
      { text: (r) => (r.errors ? formatPercent(r.errors.rate) : "–"), className: "num" },
      { text: (r) => latency(r, "p50"), className: "num" },
      { text: (r) => latency(r, "p95"), className: "num" },
      { text: (r) => latency(r, "p99"), className: "num" },
    ], "No calls in this window.");
  }

  function renderKeys(snap) {
    const rows = snap.usage.by_key;
    fillTable("table-keys", rows, [
      {
        text: (k) => (k.other ? otherLabel(k, "keys") : k.key || "(no key)"),
        className: "name",
        filter: (k) => (k.key ? { key: k.key } : null),
      },
      { text: (k) => formatInteger(k.calls), className: "num", value: (k) => k.calls },
      { text: (k) => formatInteger(k.errors), className: "num", value: (k) => k.errors },
      { text: (k) => formatCompact(k.tokens.total), className: "num", value: (k) => k.tokens.total },
      { text: (k) => formatUSD(k.cost_usd), className: "num", value: (k) => k.cost_usd },
      { text: (k) => formatInteger(k.unpriced_calls), className: "num" },
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

    const keyNote = state.filter.key ? "Error events carry no caller key, so none are listed under a key filter." : "";
    fillTable("table-recent", snap.errors.recent, [
      { text: (e) => formatTime(e.time), className: "time" },
      { text: (e) => e.category, className: "category" },
      { text: (e) => (e.http_status ? String(e.http_status) : "–"), className: "num", label: "HTTP" },
      { text: (e) => e.endpoint, className: "name" },
      { text: (e) => e.model, className: "name" },
      { text: (e) => e.message, className: "message" },
    ], keyNote || "No recent errors in this window.");

    fillTable("table-groups", snap.errors.groups, [
      { text: (g) => g.category, className: "category" },
      { text: (g) => formatInteger(g.count), className: "num", label: "count" },
      { text: (g) => formatTime(g.last_seen), className: "time", label: "last" },
      { text: (g) => formatTime(g.first_seen), className: "time", label: "first" },
      { text: (g) => g.message, className: "message" },
    ], keyNote || "No error groups in this window.");
  }

  function renderRateLimits(snap) {
    fillTable("table-rules", snap.rate_limits.by_rule, [
      { text: (r) => r.rule, className: "name" },
      { text: (r) => formatInteger(r.allowed), className: "num", value: (r) => r.allowed },
      { text: (r) => formatInteger(r.rejected), className: "num", value: (r) => r.rejected },
      { text: (r) => formatPercent(r.allowed + r.rejected > 0 ? r.rejected / (r.allowed + r.rejected) : 0), className: "num" },
    ], "No rate limiters reported.");
  }

  function renderBudgets(snap) {
    const panel = byId("panel-budgets");
    if (!snap.budgets) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const amount = (b, v) => (b.unit === "usd" ? formatUSD(v) : formatCompact(v));
    fillTable("table-budgets", snap.budgets.keys, [
      { text: (b) => b.name, className: "name" },
      { text: (b) => b.key, className: "name" },
      { text: (b) => amount(b, b.spent), className: "num", value: (b) => b.spent },
      { text: (b) => amount(b, b.reserved), className: "num", value: (b) => b.reserved },
      { text: (b) => amount(b, b.limit), className: "num", value: (b) => b.limit },
      { text: (b) => amount(b, b.remaining), className: "num", value: (b) => b.remaining },
      { text: (b) => formatTime(b.window_end), className: "time" },
    ], "No key has spent from a budget in its current window.");
  }

  function render(snap) {
    renderTotals(snap);
    renderCharts(snap);
    renderModels(snap);
    renderEndpoints(snap);
    renderKeys(snap);
    renderErrors(snap);
    renderRateLimits(snap);
    renderBudgets(snap);
  }

  // ---- state and loading ----

  function stateFromHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const w = params.get("window");
    const s = params.get("sort");
    const filter = {};
    for (const f of FILTER_FIELDS) {
      const v = params.get(f);
      if (v) {
        filter[f] = v;
      }
    }
    return {
      window: WINDOWS.includes(w) ? w : DEFAULT_WINDOW,
      sort: SORTS.includes(s) ? s : "cost",
      filter: filter,
    };
  }

  function hashFromState() {
    const params = new URLSearchParams();
    params.set("window", state.window);
    params.set("sort", state.sort);
    for (const f of FILTER_FIELDS) {
      if (state.filter[f]) {
        params.set(f, state.filter[f]);
      }
    }
    return "#" + params.toString();
  }

  // setState changes the view, records it in the URL without adding a
  // history entry, and loads the new snapshot.
  function setState(change) {
    state = Object.assign({}, state, change);
    history.replaceState(null, "", hashFromState());
    showControls();
    load();
  }

  function applyFilter(filter) {
    setState({ filter: Object.assign({}, state.filter, filter) });
  }

  function showControls() {
    for (const button of document.querySelectorAll("[data-window]")) {
      button.setAttribute("aria-pressed", String(button.dataset.window === state.window));
    }
    for (const button of document.querySelectorAll("[data-sort]")) {
      button.setAttribute("aria-pressed", String(button.dataset.sort === state.sort));
    }

    const bar = byId("filters");
    clear(bar);
    const fields = FILTER_FIELDS.filter((f) => state.filter[f]);
    bar.hidden = fields.length === 0;
    for (const f of fields) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.title = "Remove this filter";
      chip.dataset.filter = f;
      const name = document.createElement("span");
      name.className = "chip-field";
      name.textContent = f + ":";
      chip.append(name, document.createTextNode(" " + state.filter[f] + " ×"));
      chip.addEventListener("click", () => {
        const filter = Object.assign({}, state.filter);
        delete filter[f];
        setState({ filter: filter });
      });
      bar.appendChild(chip);
    }
  }

  function showStatus(text, isError) {
    const status = byId("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function errorMessage(resp) {
    try {
      const data = await resp.json();
      if (data && typeof data.error === "string") {
        return data.error;
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
    const view = state;

    const url = new URL(apiPath, location.href);
    url.searchParams.set("type", "all");
    url.searchParams.set("window", view.window);
    url.searchParams.set("sort", view.sort);
    for (const f of FILTER_FIELDS) {
      if (view.filter[f]) {
        url.searchParams.set(f, view.filter[f]);
      }
    }

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
      lastSnapshot = snap;
      render(snap);
      loads++;
      // The loaded view and a count of loads, for scripts that watch the page.
      body.dataset.loadedWindow = view.window;
      body.dataset.loads = String(loads);
      showStatus("Window " + view.window + " · " + snap.window.bucket + " buckets · updated " + new Date().toLocaleTimeString(), false);
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

  function start() {
    showControls();
    for (const button of document.querySelectorAll("[data-window]")) {
      button.addEventListener("click", () => setState({ window: button.dataset.window }));
    }
    for (const button of document.querySelectorAll("[data-sort]")) {
      button.addEventListener("click", () => setState({ sort: button.dataset.sort }));
    }
    byId("refresh").addEventListener("click", load);
    window.addEventListener("hashchange", () => {
      state = stateFromHash();
      showControls();
      load();
    });

    // Charts are drawn to the width of their panel, so a resize redraws
    // them from the last snapshot, once per animation frame at most.
    let resizePending = false;
    window.addEventListener("resize", () => {
      if (resizePending || !lastSnapshot) {
        return;
      }
      resizePending = true;
      requestAnimationFrame(() => {
        resizePending = false;
        renderCharts(lastSnapshot);
      });
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
