package risk

import "time"

// ring keeps the times of the last len(buf) events, for sliding-window counts without
// allocating.
type ring struct {
	buf  []time.Time
	head int // index of the oldest
	n    int
}

func newRing(size int) ring { return ring{buf: make([]time.Time, size)} }

func (r *ring) push(t time.Time) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = t
		r.n++
		return
	}
	r.buf[r.head] = t
	r.head = (r.head + 1) % len(r.buf)
}

// full reports whether the ring holds len(buf) events, all after since: that is, whether
// len(buf) events happened in (since, now]. O(1): only the oldest kept event is looked at.
func (r *ring) full(since time.Time) bool {
	return r.n == len(r.buf) && r.buf[r.head].After(since)
}

// count is how many kept events happened after since (newest first, stopping at the first
// older one).
func (r *ring) count(since time.Time) int {
	c := 0
	for i := r.n - 1; i >= 0 && r.buf[(r.head+i)%len(r.buf)].After(since); i-- {
		c++
	}
	return c
}

func (r *ring) reset() { r.head, r.n = 0, 0 }

// recentSet remembers the last cap strings added, to recognise duplicates and late messages
// with bounded memory.
type recentSet struct {
	keys []string
	next int
	set  map[string]struct{}
}

func newRecentSet(size int) recentSet {
	return recentSet{keys: make([]string, 0, size), set: make(map[string]struct{}, size)}
}

func (s *recentSet) has(k string) bool {
	_, ok := s.set[k]
	return ok
}

func (s *recentSet) add(k string) {
	if s.has(k) {
		return
	}
	if len(s.keys) < cap(s.keys) {
		s.keys = append(s.keys, k)
	} else {
		delete(s.set, s.keys[s.next])
		s.keys[s.next] = k
		s.next = (s.next + 1) % len(s.keys)
	}
	s.set[k] = struct{}{}
}
