package hashkeysim

import (
	"sync"
	"time"
)

// limiter counts calls per key in two buckets over a sliding one-second window, as the
// exchange publishes its limits: a call is refused (1004) when it would put more than the
// limit into any one-second span ending now. Refused calls are not counted.
type limiter struct {
	mu   sync.Mutex
	keys map[string]*keyWindows
}

type keyWindows struct {
	query, order window
}

func newLimiter() *limiter {
	return &limiter{keys: make(map[string]*keyWindows)}
}

// allow takes cost calls from one of key's buckets if the window has room.
func (l *limiter) allow(key string, order bool, now time.Time, limit, cost int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if k == nil {
		k = &keyWindows{}
		l.keys[key] = k
	}
	w := &k.query
	if order {
		w = &k.order
	}
	return w.allow(now.UnixNano(), limit, cost)
}

// window is a ring of the send times of the most recent calls, at most `limit` of them.
type window struct {
	ts    []int64
	start int
	n     int
}

func (w *window) allow(now int64, limit, cost int) bool {
	if cost > limit || limit <= 0 {
		return false
	}
	for w.n > 0 && w.ts[w.start] <= now-int64(time.Second) {
		w.start = (w.start + 1) % len(w.ts)
		w.n--
	}
	// A clock that stepped back (a wall-clock correction, a test clock set earlier) leaves
	// calls stamped after now: forget them rather than let them fill the window until the
	// clock catches up.
	for w.n > 0 && w.ts[(w.start+w.n-1)%len(w.ts)] > now {
		w.n--
	}
	if w.n+cost > limit {
		return false
	}
	if len(w.ts) < limit { // grow, keeping the order oldest first
		ts := make([]int64, limit)
		for i := 0; i < w.n; i++ {
			ts[i] = w.ts[(w.start+i)%len(w.ts)]
		}
		w.ts, w.start = ts, 0
	}
	for range cost {
		w.ts[(w.start+w.n)%len(w.ts)] = now
		w.n++
	}
	return true
}
