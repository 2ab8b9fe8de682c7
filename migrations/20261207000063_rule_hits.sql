-- A rule's hits per channel (rules.hits keeps the total): every rule hit belongs to the
-- channel whose customer wrote, for the console today and reports later.
create table rule_hits (
    rule_id integer not null references rules (id),
    channel_id integer not null references channels (id),
    hits integer not null,
    last_hit_at integer not null,
    primary key (rule_id, channel_id)
) strict, without rowid;

-- the hits counted before channels were the default channel's
insert into rule_hits (rule_id, channel_id, hits, last_hit_at)
select id, 1, hits, last_hit_at from rules where hits > 0 and last_hit_at is not null;
