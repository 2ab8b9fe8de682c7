-- Canned replies: a short word an agent types after `/` in the reply box, and the text it
-- stands for. Shared ones (owner_id null) are the team's and only admins change them; a
-- personal one belongs to its owner alone.

create table canned_replies (
    id integer primary key,
    -- null: shared with the whole team
    owner_id integer references staff_users (id),
    shortcut text not null check (length(shortcut) between 1 and 32),
    body text not null check (length(body) between 1 and 2000),
    created_at integer not null,
    updated_at integer not null
) strict;

-- One meaning per shortcut for each owner, and one among the shared ones (owner 0 stands for
-- "shared": a plain unique (owner_id, shortcut) would let any number of nulls through).
create unique index canned_replies_shortcut_key on canned_replies (coalesce(owner_id, 0), shortcut);
