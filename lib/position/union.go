package position

// Union adds every GTID of o to s. For MariaDB a domain takes o's position
// when it is further than s's. Sets of different flavors do not mix: the
// misuse is recorded for Err and s is left as it was.
func (s *Set) Union(o *Set) {
	if o.IsEmpty() {
		return
	}
	if !s.adopt(o.flavor) {
		s.misuse(errUnion(s.flavor, o.flavor))
		return
	}
	for _, m := range o.maria {
		if i, ok := s.mariaFind(m.domain); !ok || s.maria[i].seq < m.seq {
			s.AddMariaDB(m.domain, m.server, m.seq)
		}
	}
	for _, e := range o.mysql {
		d := s.entry(e.sid, e.tag)
		for _, x := range e.iv {
			d.addInterval(x)
		}
	}
}

type unionError struct{ a, b Flavor }

func (e unionError) Error() string {
	return "cannot merge a " + string(e.b) + " gtid set into a " + string(e.a) + " gtid set"
}

func errUnion(a, b Flavor) error { return unionError{a, b} }
