// Live updates for the dashboard: one WebSocket to /ws, kept open across network trouble.
//
// Pages listen instead of talking to the socket:
//   document.addEventListener("kefu:event", (e) => e.detail)  // {seq, event: {kind, ...}}
//   document.addEventListener("kefu:presence", (e) => e.detail)  // {seq, online, conversations}
//   document.addEventListener("kefu:hello", (e) => e.detail)  // {boot, seq, me}
//   document.addEventListener("kefu:counts", (e) => e.detail)  // {counts}, once per connection
// <body data-live> says "connecting", "connected" or "offline".
// and tell kefu what the agent does:
//   document.dispatchEvent(new CustomEvent("kefu:viewing", {detail: {conversation_id}}))  // or null
//   document.dispatchEvent(new CustomEvent("kefu:typing", {detail: {conversation_id}}))
//
// Every event has a sequence number. The last one seen (and the server's boot id) is kept in
// sessionStorage, so a reconnect, or the next page of this tab, asks for exactly what it
// missed. When kefu cannot provide that it sends "reload": the page reloads, fresh.
// A page may render <meta name="kefu-live-seq" content="N"> (with kefu-live-boot) to say
// which event its HTML already reflects; it then wins over the stored position.

const KEY = "kefu.live";
const MIN_DELAY = 1000;
const MAX_DELAY = 30000;
const PING_EVERY = 25000; // the server drops a client silent for 75 s
const TYPING_EVERY = 3000; // the server keeps "typing" for 6 s per signal

let socket = null;
let delay = MIN_DELAY;
let viewing = null; // re-sent after every reconnect
let lastTyping = { id: null, at: 0 };
let firstConnect = true;

function setState(state) {
  document.body.dataset.live = state;
}

function meta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.content || null;
}

function load() {
  // the page's own position counts only until its first connection
  const page = { seq: meta("kefu-live-seq"), boot: meta("kefu-live-boot") };
  if (firstConnect && page.seq && page.boot) return page;
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || {};
  } catch {
    return {};
  }
}

function save(seq, boot) {
  sessionStorage.setItem(KEY, JSON.stringify({ seq, boot }));
}

function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(name, { detail }));
}

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function connect() {
  const { seq, boot } = load();
  firstConnect = false;
  const resuming = seq != null && boot;
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (resuming) {
    url.searchParams.set("since", seq);
    url.searchParams.set("boot", boot);
  }
  // the missed events then carry the HTML of this conversation's messages
  if (viewing != null) url.searchParams.set("viewing", viewing);
  const ws = new WebSocket(url);
  socket = ws;
  let pinger = null;
  let currentBoot = boot;

  ws.addEventListener("open", () => {
    delay = MIN_DELAY;
    pinger = setInterval(() => send({ type: "ping" }), PING_EVERY);
    if (viewing != null) send({ type: "viewing", conversation_id: viewing });
  });

  ws.addEventListener("message", (msg) => {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        currentBoot = frame.boot;
        // resuming, the missed events follow and move the position; starting afresh, the
        // position is now (frame.seq is the latest event, not the last one this page saw)
        if (!resuming) save(frame.seq, frame.boot);
        setState("connected");
        emit("kefu:hello", frame);
        break;
      case "event":
        save(frame.seq, currentBoot);
        emit("kefu:event", frame);
        break;
      case "presence":
        emit("kefu:presence", frame);
        break;
      case "counts":
        emit("kefu:counts", frame);
        break;
      case "reload":
        // forget the position, or the fresh page would ask for the same gap again
        sessionStorage.removeItem(KEY);
        socket = null;
        location.reload();
        break;
    }
  });

  // "close" normally follows "error", but not in every implementation: retry on either, once
  const retry = () => {
    clearInterval(pinger);
    if (socket !== ws) return; // already retrying, or reloading
    socket = null;
    setState("offline");
    // exponential backoff with jitter, so a restarted server is not hit by every tab at once
    const wait = delay / 2 + Math.random() * delay;
    delay = Math.min(delay * 2, MAX_DELAY);
    setTimeout(connect, wait);
  };
  ws.addEventListener("close", retry);
  ws.addEventListener("error", retry);
}

function sendViewing(id) {
  viewing = id ?? null;
  send({ type: "viewing", conversation_id: viewing });
}

function sendTyping(id) {
  // one signal per few seconds is enough to keep "typing" showing
  const now = Date.now();
  if (id === lastTyping.id && now - lastTyping.at < TYPING_EVERY) return;
  lastTyping = { id, at: now };
  send({ type: "typing", conversation_id: id });
}

document.addEventListener("kefu:viewing", (e) => sendViewing(e.detail?.conversation_id));
document.addEventListener("kefu:typing", (e) => sendTyping(e.detail?.conversation_id));

// a conversation page views its conversation from the first connection on
const shown = meta("kefu-conversation");
if (shown) viewing = Number(shown);
connect();

export { sendViewing, sendTyping };
