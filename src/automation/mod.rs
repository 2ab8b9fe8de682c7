//! Automation: the bot. It answers customers by the admins' rules, welcomes them when they
//! enter the chat, falls back when nothing matches, says when the team is away, hands a
//! conversation to a human (in kefu) or to WeChat's own customer-service tool, and hands
//! waiting conversations to online agents.
//!
//! The webhook stays fast: choosing a rule is a lookup in a matcher compiled when the rules
//! change (`rules`), and everything that reads or writes the database for an ordinary message
//! happens on the bot's own task, after `success` was answered. Only a `transfer_wechat` rule
//! is decided before answering, because WeChat reads the transfer from the answer itself.
//!
//! Who owns a conversation is its `handler`: `bot` (new conversations), `human` (after a
//! handoff or once an agent takes it) or `wechat` (transferred; when WeChat routes the customer
//! back, their next message reaches kefu and the bot owns the conversation again). The bot
//! never answers a conversation a human owns or that has an assignee, and never spends the
//! customer's last reply WeChat allows in the window: that one is kept for a human.
//!
//! Auto-replies are decided after the push is stored and acknowledged: a crash in between can
//! lose an auto-reply (never the customer's message).

pub mod rules;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::delivery::{self, QueueError};
use crate::domain::{Handler, MessageContent, Millis, ReplyRules, SenderKind, now_millis};
use crate::live::{Event, Live};
use crate::store::audit::{self, Actor};
use crate::store::conversations::{self, BotNote, ConversationRow};
use crate::store::{Store, rules as rule_store, settings as settings_store};
use crate::wechat::push::{Push, PushKind};

use self::rules::{Matcher, RuleError, RuleSpec};
use self::settings::{AssignmentMode, AutomationSettings};

/// Jobs waiting for the bot at most. Beyond this (a flood far above what the bot keeps up
/// with) new jobs are dropped with a warning: the customer's message is stored and shown,
/// only its auto-reply is skipped. Memory stays bounded.
const QUEUE: usize = 10_000;
/// How often waiting conversations are offered to agents even without a trigger.
const ASSIGN_EVERY: Duration = Duration::from_secs(30);
/// Rule hits are written this often.
const HITS_EVERY: Duration = Duration::from_secs(1);
/// Triggers closer together than this make one assignment pass.
const ASSIGN_DEBOUNCE: Duration = Duration::from_millis(100);

/// What a rule does when it fires.
pub use crate::domain::RuleAction as Action;

/// One enabled rule, ready to act.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRule {
    pub id: i64,
    pub name: String,
    pub action: Action,
    /// what the bot sends (always a sendable kind)
    pub reply: Option<MessageContent>,
    /// the image kefu keeps for the reply (uploaded to WeChat afresh with every message,
    /// as WeChat's media_id expire after three days)
    pub media: Option<rule_store::RuleMedia>,
}

/// The enabled rules, compiled: one matcher for the rules of every channel, and for each
/// channel with rules of its own one over those and the rules of every channel (so that the
/// highest priority still wins among all that apply).
pub struct Compiled {
    matcher: Matcher,
    by_channel: HashMap<i64, Matcher>,
    rules: HashMap<i64, ActiveRule>,
    /// some rule transfers to WeChat's tool (so conversations may come back from it)
    transfers: bool,
}

impl Compiled {
    fn empty() -> Compiled {
        Compiled {
            matcher: Matcher::empty(),
            by_channel: HashMap::new(),
            rules: HashMap::new(),
            transfers: false,
        }
    }

    /// Compiles stored rules (the disabled ones are left out).
    pub fn from_rows(rows: &[rule_store::RuleRow]) -> Result<Compiled, RuleError> {
        let mut specs: Vec<(Option<i64>, RuleSpec)> = Vec::new();
        let mut rules = HashMap::new();
        for r in rows.iter().filter(|r| r.enabled) {
            specs.push((
                r.channel_id,
                RuleSpec {
                    id: r.id,
                    priority: r.priority,
                    kind: r.match_kind,
                    keywords: r.keywords.clone(),
                },
            ));
            rules.insert(
                r.id,
                ActiveRule {
                    id: r.id,
                    name: r.name.clone(),
                    action: r.action,
                    // an unreadable stored reply (kept as unknown) is not sent
                    reply: r.reply.clone().filter(MessageContent::is_sendable),
                    media: r.media.clone(),
                },
            );
        }
        let over = |channel: Option<i64>| -> Vec<RuleSpec> {
            specs
                .iter()
                .filter(|(c, _)| c.is_none() || *c == channel)
                .map(|(_, spec)| spec.clone())
                .collect()
        };
        let mut by_channel = HashMap::new();
        for channel in specs.iter().filter_map(|(c, _)| *c) {
            if let std::collections::hash_map::Entry::Vacant(slot) = by_channel.entry(channel) {
                slot.insert(Matcher::compile(&over(Some(channel)))?);
            }
        }
        Ok(Compiled {
            matcher: Matcher::compile(&over(None))?,
            by_channel,
            transfers: rules.values().any(|r| r.action == Action::TransferWechat),
            rules,
        })
    }

    /// The rule that fires for a customer's text in a channel (None: only the rules of every
    /// channel, as the console's tester tries them).
    pub fn choose(&self, channel: Option<i64>, text: &str) -> Option<&ActiveRule> {
        let matcher = channel
            .and_then(|c| self.by_channel.get(&c))
            .unwrap_or(&self.matcher);
        matcher.choose(text).and_then(|id| self.rules.get(&id))
    }
}

/// What the bot would do with a customer's text, as the console's tester shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Rule(ActiveRule),
    Away(MessageContent),
    Fallback(MessageContent),
    Nothing,
}

/// What the webhook answers in the push's response instead of `success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// a transfer to WeChat's customer-service tool
    TransferToWechat,
    /// an Official Account's passive reply: the bot's text, already recorded as sent
    Text(String),
}

enum Job {
    /// a customer message was stored (text carries what rules match against)
    Message {
        conversation_id: i64,
        rule: Option<i64>,
    },
    /// the customer entered the chat
    Enter {
        conversation_id: i64,
        session_from: Option<String>,
    },
    /// offer waiting conversations to online agents
    Assign,
}

/// The bot: cheap to clone.
#[derive(Clone)]
pub struct Automation {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    live: Live,
    reply_rules: ReplyRules,
    /// each channel's API client: without one the bot decides but cannot send
    channels: crate::channels::Channels,
    compiled: RwLock<Arc<Compiled>>,
    settings: RwLock<Arc<AutomationSettings>>,
    jobs: mpsc::Sender<Job>,
    /// the agent who got the last auto-assigned conversation (round robin)
    last_assigned: Mutex<i64>,
    /// held while rules change, so the matcher in use is the latest committed
    rules_lock: tokio::sync::Mutex<()>,
    /// rule hits not yet written: rule id → (hits, last hit)
    hits: Mutex<HashMap<(i64, i64), (i64, Millis)>>,
}

fn read<T: ?Sized>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T: ?Sized>(lock: &RwLock<Arc<T>>, value: Arc<T>) {
    *lock.write().unwrap_or_else(|e| e.into_inner()) = value;
}

impl Automation {
    /// Loads the rules and settings and starts the bot's task.
    pub async fn start(
        store: Store,
        live: Live,
        reply_rules: ReplyRules,
        channels: crate::channels::Channels,
    ) -> anyhow::Result<(Automation, JoinHandle<()>)> {
        let rows = rule_store::list(store.pool()).await?;
        let compiled = Compiled::from_rows(&rows).unwrap_or_else(|e| {
            // a rule set that compiled when saved but not now (a newer limit): run without
            // rules rather than not at all, and say so
            tracing::error!(error = %e, "the auto-reply rules do not compile; the bot runs without them");
            Compiled::empty()
        });
        let settings = load_settings(&store).await?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let automation = Automation {
            inner: Arc::new(Inner {
                store,
                live,
                reply_rules,
                channels,
                compiled: RwLock::new(Arc::new(compiled)),
                settings: RwLock::new(Arc::new(settings)),
                jobs,
                last_assigned: Mutex::new(0),
                rules_lock: tokio::sync::Mutex::new(()),
                hits: Mutex::new(HashMap::new()),
            }),
        };
        let task = tokio::spawn(automation.clone().run(queue));
        Ok((automation, task))
    }

    /// A rule fired. Hits are counted in memory and written once a second in one
    /// transaction: a write per hit would contend with the webhook's writer under load (a
    /// crash loses at most the last second's counts, never a message).
    fn count_hit(&self, rule_id: i64, channel_id: i64, now: Millis) {
        let mut hits = self.inner.hits.lock().unwrap_or_else(|e| e.into_inner());
        let entry = hits.entry((rule_id, channel_id)).or_insert((0, now));
        entry.0 += 1;
        entry.1 = entry.1.max(now);
    }

    /// Adds the hits counted but not yet written to rules read from the store, so what
    /// admins see is current.
    pub fn add_pending_hits(&self, rows: &mut [rule_store::RuleRow]) {
        let hits = self.inner.hits.lock().unwrap_or_else(|e| e.into_inner());
        for ((rule_id, _), (n, at)) in hits.iter() {
            if let Some(r) = rows.iter_mut().find(|r| r.id == *rule_id) {
                r.hits += n;
                r.last_hit_at = Some(r.last_hit_at.map_or(*at, |l| l.max(*at)));
            }
        }
    }

    /// Writes the hits counted since the last time.
    pub async fn flush_hits(&self) -> sqlx::Result<()> {
        let hits: Vec<((i64, i64), (i64, Millis))> = {
            let mut hits = self.inner.hits.lock().unwrap_or_else(|e| e.into_inner());
            hits.drain().collect()
        };
        if hits.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.store.begin_write().await?;
        for ((rule_id, channel_id), (n, at)) in &hits {
            rule_store::add_hits(&mut tx, *rule_id, *channel_id, *n, *at).await?;
        }
        tx.commit().await
    }

    /// Held by whoever changes rules, from reading them to putting the new matcher to use.
    pub async fn rules_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.rules_lock.lock().await
    }

    pub fn settings(&self) -> Arc<AutomationSettings> {
        read(&self.inner.settings)
    }

    pub fn compiled(&self) -> Arc<Compiled> {
        read(&self.inner.compiled)
    }

    /// Puts newly saved rules to work.
    pub fn use_rules(&self, compiled: Compiled) {
        write(&self.inner.compiled, Arc::new(compiled));
    }

    /// Puts newly saved settings to work (and hands out waiting conversations if assignment
    /// became automatic).
    pub fn use_settings(&self, settings: AutomationSettings) {
        write(&self.inner.settings, Arc::new(settings));
        self.enqueue(Job::Assign);
    }

    /// Jobs waiting for the bot (for `/metrics`).
    pub fn queue_depth(&self) -> usize {
        QUEUE.saturating_sub(self.inner.jobs.capacity())
    }

    fn enqueue(&self, job: Job) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.inner.jobs.try_send(job) {
            metrics::counter!("kefu_bot_jobs_dropped_total").increment(1);
            tracing::warn!("the bot is {QUEUE} jobs behind; skipping an automatic reply");
        }
    }

    /// Whether a customer message the rules do not match gives the bot anything to do: a
    /// fallback or away message to send, or a conversation WeChat's tool may hand back.
    fn unmatched_matters(&self, channel: i64) -> bool {
        let s = self.settings();
        s.fallback_for(Some(channel)).is_some()
            || s.away_for(Some(channel)).is_some()
            || self.compiled().transfers
    }

    /// What the bot would do with `text` now (the console's tester).
    pub fn test(&self, text: &str, now: Millis) -> Outcome {
        if let Some(rule) = self.compiled().choose(None, text) {
            return Outcome::Rule(rule.clone());
        }
        match unmatched_reply(&self.settings(), None, now) {
            Some((BotNote::Away, text, _)) => Outcome::Away(MessageContent::text(text)),
            Some((_, text, _)) => Outcome::Fallback(MessageContent::text(text)),
            None => Outcome::Nothing,
        }
    }

    /// Called by the webhook once a new push is stored. Returns `Some` when the push's response
    /// answers it: a transfer to WeChat's tool, or, where the channel takes passive replies
    /// (`passive`: an Official Account), the bot's text, decided here within WeChat's 5 s.
    /// Anything else is left to the bot's task.
    pub async fn after_push(
        &self,
        push: &Push,
        channel: i64,
        conversation_id: i64,
        passive: bool,
    ) -> Option<Answer> {
        if passive && self.is_customer_message(push) {
            let rule = match &push.kind {
                PushKind::Text { content, .. } => {
                    self.compiled().choose(Some(channel), content).cloned()
                }
                _ => None,
            };
            if rule
                .as_ref()
                .is_some_and(|r| r.action == Action::TransferWechat)
            {
                // below, as for every channel
            } else if rule.is_some() || self.unmatched_matters(channel) {
                return match self
                    .on_message(conversation_id, rule.map(|r| r.id), true)
                    .await
                {
                    Ok(text) => text.map(Answer::Text),
                    Err(e) => {
                        tracing::warn!(error = %e, conversation.id = conversation_id, "the bot could not answer a message");
                        None
                    }
                };
            } else {
                return None;
            }
        }
        match &push.kind {
            PushKind::Text { content, .. } => {
                let rule = self.compiled().choose(Some(channel), content).cloned();
                if let Some(rule) = &rule
                    && rule.action == Action::TransferWechat
                {
                    match self.transfer(conversation_id, rule.id).await {
                        Ok(true) => return Some(Answer::TransferToWechat),
                        Ok(false) => return None,
                        Err(e) => {
                            // answer `success`: the customer stays with kefu
                            tracing::warn!(error = %e, conversation.id = conversation_id, "cannot transfer to WeChat's tool");
                            return None;
                        }
                    }
                }
                if rule.is_some() || self.unmatched_matters(channel) {
                    self.enqueue(Job::Message {
                        conversation_id,
                        rule: rule.map(|r| r.id),
                    });
                }
            }
            PushKind::Image { .. }
            | PushKind::MiniProgramPage { .. }
            | PushKind::Voice { .. }
            | PushKind::Video { .. }
            | PushKind::Location { .. }
            | PushKind::Link { .. } => {
                if self.unmatched_matters(channel) {
                    self.enqueue(Job::Message {
                        conversation_id,
                        rule: None,
                    });
                }
            }
            PushKind::Event {
                event,
                session_from,
                ..
            } if event == "user_enter_tempsession" => {
                if self
                    .settings()
                    .welcome_for(Some(channel), session_from.as_deref())
                    .is_some()
                {
                    self.enqueue(Job::Enter {
                        conversation_id,
                        session_from: session_from.clone(),
                    });
                }
            }
            PushKind::Event { .. } | PushKind::Unknown { .. } => {}
        }
        None
    }

    /// Marks the conversation as handled by WeChat's tool, unless a human owns it. Returns
    /// whether it did.
    async fn transfer(&self, conversation_id: i64, rule_id: i64) -> sqlx::Result<bool> {
        let store = &self.inner.store;
        let Some(row) = conversations::get(store, conversation_id).await? else {
            return Ok(false);
        };
        if owned_by_human(&row) {
            return Ok(false);
        }
        let now = now_millis();
        let mut tx = store.begin_write().await?;
        conversations::set_handler(&mut tx, conversation_id, Handler::Wechat).await?;
        tx.commit().await?;
        self.count_hit(rule_id, row.channel_id, now);
        self.inner
            .live
            .publish(Event::ConversationChanged { conversation_id });
        Ok(true)
    }

    async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut watch = self.inner.live.subscribe();
        let mut assign_due: Option<tokio::time::Instant> = None;
        let mut periodic = tokio::time::interval(ASSIGN_EVERY);
        let mut flush = tokio::time::interval(HITS_EVERY);
        loop {
            tokio::select! {
                job = queue.recv() => match job {
                    Some(Job::Assign) => {
                        assign_due.get_or_insert_with(|| tokio::time::Instant::now() + ASSIGN_DEBOUNCE);
                    }
                    Some(job) => self.handle(job).await,
                    None => break,
                },
                event = watch.recv() => match event {
                    // someone came online, or a conversation changed hands or closed
                    Ok(Event::StaffPresence { online: true, .. } | Event::ConversationChanged { .. }) => {
                        if self.settings().assignment.mode == AssignmentMode::Auto {
                            assign_due.get_or_insert_with(|| tokio::time::Instant::now() + ASSIGN_DEBOUNCE);
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = tokio::time::sleep_until(assign_due.unwrap_or_else(tokio::time::Instant::now)), if assign_due.is_some() => {
                    assign_due = None;
                    if let Err(e) = self.assign_waiting().await {
                        tracing::warn!(error = %e, "cannot hand out waiting conversations");
                    }
                }
                _ = flush.tick() => {
                    if let Err(e) = self.flush_hits().await {
                        tracing::warn!(error = %e, "cannot record the rules' hits");
                    }
                }
                _ = periodic.tick() => {
                    if self.settings().assignment.mode == AssignmentMode::Auto {
                        assign_due.get_or_insert_with(tokio::time::Instant::now);
                    }
                }
            }
        }
    }

    async fn handle(&self, job: Job) {
        let result = match job {
            Job::Message {
                conversation_id,
                rule,
            } => self
                .on_message(conversation_id, rule, false)
                .await
                .map(|_| ()),
            Job::Enter {
                conversation_id,
                session_from,
            } => {
                self.on_enter(conversation_id, session_from.as_deref())
                    .await
            }
            // `run` schedules assignment passes itself
            Job::Assign => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "the bot could not act on a message");
        }
    }

    /// Whether the push is the customer talking (what rules, away and fallback answer).
    fn is_customer_message(&self, push: &Push) -> bool {
        matches!(
            push.kind,
            PushKind::Text { .. }
                | PushKind::Image { .. }
                | PushKind::MiniProgramPage { .. }
                | PushKind::Voice { .. }
                | PushKind::Video { .. }
                | PushKind::Location { .. }
                | PushKind::Link { .. }
        )
    }

    /// The bot's answer to a customer message: the rule's reply (and handoff), or the away or
    /// fallback message. With `passive`, a plain text answer is recorded as sent and returned
    /// for the push's response; anything else is queued as usual.
    async fn on_message(
        &self,
        conversation_id: i64,
        rule: Option<i64>,
        passive: bool,
    ) -> anyhow::Result<Option<String>> {
        let store = &self.inner.store;
        let Some(mut row) = conversations::get(store, conversation_id).await? else {
            return Ok(None);
        };
        if row.handler == Handler::Wechat {
            // WeChat routed the customer back to kefu: the bot owns the conversation again
            let mut tx = store.begin_write().await?;
            conversations::set_handler(&mut tx, conversation_id, Handler::Bot).await?;
            tx.commit().await?;
            row.handler = Handler::Bot;
            self.inner
                .live
                .publish(Event::ConversationChanged { conversation_id });
        }
        if owned_by_human(&row) {
            return Ok(None);
        }
        let now = now_millis();
        let compiled = self.compiled();
        if let Some(rule) = rule.and_then(|id| compiled.rules.get(&id)) {
            self.count_hit(rule.id, row.channel_id, now);
            let mut answered = None;
            if let Some(reply) = &rule.reply {
                let attachment = rule.media.as_ref().map(|m| delivery::Attachment {
                    path: m.path.clone(),
                    content_type: m.content_type.clone(),
                });
                answered = self.answer(&row, reply, attachment, passive).await?;
            }
            if rule.action == Action::Handoff {
                self.hand_off(conversation_id).await?;
            }
            return Ok(answered);
        }
        let settings = self.settings();
        let Some((note, text, minutes)) = unmatched_reply(&settings, Some(row.channel_id), now)
        else {
            return Ok(None);
        };
        if self.claim_note(&row, note, minutes, now).await? {
            return self
                .answer(&row, &MessageContent::text(text), None, passive)
                .await;
        }
        Ok(None)
    }

    /// A text answered in the push's response where that is allowed (`passive`, no
    /// attachment): recorded as sent and returned; anything else queued (`send_with`).
    async fn answer(
        &self,
        row: &ConversationRow,
        reply: &MessageContent,
        attachment: Option<delivery::Attachment>,
        passive: bool,
    ) -> anyhow::Result<Option<String>> {
        match reply {
            MessageContent::Text(t) if passive && attachment.is_none() => {
                delivery::record_passive(&self.inner.store, &self.inner.live, row.id, reply)
                    .await?;
                Ok(Some(t.text.clone()))
            }
            _ => {
                self.send_with(row, reply, attachment).await?;
                Ok(None)
            }
        }
    }

    async fn on_enter(
        &self,
        conversation_id: i64,
        session_from: Option<&str>,
    ) -> anyhow::Result<()> {
        let settings = self.settings();
        let store = &self.inner.store;
        let Some(row) = conversations::get(store, conversation_id).await? else {
            return Ok(());
        };
        let Some(text) = settings.welcome_for(Some(row.channel_id), session_from) else {
            return Ok(());
        };
        if owned_by_human(&row) {
            return Ok(());
        }
        let now = now_millis();
        if self
            .claim_note(&row, BotNote::Welcome, settings.welcome_every_minutes, now)
            .await?
        {
            self.send(&row, &MessageContent::text(text)).await?;
        }
        Ok(())
    }

    /// Notes that the bot sends this kind of automatic message to the contact now, unless it
    /// did within `minutes`: true when it may send.
    async fn claim_note(
        &self,
        row: &ConversationRow,
        note: BotNote,
        minutes: u32,
        now: Millis,
    ) -> sqlx::Result<bool> {
        let mut tx = self.inner.store.begin_write().await?;
        let claimed = conversations::claim_bot_note(
            &mut tx,
            row.contact_id,
            note,
            now,
            i64::from(minutes) * 60_000,
        )
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Queues a bot message, keeping the customer's last allowed reply for a human.
    async fn send(&self, row: &ConversationRow, reply: &MessageContent) -> anyhow::Result<()> {
        self.send_with(row, reply, None).await
    }

    /// `send`, with an image kefu keeps (a rule's upload) to upload to WeChat first.
    async fn send_with(
        &self,
        row: &ConversationRow,
        reply: &MessageContent,
        attachment: Option<delivery::Attachment>,
    ) -> anyhow::Result<()> {
        if self.inner.channels.api(row.channel_id).is_none() {
            tracing::info!(
                conversation.id = row.id,
                "the bot would answer, but kefu cannot send without the channel's AppID and AppSecret"
            );
            return Ok(());
        }
        match delivery::queue_reply(
            &self.inner.store,
            &self.inner.live,
            &self.inner.reply_rules,
            row.id,
            (SenderKind::Bot, None),
            reply,
            attachment,
            1,
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(QueueError::WindowClosed | QueueError::QuotaUsed) => {
                tracing::debug!(
                    conversation.id = row.id,
                    "the bot keeps the last reply for a human"
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The conversation becomes a human's: it waits unassigned (or goes to an agent).
    async fn hand_off(&self, conversation_id: i64) -> anyhow::Result<()> {
        let mut tx = self.inner.store.begin_write().await?;
        conversations::set_handler(&mut tx, conversation_id, Handler::Human).await?;
        // counted by the reports as a handoff (store::reports)
        let handoff = crate::store::reports::EventKind::Handoff;
        crate::store::reports::record(&mut tx, conversation_id, handoff, now_millis(), None)
            .await?;
        tx.commit().await?;
        // the event also makes the bot offer waiting conversations to agents (`run`)
        self.inner
            .live
            .publish(Event::ConversationChanged { conversation_id });
        Ok(())
    }

    /// Round robin over online agents below the cap, oldest waiting conversation first.
    async fn assign_waiting(&self) -> anyhow::Result<()> {
        let settings = self.settings();
        if settings.assignment.mode != AssignmentMode::Auto {
            return Ok(());
        }
        let store = &self.inner.store;
        let waiting = conversations::waiting_for_human(store.pool(), 200).await?;
        if waiting.is_empty() {
            return Ok(());
        }
        let online: Vec<i64> = self
            .inner
            .live
            .presence()
            .online
            .iter()
            .map(|s| s.id)
            .collect();
        // each online agent with the channels they see (None: every one)
        let mut agents: Vec<(i64, Option<Vec<i64>>)> = crate::store::staff::list(store)
            .await?
            .into_iter()
            .filter(|s| {
                !s.disabled && s.role == crate::domain::Role::Agent && online.contains(&s.id)
            })
            .map(|s| {
                (
                    s.id,
                    crate::services::channels_of(s.role, s.channel_ids.as_deref()),
                )
            })
            .collect();
        agents.sort_unstable_by_key(|a| a.0);
        if agents.is_empty() {
            return Ok(());
        }
        let counts = conversations::open_counts(store.pool()).await?.within(None);
        let mut load: HashMap<i64, i64> =
            agents.iter().map(|(a, _)| (*a, counts.of(*a).0)).collect();
        let cap = i64::from(settings.assignment.cap);
        let mut last = *self
            .inner
            .last_assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (conversation_id, channel) in waiting {
            // the next agent after the last one served, wrapping, who sees the conversation's
            // channel and has room left
            let start = agents.iter().position(|(a, _)| *a > last).unwrap_or(0);
            let Some(agent) = (0..agents.len())
                .map(|i| &agents[(start + i) % agents.len()])
                .find(|(a, sees)| {
                    load[a] < cap && sees.as_ref().is_none_or(|c| c.contains(&channel))
                })
                .map(|(a, _)| *a)
            else {
                continue; // nobody free for this channel: it waits, others may not
            };
            let now = now_millis();
            let mut tx = store.begin_write().await?;
            // only if still unassigned: an agent may have claimed it meanwhile
            if !conversations::assign_if_unassigned(&mut tx, conversation_id, agent).await? {
                continue;
            }
            audit::record(
                &mut tx,
                &Actor::system(),
                "conversation.assign",
                &format!("conversation {conversation_id}"),
                Some(&format!("user {agent} (automatic)")),
                now,
            )
            .await?;
            tx.commit().await?;
            *load.entry(agent).or_default() += 1;
            last = agent;
            self.inner
                .live
                .publish(Event::ConversationChanged { conversation_id });
        }
        *self
            .inner
            .last_assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = last;
        Ok(())
    }
}

/// What answers a customer message no rule matches: the away message outside business
/// hours, else the fallback (each with its once-per-customer period), else nothing.
fn unmatched_reply(
    s: &AutomationSettings,
    channel: Option<i64>,
    now: Millis,
) -> Option<(BotNote, &str, u32)> {
    match (s.away_for(channel), s.fallback_for(channel)) {
        (Some(away), _) if !s.hours.open_at(now) => {
            Some((BotNote::Away, away, s.away_every_minutes))
        }
        (_, Some(fallback)) => Some((BotNote::Fallback, fallback, s.fallback_every_minutes)),
        _ => None,
    }
}

/// A human owns it: handed off, or taken by an agent.
fn owned_by_human(row: &ConversationRow) -> bool {
    row.handler == Handler::Human || row.assignee_id.is_some()
}

async fn load_settings(store: &Store) -> anyhow::Result<AutomationSettings> {
    Ok(match settings_store::get(store.pool(), settings::KEY).await? {
        Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the stored automation settings cannot be read; using the defaults");
            AutomationSettings::default()
        }),
        None => AutomationSettings::default(),
    })
}
