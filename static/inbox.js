// The inbox: rows arrive, move and leave live; counts follow; j/k move between rows.
import { me, parse, localize } from "./dash.js";

const list = document.getElementById("conversations");
const empty = document.getElementById("empty");
const view = list.dataset.view;
const status = list.dataset.status;

function belongs(row) {
  if (status !== "all" && row.dataset.status !== status) return false;
  if (view === "mine") return row.dataset.assignee === String(me);
  if (view === "unassigned") return row.dataset.assignee === "";
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
    if (hadFocus) row.querySelector(".conv-link")?.focus();
  }
  empty.hidden = list.children.length > 0;
}

document.addEventListener("kefu:event", (e) => {
  const row = e.detail.html?.row;
  if (row) upsert(row);
});

// ---- counts on the tabs ----
document.addEventListener("kefu:inbox-counts", (e) => {
  const counts = e.detail;
  const mine = counts.by_assignee.find(([id]) => id === me);
  const values = { mine: mine ? mine[1] : 0, unassigned: counts.unassigned, all: counts.all };
  for (const tab of document.querySelectorAll("#views a[data-view]")) {
    const count = tab.querySelector(".count");
    if (count) count.textContent = values[tab.dataset.view];
  }
});

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
