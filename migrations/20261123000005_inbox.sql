-- The inbox: its tab counts read one covering index instead of every open conversation row.
create index conversations_open_counts on conversations (status, assignee_id, unread);
