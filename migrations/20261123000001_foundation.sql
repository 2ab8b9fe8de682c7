-- The foundation: contacts, conversations, messages, staff, API tokens and the audit log.
-- Times are integer milliseconds since the Unix epoch. SQL stays portable (no SQLite-only
-- functions) so a Postgres migrations folder can mirror this one.

create table staff_users (
    id integer primary key,
    username text not null constraint staff_users_username_key unique,
    display_name text not null,
    role text not null check (role in ('admin', 'agent')),
    password_hash text not null,
    disabled integer not null default 0 check (disabled in (0, 1)),
    created_at integer not null
) strict;

create table api_tokens (
    id integer primary key,
    user_id integer not null references staff_users (id),
    label text not null,
    -- sha256 of the token; the token itself is shown once and never stored
    token_hash text not null constraint api_tokens_token_hash_key unique,
    created_at integer not null,
    last_used_at integer
) strict;

create table contacts (
    id integer primary key,
    openid text not null constraint contacts_openid_key unique,
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
    current_conversation_id integer
) strict;

create table conversations (
    id integer primary key,
    contact_id integer not null references contacts (id),
    status text not null default 'open' check (status in ('open', 'pending', 'resolved')),
    assignee_id integer references staff_users (id),
    handler text not null default 'bot' check (handler in ('bot', 'human', 'wechat')),
    unread integer not null default 0,
    created_at integer not null,
    last_activity_at integer not null,
    last_message_id integer,
    resolved_at integer
) strict;

create index conversations_by_activity on conversations (last_activity_at desc, id desc);
create index conversations_by_status on conversations (status, last_activity_at desc, id desc);
create index conversations_by_assignee on conversations (assignee_id, last_activity_at desc, id desc);
create index conversations_by_contact on conversations (contact_id, id desc);

create table messages (
    id integer primary key,
    conversation_id integer not null references conversations (id),
    direction text not null check (direction in ('in', 'out')),
    sender_kind text not null check (sender_kind in ('customer', 'agent', 'bot', 'system')),
    sender_id integer references staff_users (id),
    type text not null
        check (type in ('text', 'image', 'link', 'miniprogrampage', 'event', 'note', 'unknown')),
    -- the type's content as JSON text (CONTRACT.md "content by type")
    content text not null,
    -- what makes an incoming push unique (MsgId, or sender+CreateTime+event for events)
    wechat_id text constraint messages_wechat_id_key unique,
    status text not null check (status in ('received', 'queued', 'sent', 'failed')),
    error_code text,
    error_message text,
    created_at integer not null
) strict;

create index messages_by_conversation on messages (conversation_id, id desc);

create table audit_log (
    id integer primary key,
    at integer not null,
    -- null when the actor is the command line or kefu itself
    actor_id integer references staff_users (id),
    actor text not null,
    action text not null,
    target text,
    detail text
) strict;

create index audit_log_by_time on audit_log (at desc, id desc);
