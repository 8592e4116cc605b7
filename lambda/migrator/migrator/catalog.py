"""A comparable description of one schema's tables, read from the system catalogs.

Objects are keyed by name (never by oid or column position), and definitions are
printed with the schema name stripped, so a scratch copy compares equal.
"""

from __future__ import annotations

import psycopg

from migrator.history import LEGACY_TABLE

Catalog = dict[str, str]  # "object kind and name" -> its definition

# pg_class.relkind letters, each set named for what a query means by it:
TABLE_KINDS = ("r", "p")  # tables with columns of their own: ordinary and partitioned
LISTED_KINDS = (*TABLE_KINDS, "v", "m")  # what verify lists as a table: tables, views, materialized views
RELATION_KINDS = (*LISTED_KINDS, "f")  # what a schema creates to hold or show rows: the above and foreign tables
OWNED_KINDS = (*RELATION_KINDS, "S")  # what the migration role must own in its schema: relations and sequences


def kinds_sql(kinds: tuple[str, ...]) -> str:
    """A relkind set as SQL, for `c.relkind IN (...)`."""
    return ", ".join(f"'{kind}'" for kind in kinds)


_COLUMNS = f"""
SELECT c.relname, a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %(schema)s AND c.relkind IN ({kinds_sql(TABLE_KINDS)}) AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname <> ALL(%(skip)s)
""".encode()

_CONSTRAINTS = b"""
SELECT c.relname, k.conname,
       CASE k.contype WHEN 'f' THEN
         'FOREIGN KEY (' || (SELECT string_agg(attname, ', ' ORDER BY u.ord)
                             FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
                             JOIN pg_attribute ON attrelid = k.conrelid AND attnum = u.num)
         || ') REFERENCES ' || r.relname || ' (' ||
         (SELECT string_agg(attname, ', ' ORDER BY u.ord) FROM unnest(k.confkey) WITH ORDINALITY u(num, ord)
          JOIN pg_attribute ON attrelid = k.confrelid AND attnum = u.num)
         || ') ON DELETE ' || CASE k.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
              WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END
         || ' ON UPDATE ' || CASE k.confupdtype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
              WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END
       ELSE pg_get_constraintdef(k.oid) END
       || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE n.nspname = %(schema)s AND c.relname <> ALL(%(skip)s) AND k.contype <> 'n'
"""

_INDEXES = b"""
SELECT c.relname, i.relname,
       replace(pg_get_indexdef(i.oid), ' ON ' || quote_ident(%(schema)s) || '.', ' ON ')
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname <> ALL(%(skip)s)
"""

_TABLES = f"""
SELECT c.relname, CASE c.relkind WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                  WHEN 'm' THEN 'materialized view' ELSE 'table' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ({kinds_sql(LISTED_KINDS)}) AND c.relname <> ALL(%(skip)s)
""".encode()


def describe(conn: psycopg.Connection, schema: str = "public", skip: tuple[str, ...] = (LEGACY_TABLE,)) -> Catalog:
    args = {"schema": schema, "skip": list(skip)}
    catalog: Catalog = {}
    for name, kind in conn.execute(_TABLES, args):
        catalog[f"table {name}"] = kind
    for table, column, definition in conn.execute(_COLUMNS, args):
        catalog[f"column {table}.{column}"] = definition
    for table, name, definition in conn.execute(_CONSTRAINTS, args):
        catalog[f"constraint {table}.{name}"] = definition
    for table, name, definition in conn.execute(_INDEXES, args):
        catalog[f"index {table}.{name}"] = definition
    return catalog


def differences(expected: Catalog, actual: Catalog) -> list[str]:
    """Every object missing, unexpected or different, by name, in a stable order."""
    found: list[str] = []
    for key in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(key), actual.get(key)
        if have is None:
            found.append(f"missing {key}: {want}")
        elif want is None:
            found.append(f"unexpected {key}: {have}")
        elif want != have:
            found.append(f"different {key}: expected {want}; found {have}")
    return found
