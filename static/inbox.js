// The conversation list (#list-pane), on /inbox and beside the open conversation: rows arrive,
// move and leave live; the views' counts follow; a deleted label's chips go; rows can be
// selected for a bulk action; j/k move between rows. Does nothing on a page without the pane.
import { me, parse, localize, api } from "./dash.js";

const pane = document.getElementById("list-pane");
const list = document.getElementById("conversations");

if (pane && list && !pane.dataset.mounted) {
  pane.dataset.mounted = "1";
  start();
}

function start() {
  const empty = document.getElementById("empty");
  const view = list.dataset.view;
  const status = list.dataset.status;
  const label = list.dataset.label;
  const channel = list.dataset.channel;

  // Which rows this list shows: the view's rule (as the server's), the status and label filters.
  function belongs(row) {
    const d = row.dataset;
    if (status !== "all" && d.status !== status) return false;
    if (label && !(d.labels || "").includes(` ${label} `)) return false;
    if (channel && d.channel !== channel) return false;
    if (view === "waiting") return d.status === "open" && d.handler === "human" && d.assignee === "";
    if (view === "mine") return d.assignee === String(me) && !d.snoozed;
    if (view === "bot") return d.handler === "bot";
    return true;
  }

  // Newest activity first; a row older than the last one shown belongs to a later page.
  function place(row) {
    const activity = Number(row.dataset.activity);
    const id = Number(row.dataset.id);
    for (const other of list.children) {
      const a = Number(other.dataset.activity);
      if (a < activity || (a === activity && Number(other.dataset.id) < id)) {
        list.insertBefore(row, other);
        return;
      }
    }
    if (!document.getElementById("more")) list.append(row);
  }

  function upsert(html) {
    const row = parse(html);
    if (!row) return;
    localize(row);
    const old = document.getElementById(row.id);
    const hadFocus = old && old.contains(document.activeElement);
    old?.remove();
    if (belongs(row)) {
      place(row);
      const box = row.querySelector(".conv-select");
      if (box) box.checked = selected.has(row.dataset.id);
      if (hadFocus) row.querySelector(".conv-link")?.focus();
    } else {
      selected.delete(row.dataset.id);
    }
    empty.hidden = list.children.length > 0;
    showSelection();
  }

  document.addEventListener("kefu:event", (e) => {
    const { event, html } = e.detail;
    if (html?.row) upsert(html.row);
    if (event.kind === "label_deleted") dropLabel(event.label_id);
  });

  // ---- a deleted label: its chips and choices go; a list filtered by it empties ----
  function dropLabel(id) {
    for (const el of pane.querySelectorAll(`[data-label-id="${Number(id)}"]`)) el.remove();
    for (const row of list.querySelectorAll("li.conv")) {
      row.dataset.labels = (row.dataset.labels || " ").replace(` ${Number(id)} `, " ");
      if (!belongs(row)) row.remove();
    }
    empty.hidden = list.children.length > 0;
  }

  // ---- counts on the views ----
  document.addEventListener("kefu:inbox-counts", (e) => {
    const counts = e.detail;
    const mine = counts.by_assignee.find(([id]) => id === me);
    const values = {
      waiting: counts.waiting ?? 0,
      mine: mine ? mine[1] : 0,
      bot: counts.bot ?? 0,
      all: counts.all,
    };
    for (const tab of pane.querySelectorAll("#views a[data-view]")) {
      const count = tab.querySelector(".count");
      if (count && tab.dataset.view in values) count.textContent = values[tab.dataset.view];
    }
  });

  // ---- the label filter: choosing applies it ----
  const filter = document.getElementById("label-filter");
  if (filter) {
    document.getElementById("label-filter-go").hidden = true;
    filter.querySelector("select").addEventListener("change", () => filter.requestSubmit());
  }

  // ---- who is online ----
  const online = new Map();
  const onlineList = document.getElementById("online-list");
  function showOnline() {
    if (!onlineList) return;
    onlineList.textContent = [...online.values()].join(", ");
  }
  document.addEventListener("kefu:presence", (e) => {
    online.clear();
    for (const s of e.detail.online) online.set(s.id, s.name);
    showOnline();
  });
  document.addEventListener("kefu:event", (e) => {
    const { event } = e.detail;
    if (event.kind !== "staff_presence") return;
    if (event.online) online.set(event.staff.id, event.staff.name);
    else online.delete(event.staff.id);
    showOnline();
  });

  // ---- older rows without leaving the page ----
  document.addEventListener("click", async (e) => {
    const more = e.target.closest("#more");
    if (!more) return;
    e.preventDefault();
    const res = await fetch(more.href, { credentials: "same-origin" });
    if (!res.ok) {
      location.href = more.href;
      return;
    }
    const page = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const row of page.querySelectorAll("#conversations > li.conv")) {
      if (!document.getElementById(row.id)) list.append(document.adoptNode(row));
    }
    localize(list);
    const next = page.getElementById("more");
    if (next) more.href = next.href;
    else more.closest("p")?.remove();
  });

  // ---- selection and bulk actions ----
  const selected = new Set();
  const selectAll = document.getElementById("select-all");
  const tools = document.getElementById("bulk-tools");
  const countLabel = document.getElementById("bulk-count");
  const result = document.getElementById("bulk-result");

  function showSelection() {
    if (!tools) return;
    tools.hidden = selected.size === 0;
    countLabel.textContent = countLabel.dataset.template.replace("{n}", selected.size);
    const boxes = list.querySelectorAll(".conv-select");
    selectAll.checked = boxes.length > 0 && [...boxes].every((b) => b.checked);
    selectAll.indeterminate = selected.size > 0 && !selectAll.checked;
  }

  list.addEventListener("change", (e) => {
    const box = e.target.closest(".conv-select");
    if (!box) return;
    if (box.checked) selected.add(box.value);
    else selected.delete(box.value);
    showSelection();
  });
  selectAll?.addEventListener("change", () => {
    for (const box of list.querySelectorAll(".conv-select")) {
      box.checked = selectAll.checked;
      if (box.checked) selected.add(box.value);
      else selected.delete(box.value);
    }
    showSelection();
  });

  function clearSelection() {
    selected.clear();
    for (const box of list.querySelectorAll(".conv-select")) box.checked = false;
    showSelection();
  }
  document.getElementById("bulk-clear")?.addEventListener("click", clearSelection);

  // "12 resolved, 1 refused: …" (each refusal's sentence, once each)
  function report(kind, outcome) {
    const parts = [result.dataset[kind].replace("{n}", outcome.done)];
    if (outcome.refused > 0) {
      const reasons = [...new Set(outcome.results.filter((r) => !r.ok).map((r) => `#${r.id} ${r.error.message}`))];
      parts.push(result.dataset.refused.replace("{n}", outcome.refused).replace("{reasons}", reasons.join("; ")));
    }
    result.textContent = parts.join(", ");
    result.hidden = false;
  }

  async function bulk(kind, body) {
    if (selected.size === 0) return;
    const ids = [...selected].map(Number);
    for (const b of tools.querySelectorAll("button, select")) b.disabled = true;
    try {
      const outcome = await api("POST", "/api/v1/conversations/bulk", { ids, ...body });
      report(kind, outcome);
      clearSelection();
    } catch (err) {
      result.textContent = err.message;
      result.hidden = false;
    } finally {
      for (const b of tools.querySelectorAll("button, select")) b.disabled = false;
    }
  }

  document.getElementById("bulk-assign")?.addEventListener("click", () => {
    const to = document.getElementById("bulk-assignee").value;
    const assignee = to === "me" ? me : to === "" ? null : Number(to);
    bulk("assigned", { action: "assign", assignee });
  });
  document.getElementById("bulk-label")?.addEventListener("change", (e) => {
    const name = e.target.value;
    if (!name) return;
    e.target.value = "";
    bulk("labelled", { action: "label", label: name });
  });
  document.getElementById("bulk-resolve")?.addEventListener("click", () => bulk("resolved", { action: "resolve" }));

  // ---- keyboard: j / k move, Enter opens (the focused link) ----
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key !== "j" && e.key !== "k") return;
    const links = [...list.querySelectorAll(".conv-link")];
    if (links.length === 0) return;
    const at = links.indexOf(document.activeElement);
    const next = e.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[at === -1 ? 0 : next].focus();
    e.preventDefault();
  });
}
