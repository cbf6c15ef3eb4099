package hashkey

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// fakeClock is a settable clock. Its afterAdvance is an "after" that moves the clock
// forward by d and fires at once, so a single goroutine can drive the limiter through
// simulated time without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// AtLeast moves the clock to t unless it is already later.
func (f *fakeClock) AtLeast(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.now = t
	}
	f.mu.Unlock()
}

func (f *fakeClock) afterAdvance(d time.Duration) <-chan time.Time {
	f.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- f.Now()
	return ch
}

type arrival struct {
	at time.Duration // after the start
	n  int
}

type sent struct {
	at time.Time
	n  int
}

// checkWindows fails if any closed one-second window, sliding or calendar-aligned, holds
// more than limit calls.
func checkWindows(t *testing.T, log []sent, limit int) {
	t.Helper()
	for i, s := range log {
		total := 0
		for _, o := range log[i:] {
			if o.at.Sub(s.at) <= time.Second {
				total += o.n
			}
		}
		if total > limit {
			t.Fatalf("sliding window from %s holds %d calls, limit %d", s.at.Format("15:04:05.000000000"), total, limit)
		}
	}
	perSecond := make(map[int64]int)
	for _, s := range log {
		perSecond[s.at.Unix()] += s.n
	}
	for sec, total := range perSecond {
		if total > limit {
			t.Fatalf("calendar second %d holds %d calls, limit %d", sec, total, limit)
		}
	}
}

func TestRateLimiterWindows(t *testing.T) {
	steady := func(rate, seconds, n int) []arrival {
		var a []arrival
		for i := range rate * seconds {
			a = append(a, arrival{at: time.Duration(i) * time.Second / time.Duration(rate), n: n})
		}
		return a
	}
	burst := func(at time.Duration, count, n int) []arrival {
		a := make([]arrival, count)
		for i := range a {
			a[i] = arrival{at: at, n: n}
		}
		return a
	}
	tests := []struct {
		name     string
		bucket   Bucket
		arrivals []arrival
		limit    int           // expected local limit (defaults × 0.8)
		maxEnd   time.Duration // the last call must have gone by then (no starvation)
		noWait   bool          // every call must go at its arrival time
	}{
		{name: "burst at once", bucket: QueryBucket, arrivals: burst(0, 100, 1), limit: 8, maxEnd: 13 * time.Second},
		{name: "bursts straddling a calendar second", bucket: QueryBucket,
			arrivals: append(burst(999*time.Millisecond, 8, 1), burst(time.Second, 8, 1)...), limit: 8, maxEnd: 2100 * time.Millisecond},
		{name: "steady overload", bucket: QueryBucket, arrivals: steady(20, 5, 1), limit: 8, maxEnd: 13 * time.Second},
		{name: "steady under the limit", bucket: QueryBucket, arrivals: steady(7, 5, 1), limit: 8, noWait: true},
		{name: "order bursts", bucket: OrderBucket, arrivals: append(burst(0, 500, 1), burst(1500*time.Millisecond, 300, 1)...), limit: 240, maxEnd: 4 * time.Second},
		{name: "batch cancels count by size", bucket: OrderBucket,
			arrivals: append(append(burst(0, 30, 10), burst(500*time.Millisecond, 100, 1)...), steady(50, 3, 7)...), limit: 240, maxEnd: 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			start := clk.Now()
			l := NewRateLimiter(0.8, clk.Now, clk.afterAdvance)
			if got := l.Limit(tt.bucket); got != tt.limit {
				t.Fatalf("limit = %d, want %d", got, tt.limit)
			}
			var log []sent
			for _, a := range tt.arrivals {
				clk.AtLeast(start.Add(a.at))
				if err := l.Wait(context.Background(), tt.bucket, a.n); err != nil {
					t.Fatalf("Wait: %v", err)
				}
				now := clk.Now()
				if tt.noWait && !now.Equal(start.Add(a.at)) {
					t.Fatalf("call arriving at %s went at %s", a.at, now.Sub(start))
				}
				log = append(log, sent{at: now, n: a.n})
			}
			checkWindows(t, log, tt.limit)
			if end := log[len(log)-1].at.Sub(start); tt.maxEnd > 0 && end > tt.maxEnd {
				t.Fatalf("last call went at %s, want by %s (limiter too slow)", end, tt.maxEnd)
			}
		})
	}
}

func TestRateLimiterRefusesOversized(t *testing.T) {
	clk := newFakeClock()
	l := NewRateLimiter(0.8, clk.Now, clk.afterAdvance)
	if err := l.Wait(context.Background(), QueryBucket, 9); err == nil {
		t.Fatal("9 query calls at once: want an error, limit is 8")
	}
	if err := l.Wait(context.Background(), OrderBucket, 0); err == nil {
		t.Fatal("0 calls: want an error")
	}
	if !clk.Now().Equal(newFakeClock().Now()) {
		t.Fatal("an oversized request waited")
	}
}

func TestRateLimiterContextCancel(t *testing.T) {
	clk := newFakeClock()
	asked := make(chan time.Duration, 1)
	never := func(d time.Duration) <-chan time.Time {
		asked <- d
		return nil // never fires
	}
	l := NewRateLimiter(0.8, clk.Now, never)
	for range 8 {
		if err := l.Wait(context.Background(), QueryBucket, 1); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, QueryBucket, 1) }()
	select {
	case d := <-asked:
		if d <= 0 || d > time.Second+time.Nanosecond {
			t.Fatalf("waits %s, want within a second", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not start waiting")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	// A cancelled wait recorded nothing: the bucket still frees up after one window.
	clk.Advance(time.Second + time.Nanosecond)
	if err := l.Wait(context.Background(), QueryBucket, 8); err != nil {
		t.Fatal(err)
	}
	// An already-cancelled context returns at once, even when tokens would have to wait.
	if err := l.Wait(ctx, QueryBucket, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with cancelled ctx = %v", err)
	}
}

func TestRateLimiterTightenAndSetLimits(t *testing.T) {
	clk := newFakeClock()
	l := NewRateLimiter(0.8, clk.Now, clk.afterAdvance)
	steps := []struct {
		do          func()
		query, ordr int
	}{
		{func() {}, 8, 240},
		{func() { l.Tighten(QueryBucket) }, 6, 240},
		{func() { l.Tighten(QueryBucket) }, 5, 240},
		{func() { l.Tighten(OrderBucket) }, 5, 192},
		{func() { clk.Advance(59 * time.Second) }, 5, 192},
		{func() { clk.Advance(time.Second) }, 8, 240},
		{func() {
			if err := l.SetLimits(exchange.RateLimits{Query: 20, Order: 100}); err != nil {
				t.Fatal(err)
			}
		}, 16, 80},
		{func() {
			if err := l.SetLimits(exchange.RateLimits{Query: 1, Order: 2}); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{func() {
			if err := l.SetLimits(exchange.RateLimits{Query: 0, Order: 2}); err == nil {
				t.Fatal("zero limit accepted")
			}
		}, 1, 1},
		{func() {
			for range 20 {
				l.Tighten(QueryBucket)
			}
		}, 1, 1},
	}
	for i, s := range steps {
		s.do()
		if q, o := l.Limit(QueryBucket), l.Limit(OrderBucket); q != s.query || o != s.ordr {
			t.Fatalf("step %d: limits query %d order %d, want %d %d", i, q, o, s.query, s.ordr)
		}
	}
}

// TestRateLimiterTightenedWindows: calls recorded under a larger limit still count after
// the bucket shrinks.
func TestRateLimiterTightenedWindows(t *testing.T) {
	clk := newFakeClock()
	l := NewRateLimiter(0.8, clk.Now, clk.afterAdvance)
	var log []sent
	for range 240 {
		if err := l.Wait(context.Background(), OrderBucket, 1); err != nil {
			t.Fatal(err)
		}
		log = append(log, sent{clk.Now(), 1})
	}
	l.Tighten(OrderBucket)
	for range 400 {
		if err := l.Wait(context.Background(), OrderBucket, 1); err != nil {
			t.Fatal(err)
		}
		log = append(log, sent{clk.Now(), 1})
	}
	checkWindows(t, log, 240)
	checkWindows(t, log[240:], 192)
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter(1, nil, nil)
	if err := l.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := l.Wait(context.Background(), OrderBucket, 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkRateLimiterWait(b *testing.B) {
	clk := newFakeClock()
	l := NewRateLimiter(0.8, clk.Now, clk.afterAdvance)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(5 * time.Millisecond) // 200/s: below the 240/s order limit, never waits
		if err := l.Wait(ctx, OrderBucket, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// A wrong published limit must not size the buckets' rings to it: 2147483647 per second
// would be gigabytes of timestamps.
func TestRateLimiterCapsPublishedLimits(t *testing.T) {
	l := NewRateLimiter(1, nil, nil)
	if err := l.SetLimits(exchange.RateLimits{Query: math.MaxInt32, Order: math.MaxInt32}); err != nil {
		t.Fatal(err)
	}
	for i, b := range l.b {
		if n := len(b.ring); n > maxPublishedRate {
			t.Errorf("bucket %d: ring of %d entries, want at most %d", i, n, maxPublishedRate)
		}
	}
}
