package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// openID returns the local ID of the one open order on a side (fails if not exactly one).
func (h *harness) openID(side exchange.Side) string {
	h.t.Helper()
	var ids []string
	for _, id := range h.venue.openLocalIDs() {
		if h.venue.order(id).Side == side {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		h.t.Fatalf("%d open %s orders, want 1\nvenue:\n%s", len(ids), side, h.venue.openQuotes())
	}
	return ids[0]
}

func (h *harness) decisions() uint64 { return h.eng.Stats().Decisions }

// decide delivers a health tick and waits for the decision it causes.
func (h *harness) decide(d time.Duration) {
	h.t.Helper()
	before := h.decisions()
	h.tick(d)
	h.waitFor("a decision", func() bool { return h.decisions() > before })
}

func oneStrategy(q strategy.Strategy) harnessOpt {
	return harnessOpt{strategies: []Instance{{Name: "s1", Instrument: ethBTC, Strategy: q}}}
}

// liveTwoSided starts an engine quoting one bid and one ask and waits until both rest.
func liveTwoSided(t *testing.T, opt harnessOpt, q *quoter) *harness {
	t.Helper()
	q.set("5", bid("0.030987", "0.05"), ask("0.031113", "0.05"))
	h := newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("both quotes accepted", func() bool {
		return len(h.logged("order_accepted")) == 2 && h.eng.OpenOrders() == 2
	})
	return h
}

func TestEngineQuotesAndShutsDown(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	if got, want := h.venue.openQuotes(), "buy 0.030987 0.05\nsell 0.031113 0.05"; got != want {
		t.Fatalf("venue open:\n%s\nwant:\n%s", got, want)
	}
	// Funds of our orders are frozen in the inventory.
	if got := h.eng.Inventory("BTC"); !got.Available.Equal(dec("0.99845065")) || !got.Total.Equal(dec("1")) {
		t.Fatalf("BTC %+v", got)
	}
	if got := h.eng.Inventory("ETH"); !got.Available.Equal(dec("9.95")) {
		t.Fatalf("ETH %+v", got)
	}
	// The strategy saw its open orders and holdings.
	h.tick(time.Millisecond)
	h.waitFor("a view at the new time", func() bool {
		v := q.seen()
		return len(v) > 0 && v[len(v)-1].Now.Equal(h.clock.Now())
	})
	views := q.seen()
	last := views[len(views)-1]
	if len(last.Open) != 2 || !last.Base.Total.Equal(dec("10")) || last.Book == nil || !last.Now.Equal(h.clock.Now()) {
		t.Fatalf("last view: open %d base %+v book %v now %v", len(last.Open), last.Base, last.Book, last.Now)
	}
	// A quote moved within tolerance (0.3 bps < 5) leaves the orders alone.
	q.set("5", bid("0.030988", "0.05"), ask("0.031113", "0.05"))
	h.decide(time.Millisecond)
	if ins, can, _ := h.venue.counts(); ins != 2 || can != 0 {
		t.Fatalf("inserts %d cancels %d after an in-tolerance move", ins, can)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if open := h.venue.openLocalIDs(); len(open) != 0 {
		t.Fatalf("orders left open: %v", open)
	}
	if len(h.logged("shutdown_started")) != 1 {
		t.Fatal("no shutdown_started")
	}
	done := h.logged("shutdown_complete")
	if len(done) != 1 || done[0].ContextMap()["open_orders"] != int64(0) {
		t.Fatalf("shutdown_complete: %v", done)
	}
	if h.eng.OpenOrders() != 0 {
		t.Fatalf("engine believes %d open", h.eng.OpenOrders())
	}
	// Every order event was logged with the standard fields.
	for _, e := range h.logged("order_sent") {
		m := e.ContextMap()
		for _, k := range []string{"strategy", "instrument", "side", "price", "volume", "local_id", "sys_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("order_sent lacks %s: %v", k, m)
			}
		}
	}
}

func TestEngineReplacesMovedQuote(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	oldBid := h.openID(exchange.Buy)
	// 4 bps up with tolerance 1: the bid is replaced (cancel first), the ask kept.
	q.set("1", bid("0.030999", "0.05"), ask("0.031113", "0.05"))
	h.tick(time.Millisecond)
	h.waitFor("bid replaced", func() bool {
		return h.venue.openQuotes() == "buy 0.030999 0.05\nsell 0.031113 0.05" && h.eng.OpenOrders() == 2
	})
	ins, can, _ := h.venue.counts()
	if ins != 3 || can != 1 || h.venue.order(oldBid).Status != exchange.StatusCancelled {
		t.Fatalf("inserts %d cancels %d old bid %v", ins, can, h.venue.order(oldBid).Status)
	}
	// A bigger size than the order was placed with replaces it too.
	q.set("1", bid("0.030999", "0.06"), ask("0.031113", "0.05"))
	h.tick(time.Millisecond)
	h.waitFor("bid resized", func() bool {
		return h.venue.openQuotes() == "buy 0.030999 0.06\nsell 0.031113 0.05" && h.eng.OpenOrders() == 2
	})
}

// At maxOpenOrders, a replacement waits for its predecessor's cancel to be confirmed rather
// than run into the gate's max_open_orders refusal (which would only be noise in the log and
// a one-second pause of that side).
func TestEngineReplacesWithinMaxOpenOrders(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.limits = func(l *risk.Limits) { l.MaxOpenOrders = 2 }
	h := liveTwoSided(t, opt, q)
	for i, p := range []string{"0.030999", "0.030991", "0.031001"} {
		q.set("1", bid(p, "0.05"), ask("0.031113", "0.05"))
		h.tick(time.Millisecond)
		h.waitFor(fmt.Sprintf("bid %d replaced", i), func() bool {
			return h.venue.openQuotes() == "buy "+p+" 0.05\nsell 0.031113 0.05" && h.eng.OpenOrders() == 2
		})
	}
	if refused := h.logged("risk_refused"); len(refused) > 0 {
		t.Fatalf("%d refusals, first %v", len(refused), refused[0].ContextMap())
	}
}

// A busy strategy never works through stale books: while it is inside Quote, books 2…10
// arrive; its next call sees book 10.
func TestEngineConflatesBooks(t *testing.T) {
	q := &quoter{block: make(chan struct{}), inside: make(chan struct{}, 1000)}
	h := newHarness(t, oneStrategy(q))
	h.start()
	h.goLive("0.031000", "0.031100")
	<-q.inside // the first decision is blocked inside Quote
	var books []*exchange.BookSnapshot
	for i := 2; i <= 10; i++ {
		books = append(books, h.book(fmt.Sprintf("0.0310%02d", i), "0.031100"))
	}
	// A sentinel after the books: once it is logged, the router has dispatched every book.
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PublicStream, Up: true, Received: h.clock.Now()})
	h.waitFor("sentinel", func() bool { return len(h.logged("stream_up")) == 3 })
	close(q.block)
	h.waitFor("second view", func() bool { return len(q.seen()) >= 2 })
	views := q.seen()
	if views[1].Book != books[len(books)-1] {
		t.Fatalf("second decision saw bid %d, want the newest book", views[1].Book.Bids[0].Price)
	}
	for _, v := range views {
		for _, stale := range books[:len(books)-1] {
			if v.Book == stale {
				t.Fatalf("a decision saw stale book with bid %d", stale.Bids[0].Price)
			}
		}
	}
}

func TestEngineLeavesForeignOrdersAlone(t *testing.T) {
	q := &quoter{}
	var human exchange.Order
	opt := oneStrategy(q)
	opt.venue = func(v *venue) {
		human = v.place(exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.02"), Volume: dec("1"), LocalID: "manual-1"})
	}
	h := liveTwoSided(t, opt, q)
	// Another installation's order shows up on the stream, twice, and fills.
	other := exchange.Order{SysID: "X1", LocalID: "99", Instrument: "ETH-BTC", Side: exchange.Sell, Price: dec("0.04"),
		Volume: dec("1"), Remaining: dec("1"), Status: exchange.StatusNew}
	h.venue.emit(exchange.OrderUpdate{Order: other})
	h.venue.emit(exchange.OrderUpdate{Order: other})
	h.venue.emit(exchange.FillEvent{Fill: exchange.Fill{TradeID: "T-x", SysID: "X1", LocalID: "99", Instrument: "ETH-BTC",
		Side: exchange.Sell, Price: dec("0.04"), Volume: dec("0.1")}})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PublicStream, Up: true})
	h.waitFor("sentinel", func() bool { return len(h.logged("stream_up")) == 3 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	foreign := h.logged("foreign_order")
	var ids []string
	for _, e := range foreign {
		m := e.ContextMap()
		ids = append(ids, m["local_id"].(string))
		// The human's order rests in the book: a warning with its terms.
		if m["local_id"] == "manual-1" && (e.Level != zapcore.WarnLevel || m["side"] != "buy" || m["price"] != "0.02" || m["remaining"] != "1") {
			t.Fatalf("resting foreign order logged as %v %v", e.Level, m)
		}
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"99", "manual-1"}) {
		t.Fatalf("foreign_order logged for %v, want each once", ids)
	}
	if h.venue.order(human.LocalID).Status != exchange.StatusNew {
		t.Fatal("the human's order was touched")
	}
	h.venue.mu.Lock()
	cancels := slices.Clone(h.venue.cancels)
	h.venue.mu.Unlock()
	if slices.Contains(cancels, human.LocalID) {
		t.Fatalf("cancelled a foreign order: %v", cancels)
	}
	if h.eng.Stats().Fills != 0 || !h.eng.Inventory("ETH").Total.Equal(dec("10")) {
		t.Fatal("a foreign fill moved our inventory")
	}
}

// Fills are applied once each, in whatever order they arrive with the order_returns, and a
// partly filled order is kept (no top-up) until it is done.
func TestEngineFillsAndDuplicates(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	f, upd := h.venue.fill(id, "0.02", "0.00002")
	old := h.venue.order(id)
	old.Traded, old.Remaining, old.Status, old.Updated = decimal.Zero, old.Volume, exchange.StatusNew, t0
	h.venue.emit(exchange.FillEvent{Fill: f})
	h.venue.emit(exchange.FillEvent{Fill: f}) // duplicate
	h.venue.emit(exchange.OrderUpdate{Order: upd})
	h.venue.emit(exchange.OrderUpdate{Order: old}) // late and older
	h.waitFor("fill applied", func() bool { return len(h.logged("order_filled")) == 1 })
	h.decide(time.Millisecond)
	st := h.eng.Stats()
	if st.Fills != 1 {
		t.Fatalf("fills %d, want 1", st.Fills)
	}
	// ETH: 10 + 0.02 − fee 0.00002; BTC: 1 − 0.030987×0.02. Frozen: bid 0.03 left, ask 0.05.
	if got := h.eng.Inventory("ETH"); !got.Total.Equal(dec("10.01998")) || !got.Available.Equal(dec("9.96998")) {
		t.Fatalf("ETH %+v", got)
	}
	if got := h.eng.Inventory("BTC"); !got.Total.Equal(dec("0.99938026")) || !got.Available.Equal(dec("0.99845065")) {
		t.Fatalf("BTC %+v", got)
	}
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.02")) || !r.AvgCost.Equal(dec("0.030987")) {
		t.Fatalf("realised %+v", r)
	}
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.02")) {
		t.Fatalf("gate position %s", st.Position)
	}
	if ins, _, _ := h.venue.counts(); ins != 2 {
		t.Fatalf("%d inserts: a partly filled order was topped up", ins)
	}
	// The rest fills: the order is done and the slot is quoted again.
	f2, upd2 := h.venue.fill(id, "0.03", "0")
	h.venue.emit(exchange.OrderUpdate{Order: upd2}) // order_return first this time
	h.venue.emit(exchange.FillEvent{Fill: f2})
	h.waitFor("bid re-quoted", func() bool {
		ins, _, _ := h.venue.counts()
		return ins == 3 && len(h.logged("order_filled")) == 2 && h.eng.OpenOrders() == 2
	})
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.05")) {
		t.Fatalf("realised %+v", r)
	}
}

// An insert whose answer was lost is looked up, never resent; one the exchange does not have
// is presumed not placed, and adopted again if a late order_return shows it after all.
func TestEngineUnknownOutcome(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"))
	var firstBid exchange.OrderRequest
	opt := oneStrategy(q)
	opt.venue = func(v *venue) {
		v.insertHook = func(req exchange.OrderRequest) (bool, error) {
			if firstBid.LocalID == "" {
				firstBid = req
				return false, fmt.Errorf("insert %s: %w", req.LocalID, exchange.ErrUnknownOutcome)
			}
			return true, nil
		}
	}
	h := newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("unknown outcome", func() bool { return len(h.logged("order_unknown_outcome")) == 1 })
	// While it is unresolved the slot stays taken: no second insert.
	h.decide(100 * time.Millisecond)
	if ins, _, qs := h.venue.counts(); ins != 1 || qs != 0 {
		t.Fatalf("inserts %d queries %d before the lookup is due", ins, qs)
	}
	// After unknownDelay the order is looked up: not there, so presumed not placed, and the
	// slot is quoted again under a new local ID.
	h.tick(time.Second)
	h.waitFor("re-quoted", func() bool { return len(h.venue.openLocalIDs()) == 1 && h.eng.OpenOrders() == 1 })
	second := h.openID(exchange.Buy)
	if second == firstBid.LocalID {
		t.Fatal("local ID reused")
	}
	if reconciled(h, "pending_insert", "lost") != 1 {
		t.Fatalf("order_reconciled: %v", h.dump())
	}
	// The exchange had it after all: a late order_return. The engine adopts it and cancels
	// it (the gate was told it is finished), keeping the bid it placed since.
	late := h.venue.place(firstBid)
	h.venue.emit(exchange.OrderUpdate{Order: late})
	h.waitFor("orphan cancelled", func() bool {
		_, can, _ := h.venue.counts()
		return len(h.venue.openLocalIDs()) == 1 && h.eng.OpenOrders() == 1 && can == 1 && reconciled(h, "lost", "open") == 1
	})
	if got := h.openID(exchange.Buy); got != second {
		t.Fatalf("kept %s, want %s", got, second)
	}
}

// reconciled counts order_reconciled lines for one transition.
func reconciled(h *harness, from, to string) int {
	n := 0
	for _, e := range h.logged("order_reconciled") {
		if m := e.ContextMap(); m["from"] == from && m["to"] == to {
			n++
		}
	}
	return n
}

// An insert the exchange rejects is done; the gate's reject backoff keeps the engine from
// hammering it.
func TestEngineInsertRejected(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"))
	opt := oneStrategy(q)
	var h *harness
	opt.venue = func(v *venue) {
		v.insertHook = func(req exchange.OrderRequest) (bool, error) {
			go v.emit(exchange.InsertRejected{LocalID: req.LocalID, Code: 2011, Message: "insufficient balance"})
			return false, nil
		}
	}
	h = newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("rejected", func() bool { return len(h.logged("order_rejected")) == 1 && h.eng.OpenOrders() == 0 })
	if c := h.logged("order_rejected")[0].ContextMap()["code"]; c != int64(2011) {
		t.Fatalf("code %v", c)
	}
	for range 3 {
		h.decide(10 * time.Millisecond)
	}
	if ins, _, _ := h.venue.counts(); ins != 1 {
		t.Fatalf("%d inserts during the reject backoff", ins)
	}
	if len(h.logged("risk_refused")) == 0 {
		t.Fatal("the gate did not refuse during backoff")
	}
	h.tick(5 * time.Second)
	h.waitFor("retry after backoff", func() bool { ins, _, _ := h.venue.counts(); return ins == 2 })
}

// A cancel answered "already filled" is reconciled by a lookup, not retried.
func TestEngineCancelRejectedReconciles(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.venue = func(v *venue) { v.asyncCancelRej = true }
	h := liveTwoSided(t, opt, q)
	id := h.openID(exchange.Buy)
	// The bid fills on the exchange but the messages are lost.
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.fill(id, "0.05", "0")
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	q.set("5", ask("0.031113", "0.05")) // no bid wanted any more
	h.decide(time.Millisecond)
	h.waitFor("cancel rejected", func() bool { return len(h.logged("cancel_rejected")) == 1 })
	h.decide(time.Millisecond) // the lookup is due now
	h.waitFor("reconciled", func() bool { return reconciled(h, "open", "done") == 1 && h.eng.OpenOrders() == 1 })
	if _, can, _ := h.venue.counts(); can != 1 {
		t.Fatalf("%d cancels, want 1", can)
	}
}

// After a private-stream gap the engine reconciles: orders that ended unseen are settled.
// Meanwhile the gate halted the instrument and the engine pulled its orders.
func TestEngineReconcilesAfterStreamGap(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset"})
	h.waitFor("orders pulled", func() bool {
		_, can, _ := h.venue.counts()
		return len(h.logged("stream_down")) == 1 && can == 2 && len(h.logged("orders_pulled")) == 1
	})
	if c := h.logged("orders_pulled")[0].ContextMap()["count"]; c != int64(2) {
		t.Fatalf("orders_pulled count %v", c)
	}
	if h.eng.OpenOrders() != 2 {
		t.Fatal("cancels unconfirmed, yet the engine forgot the orders")
	}
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	h.clock.Advance(reconcileSpacing) // a gap well after the start-up reconcile
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true})
	h.waitFor("reconciled", func() bool {
		gone := 0 // the first acceptances may have been reconciles too: count only the conclusions
		for _, e := range h.logged("order_reconciled") {
			if e.ContextMap()["reason"] == "not_open_on_exchange" {
				gone++
			}
		}
		return h.eng.OpenOrders() == 0 && gone == 2
	})
	// Quoting resumes after the gate's healthy period.
	h.tick(2 * time.Second)
	h.waitFor("re-quoted", func() bool { return len(h.venue.openLocalIDs()) == 2 && h.eng.OpenOrders() == 2 })
}

// A fill that happened while the private stream was down is recovered from the exchange
// when it comes back, before the order is concluded: inventory, gate position and the
// order's fate are right, and the fill is counted once even if its trade_return turns up late.
func TestEngineRecoversFillsMissedInGap(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	f, upd := h.venue.fill(id, "0.05", "0.00005") // the whole bid fills during the gap: both messages lost
	h.venue.emit(exchange.FillEvent{Fill: f})
	h.venue.emit(exchange.OrderUpdate{Order: upd})
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	h.clock.Advance(reconcileSpacing) // a gap well after the start-up reconcile
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("fill recovered", func() bool {
		return len(h.logged("fills_recovered")) == 1 && len(h.logged("order_filled")) == 1
	})
	h.venue.emit(exchange.FillEvent{Fill: f}) // the lost trade_return after all: a repeat
	h.decide(time.Millisecond)
	if st := h.eng.Stats(); st.Fills != 1 {
		t.Fatalf("fills %d, want 1", st.Fills)
	}
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.05")) {
		t.Fatalf("gate position %s, want 0.05", st.Position)
	}
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.05")) {
		t.Fatalf("realised %+v", r)
	}
	for _, e := range h.logged("order_cancelled") {
		if e.ContextMap()["local_id"] == id {
			t.Fatalf("the filled order was concluded cancelled: %v", e.ContextMap())
		}
	}
}

// If the exchange cannot list the fills when the private stream comes back, the recovery is
// not given up: it is retried until it succeeds, and the fill missed in the gap is counted.
func TestEngineRetriesFailedFillRecovery(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	h.venue.set(func(v *venue) { v.dropPrivate = true; v.fillsErr = errors.New("getTrade: 503") })
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	f, upd := h.venue.fill(id, "0.05", "0.00005") // both messages lost in the gap
	h.venue.emit(exchange.FillEvent{Fill: f})
	h.venue.emit(exchange.OrderUpdate{Order: upd})
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	h.clock.Advance(reconcileSpacing) // a gap well after the start-up reconcile
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("recovery failed", func() bool { return len(h.logged("fills_recovery_failed")) == 1 })
	h.venue.set(func(v *venue) { v.fillsErr = nil })
	h.tick(2 * time.Second)
	h.waitFor("fill recovered on retry", func() bool { return len(h.logged("fills_recovered")) == 1 })
	if st := h.eng.Stats(); st.Fills != 1 {
		t.Fatalf("fills %d, want 1", st.Fills)
	}
	if st := h.gate.Status("s1"); !st.Position.Equal(dec("0.05")) {
		t.Fatalf("gate position %s, want 0.05", st.Position)
	}
	if r := h.eng.Realised("ETH-BTC"); !r.Position.Equal(dec("0.05")) {
		t.Fatalf("realised %+v", r)
	}
}

// A flood of private-stream gaps (an exchange message we cannot read, over and over) costs
// one reconcile per reconcileSpacing, not one per gap: the rest are owed and covered together.
func TestEngineSpacesGapReconciles(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	before := h.fetchCount()
	const gaps = 5
	for range gaps {
		h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "unreadable order_return", Received: h.clock.Now()})
		h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	}
	h.waitFor("every gap reconciled or deferred", func() bool {
		return h.fetchCount()-before+len(h.logged("reconcile_deferred")) == gaps
	})
	immediate := h.fetchCount() - before
	if immediate > 1 {
		t.Fatalf("%d reconciles for %d gaps within %s, want at most 1", immediate, gaps, reconcileSpacing)
	}
	h.tick(2 * reconcileSpacing)
	h.waitFor("one reconcile for the owed gaps", func() bool {
		return len(h.logged("reconcile_coalesced")) == 1 && h.fetchCount() == before+immediate+1
	})
	if g := h.logged("reconcile_coalesced")[0].ContextMap()["gaps"]; g != int64(gaps-immediate) {
		t.Fatalf("coalesced %v gaps, want %d", g, gaps-immediate)
	}
	h.tick(2 * reconcileSpacing)
	h.decide(time.Millisecond)
	if n := h.fetchCount(); n != before+immediate+1 {
		t.Fatalf("%d reconciles after the owed one, want none", n-before-immediate-1)
	}
}

// A cancel that loses the race to a fill (the exchange says the order is already done) is
// routine: cancel_sent at info with outcome already_done, not a warning; the order is looked
// up as after any failed cancel.
func TestEngineCancelRaceIsNotAWarning(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	h.venue.set(func(v *venue) { v.dropPrivate = true })
	h.venue.fill(id, "0.05", "0.00005") // filled; the engine has not heard yet
	h.venue.set(func(v *venue) { v.dropPrivate = false })
	h.gate.Halt("operator")
	h.decide(time.Millisecond)
	h.waitFor("both cancels sent", func() bool { return len(h.logged("cancel_sent")) == 2 })
	for _, e := range h.logged("cancel_sent") {
		ctx := e.ContextMap()
		if ctx["local_id"] != id {
			if e.Level != zapcore.InfoLevel || ctx["outcome"] != nil {
				t.Errorf("plain cancel logged %v %v", e.Level, ctx)
			}
			continue
		}
		if e.Level != zapcore.InfoLevel || ctx["outcome"] != "already_done" {
			t.Errorf("cancel of the filled bid logged %v %v, want info with outcome already_done", e.Level, ctx)
		}
	}
}

// While the fills a private-stream gap may have hidden cannot be recovered, the position is
// not known: nothing is quoted, even once the gate's healthy period is over, until the
// recovery succeeds.
func TestEngineNoQuotesWhileFillsUnrecovered(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	h.venue.set(func(v *venue) { v.fillsErr = errors.New("getTrade: 503") })
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "read: connection reset", Received: h.clock.Now()})
	h.clock.Advance(reconcileSpacing)
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	h.waitFor("recovery failed", func() bool { return len(h.logged("fills_recovery_failed")) == 1 })
	inserts, _, _ := h.venue.counts()
	h.tick(2 * time.Second) // the gate is healthy again; the retry fails again
	h.waitFor("retry failed", func() bool { return len(h.logged("fills_recovery_failed")) == 2 })
	h.decide(time.Millisecond)
	h.decide(time.Millisecond)
	if n, _, _ := h.venue.counts(); n != inserts {
		t.Fatalf("%d inserts while the gap's fills were unrecovered", n-inserts)
	}
	if open := h.venue.openLocalIDs(); len(open) != 0 {
		t.Fatalf("orders open while the gap's fills were unrecovered: %v", open)
	}
	h.venue.set(func(v *venue) { v.fillsErr = nil })
	h.tick(2 * time.Second)
	h.waitFor("quoting again", func() bool { return len(h.venue.openLocalIDs()) == 2 })
}

func TestEngineHaltPullsAndResumeRequotes(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	h.gate.Halt("operator")
	h.decide(time.Millisecond)
	h.waitFor("pulled", func() bool { return h.eng.OpenOrders() == 0 && len(h.venue.openLocalIDs()) == 0 })
	n := len(q.seen())
	h.decide(time.Millisecond)
	if len(q.seen()) != n {
		t.Fatal("strategy asked while halted")
	}
	if len(h.logged("orders_pulled")) != 1 {
		t.Fatalf("orders_pulled logged %d times", len(h.logged("orders_pulled")))
	}
	h.gate.Resume()
	h.tick(2 * time.Second)
	h.waitFor("re-quoted", func() bool { return h.eng.OpenOrders() == 2 && len(h.venue.openLocalIDs()) == 2 })
}

func TestEngineStrategyPanic(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	q.mu.Lock()
	q.panics = true
	q.mu.Unlock()
	h.decide(time.Millisecond)
	h.waitFor("pulled after panic", func() bool { return h.eng.OpenOrders() == 0 })
	if len(h.logged("strategy_error")) == 0 || h.eng.Stats().StrategyErrors == 0 {
		t.Fatal("no strategy_error")
	}
	q.mu.Lock()
	q.panics = false
	q.mu.Unlock()
	h.decide(time.Millisecond)
	h.waitFor("quoting again", func() bool { return h.eng.OpenOrders() == 2 })
}

// Shutdown with the stream gone: confirmations come from lookups.
func TestEngineShutdownWithoutStream(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.venue = func(v *venue) { v.silentCancels = true }
	h := liveTwoSided(t, opt, q)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if open := h.venue.openLocalIDs(); len(open) != 0 {
		t.Fatalf("left open: %v", open)
	}
}

// Shutdown that cannot cancel: bounded, and Run says so.
func TestEngineShutdownFails(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.cfg = func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond }
	h := liveTwoSided(t, opt, q)
	h.venue.set(func(v *venue) { v.refuseCancels = true })
	start := time.Now()
	err := h.stop()
	if err == nil || !strings.Contains(err.Error(), "2 orders still open") {
		t.Fatalf("Run: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("shutdown took %s", el)
	}
	done := h.logged("shutdown_complete")
	if len(done) != 1 || done[0].ContextMap()["open_orders"] != int64(2) {
		t.Fatalf("shutdown_complete: %v", h.dump())
	}
}

// Reconcile from outside: an order the exchange no longer lists is looked up and settled.
func TestEngineReconcileEntry(t *testing.T) {
	q := &quoter{}
	h := liveTwoSided(t, oneStrategy(q), q)
	id := h.openID(exchange.Buy)
	h.venue.set(func(v *venue) { v.orders[id].Status = exchange.StatusCancelled }) // gone, unseen
	open, _ := h.venue.OpenOrders(context.Background(), "")
	if err := h.eng.Reconcile(context.Background(), open); err != nil {
		t.Fatal(err)
	}
	// Settled before Reconcile returned.
	r := h.logged("order_reconciled")
	if reconciled(h, "open", "done") != 1 || r[len(r)-1].ContextMap()["local_id"] != id {
		t.Fatalf("order_reconciled: %v", h.dump())
	}
	// The freed slot is quoted again.
	h.waitFor("bid re-quoted", func() bool {
		ins, _, _ := h.venue.counts()
		return ins == 3 && h.eng.OpenOrders() == 2
	})
}

func TestEngineMinInterval(t *testing.T) {
	q := &quoter{}
	opt := harnessOpt{strategies: []Instance{{Name: "s1", Instrument: ethBTC, Strategy: q, MinInterval: time.Second}}}
	h := liveTwoSided(t, opt, q)
	before := h.decisions()
	h.tick(500 * time.Millisecond) // within MinInterval of the decision that quoted: none
	h.decide(600 * time.Millisecond)
	if got := h.decisions(); got != before+1 {
		t.Fatalf("%d decisions, want 1", got-before)
	}
}

func TestEngineStartFails(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.venue = func(v *venue) { v.balancesErr = errors.New("HTTP 502") }
	h := newHarness(t, opt)
	err := h.eng.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "balances: HTTP 502") {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	g, err := risk.NewGate(risk.Config{Sender: newVenue(newSignal(), time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	v := newVenue(newSignal(), time.Now)
	good := Config{Gate: g, Account: v, Events: v.events, IDs: NewLocalIDs(0, time.Now),
		Strategies: []Instance{{Name: "a", Instrument: ethBTC, Strategy: &quoter{}}}}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"good", func(*Config) {}, ""},
		{"no gate", func(c *Config) { c.Gate = nil }, "no risk gate"},
		{"no account", func(c *Config) { c.Account = nil }, "no exchange account"},
		{"no events", func(c *Config) { c.Events = nil }, "no event channel"},
		{"no ids", func(c *Config) { c.IDs = nil }, "no local ID generator"},
		{"duplicate name", func(c *Config) { c.Strategies = append(c.Strategies, c.Strategies[0]) }, `"a": name used twice`},
		{"no strategy", func(c *Config) { c.Strategies[0].Strategy = nil }, `"a": no strategy`},
		{"no instrument", func(c *Config) { c.Strategies[0].Instrument = exchange.Instrument{} }, "lacks an ID"},
		{"negative interval", func(c *Config) { c.Strategies[0].MinInterval = -1 }, "negative min interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Strategies = slices.Clone(good.Strategies)
			tt.mod(&c)
			_, err := New(c)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// An insert the exchange received but never acknowledged on the stream is looked up after
// the insert timeout and adopted; until then its slot stays taken.
func TestEngineInsertTimeout(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"))
	opt := oneStrategy(q)
	opt.venue = func(v *venue) { v.silentInserts = true }
	h := newHarness(t, opt)
	h.start()
	h.goLive("0.031000", "0.031100")
	h.waitFor("sent", func() bool { return len(h.logged("order_sent")) == 1 })
	h.decide(4 * time.Second)
	if ins, _, qs := h.venue.counts(); ins != 1 || qs != 0 {
		t.Fatalf("inserts %d lookups %d before the timeout", ins, qs)
	}
	h.tick(time.Second)
	h.waitFor("adopted by lookup", func() bool { return reconciled(h, "pending_insert", "open") == 1 })
	if ins, _, _ := h.venue.counts(); ins != 1 || h.eng.OpenOrders() != 1 {
		t.Fatalf("inserts %d open %d", ins, h.eng.OpenOrders())
	}
}

// The inventory is refreshed from the exchange's balances to correct drift.
func TestEngineBalanceRefresh(t *testing.T) {
	q := &quoter{}
	opt := oneStrategy(q)
	opt.engine = func(e *Engine) { e.balanceEvery = 5 * time.Millisecond }
	h := newHarness(t, opt)
	h.start()
	h.venue.set(func(v *venue) {
		v.balances = []exchange.Balance{{Asset: "ETH", Balance: dec("12"), Available: dec("11")}, {Asset: "BTC", Balance: dec("1"), Available: dec("1")}}
	})
	h.waitFor("refreshed", func() bool {
		got := h.eng.Inventory("ETH")
		return got.Total.Equal(dec("12")) && got.Available.Equal(dec("11"))
	})
}

// MinInterval throttles re-quoting, never failing closed: a halt pulls the orders at once
// even right after a decision.
func TestEngineMinIntervalDoesNotDelayPull(t *testing.T) {
	q := &quoter{}
	q.set("5", bid("0.030987", "0.05"), ask("0.031113", "0.05"))
	h := newHarness(t, harnessOpt{strategies: []Instance{{Name: "s1", Instrument: ethBTC, Strategy: q, MinInterval: time.Minute}}})
	h.start()
	h.goLive("0.031000", "0.031100")
	h.tick(time.Minute)
	h.waitFor("both quotes accepted", func() bool {
		return len(h.logged("order_accepted")) == 2 && h.eng.OpenOrders() == 2
	})
	h.gate.Halt("operator")
	h.tick(time.Millisecond)
	h.waitFor("pulled", func() bool { return len(h.venue.openLocalIDs()) == 0 && h.eng.OpenOrders() == 0 })
	if n := len(h.logged("orders_pulled")); n != 1 {
		t.Fatalf("orders_pulled logged %d times", n)
	}
}
