// Upload page: collect files (drag-and-drop of files and whole folders, file and
// folder pickers), send them with XMLHttpRequest so a real progress bar can be
// shown, then open the result page. Without this script the plain form post works.
//
// Server contract: POST multipart to the form's action with every file under
// "files" (named by its relative path) and one "paths" field holding a JSON list
// of those relative paths in the same order (Django drops folders from
// multipart file names). With "Accept:
// application/json" the server answers {result_url} on success and {error} with
// a 4xx status otherwise.

const form = document.getElementById("upload-form");
if (form) {
  setUpUpload(form);
}

// Operating-system metadata that is never an image; skipped so it does not
// clutter the result page with "not a DICOM file".
const SYSTEM_FILES = new Set(["thumbs.db", "desktop.ini", "ehthumbs.db"]);
const LIST_LIMIT = 200;

function isSystemFile(name) {
  const base = name.split("/").pop();
  return base.startsWith(".") || SYSTEM_FILES.has(base.toLowerCase());
}

function formatBytes(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// A dropped folder is walked with the File and Directory Entries API.
// readEntries returns at most ~100 entries per call, so call it until empty.
function readAllEntries(directory) {
  const reader = directory.createReader();
  const all = [];
  return new Promise((resolve, reject) => {
    const next = () => {
      reader.readEntries((batch) => {
        if (batch.length === 0) {
          resolve(all);
          return;
        }
        all.push(...batch);
        next();
      }, reject);
    };
    next();
  });
}

async function collectEntry(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, "") || file.name });
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry)) {
      await collectEntry(child, out);
    }
  }
}

async function filesFromDrop(dataTransfer) {
  const items = Array.from(dataTransfer.items || []);
  // Entries must be taken synchronously, before the drop event returns.
  const entries = items
    .filter((item) => item.kind === "file")
    .map((item) => (typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null));
  if (entries.length && entries.every((entry) => entry)) {
    const out = [];
    for (const entry of entries) {
      await collectEntry(entry, out);
    }
    return out;
  }
  return Array.from(dataTransfer.files || []).map((file) => ({ file, path: file.name }));
}

function setUpUpload(form) {
  const maxBytes = Number(form.dataset.maxBytes) || Infinity;
  const maxFiles = Number(form.dataset.maxFiles) || Infinity;
  const dropzone = form.querySelector("#dropzone");
  const fileInput = form.querySelector("#id_files");
  const folderInput = form.querySelector("#id_folder");
  const countText = form.querySelector("#file-count");
  const list = form.querySelector("#file-list");
  const clearButton = form.querySelector("#file-clear");
  const submit = form.querySelector("#upload-submit");
  const status = form.querySelector("#upload-status");
  const progress = form.querySelector("#upload-progress");
  const statusText = form.querySelector("#upload-status-text");
  const errorBox = form.querySelector("#upload-error");

  // Keyed by path and size so choosing the same file twice adds it once.
  const selected = new Map();
  let skipped = 0;
  let busy = false;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }

  function totalBytes() {
    let total = 0;
    for (const { file } of selected.values()) total += file.size;
    return total;
  }

  function render() {
    const count = selected.size;
    list.replaceChildren();
    if (count === 0) {
      countText.textContent = "No files chosen yet.";
    } else {
      const note = skipped ? ` (${skipped} system file${skipped === 1 ? "" : "s"} skipped)` : "";
      countText.textContent = `${count} file${count === 1 ? "" : "s"} chosen, ${formatBytes(totalBytes())}${note}.`;
      let shown = 0;
      for (const { file, path } of selected.values()) {
        if (shown === LIST_LIMIT) {
          const more = document.createElement("li");
          more.textContent = `… and ${count - LIST_LIMIT} more`;
          list.append(more);
          break;
        }
        const row = document.createElement("li");
        const name = document.createElement("span");
        name.className = "filename";
        name.textContent = path;
        const size = document.createElement("span");
        size.className = "size";
        size.textContent = formatBytes(file.size);
        row.append(name, size);
        list.append(row);
        shown += 1;
      }
    }
    clearButton.hidden = count === 0 || busy;
  }

  function add(items) {
    clearError();
    for (const { file, path } of items) {
      if (isSystemFile(path)) {
        skipped += 1;
        continue;
      }
      selected.set(`${path}\u0000${file.size}`, { file, path });
    }
    render();
  }

  function setState(state, percent) {
    status.hidden = false;
    status.dataset.uploadState = state;
    if (percent !== undefined) {
      const rounded = Math.round(percent);
      status.dataset.percent = String(rounded);
      progress.setAttribute("value", String(rounded));
    }
  }

  function setBusy(value) {
    busy = value;
    for (const control of form.querySelectorAll("input, select, button")) {
      control.disabled = value;
    }
    dropzone.setAttribute("aria-disabled", value ? "true" : "false");
    clearButton.hidden = value || selected.size === 0;
  }

  const warnBeforeLeaving = (event) => {
    event.preventDefault();
    event.returnValue = "";
  };

  // --- Choosing files ---------------------------------------------------------
  fileInput.addEventListener("change", () => {
    add(Array.from(fileInput.files).map((file) => ({ file, path: file.webkitRelativePath || file.name })));
    fileInput.value = "";
  });
  folderInput.addEventListener("change", () => {
    add(Array.from(folderInput.files).map((file) => ({ file, path: file.webkitRelativePath || file.name })));
    folderInput.value = "";
  });
  clearButton.addEventListener("click", () => {
    selected.clear();
    skipped = 0;
    clearError();
    render();
    fileInput.focus();
  });

  dropzone.addEventListener("click", () => {
    if (!busy) fileInput.click();
  });
  dropzone.addEventListener("keydown", (event) => {
    if (busy) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      if (busy) return;
      event.dataTransfer.dropEffect = "copy";
      dropzone.classList.add("is-dragover");
    });
  }
  dropzone.addEventListener("dragleave", (event) => {
    if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove("is-dragover");
  });
  dropzone.addEventListener("drop", async (event) => {
    event.preventDefault();
    dropzone.classList.remove("is-dragover");
    if (busy) return;
    try {
      add(await filesFromDrop(event.dataTransfer));
    } catch (error) {
      showError(`Could not read the dropped items: ${error && error.message ? error.message : error}`);
    }
  });
  // A file dropped just outside the zone would otherwise make the browser navigate to it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!dropzone.contains(event.target)) event.preventDefault();
    });
  }

  // --- Sending ------------------------------------------------------------------
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    clearError();
    if (selected.size === 0) {
      showError("Choose at least one file, folder or zip to upload.");
      dropzone.focus();
      return;
    }
    if (selected.size > maxFiles) {
      showError(`That is ${selected.size} files; one upload takes at most ${maxFiles}. Zip the folder, or upload it in parts.`);
      return;
    }
    const total = totalBytes();
    if (total > maxBytes) {
      showError(`That is ${formatBytes(total)}; one upload takes at most ${formatBytes(maxBytes)}. Upload the files in smaller groups.`);
      return;
    }

    const data = new FormData(form);
    data.delete("files");
    const paths = [];
    for (const { file, path } of selected.values()) {
      data.append("files", file, path);
      paths.push(path);
    }
    data.set("paths", JSON.stringify(paths));
    const fileCount = selected.size;
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.responseType = "json";

    xhr.upload.addEventListener("progress", (progressEvent) => {
      if (!progressEvent.lengthComputable) return;
      const percent = (progressEvent.loaded / progressEvent.total) * 100;
      setState("uploading", percent);
      statusText.textContent = `Uploading… ${Math.round(percent)}% (${formatBytes(progressEvent.loaded)} of ${formatBytes(progressEvent.total)})`;
    });
    xhr.upload.addEventListener("load", () => {
      // The bytes are all sent (a full bar); the stylesheet animates it while the server works.
      setState("processing", 100);
      statusText.textContent = `Uploaded. Processing ${fileCount} file${fileCount === 1 ? "" : "s"} on the server (de-identifying, decoding, rendering)…`;
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response && typeof xhr.response === "object" ? xhr.response : {};
      if (xhr.status >= 200 && xhr.status < 300 && body.result_url) {
        setState("done", 100);
        statusText.textContent = "Done. Opening the result…";
        window.removeEventListener("beforeunload", warnBeforeLeaving);
        window.location.assign(body.result_url);
        return;
      }
      finishWithError(body.error || failureMessage(xhr.status));
    });
    xhr.addEventListener("error", () => finishWithError("The connection failed before the upload finished. Nothing from the unfinished part was stored; try again."));
    xhr.addEventListener("abort", () => finishWithError("The upload was cancelled."));

    function finishWithError(message) {
      window.removeEventListener("beforeunload", warnBeforeLeaving);
      setBusy(false);
      setState("error", 0);
      status.hidden = true;
      showError(message);
      errorBox.focus?.();
    }

    window.addEventListener("beforeunload", warnBeforeLeaving);
    setBusy(true);
    setState("uploading", 0);
    statusText.textContent = "Starting upload…";
    xhr.send(data);
  });

  function failureMessage(code) {
    if (code === 413) return "The upload is too large for the server. Upload the files in smaller groups.";
    if (code === 403) return "The server refused the upload: your session may have ended. Reload the page and sign in again.";
    if (code >= 500) return `The server failed while processing the upload (HTTP ${code}). Try again, or tell your administrator.`;
    return `The upload failed (HTTP ${code}).`;
  }

  errorBox.tabIndex = -1;
  render();
}
