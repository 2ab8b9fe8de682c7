-- A rule's image kept by kefu (uploaded in the console): the image of an image reply or the
-- cover of a card, relative to $KEFU_DATA_DIR/media, and its content type. WeChat's media_id
-- expire three days after upload, so kefu uploads its copy again for every message it
-- sends from the rule (as it does for an agent's upload) instead of keeping a media_id.
alter table rules add column media_path text;
alter table rules add column media_type text;
