-- Automation: auto-reply rules, kefu-wide settings, and what the bot last sent each contact.

create table rules (
    id integer primary key,
    name text not null,
    enabled integer not null default 1 check (enabled in (0, 1)),
    -- the highest priority among the matching enabled rules fires
    priority integer not null default 0,
    match text not null check (match in ('exact', 'contains', 'regex')),
    -- a JSON array of strings
    keywords text not null,
    action text not null check (action in ('reply', 'handoff', 'transfer_wechat')),
    -- {"type", "content"} as a reply is posted to the API, or null
    reply text,
    hits integer not null default 0,
    last_hit_at integer,
    created_at integer not null,
    updated_at integer not null
) strict;

create index rules_by_priority on rules (priority desc, id);

-- Settings an admin changes at run time (welcome, fallback, business hours, assignment), one
-- JSON document per key.
create table settings (
    key text primary key,
    value text not null,
    updated_at integer not null
) strict;

-- When the bot last sent each automatic message to a contact: welcome, fallback and away
-- messages are rate-limited per customer.
alter table contacts add column welcomed_at integer;
alter table contacts add column fallback_at integer;
alter table contacts add column away_at integer;
