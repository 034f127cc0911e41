// Live worklist: while some rows are still being received, queued or predicted, ask the
// server every few seconds for those rows' status and AI summary and update the cells in
// place (no reload). Polling stops when nothing is in flight and pauses in hidden tabs.
(() => {
  const table = document.querySelector("table.worklist[data-status-url]");
  if (!table) return;
  const POLL_MS = 3000;
  const OOD_TITLE = "The images are unlike those the model was trained on: no AI result is given.";
  const live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  table.before(live);

  const rows = () => Array.from(table.querySelectorAll("tr[data-case-id][data-in-flight]"));

  const text = (tag, content, className) => {
    const el = document.createElement(tag);
    el.textContent = content;
    if (className) el.className = className;
    return el;
  };

  const render = (row, info) => {
    const status = row.querySelector('[data-field="status"]');
    const badge = text("span", info.status_label, `badge badge-${info.status}`);
    status.replaceChildren(badge);
    const ai = row.querySelector('[data-field="ai"]');
    if (ai.hasAttribute("data-final") || ai.hasAttribute("data-ai-hidden") || info.ai_hidden) {
      // A reviewed row shows the decision, not the AI; a blind reading hides the AI.
    } else if (info.ai_label) {
      const name = info.ai_label_display || info.ai_label;
      const label = info.ai_positive ? text("strong", name, "ai-positive") : document.createTextNode(name);
      const parts = [text("span", "AI", "muted small"), document.createTextNode(" "), label, document.createTextNode(" ")];
      parts.push(text("span", Number(info.ai_confidence).toFixed(2), "muted"));
      if (info.ai_untrained) {
        parts.push(document.createTextNode(" "));
        const hint = text("span", "untrained", "hint");
        hint.title = "Untrained model: not a diagnosis";
        parts.push(hint);
      }
      ai.replaceChildren(...parts);
    } else if (info.ai_outside_scope) {
      const outside = text("span", "Outside the model's scope", "out-of-scope");
      outside.title = OOD_TITLE;
      ai.replaceChildren(outside);
    } else {
      ai.replaceChildren(text("span", "—", "muted"));
    }
    // The study result's key image (the most suspicious) replaces the first-instance thumbnail.
    const thumb = row.querySelector('[data-field="thumb"]');
    if (thumb && info.key_image_thumbnail) {
      let img = thumb.querySelector("img");
      if (!img) {
        img = document.createElement("img");
        img.className = "thumb-sm";
        img.alt = "";
        img.width = img.height = 36;
        thumb.replaceChildren(img);
      }
      if (img.getAttribute("src") !== info.key_image_thumbnail) img.src = info.key_image_thumbnail;
      img.title = `Key image: the most suspicious of ${info.ai_images}`;
    }
    if (ai.hasAttribute("data-final") || info.ai_hidden) {
      // unchanged
    } else if (info.ai_label) ai.title = `Study result: from the most suspicious of ${info.ai_images} image${info.ai_images === 1 ? "" : "s"} with a result`;
    else ai.removeAttribute("title");
    const uncertainty = row.querySelector('[data-field="uncertainty"]');
    uncertainty.replaceChildren(
      info.ai_uncertainty === null ? text("span", "—", "muted") : document.createTextNode(Number(info.ai_uncertainty).toFixed(2)),
    );
    row.dataset.status = info.status;
    if (!info.in_flight) delete row.dataset.inFlight;
  };

  let timer = null;
  const poll = async () => {
    timer = null;
    const pending = rows();
    if (!pending.length) return;
    if (document.hidden) {
      schedule();
      return;
    }
    const ids = pending.map((row) => row.dataset.caseId).join(",");
    try {
      const response = await fetch(`${table.dataset.statusUrl}?ids=${ids}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const body = await response.json();
        const done = [];
        for (const info of body.cases) {
          const row = table.querySelector(`tr[data-case-id="${info.id}"]`);
          if (!row) continue;
          const before = row.dataset.status;
          render(row, info);
          if (before !== info.status && !info.in_flight) done.push(`Case ${info.id}: ${info.status_label}`);
        }
        if (done.length) live.textContent = done.join(". ");
      }
    } catch (error) {
      // A dropped connection: try again on the next tick.
    }
    schedule();
  };
  const schedule = () => {
    if (timer === null && rows().length) timer = window.setTimeout(poll, POLL_MS);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer === null) poll();
  });
  schedule();

  // New cases: the first page asks every few seconds for cases newer than the newest it knows
  // (with its own filters) and puts their rows on top, marked new, without a reload.
  if (!table.dataset.newUrl) return;
  const NEW_MS = 5000;
  const body = table.tBodies[0];
  const pollNew = async () => {
    if (!document.hidden) {
      const query = new URLSearchParams(table.dataset.query || "");
      query.delete("page");
      query.set("after", table.dataset.newest || "0");
      try {
        const response = await fetch(`${table.dataset.newUrl}?${query}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) {
          const data = await response.json();
          const added = [];
          for (const item of data.rows.slice().reverse()) {
            if (table.querySelector(`tr[data-case-id="${item.id}"]`)) continue;
            const holder = document.createElement("tbody");
            holder.innerHTML = item.html.trim();
            const row = holder.querySelector("tr");
            if (!row) continue;
            row.classList.add("is-new");
            row.title = "New since this page was opened";
            body.prepend(row);
            table.closest(".table-wrap")?.removeAttribute("hidden");
            document.querySelector("[data-empty]")?.remove();
            added.push(`Case ${item.id}`);
          }
          table.dataset.newest = String(data.newest);
          if (added.length) {
            live.textContent = `New: ${added.join(", ")}`;
            schedule(); // a new row may be in flight
          }
        }
      } catch (error) {
        // A dropped connection: try again on the next tick.
      }
    }
    window.setTimeout(pollNew, NEW_MS);
  };
  window.setTimeout(pollNew, NEW_MS);
})();
