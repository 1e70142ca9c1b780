-- 007_node_stopped_at.sql - when a node last stopped cleanly (it writes status 0 itself), so
-- that a balancer's heartbeat answered just before that stop, and written just after it (results
-- are written once per round), does not set the row's status back to 1: the row would say "up"
-- for a round after `sipd` stopped, and an operator's DELETE of the node would be refused.
-- NULL while the node runs (its start-up upsert clears it).
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

ALTER TABLE nodes ADD COLUMN stopped_at timestamptz;

-- As in 006_heartbeat_load.sql, and an ok beat older than the node's clean stop keeps status 0.
CREATE OR REPLACE FUNCTION sipd_node_beats(p_nid integer[], p_ok boolean[], p_status smallint[],
                                           p_work integer[], p_rtt real[], p_at bigint[],
                                           p_keep integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    updated integer;
BEGIN
    PERFORM 1 FROM nodes WHERE nid = ANY (p_nid) ORDER BY nid FOR UPDATE;

    UPDATE nodes AS n
       SET status = CASE
                    -- an answer from before the node's own clean stop does not bring it back
                    WHEN b.status = 1 AND n.stopped_at IS NOT NULL
                         AND n.stopped_at >= to_timestamp(b.at / 1000.0) THEN n.status
                    WHEN b.status IN (0, 1) THEN b.status
                    ELSE n.status END,
           work_num = CASE WHEN b.ok THEN greatest(b.work, 0) ELSE n.work_num END,
           last_heartbeat = CASE WHEN b.ok THEN to_timestamp(b.at / 1000.0) ELSE n.last_heartbeat END,
           rtt_ms = CASE WHEN b.ok THEN b.rtt ELSE n.rtt_ms END
      FROM unnest(p_nid, p_ok, p_status, p_work, p_rtt, p_at) AS b(nid, ok, status, work, rtt, at)
     WHERE n.nid = b.nid;
    GET DIAGNOSTICS updated = ROW_COUNT;

    INSERT INTO heartbeats (nid, at, rtt_ms, ok, work_num)
    SELECT b.nid, to_timestamp(b.at / 1000.0), CASE WHEN b.ok THEN b.rtt END, b.ok,
           CASE WHEN b.ok THEN greatest(b.work, 0) END
      FROM unnest(p_nid, p_ok, p_work, p_rtt, p_at) AS b(nid, ok, work, rtt, at)
     WHERE EXISTS (SELECT 1 FROM nodes n WHERE n.nid = b.nid);

    DELETE FROM heartbeats
     WHERE id IN (SELECT old.id
                    FROM (SELECT DISTINCT unnest(p_nid) AS nid) AS d
                   CROSS JOIN LATERAL (SELECT h.id FROM heartbeats h WHERE h.nid = d.nid
                                        ORDER BY h.at DESC, h.id DESC OFFSET greatest(p_keep, 0))
                         AS old);
    RETURN updated;
END
$$;
