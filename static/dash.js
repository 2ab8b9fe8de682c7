// What every dashboard page does: local times, the connection indicator, and attention
// (unread count in the tab title, an optional sound, browser notifications).
import "./live.js";

export const me = Number(document.querySelector('meta[name="kefu-me"]')?.content || 0);

// One element from a fragment of kefu's own server-rendered (escaped) HTML.
export function parse(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  return tpl.content.firstElementChild;
}

// kefu's JSON API with the session cookie; resolves to the JSON body or throws its sentence.
export async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(json?.error?.message || `${res.status} ${res.statusText}`);
  return json;
}

// ---- times: shown in the browser's time zone, short when recent ----
const sameDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const otherDay = new Intl.DateTimeFormat(undefined, {
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
});
// `<time data-full>` (the audit log, the rules' trash): always the whole date
const fullDate = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
});
export function localize(root = document) {
  const today = new Date().toDateString();
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(d.getTime())) continue;
    const format = el.hasAttribute("data-full") ? fullDate : d.toDateString() === today ? sameDay : otherDay;
    el.textContent = format.format(d);
    el.title = d.toLocaleString();
  }
}
localize();

// ---- the connection indicator ----
const indicator = document.getElementById("live-state");
function showState() {
  if (!indicator) return;
  const state = document.body.dataset.live;
  indicator.textContent = state === "connected" ? "" : indicator.dataset[state] || "";
}
new MutationObserver(showState).observe(document.body, { attributes: true, attributeFilter: ["data-live"] });
showState();

// ---- attention ----
const baseTitle = document.title;
let unread = 0;
function showUnread() {
  document.title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
  document.body.dataset.unread = unread;
}
function countUnread(counts) {
  const mine = counts.by_assignee.find(([id]) => id === me);
  // what waits for a human, and the viewer's own: the bot's conversations are the bot's to answer
  unread = counts.unread_waiting + (mine ? mine[2] : 0);
  showUnread();
  document.dispatchEvent(new CustomEvent("kefu:inbox-counts", { detail: counts }));
}
document.addEventListener("kefu:counts", (e) => countUnread(e.detail.counts));

const SOUND = "kefu.sound";
const NOTIFY = "kefu.notify";
export const soundOn = () => localStorage.getItem(SOUND) === "on";
export const notifyOn = () =>
  "Notification" in window && Notification.permission === "granted" && localStorage.getItem(NOTIFY) !== "off";

let audio = null;
function beep() {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  } catch {
    // no audio: nothing to do
  }
}

// A customer wrote in the agent's own conversation or one waiting for a human (not the bot's).
document.addEventListener("kefu:event", (e) => {
  const { event, html } = e.detail;
  if (event.kind === "inbox_counts") {
    countUnread(event.counts);
    return;
  }
  if (event.kind !== "message_added" || !html?.row) return;
  const row = parse(html.row);
  if (!row || row.dataset.lastMessage !== String(event.message_id)) return;
  if (row.dataset.lastDirection !== "in") return;
  const assignee = row.dataset.assignee;
  if (assignee !== "" && assignee !== String(me)) return;
  if (assignee === "" && row.dataset.handler !== "human") return;
  const shown = document.querySelector('meta[name="kefu-conversation"]')?.content;
  if (!document.hidden && shown === String(event.conversation_id)) return;
  if (soundOn()) beep();
  if (notifyOn()) {
    const name = row.querySelector(".conv-name")?.textContent || "kefu";
    const body = row.querySelector(".conv-preview")?.textContent || "";
    const n = new Notification(name, { body, tag: `kefu-conversation-${event.conversation_id}` });
    n.onclick = () => {
      window.focus();
      location.href = `/conversations/${event.conversation_id}`;
    };
  }
});

// The settings page's switches.
const soundToggle = document.getElementById("sound-toggle");
if (soundToggle) {
  soundToggle.checked = soundOn();
  soundToggle.addEventListener("change", () => {
    localStorage.setItem(SOUND, soundToggle.checked ? "on" : "off");
    if (soundToggle.checked) beep();
  });
}
const notifyButton = document.getElementById("notify-enable");
if (notifyButton) {
  const show = () => {
    notifyButton.disabled = !("Notification" in window) || Notification.permission === "denied";
    notifyButton.setAttribute("aria-pressed", String(notifyOn()));
  };
  notifyButton.addEventListener("click", async () => {
    if (!("Notification" in window)) return;
    if (notifyOn()) {
      localStorage.setItem(NOTIFY, "off");
    } else {
      localStorage.setItem(NOTIFY, "on");
      if (Notification.permission !== "granted") await Notification.requestPermission();
    }
    show();
  });
  show();
}
