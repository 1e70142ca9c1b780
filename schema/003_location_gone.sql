-- 003_location_gone.sql - the AORs that had bindings and have none left, remembered for a while
-- (sipd/store/store.h, STORE_KNOWN_TTL_S): a call to such a known user, offline now, is answered
-- 480 rather than 404 (RFC 3261 §21.4.18, §21.4.4), by every node sharing the database.
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

-- Written when an update leaves an AOR without bindings and when the expiry sweep deletes an
-- AOR's last ones; read by a lookup that finds no live binding; rows older than the window are
-- deleted by the sweep.
CREATE TABLE location_gone (
    aor     text PRIMARY KEY,
    gone_at timestamptz NOT NULL   -- when its last binding was removed or found expired
);
CREATE INDEX location_gone_gone_at ON location_gone (gone_at);
