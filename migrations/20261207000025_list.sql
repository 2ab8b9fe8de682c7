-- The list pane's views (waiting for a human, mine, the bot's, all): their counts are read from
-- one covering index of the open conversations by assignee and handler, so the count is an
-- index-only scan at any size. It replaces the inbox index that had no handler.
drop index if exists conversations_open_counts;
create index conversations_open_counts_by_handler
    on conversations (status, assignee_id, handler, unread);

-- A conversation's own entries in the audit log (its handoffs, assignments, status changes),
-- read when an earlier conversation is shown in the contact panel.
create index audit_log_by_target on audit_log (target, id);
