-- Reports (docs/CONTRACT.md, "Reports"): the events a conversation's row forgets, and what the
-- figures are read from so that a report over a million messages reads thousands of rows,
-- not a million. Every derived table is exact: counts are kept by triggers on every write
-- path (as `open_conversation_counts` is), response waits and resolutions are recomputed for
-- each conversation a trigger marks stale, before a report reads them (store::reports).

-- What happened to a conversation, written in the same transaction as the change:
-- `resolved` and `reopened` by a staff member (or kefu itself: null), `handoff` by a rule.
create table conversation_events (
    id integer primary key,
    conversation_id integer not null references conversations (id),
    kind text not null check (kind in ('resolved', 'reopened', 'handoff')),
    at integer not null,
    staff_id integer references staff_users (id)
) strict;

create index conversation_events_by_kind on conversation_events (kind, at);
create index conversation_events_by_conversation on conversation_events (conversation_id, at, id);

-- Raw rows at a window's edges (a report's `from` and `to` inside a quarter hour).
create index messages_by_time on messages (created_at);
create index conversations_by_creation on conversations (created_at);

-- Counts per quarter hour (created_at / 900000), channel and agent (0: not an agent's reply).
-- A quarter hour, because every time zone's midnight falls on one.
create table report_counts (
    bucket integer not null,
    channel_id integer not null,
    staff_id integer not null,
    conversations_new integer not null default 0,
    messages_in integer not null default 0,
    messages_out_agent integer not null default 0,
    messages_out_bot integer not null default 0,
    primary key (bucket, channel_id, staff_id)
) strict, without rowid;

-- Conversations whose waits and resolutions must be computed again before a report.
create table report_stale (
    conversation_id integer primary key
) strict;

-- Each answered wait: the first customer message nobody had answered yet, and the agent's
-- sent message that answered it (docs/CONTRACT.md, "first response").
create table report_waits (
    conversation_id integer not null,
    channel_id integer not null,
    started_at integer not null,
    responded_at integer not null,
    staff_id integer
) strict;

create index report_waits_by_conversation on report_waits (conversation_id);
create index report_waits_by_time on report_waits (responded_at, channel_id, staff_id, started_at, conversation_id);

-- Each resolution: when, by whom, how long since the cycle's first customer message (null
-- when it had none), and whether an agent's message was sent since.
create table report_resolutions (
    conversation_id integer not null,
    channel_id integer not null,
    resolved_at integer not null,
    seconds integer,
    human integer not null check (human in (0, 1)),
    staff_id integer
) strict;

create index report_resolutions_by_conversation on report_resolutions (conversation_id);
create index report_resolutions_by_time on report_resolutions (resolved_at, channel_id, staff_id, seconds, human, conversation_id);

-- Messages are counted by the writer between its batches, from a cursor (store::reports::
-- refresh_pending), not by a trigger on insert: a push pays nothing for the reports, and a
-- batch of messages is counted with one grouped upsert. A report reads the messages after the
-- cursor itself. Changes to messages already counted are followed by the triggers below.
-- (kefu never deletes a message, so no id is ever given out again below the cursor; search's
-- cursor relies on the same.)
-- A message counts as `messages_in` when it is a customer's and not an event, as
-- `messages_out_agent` / `messages_out_bot` when it is an agent's / the bot's, not a note, and
-- `sent`; store::reports uses the same classification: keep them equal.
create table report_cursor (
    id integer primary key check (id = 1),
    last_message_id integer not null
) strict;

-- everything stored so far is counted below, in this migration
insert into report_cursor (id, last_message_id) select 1, coalesce(max(id), 0) from messages;

create trigger report_messages_update after update of conversation_id, direction, sender_kind, sender_id, type, status, created_at on messages
when (old.direction = 'in' and old.sender_kind = 'customer' and old.type <> 'event')
  or (old.direction = 'out' and old.sender_kind in ('agent', 'bot') and old.type <> 'note')
  or (new.direction = 'in' and new.sender_kind = 'customer' and new.type <> 'event')
  or (new.direction = 'out' and new.sender_kind in ('agent', 'bot') and new.type <> 'note')
begin
    -- out with the old (a message after the cursor is not counted yet: the writer counts it
    -- as it is then)
    insert into report_counts (bucket, channel_id, staff_id, messages_in, messages_out_agent, messages_out_bot)
    select old.created_at / 900000, c.channel_id,
           case when old.sender_kind = 'agent' and old.direction = 'out' then coalesce(old.sender_id, 0) else 0 end,
           -(old.direction = 'in' and old.sender_kind = 'customer' and old.type <> 'event'),
           -(old.direction = 'out' and old.sender_kind = 'agent' and old.type <> 'note' and old.status = 'sent'),
           -(old.direction = 'out' and old.sender_kind = 'bot' and old.type <> 'note' and old.status = 'sent')
      from conversations c
     where c.id = old.conversation_id
       and old.id <= (select last_message_id from report_cursor)
    on conflict (bucket, channel_id, staff_id) do update set
        messages_in = messages_in + excluded.messages_in,
        messages_out_agent = messages_out_agent + excluded.messages_out_agent,
        messages_out_bot = messages_out_bot + excluded.messages_out_bot;
    -- in with the new
    insert into report_counts (bucket, channel_id, staff_id, messages_in, messages_out_agent, messages_out_bot)
    select new.created_at / 900000, c.channel_id,
           case when new.sender_kind = 'agent' and new.direction = 'out' then coalesce(new.sender_id, 0) else 0 end,
           (new.direction = 'in' and new.sender_kind = 'customer' and new.type <> 'event'),
           (new.direction = 'out' and new.sender_kind = 'agent' and new.type <> 'note' and new.status = 'sent'),
           (new.direction = 'out' and new.sender_kind = 'bot' and new.type <> 'note' and new.status = 'sent')
      from conversations c
     where c.id = new.conversation_id
       and new.id <= (select last_message_id from report_cursor)
    on conflict (bucket, channel_id, staff_id) do update set
        messages_in = messages_in + excluded.messages_in,
        messages_out_agent = messages_out_agent + excluded.messages_out_agent,
        messages_out_bot = messages_out_bot + excluded.messages_out_bot;
    insert into report_stale (conversation_id) values (old.conversation_id), (new.conversation_id)
    on conflict do nothing;
end;

create trigger report_messages_delete after delete on messages
when (old.direction = 'in' and old.sender_kind = 'customer' and old.type <> 'event')
  or (old.direction = 'out' and old.sender_kind in ('agent', 'bot') and old.type <> 'note')
begin
    insert into report_counts (bucket, channel_id, staff_id, messages_in, messages_out_agent, messages_out_bot)
    select old.created_at / 900000, c.channel_id,
           case when old.sender_kind = 'agent' then coalesce(old.sender_id, 0) else 0 end,
           -(old.direction = 'in'),
           -(old.sender_kind = 'agent' and old.status = 'sent'),
           -(old.sender_kind = 'bot' and old.status = 'sent')
      from conversations c
     where c.id = old.conversation_id
       and old.id <= (select last_message_id from report_cursor)
    on conflict (bucket, channel_id, staff_id) do update set
        messages_in = messages_in + excluded.messages_in,
        messages_out_agent = messages_out_agent + excluded.messages_out_agent,
        messages_out_bot = messages_out_bot + excluded.messages_out_bot;
    insert into report_stale (conversation_id) values (old.conversation_id)
    on conflict do nothing;
end;

create trigger report_conversations_insert after insert on conversations
begin
    insert into report_counts (bucket, channel_id, staff_id, conversations_new)
    values (new.created_at / 900000, new.channel_id, 0, 1)
    on conflict (bucket, channel_id, staff_id) do update set
        conversations_new = conversations_new + 1;
end;

-- A conversation's channel is its contact's and never changes after it is made; its creation
-- time neither, but a test (or an operator's repair) may set it, so the count follows.
create trigger report_conversations_update after update of created_at, channel_id on conversations
begin
    update report_counts set conversations_new = conversations_new - 1
     where bucket = old.created_at / 900000 and channel_id = old.channel_id and staff_id = 0;
    insert into report_counts (bucket, channel_id, staff_id, conversations_new)
    values (new.created_at / 900000, new.channel_id, 0, 1)
    on conflict (bucket, channel_id, staff_id) do update set
        conversations_new = conversations_new + 1;
    insert into report_stale (conversation_id) values (new.id) on conflict do nothing;
end;

create trigger report_conversations_delete after delete on conversations
begin
    update report_counts set conversations_new = conversations_new - 1
     where bucket = old.created_at / 900000 and channel_id = old.channel_id and staff_id = 0;
    delete from report_waits where conversation_id = old.id;
    delete from report_resolutions where conversation_id = old.id;
    delete from report_stale where conversation_id = old.id;
end;

create trigger report_events_insert after insert on conversation_events
when new.kind = 'resolved'
begin
    insert into report_stale (conversation_id) values (new.conversation_id) on conflict do nothing;
end;

create trigger report_events_update after update on conversation_events
begin
    insert into report_stale (conversation_id) values (old.conversation_id), (new.conversation_id)
    on conflict do nothing;
end;

create trigger report_events_delete after delete on conversation_events
when old.kind = 'resolved'
begin
    insert into report_stale (conversation_id) values (old.conversation_id) on conflict do nothing;
end;

-- What can be derived for the conversations stored before this migration. Resolutions and
-- reopenings: from the audit log's status changes (a change to `resolved` from another status,
-- and a change away from it), then a resolution at `resolved_at` for a resolved conversation
-- the log says nothing about. Handoffs by a rule were never recorded and cannot be derived.
insert into conversation_events (conversation_id, kind, at, staff_id)
select conversation_id, case when detail = 'resolved' then 'resolved' else 'reopened' end, at, actor_id
  from (select cast(substr(target, 14) as integer) as conversation_id, detail, at, actor_id, id,
               lag(detail) over (partition by target order by at, id) as before
          from audit_log
         where action = 'conversation.status' and target like 'conversation %') s
 where ((detail = 'resolved' and (before is null or before <> 'resolved'))
        or (detail <> 'resolved' and before = 'resolved'))
   and conversation_id in (select id from conversations)
 order by at, id;

insert into conversation_events (conversation_id, kind, at, staff_id)
select c.id, 'resolved', c.resolved_at, null
  from conversations c
 where c.status = 'resolved' and c.resolved_at is not null
   and not exists (select 1 from conversation_events e
                    where e.conversation_id = c.id and e.kind = 'resolved');

insert into report_counts (bucket, channel_id, staff_id, conversations_new)
select created_at / 900000, channel_id, 0, count(*)
  from conversations
 where true
 group by created_at / 900000, channel_id
on conflict (bucket, channel_id, staff_id) do update set
    conversations_new = conversations_new + excluded.conversations_new;

insert into report_counts (bucket, channel_id, staff_id, messages_in, messages_out_agent, messages_out_bot)
select m.created_at / 900000, c.channel_id,
       case when m.direction = 'out' and m.sender_kind = 'agent' then coalesce(m.sender_id, 0) else 0 end,
       sum(m.direction = 'in' and m.sender_kind = 'customer' and m.type <> 'event'),
       sum(m.direction = 'out' and m.sender_kind = 'agent' and m.type <> 'note' and m.status = 'sent'),
       sum(m.direction = 'out' and m.sender_kind = 'bot' and m.type <> 'note' and m.status = 'sent')
  from messages m
  join conversations c on c.id = m.conversation_id
 where true
 group by 1, 2, 3
on conflict (bucket, channel_id, staff_id) do update set
    messages_in = messages_in + excluded.messages_in,
    messages_out_agent = messages_out_agent + excluded.messages_out_agent,
    messages_out_bot = messages_out_bot + excluded.messages_out_bot;

insert into report_stale (conversation_id)
select id from conversations where true
on conflict do nothing;
