-- Delivery: the durable outbox, WeChat's access token, stored media, and the reply allowance.

-- Replies spent since the customer's latest message and latest entry into the chat; reset
-- when that trigger happens again (WeChat's quota per trigger, see domain::ReplyRules).
alter table contacts add column replies_since_message integer not null default 0;
alter table contacts add column replies_since_enter integer not null default 0;

-- One row per outbound message still to be delivered; deleted once it is sent or failed.
create table outbox (
    id integer primary key,
    message_id integer not null constraint outbox_message_id_key unique references messages (id),
    conversation_id integer not null references conversations (id),
    attempts integer not null default 0,
    next_attempt_at integer not null,
    first_attempt_at integer,
    -- the WeChat media_id of an uploaded attachment, so a retry does not upload it again
    media_id text,
    last_error text
) strict;

create index outbox_by_conversation on outbox (conversation_id, id);
create index outbox_by_due on outbox (next_attempt_at, id);

-- WeChat's access token, shared by every kefu process on this database.
create table wechat_tokens (
    appid text primary key,
    access_token text not null,
    expires_at integer not null,
    fetched_at integer not null
) strict;

-- Images kept by kefu: incoming ones fetched from WeChat, outgoing ones uploaded by agents.
create table media (
    message_id integer primary key references messages (id),
    direction text not null check (direction in ('in', 'out')),
    -- WeChat's media_id (incoming: to fetch; outgoing: set once uploaded)
    media_id text,
    state text not null check (state in ('pending', 'stored', 'failed')),
    -- relative to KEFU_DATA_DIR/media
    path text,
    content_type text,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    error text
) strict;

create index media_by_due on media (state, next_attempt_at);
