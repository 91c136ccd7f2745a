"""The official Python Functions Framework doing what this project's functions do, for
scripts/bench's comparison: `hello` (Hello, World!), `ingest` (a messagePublished
CloudEvent's user stored once in effect, by the same SQL function ingest calls) and `data`
(the first page of users, as read's /data answers it). One target a process, as Cloud Run
runs them; a psycopg pool of DB_POOL_SIZE connections (4, as this project's default) from
the standard PG* variables, opened in the worker on first use (gunicorn forks after import)."""

import base64
import json
import os
import threading

import functions_framework

LIMIT = 100
_pool, _pool_lock = None, threading.Lock()


def database():
    global _pool
    with _pool_lock:
        if _pool is None:
            from psycopg_pool import ConnectionPool

            size = int(os.environ.get("DB_POOL_SIZE", "4"))
            _pool = ConnectionPool("", min_size=size, max_size=size, open=True, timeout=5)
        return _pool


@functions_framework.http
def hello(request):
    return "Hello, World!"


@functions_framework.cloud_event
def ingest(event):
    """Pub/Sub's message data is base64 JSON; its id and publish time identify a delivery."""
    message = (event.data or {}).get("message") or {}
    if not isinstance(message.get("messageId"), str):
        raise ValueError("not a Pub/Sub messagePublished event")
    user = json.loads(base64.b64decode(message.get("data") or ""))
    if not isinstance(user.get("email"), str) or not isinstance(user.get("name"), str):
        raise ValueError("the message has no email or name")
    key = f"{message['messageId']}@{message['publishTime']}" if message.get("publishTime") else message["messageId"]
    user_id = user.get("user_id") if isinstance(user.get("user_id"), int) else None
    with database().connection() as connection:
        # Per message: the id stored, None if seen before, 0 if another session holds the row.
        stored = connection.execute(
            "SELECT write_user_messages(%s::text[], %s::int4[], %s::text[], %s::text[])",
            ([key], [user_id], [user["email"]], [user["name"]])).fetchone()[0]
    if stored[0] == 0:
        raise RuntimeError(f"message {key}: the user's row is held elsewhere; retry")


@functions_framework.http
def data(request):
    with database().connection() as connection:
        rows = connection.execute(
            "SELECT user_id, email, name FROM users WHERE user_id > %s ORDER BY user_id LIMIT %s",
            (0, LIMIT + 1)).fetchall()
    page = {"data": [{"user_id": i, "email": e, "name": n} for i, e, n in rows[:LIMIT]]}
    if len(rows) > LIMIT:
        page["next"] = f"/data?limit={LIMIT}&after={rows[LIMIT - 1][0]}"
    return page
