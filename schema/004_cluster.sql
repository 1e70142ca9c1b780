-- 004_cluster.sql - writing a round of heartbeat results in one round trip (docs/cluster.md).
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.

-- A balancer's round of heartbeat results (store_node_beats in sipd/store/store.h), one element
-- of each array per probed node: the node's status as the balancer now holds it (1 up, 0 down
-- after its misses, -1 unchanged: a probe missed while the node still counts as up); when it answered, its work_num (from its Sipd-Load header), the time and
-- the round-trip time. One history row per result in `heartbeats`, and each node's history
-- trimmed to its newest p_keep rows. Results for nids that are not (or no longer) in `nodes` are
-- ignored. The rows are locked in nid order first, so that two balancers writing rounds at the
-- same time cannot deadlock on each other. Returns how many node rows were updated.
CREATE FUNCTION sipd_node_beats(p_nid integer[], p_ok boolean[], p_status smallint[],
                                p_work integer[], p_rtt real[], p_at bigint[], p_keep integer)
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

    INSERT INTO heartbeats (nid, at, rtt_ms, ok)
    SELECT b.nid, to_timestamp(b.at / 1000.0), CASE WHEN b.ok THEN b.rtt END, b.ok
      FROM unnest(p_nid, p_ok, p_rtt, p_at) AS b(nid, ok, rtt, at)
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
