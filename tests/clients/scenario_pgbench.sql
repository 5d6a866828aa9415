-- pgbench script of the protocol suite (tests/tests/protocol_scenarios.rs): DML in
-- transactions, run with one client, a fixed seed and a fixed count (-t), so the
-- tables end up the same whichever way the client reached the database.
\set a random(1, 50)
\set b random(1, 50)
\set delta random(-500, 500)
BEGIN;
UPDATE bench_accounts SET balance = balance + :delta WHERE id = :a;
UPDATE bench_accounts SET balance = balance - :delta WHERE id = :b;
INSERT INTO bench_history (account, other, delta) VALUES (:a, :b, :delta) RETURNING id;
DELETE FROM bench_history WHERE id = currval('bench_history_id_seq') AND delta < -400;
SELECT balance FROM bench_accounts WHERE id = :a;
END;
