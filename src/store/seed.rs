//! Synthetic conversations for benchmarks and for trying the inbox with a big database
//! (`kefu seed`). Nothing here runs in a real deployment's request path.
//!
//! Everything is set-based: each table is filled by one `insert … select` over a recursive
//! counter, so 100,000 conversations with 1,000,000 messages take seconds, not the minutes a
//! row-per-statement loop would. The shape of the data is plain arithmetic on the counter
//! (no `random()`), so the same arguments give the same database, and every derived column
//! (`last_message_id`, `unread`, `last_activity_at`, the contact's `last_message_at` and
//! `current_conversation_id`) is computed from the same formulas as the messages themselves
//! instead of being re-read from them.
//!
//! The shape, for conversation `k` (0-based) of `C`, with `E = M - C` messages beyond the
//! first of each:
//! - it starts at message `s(k) = k + ⌊E·(k/C)²⌋` and has `n(k) = s(k+1) - s(k) ≥ 1` messages
//!   (a skew: many short conversations, a few long ones);
//! - its last message is `(C-1-k)/C · 30 days` before `now` (less a minute), less a jitter of
//!   `(k·2654435761) mod J` (J: three conversations' share of 30 days, at most 3 days, plus an
//!   hour) that reorders neighbours; earlier ones every `gap(k)` (15 s to 15 min) before that;
//! - 68 % are open, 16 % pending, 16 % resolved; 60 % are assigned when staff exist;
//! - it opens with a customer message; an open one mostly ends with `t(k)` (1 to 3) customer
//!   messages after the agent's last reply, which are its unread; a pending or resolved one
//!   ends with the agent's reply; in between, customer texts, agent replies (`sent`) and a
//!   few private notes.
//!
//! Message ids run conversation by conversation (so a conversation's last message id is
//! arithmetic too), not in time order across conversations: everything kefu reads orders
//! messages within one conversation, or conversations by their activity.

use crate::domain::Millis;
use crate::store::Store;

/// Thirty days in milliseconds: the span the conversations' latest activity is spread over.
const SPREAD_MS: i64 = 30 * 24 * 3600 * 1000;
/// The largest counts `synthetic` accepts: the arithmetic stays far from overflowing.
pub const MAX_CONVERSATIONS: u64 = 10_000_000;
pub const MAX_MESSAGES: u64 = 100_000_000;

const CUSTOMER_TEXTS: &[&str] = &[
    "你好，我的订单还没到",
    "请问什么时候发货？",
    "Hi, I was charged twice for my last order.",
    "能开发票吗？",
    "这个尺码偏大还是偏小？",
    "Can I change my delivery address?",
    "退货流程是怎样的？",
    "The app keeps logging me out.",
    "优惠券用不了，显示已过期",
    "谢谢！",
    "How long does a refund take?",
    "在吗？",
    "收到的商品有破损，怎么办？",
    "Is this available in blue?",
    "好的，明白了",
    "我想取消订单",
    "物流信息三天没更新了",
    "Do you ship to Hong Kong?",
];

const AGENT_TEXTS: &[&str] = &[
    "您好，很高兴为您服务！",
    "请提供一下订单号，我帮您查询。",
    "Thanks for reaching out! Let me check that for you.",
    "已为您加急处理，预计明天送达。",
    "退款会在 3 到 5 个工作日内原路返回。",
    "Could you send a photo of the damaged item?",
    "发票已开具，请查收邮箱。",
    "Your new address has been saved.",
    "还有其他可以帮您的吗？",
    "I've refunded the duplicate charge.",
    "抱歉给您带来不便，我们马上处理。",
    "Yes, we ship there in 3 to 5 days.",
];

const NOTES: &[&str] = &[
    "VIP 客户，优先处理",
    "Asked the warehouse, waiting for an answer",
    "已转给售后组",
    "Customer prefers English",
    "第二次来问同一个订单了",
];

const NAMES: &[&str] = &[
    "王芳",
    "李伟",
    "张敏",
    "刘洋",
    "陈静",
    "Emily Chen",
    "杨磊",
    "赵婷",
    "David Wang",
    "黄晓明",
    "周杰",
    "吴倩",
    "Sarah Li",
    "徐涛",
    "孙丽",
    "Kevin Zhang",
];

/// What `synthetic` made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub conversations: u64,
    pub messages: u64,
    /// staff accounts the assigned conversations went to
    pub staff: u64,
}

/// How many conversations the database holds (`kefu seed` fills only an empty one).
pub async fn conversation_count(store: &Store) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from conversations")
        .fetch_one(store.pool())
        .await
}

/// Fills the database with `conversations` contacts, one conversation each, and `messages`
/// messages spread over them (at least one per conversation, so fewer are raised to
/// `conversations`), as of `now`. Meant for an empty database; ids continue after any rows
/// already there. One transaction: on failure nothing is left behind.
pub async fn synthetic(
    store: &Store,
    conversations: u64,
    messages: u64,
    now: Millis,
) -> sqlx::Result<()> {
    synthetic_counted(store, conversations, messages, now)
        .await
        .map(|_| ())
}

/// `synthetic`, answering what it made.
pub async fn synthetic_counted(
    store: &Store,
    conversations: u64,
    messages: u64,
    now: Millis,
) -> sqlx::Result<Seeded> {
    if conversations > MAX_CONVERSATIONS || messages > MAX_MESSAGES {
        return Err(sqlx::Error::InvalidArgument(format!(
            "at most {MAX_CONVERSATIONS} conversations and {MAX_MESSAGES} messages"
        )));
    }
    let messages = messages.max(conversations);
    let mut tx = store.begin_write().await?;
    let staff: Vec<i64> =
        sqlx::query_scalar("select id from staff_users where disabled = 0 order by id")
            .fetch_all(&mut *tx)
            .await?;
    let made = Seeded {
        conversations,
        messages,
        staff: staff.len() as u64,
    };
    if conversations == 0 {
        return Ok(made);
    }
    let (contact_base, conversation_base, message_base): (i64, i64, i64) = sqlx::query_as(
        r"select (select coalesce(max(id), 0) from contacts),
                 (select coalesce(max(id), 0) from conversations),
                 (select coalesce(max(id), 0) from messages)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let plan = Plan {
        c: conversations as i64,
        e: (messages - conversations) as i64,
        now,
        staff,
    };

    // The statements below are built from integers computed here and from the constant
    // texts above (quoted by `sql_text`), never from input: they run once, so binding the
    // dozen numbers they repeat would only make them harder to read.
    let per_conversation = plan.per_conversation();
    let contacts = format!(
        r"insert into contacts (id, openid, display_name, first_seen_at, last_seen_at,
                               last_message_at, replies_since_message, current_conversation_id)
          {per_conversation}
          select {contact_base} + k + 1,
                 'oSeed' || substr(cast(10000000000 + {contact_base} + k + 1 as text), 2),
                 case when k % 2 = 0 then {name} end,
                 first_at, last_in_at, last_in_at,
                 case when t = 0 and n >= 2 then 1 else 0 end,
                 case when status = 'resolved' then null else {conversation_base} + k + 1 end
            from plan",
        name = case_of(
            "(k / 2)",
            &NAMES.iter().map(|n| sql_text(n)).collect::<Vec<_>>()
        ),
    );
    sqlx::query(sqlx::AssertSqlSafe(contacts))
        .execute(&mut *tx)
        .await?;

    let conversations_sql = format!(
        r"insert into conversations (id, contact_id, status, assignee_id, handler, unread,
                                    created_at, last_activity_at, last_message_id, resolved_at)
          {per_conversation}
          select {conversation_base} + k + 1, {contact_base} + k + 1, status, assignee,
                 case when assignee is null then 'bot' else 'human' end,
                 case when status <> 'open' then 0 when t >= n - 1 then n else t end,
                 first_at, last_at, {message_base} + s + n,
                 case when status = 'resolved' then last_at + 30000 end
            from plan"
    );
    sqlx::query(sqlx::AssertSqlSafe(conversations_sql))
        .execute(&mut *tx)
        .await?;

    // The message counter walks (k, seq) conversation by conversation, carrying where each
    // conversation starts (s) and how many messages it has (n), so ids come out in order.
    let c = plan.c;
    let n_of = |k: &str| plan.n(k);
    let messages_sql = format!(
        r"insert into messages (id, conversation_id, direction, sender_kind, sender_id, type,
                               content, wechat_id, status, created_at)
          with recursive walk(k, seq, s, n) as (
              select 0, 0, 0, {n0}
              union all
              select case when seq + 1 < n then k else k + 1 end,
                     case when seq + 1 < n then seq + 1 else 0 end,
                     case when seq + 1 < n then s else s + n end,
                     case when seq + 1 < n then n else {n_next} end
                from walk
               where seq + 1 < n or k + 1 < {c}
          ),
          shaped as (
              select k, seq, s, n,
                     {last_at} - (n - 1 - seq) * {gap} as at,
                     {t} as t
                from walk
          ),
          classed as (
              select k, seq, s, at,
                     case when seq = 0 or seq >= n - t or seq = n - t - 2 then 0
                          when seq = n - t - 1 then 1
                          else {pattern} end as cls
                from shaped
          )
          select {message_base} + s + seq + 1, {conversation_base} + k + 1,
                 case when cls = 0 then 'in' else 'out' end,
                 case when cls = 0 then 'customer' else {agent_kind} end,
                 case when cls = 0 then null else {sender} end,
                 case when cls = 2 then 'note' else 'text' end,
                 case cls when 0 then {customer_text} when 1 then {agent_text} else {note} end,
                 null,
                 case when cls = 1 then 'sent' else 'received' end,
                 at
            from classed",
        n0 = n_of("0"),
        n_next = n_of("(k + 1)"),
        last_at = plan.last_at("k"),
        gap = plan.gap("k"),
        t = plan.trailing("k"),
        // customer 45 %, agent 45 %, notes 10 % (only when a staff member can have written them)
        pattern = if plan.staff.is_empty() {
            "case when (k * 31 + seq * 7) % 20 < 9 then 0 else 1 end"
        } else {
            "case when (k * 31 + seq * 7) % 20 < 9 then 0 when (k * 31 + seq * 7) % 20 < 18 then 1 else 2 end"
        },
        agent_kind = if plan.staff.is_empty() {
            "'bot'"
        } else {
            "'agent'"
        },
        sender = plan.sender("k"),
        customer_text = case_of("((k * 7 + seq * 13) % 1000)", &texts(CUSTOMER_TEXTS)),
        agent_text = case_of("((k * 5 + seq * 11) % 1000)", &texts(AGENT_TEXTS)),
        note = case_of("((k + seq) % 1000)", &texts(NOTES)),
    );
    sqlx::query(sqlx::AssertSqlSafe(messages_sql))
        .execute(&mut *tx)
        .await?;
    // the reports count a resolution by its event (store::reports), as a staff change records it
    sqlx::query(
        r"insert into conversation_events (conversation_id, kind, at, staff_id)
          select id, 'resolved', resolved_at, assignee_id from conversations
           where id > $1 and status = 'resolved'",
    )
    .bind(conversation_base)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(made)
}

/// The formulas of the module documentation, as SQL expressions of a conversation index.
struct Plan {
    c: i64,
    e: i64,
    now: Millis,
    staff: Vec<i64>,
}

impl Plan {
    /// Where conversation `k` starts among the messages.
    fn s(&self, k: &str) -> String {
        let Plan { c, e, .. } = self;
        format!("({k} + cast({e} * ({k} * 1.0 / {c}) * ({k} * 1.0 / {c}) as bigint))")
    }

    fn n(&self, k: &str) -> String {
        format!("({} - {})", self.s(&format!("({k} + 1)")), self.s(k))
    }

    /// Its latest message's time: later conversations are more recent, give or take a
    /// jitter that reorders neighbours.
    fn last_at(&self, k: &str) -> String {
        let Plan { c, now, .. } = self;
        let jitter = (3 * SPREAD_MS / c).min(SPREAD_MS / 10) + 3_600_000;
        format!(
            "({now} - 60000 - (({c} - 1 - {k}) * {SPREAD_MS}) / {c} - ({k} * 2654435761) % {jitter})"
        )
    }

    /// The time between its messages.
    fn gap(&self, k: &str) -> String {
        format!("(15000 + ({k} * 7927) % 885000)")
    }

    /// 13 in 19 open, 3 pending, 3 resolved (19: prime to the 5 the assignment cycles on).
    fn status(&self, k: &str) -> String {
        format!(
            "(case when ({k} * 37 + 11) % 19 < 13 then 'open' when ({k} * 37 + 11) % 19 < 16 then 'pending' else 'resolved' end)"
        )
    }

    /// The customer messages after the agent's last reply: most open conversations have some.
    fn trailing(&self, k: &str) -> String {
        format!(
            "(case when ({k} * 37 + 11) % 19 < 13 and {k} % 4 <> 0 then 1 + {k} % 3 else 0 end)"
        )
    }

    /// Its assignee: three in five, spread over the staff.
    fn assignee(&self, k: &str) -> String {
        if self.staff.is_empty() {
            return "null".to_owned();
        }
        format!(
            "(case when {k} % 5 < 3 then {} end)",
            self.staff_by(&format!("({k} / 5)"))
        )
    }

    /// Who wrote its agent messages: the assignee, or someone when nobody is assigned.
    fn sender(&self, k: &str) -> String {
        if self.staff.is_empty() {
            return "null".to_owned();
        }
        format!("coalesce({}, {})", self.assignee(k), self.staff_by(k))
    }

    fn staff_by(&self, i: &str) -> String {
        let ids: Vec<String> = self.staff.iter().map(i64::to_string).collect();
        case_of(i, &ids)
    }

    /// `with recursive …, plan(…) as (…)`: one row per conversation with everything the
    /// contact and conversation rows are made of.
    fn per_conversation(&self) -> String {
        let c = self.c;
        format!(
            r"with recursive counter(k) as (
                  select 0 union all select k + 1 from counter where k + 1 < {c}
              ),
              sized as (
                  select k, {s} as s, {n} as n, {last_at} as last_at, {gap} as gap,
                         {status} as status, {t} as t, {assignee} as assignee
                    from counter
              ),
              plan as (
                  select k, s, n, last_at, status, t, assignee,
                         last_at - (n - 1) * gap as first_at,
                         -- the customer's latest message: the last one, or the one before
                         -- the agent's closing reply
                         case when t > 0 or n = 1 then last_at else last_at - gap end as last_in_at
                    from sized
              )",
            s = self.s("k"),
            n = self.n("k"),
            last_at = self.last_at("k"),
            gap = self.gap("k"),
            status = self.status("k"),
            t = self.trailing("k"),
            assignee = self.assignee("k"),
        )
    }
}

/// `case (index) % len when 0 then v0 … end`: picks one of `values` (SQL expressions).
fn case_of(index: &str, values: &[impl AsRef<str>]) -> String {
    let mut sql = format!("(case {index} % {} ", values.len());
    for (i, v) in values.iter().enumerate() {
        sql.push_str(&format!("when {i} then {} ", v.as_ref()));
    }
    sql.push_str("end)");
    sql
}

/// Each text as the SQL literal of its `{"text": …}` content.
fn texts(list: &[&str]) -> Vec<String> {
    list.iter()
        .map(|t| sql_text(&serde_json::json!({ "text": t }).to_string()))
        .collect()
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Openers, bodies and closers of the varied customer texts (`varied_texts`): no `"` or `\`,
/// so they go into JSON as they are.
const OPENERS: &[&str] = &[
    "",
    "你好，",
    "您好，",
    "在吗？",
    "Hi, ",
    "Hello, ",
    "请问",
    "麻烦问一下，",
    "急！",
    "客服你好，",
    "Excuse me, ",
    "亲，",
    "早上好，",
    "喂，",
    "Good morning, ",
    "老板，",
    "HI ",
    "打扰一下，",
    "Sorry, ",
    "晚上好，",
    "有人吗？",
    "Hey, ",
    "小姐姐，",
    "店家，",
];
const BODIES: &[&str] = &[
    "我的订单还没到",
    "什么时候发货",
    "I was charged twice for my order",
    "能开发票吗",
    "这个尺码偏大还是偏小",
    "can I change my delivery address",
    "退货流程是怎样的",
    "the app keeps logging me out",
    "优惠券用不了，显示已过期",
    "how long does a refund take",
    "收到的商品有破损，怎么办",
    "is this available in blue",
    "我想取消订单",
    "物流信息三天没更新了",
    "do you ship to Hong Kong",
    "退款什么时候到账",
    "积分怎么兑换",
    "会员卡怎么激活",
    "my parcel was left at the wrong door",
    "可以货到付款吗",
    "发票抬头写错了",
    "the discount code SAVE20 does not work",
    "快递员态度很差",
    "能不能便宜一点",
    "赠品没有收到",
    "the wrong colour was delivered",
    "保修期是多久",
    "电池续航怎么样",
    "手机屏幕碎了能修吗",
    "where is the nearest store",
    "ＶＩＰ会员有什么优惠",
    "我要转人工客服",
    "包装盒被压坏了",
    "please send me the invoice as a PDF",
    "地址填错了，能改吗",
    "为什么还没有退款",
    "Can I pay with WeChat Pay",
    "这款有现货吗",
    "尺码表在哪里看",
    "my account was locked",
];
const CLOSERS: &[&str] = &[
    "",
    "，谢谢！",
    "。",
    "？",
    " thanks",
    "!!",
    "，急",
    "～",
    " 🙏",
    "，在线等",
    " please help",
    "😊",
    "！！",
    " ASAP",
    "，麻烦尽快处理",
    "?",
];

/// Rewrites the customers' seeded texts into varied ones, as a search benchmark needs (the
/// eighteen texts of `synthetic` make every query match either a fixed share of the messages
/// or none): an opener, a body and a closer chosen by a hash of the message id (15,360
/// combinations of Chinese, English, full-width forms and emoji), and for one message in four
/// an order number (six digits, each number on a handful of messages). Same arguments, same
/// database.
pub async fn varied_texts(store: &Store) -> sqlx::Result<u64> {
    let pick = |salt: i64, list: &[&str]| {
        let values: Vec<String> = list.iter().map(|t| sql_text(t)).collect();
        case_of(&format!("((id * {salt}) % 1000003)"), &values)
    };
    let sql = format!(
        r#"update messages
              set content = '{{"text":"' || {opener} || {body} || {closer}
                            || case when (id * 7) % 4 = 0
                                    then ' 订单号' || ((id * 7919) % 900000 + 100000) else '' end
                            || '"}}'
            where type = 'text' and direction = 'in'"#,
        opener = pick(2_654_435_761, OPENERS),
        body = pick(40_503, BODIES),
        closer = pick(97_531, CLOSERS),
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}
