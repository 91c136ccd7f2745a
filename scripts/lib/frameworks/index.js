// The official Node.js Functions Framework doing what this project's functions do, for
// scripts/bench's comparison: `hello` (Hello, World!), `ingest` (a messagePublished
// CloudEvent's user stored once in effect, by the same SQL function ingest calls) and `data`
// (the first page of users, as read's /data answers it). One target a process, as Cloud Run
// runs them; a pool of DB_POOL_SIZE connections (4, as this project's default) from the
// standard PG* variables.
const functions = require('@google-cloud/functions-framework');

let pool;
function database() {
  if (!pool) {
    const { Pool } = require('pg');
    pool = new Pool({ max: Number(process.env.DB_POOL_SIZE || 4) });
  }
  return pool;
}

functions.http('hello', (req, res) => {
  res.send('Hello, World!');
});

// Pub/Sub's message data is base64 JSON; its id and publish time identify a delivery.
functions.cloudEvent('ingest', async (event) => {
  const message = event.data && event.data.message;
  if (!message || typeof message.messageId !== 'string') {
    throw new Error('not a Pub/Sub messagePublished event');
  }
  const user = JSON.parse(Buffer.from(message.data || '', 'base64').toString('utf8'));
  if (typeof user.email !== 'string' || typeof user.name !== 'string') {
    throw new Error('the message has no email or name');
  }
  const key = message.publishTime ? `${message.messageId}@${message.publishTime}` : message.messageId;
  const userId = Number.isInteger(user.user_id) ? user.user_id : null;
  // Per message: the id stored, null if seen before, 0 if another session holds the row.
  const { rows } = await database().query({
    name: 'write',
    text: 'SELECT write_user_messages($1::text[], $2::int4[], $3::text[], $4::text[]) AS stored',
    values: [[key], [userId], [user.email], [user.name]],
  });
  if (rows[0].stored[0] === 0) {
    throw new Error(`message ${key}: the user's row is held elsewhere; retry`);
  }
});

const LIMIT = 100;

functions.http('data', async (req, res) => {
  const { rows } = await database().query({
    name: 'page',
    text: 'SELECT user_id, email, name FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2',
    values: [0, LIMIT + 1],
  });
  const page = { data: rows.slice(0, LIMIT) };
  if (rows.length > LIMIT) {
    page.next = `/data?limit=${LIMIT}&after=${rows[LIMIT - 1].user_id}`;
  }
  res.json(page);
});
