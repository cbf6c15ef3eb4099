package exchange

import "time"

// Event is something an exchange adapter observed, stamped with the local time it was
// received. The concrete types below are the whole set; consumers type-switch on them.
type Event interface {
	ReceivedAt() time.Time
}

// Stream names one of the adapter's streams for StreamStatus events.
type Stream uint8

const (
	PublicStream  Stream = 1 // market data: books and trades
	PrivateStream Stream = 2 // the account's orders and fills
)

func (s Stream) String() string {
	if s == PrivateStream {
		return "private"
	}
	return "public"
}

// BookUpdate says the book of one instrument changed. Book is immutable and safe to keep.
// Adapters conflate these: a consumer may see only the newest of several.
type BookUpdate struct {
	Book     *BookSnapshot
	Received time.Time
}

// BookInvalid says an instrument's book cannot be trusted (dropped stream, crossed or
// impossible state) until a later BookUpdate arrives from a fresh snapshot.
type BookInvalid struct {
	Instrument string
	Reason     string
	Received   time.Time
}

// TradeEvent is a public trade.
type TradeEvent struct {
	Trade    Trade
	Received time.Time
}

// OrderUpdate is an order_return: the order's state as the exchange now sees it. The first
// one for a local ID is the exchange's acceptance.
type OrderUpdate struct {
	Order    Order
	Received time.Time
}

// FillEvent is a trade_return: one fill of one of our orders.
type FillEvent struct {
	Fill     Fill
	Received time.Time
}

// InsertRejected is an order_insert_rsp: the exchange refused an insert.
type InsertRejected struct {
	LocalID  string
	Code     int
	Message  string
	Received time.Time
}

// CancelRejected is an order_cancel_rsp: the exchange refused a cancel.
type CancelRejected struct {
	SysID    string
	LocalID  string
	Code     int
	Message  string
	Received time.Time
}

// StreamStatus reports a stream going up (subscribed, logged in) or down.
type StreamStatus struct {
	Stream   Stream
	Up       bool
	Reason   string // why it went down; empty when up
	Received time.Time
}

func (e BookUpdate) ReceivedAt() time.Time     { return e.Received }
func (e BookInvalid) ReceivedAt() time.Time    { return e.Received }
func (e TradeEvent) ReceivedAt() time.Time     { return e.Received }
func (e OrderUpdate) ReceivedAt() time.Time    { return e.Received }
func (e FillEvent) ReceivedAt() time.Time      { return e.Received }
func (e InsertRejected) ReceivedAt() time.Time { return e.Received }
func (e CancelRejected) ReceivedAt() time.Time { return e.Received }
func (e StreamStatus) ReceivedAt() time.Time   { return e.Received }
