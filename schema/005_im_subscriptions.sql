-- 005_im_subscriptions.sql - `im` subscriptions kept in `subscriptions` so that another broker
-- can take over a topic whose broker went down or drains (docs/im-event-package.md, "Topic
-- takeover"; sipd/roles/im/takeover.c).
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.
--
-- A row is written when its subscription changes state (created, refreshed; deleted when it
-- ends), never per NOTIFY: how far the device got is its position in im_positions, advanced on
-- every acknowledged NOTIFY already. The table of 001_init.sql lacks what a notifier needs to go
-- on in the same dialog; an Event id is part of the key (several subscriptions in one dialog).

ALTER TABLE subscriptions
    ADD COLUMN event_id      text NOT NULL DEFAULT '',  -- the Event `id` parameter, '' = none
    ADD COLUMN instance      text,                      -- +sip.instance of the SUBSCRIBE
    ADD COLUMN device_contact text,                     -- Contact of the creating SUBSCRIBE
    ADD COLUMN local_uri     text,                      -- To URI of the SUBSCRIBE
    ADD COLUMN remote_uri    text,                      -- From URI of the SUBSCRIBE
    ADD COLUMN is_group      boolean NOT NULL DEFAULT false,
    ADD COLUMN is_datagram   boolean NOT NULL DEFAULT false; -- bottom Via of the SUBSCRIBE: UDP

ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_pkey;
ALTER TABLE subscriptions ADD PRIMARY KEY (call_id, from_tag, to_tag, event_id);

-- Rows of one owner (a drain or a takeover looks them up by node).
CREATE INDEX subscriptions_node ON subscriptions (node, topic);
