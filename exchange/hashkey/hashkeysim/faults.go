package hashkeysim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Faults switches the simulator's misbehaviours on and off while it runs. Every method is
// safe for concurrent use and takes effect for the next request or message.
type Faults struct {
	s *Server

	mu           sync.Mutex
	latency      time.Duration
	fail5xxRate  float64 // a probability, not money: a float is fine
	fail5xxNext  int
	fail1005Next int
	queryLimit   int // 0: the configured limit
	orderLimit   int
	privDelay    time.Duration
	privDup      bool
	privReorder  bool
	freeze       bool
	skew         time.Duration
	maintenance  bool
	quirks       bool
	rng          *rand.Rand // draws for the 5xx rate, seeded for repeatable runs
}

func newFaults(s *Server, seed int64) *Faults {
	return &Faults{s: s, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
}

func (f *Faults) set(name string, value any, apply func()) {
	f.mu.Lock()
	apply()
	f.mu.Unlock()
	f.s.log.Info("sim_fault_set", zap.String("fault", name), zap.Any("value", value))
}

// DropConnections closes every WebSocket connection now, without a close frame.
func (f *Faults) DropConnections() {
	conns := f.s.hub.all()
	for _, c := range conns {
		c.close()
	}
	f.s.log.Info("sim_fault_set", zap.String("fault", "drop_connections"), zap.Int("connections", len(conns)))
}

// Latency delays every REST answer and every WebSocket message by d (0 turns it off).
func (f *Faults) Latency(d time.Duration) {
	f.set("latency", d, func() { f.latency = d })
}

// REST5xx makes authenticated REST calls fail with HTTP 503 and no respCode: each with
// probability rate, and the next `next` calls for certain. The request IS processed first
// (an insert rests, a cancel cancels): only the answer is lost, which is the "outcome
// unknown" case a client must reconcile.
func (f *Faults) REST5xx(rate float64, next int) {
	f.set("rest_5xx", fmt.Sprintf("rate=%g next=%d", rate, next), func() {
		f.fail5xxRate = rate
		f.fail5xxNext = next
	})
}

// REST1005 answers the next n authenticated REST calls with 1005 (internal service error,
// HTTP 500) without processing them.
func (f *Faults) REST1005(n int) {
	f.set("rest_1005", n, func() { f.fail1005Next = n })
}

// TightenRateLimits enforces lower per-key limits than the published ones (rateLimit keeps
// answering the configured figures), so a client meets 1004 while staying within what it was
// told. 0 restores the configured limit for that bucket.
func (f *Faults) TightenRateLimits(query, order int) {
	f.set("tighten_rate_limits", fmt.Sprintf("query=%d order=%d", query, order), func() {
		f.queryLimit, f.orderLimit = query, order
	})
}

// PrivateDelay holds every private message back by d before it is sent.
func (f *Faults) PrivateDelay(d time.Duration) {
	f.set("private_delay", d, func() { f.privDelay = d })
}

// PrivateDuplicate sends every private message twice.
func (f *Faults) PrivateDuplicate(on bool) {
	f.set("private_duplicate", on, func() { f.privDup = on })
}

// PrivateReorder swaps each pair of consecutive private messages of an account (a message
// without a successor goes out alone after a short hold).
func (f *Faults) PrivateReorder(on bool) {
	f.set("private_reorder", on, func() { f.privReorder = on })
}

// FreezePublic stops book updates and ticker trades: the public data goes stale while the
// market and the matching go on. Lifting it publishes one catch-up update.
func (f *Faults) FreezePublic(on bool) {
	f.set("freeze_public", on, func() { f.freeze = on })
	if !on {
		f.s.call(context.Background(), func() {}) // publish the catch-up diff now
	}
}

// PublishCrossedBook publishes one crossed book for the instrument now (a bid above the
// best ask), cleared again by the next publish.
func (f *Faults) PublishCrossedBook(instrumentID string) error {
	in := f.s.instByID[instrumentID]
	if in == nil {
		return fmt.Errorf("publish crossed book: instrument %s does not exist", instrumentID)
	}
	f.s.log.Info("sim_fault_set", zap.String("fault", "publish_crossed_book"), zap.String("instrumentID", instrumentID))
	return f.s.call(context.Background(), func() { in.crossNext = true })
}

// ClockSkew shifts the simulator's clock by d: every timestamp it writes and the 30 s
// window it checks API-TIMESTAMP against.
func (f *Faults) ClockSkew(d time.Duration) {
	f.set("clock_skew", d, func() { f.skew = d })
}

// Maintenance answers every insert with 2007 (instrument status forbids this now).
func (f *Faults) Maintenance(on bool) {
	f.set("maintenance", on, func() { f.maintenance = on })
}

// Quirks makes the output look like the exchange's rougher published examples: trailing
// spaces in the keys "instrumentID ", "volumeTotal " (orders) and "price ", "volume ",
// "fee " (fills and ticker trades), and tradeTimestamp in seconds on the WebSocket.
func (f *Faults) Quirks(on bool) {
	f.set("quirks", on, func() { f.quirks = on })
}

// Readers used by the server.

func (f *Faults) latencyNow() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

func (f *Faults) clockSkew() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.skew
}

func (f *Faults) quirksOn() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quirks
}

func (f *Faults) frozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.freeze
}

func (f *Faults) maintenanceOn() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maintenance
}

func (f *Faults) privateFaults() privFaults {
	f.mu.Lock()
	defer f.mu.Unlock()
	return privFaults{delay: f.privDelay, duplicate: f.privDup, reorder: f.privReorder}
}

func (f *Faults) limits(published [2]int) (query, order int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	query, order = published[0], published[1]
	if f.queryLimit > 0 {
		query = f.queryLimit
	}
	if f.orderLimit > 0 {
		order = f.orderLimit
	}
	return query, order
}

// take1005 reports whether this call must fail with 1005.
func (f *Faults) take1005() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail1005Next > 0 {
		f.fail1005Next--
		return true
	}
	return false
}

// take5xx reports whether this call's answer must be lost as a 503.
func (f *Faults) take5xx() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail5xxNext > 0 {
		f.fail5xxNext--
		return true
	}
	return f.fail5xxRate > 0 && f.rng.Float64() < f.fail5xxRate
}
