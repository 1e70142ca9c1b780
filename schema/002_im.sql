-- 002_im.sql - what the IM broker and the presence publications need beyond 001
-- (docs/im-event-package.md §2, §10.2, §11.3, §15; the contracts in sipd/store/store.h).
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

-- ---- messages: duplicate detection (§10.2) and the sender's copy (§10.5) ---------------------

-- Call-ID, From tag and CSeq number of the publishing request: a publish equal in all three to a
-- message of the same topic stored within the last 32 s is a duplicate. NULL for messages that
-- did not come from a SIP request (nothing to compare).
ALTER TABLE messages
    ADD COLUMN call_id  text,
    ADD COLUMN from_tag text,
    ADD COLUMN cseq     bigint CHECK (cseq BETWEEN 0 AND 4294967295),
    ADD COLUMN is_copy  boolean NOT NULL DEFAULT false;  -- the sender's copy in its own topic
CREATE INDEX messages_dup ON messages (topic, call_id, from_tag, cseq);

-- The time of the topic's newest message: a message's created_at is never earlier than the one
-- before it (§2.2: DateTime is non-decreasing in seq, so the retained messages stay a contiguous
-- range even when the nodes' clocks disagree a little).
ALTER TABLE topics ADD COLUMN last_at timestamptz;

-- ---- device positions (§11.3) ----------------------------------------------------------------

-- D per topic and device of an AOR: the highest seq of the topic the device acknowledged. No
-- foreign key: a user topic need not have a row yet. Deleting a group topic deletes its
-- positions (its counter starts again at 1, §2.2).
CREATE TABLE im_positions (
    topic      text NOT NULL,
    aor        text NOT NULL,
    device     text NOT NULL,
    pos        bigint NOT NULL DEFAULT 0 CHECK (pos >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, aor, device)
);

-- ---- storing a publish (§10.2, §15) -----------------------------------------------------------

-- Lock topic p_uri (creating it as a user topic on first use). Returns its last_seq and last_at.
CREATE FUNCTION sipd_im_lock_topic(p_uri text, OUT last_seq bigint, OUT last_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topics (uri, kind, owner) VALUES (p_uri, 'user', p_uri)
        ON CONFLICT (uri) DO NOTHING;
    SELECT t.last_seq, t.last_at INTO last_seq, last_at
        FROM topics t WHERE t.uri = p_uri FOR UPDATE;
END
$$;

-- Store one message in p_topic (locked by the caller) at time p_at, then apply the retention
-- (p_count newest, none older than p_age seconds at p_now; 0 = no limit) and announce it.
CREATE FUNCTION sipd_im_insert(p_topic text, p_at timestamptz, p_sender text, p_device text,
                               p_recipient text, p_is_copy boolean, p_call_id text,
                               p_from_tag text, p_cseq bigint, p_ctype text, p_body bytea,
                               p_now bigint, p_count bigint, p_age bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE topics SET last_seq = last_seq + 1, last_at = p_at WHERE uri = p_topic
        RETURNING last_seq INTO s;
    INSERT INTO messages (topic, seq, sender, sender_device, recipient, content_type, body,
                          created_at, call_id, from_tag, cseq, is_copy)
        VALUES (p_topic, s, p_sender, p_device, p_recipient, p_ctype, p_body, p_at, p_call_id,
                p_from_tag, p_cseq, p_is_copy);
    IF p_count > 0 AND s > p_count THEN
        DELETE FROM messages WHERE topic = p_topic AND seq <= s - p_count;
    END IF;
    IF p_age > 0 THEN
        DELETE FROM messages WHERE topic = p_topic AND seq < s
            AND created_at <= to_timestamp(p_now - p_age);
    END IF;
    -- delivered to the listeners when the transaction commits
    PERFORM pg_notify('sipd_im', p_topic || ' ' || s);
    RETURN s;
END
$$;

-- One publish: the topic's next seq (and the copy topic's, for the sender's copy) in one
-- transaction, the two topic rows locked in ascending URI order (byte order, "C") so that two
-- users writing to each other cannot deadlock. A duplicate (same topic, Call-ID, From tag and
-- CSeq within the last 32 s) stores nothing and returns the earlier seqs.
CREATE FUNCTION sipd_im_publish(p_topic text, p_sender text, p_device text, p_copy text,
                                p_call_id text, p_from_tag text, p_cseq bigint, p_ctype text,
                                p_body bytea, p_now bigint, p_count bigint, p_age bigint,
                                OUT seq bigint, OUT copy_seq bigint, OUT duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    t_last bigint;
    t_at timestamptz;
    c_last bigint;
    c_at timestamptz;
    at timestamptz;
BEGIN
    IF p_copy = p_topic THEN
        p_copy := NULL;
    END IF;
    IF p_copy IS NOT NULL AND p_copy COLLATE "C" < p_topic COLLATE "C" THEN
        SELECT l.last_seq, l.last_at INTO c_last, c_at FROM sipd_im_lock_topic(p_copy) l;
    END IF;
    SELECT l.last_seq, l.last_at INTO t_last, t_at FROM sipd_im_lock_topic(p_topic) l;
    IF p_copy IS NOT NULL AND p_copy COLLATE "C" > p_topic COLLATE "C" THEN
        SELECT l.last_seq, l.last_at INTO c_last, c_at FROM sipd_im_lock_topic(p_copy) l;
    END IF;

    -- The topic is locked: an earlier publish of the same request has committed (or failed).
    SELECT m.seq INTO seq FROM messages m
        WHERE m.topic = p_topic AND m.call_id = p_call_id AND m.from_tag = p_from_tag
          AND m.cseq = p_cseq AND NOT m.is_copy
          AND m.created_at > to_timestamp(p_now - 32)
        ORDER BY m.seq DESC LIMIT 1;
    IF FOUND THEN
        duplicate := true;
        copy_seq := 0;
        IF p_copy IS NOT NULL THEN
            SELECT m.seq INTO copy_seq FROM messages m
                WHERE m.topic = p_copy AND m.call_id = p_call_id AND m.from_tag = p_from_tag
                  AND m.cseq = p_cseq AND m.is_copy AND m.recipient = p_topic
                ORDER BY m.seq DESC LIMIT 1;
            copy_seq := coalesce(copy_seq, 0);
        END IF;
        RETURN;
    END IF;

    duplicate := false;
    at := greatest(to_timestamp(p_now), t_at);
    seq := sipd_im_insert(p_topic, at, p_sender, p_device, NULL, false, p_call_id, p_from_tag,
                          p_cseq, p_ctype, p_body, p_now, p_count, p_age);
    copy_seq := 0;
    IF p_copy IS NOT NULL THEN
        at := greatest(to_timestamp(p_now), c_at);
        copy_seq := sipd_im_insert(p_copy, at, p_sender, p_device, p_topic, true, p_call_id,
                                   p_from_tag, p_cseq, p_ctype, p_body, p_now, p_count, p_age);
    END IF;
END
$$;

-- ---- presence publications (RFC 3903 §6) ------------------------------------------------------

-- A change of the publications of a presentity is announced on channel sipd_pres, payload the
-- AOR, delivered to the listening nodes when the transaction commits (store_pres_set_listener):
-- every PUBLISH step that went through (a refresh too) and every expiry.

-- One PUBLISH step for p_aor (see store_pres_publish in sipd/store/store.h). Rows: the AOR's
-- unexpired publications after the step, oldest first, with status 0; or a single row with
-- status 412 (no such unexpired entity-tag) and nothing else. A step that leaves none gives one
-- row with status 0 and NULL etag.
CREATE FUNCTION sipd_pres_publish(p_aor text, p_if_match text, p_new_etag text,
                                  p_expires_at bigint, p_ctype text, p_body bytea, p_now bigint)
RETURNS TABLE (status integer, etag text, expires_at bigint, content_type text, body bytea,
               updated_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz := to_timestamp(p_now);
BEGIN
    -- every step on one AOR in turn, on every node
    PERFORM pg_advisory_xact_lock(hashtextextended('presence:' || p_aor, 0));
    IF p_if_match IS NULL THEN
        INSERT INTO presentities AS p (aor, event, etag, expires_at, content_type, body, updated_at)
            VALUES (p_aor, 'presence', p_new_etag, to_timestamp(p_expires_at), p_ctype, p_body,
                    now_ts);
    ELSE
        PERFORM 1 FROM presentities p
            WHERE p.aor = p_aor AND p.event = 'presence' AND p.etag = p_if_match
              AND p.expires_at > now_ts
            FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 412, NULL::text, NULL::bigint, NULL::text, NULL::bytea,
                                NULL::bigint;
            RETURN;
        END IF;
        IF p_expires_at = 0 THEN
            DELETE FROM presentities p
                WHERE p.aor = p_aor AND p.event = 'presence' AND p.etag = p_if_match;
        ELSIF p_body IS NULL THEN
            UPDATE presentities p SET etag = p_new_etag, expires_at = to_timestamp(p_expires_at),
                                      updated_at = now_ts
                WHERE p.aor = p_aor AND p.event = 'presence' AND p.etag = p_if_match;
        ELSE
            UPDATE presentities p SET etag = p_new_etag, expires_at = to_timestamp(p_expires_at),
                                      content_type = p_ctype, body = p_body, updated_at = now_ts
                WHERE p.aor = p_aor AND p.event = 'presence' AND p.etag = p_if_match;
        END IF;
    END IF;
    PERFORM pg_notify('sipd_pres', p_aor);
    RETURN QUERY SELECT 0, p.etag, floor(extract(epoch FROM p.expires_at))::bigint,
                        p.content_type, p.body, floor(extract(epoch FROM p.updated_at))::bigint
        FROM presentities p
        WHERE p.aor = p_aor AND p.event = 'presence' AND p.expires_at > now_ts
        ORDER BY p.updated_at, p.etag LIMIT 1000;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0, NULL::text, NULL::bigint, NULL::text, NULL::bytea, NULL::bigint;
    END IF;
END
$$;

-- Remove the publications expired at p_now (see store_pres_expire): the distinct AORs that lost
-- one, each announced once.
CREATE FUNCTION sipd_pres_expire(p_now bigint) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    a text;
BEGIN
    FOR a IN
        WITH d AS (DELETE FROM presentities p
                       WHERE p.event = 'presence' AND p.expires_at <= to_timestamp(p_now)
                       RETURNING p.aor)
        SELECT DISTINCT d.aor FROM d
    LOOP
        PERFORM pg_notify('sipd_pres', a);
        RETURN NEXT a;
    END LOOP;
END
$$;
