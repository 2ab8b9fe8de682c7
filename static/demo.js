// The customer simulator of `kefu demo`: sends pushes through kefu's real webhook and shows the
// replies the fake WeChat API received. Text is always inserted as text, never as HTML.
const form = document.getElementById("customer");
const openid = document.getElementById("openid");
const text = document.getElementById("text");
const status = document.getElementById("status");
const list = document.getElementById("replies");
// the page's words, in its language (data-* attributes of the form)
const words = form.dataset;
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

async function push(kind) {
  status.textContent = words.sending;
  const res = await fetch("/demo/customer/push", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ openid: openid.value, kind, text: text.value, channel: document.getElementById("channel").value }),
  });
  const body = await res.json().catch(() => ({}));
  status.textContent = res.ok
    ? fill(words.answered, { answer: body.answer })
    : (body.error?.message ?? fill(words.failed, { status: res.status }));
  if (res.ok && kind === "text") text.value = "";
}

form.addEventListener("submit", (e) => { e.preventDefault(); push("text"); });
for (const b of form.querySelectorAll("button[type=button]")) {
  b.addEventListener("click", () => push(b.dataset.kind));
}

function describe(r) {
  const b = r.body;
  switch (r.msgtype) {
    case "text": return b.text.content;
    case "image": return `${words.image} ${b.image.media_id}`;
    case "link": return `${words.link} ${b.link.title} — ${b.link.url}`;
    case "miniprogrampage": return `${words.card} ${b.miniprogrampage.title} → ${b.miniprogrampage.pagepath}`;
    default: return `[${r.msgtype}]`;
  }
}

let shown = 0;
async function poll() {
  try {
    const res = await fetch(`/demo/customer/replies?openid=${encodeURIComponent(openid.value)}`);
    if (res.ok) {
      const { replies } = await res.json();
      if (replies.length < shown) { list.replaceChildren(); shown = 0; }
      for (const r of replies.slice(shown)) {
        const li = document.createElement("li");
        li.textContent = `${new Date(r.at_ms).toLocaleTimeString()}  ${describe(r)}`;
        list.append(li);
      }
      shown = replies.length;
    }
  } finally {
    setTimeout(poll, 1000);
  }
}
openid.addEventListener("change", () => { list.replaceChildren(); shown = 0; });
poll();
