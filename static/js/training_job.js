// Training job page: poll the job's JSON every 2 s until it ends; update the phase,
// numbers, progress bar, history table and an SVG curve of train loss and validation
// macro-F1 per epoch. Without this script the page refreshes itself (<noscript>).

const SVG = "http://www.w3.org/2000/svg";
const root = document.getElementById("job");
if (root) {
  fetchOnce(root).then(() => {
    if (root.dataset.finished !== "true") poll(root);
  });
}

function byId(id) {
  return document.getElementById(id);
}

function fixed(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

async function fetchOnce(el) {
  try {
    const response = await fetch(el.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) return null;
    const data = await response.json();
    show(data);
    return data;
  } catch (err) {
    return null; // a dropped request: the next poll tries again
  }
}

async function poll(el) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const data = await fetchOnce(el);
    if (data && data.finished) {
      el.dataset.finished = "true";
      const cancel = byId("job-cancel-form");
      if (cancel) cancel.hidden = true;
      return;
    }
  }
}

function show(data) {
  const status = byId("job-status");
  status.textContent = data.status_display;
  status.className = `badge badge-job-${data.status}`;
  root.dataset.status = data.status;
  byId("job-phase").textContent = data.phase_display;
  byId("job-bar").value = data.fraction;
  byId("job-epoch").textContent = data.epoch;
  byId("job-epochs").textContent = data.epochs;
  // Steps count within the epoch in progress: nothing to show once the job is over.
  byId("job-step").textContent = data.finished ? "–" : data.step;
  byId("job-steps").textContent = data.finished ? "–" : data.steps;
  byId("job-loss").textContent = fixed(data.train_loss, 4);
  byId("job-f1").textContent = fixed(data.val_macro_f1, 3);
  byId("job-accuracy").textContent = fixed(data.val_accuracy, 3);
  byId("job-eta").textContent = data.finished ? "–" : duration(data.eta_seconds);
  byId("job-attempts").textContent = data.attempts;
  const cancel = byId("job-cancel");
  if (cancel && data.status === "cancelling") cancel.disabled = true;
  const error = byId("job-error");
  error.hidden = !data.error;
  error.textContent = data.error || "";
  const result = byId("job-result");
  result.hidden = !data.result_version;
  byId("job-result-version").textContent = data.result_version || "";
  showHistory(data.history);
  drawCurve(byId("job-curve"), data.history);
}

function showHistory(history) {
  const body = byId("job-history").tBodies[0];
  body.replaceChildren(
    ...history.map((p) => {
      const row = document.createElement("tr");
      for (const [value, digits] of [[p.epoch, 0], [p.train_loss, 4], [p.val_macro_f1, 3], [p.val_accuracy, 3]]) {
        const cell = document.createElement("td");
        cell.textContent = digits ? fixed(value, digits) : value;
        row.append(cell);
      }
      return row;
    }),
  );
}

function node(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  return el;
}

// Two lines on one chart: train loss scaled to its own maximum, macro-F1 on 0..1.
function drawCurve(svg, history) {
  const width = 600, height = 220, pad = { left: 40, right: 40, top: 12, bottom: 28 };
  const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
  svg.replaceChildren();
  svg.append(node("rect", { x: pad.left, y: pad.top, width: plotW, height: plotH, class: "curve-frame" }));
  if (!history.length) {
    const text = node("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "curve-empty" });
    text.textContent = "The curve appears after the first epoch.";
    svg.append(text);
    return;
  }
  const lastEpoch = Math.max(...history.map((p) => p.epoch), 1);
  const losses = history.map((p) => p.train_loss).filter((v) => typeof v === "number");
  const maxLoss = Math.max(...losses, 1e-9);
  const x = (epoch) => pad.left + (lastEpoch === 1 ? plotW / 2 : ((epoch - 1) / (lastEpoch - 1)) * plotW);
  const y = (fraction) => pad.top + (1 - Math.max(0, Math.min(1, fraction))) * plotH;
  const series = [
    ["train_loss", (v) => v / maxLoss, "curve-loss"],
    ["val_macro_f1", (v) => v, "curve-f1"],
  ];
  for (const [key, scale, cls] of series) {
    const points = history.filter((p) => typeof p[key] === "number").map((p) => [x(p.epoch), y(scale(p[key]))]);
    if (!points.length) continue;
    svg.append(node("polyline", { points: points.map((pt) => pt.join(",")).join(" "), class: `curve-line ${cls}` }));
    for (const [cx, cy] of points) svg.append(node("circle", { cx, cy, r: 3, class: `curve-dot ${cls}` }));
  }
  const labels = [
    [pad.left, height - 8, "start", "epoch 1"],
    [width - pad.right, height - 8, "end", `epoch ${lastEpoch}`],
    [pad.left - 4, pad.top + 10, "end", fixed(maxLoss, 2)],
    [width - pad.right + 4, pad.top + 10, "start", "1.0"],
    [width - pad.right + 4, height - pad.bottom, "start", "0"],
  ];
  for (const [lx, ly, anchor, label] of labels) {
    const text = node("text", { x: lx, y: ly, "text-anchor": anchor, class: "curve-label" });
    text.textContent = label;
    svg.append(text);
  }
}
