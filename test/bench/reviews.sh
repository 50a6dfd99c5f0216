# shellcheck shell=bash
# reviews.sh: sourced by the benchmarks over a table of short reviews
# (enrich.sh, filter.sh).  reviews_sql ROWS prints the SQL that creates
# reviews (id, review, sentiment NULL) with ROWS rows cycling through six
# reviews (praise, complaints, facts, a question).
reviews_sql() {
	cat <<SQL
CREATE TABLE reviews (id int PRIMARY KEY, review text, sentiment text);
INSERT INTO reviews
SELECT i, format('Order %s: %s', i, (ARRAY[
	'the blender arrived two days early and works perfectly, great value',
	'the lamp was broken in the box and support never answered my emails',
	'the book is the paperback edition, 320 pages, delivered on Tuesday',
	'love the garden shears, sharp and comfortable, I bought a second pair',
	'the headphones stopped working after a week and the refund was refused',
	'does this kettle also come in black? the description does not say'])[1 + i % 6])
FROM generate_series(1, $1) AS i;
SQL
}
