-- The policy corpus's database, applied as the superuser (psql -f, over the unix
-- socket) to a fresh cluster's `postgres` database. The harness has already created the
-- login roles the gateway uses: corpus_reader, corpus_writer, corpus_developer and
-- corpus_dba (see tests/tests/policy_corpus.rs).
--
-- The server is deliberately generous: every corpus role may do nearly everything the
-- cases try (through membership in the role that owns every object, the server-file and
-- program roles, EXECUTE on the superuser-only functions, and corpus_dba is a
-- superuser). A refused case whose effect is unchanged therefore shows the gateway
-- refused it, not the server.

-- Roles ------------------------------------------------------------------------------

CREATE ROLE corpus_owner NOLOGIN;     -- owns every object below
CREATE ROLE corpus_victim NOLOGIN;    -- the target of GRANT and ALTER ROLE cases
GRANT corpus_owner TO corpus_reader, corpus_writer, corpus_developer;
GRANT pg_read_server_files, pg_write_server_files, pg_execute_server_program,
      pg_signal_backend, pg_read_all_settings
   TO corpus_reader, corpus_writer, corpus_developer;
ALTER ROLE corpus_dba SUPERUSER;
ALTER ROLE corpus_writer CREATEROLE;
-- SET ROLE corpus_dba would work on the server for the writer.
GRANT corpus_dba TO corpus_writer;
GRANT CREATE ON DATABASE postgres TO corpus_owner;
GRANT ALL ON SCHEMA public TO corpus_owner;

-- Databases that the baseline cases would drop or reconfigure.
CREATE DATABASE corpus_victim_drop;
CREATE DATABASE corpus_victim_settings;

-- Extensions: adminpack puts pg_file_write into pg_catalog; dblink lives in ext.
-- citext, hstore and pg_trgm stay uninstalled (CREATE EXTENSION cases).
CREATE EXTENSION adminpack;
CREATE SCHEMA ext;
CREATE EXTENSION dblink SCHEMA ext;
GRANT USAGE ON SCHEMA ext TO corpus_owner;

-- Superuser-only functions the server would run for the corpus roles.
GRANT EXECUTE ON FUNCTION
    pg_catalog.lo_import(text), pg_catalog.lo_export(oid, text),
    pg_catalog.pg_read_file(text), pg_catalog.pg_ls_dir(text),
    pg_catalog.pg_file_write(text, text, boolean)
  TO corpus_owner;

-- Everything else belongs to corpus_owner.
SET ROLE corpus_owner;

CREATE SCHEMA app;
CREATE SCHEMA hr;
CREATE SCHEMA scratch;
-- Look-alikes: a quoted upper-case "HR" is not hr, and "app.x" is not app.
CREATE SCHEMA "HR";
CREATE SCHEMA "app.x";

-- app -------------------------------------------------------------------------------

CREATE TABLE app.customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO app.customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;

CREATE SEQUENCE app.order_seq START 1000;
CREATE TABLE app.orders (
    id bigint PRIMARY KEY DEFAULT nextval('app.order_seq'),
    customer_id int NOT NULL,
    total numeric(10, 2) NOT NULL,
    created_by name NOT NULL DEFAULT current_user
);
INSERT INTO app.orders (id, customer_id, total)
    SELECT g, 1 + g % 20, g * 1.5 FROM generate_series(1, 100) g;
CREATE TABLE app.orders_archive (LIKE app.orders);

CREATE VIEW app.order_totals AS
    SELECT customer_id, sum(total) AS total FROM app.orders GROUP BY customer_id;
-- Automatically updatable.
CREATE VIEW app.recent_orders AS
    SELECT id, customer_id, total FROM app.orders WHERE id > 50;
CREATE MATERIALIZED VIEW app.order_mv AS SELECT count(*) AS n FROM app.orders WITH NO DATA;

-- One table per TRUNCATE case (each needs approval, or is refused).
CREATE TABLE app.pad_a (note text);
CREATE TABLE app.pad_b (note text);
CREATE TABLE app.pad_c (note text);
INSERT INTO app.pad_a VALUES ('one'), ('two');
INSERT INTO app.pad_b VALUES ('one'), ('two');
INSERT INTO app.pad_c VALUES ('one'), ('two');

-- A large object for lo_export.
DO $$ BEGIN PERFORM lo_from_bytea(4242, 'corpus'); END $$;

CREATE TABLE app.counters (name text PRIMARY KEY, n bigint NOT NULL);
INSERT INTO app.counters VALUES ('hits', 0);
CREATE FUNCTION app.bump_counter() RETURNS bigint LANGUAGE sql VOLATILE
    AS $$ UPDATE app.counters SET n = n + 1 WHERE name = 'hits' RETURNING n $$;
CREATE PROCEDURE app.archive_order(order_id int) LANGUAGE sql
    AS $$ DELETE FROM app.orders WHERE id = order_id $$;
-- The writer's allow rule grants app.*, a deny rule takes app.danger* back.
CREATE FUNCTION app.danger_reset() RETURNS void LANGUAGE sql VOLATILE
    AS $$ UPDATE app.customers SET name = name || '!' WHERE id = 20 $$;

-- A cast whose function writes.
CREATE TABLE app.cast_log (v text);
CREATE TYPE app.tag AS (label text);
CREATE FUNCTION app.tag_from_text(text) RETURNS app.tag LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO app.cast_log VALUES ($1);
    RETURN ROW($1)::app.tag;
END $$;
CREATE CAST (text AS app.tag) WITH FUNCTION app.tag_from_text(text);

-- Writes hidden behind an insert: a rule and a trigger that write into hr.
CREATE TABLE app.events (what text);
CREATE TABLE app.payments (amount numeric);

-- hr --------------------------------------------------------------------------------

CREATE TABLE hr.salaries (id int PRIMARY KEY, employee text NOT NULL, amount numeric NOT NULL);
INSERT INTO hr.salaries SELECT g, 'employee ' || g, 1000 * g FROM generate_series(1, 30) g;
CREATE TABLE hr.audit (id serial PRIMARY KEY, what text);
CREATE TABLE hr.notes (id serial PRIMARY KEY, body text);

CREATE TABLE "HR".salaries (id int PRIMARY KEY, employee text NOT NULL, amount numeric NOT NULL);
INSERT INTO "HR".salaries VALUES (1, 'look-alike', 1);
CREATE TABLE "app.x".secrets (v text);
INSERT INTO "app.x".secrets VALUES ('not in app');

CREATE RULE events_audit AS ON INSERT TO app.events
    DO ALSO INSERT INTO hr.audit (what) VALUES ('event ' || NEW.what);
CREATE FUNCTION app.audit_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hr.audit (what) VALUES ('payment ' || NEW.amount);
    RETURN NEW;
END $$;
CREATE TRIGGER payments_audit AFTER INSERT ON app.payments
    FOR EACH ROW EXECUTE FUNCTION app.audit_payment();

-- public ----------------------------------------------------------------------------

CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
INSERT INTO public.notes (body) VALUES ('first'), ('second');
CREATE TABLE public.op_log (v text);

-- Views in public over hr: the names say public, the rows come from hr.
CREATE VIEW public.salary_summary AS SELECT count(*) AS n, sum(amount) AS total FROM hr.salaries;
CREATE VIEW public.salary_edit AS SELECT id, employee, amount FROM hr.salaries;

-- Functions and operators in public with side effects.
CREATE FUNCTION public.add_note(text) RETURNS int LANGUAGE sql VOLATILE
    AS $$ INSERT INTO public.notes (body) VALUES ($1) RETURNING 1 $$;
-- Overloads a pg_catalog name: lower(42) resolves here, not to pg_catalog.lower(text).
CREATE FUNCTION public.lower(integer) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.op_log VALUES ('lower ' || $1);
    RETURN $1;
END $$;
CREATE FUNCTION public.arrow(integer, integer) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.op_log VALUES ('arrow ' || $1);
    RETURN $1 + $2;
END $$;
CREATE OPERATOR public.==> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.arrow);
CREATE OPERATOR app.==> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.arrow);
-- A built-in symbol on types it has no built-in operator for.
CREATE FUNCTION public.text_plus(text, text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.op_log VALUES ('plus ' || $1);
    RETURN $1 || $2;
END $$;
CREATE OPERATOR public.+ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_plus);

-- scratch: the developer's playground --------------------------------------------------

CREATE TABLE scratch.log (body text);
CREATE TABLE scratch.t_rule (x int);
CREATE TABLE scratch.t_trig (x int);
CREATE TABLE scratch.t_default (x int);
CREATE MATERIALIZED VIEW scratch.mv_fixture AS SELECT 1 AS one;
-- A view in app that a DROP ... CASCADE in scratch would take along.
CREATE TABLE scratch.t_cascade (x int);
CREATE VIEW app.v_cascade AS SELECT x FROM scratch.t_cascade;

RESET ROLE;
