package replay

import (
	"reflect"
	"testing"
)

func TestDeferKeys(t *testing.T) {
	create := "CREATE TABLE `sbtest1` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `k` int(11) NOT NULL DEFAULT 0,\n" +
		"  `c` char(120) NOT NULL DEFAULT '',\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `u` (`c`),\n" +
		"  KEY `k_1` (`k`),\n" +
		"  KEY `kc` (`k`,`c`) COMMENT 'a, b'\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=latin1"
	got, keys := deferKeys(create, false)
	want := "CREATE TABLE `sbtest1` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `k` int(11) NOT NULL DEFAULT 0,\n" +
		"  `c` char(120) NOT NULL DEFAULT '',\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `u` (`c`)\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=latin1"
	if got != want {
		t.Errorf("create:\n%s\nwant:\n%s", got, want)
	}
	if w := []string{"KEY `k_1` (`k`)", "KEY `kc` (`k`,`c`) COMMENT 'a, b'"}; !reflect.DeepEqual(keys, w) {
		t.Errorf("keys %q, want %q", keys, w)
	}
	if s := addKeysSQL("`t`", keys); s != "ALTER TABLE `t` ADD KEY `k_1` (`k`), ADD KEY `kc` (`k`,`c`) COMMENT 'a, b'" {
		t.Errorf("addKeysSQL: %s", s)
	}

	for name, c := range map[string]string{
		"myisam":  "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `k` int,\n  PRIMARY KEY (`id`),\n  KEY `k` (`k`)\n) ENGINE=MyISAM",
		"fk":      "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `p` int,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `par` (`id`)\n) ENGINE=InnoDB",
		"autoinc": "CREATE TABLE `t` (\n  `a` int NOT NULL AUTO_INCREMENT,\n  `b` int NOT NULL,\n  PRIMARY KEY (`b`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB",
		"nokeys":  "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB",
	} {
		if got, keys := deferKeys(c, false); got != c || keys != nil {
			t.Errorf("%s: changed to\n%s\nkeys %q", name, got, keys)
		}
	}
	if _, keys := deferKeys(create, true); keys != nil {
		t.Errorf("referenced table: keys deferred")
	}
}

func TestReferencedTables(t *testing.T) {
	c := "CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `par` (`id`),\n  CONSTRAINT `g` FOREIGN KEY (`q`) REFERENCES `other db`.`x``y` (`id`)"
	got := referencedTables("d", c)
	if want := []string{"d.par", "other db.x`y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
