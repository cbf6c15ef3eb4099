package risk

import (
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
)

// Loss limits. A strategy's PnL since start, in its instrument's quote asset, is
//
//	SpreadCapture = Σ signed volume × (mid at fill − fill price)   (signed: + buy, − sell)
//	Inventory     = Σ signed volume × (mark − mid at fill) = position × mark − Σ signed volume × mid at fill
//	Fees          = Σ fee valued in the quote asset (a fee charged in the base asset, as on a buy,
//	                is valued at the fill price)
//	Total         = SpreadCapture + Inventory − Fees
//
// with mark the robust mark (mark.go). Position counts fill volumes gross of fees. Two limits
// watch Total: the daily loss (the exchange day's starting Total minus Total now) and the
// drawdown (the highest Total since start or re-arm minus Total now). The ladder per limit: at
// ReduceAt × limit the strategy goes reducing-only (left again below resumeFraction of that, so
// it does not flap); at the limit it is halted, and stays halted until Rearm.

// exchangeDayOffset puts the exchange day's boundary at midnight UTC+8.
const exchangeDayOffset = 8 * 60 * 60

// exchangeDay numbers the exchange day (UTC+8) that t falls in.
func exchangeDay(t time.Time) int64 {
	s := t.Unix() + exchangeDayOffset
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// exchangeDayStart is the instant exchange day d begins (midnight UTC+8).
func exchangeDayStart(d int64) time.Time {
	return time.Unix(d*86400-exchangeDayOffset, 0)
}

// dayStepBack is how far before the current exchange day's start the wall clock must be for
// the day to follow it back: beyond any NTP step, so that a step back across midnight and
// forward again cannot roll the day twice.
const dayStepBack = time.Hour

// mark is the robust mark of the strategy's instrument at now; before any book it is the mid at
// the newest fill (the position is then marked flat to its fills).
func (st *strategyState) mark(now time.Time) decimal.Decimal {
	return st.markOf(st.in.marks.median(now.UnixNano(), st.lim.MarkWindow))
}

// markOf is the mark given the median of the mids (mid2, in half ticks) if there is one.
func (st *strategyState) markOf(mid2 int64, ok bool) decimal.Decimal {
	if ok {
		return halfTicks(mid2, st.in.bookPrec)
	}
	return st.lastMid
}

// lossKey is what the loss evaluation depends on besides the clock: when neither the mark nor
// the fills nor the baselines changed, the evaluation would come out the same and is skipped
// (it is decimal arithmetic on every Insert and Status otherwise).
type lossKey struct {
	mid2  int64 // robust mark in half ticks, or 0 before any book
	fills uint64
	day   int64
	epoch uint64 // bumped when the baselines are reset (Rearm)
}

// pnl is the strategy's PnL marked at mark.
func (st *strategyState) pnl(mark decimal.Decimal) PnL {
	inv := st.position.Mul(mark).Sub(st.costAtMid)
	return PnL{
		SpreadCapture: st.spread,
		Inventory:     inv,
		Fees:          st.fees,
		Total:         st.spread.Add(inv).Sub(st.fees),
	}
}

// touchLoss rolls the exchange day and walks the loss ladder at now. Called with g.mu held.
func (g *Gate) touchLoss(st *strategyState, now time.Time) {
	mid2, ok := st.in.marks.median(now.UnixNano(), st.lim.MarkWindow)
	key := lossKey{mid2: mid2, fills: st.fillCount, day: exchangeDay(now), epoch: st.epoch}
	if key == st.lossKey && st.lossKeyOK {
		return
	}
	st.lossKey, st.lossKeyOK = key, true
	total := st.pnl(st.markOf(mid2, ok)).Total
	// The day only moves forward: a wall clock stepped back across midnight UTC+8 must not roll
	// it back (and forward again), each time re-baselining the day's loss and order budget.
	// A clock more than dayStepBack before the day's start is another matter: the reading
	// that rolled the day was the mistake (a step forward, now undone), and holding the day
	// there would stop the daily reset until the wall clock caught up with it. The day then
	// follows the clock back without re-baselining: the counts so far are this day's.
	switch d := key.day; {
	case d > st.day:
		g.log.Info("risk_day_rolled", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
			zap.Int("orders", st.ordersToday), zap.String("day_pnl", total.Sub(st.dayStart).String()))
		st.day, st.ordersToday, st.dayStart = d, 0, total
	case d < st.day && now.Before(exchangeDayStart(st.day).Add(-dayStepBack)):
		g.log.Warn("risk_day_stepped_back", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
			zap.Int64("from_day", st.day), zap.Int64("to_day", d), zap.Time("now", now))
		st.day = d
	}
	if total.GreaterThan(st.peak) {
		st.peak = total
	}
	if st.lossState == Halted {
		return // latched until Rearm
	}
	daily := st.dayStart.Sub(total)
	dd := st.peak.Sub(total)
	to, reason := Active, ""
	switch {
	case daily.GreaterThanOrEqual(st.dailyHalt):
		to, reason = Halted, "daily_loss loss="+daily.String()+" limit="+st.dailyHalt.String()
	case dd.GreaterThanOrEqual(st.ddHalt):
		to, reason = Halted, "drawdown drawdown="+dd.String()+" limit="+st.ddHalt.String()
	case daily.GreaterThanOrEqual(st.dailyReduce):
		to, reason = ReducingOnly, "daily_loss loss="+daily.String()+" reduce_at="+st.dailyReduce.String()
	case dd.GreaterThanOrEqual(st.ddReduce):
		to, reason = ReducingOnly, "drawdown drawdown="+dd.String()+" reduce_at="+st.ddReduce.String()
	case st.lossState == ReducingOnly && (daily.GreaterThanOrEqual(st.dailyResume) || dd.GreaterThanOrEqual(st.ddResume)):
		return // hysteresis: stay reducing-only, keep the reason that put it there
	}
	if to == st.lossState {
		if to != Active {
			st.lossReason = reason
		}
		return
	}
	from := st.lossState
	st.lossState, st.lossReason = to, reason
	if to == Active {
		reason = "loss back below " + resumeFraction.String() + " of the reduce-only threshold"
	}
	g.log.Warn("risk_state_changed", zap.String("scope", "strategy"), zap.String("strategy", st.name),
		zap.String("instrument", st.in.inst.ID), zap.Stringer("from", from), zap.Stringer("to", to),
		zap.String("reason", reason), zap.String("pnl", total.String()))
	if to == Halted {
		g.log.Error("risk_halted", zap.String("scope", "strategy"), zap.String("strategy", st.name),
			zap.String("instrument", st.in.inst.ID), zap.String("reason", reason))
	}
}

// applyFill books one fill into position and PnL and watches for fill bursts. Called with
// g.mu held.
func (g *Gate) applyFill(st *strategyState, f exchange.Fill, now time.Time) {
	mid, ok := st.in.rawMid()
	if !ok {
		mid = f.Price // no usable book: no spread capture, marked at the fill price
	}
	signed := f.Volume
	fee := f.Fee
	if f.Side == exchange.Sell {
		signed = signed.Neg()
	} else {
		fee = fee.Mul(f.Price) // a buy's fee is charged in the base asset received
	}
	st.position = st.position.Add(signed)
	st.spread = st.spread.Add(mid.Sub(f.Price).Mul(signed))
	st.costAtMid = st.costAtMid.Add(mid.Mul(signed))
	st.fees = st.fees.Add(fee)
	st.lastMid = mid
	st.fillCount++

	// The fill shrinks its order; the order update that follows says the same or more.
	if o := st.orders[f.LocalID]; o != nil {
		o.filled = o.filled.Add(f.Volume)
		if delta := o.filled.Sub(o.traded); delta.IsPositive() { // beyond what reports said
			o.traded = o.filled
			o.remaining = o.remaining.Sub(delta)
		}
		if !o.remaining.IsPositive() {
			delete(st.orders, f.LocalID)
			st.done.add(f.LocalID)
		}
	}

	i := sideIndex(f.Side)
	r := &st.fills[i]
	r.push(now)
	if r.full(now.Add(-st.lim.FillBurstWindow)) {
		r.reset() // these fills have done their work; the next burst needs new ones
		st.pulledUntil[i] = now.Add(st.lim.FillBurstCooldown)
		g.log.Warn("risk_fill_burst", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
			zap.Stringer("side", f.Side), zap.Int("fills", st.lim.FillBurstCount),
			zap.Duration("window", st.lim.FillBurstWindow), zap.Duration("cooldown", st.lim.FillBurstCooldown))
	}
}

// registerReject counts one insert rejection and sets the backoff: RejectBackoff after the
// first, doubling with each consecutive one up to RejectBackoffMax. Called with g.mu held.
func (g *Gate) registerReject(st *strategyState, now time.Time, localID string, code int, cause error) {
	st.rejects++
	b := st.lim.RejectBackoff
	for i := 1; i < st.rejects && b < st.lim.RejectBackoffMax; i++ {
		b *= 2
	}
	b = min(b, st.lim.RejectBackoffMax)
	st.backoff, st.backoffUntil = b, now.Add(b)
	fields := []zap.Field{zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
		zap.String("local_id", localID), zap.Int("consecutive", st.rejects), zap.Duration("backoff", b)}
	if cause != nil {
		fields = append(fields, zap.Error(cause))
	} else {
		fields = append(fields, zap.Int("code", code))
	}
	g.log.Warn("risk_reject_backoff", fields...)
}
