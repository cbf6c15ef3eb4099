// Package exchange holds the exchange-neutral types the engine, the risk gate and the
// strategies work with: instruments, orders, fills, trades, order books and the events an
// exchange adapter emits. Money is shopspring/decimal everywhere except inside the order
// book, which keeps exact fixed-point integers (ticks and lots) so updates apply without
// allocating; it converts to decimal at its edge.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Side is the direction of an order, a fill or a book side.
type Side uint8

const (
	Buy  Side = 1
	Sell Side = 2
)

func (s Side) String() string {
	switch s {
	case Buy:
		return "buy"
	case Sell:
		return "sell"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// Opposite returns the other side.
func (s Side) Opposite() Side {
	if s == Buy {
		return Sell
	}
	return Buy
}

// ParseSide reads the wire spelling "buy" or "sell".
func ParseSide(s string) (Side, error) {
	switch s {
	case "buy":
		return Buy, nil
	case "sell":
		return Sell, nil
	}
	return 0, fmt.Errorf("unknown side %q", s)
}

// Instrument is a tradable pair, e.g. ETH-BTC: Base ETH priced in Quote BTC.
type Instrument struct {
	ID              string
	Base            string // the exchange's "tradingTarget"
	Quote           string // the exchange's "tradingAsset"
	PricePrecision  int32  // decimal places allowed in a price
	VolumePrecision int32  // decimal places allowed in a volume
}

// TickSize is the smallest price step.
func (i Instrument) TickSize() decimal.Decimal { return decimal.New(1, -i.PricePrecision) }

// LotSize is the smallest volume step.
func (i Instrument) LotSize() decimal.Decimal { return decimal.New(1, -i.VolumePrecision) }

// RoundPrice rounds a price to the instrument's precision so that the order never becomes
// more aggressive: bids round down, asks round up.
func (i Instrument) RoundPrice(side Side, p decimal.Decimal) decimal.Decimal {
	if p.Exponent() == -i.PricePrecision {
		return p // already rounded: the usual case on the order path, and rounding would copy it
	}
	if side == Buy {
		return p.RoundFloor(i.PricePrecision)
	}
	return p.RoundCeil(i.PricePrecision)
}

// RoundVolume rounds a volume down to the instrument's precision.
func (i Instrument) RoundVolume(v decimal.Decimal) decimal.Decimal {
	if v.Exponent() == -i.VolumePrecision {
		return v // already rounded
	}
	return v.RoundFloor(i.VolumePrecision)
}

// OrderStatus is the exchange's order status code, 0 to 6.
type OrderStatus uint8

const (
	StatusFilled              OrderStatus = 0 // fully filled
	StatusPartFilled          OrderStatus = 1 // partly filled, in the book
	StatusPartFilledNotInBook OrderStatus = 2 // partly filled, no longer in the book
	StatusNew                 OrderStatus = 3 // not filled, in the book
	StatusNewNotInBook        OrderStatus = 4 // not filled, no longer in the book
	StatusCancelled           OrderStatus = 5 // cancelled
	StatusPartCancelled       OrderStatus = 6 // partly filled, rest cancelled
)

// Open reports whether an order in this status rests in the book.
func (s OrderStatus) Open() bool { return s == StatusPartFilled || s == StatusNew }

// Valid reports whether s is one of the seven codes the exchange defines.
func (s OrderStatus) Valid() bool { return s <= StatusPartCancelled }

func (s OrderStatus) String() string {
	switch s {
	case StatusFilled:
		return "filled"
	case StatusPartFilled:
		return "partly_filled"
	case StatusPartFilledNotInBook:
		return "partly_filled_not_in_book"
	case StatusNew:
		return "new"
	case StatusNewNotInBook:
		return "not_filled_not_in_book"
	case StatusCancelled:
		return "cancelled"
	case StatusPartCancelled:
		return "partly_filled_cancelled"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// OrderRequest is a new limit GTC order as a strategy-side component wants it sent.
type OrderRequest struct {
	Instrument string
	Side       Side
	Price      decimal.Decimal
	Volume     decimal.Decimal
	LocalID    string // client-chosen, at most 20 characters, never repeated
}

// Order is the exchange's view of one order.
type Order struct {
	SysID      string
	LocalID    string
	Instrument string
	Side       Side
	Price      decimal.Decimal
	Volume     decimal.Decimal // original volume
	Remaining  decimal.Decimal // volumeTotal
	Traded     decimal.Decimal // volumeTraded
	Status     OrderStatus
	Updated    time.Time // actionTimestamp
	Inserted   time.Time // insertTimestamp
}

// Fill is one execution of one of our orders.
type Fill struct {
	TradeID     string
	SysID       string
	LocalID     string
	Instrument  string
	Side        Side
	Price       decimal.Decimal
	Volume      decimal.Decimal
	Fee         decimal.Decimal
	PriceSource Side // side of the resting order: equal to Side when we were the maker
	Time        time.Time
}

// Maker reports whether our order was the resting one.
func (f Fill) Maker() bool { return f.PriceSource == f.Side }

// Trade is one public trade from the ticker channel.
type Trade struct {
	Instrument  string
	Price       decimal.Decimal
	Volume      decimal.Decimal
	PriceSource Side // side of the resting order
	Time        time.Time
}

// Balance is one asset of the account.
type Balance struct {
	Asset     string
	Balance   decimal.Decimal
	Available decimal.Decimal
}

// RateLimits are the per-second call budgets the exchange publishes for a key.
type RateLimits struct {
	Query int // query calls per second
	Order int // insert and cancel calls per second (a batch cancel counts its size)
}

// ErrUnknownOutcome marks an insert or cancel whose answer was lost: the exchange may or may
// not have acted on it. Callers reconcile (query by local ID) instead of resending.
var ErrUnknownOutcome = errors.New("outcome unknown")

// ErrOrderDone marks a cancel refused because the order is already filled, cancelled or
// unknown to the exchange: usually a race with a fill, not a fault. The order's fate is
// looked up as after any failed cancel; this only says the refusal is expected.
var ErrOrderDone = errors.New("order already done")

// Account is what the engine may ask an exchange about the account. It cannot send orders:
// only the risk gate holds the order client.
type Account interface {
	Balances(ctx context.Context) ([]Balance, error)
	// OpenOrders lists the orders resting in the book for one instrument ("" for all).
	OpenOrders(ctx context.Context, instrumentID string) ([]Order, error)
	// OrderByLocalID returns the order while it is open, nil once it is done or if unknown.
	OrderByLocalID(ctx context.Context, localID string) (*Order, error)
	// Fills lists the account's fills on one instrument ("" for all) since a time, oldest
	// first: how fills missed while the private stream was down are recovered.
	Fills(ctx context.Context, instrumentID string, since time.Time) ([]Fill, error)
}
