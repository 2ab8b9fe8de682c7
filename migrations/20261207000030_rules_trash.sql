-- A deleted rule is kept for a while, so that its deletion can be undone: `deleted_at` set
-- means it is in the trash (listed apart, never matched, absent from the API). The newest
-- few deleted rules are kept; older ones are removed for good when another is deleted.
alter table rules add column deleted_at integer;
