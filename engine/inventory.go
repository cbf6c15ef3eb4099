package engine

import (
	"sync"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

// avgCostPlaces is the precision of an average cost: far below any tick, fixed so results do
// not depend on the decimal package's global DivisionPrecision.
const avgCostPlaces = 18

// inventory is the account's holdings as the engine sees them between two balance refreshes.
// Totals move with fills; what our own orders hold is tracked per order (frozen), and what
// the exchange holds back for anything else (a human's orders) is the external part measured
// at the last refresh:
//
//	available = total − frozen (ours) − external
//
// Fills and order states reach it in whatever order the stream delivers them; the transient
// error of a fill seen before its order_return is always on the low side (available drops by
// the fill's cost before the frozen amount is released), never the high side. A refresh from
// Balances corrects any drift. Safe for concurrent use: strategies sharing an asset share it.
type inventory struct {
	mu     sync.Mutex
	assets map[string]*holding
	pnl    map[string]*Realised // by instrument ID
	fills  uint64               // fills applied so far (see setBalancesUnless)
}

type holding struct {
	total    decimal.Decimal
	frozen   decimal.Decimal // held by this engine's live orders (pending ones included)
	external decimal.Decimal // held by the exchange for orders not ours, at the last refresh
}

// Realised is an instrument's average-cost position and realised profit, in its quote asset,
// from the fills this engine has seen since start.
type Realised struct {
	Position decimal.Decimal // base asset, + long / − short (gross of fees)
	AvgCost  decimal.Decimal // average entry price of Position; zero when flat
	PnL      decimal.Decimal // realised on closing volume, before fees
	Fees     decimal.Decimal // fees paid, valued in the quote asset at the fill price
}

func newInventory() *inventory {
	return &inventory{assets: make(map[string]*holding), pnl: make(map[string]*Realised)}
}

func (inv *inventory) asset(name string) *holding {
	h := inv.assets[name]
	if h == nil {
		h = &holding{}
		inv.assets[name] = h
	}
	return h
}

// fillCount is how many fills have been applied so far.
func (inv *inventory) fillCount() uint64 {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.fills
}

// setBalancesUnless applies a balance snapshot requested when fillCount was fills, unless a
// fill has been applied since: the snapshot may have been taken before that fill, and
// applying it would wipe the fill out. It reports whether it applied the snapshot.
func (inv *inventory) setBalancesUnless(bals []exchange.Balance, fills uint64) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.fills != fills {
		return false
	}
	inv.setBalancesLocked(bals)
	return true
}

// setBalances replaces totals with the exchange's figures. The exchange's frozen part
// (balance − available) beyond what our own live orders hold is attributed to others'
// orders. An asset the answer leaves out is taken as zero.
func (inv *inventory) setBalances(bals []exchange.Balance) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.setBalancesLocked(bals)
}

func (inv *inventory) setBalancesLocked(bals []exchange.Balance) {
	listed := make(map[string]bool, len(bals))
	for _, b := range bals {
		listed[b.Asset] = true
		h := inv.asset(b.Asset)
		h.total = b.Balance
		h.external = decimal.Max(decimal.Zero, b.Balance.Sub(b.Available).Sub(h.frozen))
	}
	for name, h := range inv.assets {
		if !listed[name] {
			h.total, h.external = decimal.Zero, decimal.Zero
		}
	}
}

// holding returns an asset's total and available amounts (available never below zero).
func (inv *inventory) holding(name string) strategy.Holding {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	h := inv.assets[name]
	if h == nil {
		return strategy.Holding{Total: decimal.Zero, Available: decimal.Zero}
	}
	avail := h.total.Sub(h.frozen).Sub(h.external)
	return strategy.Holding{Total: h.total, Available: decimal.Max(decimal.Zero, avail)}
}

// addFrozen changes what our orders hold of an asset.
func (inv *inventory) addFrozen(name string, delta decimal.Decimal) {
	if delta.IsZero() {
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	h := inv.asset(name)
	h.frozen = h.frozen.Add(delta)
}

// applyFill moves totals by one fill (the fee is taken from the asset received) and updates
// the instrument's average-cost position and realised PnL.
func (inv *inventory) applyFill(inst exchange.Instrument, f exchange.Fill) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.fills++
	base, quote := inv.asset(inst.Base), inv.asset(inst.Quote)
	cost := f.Price.Mul(f.Volume)
	r := inv.pnl[inst.ID]
	if r == nil {
		r = &Realised{}
		inv.pnl[inst.ID] = r
	}
	if f.Side == exchange.Buy {
		base.total = base.total.Add(f.Volume).Sub(f.Fee)
		quote.total = quote.total.Sub(cost)
		r.Fees = r.Fees.Add(f.Fee.Mul(f.Price))
	} else {
		base.total = base.total.Sub(f.Volume)
		quote.total = quote.total.Add(cost).Sub(f.Fee)
		r.Fees = r.Fees.Add(f.Fee)
	}
	r.apply(f.Side, f.Price, f.Volume)
}

// apply adds one fill to an average-cost position: volume that closes part of the position
// realises (price − average) on it; volume beyond flat opens a new position at the price.
func (r *Realised) apply(side exchange.Side, price, vol decimal.Decimal) {
	signed := vol
	if side == exchange.Sell {
		signed = vol.Neg()
	}
	pos := r.Position
	switch {
	case pos.IsZero() || pos.Sign() == signed.Sign(): // opening or adding
		absPos := pos.Abs()
		r.AvgCost = r.AvgCost.Mul(absPos).Add(price.Mul(vol)).DivRound(absPos.Add(vol), avgCostPlaces)
		r.Position = pos.Add(signed)
	default: // reducing, perhaps through flat
		closing := decimal.Min(vol, pos.Abs())
		gain := price.Sub(r.AvgCost).Mul(closing) // long closed by a sell
		if pos.IsNegative() {
			gain = gain.Neg() // short closed by a buy
		}
		r.PnL = r.PnL.Add(gain)
		r.Position = pos.Add(signed)
		switch {
		case r.Position.IsZero():
			r.AvgCost = decimal.Zero
		case r.Position.Sign() == signed.Sign(): // went through flat
			r.AvgCost = price
		}
	}
}

// realised returns a copy of an instrument's figures.
func (inv *inventory) realised(instrumentID string) Realised {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if r := inv.pnl[instrumentID]; r != nil {
		return *r
	}
	return Realised{}
}
