// Try-out page: poll the try-out's JSON until the worker has finished, then show
// the label, probability bars, uncertainty, model and the saliency overlay.
// Without this script the page refreshes itself (a <noscript> meta refresh).

const section = document.getElementById("tryout");
if (section && !["done", "failed"].includes(section.dataset.status)) {
  poll(section);
}

function byId(id) {
  return document.getElementById(id);
}

function fixed(value, digits) {
  return value === null || value === undefined ? "" : Number(value).toFixed(digits);
}

async function poll(root) {
  const started = Date.now();
  for (;;) {
    // Fast while a result is seconds away, gentler if the queue is long.
    await new Promise((resolve) => setTimeout(resolve, Date.now() - started < 30000 ? 500 : 2000));
    let data;
    try {
      const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 404) {
        showGone();
        return;
      }
      if (!response.ok) continue;
      data = await response.json();
    } catch {
      continue; // a network blip: try again
    }
    root.dataset.status = data.status;
    byId("tryout-state-text").textContent = `${data.status_display}…`;
    if (data.finished) {
      show(data);
      return;
    }
  }
}

function show(data) {
  byId("tryout-state").hidden = true;
  byId("tryout-untrained").hidden = !data.untrained;
  if (data.status === "failed") {
    byId("tryout-error-text").textContent = data.error;
    byId("tryout-error").hidden = false;
    byId("tryout-overlay-placeholder").textContent = "No map";
    return;
  }
  byId("tryout-label").textContent = data.in_scope === false ? "Outside the model's scope" : data.label;
  byId("tryout-confidence").textContent = fixed(data.confidence, 2);
  const list = byId("tryout-probs");
  list.replaceChildren(
    ...Object.entries(data.probabilities).map(([name, value]) => {
      const item = document.createElement("li");
      if (name === data.label) item.className = "is-top";
      const label = Object.assign(document.createElement("span"), { className: "prob-name", textContent: name });
      const bar = Object.assign(document.createElement("span"), { className: "prob-bar" });
      const fill = document.createElement("span");
      fill.style.width = `${Math.round(value * 100)}%`;
      bar.append(fill);
      const number = Object.assign(document.createElement("span"), { className: "prob-value", textContent: fixed(value, 3) });
      item.append(label, bar, number);
      return item;
    }),
  );
  byId("tryout-uncertainty").textContent = fixed(data.uncertainty, 3);
  byId("tryout-models").textContent = data.models.join(", ");
  byId("tryout-device").textContent = data.device;
  byId("tryout-timings").textContent = Object.entries(data.timings)
    .filter(([, ms]) => ms !== null)
    .map(([stage, ms]) => `${stage.replace(/_ms$/, "")} ${Math.round(ms)} ms`)
    .join(" · ");
  byId("tryout-done").hidden = false;
  if (data.overlay_url) {
    const overlay = byId("tryout-overlay");
    overlay.addEventListener("load", () => {
      overlay.hidden = false;
      byId("tryout-overlay-placeholder").hidden = true;
    }, { once: true });
    overlay.src = data.overlay_url;
  }
}

function showGone() {
  byId("tryout-state").hidden = true;
  byId("tryout-error-text").textContent = "This try-out is gone: it was discarded, saved as a case, or has expired.";
  byId("tryout-error").hidden = false;
}
