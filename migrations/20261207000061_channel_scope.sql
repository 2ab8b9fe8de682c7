-- Agents limited to some channels (CONTRACT.md "Channels"): an agent with `channel_ids` sees
-- only those channels' conversations, in pages, the API and live updates; null, every channel
-- (what every account had before; admins always see every channel). A list of ids as text
-- ("1,3"), read with the staff row that every request reads anyway, so that no request pays
-- a second query to learn what its caller may see.
alter table staff_users add column channel_ids text;

-- The inbox views' counts per channel too, so that an agent limited to some channels counts
-- only theirs. Same triggers as in 20261207000050_open_counts.sql, with the channel added to
-- the key (a conversation never changes channel).
drop trigger open_counts_insert;
drop trigger open_counts_delete;
drop trigger open_counts_unread;
drop trigger open_counts_move;
drop table open_conversation_counts;

create table open_conversation_counts (
    channel_id integer not null,
    -- 0: nobody (no staff account has id 0)
    assignee_id integer not null,
    handler text not null,
    conversations integer not null,
    unread integer not null,
    primary key (channel_id, assignee_id, handler)
) strict, without rowid;

insert into open_conversation_counts (channel_id, assignee_id, handler, conversations, unread)
select channel_id, coalesce(assignee_id, 0), handler, count(*), coalesce(sum(unread), 0)
  from conversations
 where status = 'open'
 group by 1, 2, 3;

create trigger open_counts_insert
    after insert on conversations
    when new.status = 'open'
begin
    insert into open_conversation_counts (channel_id, assignee_id, handler, conversations, unread)
    values (new.channel_id, coalesce(new.assignee_id, 0), new.handler, 1, new.unread)
    on conflict (channel_id, assignee_id, handler) do update
        set conversations = conversations + 1, unread = unread + excluded.unread;
end;

create trigger open_counts_delete
    after delete on conversations
    when old.status = 'open'
begin
    update open_conversation_counts
       set conversations = conversations - 1, unread = unread - old.unread
     where channel_id = old.channel_id and assignee_id = coalesce(old.assignee_id, 0)
       and handler = old.handler;
end;

create trigger open_counts_unread
    after update of unread on conversations
    when old.status = 'open' and new.status = 'open'
     and old.assignee_id is new.assignee_id and old.handler = new.handler
     and old.unread <> new.unread
begin
    update open_conversation_counts
       set unread = unread + new.unread - old.unread
     where channel_id = new.channel_id and assignee_id = coalesce(new.assignee_id, 0)
       and handler = new.handler;
end;

create trigger open_counts_move
    after update of status, assignee_id, handler on conversations
    when (old.status = 'open' or new.status = 'open')
     and (old.status is not new.status or old.assignee_id is not new.assignee_id
          or old.handler is not new.handler)
begin
    update open_conversation_counts
       set conversations = conversations - 1, unread = unread - old.unread
     where old.status = 'open' and channel_id = old.channel_id
       and assignee_id = coalesce(old.assignee_id, 0) and handler = old.handler;
    insert into open_conversation_counts (channel_id, assignee_id, handler, conversations, unread)
    select new.channel_id, coalesce(new.assignee_id, 0), new.handler, 1, new.unread
     where new.status = 'open'
    on conflict (channel_id, assignee_id, handler) do update
        set conversations = conversations + 1, unread = unread + excluded.unread;
end;
