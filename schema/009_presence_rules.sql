-- 009_presence_rules.sql - presence authorization (docs/presence.md §6.1): each presentity's
-- allow and block lists of watchers.
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

-- One row per presentity that has rules; the lists are replaced whole (PUT
-- /api/v1/presence/{aor}/rules, sipctl presence ...), in the order given. An entry is a
-- canonical AOR ("sip:bob@example.com") or a whole domain ("example.org"); sipd checks them
-- before it writes (at most 256 entries of at most 256 bytes per list). Every node reads the row
-- for each new SUBSCRIBE, so a change applies at once on every node sharing the database.
CREATE TABLE presence_rules (
    aor        text PRIMARY KEY CHECK (aor LIKE 'sip:%@%'),
    allow      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(allow) <= 256),
    block      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(block) <= 256),
    updated_at timestamptz NOT NULL DEFAULT now()
);
