-- A rule may be for one channel only (null: every channel, as every rule was before).
alter table rules add column channel_id integer references channels (id);
