package hashkey

// Adapter edge cases from an adversarial review: each test failed against the code it was
// written for; the comment above it gives the scenario and the consequence it guards against.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
)

// ---- 1. Book: an update that inserts a level above a level it removes drops a live level ----

// TestBookInsertAboveRemoval: a level2 update lists changed levels best first (§3:
// "bids best first"), so when a new level enters the top N above a level that leaves it,
// the insertion comes before the removal in the same message. The book is full (N levels),
// so Book.Apply makes room for the insertion by dropping the worst level, which is still in
// the exchange's top N and which the exchange never sends again (it did not change). The
// removal that follows then leaves the side one level short. A later update that removes the
// levels above makes the dropped level the best bid: the book shows a best bid one level too
// low, neither crossed nor invalidated, and the strategy quotes off it.
func TestBookInsertAboveRemoval(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{btcUSDT}, Depth: 5}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "level2", "BTC-USDT")
	// Exchange top 5: 100 99 98 97 96.
	p.send(t, `{"type":"level2_snapshot","instrumentID":"BTC-USDT","buy":[["100","1"],["99","1"],["98","1"],["97","1"],["96","1"]],"sell":[["101","1"]],"pubTimestamp":"1542104001000"}`)
	st.until(t, "snapshot", isBook("BTC-USDT"))
	// A bid at 99.5 arrives and the one at 99 leaves: top 5 is 100 99.5 98 97 96. The diff,
	// best first (as the simulator's diffLevels emits it): 99.5 new, 99 removed.
	p.send(t, `{"type":"level2_update","instrumentID":"BTC-USDT","buy":[["99.5","1"],["99","0"]],"sell":[],"pubTimestamp":"1542104001500"}`)
	ev, _ := st.until(t, "first update", isBook("BTC-USDT"))
	if got, want := bookString(ev.(exchange.BookUpdate).Book), "b100x1 b99.5x1 b98x1 b97x1 b96x1 a101x1"; got != want {
		t.Errorf("book after insert-above-removal:\n got %s\nwant %s", got, want)
	}
	// The top four bids are lifted and four new ones rest below 96: top 5 is 96 95 94 93 92.
	p.send(t, `{"type":"level2_update","instrumentID":"BTC-USDT","buy":[["100","0"],["99.5","0"],["98","0"],["97","0"],["95","1"],["94","1"],["93","1"],["92","1"]],"sell":[],"pubTimestamp":"1542104002000"}`)
	ev, _ = st.until(t, "second update", isBook("BTC-USDT"))
	book := ev.(exchange.BookUpdate).Book
	if got, want := bookString(book), "b96x1 b95x1 b94x1 b93x1 b92x1 a101x1"; got != want {
		bid, _, _ := book.BestBid()
		t.Errorf("book handed to strategies has best bid %s, exchange's is 96:\n got %s\nwant %s", bid, got, want)
	}
}

// TestBookInsertAboveRemovalSim is the same defect against the project's own
// simulator, with nothing hand-written on the wire: our bid X rests inside the top 10; while
// the public feed is frozen we insert a bid Y one tick better than X and cancel X; lifting the
// freeze publishes the one catch-up diff [Y new, X removed]. The adapter's book then holds 9
// bids where the simulator's top 10 has 10: its 10th level was dropped for good.
func TestBookInsertAboveRemovalSim(t *testing.T) {
	sim, c := simClient(t, hashkeysim.Config{Seed: 1}, nil)
	ctx := context.Background()
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 100, Order: 100}))
	st := c.NewStream(StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Depth: 10})
	sctx, cancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- st.Run(sctx) }()
	t.Cleanup(func() {
		cancel()
		for range st.Events() {
		}
		<-runDone
	})
	nextBook := func(what string, match func(*exchange.BookSnapshot) bool) *exchange.BookSnapshot {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-st.Events():
				if bu, ok := ev.(exchange.BookUpdate); ok && match(bu.Book) {
					return bu.Book
				}
			case <-deadline:
				t.Fatalf("no book %s", what)
			}
		}
	}
	hasBid := func(p decimal.Decimal) func(*exchange.BookSnapshot) bool {
		return func(b *exchange.BookSnapshot) bool {
			for _, l := range b.Bids {
				if b.Price(l.Price).Equal(p) {
					return true
				}
			}
			return false
		}
	}
	first := nextBook("snapshot", func(b *exchange.BookSnapshot) bool { return len(b.Bids) == 10 })
	best, _, _ := first.BestBid()
	tick := dec("0.000001")
	x, y := best.Sub(tick.Mul(dec("2"))), best.Sub(tick) // between the synthetic grid levels (3 ticks apart)
	order := func(id string, p decimal.Decimal) exchange.OrderRequest {
		return exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: p, Volume: dec("0.001"), LocalID: id}
	}
	must(t, c.insert(ctx, order("X1", x)))
	nextBook("with X", hasBid(x))

	sim.Faults().FreezePublic(true)
	must(t, c.insert(ctx, order("Y1", y)))
	must(t, c.CancelByLocalID(ctx, "X1")) // answered once done, after the insert before it
	sim.Faults().FreezePublic(false)      // one catch-up diff: Y new, X removed
	got := nextBook("with Y", hasBid(y))

	want, err := c.Level2(ctx, "ETH-BTC") // the simulator's published view
	must(t, err)
	wantBids := want.Bids[:min(10, len(want.Bids))]
	if !slices.Equal(got.Bids, wantBids) {
		t.Fatalf("adapter's book has %d bids, the simulator's top 10 has %d:\n got %v\nwant %v", len(got.Bids), len(wantBids), got.Bids, wantBids)
	}
}

// TestBookFollowsRandomDiffs drives ApplyLevel2 with random top-N books and the diffs
// between them, generated the way the reference describes updates (changed levels only,
// best first, volume 0 removes, a level falling out of the top N sent as a removal) and the
// way the simulator's hub.publishBook builds them. After every update the local book must
// equal the exchange's top N.
func TestBookFollowsRandomDiffs(t *testing.T) {
	const depth = 10
	rng := rand.New(rand.NewPCG(1, 2))
	inst := btcUSDT
	dec := NewLevel2Decoder([]exchange.Instrument{inst})
	randomSide := func(desc bool) []exchange.Level {
		// Up to 30 price levels from a grid of 40 ticks; the exchange shows the best `depth`.
		var ls []exchange.Level
		for p := int64(1); p <= 40; p++ {
			if rng.IntN(3) == 0 {
				ls = append(ls, exchange.Level{Price: 10000 + p, Volume: 1 + rng.Int64N(5)})
			}
		}
		if desc {
			slices.Reverse(ls)
		}
		return ls[:min(depth, len(ls))]
	}
	levelsJSON := func(ls []exchange.Level) string {
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = fmt.Sprintf(`[%q,%q]`, exchange.FixedToDecimal(l.Price, inst.PricePrecision).String(),
				exchange.FixedToDecimal(l.Volume, inst.VolumePrecision).String())
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	diff := func(prev, cur []exchange.Level, desc bool) []exchange.Level {
		better := func(a, b int64) bool { return (desc && a > b) || (!desc && a < b) }
		var out []exchange.Level
		i, j := 0, 0
		for i < len(prev) || j < len(cur) {
			switch {
			case j == len(cur) || (i < len(prev) && better(prev[i].Price, cur[j].Price)):
				out = append(out, exchange.Level{Price: prev[i].Price})
				i++
			case i == len(prev) || better(cur[j].Price, prev[i].Price):
				out = append(out, cur[j])
				j++
			default:
				if prev[i].Volume != cur[j].Volume {
					out = append(out, cur[j])
				}
				i++
				j++
			}
		}
		return out
	}
	apply := func(b *exchange.Book, typ string, bids, asks []exchange.Level) error {
		frame := fmt.Sprintf(`{"type":%q,"instrumentID":"BTC-USDT","buy":%s,"sell":%s,"pubTimestamp":"1542104001000"}`,
			typ, levelsJSON(bids), levelsJSON(asks))
		m, err := dec.Decode([]byte(frame))
		if err != nil {
			return err
		}
		return ApplyLevel2(b, m)
	}
	b := exchange.NewBook(inst, 50)
	// Bids and asks use disjoint books here (asks far above) so that the book never crosses.
	shiftAsks := func(ls []exchange.Level) []exchange.Level {
		out := slices.Clone(ls)
		for i := range out {
			out[i].Price += 1000
		}
		return out
	}
	bids, asks := randomSide(true), shiftAsks(randomSide(false))
	if err := apply(b, "level2@10_snapshot", bids, asks); err != nil {
		t.Fatal(err)
	}
	for step := range 200 {
		nb, na := randomSide(true), shiftAsks(randomSide(false))
		if err := apply(b, "level2@10_update", diff(bids, nb, true), diff(asks, na, false)); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		bids, asks = nb, na
		s := b.Snapshot()
		if !slices.Equal(s.Bids, bids) || !slices.Equal(s.Asks, asks) {
			t.Fatalf("step %d: local book diverged from the exchange's top %d:\n bids %v\n want %v\n asks %v\n want %v",
				step, depth, s.Bids, bids, s.Asks, asks)
		}
	}
}

// ---- 2. OpenOrders and Fills silently return a partial list ----

// pagedServer answers getOrder/getTrade like the simulator: newest first, at most 100,
// [startTimestamp, endTimestamp] inclusive in seconds. times are the items' seconds, newest
// first; item i has ID strconv.Itoa(i).
func pagedHandler(times []int64, item func(i int, sec int64) string, startKey bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var q map[string]string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &q); err != nil {
			answer(400, `{"respCode":"2009","respMsg":"bad query"}`)(w, r)
			return
		}
		start, end := int64(0), int64(1<<62)
		if e, ok := q["endTimestamp"]; ok {
			end, _ = strconv.ParseInt(e, 10, 64)
		}
		if s, ok := q["startTimestamp"]; ok && startKey {
			start, _ = strconv.ParseInt(s, 10, 64)
		}
		var out []string
		for i, sec := range times {
			if len(out) == pageSize {
				break
			}
			if sec <= end && sec >= start {
				out = append(out, item(i, sec))
			}
		}
		answer(200, "["+strings.Join(out, ",")+"]")(w, r)
	}
}

// TestOpenOrdersSecondOverflow: 150 open orders were inserted in one second (a
// ladder of quotes over several instruments at start-up, well within the 240/s local order
// limit) and 30 in the second before. getOrder can only page by whole seconds, so OpenOrders
// cannot reach orders 101-150 of that second. It logs open_orders_page_overflow and returns
// the 130 it saw with a nil error, as if that were all. The engine's shutdown verification
// (engine.verify → OpenOrders("")) then finds none of the 50 and exits 0 with them resting
// on the exchange; start-up and gap reconciliation likewise miss them. A list that is known
// to be incomplete must be an error, never a short answer.
func TestOpenOrdersSecondOverflow(t *testing.T) {
	const sec = int64(1700000000)
	var times []int64
	for range 150 {
		times = append(times, sec)
	}
	for range 30 {
		times = append(times, sec-1)
	}
	s := newRESTServer(t)
	s.handle("POST /v1/order/getOrder", pagedHandler(times, func(i int, ts int64) string {
		o := strings.Replace(orderJSON, `"orderSysID":"900"`, fmt.Sprintf(`"orderSysID":"%d"`, i), 1)
		o = strings.Replace(o, `"orderLocalID":"15421040010560001"`, fmt.Sprintf(`"orderLocalID":"L%d"`, i), 1)
		return strings.Replace(o, `"insertTimestamp":"1542104001"`, fmt.Sprintf(`"insertTimestamp":"%d"`, ts), 1)
	}, true))
	c := newTestClient(t, s, nil)
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}))
	orders, err := c.OpenOrders(context.Background(), "")
	if err == nil && len(orders) != len(times) {
		t.Fatalf("OpenOrders returned %d of %d open orders and no error: %d resting orders are invisible to reconciliation and shutdown",
			len(orders), len(times), len(times)-len(orders))
	}
}

// TestOpenOrdersSecondOverflowSim is the same defect against the project's own
// simulator: 150 orders resting, all inserted within one second (the simulator's clock is
// held still). The simulator lists 150 open orders; OpenOrders returns 100 and nil.
func TestOpenOrdersSecondOverflowSim(t *testing.T) {
	start := time.Now()
	sim, c := simClient(t, hashkeysim.Config{Seed: 1, NoRateLimit: true, Clock: func() time.Time { return start }}, nil)
	ctx := context.Background()
	for i := range 150 {
		must(t, c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy,
			Price: dec("0.01"), Volume: dec("0.001"), LocalID: fmt.Sprintf("R%d", i)}))
	}
	sim.Step() // runs after every insert received before it
	if n := len(sim.OpenOrders(sim.Accounts()[0].APIKey)); n != 150 {
		t.Fatalf("simulator holds %d open orders, want 150", n)
	}
	orders, err := c.OpenOrders(ctx, "ETH-BTC")
	if err == nil && len(orders) != 150 {
		t.Fatalf("OpenOrders returned %d of the simulator's 150 open orders and no error", len(orders))
	}
}

// TestFillsSecondOverflow: the same for fills. One taker sweeps 150 of our resting
// orders within one second (150 fills with the same tradeTimestamp second); 30 fills came
// the second before. Fills returns 130 fills and a nil error: 50 fills are never applied to
// inventory, so the position the strategies and the risk gate see is wrong by their volume.
func TestFillsSecondOverflow(t *testing.T) {
	const sec = int64(1700000000)
	var times []int64
	for range 150 {
		times = append(times, sec)
	}
	for range 30 {
		times = append(times, sec-1)
	}
	s := newRESTServer(t)
	s.handle("POST /v1/trade/getTrade", pagedHandler(times, func(i int, ts int64) string {
		f := strings.Replace(fillJSON, `"tradeID":"77"`, fmt.Sprintf(`"tradeID":"%d"`, i), 1)
		return strings.Replace(f, `"tradeTimestamp":"1542104001"`, fmt.Sprintf(`"tradeTimestamp":"%d"`, ts), 1)
	}, true))
	c := newTestClient(t, s, nil)
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}))
	fills, err := c.Fills(context.Background(), "ETH-BTC", time.Unix(sec-10, 0))
	if err == nil && len(fills) != len(times) {
		t.Fatalf("Fills returned %d of %d fills and no error: %d fills never reach inventory",
			len(fills), len(times), len(times)-len(fills))
	}
}

// ---- 3. A 1001 resync ignores the caller's context ----

// TestResyncHonoursContext: RunClockSync (or any SyncClock) is taking its samples and
// the exchange's /info/time is slow (each sample may take up to Config.Timeout, 10 s by
// default, five samples in all). Meanwhile a cancel is refused with 1001. Client.resync
// takes offset.syncMu with a plain Mutex.Lock, which does not watch the caller's context, so
// the cancel — sent with a 200 ms deadline, e.g. by shutdown or a kill switch — stays blocked
// until the other sync finishes (here: until the test releases it; in production up to
// 5 × Timeout), long past its deadline.
func TestResyncHonoursContext(t *testing.T) {
	s := newRESTServer(t)
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close (cleanups are LIFO)
	s.handle("GET /v1/info/time", func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		answer(200, fmt.Sprintf(`{"timestamp":"%d"}`, time.Now().UnixMilli()))(w, r)
	})
	s.handle("POST /v1/order/cancelByLocalID", answer(200, `{"respCode":"1001","respMsg":"request expired"}`))
	c := newTestClient(t, s, nil)
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}))

	syncDone := make(chan error, 1)
	go func() { syncDone <- c.SyncClock(context.Background()) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("clock sync never reached the server")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cancelDone := make(chan error, 1)
	go func() { cancelDone <- c.CancelByLocalID(ctx, "L1") }()
	select {
	case err := <-cancelDone:
		if err == nil {
			t.Fatal("cancel refused with 1001 returned nil")
		}
	case <-time.After(3 * time.Second):
		t.Error("cancel with a 200 ms deadline is still blocked after 3 s, waiting for another goroutine's clock sync")
		unblock()
		<-cancelDone
	}
	unblock()
	<-syncDone
}

// ---- 4. A malformed frame whose "type" comes late vanishes without a trace ----

// TestMalformedFrameTypeLast: the decoders accept keys in any order (level2.go: "Keys
// may come in any order"), and a malformed level2 or private frame is handled fail-closed —
// the book is invalidated, a private gap is reported — but only when MessageType could read
// "type" before the syntax error. When the error comes first (here: a trailing comma in the
// buy list of an update whose "type" is its last key), handle() logs "no type" and returns:
// the update is lost, the book stays "valid" without it, and nothing tells the consumer.
func TestMalformedFrameTypeLast(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Depth: 10}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "level2@10", "ETH-BTC")
	p.send(t, snapETH)
	st.until(t, "book", isBook("ETH-BTC"))
	p.send(t, `{"instrumentID":"ETH-BTC","buy":[["0.031","0"],],"sell":[],"pubTimestamp":"1542104001556","type":"level2@10_update"}`)
	p.send(t, tradeMsg) // a marker: everything the bad frame caused comes before it
	_, skipped := st.until(t, "marker", isType[exchange.TradeEvent])
	if !slices.ContainsFunc(skipped, isInvalid("ETH-BTC")) {
		t.Errorf("an unreadable level2 update left the ETH-BTC book valid (events before the marker: %s)", describeEvents(skipped))
	}
}

// TestMalformedPrivateFrameTypeLast: the same for the private stream. An
// order_insert_rsp whose respMsg carries an unescaped quote and whose "type" is last is
// dropped without the private-stream gap that TestStreamUnreadablePrivateMessage requires
// for the same frame with "type" first: the insert's rejection is lost and nothing makes the
// engine reconcile.
func TestMalformedPrivateFrameTypeLast(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Trades: true, Private: true}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "user")
	st.until(t, "private up", isStatus(exchange.PrivateStream, true))
	p.send(t, `{"orderLocalID":"15421040010560002","respCode":"2011","respMsg":"balance "BTC" too low","type":"order_insert_rsp"}`)
	p.send(t, tradeMsg)
	_, skipped := st.until(t, "marker", isType[exchange.TradeEvent])
	if !slices.ContainsFunc(skipped, isStatus(exchange.PrivateStream, false)) {
		t.Errorf("an unreadable private message was dropped without a private-stream gap (events before the marker: %s)", describeEvents(skipped))
	}
}
