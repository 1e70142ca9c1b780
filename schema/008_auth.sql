-- 008_auth.sql - digest authentication (docs/auth.md): the users who may authenticate and the
-- key of the nonce MAC that every node of the cluster shares.
--
-- Applied once by `sipd --init-db` inside its own transaction (see 001_init.sql): no BEGIN/COMMIT.
-- No user is created here: an operator adds them (sipctl user add, POST /api/v1/users).

-- 001_init.sql's `credentials` (one row per user, realm and algorithm) is not read or written by
-- sipd: `users` below holds one row per AOR, which is what the registrar, the REST API and
-- sipctl name. It stays (empty) so that a database made by an earlier sipd keeps its shape.

-- One row per user: HA1 = H(user ":" realm ":" password) in lower-case hex for each algorithm
-- that sipd offers (RFC 8760: SHA-256 and MD5 challenges together), where user is the AOR's user
-- part and realm its domain. Never the password.
CREATE TABLE users (
    aor        text PRIMARY KEY CHECK (aor LIKE 'sip:%@%'),
    realm      text NOT NULL,
    ha1_md5    text NOT NULL CHECK (ha1_md5 ~ '^[0-9a-f]{32}$'),
    ha1_sha256 text NOT NULL CHECK (ha1_sha256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The nonce MAC key: one row, written by the first node that needs it (a random value it
-- proposes; the others read that row), so that a nonce issued by one node is accepted by every
-- other. Deleting the row invalidates every outstanding nonce once the nodes restart.
CREATE TABLE auth_secret (
    id         integer PRIMARY KEY CHECK (id = 1),
    secret     bytea NOT NULL CHECK (length(secret) BETWEEN 16 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
