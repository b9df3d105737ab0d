-- kinds.sql: two databases holding every kind of object and value a
-- snapshot and its restore must bring back exactly, for the dr-snap and
-- dr-replay scenarios. Load it into a fresh MariaDB 10.11 sandbox:
--
--   dr-sandbox sql NAME < testdata/snap/kinds.sql
--
-- It drops and recreates `kinds` and `kinds 2`, so it may be run again.
-- Compare a restore with db-equal SRC_URL DST_URL kinds 'kinds 2'.
--
-- Traps set on purpose (each is something a restore gets wrong if it is
-- naive), besides the values themselves:
--   * FLOAT values that the server prints with 6 digits (0.1234567 comes
--     back as 0.123457 from SELECT): text copies of FLOATs lose bits.
--   * BIT(64), binary strings with every byte value, a latin1 column with
--     bytes 0x80-0x9f (the server's latin1 is cp1252: the euro sign).
--   * an INVISIBLE column (SELECT * omits it), VIRTUAL and PERSISTENT
--     generated columns (an INSERT may not give them values), DEFAULT
--     expressions, one of them not deterministic (NOW(6)).
--   * TIMESTAMP values (the session time zone changes what is read and
--     written), zero dates, TIME beyond 24 hours and negative.
--   * a row with id 0 in an AUTO_INCREMENT column (reloaded without
--     NO_AUTO_VALUE_ON_ZERO it gets a new id), and an AUTO_INCREMENT
--     counter above MAX(id)+1 (rows were deleted at the end).
--   * foreign keys whose child sorts before its parent, a self-referencing
--     table whose rows in primary-key order point forward, and a table in
--     `kinds 2` referencing one in `kinds`: loading needs
--     foreign_key_checks=0.
--   * a view named to sort before the view it selects from, a view calling
--     a stored function (the function must exist first).
--   * triggers on trg_t whose effects are already in its data (loading the
--     data with the triggers in place applies them twice), two BEFORE
--     INSERT triggers whose order was set with PRECEDES (SHOW CREATE
--     TRIGGER does not show it: create them in ACTION_ORDER), and a
--     trigger created under ANSI_QUOTES,NO_BACKSLASH_ESCAPES,... (its
--     SHOW CREATE text only parses back under its own sql_mode).
--   * routines created under other sql_modes and character sets, an event
--     created under another time zone: SHOW CREATE gives them, and the
--     restore must set them before each CREATE.
--   * a SEQUENCE (information_schema says TABLE_TYPE 'SEQUENCE', not
--     'BASE TABLE'); its state is its single row.
--   * names with a space, a slash, a dot, a backtick, a dash, non-ASCII,
--     reserved words; a latin1 database.

SET NAMES utf8mb4 COLLATE utf8mb4_general_ci;
SET time_zone = '+00:00';
-- Permissive while data goes in: no strict mode, zero dates allowed.
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';
SET foreign_key_checks = 1;

-- `kinds 2` first: its xref references `kinds`.parent.
DROP DATABASE IF EXISTS `kinds 2`;
DROP DATABASE IF EXISTS `kinds`;
CREATE DATABASE `kinds` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE `kinds 2` DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci;

USE `kinds`;

-- ---------------------------------------------------------------------
-- One column of every type.
CREATE TABLE alltypes (
  id INT NOT NULL,
  ti TINYINT, tu TINYINT UNSIGNED,
  si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED,
  bz INT(8) UNSIGNED ZEROFILL,
  d65 DECIMAL(65,30), d10 DECIMAL(10,2),
  f FLOAT, dbl DOUBLE, f104 FLOAT(10,4),
  b1 BIT(1), b64 BIT(64),
  c CHAR(20), vc VARCHAR(100), tx TEXT,
  l1 VARCHAR(50) CHARACTER SET latin1,
  u3 VARCHAR(50) CHARACTER SET utf8mb3,
  cbin VARCHAR(20) COLLATE utf8mb4_bin,
  bin16 BINARY(16), vb VARBINARY(300),
  tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  tt TINYTEXT, mt MEDIUMTEXT, lt LONGTEXT,
  j JSON,
  dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR,
  en ENUM('a','b','c d',''), st SET('x','y','z','w v'),
  g GEOMETRY, pt POINT, ls LINESTRING, pg POLYGON,
  ip INET6, uu UUID,
  vcol BIGINT AS (i + 1) VIRTUAL,
  scol VARCHAR(110) AS (CONCAT(vc, '!')) PERSISTENT,
  hid INT INVISIBLE DEFAULT 42,
  dexpr VARCHAR(40) DEFAULT (CONCAT('def-', 6 * 7)),
  dnow DATETIME(6) DEFAULT (NOW(6) + INTERVAL 1 DAY),
  PRIMARY KEY (id),
  KEY k_vcol (vcol)
) ENGINE=InnoDB COMMENT='every type; it''s "quoted"';

-- 1: maxima and 4-byte characters
INSERT INTO alltypes (id, ti, tu, si, su, mi, mu, i, iu, bi, bu, bz, d65, d10, f, dbl, f104, b1, b64,
  c, vc, tx, l1, u3, cbin, bin16, vb, tb, bl, mb, lb, tt, mt, lt, j,
  dt, tm, dtm, ts, yr, en, st, g, pt, ls, pg, ip, uu, hid)
VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
  9223372036854775807, 18446744073709551615, 42,
  99999999999999999999999999999999999.999999999999999999999999999999, 99999999.99,
  3.4028234e38, 1.7976931348623157e308, 999999.9999, b'1', 0xFFFFFFFFFFFFFFFF,
  'emoji 😀 𝄞', 'trailing spaces  ', 'text 𝄞 ☃ 中文 é 😀', 'é ÿ € © ×', 'ü 漢字 ß', 'Case',
  0x00112233445566778899AABBCCDDEEFF,
  0x000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF,
  0x00FF275C0A0D1A22,
  0xFFFEFDFCFBFAF9F8F7F6F5F4F3F2F1F0EFEEEDECEBEAE9E8E7E6E5E4E3E2E1E0DFDEDDDCDBDAD9D8D7D6D5D4D3D2D1D0CFCECDCCCBCAC9C8C7C6C5C4C3C2C1C0BFBEBDBCBBBAB9B8B7B6B5B4B3B2B1B0AFAEADACABAAA9A8A7A6A5A4A3A2A1A09F9E9D9C9B9A999897969594939291908F8E8D8C8B8A898887868584838281807F7E7D7C7B7A797877767574737271706F6E6D6C6B6A696867666564636261605F5E5D5C5B5A595857565554535251504F4E4D4C4B4A494847464544434241403F3E3D3C3B3A393837363534333231302F2E2D2C2B2A292827262524232221201F1E1D1C1B1A191817161514131211100F0E0D0C0B0A09080706050403020100,
  REPEAT(UNHEX(SHA2('kinds mediumblob', 512)), 16384),
  REPEAT(UNHEX(SHA2('kinds longblob', 256)), 65536),
  'tiny ☃', REPEAT('medium 😀 ', 1000), REPEAT('long 𝄞 text; ', 40000),
  '{"a": [1, 2.5, -3e-7, {"b": "café ☃ 😀"}], "q": "say \\"hi\\" and \\\\ back\\/slash\\n", "n": null, "t": true, "e": {}, "u": "\\u00e9\\ud83d\\ude00"}',
  '9999-12-31', '838:59:59.000000', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 2155,
  'c d', 'x,z,w v',
  ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1),POLYGON((0 0,1 0,1 1,0 0)))'),
  ST_GeomFromText('POINT(0.1 0.30000000000000004)', 4326),
  ST_GeomFromText('LINESTRING(0 0,10 10,20 25.5,-1.25e10 3)'),
  ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 3,2 2))'),
  '2001:db8::ff00:42:8329', '123e4567-e89b-12d3-a456-426655440000', 7);

-- 2: minima
INSERT INTO alltypes (id, ti, tu, si, su, mi, mu, i, iu, bi, bu, bz, d65, d10, f, dbl, f104, b1, b64,
  c, vc, tx, l1, u3, cbin, bin16, vb, tb, bl, tt, j,
  dt, tm, dtm, ts, yr, en, st, pt, ip, uu)
VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
  -9223372036854775808, 0, 0,
  -99999999999999999999999999999999999.999999999999999999999999999999, -99999999.99,
  1.17549435e-38, 2.2250738585072014e-308, -999999.9999, b'0', 0,
  'a', 'A', 'ä', 'ÿ', 'Ω', 'case', 0x00, 0x00, 0x00, 0x00, 'x', '[]',
  '1000-01-01', '-838:59:59.000000', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', 1901,
  'a', '', ST_GeomFromText('POINT(-180 -90)'), '::', '00000000-0000-0000-0000-000000000000');

-- 3: values that need all their digits; zero dates
INSERT INTO alltypes (id, bi, bu, d65, d10, f, dbl, f104, b64, vc, dt, tm, dtm, ts, yr, en, st, ip, uu, j)
VALUES (3, -1, 9223372036854775808, 0.000000000000000000000000000001, -0.01,
  0.1234567, 0.30000000000000004, 0.0001, 0x8000000000000001, 'precision',
  '0000-00-00', '-00:00:00.000001', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0,
  'b', 'y', '::ffff:192.0.2.1', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"just a string"');

-- 4: more of them; empty strings; the characters escapes are made of
INSERT INTO alltypes (id, f, dbl, f104, d65, c, vc, tx, l1, u3, cbin, vb, tb, bl, mb, tt, mt, lt, j, dt, tm, dtm, ts, en, st)
VALUES (4, 16777217, 5e-324, -0.0, -12345678901234567890123456789012345.123456789012345678901234567890,
  '', '', CONCAT('nul[', 0x00, '] quote[''] dq["] bs[\\] nl[\n] cr[\r] ctrlz[\Z] tab[\t] pct[%] us[_] semi[;]'),
  '', '', '', '', '', '', '', '', '', '', '{}',
  '2001-00-00', '100:00:00.5', '2020-02-29 12:34:56.000001', '2024-03-31 01:30:00', '', '');

-- 5: every nullable column NULL, the defaults included
INSERT INTO alltypes (id, hid, dexpr, dnow) VALUES (5, NULL, NULL, NULL);

-- 6: strings that look like NULL; -0 floats (the server stores +0)
INSERT INTO alltypes (id, f, dbl, vc, tx, c, l1, tt, j, hid, dexpr)
VALUES (6, -0.0, -0e0, 'NULL', '\\N', 'null', 'N', '\\', 'null', -1, 'explicit');

-- ---------------------------------------------------------------------
-- Other engines.
CREATE TABLE myisam_t (
  id INT NOT NULL AUTO_INCREMENT,
  title VARCHAR(200) NOT NULL,
  body TEXT,
  PRIMARY KEY (id),
  FULLTEXT KEY ft_title_body (title, body)
) ENGINE=MyISAM CHECKSUM=1;
INSERT INTO myisam_t (title, body)
SELECT CONCAT('title ', seq), IF(seq % 5 = 0, NULL, CONCAT('body of ', seq, ': ', REPEAT('lorem ipsum ', seq % 20)))
FROM seq_1_to_200;

CREATE TABLE aria_t (
  id INT NOT NULL PRIMARY KEY,
  v VARCHAR(50),
  d DATETIME
) ENGINE=Aria TRANSACTIONAL=1 PAGE_CHECKSUM=1;
INSERT INTO aria_t SELECT seq, CONCAT('aria ', seq, ' ü'), '2020-01-01' + INTERVAL seq HOUR FROM seq_1_to_150;

-- Partitioned by range, rows in every partition.
CREATE TABLE parts (
  id INT NOT NULL,
  created DATE NOT NULL,
  v VARCHAR(20),
  PRIMARY KEY (id, created)
) ENGINE=InnoDB
PARTITION BY RANGE (YEAR(created)) (
  PARTITION p2019 VALUES LESS THAN (2020),
  PARTITION p2020 VALUES LESS THAN (2021) COMMENT 'twenty',
  PARTITION p2021 VALUES LESS THAN (2022),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);
INSERT INTO parts SELECT seq, '2019-01-01' + INTERVAL (seq * 4) DAY, CONCAT('p', seq) FROM seq_1_to_400;

-- No primary key, duplicate rows.
CREATE TABLE nopk (a INT, b VARCHAR(10)) ENGINE=InnoDB;
INSERT INTO nopk VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (2, NULL), (NULL, NULL), (NULL, NULL), (3, '');

-- No primary key but a unique NOT NULL key (InnoDB clusters on it).
CREATE TABLE uk_only (code VARCHAR(10) NOT NULL, v INT, UNIQUE KEY uk_code (code)) ENGINE=InnoDB;
INSERT INTO uk_only VALUES ('b', 2), ('a', 1), ('C', 3), ('é', 4);

-- Composite primary key, strings in collation order.
CREATE TABLE comp (
  a INT NOT NULL,
  b VARCHAR(20) NOT NULL,
  v TEXT,
  PRIMARY KEY (a, b)
) ENGINE=InnoDB;
INSERT INTO comp VALUES (1, 'apple', 'x'), (1, 'Banana', 'y'), (1, 'Ä', 'z'), (1, 'zz', NULL),
  (1, '😀', 'emoji'), (2, 'a''b', 'quote'), (2, 'a\\b', 'backslash'), (-1, '', 'empty');

-- AUTO_INCREMENT with a row 0, and a counter above MAX(id) + 1.
CREATE TABLE autoinc (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
SET sql_mode = 'NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO';
INSERT INTO autoinc VALUES (0, 'zero');
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';
INSERT INTO autoinc (v) SELECT CONCAT('v', seq) FROM seq_1_to_10;
DELETE FROM autoinc WHERE id > 8;

-- Foreign keys: the child sorts before its parent; a self reference.
CREATE TABLE parent (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB;
CREATE TABLE child (
  id INT NOT NULL PRIMARY KEY,
  parent_id INT NOT NULL,
  KEY k_parent (parent_id),
  CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE RESTRICT
) ENGINE=InnoDB;
INSERT INTO parent SELECT seq, CONCAT('parent ', seq) FROM seq_1_to_20;
INSERT INTO child SELECT seq, 1 + seq % 20 FROM seq_1_to_100;
CREATE TABLE tree (
  id INT NOT NULL PRIMARY KEY,
  up INT NULL,
  CONSTRAINT fk_tree_up FOREIGN KEY (up) REFERENCES tree (id) ON DELETE SET NULL
) ENGINE=InnoDB;
INSERT INTO tree VALUES (10, NULL), (7, 10), (3, 7), (1, 3), (2, 10);

-- Indexes of every kind.
CREATE TABLE idx (
  id INT NOT NULL PRIMARY KEY,
  email VARCHAR(100) NOT NULL,
  a INT, b INT,
  c VARCHAR(200),
  doc TEXT,
  UNIQUE KEY uk_email (email),
  KEY k_ab (a, b DESC),
  KEY k_prefix (c(10)),
  KEY k_b (b) COMMENT 'index comment',
  KEY k_ign (a) IGNORED,
  FULLTEXT KEY ft_doc (doc)
) ENGINE=InnoDB;
INSERT INTO idx SELECT seq, CONCAT('user', seq, '@example.com'), seq % 7, seq % 11,
  CONCAT('prefix-', seq % 3, '-', seq), CONCAT('document number ', seq, ' about ', ELT(1 + seq % 3, 'cats', 'dogs', 'birds'))
FROM seq_1_to_300;

CREATE TABLE geo (
  id INT NOT NULL PRIMARY KEY,
  p POINT NOT NULL,
  SPATIAL KEY sp_p (p)
) ENGINE=InnoDB;
INSERT INTO geo SELECT seq, ST_GeomFromText(CONCAT('POINT(', seq / 3, ' ', -seq / 7, ')'), 4326) FROM seq_1_to_50;

-- Checks, compression, table options.
CREATE TABLE checks (
  id INT NOT NULL PRIMARY KEY,
  qty INT CHECK (qty >= 0),
  note VARCHAR(30) COMMENT 'column comment with ''quotes''',
  CONSTRAINT lim CHECK (qty < 1000)
) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8 DEFAULT CHARSET=latin1 COMMENT='compressed';
INSERT INTO checks VALUES (1, 0, 'zero'), (2, 999, 'max'), (3, NULL, NULL);

-- A reserved word for a name, odd column names.
CREATE TABLE `table` (
  `select` INT NOT NULL PRIMARY KEY,
  `a-b` VARCHAR(10),
  `c d` INT,
  `é` VARCHAR(10),
  `back``tick` INT,
  `NULL` INT,
  `from` DATE
) ENGINE=InnoDB;
INSERT INTO `table` VALUES (1, 'x-y', 2, 'é', 3, NULL, '2020-01-01'), (2, NULL, NULL, NULL, NULL, 4, NULL);

CREATE TABLE empty_t (id INT NOT NULL PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;

-- A sequence, used a little.
CREATE SEQUENCE seq_ids START WITH 100 INCREMENT BY 5 MINVALUE 1 MAXVALUE 100000 CACHE 10;
SELECT NEXTVAL(seq_ids), NEXTVAL(seq_ids), NEXTVAL(seq_ids) INTO @s1, @s2, @s3;

-- A larger table, rows of varied width, for many data chunks.
CREATE TABLE big (
  id INT NOT NULL PRIMARY KEY,
  k INT NOT NULL,
  grp SMALLINT NOT NULL,
  pad VARCHAR(255) NOT NULL,
  note TEXT NULL,
  f DOUBLE NOT NULL,
  KEY k_k (k)
) ENGINE=InnoDB;
INSERT INTO big
SELECT seq, (seq * 7919) % 100003, seq % 50,
  REPEAT(SUBSTRING('abcdefghijklmnopqrstuvwxyz0123456789', 1 + seq % 36, 1), seq % 97),
  IF(seq % 10 = 0, NULL, CONCAT('row ', seq, REPEAT(' é''\\', seq % 13))),
  seq / 7e0
FROM seq_1_to_300000;

-- Tables for the triggers (below).
CREATE TABLE trg_t (id INT NOT NULL PRIMARY KEY, note VARCHAR(200), n INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
CREATE TABLE trg_log (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(300)) ENGINE=InnoDB;

-- ---------------------------------------------------------------------
-- The second database: latin1 by default, odd table names, references
-- into `kinds`.
USE `kinds 2`;
CREATE TABLE `odd/name.t` (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) CHARACTER SET utf8mb4) ENGINE=InnoDB;
INSERT INTO `odd/name.t` VALUES (1, 'slash/dot.😀'), (2, NULL);
CREATE TABLE MixedCase (Id INT NOT NULL PRIMARY KEY, Val VARCHAR(20)) ENGINE=MyISAM;
INSERT INTO MixedCase VALUES (1, 'Ünïcödé in latin1'), (2, '€');
CREATE TABLE xref (
  id INT NOT NULL PRIMARY KEY,
  pid INT,
  CONSTRAINT fk_xref_parent FOREIGN KEY (pid) REFERENCES `kinds`.`parent` (id)
) ENGINE=InnoDB;
INSERT INTO xref VALUES (1, 1), (2, 20), (3, NULL);

-- ---------------------------------------------------------------------
-- Routines, under the server's default sql_mode unless said otherwise.
USE `kinds`;
SET sql_mode = DEFAULT;
DELIMITER ;;

CREATE FUNCTION f_double(x INT) RETURNS INT
  DETERMINISTIC NO SQL
  COMMENT 'twice x; it''s "simple"'
RETURN x * 2;;

CREATE FUNCTION f_count() RETURNS BIGINT
  READS SQL DATA
  SQL SECURITY INVOKER
BEGIN
  DECLARE n BIGINT;
  SELECT COUNT(*) INTO n FROM parent;
  RETURN n;
END;;

CREATE PROCEDURE p_cursor(OUT total BIGINT)
  READS SQL DATA
  COMMENT 'sums parent ids with a cursor'
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE v INT;
  DECLARE cur CURSOR FOR SELECT id FROM parent ORDER BY id;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  SET total = 0;
  OPEN cur;
  read_loop: LOOP
    FETCH cur INTO v;
    IF done THEN
      LEAVE read_loop;
    END IF;
    SET total = total + v;
  END LOOP;
  CLOSE cur;
END;;

CREATE PROCEDURE p_params(IN a INT, OUT b VARCHAR(20), INOUT c DECIMAL(10,2))
  MODIFIES SQL DATA
  SQL SECURITY DEFINER
BEGIN
  -- a comment inside the body; and a string with ';;'
  SET b = CONCAT('a=', a, ';;');
  SET c = c + a;
END;;

CREATE AGGREGATE FUNCTION agg_sum(x INT) RETURNS INT
  DETERMINISTIC
BEGIN
  DECLARE s INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND RETURN s;
  LOOP
    FETCH GROUP NEXT ROW;
    SET s = s + x;
  END LOOP;
END;;

DELIMITER ;

-- '||' concatenates only under PIPES_AS_CONCAT.
SET sql_mode = 'PIPES_AS_CONCAT,STRICT_ALL_TABLES';
CREATE FUNCTION f_pipes(s VARCHAR(20)) RETURNS VARCHAR(40) DETERMINISTIC RETURN s || '|' || s;

-- Created under another connection character set and collation.
SET sql_mode = DEFAULT;
SET NAMES utf8mb3 COLLATE utf8mb3_unicode_ci;
CREATE FUNCTION f_charset(s VARCHAR(20) CHARSET latin1) RETURNS VARCHAR(40) CHARSET utf8mb4 COLLATE utf8mb4_bin
  DETERMINISTIC
RETURN CONCAT(s, ' ü');
SET NAMES utf8mb4 COLLATE utf8mb4_general_ci;

USE `kinds 2`;
CREATE PROCEDURE `p 2`(IN `in arg` INT) SELECT `in arg` + 1 AS `next`;
USE `kinds`;

-- ---------------------------------------------------------------------
-- Views.
CREATE VIEW v_simple AS SELECT id, vc, i FROM alltypes WHERE id <= 4;
-- sorts before the view it selects from
CREATE VIEW a_v_on_v (x, y) AS SELECT id, vc FROM v_simple WHERE i IS NOT NULL;
CREATE ALGORITHM=MERGE DEFINER=`root`@`localhost` SQL SECURITY INVOKER VIEW v_opts AS
  SELECT id, name FROM parent WHERE id < 100 WITH CASCADED CHECK OPTION;
CREATE ALGORITHM=TEMPTABLE VIEW v_func AS SELECT id, f_double(id) AS twice, f_pipes(name) AS piped FROM parent;
USE `kinds 2`;
CREATE VIEW `v cross` AS
  SELECT p.id, p.name, COUNT(c.id) AS children FROM `kinds`.parent p LEFT JOIN `kinds`.child c ON c.parent_id = p.id GROUP BY p.id, p.name;
USE `kinds`;

-- ---------------------------------------------------------------------
-- Triggers on trg_t; its rows are inserted afterwards, so they hold what
-- the triggers did.
SET sql_mode = 'PIPES_AS_CONCAT,ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES';
DELIMITER ;;
CREATE TRIGGER trg_bi BEFORE INSERT ON trg_t FOR EACH ROW
BEGIN
  DECLARE sep VARCHAR(10) DEFAULT ';;';
  -- under NO_BACKSLASH_ESCAPES 'a\b' is three characters
  SET NEW.note = COALESCE(NEW.note, 'none') || sep || 'a\b' || NEW."id";
  SET NEW.n = NEW.n + 1;
END;;
DELIMITER ;
SET sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO';
DELIMITER ;;
CREATE TRIGGER trg_au AFTER UPDATE ON trg_t FOR EACH ROW
BEGIN
  IF NOT (NEW.note <=> OLD.note) THEN
    INSERT INTO trg_log (msg) VALUES (CONCAT('upd ', OLD.id, ': ', OLD.note, ' -> ', NEW.note, '; done;;'));
  END IF;
END;;
-- created last, but runs first: SHOW CREATE TRIGGER does not say so
CREATE TRIGGER trg_bi_first BEFORE INSERT ON trg_t FOR EACH ROW PRECEDES trg_bi
  SET NEW.note = CONCAT('[', NEW.note, ']');;
DELIMITER ;
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';
INSERT INTO trg_t (id, note) VALUES (1, 'one'), (2, NULL), (3, 'three;;');
UPDATE trg_t SET note = CONCAT(note, '+') WHERE id <> 2;

-- ---------------------------------------------------------------------
-- Events (the sandboxes run with event_scheduler OFF, and they start in
-- the future anyway).
SET sql_mode = DEFAULT;
SET time_zone = '+02:00';
DELIMITER ;;
CREATE EVENT ev_enabled
  ON SCHEDULE EVERY 1 HOUR STARTS '2037-01-01 00:00:00'
  ON COMPLETION PRESERVE
  ENABLE
  COMMENT 'hourly; created at +02:00'
DO BEGIN
  -- not ';;': mariadb-dump --events loops forever on an event whose
  -- body holds ';;' (MariaDB 10.11.19)
  INSERT INTO trg_log (msg) VALUES ('event; fired');
  DELETE FROM trg_log WHERE id < 0;
END;;
DELIMITER ;
SET time_zone = '+00:00';
CREATE EVENT ev_disabled
  ON SCHEDULE EVERY 1 DAY STARTS '2036-06-01 12:00:00' ENDS '2037-06-01 12:00:00'
  ON COMPLETION NOT PRESERVE
  DISABLE
DO UPDATE parent SET name = name WHERE 1 = 0;
CREATE EVENT ev_once
  ON SCHEDULE AT '2037-05-05 05:05:05'
  ON COMPLETION PRESERVE
  DISABLE
  COMMENT 'once'
DO DELETE FROM trg_log WHERE msg = 'never';

SET sql_mode = DEFAULT;
