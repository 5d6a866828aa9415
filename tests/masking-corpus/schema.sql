-- The corpus database. Masked values are chosen so that any text derived from
-- them (casts, upper/lower, concatenation, JSON, arrays) still contains them,
-- compared without case: the end-to-end test finds them by content.
CREATE TABLE customers (id int PRIMARY KEY, email text, phone text, ssn text, card text, notes text);
INSERT INTO customers VALUES
  (1, 'alice@example.com', '+1-555-0100', '123-45-6789', '4111111111111111', 'likes tea'),
  (2, 'bob@example.org', '+1-555-0199', '987-65-4321', '5500000000000004', 'prefers letters');
CREATE VIEW customer_view AS
  SELECT id, email, phone AS telephone, upper(ssn) AS ssn_upper, notes FROM customers;
CREATE TABLE orders (id int, customer_id int, email text, total numeric);
INSERT INTO orders VALUES (10, 1, 'orders@shop.test', 9.5), (11, 2, 'orders@shop.test', 20);
CREATE TABLE audit_log (id int, note text);
