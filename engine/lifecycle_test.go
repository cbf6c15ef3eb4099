package engine

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

// Order-lifecycle edge cases from an adversarial review: each test is a scenario the engine
// once got wrong, described as it went wrong, and checks what must hold instead. They use
// the harness of venue_test.go.

// fetchCount is how many reconciles (OpenOrders for one instrument) the venue has answered.
func (h *harness) fetchCount() int {
	var n int
	h.venue.set(func(v *venue) { n = v.fetches })
	return n
}

// The bid fills in part (0.03 of 0.05) and the private stream delivers order_return before
// trade_return (it promises no order between the two). The engine's own view was right, but
// the gate counted the fill twice against the order's remaining volume (0.05 − 0.03 − 0.03)
// and dropped the order as finished while 0.02 of it still rested: the strategy's open-order
// count and worst-case position were under-counted from then on, and every later update of
// the order ignored (see risk.TestOrderReturnBeforeTradeReturn).
func TestEngineGateKeepsPartlyFilledOrderOpen(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	room := h.gate.Status("s1").OrderRoom // 10 max open orders − 2 resting
	id := h.openID(exchange.Buy)
	f, upd := h.venue.fill(id, "0.03", "0")
	h.venue.emit(exchange.OrderUpdate{Order: upd}) // order_return first
	h.venue.emit(exchange.FillEvent{Fill: f})
	h.waitFor("fill applied", func() bool { return len(h.logged("order_filled")) == 1 })
	h.decide(time.Millisecond)
	if open := h.venue.openLocalIDs(); len(open) != 2 || h.eng.OpenOrders() != 2 {
		t.Fatalf("venue open %v, engine open %d; want both orders resting", open, h.eng.OpenOrders())
	}
	if got := h.gate.Status("s1").OrderRoom; got != room {
		t.Fatalf("gate order room %d after a partial fill, want %d: the gate no longer counts the bid "+
			"that still rests 0.02 in the book", got, room)
	}
}

// The private stream is down longer than doneRetention (an exchange maintenance window).
// During it the bid fills completely; both messages are lost. The engine pulls its orders,
// its lookups conclude the bid done (not open any more), and ten minutes later prune forgot
// it. When the stream returned, the fill was listed by getTrade, but recoverFills found no
// order for it and dropped it: the gate's position and the realised PnL missed 0.05 ETH for
// good. Now nothing is pruned while a gap's fills may still be recovered.
func TestEngineFillMissedInLongGapIsRecovered(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	// The stream dies; the whole bid fills before the engine notices: trade_return and
	// order_return are lost.
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.fill(id, "0.05", "0.00005")
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "maintenance", Received: h.clock.Now()})
	h.waitFor("orders pulled", func() bool { _, can, _ := h.venue.counts(); return can == 2 })
	h.tick(time.Second) // the bid's cancel met 2004: its lookup is due and finds it gone
	h.waitFor("bid concluded", func() bool { return h.eng.OpenOrders() == 1 })
	// Still down, past doneRetention. The ask's lookup (its cancel is unconfirmed) runs in
	// the same resolve as the prune, so once it is concluded the bid has been pruned.
	h.tick(11 * time.Minute)
	h.waitFor("ask concluded", func() bool { return h.eng.OpenOrders() == 0 })
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	before := h.fetchCount()
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("gap reconciled", func() bool { return h.fetchCount() > before })
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.05")) {
		t.Errorf("gate position %s, want 0.05: the fill made during the gap was never counted", st.Position)
	}
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.05")) {
		t.Errorf("realised position %s, want 0.05", r.Position)
	}
	if n := h.eng.Stats().Fills; n != 1 {
		t.Errorf("fills %d, want 1", n)
	}
}

// Two private-stream gaps less than reconcileSpacing apart: the second one's reconcile (and
// with it its fill recovery) is owed until a health tick. The operator stops the daemon
// before that tick. Shutdown did not pay the debt: the bid that filled during the second gap
// was concluded cancelled by the shutdown lookups, and its fill never counted. Now shutdown
// recovers owed fills first.
func TestEngineShutdownRecoversDeferredGapFills(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	// The pulls each gap causes must not take the bid off before it fills: cancels fail
	// until shutdown.
	h.venue.set(func(v *venue) { v.refuseCancels = true })
	before := h.fetchCount()
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("first gap reconciled or deferred", func() bool {
		return h.fetchCount()-before+len(h.logged("reconcile_deferred")) == 1
	})
	deferred := len(h.logged("reconcile_deferred"))
	// A second gap at the same instant: it is deferred whatever became of the first.
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.fill(id, "0.05", "0.00005") // both messages lost
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("second gap deferred", func() bool { return len(h.logged("reconcile_deferred")) == deferred+1 })
	h.venue.set(func(v *venue) { v.refuseCancels = false })
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.05")) {
		t.Errorf("gate position %s after shutdown, want 0.05: the owed gap's fill was never recovered", st.Position)
	}
	if n := h.eng.Stats().Fills; n != 1 {
		t.Errorf("fills %d, want 1", n)
	}
	for _, e := range h.logged("order_cancelled") {
		if e.ContextMap()["local_id"] == id {
			t.Errorf("the bid that filled is logged as cancelled: %v", e.ContextMap())
		}
	}
}

// lateAccept is the account side of an exchange that has received an insert (REST answered
// "received") but accepts it only a while later: lookups before that find nothing.
type lateAccept struct {
	*venue
	mu       sync.Mutex
	pending  exchange.OrderRequest
	lookups  int
	accepted bool
}

func (a *lateAccept) hold(req exchange.OrderRequest) {
	a.mu.Lock()
	a.pending = req
	a.mu.Unlock()
}

// accept places the held order on the venue once, on the given lookup (or now when 0).
func (a *lateAccept) accept(onLookup int) {
	a.mu.Lock()
	do := a.pending.LocalID != "" && !a.accepted && (onLookup == 0 || a.lookups >= onLookup)
	if do {
		a.accepted = true
	}
	req := a.pending
	a.mu.Unlock()
	if do {
		a.venue.place(req)
	}
}

func (a *lateAccept) OrderByLocalID(ctx context.Context, localID string) (*exchange.Order, error) {
	a.mu.Lock()
	if localID == a.pending.LocalID {
		a.lookups++
	}
	a.mu.Unlock()
	a.accept(2) // accepted by the second lookup
	return a.venue.OrderByLocalID(ctx, localID)
}

// Shutdown comes right after an insert the exchange answered "received, not yet accepted"
// (hashkey-pro-api.md §3). The shutdown lookups run every shutdownPoll for every live order,
// pending ones included, and the first one that found nothing concluded the insert lost at
// once: the runner stopped with liveCount 0, verify listed no order of ours, and Run reported
// a clean shutdown. The exchange then accepted the insert: an order of ours rested in the
// book with nobody running. Now a pending insert is concluded only after its insertTimeout,
// as reconcile already did.
func TestEngineShutdownWaitsForReceivedInsert(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"))
	acct := &lateAccept{}
	opt := oneStrategy(q)
	opt.venue = func(v *venue) {
		acct.venue = v
		v.insertHook = func(req exchange.OrderRequest) (bool, error) {
			acct.hold(req) // received; accepted later
			return false, nil
		}
	}
	opt.cfg = func(c *Config) { c.Account = acct }
	h := newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("insert received", func() bool { return len(h.logged("order_sent")) == 1 })
	err := h.stop()
	acct.accept(0) // the exchange gets round to it
	if open := h.venue.openLocalIDs(); len(open) > 0 && err == nil {
		t.Fatalf("Run reported a clean shutdown after %d lookup(s), but the insert the exchange had received "+
			"was accepted afterwards and rests unmanaged: %v", acct.lookups, open)
	}
}

// hanger is a strategy that can be made to hang inside Quote (a bug in a strategy: an endless
// loop, a deadlock), until released.
type hanger struct {
	mu      sync.Mutex
	want    []strategy.Quote
	hang    bool
	entered chan struct{}
	release chan struct{}
}

func (s *hanger) Quote(v strategy.View) strategy.Wanted {
	s.mu.Lock()
	hang, w := s.hang, slices.Clone(s.want)
	s.mu.Unlock()
	if hang {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.release
	}
	return strategy.Wanted{Quotes: w, Tolerance: dec("5")}
}

// A strategy stuck in Quote blocks its runner, and Run waited for every runner before it
// did anything else: SIGTERM never cancelled the orders out and Run never returned, although
// it promises a shutdown bounded by ShutdownTimeout. Now it waits for the runners only until
// then (runner_stuck) and verifies, re-cancelling, from outside the stuck goroutine.
func TestEngineShutdownBoundedWithStuckStrategy(t *testing.T) {
	s := &hanger{want: []strategy.Quote{bid("0.030987", "0.05"), ask("0.031113", "0.05")},
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	opt := oneStrategy(s)
	opt.cfg = func(c *Config) { c.ShutdownTimeout = time.Second }
	h := newHarness(t, opt)
	h.start()
	t.Cleanup(func() { close(s.release) }) // runs before the harness waits for Run
	h.goLive("0.031000", "0.031100")
	h.waitFor("both quotes accepted", func() bool { return h.eng.OpenOrders() == 2 })
	s.mu.Lock()
	s.hang = true
	s.mu.Unlock()
	h.tick(time.Millisecond)
	select {
	case <-s.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("strategy not asked")
	}
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err
		if open := h.venue.openLocalIDs(); len(open) != 0 {
			t.Fatalf("Run returned (%v) with orders open: %v", err, open)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run has not returned 5s after shutdown began (ShutdownTimeout 1s); %d orders left open: %v",
			len(h.venue.openLocalIDs()), h.venue.openLocalIDs())
	}
}
