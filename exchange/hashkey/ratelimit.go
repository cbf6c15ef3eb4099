package hashkey

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// Bucket is one of the exchange's two per-key rate limits (reference §5).
type Bucket uint8

const (
	QueryBucket Bucket = 0 // every call that is not an insert or a cancel
	OrderBucket Bucket = 1 // inserts and cancels; a batch cancel counts its size
)

func (b Bucket) String() string {
	if b == OrderBucket {
		return "order"
	}
	return "query"
}

const (
	// rateWindow is the exchange's counting period.
	rateWindow = time.Second
	// tightenFactor shrinks a bucket after the exchange answered 1004 anyway, for
	// tightenPeriod after the last such answer.
	tightenFactor = 0.8
	tightenPeriod = time.Minute
)

// defaultRateLimits are the exchange's published defaults, used until RateLimits is fetched.
var defaultRateLimits = exchange.RateLimits{Query: 10, Order: 300}

// RateLimiter keeps a client below the exchange's limits so that it never sees 1004.
//
// Each bucket is a sliding-window log: a ring of the send times of the calls made in the
// last second. A call may go only when, counting it, no closed one-second interval holds
// more calls than the limit. That bounds every window the exchange might use, sliding or
// aligned to calendar seconds, which a token bucket (bursting to its size at a second's
// end and again at the next's start) does not. The limit is the published figure times a
// margin, so that network jitter bunching our calls on the way cannot push the exchange's
// count over.
type RateLimiter struct {
	mu     sync.Mutex
	clock  func() time.Time
	after  func(time.Duration) <-chan time.Time
	margin float64
	b      [2]bucket
}

type bucket struct {
	base       int       // published × margin, at least 1
	factor     float64   // < 1 while tightened
	tightUntil time.Time // when the tightening ends
	ring       []time.Time
	head, n    int // oldest entry and count
}

// NewRateLimiter returns a limiter sized from the exchange's defaults (10 query, 300 order
// calls per second) times margin (0 < margin ≤ 1; anything else means 0.8). clock and after
// are injected so tests run on a fake clock; nil means time.Now and time.After.
func NewRateLimiter(margin float64, clock func() time.Time, after func(time.Duration) <-chan time.Time) *RateLimiter {
	if margin <= 0 || margin > 1 {
		margin = 0.8
	}
	if clock == nil {
		clock = time.Now
	}
	if after == nil {
		after = time.After
	}
	l := &RateLimiter{clock: clock, after: after, margin: margin}
	l.b[QueryBucket].factor, l.b[OrderBucket].factor = 1, 1
	if err := l.SetLimits(defaultRateLimits); err != nil {
		panic(err) // the defaults are valid constants
	}
	return l
}

// maxPublishedRate caps a published per-second limit. A bucket keeps one timestamp per call
// it admits in a second, so a wrong figure from the exchange (2147483647) would otherwise
// allocate gigabytes; the real limits are in the tens.
const maxPublishedRate = 10_000

// SetLimits sizes both buckets from the published per-second limits (each capped at
// maxPublishedRate).
func (l *RateLimiter) SetLimits(rl exchange.RateLimits) error {
	if rl.Query <= 0 || rl.Order <= 0 {
		return fmt.Errorf("rate limits must be positive: query %d, order %d", rl.Query, rl.Order)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b[QueryBucket].resize(max(1, int(float64(min(rl.Query, maxPublishedRate))*l.margin)))
	l.b[OrderBucket].resize(max(1, int(float64(min(rl.Order, maxPublishedRate))*l.margin)))
	return nil
}

// Tighten shrinks a bucket by 20 % for a minute: the exchange answered 1004, so its count
// of our calls is higher than ours (a shared key, clock skew, jitter). Repeated 1004s
// compound; the bucket returns to its full size a minute after the last one.
func (l *RateLimiter) Tighten(b Bucket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.b[b]
	now := l.clock()
	st.limit(now) // expire an old tightening first
	st.factor *= tightenFactor
	st.tightUntil = now.Add(tightenPeriod)
}

// Limit returns the number of calls a bucket allows per second now.
func (l *RateLimiter) Limit(b Bucket) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b[b].limit(l.clock())
}

// Wait blocks until n calls of the bucket may go, records them as sent, and returns nil.
// It returns at once with an error if n exceeds the bucket's size (it could never go), and
// with ctx's error if ctx ends first (recording nothing).
func (l *RateLimiter) Wait(ctx context.Context, b Bucket, n int) error {
	if n < 1 {
		return fmt.Errorf("rate limiter: %d %s calls", n, b)
	}
	for {
		l.mu.Lock()
		now := l.clock()
		st := &l.b[b]
		lim := st.limit(now)
		if n > lim {
			l.mu.Unlock()
			return fmt.Errorf("rate limiter: %d %s calls exceed the limit of %d per second", n, b, lim)
		}
		st.expire(now)
		if st.n+n <= lim {
			for range n {
				st.push(now)
			}
			l.mu.Unlock()
			return nil
		}
		// Enough of the oldest entries must leave the window: the (n+count−lim)-th oldest
		// stops counting just after it is a full window old.
		wait := st.at(st.n+n-lim-1).Add(rateWindow).Sub(now) + time.Nanosecond
		l.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.after(wait):
		}
	}
}

// limit is the bucket's effective size at now, ending an expired tightening.
func (st *bucket) limit(now time.Time) int {
	if st.factor < 1 && !now.Before(st.tightUntil) {
		st.factor = 1
	}
	if st.factor >= 1 {
		return st.base
	}
	return max(1, int(float64(st.base)*st.factor))
}

// resize sets the base size, keeping the newest entries; the ring never shrinks so that
// entries recorded under a larger limit still count.
func (st *bucket) resize(base int) {
	st.base = base
	if len(st.ring) >= base {
		return
	}
	ring := make([]time.Time, base)
	for i := range st.n {
		ring[i] = st.at(i)
	}
	st.ring, st.head = ring, 0
}

// expire drops entries that no longer count: those a full window or more before now.
func (st *bucket) expire(now time.Time) {
	for st.n > 0 && now.Sub(st.ring[st.head]) > rateWindow {
		st.head = (st.head + 1) % len(st.ring)
		st.n--
	}
}

func (st *bucket) at(i int) time.Time { return st.ring[(st.head+i)%len(st.ring)] }

func (st *bucket) push(t time.Time) {
	if st.n == len(st.ring) { // Wait admits at most limit ≤ len(ring) entries; defensive only
		st.head = (st.head + 1) % len(st.ring)
		st.n--
	}
	st.ring[(st.head+st.n)%len(st.ring)] = t
	st.n++
}
