"""rate-limit hits in batches: one round trip for many requests' checks

Revision ID: 0007
Revises: 0006

`rate_limit_hit_batch` takes the hits of many requests (flattened: one array
element per (hit, key), hits contiguous and in order) and counts them one
after another, each all-or-nothing over its keys, exactly as one statement
per hit did: each hit's statement sees the ones before it. Before counting,
it takes a transaction-scoped advisory lock per key of the batch in one
global order, so two batches sharing keys (two app workers, or an instance's
two batches in flight) wait for each other instead of deadlocking on row
locks taken in different orders. `rate_limit_clear` takes the same locks
before deleting.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The texts below are built from this module's constants only.
# The advisory lock class of rate-limit keys (two-int form: its own key space).
LOCK_CLASS = 0x524C  # "RL"

_LOCK_KEYS = f"""
    FOR h IN SELECT DISTINCT hashtext(k) AS lock_key FROM unnest(p_key) AS k ORDER BY lock_key
    LOOP
        PERFORM pg_advisory_xact_lock({LOCK_CLASS}, h);
    END LOOP;
"""  # noqa: S608

HIT_BATCH = f"""
CREATE FUNCTION rate_limit_hit_batch(
    p_hit int[], p_key text[], p_bucket bigint[], p_span int[], p_amount int[],
    p_expires timestamptz[], p_cost int[]
) RETURNS TABLE (r_ord int, r_indexes bigint[], r_hits int[], r_counted boolean)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    n int := coalesce(array_length(p_key, 1), 0);
    lo int := 1;
    hi int;
    h int;
BEGIN
    {_LOCK_KEYS}
    WHILE lo <= n LOOP
        hi := lo;
        WHILE hi < n AND p_hit[hi + 1] = p_hit[lo] LOOP
            hi := hi + 1;
        END LOOP;
        RETURN QUERY
        WITH input AS (
            SELECT t.key, t.bucket, t.span, t.amount, t.expires_at,
                   CAST(t.ord + lo - 1 AS int) AS ord
            FROM unnest(p_key[lo:hi], p_bucket[lo:hi], p_span[lo:hi], p_amount[lo:hi],
                        p_expires[lo:hi])
                 WITH ORDINALITY AS t(key, bucket, span, amount, expires_at, ord)
        ),
        seen AS (
            SELECT i.ord, i.key, i.bucket, i.amount, i.expires_at,
                   coalesce(array_agg(w.window_index ORDER BY w.window_index)
                            FILTER (WHERE w.window_index IS NOT NULL), '{{}}') AS indexes,
                   coalesce(array_agg(w.hits ORDER BY w.window_index)
                            FILTER (WHERE w.window_index IS NOT NULL), '{{}}') AS hits,
                   coalesce(sum(w.hits), 0) AS total,
                   coalesce(sum(w.hits) FILTER (WHERE w.window_index = i.bucket), 0) AS current
            FROM input i
            LEFT JOIN rate_limit_windows w
              ON w.key = i.key AND w.window_index > i.bucket - i.span
             AND w.window_index <= i.bucket
            GROUP BY i.ord, i.key, i.bucket, i.amount, i.expires_at
        ),
        counted AS (
            INSERT INTO rate_limit_windows AS w (key, window_index, hits, expires_at)
            SELECT s.key, s.bucket, p_cost[lo], s.expires_at FROM seen s
            WHERE NOT EXISTS (SELECT 1 FROM seen x WHERE x.total + p_cost[lo] > x.amount)
            ON CONFLICT (key, window_index) DO UPDATE SET hits = w.hits + excluded.hits
            WHERE w.hits + excluded.hits
                  + (SELECT s.total - s.current - s.amount FROM seen s WHERE s.key = excluded.key)
                  <= 0
            RETURNING w.key
        )
        SELECT s.ord, CAST(s.indexes AS bigint[]), CAST(s.hits AS int[]), k.key IS NOT NULL
        FROM seen s LEFT JOIN counted k ON k.key = s.key
        ORDER BY s.ord;
        lo := hi + 1;
    END LOOP;
END;
$fn$
"""  # noqa: S608

CLEAR = f"""
CREATE FUNCTION rate_limit_clear(p_key text[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    h int;
BEGIN
    {_LOCK_KEYS}
    DELETE FROM rate_limit_windows WHERE key = ANY(p_key);
END;
$fn$
"""  # noqa: S608


def upgrade() -> None:
    op.execute(HIT_BATCH)
    op.execute(CLEAR)


def downgrade() -> None:
    op.execute("DROP FUNCTION rate_limit_clear(text[])")
    op.execute(
        "DROP FUNCTION rate_limit_hit_batch(int[], text[], bigint[], int[], int[],"
        " timestamptz[], int[])"
    )
