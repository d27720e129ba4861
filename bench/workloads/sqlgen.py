#!/usr/bin/python3
"""sqlgen - write the SQL script of the sqlite3 benchmark.

    /usr/bin/python3 bench/workloads/sqlgen.py SCALE > script.sql
    sqlite3 :memory: < script.sql

The script is what a database load and a reporting job do: many literal
INSERT statements in one transaction (so the SQL parser and the allocator
work, as when a dump is restored), then indexes, joins, GROUP BY, window
functions, string functions, an UPDATE and a DELETE.  SCALE 1.0 runs in
about two seconds here; the output is the same for the same SCALE (fixed
random seed), so every configuration runs the same statements.
"""

import random
import sys

CITIES = ["Lyon", "Oslo", "Kyiv", "Lima", "Pune", "Kobe", "Cork", "Graz", "Nice", "Bonn",
          "Riga", "Bern", "Faro", "Gent", "Ulm", "Split"]
CATEGORIES = ["tools", "books", "garden", "toys", "food", "audio", "bikes", "paint"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def generate(scale, out):
    rng = random.Random(20240611)
    n_customers = int(20000 * scale)
    n_products = int(2000 * scale) or 1
    n_orders = int(160000 * scale)
    w = out.write
    w("PRAGMA journal_mode=OFF;\nPRAGMA synchronous=OFF;\n")
    w("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, created INT);\n")
    w("CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL);\n")
    w("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INT, product INT, qty INT, "
      "price REAL, note TEXT);\n")
    w("BEGIN;\n")
    for i in range(1, n_customers + 1):
        w("INSERT INTO customers VALUES(%d,'%s %s',%r,%d);\n"
          % (i, rng.choice(WORDS), rng.choice(WORDS), rng.choice(CITIES),
             1600000000 + rng.randrange(10 ** 8)))
    for i in range(1, n_products + 1):
        w("INSERT INTO products VALUES(%d,'%s-%d','%s',%.2f);\n"
          % (i, rng.choice(WORDS), i, rng.choice(CATEGORIES), rng.uniform(1, 500)))
    for i in range(1, n_orders + 1):
        w("INSERT INTO orders VALUES(%d,%d,%d,%d,%.2f,'%s %s %s');\n"
          % (i, rng.randrange(1, n_customers + 1), rng.randrange(1, n_products + 1),
             rng.randrange(1, 10), rng.uniform(1, 500), rng.choice(WORDS), rng.choice(WORDS),
             rng.choice(WORDS)))
    w("COMMIT;\n")
    w("CREATE INDEX orders_customer ON orders(customer);\n")
    w("CREATE INDEX orders_product ON orders(product);\n")
    w("CREATE INDEX customers_city ON customers(city);\n")
    w("CREATE INDEX orders_note ON orders(note);\n")
    w("SELECT c.city, count(*), round(sum(o.qty * o.price), 2) FROM orders o "
      "JOIN customers c ON c.id = o.customer GROUP BY c.city ORDER BY 3 DESC;\n")
    w("SELECT p.category, round(avg(o.price), 2), count(DISTINCT o.customer) FROM orders o "
      "JOIN products p ON p.id = o.product GROUP BY p.category ORDER BY 1;\n")
    w("SELECT customer, total, rank FROM (SELECT customer, sum(qty * price) AS total, "
      "rank() OVER (ORDER BY sum(qty * price) DESC) AS rank FROM orders GROUP BY customer) "
      "WHERE rank <= 20;\n")
    w("SELECT substr(note, 1, instr(note, ' ') - 1) AS w, count(*), length(group_concat(id)) "
      "FROM orders GROUP BY w ORDER BY 2 DESC LIMIT 10;\n")
    w("UPDATE orders SET note = upper(note) || ' *' WHERE qty > 6;\n")
    w("SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer = c.id "
      "WHERE o.note LIKE '%ALPHA%' GROUP BY c.id ORDER BY 2 DESC, 1 LIMIT 10;\n")
    w("DELETE FROM orders WHERE id % 7 = 0;\n")
    w("SELECT count(*), round(sum(price), 2) FROM orders;\n")


def main(argv):
    scale = float(argv[1]) if len(argv) > 1 else 1.0
    generate(scale, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
