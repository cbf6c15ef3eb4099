package engine

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

// phase is where an order is in its life as the order manager knows it.
//
//	pending ──order_return open──▶ open ──order_return final / fills to full──▶ done
//	   │  ╲──order_return final──────────────────────────────────────────────▶ done
//	   │   ╲─order_insert_rsp──────────────────────────────────────────────────▶ done
//	   └─ outcome unknown, exchange says not open / insert error ─▶ lost ─late order_return─▶ open|done
//
// done is final: no message reopens it. lost is not: the exchange may still have the order
// (an answer lost both ways), so a late order_return adopts it again while it is watched.
type phase uint8

const (
	phasePending phase = iota // insert sent (or being sent); no word from the exchange yet
	phaseOpen                 // accepted and resting (partly filled or not)
	phaseDone                 // filled, cancelled, out of the book, or rejected
	phaseLost                 // not known to the exchange as far as we can tell
)

func (p phase) String() string {
	switch p {
	case phasePending:
		return "pending_insert"
	case phaseOpen:
		return "open"
	case phaseDone:
		return "done"
	case phaseLost:
		return "lost"
	}
	return "phase?"
}

// order is one of our orders. Owned by its strategy's goroutine.
type order struct {
	localID string
	sysID   string
	side    exchange.Side
	price   decimal.Decimal
	volume  decimal.Decimal // original

	phase  phase
	status exchange.OrderStatus // newest status applied (synthesised when we conclude it ourselves)
	// orphan: adopted again after it was given up as lost. The gate was told it is finished
	// and no longer counts it, so it is never kept for a quote: the next diff cancels it.
	orphan bool

	reported       bool            // an order_return (or query answer) has been applied
	reportedTraded decimal.Decimal // volumeTraded of the newest applied report
	updated        time.Time       // actionTimestamp of the newest applied report
	traded         decimal.Decimal // max(reported volumeTraded, sum of fills seen)
	fillSum        decimal.Decimal
	trades         map[string]struct{} // trade IDs applied

	sentAt   time.Time       // when the insert was handed to the gate
	cancelAt time.Time       // when the cancel in flight was sent; zero if none
	checkAt  time.Time       // when to ask the exchange about this order; zero if not due
	endedAt  time.Time       // when it became done or lost
	frozen   decimal.Decimal // what it holds in the inventory (quote for buys, base for sells)
}

func (o *order) live() bool { return o.phase == phasePending || o.phase == phaseOpen }

func (o *order) cancelling() bool { return !o.cancelAt.IsZero() }

// keepable reports whether the diff may keep o for a wanted quote.
func (o *order) keepable() bool { return !o.cancelling() && !o.orphan }

func (o *order) remaining() decimal.Decimal {
	return decimal.Max(decimal.Zero, o.volume.Sub(o.traded))
}

// wantFrozen is what the order should hold: its remaining cost while live.
func (o *order) wantFrozen() decimal.Decimal {
	if !o.live() {
		return decimal.Zero
	}
	if o.side == exchange.Buy {
		return o.price.Mul(o.remaining())
	}
	return o.remaining()
}

// applyReport merges an order_return or a query answer. It reports whether the report was
// newer than what was known (and so applied). The rules that make duplicated, late and
// out-of-order reports harmless:
//   - a done order never changes again;
//   - volumeTraded never goes down: a report with less traded than the newest is older;
//   - at equal traded, a final status beats an open one, and among open ones an older
//     actionTimestamp loses.
func (o *order) applyReport(u exchange.Order) bool {
	if o.sysID == "" && u.SysID != "" {
		o.sysID = u.SysID
	}
	if o.phase == phaseDone || !u.Status.Valid() {
		return false
	}
	if o.reported {
		switch c := u.Traded.Cmp(o.reportedTraded); {
		case c < 0:
			return false
		case c == 0 && u.Status.Open():
			if !o.status.Open() || u.Updated.Before(o.updated) {
				return false
			}
			if u.Status == o.status && u.Updated.Equal(o.updated) {
				return false // a duplicate
			}
		}
	}
	o.reported = true
	o.reportedTraded = u.Traded
	o.traded = decimal.Max(o.traded, u.Traded)
	o.status = u.Status
	if u.Updated.After(o.updated) {
		o.updated = u.Updated
	}
	if u.Status.Open() && o.traded.LessThan(o.volume) {
		o.phase = phaseOpen
		if o.traded.IsPositive() { // fills seen before this (older) report
			o.status = exchange.StatusPartFilled
		}
	} else {
		o.phase = phaseDone
		if u.Status.Open() { // fills already cover the whole volume
			o.status = exchange.StatusFilled
		}
	}
	return true
}

// applyFill records one fill; false for a trade already seen. A fill proves the exchange has
// the order, so a pending or lost order becomes open, and done once its volume is filled.
// Fills of a done order still count (the final order_return may come first).
func (o *order) applyFill(f exchange.Fill, key string) bool {
	if _, seen := o.trades[key]; seen {
		return false
	}
	if o.trades == nil {
		o.trades = make(map[string]struct{}, 2)
	}
	o.trades[key] = struct{}{}
	if o.sysID == "" && f.SysID != "" {
		o.sysID = f.SysID
	}
	o.fillSum = o.fillSum.Add(f.Volume)
	o.traded = decimal.Max(o.traded, o.fillSum)
	if o.phase == phaseDone {
		return true
	}
	if o.traded.GreaterThanOrEqual(o.volume) {
		o.phase = phaseDone
		o.status = exchange.StatusFilled
		return true
	}
	o.phase = phaseOpen
	if o.traded.IsPositive() {
		o.status = exchange.StatusPartFilled
	}
	return true
}

// conclude ends an order on our own evidence (the exchange no longer lists it): a pending or
// lost order becomes lost, an open one done with the status that fits what it traded.
func (o *order) conclude() {
	switch o.phase {
	case phasePending, phaseLost:
		o.phase = phaseLost
		o.status = exchange.StatusNewNotInBook
	case phaseOpen:
		o.phase = phaseDone
		switch {
		case o.traded.GreaterThanOrEqual(o.volume):
			o.status = exchange.StatusFilled
		case o.traded.IsPositive():
			o.status = exchange.StatusPartCancelled
		default:
			o.status = exchange.StatusCancelled
		}
	}
}

// view is the order as exchange.Order, for strategies and the gate.
func (o *order) view(instrumentID string) exchange.Order {
	status := o.status
	if o.phase == phasePending && !o.reported {
		status = exchange.StatusNew
	}
	return exchange.Order{
		SysID:      o.sysID,
		LocalID:    o.localID,
		Instrument: instrumentID,
		Side:       o.side,
		Price:      o.price,
		Volume:     o.volume,
		Remaining:  o.remaining(),
		Traded:     o.traded,
		Status:     status,
		Updated:    o.updated,
		Inserted:   o.sentAt,
	}
}
