// One conversation pane (#conversation): messages and its state arrive live; the reply box,
// assignment, status, retries, older messages, canned replies and mini program links; on an
// Official Account's conversation, its link card and menu.
//
// mount(root) starts it on a #conversation element and returns unmount(), which removes
// every listener, timer and observer it made; the workspace (static/workspace.js) calls them
// when it swaps conversations without a page load. On a page load the module mounts itself on
// the #conversation it finds and keeps the unmount function as `root.kefuUnmount`.
//
// The messages scroll in their own region above the reply box, so the box never covers them.
// The newest message is in view on opening; a live one scrolls into view when the agent is at
// the bottom, and otherwise a "new messages" button says it came.
import { me, parse, localize, api } from "./dash.js";

// How close to the bottom (px) still counts as "at the bottom".
const NEAR_BOTTOM = 48;

export function mount(root, replay = []) {
  const id = Number(root.dataset.conversation);
  const off = new AbortController();
  const signal = off.signal;
  const timers = [];
  const observers = [];
  const $ = (sel) => root.querySelector(sel);

  const scroller = $("#messages-scroll");
  const messages = $("#messages");
  const noMessages = $("#no-messages");
  const pill = $("#new-messages");
  const form = $("#reply");
  const text = $("#reply-text");
  const send = $("#send");
  const noteToggle = $("#note-toggle");
  const blocked = $("#reply-blocked");
  const unavailable = $("#reply-unavailable");
  const replyError = $("#reply-error");
  const actionError = $("#action-error");
  const actions = $("#conv-actions");
  const assignTo = $("#assign-to");
  const canSend = form.dataset.canSend === "true";
  const isAdmin = actions.dataset.admin === "true";

  function showError(el, err) {
    el.textContent = err ? err.message || String(err) : "";
    el.hidden = !err;
  }

  // ---- the messages' own scrolling region ----
  let pinned = true; // at the bottom: new messages and growing images keep it there
  const atBottom = () =>
    scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= NEAR_BOTTOM;
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    pinned = true;
    pill.hidden = true;
  }
  scroller.addEventListener(
    "scroll",
    () => {
      pinned = atBottom();
      if (pinned) pill.hidden = true;
    },
    { signal },
  );
  pill.addEventListener("click", toBottom, { signal });
  // images load, the reply box grows, the window turns: stay at the bottom if there
  const resized = new ResizeObserver(() => {
    if (pinned) scroller.scrollTop = scroller.scrollHeight;
  });
  resized.observe(messages);
  resized.observe(scroller);
  observers.push(resized);

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
    // where the agent is now (a scroll event may not have told `pinned` yet)
    const follow = atBottom();
    pinned = follow;
    const newId = Number(li.dataset.id);
    const after = [...messages.children].find((m) => Number(m.dataset.id) > newId);
    messages.insertBefore(li, after || null);
    noMessages.hidden = true;
    if (follow) toBottom();
    else if (li.dataset.direction === "in") pill.hidden = false;
  }

  // A message of this conversation announced without its HTML (the live connection did not
  // know yet that this pane views it): read the pane again and add what is missing.
  let refreshing = false;
  async function refreshMessages() {
    if (refreshing) return;
    refreshing = true;
    try {
      const res = await fetch(`/conversations/${id}?pane=1`, { credentials: "same-origin", signal });
      if (!res.ok) return;
      const page = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const li of page.querySelectorAll("#messages > li.msg")) {
        if (!document.getElementById(li.id)) upsertMessage(li.outerHTML);
      }
    } catch {
      // unmounted, or offline: the next event or visit shows it
    } finally {
      refreshing = false;
    }
  }

  function state() {
    return $("#conv-state").dataset;
  }

  function applyState(html) {
    const next = parse(html);
    if (!next) return;
    localize(next);
    $("#conv-state").replaceWith(next);
    assignTo.value = next.dataset.assignee;
    updateControls();
    updateReplyBox();
  }

  // ---- what the viewer may do (the rules of services::conversations) ----
  function disable(el, why) {
    el.disabled = why !== "";
    if (why) el.title = why;
    else el.removeAttribute("title");
  }
  function updateControls() {
    const s = state();
    const mine = s.assignee === String(me);
    const mayTake = isAdmin || s.assignee === "" || mine;
    for (const sel of ["#assign-me", "#assign-to-label", "#unassign", "#hand-to-bot"]) {
      $(sel).hidden = !mayTake;
    }
    const locked = $("#assign-locked");
    locked.hidden = mayTake;
    locked.textContent = mayTake ? "" : actions.dataset.locked.replace("{name}", s.assigneeName || "");
    disable($("#assign-me"), mine ? actions.dataset.alreadyYours : "");
    disable($("#unassign"), s.assignee === "" ? actions.dataset.nobodyAssigned : "");
    disable($("#hand-to-bot"), s.handler === "bot" ? actions.dataset.botHandles : "");
    for (const b of root.querySelectorAll(".set-status")) {
      b.setAttribute("aria-pressed", String(b.dataset.status === s.status));
    }
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

  // ---- the same customer wrote again after this conversation ended: a new one started ----
  const openid = state().openid;
  function newerConversation(event, html) {
    if (!html?.state || event.conversation_id <= id) return;
    const other = parse(html.state);
    if (!other || other.dataset.openid !== openid) return;
    const query = new URLSearchParams(location.search);
    for (const own of ["before", "saved", "pane"]) query.delete(own);
    const rest = query.toString();
    $("#newer-link").href = `/conversations/${event.conversation_id}${rest ? `?${rest}` : ""}`;
    $("#newer-conversation").hidden = false;
    updateReplyBox();
  }

  function onEvent(detail) {
    const { event, html } = detail;
    if (event.conversation_id !== id) {
      if (event.kind === "message_added" || event.kind === "conversation_changed") {
        newerConversation(event, html);
      }
      return;
    }
    if (html?.message) upsertMessage(html.message);
    else if (event.kind === "message_added" && !document.getElementById(`msg-${event.message_id}`)) {
      refreshMessages();
    }
    if (html?.state) applyState(html.state);
    if (event.kind === "message_added" && html?.row && parse(html.row).dataset.unread !== "0") markRead();
    if (event.kind === "conversation_presence") showCollision(event.viewing, event.typing);
  }
  document.addEventListener("kefu:event", (e) => onEvent(e.detail), { signal });
  document.addEventListener("visibilitychange", () => markRead(), { signal });

  // ---- who else is here ----
  const collision = $("#collision");
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
  document.addEventListener(
    "kefu:presence",
    (e) => {
      const here = e.detail.conversations.find((c) => c.conversation_id === id);
      showCollision(here?.viewing || [], here?.typing || []);
    },
    { signal },
  );

  // ---- the reply box: open while kefu can send and WeChat allows replies; notes always ----
  function timeLeft(ms) {
    const minutes = Math.max(1, Math.floor(ms / 60000));
    return minutes >= 60
      ? `${Math.floor(minutes / 60)} ${form.dataset.hours}`
      : `${minutes} ${form.dataset.minutes}`;
  }

  function updateReplyBox() {
    const note = noteToggle.checked;
    const ends = Number(state().windowEnds || 0);
    const left = Number(state().repliesLeft || 0);
    const now = Date.now();
    let reason = "";
    let label;
    if (ends <= now) {
      reason = form.dataset.closed;
      label = form.dataset.windowClosed;
    } else if (left <= 0) {
      reason = form.dataset.quota;
      label = form.dataset.quotaSpent;
    } else {
      label = `${form.dataset.timeLeft.replace("{time}", timeLeft(ends - now))} · ${form.dataset.repliesLeft.replace("{n}", left)}`;
    }
    // the customer wrote again, in a newer conversation: the reply goes there
    if (!$("#newer-conversation").hidden) reason = form.dataset.newer;
    const windowLabel = $("#conv-window");
    if (windowLabel) {
      windowLabel.textContent = label;
      windowLabel.classList.toggle("closed", reason !== "");
    }
    const why = canSend ? reason : unavailable.textContent;
    unavailable.hidden = note || canSend;
    blocked.textContent = reason;
    blocked.hidden = note || !canSend || !reason;
    const closed = !note && why !== "";
    for (const el of [text, send]) disable(el, closed ? why : "");
    // a note is text only; a reply needs kefu and WeChat to allow it
    const attachWhy = why || (note ? form.dataset.noteTextOnly : "");
    disable($("#mp-link-open"), attachWhy);
    for (const b of root.querySelectorAll(".compose-open")) disable(b, attachWhy);
    disable($("#reply-image"), attachWhy);
    const imageLabel = $("#reply-image-label");
    imageLabel.classList.toggle("disabled", attachWhy !== "");
    if (attachWhy) imageLabel.title = attachWhy;
    else imageLabel.removeAttribute("title");
    text.placeholder = note ? text.dataset.notePlaceholder : text.dataset.replyPlaceholder;
    send.textContent = note ? send.dataset.note : send.dataset.send;
    form.classList.toggle("as-note", note);
  }
  noteToggle.addEventListener("change", updateReplyBox, { signal });
  timers.push(setInterval(updateReplyBox, 15000));
  updateControls();
  updateReplyBox();

  async function submitReply() {
    const body = text.value;
    if (body.trim() === "" || send.disabled) return;
    send.disabled = true;
    try {
      await api("POST", `/api/v1/conversations/${id}/messages`, {
        type: noteToggle.checked ? "note" : "text",
        content: { text: body },
      });
      text.value = "";
      showError(replyError, null);
      toBottom();
    } catch (err) {
      showError(replyError, err);
    } finally {
      updateReplyBox();
      text.focus();
    }
  }
  form.addEventListener(
    "submit",
    (e) => {
      e.preventDefault();
      if (!picker.hidden && pick()) return;
      submitReply();
    },
    { signal },
  );
  text.addEventListener(
    "keydown",
    (e) => {
      if (!picker.hidden && navigatePicker(e)) return;
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submitReply();
      }
    },
    { signal },
  );
  text.addEventListener(
    "input",
    () => {
      if (!noteToggle.checked && text.value) {
        document.dispatchEvent(new CustomEvent("kefu:typing", { detail: { conversation_id: id } }));
      }
      showPicker();
    },
    { signal },
  );

  $("#reply-image").addEventListener(
    "change",
    async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      const data = new FormData();
      data.append("type", "image");
      data.append("file", file);
      try {
        await api("POST", `/api/v1/conversations/${id}/messages`, data);
        showError(replyError, null);
        toBottom();
      } catch (err) {
        showError(replyError, err);
      }
      e.target.value = "";
    },
    { signal },
  );

  // ---- a text link into the mini program ----
  const dialog = $("#mp-link");
  $("#mp-link-open").addEventListener("click", () => dialog.showModal(), { signal });
  dialog.addEventListener(
    "close",
    () => {
      const f = $("#mp-link-form");
      if (dialog.returnValue === "insert") {
        const clean = (s) => s.replace(/["<>]/g, "").trim();
        const link = `<a href="http://www.qq.com" data-miniprogram-appid="${clean(f.appid.value)}" data-miniprogram-path="${clean(f.path.value)}">${clean(f.text.value)}</a>`;
        const at = text.selectionStart ?? text.value.length;
        text.value = text.value.slice(0, at) + link + text.value.slice(text.selectionEnd ?? at);
        text.focus();
      }
      f.text.value = "";
      f.path.value = "";
    },
    { signal },
  );

  // ---- an Official Account's link card (news) and menu (msgmenu), each from its dialog ----
  const composed = {
    news: (data) => {
      const content = { title: data.get("title"), url: data.get("url") };
      for (const key of ["description", "picurl"]) {
        if (data.get(key).trim()) content[key] = data.get(key);
      }
      return content;
    },
    // one item a line, numbered in order: WeChat sends the tapped item's text back
    msgmenu: (data) => ({
      head_content: data.get("head_content"),
      items: data
        .get("items")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "")
        .map((line, i) => ({ id: String(i + 1), content: line })),
      tail_content: data.get("tail_content"),
    }),
  };
  for (const open of root.querySelectorAll(".compose-open")) {
    const dialog = root.querySelector(`#${open.dataset.dialog}`);
    const f = dialog.querySelector("form");
    const error = f.querySelector(".compose-error");
    open.addEventListener("click", () => dialog.showModal(), { signal });
    f.addEventListener(
      "submit",
      async (e) => {
        if (e.submitter?.value !== "send") return; // cancel closes the dialog
        e.preventDefault();
        const type = f.dataset.type;
        try {
          await api("POST", `/api/v1/conversations/${id}/messages`, {
            type,
            content: composed[type](new FormData(f)),
          });
          f.reset();
          showError(error, null);
          dialog.close();
          showError(replyError, null);
          toBottom();
        } catch (err) {
          showError(error, err);
        }
      },
      { signal },
    );
  }

  // ---- canned replies, picked by typing / ----
  const picker = $("#canned-picker");
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
  $("#assign-me").addEventListener("click", () => act("assign", { assignee: me }), { signal });
  $("#unassign").addEventListener("click", () => act("assign", { assignee: null }), { signal });
  $("#hand-to-bot").addEventListener("click", () => act("handler", { handler: "bot" }), { signal });
  assignTo.addEventListener(
    "change",
    () => act("assign", { assignee: assignTo.value === "" ? null : Number(assignTo.value) }),
    { signal },
  );
  for (const b of root.querySelectorAll(".set-status")) {
    b.addEventListener("click", () => act("status", { status: b.dataset.status }), { signal });
  }

  // ---- the compact header's toggles (phones; the contact panel also at medium widths) ----
  const toolsToggle = $("#tools-toggle");
  toolsToggle.addEventListener(
    "click",
    () => {
      const open = root.classList.toggle("tools-open");
      toolsToggle.setAttribute("aria-expanded", String(open));
    },
    { signal },
  );
  root.classList.add("scripted");

  // ---- retry a failed message ----
  messages.addEventListener(
    "click",
    async (e) => {
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
    },
    { signal },
  );

  // ---- older messages, loaded when scrolled to the top ----
  let loadingOlder = false;
  async function loadOlder() {
    const older = $("#older");
    if (!older || loadingOlder) return;
    loadingOlder = true;
    try {
      const url = new URL(older.href);
      url.searchParams.set("pane", "1");
      const res = await fetch(url, { credentials: "same-origin", signal });
      if (!res.ok) return;
      const page = new DOMParser().parseFromString(await res.text(), "text/html");
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      const first = messages.firstElementChild;
      for (const li of page.querySelectorAll("#messages > li.msg")) {
        if (!document.getElementById(li.id)) messages.insertBefore(document.adoptNode(li), first);
      }
      localize(messages);
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      const next = page.getElementById("older");
      if (next) older.href = next.href;
      else older.closest("p")?.remove();
    } catch {
      // unmounted, or offline: scrolling up again tries again
    } finally {
      loadingOlder = false;
    }
  }
  const olderLink = $("#older");
  if (olderLink) {
    olderLink.addEventListener(
      "click",
      (e) => {
        e.preventDefault();
        loadOlder();
      },
      { signal },
    );
    const seen = new IntersectionObserver(
      (entries) => {
        if (!pinned && entries.some((en) => en.isIntersecting)) loadOlder();
      },
      { root: scroller },
    );
    seen.observe(olderLink);
    observers.push(seen);
  }

  // messages that arrived while the pane was being fetched
  for (const html of replay) {
    const li = parse(html);
    if (li && !document.getElementById(li.id)) upsertMessage(html);
  }
  // the newest message in view
  toBottom();

  return function unmount() {
    off.abort();
    for (const t of timers) clearInterval(t);
    for (const o of observers) o.disconnect();
  };
}

const initial = document.getElementById("conversation");
if (initial?.dataset.conversation) initial.kefuUnmount = mount(initial);
