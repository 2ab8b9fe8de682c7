-- no-transaction
-- Channels: several mini programs and Official Accounts in one kefu (CONTRACT.md "Channels").
--
-- Every contact belongs to a channel, and an openid is only unique within its channel (WeChat
-- gives the same person a different openid in each account, but nothing guarantees two
-- accounts never share one). SQLite cannot drop the old `unique (openid)`, and it cannot widen
-- the message types' check either, so `contacts` and `messages` are rebuilt: the documented
-- twelve steps (https://www.sqlite.org/lang_altertable.html#otheralter), which need foreign
-- keys off, and that pragma does nothing inside a transaction: hence `no-transaction` above
-- and the explicit transaction below.
pragma foreign_keys = off;

begin immediate;

create table channels (
    id integer primary key,
    -- 1–32 of a-z 0-9 -; the webhook is {KEFU_WEBHOOK_PATH}/{name} ('default': the path itself)
    name text not null constraint channels_name_key unique,
    kind text not null check (kind in ('miniprogram', 'officialaccount')),
    appid text not null default '',
    -- Sealed with kefu's secret key (secrets.rs): a nonce and the AEAD ciphertext. Never
    -- shown again after they are saved.
    token_sealed blob,
    aes_key_sealed blob,
    secret_sealed blob,
    -- the data format chosen in WeChat's console; null: told by the push's first byte
    format text check (format in ('json', 'xml')),
    display_name text not null default '',
    enabled integer not null default 1,
    created_at integer not null,
    updated_at integer not null
) strict;

-- The channel everything before channels belonged to; the KEFU_WECHAT_* variables define it.
insert into channels (id, name, kind, created_at, updated_at)
values (1, 'default', 'miniprogram', unixepoch() * 1000, unixepoch() * 1000);

create table contacts_new (
    id integer primary key,
    channel_id integer not null default 1 references channels (id),
    openid text not null,
    display_name text,
    note text not null default '',
    -- the SessionFrom of the customer's latest entry into the chat
    session_from text,
    first_seen_at integer not null,
    last_seen_at integer not null,
    -- WeChat's CreateTime (ms) of the customer's latest message: opens the reply window
    last_message_at integer,
    -- WeChat's CreateTime (ms) of the latest user_enter_tempsession event
    last_enter_at integer,
    -- the conversation that is not resolved yet, where the next push goes
    current_conversation_id integer,
    replies_since_message integer not null default 0,
    replies_since_enter integer not null default 0,
    welcomed_at integer,
    fallback_at integer,
    away_at integer,
    -- openid first: the API's `contact=` filter looks a customer up by openid alone
    constraint contacts_openid_key unique (openid, channel_id)
) strict;

insert into contacts_new (id, channel_id, openid, display_name, note, session_from, first_seen_at,
                          last_seen_at, last_message_at, last_enter_at, current_conversation_id,
                          replies_since_message, replies_since_enter, welcomed_at, fallback_at,
                          away_at)
select id, 1, openid, display_name, note, session_from, first_seen_at, last_seen_at,
       last_message_at, last_enter_at, current_conversation_id, replies_since_message,
       replies_since_enter, welcomed_at, fallback_at, away_at
  from contacts;

drop table contacts;
alter table contacts_new rename to contacts;

create table messages_new (
    id integer primary key,
    conversation_id integer not null references conversations (id),
    direction text not null check (direction in ('in', 'out')),
    sender_kind text not null check (sender_kind in ('customer', 'agent', 'bot', 'system')),
    sender_id integer references staff_users (id),
    type text not null
        check (type in ('text', 'image', 'link', 'miniprogrampage', 'event', 'note', 'unknown',
                        'voice', 'video', 'shortvideo', 'location', 'news', 'msgmenu')),
    -- the type's content as JSON text (CONTRACT.md "content by type")
    content text not null,
    -- what makes an incoming push unique (MsgId, or sender+CreateTime+event for events),
    -- prefixed with the channel's id for every channel but `default`
    wechat_id text constraint messages_wechat_id_key unique,
    status text not null check (status in ('received', 'queued', 'sent', 'failed')),
    error_code text,
    error_message text,
    created_at integer not null
) strict;

insert into messages_new select * from messages;
drop table messages;
alter table messages_new rename to messages;
create index messages_by_conversation on messages (conversation_id, id desc);

-- A copy of the contact's channel, so that lists filter by channel without a join. No index:
-- every push moves a conversation in each of its indexes, and with a handful of channels the
-- activity index filtered by channel reads few rows it does not return.
alter table conversations add column channel_id integer not null default 1 references channels (id);

commit;

pragma foreign_keys = on;
