// One conversation: messages and its state arrive live; the reply box, assignment, status,
// retries, older messages, canned replies and mini program links.
import { me, parse, localize, api } from "./dash.js";

const id = Number(document.querySelector('meta[name="kefu-conversation"]').content);
const messages = document.getElementById("messages");
const noMessages = document.getElementById("no-messages");
const form = document.getElementById("reply");
const text = document.getElementById("reply-text");
const send = document.getElementById("send");
const noteToggle = document.getElementById("note-toggle");
const blocked = document.getElementById("reply-blocked");
const replyError = document.getElementById("reply-error");
const actionError = document.getElementById("action-error");
const windowLabel = document.getElementById("reply-window");
const assignTo = document.getElementById("assign-to");

function nearBottom() {
  return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
}

function showError(el, err) {
  el.textContent = err ? err.message || String(err) : "";
  el.hidden = !err;
}

// ---- messages ----
function upsertMessage(html) {
  const li = parse(html);
  if (!li) return;
  localize(li);
  const old = document.getElementById(li.id);
  if (old) {
    old.replaceWith(li);
    return;
  }
  const follow = nearBottom();
  const newId = Number(li.dataset.id);
  const after = [...messages.children].find((m) => Number(m.dataset.id) > newId);
  messages.insertBefore(li, after || null);
  noMessages.hidden = true;
  if (follow) li.scrollIntoView({ block: "end" });
}

function state() {
  return document.getElementById("conv-state").dataset;
}

function applyState(html) {
  const next = parse(html);
  if (!next) return;
  document.getElementById("conv-state").replaceWith(next);
  assignTo.value = next.dataset.assignee;
  document.getElementById("hand-to-bot").disabled = next.dataset.handler === "bot";
  updateReplyBox();
}

let markingRead = false;
async function markRead() {
  if (markingRead || document.hidden) return;
  markingRead = true;
  try {
    await api("POST", `/api/v1/conversations/${id}/read`);
  } catch {
    // the count stays until the next visit: harmless
  } finally {
    markingRead = false;
  }
}

document.addEventListener("kefu:event", (e) => {
  const { event, html } = e.detail;
  if (event.conversation_id !== id) return;
  if (html?.message) upsertMessage(html.message);
  if (html?.state) applyState(html.state);
  if (event.kind === "message_added" && html?.row && parse(html.row).dataset.unread !== "0") markRead();
  if (event.kind === "conversation_presence") showCollision(event.viewing, event.typing);
});
document.addEventListener("visibilitychange", () => markRead());

// ---- who else is here ----
const collision = document.getElementById("collision");
function showCollision(viewing, typing) {
  const others = (list) => list.filter((s) => s.id !== me).map((s) => s.name);
  const v = others(viewing);
  const t = others(typing);
  const parts = [];
  if (t.length) parts.push(`${collision.dataset.typing} ${t.join(", ")}`);
  if (v.length) parts.push(`${collision.dataset.viewing} ${v.join(", ")}`);
  collision.textContent = parts.join(" · ");
  collision.hidden = parts.length === 0;
}
document.addEventListener("kefu:presence", (e) => {
  const here = e.detail.conversations.find((c) => c.conversation_id === id);
  showCollision(here?.viewing || [], here?.typing || []);
});

// ---- the reply box: open while WeChat allows replies; notes always ----
function remaining(ms) {
  const minutes = Math.max(1, Math.floor(ms / 60000));
  const h = Math.floor(minutes / 60);
  return h > 0 ? `${h}h ${minutes % 60}m` : `${minutes}m`;
}

function updateReplyBox() {
  const note = noteToggle.checked;
  const ends = Number(state().windowEnds || 0);
  const left = Number(state().repliesLeft || 0);
  const now = Date.now();
  let reason = "";
  if (ends <= now) reason = form.dataset.closed;
  else if (left <= 0) reason = form.dataset.quota;
  blocked.textContent = reason;
  blocked.hidden = note || !reason;
  const closed = !note && reason !== "";
  text.disabled = closed;
  send.disabled = closed;
  document.getElementById("reply-image").disabled = note || closed;
  document.getElementById("mp-link-open").disabled = note || closed;
  windowLabel.textContent = !reason && !note ? `⏱ ${remaining(ends - now)}` : "";
  text.placeholder = note ? text.dataset.notePlaceholder : text.dataset.replyPlaceholder;
  send.textContent = note ? send.dataset.note : send.dataset.send;
  form.classList.toggle("as-note", note);
}
noteToggle.addEventListener("change", updateReplyBox);
setInterval(updateReplyBox, 15000);
updateReplyBox();

async function submitReply() {
  const body = text.value;
  if (body.trim() === "") return;
  send.disabled = true;
  try {
    await api("POST", `/api/v1/conversations/${id}/messages`, {
      type: noteToggle.checked ? "note" : "text",
      content: { text: body },
    });
    text.value = "";
    showError(replyError, null);
  } catch (err) {
    showError(replyError, err);
  } finally {
    updateReplyBox();
    text.focus();
  }
}
form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!picker.hidden && pick()) return;
  submitReply();
});
text.addEventListener("keydown", (e) => {
  if (!picker.hidden && navigatePicker(e)) return;
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    submitReply();
  }
});
text.addEventListener("input", () => {
  if (!noteToggle.checked && text.value) {
    document.dispatchEvent(new CustomEvent("kefu:typing", { detail: { conversation_id: id } }));
  }
  showPicker();
});

document.getElementById("reply-image").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  const data = new FormData();
  data.append("type", "image");
  data.append("file", file);
  try {
    await api("POST", `/api/v1/conversations/${id}/messages`, data);
    showError(replyError, null);
  } catch (err) {
    showError(replyError, err);
  }
  e.target.value = "";
});

// ---- a text link into the mini program ----
const dialog = document.getElementById("mp-link");
document.getElementById("mp-link-open").addEventListener("click", () => dialog.showModal());
dialog.addEventListener("close", () => {
  const f = document.getElementById("mp-link-form");
  if (dialog.returnValue === "insert") {
    const clean = (s) => s.replace(/["<>]/g, "").trim();
    const link = `<a href="http://www.qq.com" data-miniprogram-appid="${clean(f.appid.value)}" data-miniprogram-path="${clean(f.path.value)}">${clean(f.text.value)}</a>`;
    const at = text.selectionStart ?? text.value.length;
    text.value = text.value.slice(0, at) + link + text.value.slice(text.selectionEnd ?? at);
    text.focus();
  }
  f.text.value = "";
  f.path.value = "";
});

// ---- canned replies, picked by typing / ----
const picker = document.getElementById("canned-picker");
let canned = null;
let choice = 0;
async function loadCanned() {
  if (canned) return canned;
  try {
    canned = (await api("GET", "/api/v1/canned-replies")).canned_replies;
  } catch {
    canned = [];
  }
  return canned;
}
function slashQuery() {
  const upto = text.value.slice(0, text.selectionStart);
  const m = upto.match(/(?:^|\s)\/(\S*)$/);
  return m ? m[1].toLowerCase() : null;
}
async function showPicker() {
  const q = slashQuery();
  if (q === null) {
    picker.hidden = true;
    return;
  }
  const all = await loadCanned();
  const found = all
    .filter((c) => c.shortcut.toLowerCase().startsWith(q) || c.body.toLowerCase().includes(q))
    .slice(0, 8);
  picker.replaceChildren(
    ...found.map((c, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.index = i;
      const key = document.createElement("strong");
      key.textContent = `/${c.shortcut}`;
      li.append(key, ` ${c.body}`);
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        choice = i;
        pick();
      });
      return li;
    }),
  );
  picker.found = found;
  choice = 0;
  markChoice();
  picker.hidden = found.length === 0;
}
function markChoice() {
  [...picker.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === choice)));
}
function navigatePicker(e) {
  const n = picker.found?.length || 0;
  if (e.key === "ArrowDown") choice = (choice + 1) % n;
  else if (e.key === "ArrowUp") choice = (choice + n - 1) % n;
  else if (e.key === "Escape") picker.hidden = true;
  else if (e.key === "Enter" || e.key === "Tab") return e.preventDefault(), pick();
  else return false;
  e.preventDefault();
  markChoice();
  return true;
}
function pick() {
  const c = picker.found?.[choice];
  picker.hidden = true;
  if (!c) return false;
  const at = text.selectionStart;
  const upto = text.value.slice(0, at).replace(/\/\S*$/, "");
  text.value = upto + c.body + text.value.slice(at);
  const caret = upto.length + c.body.length;
  text.setSelectionRange(caret, caret);
  text.focus();
  return true;
}

// ---- assignment and status ----
async function act(path, body) {
  try {
    await api("POST", `/api/v1/conversations/${id}/${path}`, body);
    showError(actionError, null);
  } catch (err) {
    showError(actionError, err);
    assignTo.value = state().assignee;
  }
}
document.getElementById("assign-me").addEventListener("click", () => act("assign", { assignee: me }));
document.getElementById("unassign").addEventListener("click", () => act("assign", { assignee: null }));
document.getElementById("hand-to-bot").addEventListener("click", () => act("handler", { handler: "bot" }));
assignTo.addEventListener("change", () =>
  act("assign", { assignee: assignTo.value === "" ? null : Number(assignTo.value) }),
);
for (const b of document.querySelectorAll(".set-status")) {
  b.addEventListener("click", () => act("status", { status: b.dataset.status }));
}

// ---- retry a failed message ----
messages.addEventListener("click", async (e) => {
  const retry = e.target.closest("button.retry");
  if (!retry) return;
  retry.disabled = true;
  try {
    await api("POST", `/api/v1/messages/${retry.dataset.id}/retry`);
    showError(actionError, null);
  } catch (err) {
    showError(actionError, err);
    retry.disabled = false;
  }
});

// ---- older messages, loaded when scrolled to the top ----
let loadingOlder = false;
async function loadOlder() {
  const older = document.getElementById("older");
  if (!older || loadingOlder) return;
  loadingOlder = true;
  try {
    const res = await fetch(older.href, { credentials: "same-origin" });
    if (!res.ok) return;
    const page = new DOMParser().parseFromString(await res.text(), "text/html");
    const height = document.body.scrollHeight;
    const first = messages.firstElementChild;
    for (const li of page.querySelectorAll("#messages > li.msg")) {
      if (!document.getElementById(li.id)) messages.insertBefore(document.adoptNode(li), first);
    }
    localize(messages);
    window.scrollBy(0, document.body.scrollHeight - height);
    const next = page.getElementById("older");
    if (next) older.href = next.href;
    else older.closest("p")?.remove();
  } finally {
    loadingOlder = false;
  }
}
const olderLink = document.getElementById("older");
if (olderLink) {
  olderLink.addEventListener("click", (e) => {
    e.preventDefault();
    loadOlder();
  });
  new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting)) loadOlder();
  }).observe(olderLink);
}

// ---- keyboard: Escape (outside the reply box) goes back to the inbox ----
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !e.target.closest("input, textarea, select, dialog")) {
    location.href = "/inbox";
  }
});

// the newest message in view
messages.lastElementChild?.scrollIntoView({ block: "end" });
