// The node-postgres scenario of the protocol suite (tests/tests/protocol_scenarios.rs):
// parameters in text, results in text and binary, named prepared statements, pipeline
// mode, transactions and savepoints, notices and notifications, a million rows read
// from a portal in batches, COPY without a stream (CopyFail and a discarded CopyOut),
// cancellation. Prints one line per observable result and nothing that differs
// between a run through the gateway and a direct one.
// Usage: node scenario_node.js DSN
const crypto = require("crypto");
const pg = require("pg");

const BIG = "SELECT g, md5(g::text) FROM generate_series(1, 1000000) g";

const VALUES = [
  -42,
  "9007199254740993",
  "héllo 'quoted'",
  "-12345.6780",
  new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)),
  Buffer.from([0, 1, 254, 255]),
  true,
  [1, null, -3],
  ["a", "b c", ""],
  null,
  0.1,
];
const CASTS = ["int4", "int8", "text", "numeric", "timestamptz", "bytea", "bool", "int4[]", "text[]", "int4", "float8"];

function show(value) {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `<${value.toString("hex")}>`;
  return JSON.stringify(value);
}

/** Runs the query; prints `label ok` or `label sqlstate=...`. */
async function attempt(client, label, query, values) {
  try {
    await client.query(query, values);
    console.log(`${label} ok`);
  } catch (e) {
    console.log(`${label} sqlstate=${e.code}`);
  }
}

async function ddlAndDml(client) {
  await client.query(
    "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL); CREATE INDEX kv_v ON kv (v); " +
      "ALTER TABLE kv ADD COLUMN n numeric; CREATE TABLE scratch (x int); DROP TABLE scratch",
  );
  console.log("ddl ok");
  for (const [id, v, n] of [[1, "one", "1.10"], [2, "two", "-2.5"], [3, "three", null]]) {
    const r = await client.query({
      name: "insert_kv",
      text: "INSERT INTO kv (id, v, n) VALUES ($1, $2, $3) RETURNING id, v, n",
      values: [id, v, n],
    });
    console.log("inserted", r.command, r.rowCount, JSON.stringify(r.rows[0]));
  }
  const updated = await client.query("UPDATE kv SET v = upper(v) WHERE id >= $1", [2]);
  console.log(`update ${updated.command} rows=${updated.rowCount}`);
  const deleted = await client.query("DELETE FROM kv WHERE id = $1 RETURNING v", [3]);
  console.log("delete returning", deleted.rows[0].v);
  // Several statements in one simple query: one result per statement.
  const results = await client.query("SELECT 1 AS a; SELECT 'two' AS b; UPDATE kv SET v = v WHERE false");
  console.log("multi", results.map((r) => `${r.command}:${JSON.stringify(r.rows)}`).join(" "));
}

async function types(client) {
  const text = "SELECT " + CASTS.map((cast, i) => `$${i + 1}::${cast}`).join(", ");
  const asText = await client.query({ text, values: VALUES, rowMode: "array" });
  console.log("text results", asText.rows[0].map(show).join(" | "));
  console.log("field types", asText.fields.map((f) => `${f.dataTypeID}/${f.format}`).join(" "));
  // Binary results: pg-protocol decodes every field as UTF-8 text before pg-types
  // parses it, so only values whose binary form is valid UTF-8 survive; and
  // rowMode "array" skips the conversion to a Buffer that binary parsers need.
  const asBinary = await client.query({
    text: "SELECT $1::int4 AS i4, $2::int8 AS i8, $3::text AS t, $4::bool AS b, $5::float8 AS f, $6::int4 AS n",
    values: [16909060, "72623859790382856", "héllo 'quoted'", true, 2.0, null],
    binary: true,
  });
  console.log("binary results", JSON.stringify(asBinary.rows[0]));
  console.log("binary formats", asBinary.fields.map((f) => f.format).join(" "));
  for (let i = 0; i < 3; i++) {
    const r = await client.query({ name: "double", text: "SELECT $1::int * 2 AS d", values: [i] });
    console.log("prepared", r.rows[0].d);
  }
}

async function errors(client) {
  await attempt(client, "unique violation", "INSERT INTO kv (id, v) VALUES (1, 'again')");
  await attempt(client, "division by zero", "SELECT 1 / $1::int", [0]);
  await attempt(client, "undefined table", "SELECT * FROM no_such_table");
  await attempt(client, "undefined function", "SELECT no_such_function(1)");
  await attempt(client, "invalid text", "SELECT $1::int", ["not a number"]);
  // A named statement that fails to prepare, then one that works under another name.
  await attempt(client, "prepare undefined column", { name: "bad", text: "SELECT nope FROM kv" });
  const count = await client.query("SELECT count(*)::int AS n FROM kv");
  console.log("rows after errors", count.rows[0].n);
}

async function transactions(client) {
  await client.query("BEGIN");
  await client.query("INSERT INTO kv (id, v) VALUES (10, 'in aborted transaction')");
  await attempt(client, "in transaction: unique violation", "INSERT INTO kv (id, v) VALUES (1, 'x')");
  await attempt(client, "in transaction: next statement", "SELECT 1");
  await client.query("ROLLBACK");
  const rolledBack = await client.query("SELECT count(*)::int AS n FROM kv WHERE id = 10");
  console.log("after rollback rows", rolledBack.rows[0].n);

  await client.query("BEGIN");
  await client.query("INSERT INTO kv (id, v) VALUES (20, 'kept')");
  await client.query("SAVEPOINT s1");
  await client.query("INSERT INTO kv (id, v) VALUES (21, 'rolled back')");
  await attempt(client, "in savepoint: unique violation", "INSERT INTO kv (id, v) VALUES (1, 'x')");
  await client.query("ROLLBACK TO SAVEPOINT s1");
  await client.query("INSERT INTO kv (id, v) VALUES (22, 'kept after savepoint')");
  await client.query("COMMIT");
  const ids = await client.query({ text: "SELECT id FROM kv WHERE id >= 20 ORDER BY id", rowMode: "array" });
  console.log("after savepoint ids", JSON.stringify(ids.rows.flat()));
}

/** Queries written before earlier results arrive, one failing in the middle. */
async function pipeline(dsn) {
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10000, pipeline: true });
  await client.connect();
  try {
    const settled = await Promise.allSettled([
      client.query("INSERT INTO kv (id, v) VALUES ($1, $2) RETURNING id", [30, "pipelined"]),
      client.query("SELECT 1 / $1::int AS x", [0]),
      client.query({ text: "SELECT $1::int8 * 3 AS y", values: ["3000000000"], rowMode: "array" }),
      client.query("SELECT 'simple in the pipeline' AS z"),
    ]);
    for (const [i, s] of settled.entries()) {
      console.log(`pipeline ${i}`, s.status === "fulfilled" ? JSON.stringify(s.value.rows) : `sqlstate=${s.reason.code}`);
    }
  } finally {
    await client.end();
  }
}

/** node-postgres needs pg-copy-streams for COPY; without it, COPY FROM STDIN is refused
 * with a CopyFail and COPY TO STDOUT's data is dropped. */
async function copyWithoutStreams(client) {
  await attempt(client, "copy_in without a stream", "COPY kv (id, v) FROM STDIN");
  const out = await client.query("COPY (SELECT id FROM kv ORDER BY id) TO STDOUT");
  console.log(`copy_out without a stream ${out.command} rows=${out.rowCount}`);
  const after = await client.query("SELECT 'still in sync' AS s");
  console.log("after copy", after.rows[0].s);
}

/** A million rows from a portal read 10,000 at a time, never all in memory. */
function bigResult(client) {
  return new Promise((resolve, reject) => {
    let count = 0;
    let sum = 0;
    const digest = crypto.createHash("md5");
    const query = new pg.Query({ text: BIG, rowMode: "array", rows: 10000 });
    query.on("row", ([g, md5]) => {
      count += 1;
      sum += g;
      digest.update(`${g}\t${md5}\n`);
    });
    query.on("error", reject);
    query.on("end", () => {
      console.log(`big_result rows=${count} sum=${sum} md5=${digest.digest("hex")}`);
      resolve();
    });
    client.query(query);
  });
}

function nextEvent(emitter, name) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 5000);
    emitter.once(name, (event) => {
      clearTimeout(timer);
      resolve(event);
    });
  });
}

async function noticesAndNotifications(client, dsn) {
  const notice = nextEvent(client, "notice");
  await client.query("DO $$ BEGIN RAISE NOTICE 'notice with value %', 42; END $$");
  const n = await notice;
  console.log(`notice severity=${n && n.severity} code=${n && n.code} message=${n && n.message}`);

  const listener = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10000 });
  await listener.connect();
  try {
    const heard = [];
    listener.on("notification", (msg) => heard.push(msg));
    await listener.query("LISTEN scn_channel");
    await client.query("NOTIFY scn_channel, 'plain'");
    await client.query("SELECT pg_notify('scn_channel', $1)", ["from pg_notify ünïcode"]);
    await client.query("BEGIN; NOTIFY scn_channel, 'rolled back'; ROLLBACK");
    await client.query("BEGIN; NOTIFY scn_channel, 'committed'; COMMIT");
    const deadline = Date.now() + 5000;
    while (heard.length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const msg of heard) {
      console.log(`listener notification channel=${msg.channel} payload=${msg.payload}`);
    }
    await listener.query("UNLISTEN *");
    await client.query("NOTIFY scn_channel, 'nobody listens'");
    await listener.query("SELECT 1");
    console.log(`after unlisten heard=${heard.length}`);
  } finally {
    await listener.end();
  }
}

/** pg_sleep(30) cancelled after 300 ms with Client#cancel (a CancelRequest on a new connection). */
async function cancel(client, dsn) {
  const started = Date.now();
  const query = new pg.Query("SELECT pg_sleep(30)");
  const done = new Promise((resolve) => {
    query.on("error", (e) => resolve(`sqlstate=${e.code}`));
    query.on("end", () => resolve("finished"));
  });
  client.query(query);
  setTimeout(() => new pg.Client({ connectionString: dsn }).cancel(client, query), 300);
  console.log("cancel", await done);
  console.log(`cancel quick=${Date.now() - started < 10000}`);
  // Client#cancel does not wait for the server to close the cancel connection (and
  // through the gateway it closes early anyway): a pause keeps a late cancel off the
  // next command.
  await new Promise((r) => setTimeout(r, 500));
  const after = await client.query("SELECT 7 AS n");
  console.log("after cancel select", after.rows[0].n);
}

async function main(dsn) {
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10000 });
  await client.connect();
  try {
    await ddlAndDml(client);
    await types(client);
    await errors(client);
    await transactions(client);
    await pipeline(dsn);
    await copyWithoutStreams(client);
    await bigResult(client);
    await noticesAndNotifications(client, dsn);
    await cancel(client, dsn);
  } finally {
    await client.end();
  }
}

main(process.argv[2]).catch((e) => {
  console.error(`scenario failed: sqlstate=${e.code} ${e.stack}`);
  process.exit(1);
});
