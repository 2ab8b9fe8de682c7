// The contact panel (<aside id="contact">): this conversation's labels and snooze, and the
// customer's earlier conversations opened in place. `mount(root)` wires one panel and returns
// its `unmount()`; the panel mounts itself on page load. A page that swaps conversations
// without loading calls the old panel's unmount() and mount() on the new one.
//
// The panel follows changes live: when a row event of its conversation shows other labels, a
// snooze or a status than the panel's, it fetches its "this conversation" section again
// (`GET /conversations/{id}/contact`). Customer text only ever arrives as kefu's own escaped
// HTML fragments; the script sets no customer text as HTML.
import { parse, localize, api } from "./dash.js";

const HOUR = 3600 * 1000;

// The next 9:00 in the browser's time zone, `days` from today (1: tomorrow).
function nineOClock(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  d.setHours(9, 0, 0, 0);
  return d;
}

// Next Monday 9:00 (a week on, when today is Monday).
function nextMonday() {
  const day = new Date().getDay(); // 0 Sunday … 6 Saturday
  return nineOClock(((8 - day) % 7) || 7);
}

export function mount(root) {
  if (!root) return () => {};
  const id = Number(root.dataset.conversation);
  const aborts = new AbortController();
  const on = (target, type, handler) => target.addEventListener(type, handler, { signal: aborts.signal });
  const section = () => root.querySelector("#this-conversation");

  function showError(err) {
    const el = root.querySelector("#conv-tools-error");
    if (!el) return;
    el.textContent = err ? err.message || String(err) : "";
    el.hidden = !err;
  }

  // the section as the server renders it now
  let refreshing = null;
  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const res = await fetch(`/conversations/${id}/contact`, { credentials: "same-origin" });
        if (!res.ok) return;
        const page = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = page.getElementById("this-conversation");
        const old = section();
        if (fresh && old) {
          localize(fresh);
          old.replaceWith(document.adoptNode(fresh));
        }
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  const labelNames = () => [...section().querySelectorAll("#conv-labels > li.chip")].map((li) => li.dataset.name);

  async function setLabels(names) {
    showError(null);
    try {
      await api("PUT", `/api/v1/conversations/${id}/labels`, { labels: names });
      await refresh();
    } catch (err) {
      showError(err);
    }
  }

  async function snooze(until) {
    showError(null);
    try {
      await api("POST", `/api/v1/conversations/${id}/snooze`, { until: until.toISOString() });
      await refresh();
    } catch (err) {
      showError(err);
    }
  }

  on(root, "click", async (e) => {
    const remove = e.target.closest(".chip-remove");
    if (remove && root.contains(remove)) {
      const name = remove.closest("li.chip").dataset.name;
      await setLabels(labelNames().filter((n) => n !== name));
      return;
    }
    const when = e.target.closest("[data-snooze]");
    if (when) {
      const kind = when.dataset.snooze;
      let until = null;
      if (kind === "hour") until = new Date(Date.now() + HOUR);
      else if (kind === "tomorrow") until = nineOClock(1);
      else if (kind === "monday") until = nextMonday();
      else if (kind === "custom") {
        const value = root.querySelector("#snooze-at")?.value;
        // datetime-local has no zone: the browser reads it as local time
        if (value) until = new Date(value);
      }
      if (until && !Number.isNaN(until.getTime())) await snooze(until);
      return;
    }
    if (e.target.closest("#snooze-wake")) {
      showError(null);
      try {
        await api("POST", `/api/v1/conversations/${id}/status`, { status: "open" });
        await refresh();
      } catch (err) {
        showError(err);
      }
      return;
    }
    const link = e.target.closest(".history-link");
    if (link) {
      e.preventDefault();
      await toggleTranscript(link);
    }
  });

  on(root, "change", async (e) => {
    if (e.target.id !== "add-label") return;
    const name = e.target.value;
    if (!name) return;
    e.target.value = "";
    const names = labelNames();
    if (!names.includes(name)) await setLabels([...names, name]);
  });

  // ---- an earlier conversation, read in place ----
  async function toggleTranscript(link) {
    const box = root.querySelector(`#history-transcript-${Number(link.dataset.id)}`);
    if (!box) return;
    const open = link.getAttribute("aria-expanded") === "true";
    if (open) {
      box.hidden = true;
      link.setAttribute("aria-expanded", "false");
      return;
    }
    if (!box.firstElementChild) {
      const res = await fetch(`${link.getAttribute("href")}?part=1`, { credentials: "same-origin" });
      if (!res.ok) {
        location.href = link.href;
        return;
      }
      const part = parse(await res.text());
      if (!part) return;
      localize(part);
      box.append(part);
    }
    box.hidden = false;
    link.setAttribute("aria-expanded", "true");
  }

  // ---- live ----
  on(document, "kefu:event", (e) => {
    const { event, html } = e.detail;
    if (event.kind === "label_deleted") {
      for (const el of root.querySelectorAll(`[data-label-id="${Number(event.label_id)}"]`)) el.remove();
      return;
    }
    if (event.conversation_id !== id || !html?.row) return;
    const row = parse(html.row);
    const here = section()?.dataset;
    if (!row || !here) return;
    const d = row.dataset;
    if (d.labels !== here.labels || d.snoozed !== here.snoozed || d.status !== here.status) refresh();
  });

  return () => aborts.abort();
}

// on a page that has the panel, it mounts itself
const panel = document.getElementById("contact");
if (panel && !panel.dataset.mounted) {
  panel.dataset.mounted = "1";
  mount(panel);
}
