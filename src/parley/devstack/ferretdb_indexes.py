"""Make FerretDB v1 serve MongoDB indexes the way MongoDB does, on the local
stack only.

FerretDB v1 stores each collection as a PostgreSQL table of `_jsonb` documents
and turns a MongoDB index on `field` into a btree index on `(_jsonb ->
'field')`, but pushes an equality filter down as `_jsonb -> 'field' @> value`,
which a btree cannot serve: every lookup is a sequential scan of the whole
collection (FerretDB issue 4646). An event trigger in FerretDB's own PostgreSQL
gives each such index a GIN twin on the same expression, which `@>` uses, so a
history page reads the conversation's documents, not the collection.

This changes nothing Parley sends: the app creates ordinary MongoDB indexes and
queries them with ordinary equality filters (stored as text, see
`storage.mongo.schema`), which a real MongoDB serves from those indexes.
"""

from __future__ import annotations

from parley.devstack.postgres import PostgresServer

TRIGGER_SQL = r"""
CREATE OR REPLACE FUNCTION parley_add_gin_twins(index_oid oid) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    tab regclass := (SELECT indrelid::regclass FROM pg_index WHERE indexrelid = index_oid);
    def text := pg_get_indexdef(index_oid);
    field text;
BEGIN
    IF def NOT LIKE '% USING btree %' THEN
        RETURN;
    END IF;
    FOR field IN
        SELECT m[1] FROM regexp_matches(def, '_jsonb -> ''([^'']+)''::text', 'g') m
    LOOP
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L))'
            ' WITH (fastupdate = off)',
            'gin_' || left(md5(tab::text || '/' || field), 24), tab, field
        );
    END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION parley_gin_twins() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM parley_add_gin_twins(objid)
    FROM pg_event_trigger_ddl_commands()
    WHERE command_tag = 'CREATE INDEX' AND object_type = 'index';
END
$fn$;

DROP EVENT TRIGGER IF EXISTS parley_gin_twins;
CREATE EVENT TRIGGER parley_gin_twins ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION parley_gin_twins();

-- Indexes FerretDB made before the trigger existed (a reused data directory).
SELECT parley_add_gin_twins(indexrelid) FROM pg_index
WHERE pg_get_indexdef(indexrelid) LIKE '%USING btree%_jsonb -> %';
"""


def install_gin_twins(backend: PostgresServer, database: str) -> None:
    """Idempotent: existing indexes get their twins now, new ones as created."""
    backend.psql(TRIGGER_SQL, database)
