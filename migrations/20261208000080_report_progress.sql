-- Reports (store::reports): a conversation's waits and resolutions are folded forward from
-- where its last fold stopped, not worked out again from its first message each time it
-- changes. Recomputing whole made every new message of a long conversation cost its whole
-- length: a 20-minute soak's p99 grew with the conversations (README, "Soak").

-- Where each conversation's fold stopped. Everything folded is at or before the frontier
-- (`at`, `kind`, `id`): messages order by (created_at, 0, id) and resolutions by (at, 1, id),
-- so a resolution comes after the messages of its own millisecond. Every message with an id
-- up to `seen_id` is at or before the frontier, or was not a step when it was read (the
-- triggers below lower `seen_id` when such a message becomes one), so the next fold reads
-- only the messages after `seen_id` and the resolutions from `at` on.
create table report_progress (
    conversation_id integer primary key,
    seen_id integer not null,
    at integer not null,
    kind integer not null check (kind in (0, 1)),
    id integer not null,
    -- the open wait's first customer message, if a wait is open
    open_since integer,
    -- the current cycle's first customer message, and its latest agent's sent message
    cycle_first integer,
    cycle_agent integer
) strict;

-- `whole`: a change at or before the frontier (or no frontier yet), so the conversation is
-- worked out again from its first message; otherwise the next fold takes it from the
-- frontier. Conversations marked before this migration have no frontier: whole.
alter table report_stale add column whole integer not null default 1 check (whole in (0, 1));

-- The triggers again, marking `whole` only when the change is at or before the frontier.
-- A step is what the waits and resolutions read: a customer's message (not an event), or an
-- agent's sent message (not a note); store::reports uses the same classification.
drop trigger report_messages_update;
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
    -- a step after the frontier is read by the next fold from `seen_id` on (an agent's reply
    -- that was queued when its conversation was last folded, and is sent now)
    update report_progress set seen_id = min(seen_id, new.id - 1)
     where conversation_id = new.conversation_id
       and ((new.direction = 'in' and new.sender_kind = 'customer' and new.type <> 'event')
            or (new.direction = 'out' and new.sender_kind = 'agent' and new.type <> 'note' and new.status = 'sent'));
    -- a step at or before the frontier, as it was or as it is: whole
    insert into report_stale (conversation_id, whole)
    select old.conversation_id,
           ((old.direction = 'in' and old.sender_kind = 'customer' and old.type <> 'event')
            or (old.direction = 'out' and old.sender_kind = 'agent' and old.type <> 'note' and old.status = 'sent'))
           and coalesce((select (old.created_at, 0, old.id) <= (p.at, p.kind, p.id)
                           from report_progress p where p.conversation_id = old.conversation_id), 1)
     where true
    on conflict (conversation_id) do update set whole = max(whole, excluded.whole);
    insert into report_stale (conversation_id, whole)
    select new.conversation_id,
           ((new.direction = 'in' and new.sender_kind = 'customer' and new.type <> 'event')
            or (new.direction = 'out' and new.sender_kind = 'agent' and new.type <> 'note' and new.status = 'sent'))
           and coalesce((select (new.created_at, 0, new.id) <= (p.at, p.kind, p.id)
                           from report_progress p where p.conversation_id = new.conversation_id), 1)
     where true
    on conflict (conversation_id) do update set whole = max(whole, excluded.whole);
end;

drop trigger report_messages_delete;
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
    insert into report_stale (conversation_id, whole)
    select old.conversation_id,
           ((old.direction = 'in' and old.sender_kind = 'customer' and old.type <> 'event')
            or (old.direction = 'out' and old.sender_kind = 'agent' and old.type <> 'note' and old.status = 'sent'))
           and coalesce((select (old.created_at, 0, old.id) <= (p.at, p.kind, p.id)
                           from report_progress p where p.conversation_id = old.conversation_id), 1)
     where true
    on conflict (conversation_id) do update set whole = max(whole, excluded.whole);
end;

drop trigger report_conversations_update;
create trigger report_conversations_update after update of created_at, channel_id on conversations
begin
    update report_counts set conversations_new = conversations_new - 1
     where bucket = old.created_at / 900000 and channel_id = old.channel_id and staff_id = 0;
    insert into report_counts (bucket, channel_id, staff_id, conversations_new)
    values (new.created_at / 900000, new.channel_id, 0, 1)
    on conflict (bucket, channel_id, staff_id) do update set
        conversations_new = conversations_new + 1;
    insert into report_stale (conversation_id, whole) values (new.id, 1)
    on conflict (conversation_id) do update set whole = 1;
end;

drop trigger report_conversations_delete;
create trigger report_conversations_delete after delete on conversations
begin
    update report_counts set conversations_new = conversations_new - 1
     where bucket = old.created_at / 900000 and channel_id = old.channel_id and staff_id = 0;
    delete from report_waits where conversation_id = old.id;
    delete from report_resolutions where conversation_id = old.id;
    delete from report_stale where conversation_id = old.id;
    delete from report_progress where conversation_id = old.id;
end;

drop trigger report_events_insert;
create trigger report_events_insert after insert on conversation_events
when new.kind = 'resolved'
begin
    insert into report_stale (conversation_id, whole)
    select new.conversation_id,
           coalesce((select (new.at, 1, new.id) <= (p.at, p.kind, p.id)
                       from report_progress p where p.conversation_id = new.conversation_id), 1)
     where true
    on conflict (conversation_id) do update set whole = max(whole, excluded.whole);
end;

drop trigger report_events_update;
create trigger report_events_update after update on conversation_events
begin
    insert into report_stale (conversation_id, whole) values (old.conversation_id, 1), (new.conversation_id, 1)
    on conflict (conversation_id) do update set whole = 1;
end;

drop trigger report_events_delete;
create trigger report_events_delete after delete on conversation_events
when old.kind = 'resolved'
begin
    insert into report_stale (conversation_id, whole) values (old.conversation_id, 1)
    on conflict (conversation_id) do update set whole = 1;
end;
