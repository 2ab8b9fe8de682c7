//! `GET /ws?since=SEQ&boot=BOOT&viewing=ID`: live updates for a signed-in dashboard (or an API token).
//!
//! Frames from kefu, all JSON text:
//! - `{"type":"hello","boot","seq","me":{"id","name"}}` first;
//! - `{"type":"event","seq":N,"event":{"kind",...}}` for each event, those missed since
//!   `since` (same `boot`) first, then the live ones, with consecutive `seq`;
//! - `{"type":"presence","seq","online":[..],"conversations":[{"conversation_id","viewing","typing"}]}`,
//!   once, after the missed events: the presence as of `seq`; changes follow as events;
//! - `{"type":"counts","counts":{...}}` once after that: the inbox tabs' counts (open
//!   conversations and unread messages per assignee); changes follow as `inbox_counts` events;
//! - events that change what a dashboard shows carry `"html": {"row", "state", "message"}`:
//!   the inbox row, the conversation page's state line and the message, rendered by the
//!   pages' own templates in the dashboard's language (`message` only for a dashboard that
//!   views that conversation, named by `viewing` on connect and by its frames after);
//! - `{"type":"reload","reason"}` and then a close, when kefu cannot vouch for the client's
//!   view any more (another boot, a gap no longer kept, a client too slow to keep up);
//! - `{"type":"pong"}` answering `{"type":"ping"}`.
//!
//! Frames from the dashboard: `{"type":"viewing","conversation_id":N|null}`,
//! `{"type":"typing","conversation_id":N|null}`, `{"type":"ping"}`. Anything else is ignored;
//! a frame over `MAX_FRAME` bytes or a flood of frames closes the connection.
//!
//! One task per connection selects over the socket, the event fan-out and its timers. It
//! holds no queue of its own: the shared broadcast buffer is the only backlog, so a slow
//! client costs no memory and is told to reload when it falls `live::KEPT` events behind.
//! (The axum chat example splits sending and receiving into two tasks; without
//! `futures-util`'s `split` one task is simpler, and has nothing to coordinate on close.)
//! This handler never waits on WeChat: the typing indicator is sent from a spawned task.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;
use crate::live::{Attached, Connection, Event, Live, PresenceSnapshot, Sequenced, StaffRef};
use crate::store::{Store, conversations};
use crate::web::auth::Staff;

/// The largest frame a dashboard may send: its frames are a few dozen bytes.
pub const MAX_FRAME: usize = 4 * 1024;
/// Read and write buffers per connection.
const BUFFER: usize = 8 * 1024;
/// Most frames written to a socket before one flush (and before the task lets others run).
const FORWARD_BATCH: usize = 64;
/// A write that takes longer means the client is gone or hopelessly slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// kefu pings this often; a client silent for `SILENT` (not even a pong) is dropped.
const HEARTBEAT: Duration = Duration::from_secs(30);
const SILENT: Duration = Duration::from_secs(75);
/// More frames than this from one client within `FLOOD_WINDOW` closes it: every presence
/// change is an event for all dashboards, so one client must not be able to flood them.
const FLOOD_FRAMES: u32 = 100;
const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// At most one look-up for WeChat's typing indicator per connection this often (the limiter
/// allows one indicator per contact per 15 s anyway).
const WECHAT_TYPING_EVERY: Duration = Duration::from_secs(3);

/// How long a closing connection waits for the client's answering close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Close codes (RFC 6455).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Debug, Deserialize)]
struct Resume {
    since: Option<String>,
    boot: Option<String>,
    /// the conversation the page shows, so the missed events carry its messages' HTML
    viewing: Option<i64>,
}

/// What a connection needs from `AppState`. Not the whole state: an open WebSocket must not
/// keep the ingest writer alive, or stopping the server would wait for every dashboard.
#[derive(Clone)]
struct Hub {
    live: Live,
    store: Store,
    channels: crate::channels::Channels,
    typing: Arc<crate::delivery::TypingLimiter>,
}

async fn upgrade(
    State(state): State<AppState>,
    user: Staff,
    headers: HeaderMap,
    query: Result<Query<Resume>, QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    refuse_cross_site(&headers, state.config.public_url.as_deref())?;
    let ws = ws.map_err(|e| {
        AppError::Invalid(format!(
            "/ws expects a WebSocket upgrade: {}",
            e.body_text()
        ))
    })?;
    let Query(resume) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let fanout = state.fanout.clone();
    let hub = Hub {
        live: state.live.clone(),
        store: state.store.clone(),
        channels: state.channels.clone(),
        typing: state.typing.clone(),
    };
    let me = StaffRef {
        id: user.id,
        name: user.name.clone(),
    };
    let lang = crate::web::pages::lang_for(&user, &headers);
    // kept to check, while the connection lasts, that the sign-in still holds
    let mut credentials = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            credentials.append(name.clone(), value.clone());
        }
    }
    let me = Me {
        staff: me,
        credentials,
        channels: user.channels.clone(),
    };
    Ok(ws
        // tungstenite's defaults (128 KiB each) suit a busy socket, not hundreds of quiet ones
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        // on the dashboards' thread, below the webhook's priority (`live::Fanout`)
        .on_upgrade(move |socket| async move {
            // detached: the connection ends on its own (or with the thread)
            drop(fanout.spawn(connection(socket, hub, me, lang, resume)));
        }))
}

/// A dashboard's session cookie must not open the live feed for another site's page
/// (cross-site WebSocket hijacking: the handshake is a GET, which `CsrfLayer` lets through).
/// Browsers say where a request comes from in `Sec-Fetch-Site`; older ones only in `Origin`.
/// Clients that are not browsers send neither.
fn refuse_cross_site(headers: &HeaderMap, public_url: Option<&str>) -> AppResult<()> {
    let refused = || AppError::Forbidden("a WebSocket from another site is refused".into());
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = text(header::ORIGIN) else {
        return Ok(());
    };
    let host = origin.split_once("://").map_or(origin, |(_, h)| h);
    let same_host = text(header::HOST).is_some_and(|h| h.eq_ignore_ascii_case(host));
    let public = public_url.is_some_and(|p| p.eq_ignore_ascii_case(origin));
    if same_host || public {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Where a connection starts, from `since` and `boot`: `Ok(None)` live only,
/// `Ok(Some(seq))` after `seq`, `Err(reason)` when the client must reload.
fn start(resume: &Resume, live: &Live) -> Result<Option<u64>, &'static str> {
    let Some(since) = &resume.since else {
        return Ok(None);
    };
    let since: u64 = since
        .parse()
        .map_err(|_| "since is not a sequence number")?;
    if resume.boot.as_deref() != Some(live.boot()) {
        return Err("kefu restarted since this page loaded");
    }
    Ok(Some(since))
}

/// Messages from a dashboard.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ClientFrame {
    Viewing { conversation_id: Option<i64> },
    Typing { conversation_id: Option<i64> },
    Ping,
}

/// The staff member behind a connection, and how they signed in.
struct Me {
    staff: StaffRef,
    credentials: HeaderMap,
    /// the channels whose events this dashboard gets (None: every one)
    channels: Option<Vec<i64>>,
}

impl Me {
    /// Whether the sign-in that opened the connection still holds: signing out, disabling the
    /// account or an idle session ends the connection too (checked at every frame that acts
    /// and every heartbeat). A database error gives the benefit of the doubt.
    async fn still_signed_in(&self, hub: &Hub) -> bool {
        match Staff::signed_in(&hub.store, &self.credentials).await {
            // a change of the channels it may see ends it too: the page reloads with them
            Ok(staff) => staff.id == self.staff.id && staff.channels == self.channels,
            Err(AppError::Unauthorized(_)) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a dashboard's sign-in");
                true
            }
        }
    }
}

async fn connection(mut socket: WebSocket, hub: Hub, me: Me, lang: Lang, resume: Resume) {
    let attached = start(&resume, &hub.live)
        .and_then(|since| {
            hub.live
                .attach(since)
                .map_err(|_| "this page missed more than kefu keeps")
        })
        .map_err(|reason| (reason, hub.live.seq()));
    let Attached {
        seq,
        missed,
        mut events,
        presence: snapshot,
    } = match attached {
        Ok(a) => a,
        Err((reason, seq)) => {
            if send(&mut socket, hello(&hub.live, seq, &me.staff)).await {
                reload(&mut socket, reason).await;
            }
            return;
        }
    };
    let presence = hub.live.connect(me.staff.clone());
    if resume.viewing.is_some() {
        presence.viewing(resume.viewing);
    }
    metrics::gauge!("kefu_live_connections").increment(1.0);
    tracing::debug!(staff.id = me.staff.id, since = ?resume.since, "dashboard connected");
    let view = View {
        lang,
        viewing: resume.viewing,
        channels: me.channels.clone(),
    };
    let greeted = greet(&mut socket, &hub, &me.staff, &view, seq, missed, snapshot).await;
    if greeted {
        serve(&mut socket, &hub, &me, &presence, &mut events, seq, view).await;
    }
    metrics::gauge!("kefu_live_connections").decrement(1.0);
    tracing::debug!(staff.id = me.staff.id, "dashboard disconnected");
    // `presence` drops here: the other dashboards learn that this one left
}

/// hello, the missed events, the presence snapshot; false when the client is gone.
async fn greet(
    socket: &mut WebSocket,
    hub: &Hub,
    me: &StaffRef,
    view: &View,
    seq: u64,
    missed: Vec<Arc<Sequenced>>,
    snapshot: PresenceSnapshot,
) -> bool {
    if !send(socket, hello(&hub.live, seq, me)).await {
        return false;
    }
    if missed.iter().any(|e| e.unshowable()) {
        reload(
            socket,
            "this page missed updates kefu cannot show; a fresh page has them",
        )
        .await;
        return false;
    }
    for e in missed.iter().filter(|e| view.shows(e)) {
        if !send(socket, Message::Text(view.frame(e))).await {
            return false;
        }
    }
    // who views what, only of the conversations this dashboard may see
    let mut conversations = snapshot.conversations;
    if let Some(within) = &view.channels {
        let mut kept = Vec::with_capacity(conversations.len());
        for w in conversations {
            if let Ok(Some(channel)) =
                conversations::channel_of(&hub.store, w.conversation_id).await
                && within.contains(&channel)
            {
                kept.push(w);
            }
        }
        conversations = kept;
    }
    let frame = json!({
        "type": "presence",
        "seq": seq,
        "online": snapshot.online,
        "conversations": conversations,
    });
    if !send(socket, text(&frame)).await {
        return false;
    }
    // the inbox tabs' counts as of now; changes follow as `inbox_counts` events
    match crate::web::live_render::inbox_counts(&hub.store, &hub.live).await {
        Ok(counts) => {
            let counts = counts.within(view.channels.as_deref());
            send(socket, text(&json!({ "type": "counts", "counts": counts }))).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the inbox for a dashboard");
            true
        }
    }
}

/// The connection's life after the greeting: client frames, events, timers.
async fn serve(
    socket: &mut WebSocket,
    hub: &Hub,
    me: &Me,
    presence: &Connection,
    events: &mut broadcast::Receiver<Arc<Sequenced>>,
    seq: u64,
    mut view: View,
) {
    let mut state = Conn {
        last: seq,
        typing_until: None,
        wechat_typing_at: None,
        heard_at: Instant::now(),
        window_start: Instant::now(),
        window_frames: 0,
    };
    let mut closing = hub.live.closing();
    let mut heartbeat = interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            incoming = socket.recv() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // most often a frame over MAX_FRAME; the socket cannot be read on
                        tracing::debug!(staff.id = me.staff.id, error = %e, "closing a dashboard's WebSocket");
                        close(socket, CLOSE_TOO_BIG, "frame too big or malformed").await;
                        break;
                    }
                    None => break,
                };
                state.heard_at = Instant::now();
                if state.flooding() {
                    close(socket, CLOSE_POLICY, "too many frames").await;
                    break;
                }
                match msg {
                    Message::Text(t) => {
                        // unknown or malformed frames are ignored: a newer page may say more
                        let Ok(frame) = serde_json::from_str::<ClientFrame>(t.as_str()) else {
                            continue;
                        };
                        if !matches!(frame, ClientFrame::Ping) && !me.still_signed_in(hub).await {
                            close(socket, CLOSE_POLICY, "signed out").await;
                            break;
                        }
                        match frame {
                            // leaving a conversation also ends typing there; the typing
                            // timer then finds nothing to end
                            ClientFrame::Viewing { conversation_id } => {
                                view.viewing = conversation_id;
                                presence.viewing(conversation_id);
                            }
                            ClientFrame::Typing { conversation_id } => {
                                let until = presence.typing(conversation_id);
                                state.typing_until = until.map(Instant::from_std);
                                if let Some(c) = conversation_id {
                                    state.wechat_typing(hub, c);
                                }
                            }
                            ClientFrame::Ping => {
                                if !send(socket, text(&json!({"type": "pong"}))).await {
                                    break;
                                }
                            }
                        }
                    }
                    Message::Close(_) => break,
                    // pings are answered by the WebSocket layer itself
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                close(socket, CLOSE_GOING_AWAY, "kefu is stopping").await;
                break;
            }
            event = events.recv() => {
                if !forward(socket, events, &mut state, &view, event).await {
                    break;
                }
            }
            _ = sleep_until(state.typing_until.unwrap_or_else(Instant::now)), if state.typing_until.is_some() => {
                state.typing_until = presence.typing_expired().map(Instant::from_std);
            }
            _ = heartbeat.tick() => {
                if state.heard_at.elapsed() > SILENT {
                    break;
                }
                if !me.still_signed_in(hub).await {
                    close(socket, CLOSE_POLICY, "signed out").await;
                    break;
                }
                if !send(socket, Message::Ping(Bytes::new())).await {
                    break;
                }
            }
        }
    }
}

/// Sends `first`'s frame and those of the events already waiting behind it, then flushes
/// once: the live renderer publishes a rendered batch at once, and one write to the socket per
/// batch costs far less than one per event (200 dashboards make every write count 200 times).
/// False when the connection must end.
async fn forward(
    socket: &mut WebSocket,
    events: &mut broadcast::Receiver<Arc<Sequenced>>,
    state: &mut Conn,
    view: &View,
    first: Result<Arc<Sequenced>, RecvError>,
) -> bool {
    let mut next = first;
    let mut fed = 0;
    loop {
        match next {
            Ok(e) if e.seq <= state.last => {}
            Ok(e) if e.seq == state.last + 1 && e.unshowable() => {
                reload(socket, "an update could not be shown; a fresh page has it").await;
                return false;
            }
            Ok(e) if e.seq == state.last + 1 && !view.shows(&e) => state.last = e.seq,
            Ok(e) if e.seq == state.last + 1 => {
                state.last = e.seq;
                if !feed(socket, Message::Text(view.frame(&e))).await {
                    return false;
                }
                fed += 1;
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {
                metrics::counter!("kefu_live_lagged_total").increment(1);
                reload(socket, "this page fell too far behind").await;
                return false;
            }
            Err(RecvError::Closed) => return false,
        }
        if fed >= FORWARD_BATCH {
            break;
        }
        next = match events.try_recv() {
            Ok(e) => Ok(e),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
    }
    fed == 0 || flush(socket).await
}

/// How this dashboard shows events: its language and the conversation it shows.
struct View {
    lang: Lang,
    viewing: Option<i64>,
    /// the channels this dashboard may see (None: every one)
    channels: Option<Vec<i64>>,
}

impl View {
    /// Whether this dashboard gets the event: a dashboard limited to some channels gets no
    /// event about another channel's conversation (one whose channel the renderer did not
    /// learn is skipped too), and presence only for the conversation it shows.
    fn shows(&self, e: &Sequenced) -> bool {
        let Some(within) = &self.channels else {
            return true;
        };
        match &e.event {
            Event::ConversationPresence {
                conversation_id, ..
            } => self.viewing == Some(*conversation_id),
            event => match e.html.as_ref().and_then(|h| h.channel_id) {
                Some(channel) => within.contains(&channel),
                None => event.conversation_id().is_none(),
            },
        }
    }

    /// The event's frame for this dashboard: the shared one, save the counts of a dashboard
    /// limited to some channels (counted over theirs).
    fn frame(&self, e: &Sequenced) -> Utf8Bytes {
        match (&self.channels, &e.event) {
            (Some(within), Event::InboxCounts { by_channel, .. }) => {
                let event =
                    json!({ "kind": "inbox_counts", "counts": by_channel.within(Some(within)) });
                Utf8Bytes::from(
                    json!({ "type": "event", "seq": e.seq, "event": event }).to_string(),
                )
            }
            _ => e.frame(self.lang, self.viewing),
        }
    }
}

/// One connection's own bookkeeping.
struct Conn {
    /// the last sequence number sent
    last: u64,
    typing_until: Option<Instant>,
    wechat_typing_at: Option<Instant>,
    heard_at: Instant,
    window_start: Instant,
    window_frames: u32,
}

impl Conn {
    fn flooding(&mut self) -> bool {
        if self.window_start.elapsed() > FLOOD_WINDOW {
            self.window_start = Instant::now();
            self.window_frames = 0;
        }
        self.window_frames += 1;
        self.window_frames > FLOOD_FRAMES
    }

    /// WeChat's typing indicator for the customer, off this task.
    fn wechat_typing(&mut self, hub: &Hub, conversation_id: i64) {
        if !hub.channels.any_can_send() {
            return;
        }
        if self
            .wechat_typing_at
            .is_some_and(|at| at.elapsed() < WECHAT_TYPING_EVERY)
        {
            return;
        }
        self.wechat_typing_at = Some(Instant::now());
        let store = hub.store.clone();
        let limiter = hub.typing.clone();
        let channels = hub.channels.clone();
        tokio::spawn(async move {
            let row = match conversations::get(&store, conversation_id).await {
                Ok(Some(row)) => row,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(conversation.id = conversation_id, error = %e, "cannot read the conversation for the typing indicator");
                    return;
                }
            };
            let Some(api) = channels.api(row.channel_id) else {
                return;
            };
            if let Err(e) = limiter
                .typing(&api, row.contact_id, &row.openid, row.last_message_at)
                .await
            {
                tracing::info!(conversation.id = conversation_id, error = %e, "WeChat refused the typing indicator");
            }
        });
    }
}

// ------------------------------------------------------------------------------------------
// The event frame

/// An event's frame is serialized here, once per language and per "with the message or not",
/// and kept on the event itself (`Sequenced::frames`), so a thousand dashboards cost one
/// serialization.
impl Sequenced {
    /// The WebSocket frame `{"type":"event","seq":N,"event":{...},"html":{...}}` for a
    /// dashboard in `lang` viewing `viewing`, serialized once for all dashboards alike (and
    /// only when one is connected). The message's HTML goes only to dashboards viewing its
    /// conversation: the others have nowhere to show it.
    pub fn frame(&self, lang: Lang, viewing: Option<i64>) -> Utf8Bytes {
        let l = lang.index();
        let with_message = self.html.as_ref().is_some_and(|h| h.message.is_some())
            && viewing.is_some()
            && viewing == self.event.conversation_id();
        self.frames[l * 2 + usize::from(with_message)]
            .get_or_init(|| {
                let mut frame =
                    serde_json::json!({ "type": "event", "seq": self.seq, "event": self.event });
                if let Some(h) = &self.html {
                    let mut html = serde_json::Map::new();
                    let parts = [
                        ("row", &h.row),
                        ("state", &h.state),
                        ("message", if with_message { &h.message } else { &None }),
                    ];
                    for (name, part) in parts {
                        if let Some(part) = part {
                            html.insert(name.into(), part[l].clone().into());
                        }
                    }
                    frame["html"] = html.into();
                }
                frame.to_string().into()
            })
            .clone()
    }
}

fn hello(live: &Live, seq: u64, me: &StaffRef) -> Message {
    text(&json!({ "type": "hello", "boot": live.boot(), "seq": seq, "me": me }))
}

fn text(value: &serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// Sends one frame; false when the client is gone or too slow to take it.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(timeout(WRITE_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

/// Queues one frame without flushing (the buffer is written out when full); false as `send`.
async fn feed(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(timeout(WRITE_TIMEOUT, socket.feed(msg)).await, Ok(Ok(())))
}

/// Writes out what `feed` queued; false as `send`.
async fn flush(socket: &mut WebSocket) -> bool {
    matches!(timeout(WRITE_TIMEOUT, socket.flush()).await, Ok(Ok(())))
}

async fn reload(socket: &mut WebSocket, reason: &str) {
    metrics::counter!("kefu_live_reloads_total").increment(1);
    tracing::info!(reason, "a dashboard is told to reload");
    if send(socket, text(&json!({ "type": "reload", "reason": reason }))).await {
        close(socket, CLOSE_NORMAL, "reload").await;
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    // Best effort: the socket may be broken already. Then wait (briefly) for the client's
    // answering close: dropping the connection at once can reset it, and a reset may make
    // the client discard the frames just sent (the reload message among them).
    let _ = timeout(CLOSE_WAIT, async {
        if socket.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(_)) = socket.recv().await {}
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_websocket_from_another_site_is_refused() {
        let ok = |pairs: &[(&'static str, &str)], public: Option<&str>| {
            refuse_cross_site(&headers(pairs), public).is_ok()
        };
        assert!(ok(&[], None), "not a browser");
        assert!(ok(&[("sec-fetch-site", "same-origin")], None));
        assert!(!ok(&[("sec-fetch-site", "cross-site")], None));
        assert!(!ok(&[("sec-fetch-site", "same-site")], None));
        assert!(ok(
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ],
            None
        ));
        assert!(!ok(
            &[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080")
            ],
            None
        ));
        assert!(ok(
            &[
                ("origin", "https://kefu.example"),
                ("host", "127.0.0.1:8080")
            ],
            Some("https://kefu.example")
        ));
    }

    #[test]
    fn a_frame_carries_its_language_and_the_message_only_for_its_viewers() {
        let live = Live::new();
        let added = |message_id| crate::live::Event::MessageAdded {
            conversation_id: 1,
            message_id,
            new_conversation: false,
        };
        let mut rx = live.attach(None).expect("attached").events;
        let html = crate::live::Fragments {
            row: Some(["<li>行</li>".into(), "<li>row</li>".into()]),
            state: None,
            message: Some(["<li>消息</li>".into(), "<li>message</li>".into()]),
            channel_id: Some(1),
        };
        live.sequence(added(1), Some(html));
        let e = rx.try_recv().expect("sequenced");
        let frame = |lang, viewing| -> serde_json::Value {
            serde_json::from_str(e.frame(lang, viewing).as_str()).expect("json")
        };
        assert_eq!(
            frame(Lang::En, None)["html"],
            serde_json::json!({"row": "<li>row</li>"})
        );
        assert_eq!(
            frame(Lang::Zh, Some(1))["html"],
            serde_json::json!({"row": "<li>行</li>", "message": "<li>消息</li>"})
        );
        assert_eq!(
            frame(Lang::En, Some(2))["html"]["message"],
            serde_json::Value::Null
        );
        assert_eq!(frame(Lang::En, Some(1))["seq"], 1);
    }
}
