-- The agents' workspace: labels an admin defines and agents put on conversations, snoozing a
-- conversation until a time, and the indexes that keep the list's new filters and views fast.

-- While set, the conversation is `pending` and out of the `waiting` and `mine` views; a
-- customer message, a status change or the time (a background job) clears it.
alter table conversations add column snoozed_until integer;

create table labels (
    id integer primary key,
    name text not null check (length(name) between 1 and 40),
    -- the name in lower case (folded by kefu, for every script, not only ASCII): names are
    -- unique whatever their letter case
    name_key text not null constraint labels_name_key unique,
    -- #rrggbb
    color text not null check (length(color) = 7),
    created_at integer not null
) strict;

create table conversation_labels (
    conversation_id integer not null references conversations (id),
    label_id integer not null references labels (id) on delete cascade,
    constraint conversation_labels_pkey primary key (conversation_id, label_id)
) strict, without rowid;

-- `label=NAME`: the conversations carrying a label
create index conversation_labels_by_label on conversation_labels (label_id, conversation_id);
-- `handler=` and `view=bot`, newest activity first
create index conversations_by_handler on conversations (handler, last_activity_at desc, id desc);
-- `view=waiting`: open, a human's, nobody assigned, newest activity first
create index conversations_waiting on conversations (status, handler, assignee_id, last_activity_at desc, id desc);
-- the snoozes that are due (the wake-up job)
create index conversations_snoozed on conversations (snoozed_until) where snoozed_until is not null;

-- A conversation that is no longer pending is not snoozed: whatever reopens or resolves it (a
-- customer message in the ingest batch, a status change, the wake-up job) ends its snooze, in
-- the same statement's transaction.
create trigger conversations_snooze_ends
    after update of status on conversations
    when new.status <> 'pending' and new.snoozed_until is not null
begin
    update conversations set snoozed_until = null where id = new.id;
end;
