package risk

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// State is a trading state, modelled on Nautilus Trader's RiskEngine. The order of the
// constants matters: a larger value is a worse state, so the effective state of a strategy is
// the maximum of the global, instrument and strategy states.
type State uint8

const (
	// Active: every check applies, nothing more.
	Active State = iota
	// ReducingOnly: only orders that bring |position| toward zero, and no further than zero.
	ReducingOnly
	// Halted: no inserts at all (cancels still go through).
	Halted
)

func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case ReducingOnly:
		return "reducing_only"
	case Halted:
		return "halted"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Status is what the engine asks before quoting. It is evaluated against the gate's clock at
// the moment of the call, so time-driven transitions (a book going stale, a healthy period
// ending, a fill-burst cooldown expiring) show without any new input.
type Status struct {
	State  State  // effective state: the worst of global, instrument and strategy states
	Reason string // why not active (e.g. "book_stale age=3.2s limit=2s"); empty when active
	// Sides allowed now: false during a fill-burst cooldown on that side, for the side that
	// would grow |position| when reducing-only, and for both sides when halted.
	BuyOK, SellOK bool
	// OrderRoom is how many more inserts the gate allows the strategy now: the least of
	// maxOpenOrders less the orders it counts as open (pending cancels included), the order
	// rate left in the last second, and the day's budget left. An order manager that inserts
	// no more than this never meets a max_open_orders, order_rate or daily_order_budget
	// refusal; those stay for what bypasses it.
	OrderRoom int
	Position  decimal.Decimal // base-asset position from fills since start (gross of fees)
	PnL       PnL
}

// PnL is a strategy's profit and loss since start in the instrument's quote asset, marked with
// the robust mark the loss limits use (see mark.go). Total = SpreadCapture + Inventory - Fees.
type PnL struct {
	// Fill price against the mid at fill time, signed by side: what the quotes earned.
	SpreadCapture decimal.Decimal
	// Mark-to-market of the position: each fill's volume × (mark now − mid at that fill).
	Inventory decimal.Decimal
	// Fees paid, valued in the quote asset (a fee charged in the base asset at the fill price).
	Fees  decimal.Decimal
	Total decimal.Decimal
}

// Refusal is the error Insert returns when a check refuses an order. Check is a stable name
// (see the check constants) that metrics and alerts may key on; Limit and Value are for the log.
type Refusal struct {
	Strategy   string
	Instrument string
	Check      string
	Limit      string
	Value      string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("risk refused order for %s on %s: %s: value %s, limit %s",
		r.Strategy, r.Instrument, r.Check, r.Value, r.Limit)
}

// Check names a Refusal carries. They are part of the log and metrics vocabulary: keep them stable.
const (
	CheckUnknownStrategy   = "unknown_strategy"
	CheckUnknownInstrument = "unknown_instrument"
	CheckSide              = "side"
	CheckLocalID           = "local_id"
	CheckState             = "state"
	CheckZeroVolume        = "zero_volume"
	CheckZeroPrice         = "zero_price"
	CheckExchangeBounds    = "exchange_bounds"
	CheckFillBurst         = "fill_burst"
	CheckRejectBackoff     = "reject_backoff"
	CheckPriceBand         = "price_band"
	CheckMaxOrderNotional  = "max_order_notional"
	CheckMaxPosition       = "max_position"
	CheckMaxOpenOrders     = "max_open_orders"
	CheckOrderRate         = "order_rate"
	CheckDailyOrderBudget  = "daily_order_budget"
)

// Counters are the gate's running totals, kept where a metrics registry can read them.
type Counters struct {
	Approved   uint64            // inserts that passed every check and were handed to the Sender
	Refused    map[string]uint64 // refusals by check name
	SendErrors uint64            // approved inserts the Sender failed (rejected or outcome unknown)
	Rejected   uint64            // insert rejections reported by the exchange (OnInsertRejected)
	Cancels    uint64            // cancels sent
}
