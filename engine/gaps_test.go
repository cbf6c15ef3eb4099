package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// Private-stream gaps meeting reconcile spacing, balance refreshes and shutdown, from a second
// adversarial review: each test is a scenario the engine got wrong, described as it went
// wrong, and checks what must hold instead. They use the harness of venue_test.go.

// postFillBalances are the venue's balances after the 0.05 bid at 0.030987 filled with a fee
// of 0.00005 ETH (ETH 10 + 0.05 − 0.00005, BTC 1 − 0.00154935).
func postFillBalances(v *venue) {
	v.balances = []exchange.Balance{
		{Asset: "ETH", Balance: dec("10.04995"), Available: dec("10.04995")},
		{Asset: "BTC", Balance: dec("0.99845065"), Available: dec("0.99845065")},
	}
}

// Three private-stream gaps: the first is reconciled at once, the second (inside
// reconcileSpacing) is owed, and the third begins before the health tick that pays the
// owed one. That coalesced reconcile cleared gapOpen and stored gapsSettled = gapsBegun,
// although the third gap was still open (its stream not back, its fills not recoverable
// yet): the balance refresher applied a snapshot that already held a fill made in the third
// gap, and when the stream came back the same fill was recovered and applied again — 0.05
// ETH counted twice until the next good refresh.
func TestEngineCoalescedReconcileKeepsLaterGapOpen(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.engine = func(e *Engine) { e.balanceEvery = 5 * time.Millisecond }
	h := liveTwoSided(t, opt, q)
	id := h.openID(exchange.Buy)
	// The pulls each gap causes must not take the bid off before it fills.
	h.venue.set(func(v *venue) { v.refuseCancels = true })
	t.Cleanup(func() { h.venue.set(func(v *venue) { v.refuseCancels = false }) })

	// Gap 1, reconciled at once.
	h.clock.Advance(reconcileSpacing)
	before := h.fetchCount()
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("gap 1 reconciled", func() bool { return h.fetchCount() == before+1 })
	// Gap 2 at the same instant: owed.
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("gap 2 deferred", func() bool { return len(h.logged("reconcile_deferred")) == 1 })
	// Gap 3 begins and stays open. A foreign order_return routed after it shows that the
	// router has queued gap 3 for the runner.
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	foreign := h.venue.place(exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.02"), Volume: dec("0.01"), LocalID: "human-1"})
	h.venue.emit(exchange.OrderUpdate{Order: foreign})
	h.waitFor("gap 3 routed", func() bool { return len(h.logged("foreign_order")) == 1 })
	// The health tick pays the owed reconcile while gap 3 is open.
	h.tick(reconcileSpacing)
	h.waitFor("owed reconcile paid", func() bool { return len(h.logged("reconcile_coalesced")) == 1 })
	// In gap 3 the bid fills; its messages are lost. The exchange's balances show it.
	h.venue.fill(id, "0.05", "0.00005")
	h.venue.set(postFillBalances)
	// The refresher runs every 5 ms: a bounded moment to apply the snapshot in the gap (an
	// engine that rightly skips snapshots during a gap never does).
	h.waitUpTo(time.Second, func() bool { return h.eng.Inventory("ETH").Total.Equal(dec("10.04995")) })
	h.venue.set(func(v *venue) { v.balancesErr = fmt.Errorf("HTTP 502") }) // later refreshes fail
	// Gap 3 ends: its fills are recovered.
	h.clock.Advance(reconcileSpacing)
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("fill recovered", func() bool { return len(h.logged("fills_recovered")) == 1 })
	if got := h.eng.Inventory("ETH"); !got.Total.Equal(dec("10.04995")) {
		t.Errorf("ETH total %s; the exchange has 10.04995: the fill made in the third gap was counted twice", got.Total)
	}
	if got := h.eng.Inventory("BTC"); !got.Total.Equal(dec("0.99845065")) {
		t.Errorf("BTC total %s, want 0.99845065", got.Total)
	}
}

// The runner is waiting for its cancels to be confirmed at shutdown when the private stream
// drops and comes back (inside reconcileSpacing of the last reconcile). The bid filled in
// that gap. Shutdown paid the reconciles owed when it began, but not one deferred while it
// waited: the gap's fills were never recovered, the shutdown lookups concluded the filled
// bid cancelled, and the gate's position and the realised PnL missed it at exit.
func TestEngineShutdownPaysGapDeferredWhileWaiting(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	h.venue.set(func(v *venue) { v.refuseCancels = true }) // the shutdown has to wait
	h.cancel()
	h.waitFor("shutdown cancels tried", func() bool {
		return len(h.logged("shutdown_started")) == 1 && len(h.logged("cancel_sent")) >= 2
	})
	// A first gap, reconciled (or deferred) while the runner waits.
	before := h.fetchCount()
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("first gap reconciled or deferred", func() bool {
		return h.fetchCount() > before || len(h.logged("reconcile_deferred")) > 0
	})
	deferred := len(h.logged("reconcile_deferred"))
	// A second one at the same instant, deferred whatever became of the first: the bid fills
	// in it and its messages are lost.
	h.venue.fill(id, "0.05", "0.00005")
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("second gap deferred", func() bool { return len(h.logged("reconcile_deferred")) > deferred })
	h.venue.set(func(v *venue) { v.refuseCancels = false })
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.05")) {
		t.Errorf("gate position %s after shutdown, want 0.05: the fill of a gap during the shutdown was never recovered", st.Position)
	}
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.05")) {
		t.Errorf("realised position %s, want 0.05", r.Position)
	}
	for _, e := range h.logged("order_cancelled") {
		if e.ContextMap()["local_id"] == id {
			t.Errorf("the bid that filled is logged as cancelled: %v", e.ContextMap())
		}
	}
}

// TestEnginePartialFillDoesNotChurnNextLevel with the book one tick higher after the partial
// fill (the real ladder, minRefresh 0, tolerance 5 bps): the fresh best ask is 0.031114, the
// partly filled ask rests at 0.031113 within tolerance and is kept, but the ladder charged
// that level its full size (it looked for a kept partial order at exactly the fresh price),
// so the second ask's 0.03 was cut to 0.01 and the order manager cancelled and replaced it.
func TestEnginePartialFillThenTickDoesNotChurnNextLevel(t *testing.T) {
	h, rec := partlyFilledAsk(t)
	h.book("0.031001", "0.031101") // mid 0.031051: fresh asks 0.031114 and 0.031145
	h.waitFor("the ladder saw the new book", func() bool { return rec.sawBid(31001) })
	h.decide(time.Millisecond)
	if _, can, _ := h.venue.counts(); can != 0 {
		t.Errorf("a partial fill of the best ask and a one-tick move led to %d cancels\nvenue:\n%s", can, h.venue.openQuotes())
	}
}

// An insert's answer is lost (outcome unknown: the exchange received it and accepts it a
// moment later), and a private-stream reconcile is owed when shutdown begins. Shutdown pays
// the owed reconcile first; its lookups (the insert's unknownDelay check being due) ran
// without the shutdown rule of TestEngineShutdownWaitsForReceivedInsert and concluded the
// young insert lost at once: the runner stopped, verify found nothing, and Run reported a
// clean shutdown while the exchange then put the order in the book with nobody running.
func TestEngineShutdownReconcileKeepsReceivedInsert(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"))
	acct := &lateAccept{}
	opt := oneStrategy(q)
	opt.venue = func(v *venue) {
		acct.venue = v
		v.insertHook = func(req exchange.OrderRequest) (bool, error) {
			acct.hold(req) // received; accepted later
			return false, fmt.Errorf("insert: read timeout: %w", exchange.ErrUnknownOutcome)
		}
	}
	opt.cfg = func(c *Config) { c.Account = acct }
	h := newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("outcome unknown", func() bool { return len(h.logged("order_unknown_outcome")) == 1 })
	// Two gaps at the instant of the insert: the second one's reconcile is owed (the first's
	// may be too).
	before := h.fetchCount()
	for range 2 {
		h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
		h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	}
	h.waitFor("both gaps reconciled or owed", func() bool {
		return h.fetchCount()-before+len(h.logged("reconcile_deferred")) == 2
	})
	// The insert's unknown-outcome check is due (no health tick has run it); still young.
	h.clock.Advance(time.Second)
	err := h.stop()
	acct.accept(0) // the exchange gets round to it
	if open := h.venue.openLocalIDs(); len(open) > 0 && err == nil {
		t.Fatalf("Run reported a clean shutdown after %d lookup(s), but the insert the exchange had received "+
			"was accepted afterwards and rests unmanaged: %v", acct.lookups, open)
	}
}
