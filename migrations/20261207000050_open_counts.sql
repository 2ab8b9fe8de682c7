-- The inbox views' counts (all, waiting, mine, the bot's, and their unread messages), kept up
-- to date by triggers instead of counted on every read: one row per assignee and handler among
-- the open conversations.
--
-- Why: counting was an index-only pass over every open conversation, 5–10 ms at 100,000 of
-- them. Every write that changes a count (each push, each conversation opened and read)
-- invalidates the counts, so under a steady load nearly every page and every live update
-- counted again. The triggers cover every path that writes conversations, and they replace
-- the index the count read, which each push had to update.
create table open_conversation_counts (
    -- 0: nobody (no staff account has id 0)
    assignee_id integer not null,
    handler text not null,
    conversations integer not null,
    unread integer not null,
    primary key (assignee_id, handler)
) strict, without rowid;

insert into open_conversation_counts (assignee_id, handler, conversations, unread)
select coalesce(assignee_id, 0), handler, count(*), coalesce(sum(unread), 0)
  from conversations
 where status = 'open'
 group by 1, 2;

drop index if exists conversations_open_counts_by_handler;

create trigger open_counts_insert
    after insert on conversations
    when new.status = 'open'
begin
    insert into open_conversation_counts (assignee_id, handler, conversations, unread)
    values (coalesce(new.assignee_id, 0), new.handler, 1, new.unread)
    on conflict (assignee_id, handler) do update
        set conversations = conversations + 1, unread = unread + excluded.unread;
end;

create trigger open_counts_delete
    after delete on conversations
    when old.status = 'open'
begin
    update open_conversation_counts
       set conversations = conversations - 1, unread = unread - old.unread
     where assignee_id = coalesce(old.assignee_id, 0) and handler = old.handler;
end;

-- The common case (a push, a conversation read): an open conversation's unread count alone
-- changes. One row changes by the difference.
create trigger open_counts_unread
    after update of unread on conversations
    when old.status = 'open' and new.status = 'open'
     and old.assignee_id is new.assignee_id and old.handler = new.handler
     and old.unread <> new.unread
begin
    update open_conversation_counts
       set unread = unread + new.unread - old.unread
     where assignee_id = coalesce(new.assignee_id, 0) and handler = new.handler;
end;

-- A conversation opened, closed, assigned or handed over: out of its old row, into its new.
create trigger open_counts_move
    after update of status, assignee_id, handler on conversations
    when (old.status = 'open' or new.status = 'open')
     and (old.status is not new.status or old.assignee_id is not new.assignee_id
          or old.handler is not new.handler)
begin
    update open_conversation_counts
       set conversations = conversations - 1, unread = unread - old.unread
     where old.status = 'open'
       and assignee_id = coalesce(old.assignee_id, 0) and handler = old.handler;
    insert into open_conversation_counts (assignee_id, handler, conversations, unread)
    select coalesce(new.assignee_id, 0), new.handler, 1, new.unread
     where new.status = 'open'
    on conflict (assignee_id, handler) do update
        set conversations = conversations + 1, unread = unread + excluded.unread;
end;
