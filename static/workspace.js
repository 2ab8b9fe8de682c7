// The agents' workspace (#workspace): the list (#list-pane, kept live by static/inbox.js),
// the open conversation and the contact panel side by side on a wide screen, one at a time
// on a phone (`data-showing` says which).
//
// Opening a conversation from the list (a click, or j/k then Enter) does not leave the page:
// the conversation and its contact panel are fetched alone (`/conversations/{id}?pane=1`, the
// same template the full page includes), swapped in for the old ones (whose `unmount()`s run
// before the new `mount()`s), and the URL names the conversation (history.pushState), so a
// reload, a link or a new tab shows the same page and back/forward switch back. The list's
// view and status stay in the URL's query, carried from page to page: the link then says
// everything, and a second tab keeps its own list.
//
// A pane module (static/conversation.js, static/contact.js) exports mount(root) returning
// unmount(); one that mounts itself on page load keeps that function as `root.kefuUnmount`,
// as the workspace does for the ones it mounts.
import * as conversation from "./conversation.js";
import { localize } from "./dash.js";

const workspace = document.getElementById("workspace");
const list = document.getElementById("conversations");

// the contact panel's script is optional: the workspace works without it
let contact = null;
const contactLoaded = import("./contact.js").then(
  (m) => (contact = m),
  () => null,
);

const CONVERSATION = /^\/conversations\/(\d+)$/;
// the conversation's own query parameters; everything else belongs to the list
const OWN = ["before", "saved", "pane"];

function listQuery() {
  const q = new URLSearchParams(location.search);
  for (const k of OWN) q.delete(k);
  const s = q.toString();
  return s ? `?${s}` : "";
}

function openId() {
  return Number(document.getElementById("pane")?.dataset.conversation) || null;
}

// ---- the open row in the list ----
function markOpenRow() {
  if (!list) return;
  const id = openId();
  for (const a of list.querySelectorAll(".conv-link[aria-current]")) {
    if (a.closest("li.conv")?.id !== `conv-${id}`) a.removeAttribute("aria-current");
  }
  if (id) document.querySelector(`#conv-${id} > .conv-link`)?.setAttribute("aria-current", "true");
}
// rows are replaced as they change live: mark the open one again
if (list) new MutationObserver(markOpenRow).observe(list, { childList: true });

function setViewing(id) {
  document.dispatchEvent(new CustomEvent("kefu:viewing", { detail: { conversation_id: id } }));
  let meta = document.querySelector('meta[name="kefu-conversation"]');
  if (id == null) {
    meta?.remove();
    return;
  }
  if (!meta) {
    meta = document.createElement("meta");
    meta.name = "kefu-conversation";
    document.head.append(meta);
  }
  meta.content = String(id);
}

function unmountPane(pane) {
  for (const el of pane.querySelectorAll("#conversation, #contact")) {
    try {
      el.kefuUnmount?.();
    } catch (e) {
      console.error(e);
    }
    el.kefuUnmount = null;
  }
}

function mountPane(pane, replay) {
  const section = pane.querySelector("#conversation");
  if (section) section.kefuUnmount = conversation.mount(section, replay);
  const aside = pane.querySelector("#contact");
  if (aside && contact?.mount) aside.kefuUnmount = contact.mount(aside);
}

function replacePane(next, replay = []) {
  const old = document.getElementById("pane");
  unmountPane(old);
  localize(next);
  old.replaceWith(next);
  mountPane(next, replay);
  markOpenRow();
}

// ---- switching ----
let loading = null;

async function show(id, { push }) {
  loading?.abort();
  const ctl = new AbortController();
  loading = ctl;
  const url = `/conversations/${id}${listQuery()}`;
  // the live connection sends this conversation's messages from now on; those that come
  // while the pane is on its way are kept for it
  setViewing(id);
  const early = [];
  const keep = (e) => {
    if (e.detail.event?.conversation_id === id && e.detail.html?.message) early.push(e.detail.html.message);
  };
  document.addEventListener("kefu:event", keep);
  let html;
  try {
    const res = await fetch(`/conversations/${id}?pane=1`, {
      credentials: "same-origin",
      signal: ctl.signal,
      headers: { accept: "text/html" },
    });
    if (!res.ok) throw new Error(String(res.status));
    html = await res.text();
  } catch (e) {
    if (ctl.signal.aborted) return;
    // signed out, gone, offline: the full page says what is wrong
    location.href = url;
    return;
  } finally {
    document.removeEventListener("kefu:event", keep);
  }
  if (ctl.signal.aborted) return;
  loading = null;
  const tpl = document.createElement("template");
  tpl.innerHTML = html; // kefu's own server-rendered, escaped pane
  const next = tpl.content.getElementById("pane");
  if (!next) {
    location.href = url;
    return;
  }
  await contactLoaded;
  replacePane(next, early);
  workspace.dataset.showing = "conversation";
  if (push) history.pushState({ conversation: id }, "", url);
  document.dispatchEvent(new CustomEvent("kefu:pane-shown", { detail: { conversation_id: id } }));
}

function showList({ push }) {
  loading?.abort();
  const empty = document.getElementById("pane-empty")?.content.getElementById("pane");
  if (empty && openId() != null) replacePane(empty.cloneNode(true));
  setViewing(null);
  workspace.dataset.showing = "list";
  const url = `/inbox${listQuery()}`;
  if (push) history.pushState({ conversation: null }, "", url);
  markOpenRow();
}

document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest("a[href]");
  if (!a || a.target === "_blank") return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  const m = url.pathname.match(CONVERSATION);
  if (m && !url.searchParams.has("before")) {
    e.preventDefault();
    show(Number(m[1]), { push: true });
  } else if (a.id === "back" && url.pathname === "/inbox") {
    e.preventDefault();
    showList({ push: true });
  }
});

window.addEventListener("popstate", () => {
  const m = location.pathname.match(CONVERSATION);
  if (m) show(Number(m[1]), { push: false });
  else if (location.pathname === "/inbox") showList({ push: false });
});

// ---- the contact panel behind a button (medium widths and phones) ----
document.addEventListener("click", (e) => {
  const toggle = e.target.closest("#contact-toggle, #contact-close");
  if (!toggle) return;
  const pane = document.getElementById("pane");
  const open = toggle.id === "contact-toggle" && !pane.classList.contains("contact-open");
  pane.classList.toggle("contact-open", open);
  document.getElementById("contact-toggle")?.setAttribute("aria-expanded", String(open));
  if (open) document.querySelector("#contact-drawer button, #contact-drawer input")?.focus();
});

// ---- Escape (outside a field) goes back to the list ----
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.target.closest("input, textarea, select, dialog")) return;
  const pane = document.getElementById("pane");
  if (pane?.classList.contains("contact-open")) {
    pane.classList.remove("contact-open");
    return;
  }
  const listShown = list && list.offsetParent !== null;
  if (listShown && openId() != null) {
    // side by side: the list takes the keys (j/k) again, at the open row
    document.querySelector(`#conv-${openId()} > .conv-link`)?.focus();
  } else if (openId() != null) {
    showList({ push: true });
  }
});

workspace.classList.add("scripted");
history.replaceState({ conversation: openId() }, "");
markOpenRow();
