"""PostgreSQL storage: the same interface as ``server.storage.database.Database`` on an asyncpg
pool, so that several ``hearth serve`` nodes can share one database (docs/storage.md,
"PostgreSQL"). The stores' SQL is shared: ``connection.py`` runs it through a thin adapter."""
