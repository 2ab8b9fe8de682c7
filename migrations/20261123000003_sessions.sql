-- Staff sign-in: server-side sessions, and each staff member's interface language.

create table sessions (
    -- sha256 of the cookie's random token; the token itself is never stored
    token_hash text primary key,
    user_id integer not null references staff_users (id),
    created_at integer not null,
    last_seen_at integer not null,
    -- absolute end, whatever the activity
    expires_at integer not null
) strict;

create index sessions_by_user on sessions (user_id);

-- 'zh' or 'en'; null follows the browser's language
alter table staff_users add column locale text;
