// Evaluation page: while the evaluation is queued or running, poll its JSON every 2 s and
// show the status; when it has ended, reload the page once to show the comparison.
// Without this script the page refreshes itself (<noscript>).

const root = document.getElementById("evaluation-progress");
if (root && root.dataset.finished !== "true") poll(root);

async function poll(el) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    let data = null;
    try {
      const response = await fetch(el.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) data = await response.json();
    } catch (err) {
      data = null; // a dropped request: the next poll tries again
    }
    if (!data) continue;
    const status = document.getElementById("evaluation-status");
    status.textContent = data.status_display;
    status.className = `badge badge-evaluation-${data.status}`;
    if (data.finished) {
      window.location.reload();
      return;
    }
  }
}
