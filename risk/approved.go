package risk

import (
	"context"

	"github.com/mmd-dev/mmd/exchange"
)

// Approved is an order the gate has checked and allowed. Only this package can make a
// non-zero Approved, and the order client refuses a zero one, so the type system (not a
// comment) guarantees that every order the program sends went through the gate.
type Approved struct {
	req exchange.OrderRequest
	ok  bool
}

// Order returns the approved order; ok is false for a zero Approved that the gate never made.
func (a Approved) Order() (req exchange.OrderRequest, ok bool) { return a.req, a.ok }

// Sender is the signed order client. The gate is its only holder.
//
// Insert returns nil once the exchange has received the order (not yet accepted). When the
// outcome is unknown (the answer was lost) it returns an error that satisfies
// errors.Is(err, exchange.ErrUnknownOutcome): the caller must reconcile by local ID, never
// resend blindly.
type Sender interface {
	Insert(ctx context.Context, a Approved) error
	CancelByLocalID(ctx context.Context, localID string) error
	CancelBySysID(ctx context.Context, sysID string) error
}
