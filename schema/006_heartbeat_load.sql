-- 006_heartbeat_load.sql - the load a node reported with each heartbeat, kept in its history for
-- the control plane (GET /api/v1/nodes/{name}/heartbeats: at, ok, rtt_ms, work_num).
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

ALTER TABLE heartbeats ADD COLUMN work_num integer;  -- NULL when unanswered

-- As in 004_cluster.sql, and the history row now keeps the reported work_num too.
CREATE OR REPLACE FUNCTION sipd_node_beats(p_nid integer[], p_ok boolean[], p_status smallint[],
                                           p_work integer[], p_rtt real[], p_at bigint[],
                                           p_keep integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    updated integer;
BEGIN
    PERFORM 1 FROM nodes WHERE nid = ANY (p_nid) ORDER BY nid FOR UPDATE;

    UPDATE nodes AS n
       SET status = CASE WHEN b.status IN (0, 1) THEN b.status ELSE n.status END,
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
