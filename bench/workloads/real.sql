-- real.sql: an SQLite session as an allocator workload.
--
-- bench/run starts `sqlite3 -batch -cmd "CREATE TEMP TABLE params(n); INSERT
-- INTO params VALUES(N);" :memory: ".read real.sql"` under LD_PRELOAD. The
-- database lives in memory, so its page cache, the parser, the sorter and
-- every text value come from the allocator under test. N rows (default
-- 200000) are generated without random() so that the printed checksum is the
-- same under every allocator.
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, body TEXT, price REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM params))
INSERT INTO item
  SELECT x, (x * 2654435761) % 997,
         printf('item-%08x', (x * 2246822519) % 4294967291),
         substr(printf('%.*c', 20 + (x * 7919) % 200, 'x'), 1) || x,
         ((x * 40503) % 100000) / 100.0
  FROM c;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_name ON item(name);
UPDATE item SET body = body || '-updated' WHERE id % 3 = 0;
DELETE FROM item WHERE id % 7 = 0;
CREATE TABLE summary AS
  SELECT grp, count(*) AS n, sum(price) AS total, max(length(body)) AS longest,
         group_concat(substr(name, 6, 3), '') AS names
  FROM item GROUP BY grp;
-- One output line: the checksum covers the summary and a sort of the bodies.
SELECT 'sqlite checksum=' || printf('%016x', sum(n * 31 + longest) + sum(length(names)) * 7
                                             + CAST(sum(total) AS INTEGER)
                                             + (SELECT sum(length(body)) FROM
                                                 (SELECT body FROM item ORDER BY body DESC, id LIMIT 5000)))
       || ' ops=' || (SELECT n FROM params)
FROM summary;
