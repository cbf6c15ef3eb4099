package risk

import (
	"time"

	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
)

// The inputs the engine feeds. They are cheap, never block on anything but the gate's lock, and
// ignore what they cannot use (an unregistered instrument or strategy) with a log line.

// OnBook takes a new book: it sets the instrument's mid (for the price band and the robust
// mark), its age (from the book's local receive time) and whether it is crossed or one-sided.
// A book after OnBookInvalid clears the invalid mark: the adapter sends one only from a fresh
// snapshot.
func (g *Gate) OnBook(b *exchange.BookSnapshot) {
	if b == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.instruments[b.Instrument.ID]
	if in == nil {
		return
	}
	now := g.clock()
	g.touchInstrument(in, now)
	in.hasBook = true
	in.bookAt = b.Received
	if in.bookAt.IsZero() {
		in.bookAt = now
	}
	in.bookPrec = b.Instrument.PricePrecision
	in.invalid, in.invReason = false, ""
	in.twoSided = len(b.Bids) > 0 && len(b.Asks) > 0
	in.crossed = false
	if in.twoSided {
		in.bid, in.ask = b.Bids[0].Price, b.Asks[0].Price
		in.crossed = in.bid >= in.ask
		if !in.crossed {
			in.marks.add(now.UnixNano(), in.bid+in.ask, in.markKeep)
		}
	}
	g.touchInstrument(in, now)
}

// OnBookInvalid marks an instrument's book untrusted until the next OnBook.
func (g *Gate) OnBookInvalid(instrumentID, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.instruments[instrumentID]
	if in == nil {
		return
	}
	now := g.clock()
	g.touchInstrument(in, now)
	in.invalid, in.invReason = true, reason
	g.touchInstrument(in, now)
}

// touchInstrument evaluates the health of the instrument's strategies. Called with g.mu held.
func (g *Gate) touchInstrument(in *instrumentState, now time.Time) {
	for _, st := range in.strategies {
		g.touchHealth(st, now)
	}
}

// OnOrder takes the exchange's view of one of the strategy's orders, for the open-order
// exposure. An order open in the book counts with its remaining volume; a finished one stops
// counting, and later updates for it are ignored (late or duplicated messages). An update older
// than what the gate has seen (less traded) is ignored. An open order the gate never sent
// (adopted at reconciliation) is counted from then on. The first update for an order is the
// exchange's acceptance and resets the reject backoff. To settle an insert whose outcome was
// unknown and that the exchange does not know, send its local ID with a finished status
// (e.g. StatusNewNotInBook).
func (g *Gate) OnOrder(strategy string, o exchange.Order) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.strategies[strategy]
	if st == nil {
		g.log.Warn("risk_unknown_strategy", zap.String("strategy", strategy), zap.String("input", "order"),
			zap.String("local_id", o.LocalID))
		return
	}
	key := o.LocalID
	if key == "" {
		key = "sys:" + o.SysID
	}
	if st.done.has(key) || !o.Status.Valid() {
		return
	}
	cur := st.orders[key]
	if cur != nil && cur.pending {
		// The exchange's first word on an order we sent: it was accepted, so whatever made
		// the earlier inserts fail has stopped.
		st.rejects = 0
		st.backoffUntil = time.Time{}
	}
	if !o.Status.Open() {
		delete(st.orders, key)
		st.done.add(key)
		return
	}
	if cur == nil {
		cur = &openOrder{}
		st.orders[key] = cur
	} else if o.Traded.LessThan(cur.traded) {
		return // older than what the fills already told
	}
	cur.pending = false
	cur.side, cur.remaining, cur.traded = o.Side, o.Remaining, o.Traded
}

// OnFill books one of the strategy's fills into its position and PnL (a trade ID already seen
// is ignored), watches for fill bursts, and walks the loss ladder.
func (g *Gate) OnFill(strategy string, f exchange.Fill) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.strategies[strategy]
	if st == nil {
		g.log.Warn("risk_unknown_strategy", zap.String("strategy", strategy), zap.String("input", "fill"),
			zap.String("trade_id", f.TradeID))
		return
	}
	if f.Instrument != st.in.inst.ID || (f.Side != exchange.Buy && f.Side != exchange.Sell) {
		g.log.Warn("risk_fill_ignored", zap.String("strategy", strategy), zap.String("instrument", f.Instrument),
			zap.Stringer("side", f.Side), zap.String("trade_id", f.TradeID))
		return
	}
	if f.TradeID != "" {
		if st.trades.has(f.TradeID) {
			return
		}
		st.trades.add(f.TradeID)
	}
	now := g.clock()
	g.applyFill(st, f, now)
	g.touchLoss(st, now)
}

// OnInsertRejected takes the exchange's refusal of an insert: the order is not open, and the
// strategy backs off before its next insert.
func (g *Gate) OnInsertRejected(strategy, localID string, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.strategies[strategy]
	if st == nil {
		g.log.Warn("risk_unknown_strategy", zap.String("strategy", strategy), zap.String("input", "insert_rejected"),
			zap.String("local_id", localID))
		return
	}
	g.count.Rejected++
	delete(st.orders, localID)
	st.done.add(localID)
	g.registerReject(st, g.clock(), localID, code, nil)
}

// OnStream takes a stream going up or down. The private stream must be up for any instrument
// to trade (the gate starts assuming it is not); the public stream going down pauses every
// instrument until it is back up (and books arrive again).
func (g *Gate) OnStream(s exchange.StreamStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	g.touchHealthAll(now)
	reason := s.Reason
	if reason == "" {
		reason = "unknown"
	}
	switch s.Stream {
	case exchange.PrivateStream:
		g.privUp, g.privReason = s.Up, ""
		if !s.Up {
			g.privReason = reason
		}
	case exchange.PublicStream:
		g.pubDown, g.pubReason = !s.Up, ""
		if !s.Up {
			g.pubReason = reason
		}
	}
	g.touchHealthAll(now)
}

// OnClockOffset takes the newest estimate of the exchange's clock minus ours. An unknown offset
// or one above MaxClockOffset pauses every instrument.
func (g *Gate) OnClockOffset(offset time.Duration, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	g.touchHealthAll(now)
	g.clockOffset, g.clockKnown = offset, known
	g.touchHealthAll(now)
}
