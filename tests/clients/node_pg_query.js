// Runs one query with node-postgres and prints the first row tab-separated.
// Usage: node_pg_query.js DSN SQL
const { Client } = require("pg");

async function main(dsn, sql) {
  const client = new Client({ connectionString: dsn, connectionTimeoutMillis: 10000 });
  await client.connect();
  try {
    const result = await client.query({ text: sql, rowMode: "array" });
    console.log(result.rows[0].map(String).join("\t"));
  } finally {
    await client.end();
  }
}

main(process.argv[2], process.argv[3]).catch((e) => {
  console.error(`sqlstate=${e.code} error=${e.message}`);
  process.exit(1);
});
