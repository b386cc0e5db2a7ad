// Small progressive enhancements; every page works without them.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.innerText || source.value || "").then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// --- Bulk selection on the action queue: the count, "select this page", "all matching". ---
function bulkRefresh() {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const boxes = document.querySelectorAll('input[name="ids"][form="bulk-form"]');
  const chosen = Array.from(boxes).filter((b) => b.checked).length;
  const all = form.querySelector("[data-bulk-all]");
  const label = form.querySelector("[data-bulk-count]");
  if (all && all.checked) label.textContent = "All matching selected";
  else label.textContent = chosen ? `${chosen} selected` : "None selected";
  const page = document.querySelector("[data-select-page]");
  if (page) page.checked = boxes.length > 0 && chosen === boxes.length;
}
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("[data-select-page]")) {
    document.querySelectorAll('input[name="ids"][form="bulk-form"]').forEach((b) => { b.checked = target.checked; });
  }
  if (target.matches("[data-select-page], [data-bulk-all], input[name=ids]")) {
    event.stopPropagation();  // not a filter change: the queue's filter form must not refetch
    bulkRefresh();
  }
}, true);
document.addEventListener("htmx:afterSettle", bulkRefresh);
document.addEventListener("submit", (event) => {
  // A bulk change with nothing selected would only be refused: say so before sending.
  const form = event.target;
  if (form.id !== "bulk-form") return;
  const chosen = document.querySelectorAll('input[name="ids"][form="bulk-form"]:checked').length;
  const all = form.querySelector("[data-bulk-all]");
  if (!chosen && !(all && all.checked)) {
    event.preventDefault();
    form.querySelector("[data-bulk-count]").textContent = "Select actions first (x, or the boxes)";
  }
}, true);

// --- Keyboard: / search, j/k rows, Enter work panel, a assign to me, e done, x select, ? keys ---
// The id of a row being swapped (opened, closed, worked): between the swap and htmx's settle the
// new row is in the page but not yet marked current, and a fast j/k must count from it.
let swappingRow = null;
// A command key (Enter, a, e, x) pressed on a row that htmx has put in the page but not yet
// processed: its buttons and forms have no htmx behaviour for ~20 ms (htmx binds new content at
// settle), so a click then would submit the panel's form as a plain POST and leave the queue for
// the action's own page. The key waits for the row's htmx:load, then runs on the new row.
let pendingKey = null;
function queueRows() {
  return Array.from(document.querySelectorAll("[data-keyboard-list] tbody[data-action-row]"));
}
function currentRow() {
  return document.querySelector("[data-keyboard-list] tbody.is-current");
}
function focusRow(row) {
  if (!row) return;
  queueRows().forEach((r) => r.classList.remove("is-current"));
  row.classList.add("is-current");
  const toggle = row.querySelector("[data-row-toggle]");
  if (toggle) toggle.focus({ preventScroll: true });
  row.scrollIntoView({ block: "nearest" });
}
function rowCommand(row, quick) {
  // The panel's button when it is open, else the same POST the button sends.
  const selector = quick === "me" ? 'button[name=quick][value=me]' : 'button[name=quick][value=done]';
  const button = row.querySelector(selector);
  if (button) { if (!button.disabled) button.click(); return; }
  if (!window.htmx || !row.dataset.workUrl) return;
  htmx.ajax("POST", row.dataset.workUrl, { source: row, target: row, swap: "outerHTML", values: { quick } });
}
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const el = event.target;
  const typing = el.closest && el.closest("input, textarea, select, [contenteditable]");
  if (event.key === "Escape" && typing) { event.preventDefault(); el.blur(); return; }  // keep the text
  if (typing) return;
  const help = document.getElementById("keys-help");
  if (event.key === "?" && help) {
    event.preventDefault();
    if (help.open) help.close(); else help.showModal();
    return;
  }
  if (event.key === "/") {
    const search = document.querySelector('main input[type="search"]');
    if (search) { event.preventDefault(); search.focus(); search.select(); }
    return;
  }
  const rows = queueRows();
  if (!rows.length) return;
  const row = currentRow() || (swappingRow && document.getElementById(swappingRow))
    || (el.closest && el.closest("tbody[data-action-row]"));
  const index = row ? rows.indexOf(row) : -1;
  if (row && row.id === swappingRow && ["Enter", "a", "e", "x"].includes(event.key)
      && !(event.key === "Enter" && el.closest("a, button"))) {
    event.preventDefault();
    pendingKey = { id: row.id, key: event.key };
    return;
  }
  // A move wins over a swap still settling: the settle must not pull the cursor back.
  if (event.key === "j") { event.preventDefault(); swappingRow = null; focusRow(rows[Math.min(index + 1, rows.length - 1)]); }
  else if (event.key === "k") { event.preventDefault(); swappingRow = null; focusRow(rows[Math.max(index - 1, 0)]); }
  else if (row && !(event.key === "Enter" && el.closest("a, button")) && runKey(row, event.key)) {
    event.preventDefault();
  }
});
function runKey(row, key) {
  // The row commands; true when `key` is one of them and it did something.
  if (key === "Enter") {
    const toggle = row.querySelector("[data-row-toggle]");
    if (toggle) toggle.click();
    return true;
  }
  if (key === "a") { rowCommand(row, "me"); return true; }
  if (key === "e") { rowCommand(row, "done"); return true; }
  if (key === "x") {
    const box = row.querySelector('input[name="ids"]');
    if (box) { box.checked = !box.checked; bulkRefresh(); return true; }
  }
  return false;
}
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-keys-help]")) {
    const help = document.getElementById("keys-help");
    if (help) help.showModal();
  }
  // A click on a row makes it the current one for j/k.
  const row = event.target.closest && event.target.closest("[data-keyboard-list] tbody[data-action-row]");
  if (row) { queueRows().forEach((r) => r.classList.remove("is-current")); row.classList.add("is-current"); }
});
// After a row is swapped (opened, closed, worked), keep it current and focused. The old row is
// detached by then, so remember its id before the swap and pick the new one up as it loads.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  // Only a swap that happens: a refused answer (4xx) leaves the old, working row in place.
  swappingRow = event.detail.shouldSwap && target && target.matches
    && target.matches("tbody[data-action-row]") ? target.id : null;
});
document.addEventListener("htmx:load", (event) => {
  const elt = event.detail.elt;
  if (swappingRow && elt && elt.id === swappingRow) { swappingRow = null; focusRow(elt); }
  if (pendingKey && elt && elt.id === pendingKey.id) {
    const key = pendingKey.key;
    pendingKey = null;
    runKey(elt, key);
  }
});

// --- A chip sets its filter in the page's filter form, so the form (and the URL) hold every
// filter: a later search keeps the chip's choice. Without JavaScript the chip is a plain link. ---
document.addEventListener("click", (event) => {
  const chip = event.target.closest("[data-set-filter]");
  if (!chip || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const holder = chip.closest("[data-filter-form]");
  const form = holder && document.getElementById(holder.dataset.filterForm);
  const field = form && form.elements[chip.dataset.setFilter];
  if (!field) return;
  event.preventDefault();
  field.value = chip.dataset.value;
  field.dispatchEvent(new Event("change", { bubbles: true }));
});
