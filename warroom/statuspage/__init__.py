"""warroom's built-in status page: `/status` (HTML) and `/status.json`, from status_page messages only.

The worker records every status_page notification in a small store (`<data_dir>/status/*.json`,
one file per incident, written atomically under a file lock); this router reads it. The page shows
only what those notifications said — their public title and text, the status they announced and
when — never the incident id, names, the channel or anything internal. Current incidents first,
then the ones resolved in the last 7 days. Server-rendered, autoescaped, no JavaScript; the page
refreshes itself every 30 s.

    app.include_router(status_router(settings.data_dir))   # in the intake app
    uvicorn.run(create_status_app(Path(".warroom")))        # standalone

`store` records what the worker posts (no web framework: activities import it); `page` serves it,
with `feed` (`/status/feed.atom`, Atom). With WARROOM_STATUS_SUBSCRIPTIONS on, `subscribe` adds the
routes readers subscribe through (e-mail with double opt-in, signed webhooks; the intake mounts them
too) and `subscribers` keeps them (SQLite, or PostgreSQL at WARROOM_DATABASE_URL); the worker's
built-in status page adapter (activities/channels/status_subscribers.py) tells them of each post.
"""
