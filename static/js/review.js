// Keyboard review: digits pick a class in the first open review form, Enter saves it once a
// class is picked (nothing is pre-selected: Enter alone never confirms the AI), N opens the
// next case waiting for review. Keys typed into text fields are left alone.
(() => {
  const section = document.getElementById("review");
  if (!section) return;
  const form = () => section.querySelector("form[data-review-form]");
  let submitted = false;
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLTextAreaElement || (target instanceof HTMLInputElement && target.type === "text")) return;
    if (target instanceof HTMLSelectElement) return;
    const open = form();
    if (/^[1-9]$/.test(event.key) && open) {
      const choice = open.querySelector(`input[name="label"][data-digit="${event.key}"]`);
      if (choice) {
        choice.checked = true;
        choice.focus();
        event.preventDefault();
      }
    } else if (event.key === "Enter" && open && !(target instanceof HTMLButtonElement)) {
      event.preventDefault();
      if (!open.querySelector('input[name="label"]:checked')) {
        const hint = open.querySelector("[data-review-hint]");
        if (hint) hint.hidden = false;
        return;
      }
      if (submitted) return; // one Enter, one reading
      submitted = true;
      open.requestSubmit();
    } else if ((event.key === "n" || event.key === "N") && section.dataset.nextUrl) {
      event.preventDefault();
      window.location.assign(section.dataset.nextUrl);
    }
  });
})();
