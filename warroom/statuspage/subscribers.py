"""Status-page subscribers (e-mail with double opt-in, signed webhooks), kept in SQLite or PostgreSQL (#17)."""
