package engine

import (
	"sync/atomic"
	"time"
)

// Stats are the engine's running totals since start, for a metrics registry to read.
type Stats struct {
	OrdersSent      uint64 // inserts the gate approved and the exchange received
	OrdersAccepted  uint64 // first order_return (or lookup answer) for one of our orders
	OrdersRefused   uint64 // inserts the gate refused (never sent)
	OrdersRejected  uint64 // inserts the exchange refused (REST error or order_insert_rsp)
	UnknownOutcomes uint64 // inserts whose answer was lost
	CancelsSent     uint64
	CancelsRejected uint64 // order_cancel_rsp
	Fills           uint64 // distinct fills applied
	Reconciled      uint64 // orders whose state was settled by a lookup or a reconcile
	ForeignOrders   uint64 // orders seen that are not ours (logged once each, left alone)
	Decisions       uint64
	StrategyErrors  uint64

	DecisionTime    time.Duration // total wall time in decisions (quote, diff, sends)
	MaxDecisionTime time.Duration
	QuoteTime       time.Duration // total wall time inside Strategy.Quote
	InsertTime      time.Duration // total wall time waiting for gate.Insert
}

// counters is Stats as atomics, updated from every strategy goroutine.
type counters struct {
	sent, accepted, refused, rejected, unknown         atomic.Uint64
	cancels, cancelRejects, fills, reconciled, foreign atomic.Uint64
	decisions, strategyErrors                          atomic.Uint64
	decisionNanos, maxDecisionNanos                    atomic.Int64
	quoteNanos, insertNanos                            atomic.Int64
}

func (c *counters) decision(d time.Duration) {
	c.decisions.Add(1)
	c.decisionNanos.Add(int64(d))
	for {
		m := c.maxDecisionNanos.Load()
		if int64(d) <= m || c.maxDecisionNanos.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		OrdersSent:      c.sent.Load(),
		OrdersAccepted:  c.accepted.Load(),
		OrdersRefused:   c.refused.Load(),
		OrdersRejected:  c.rejected.Load(),
		UnknownOutcomes: c.unknown.Load(),
		CancelsSent:     c.cancels.Load(),
		CancelsRejected: c.cancelRejects.Load(),
		Fills:           c.fills.Load(),
		Reconciled:      c.reconciled.Load(),
		ForeignOrders:   c.foreign.Load(),
		Decisions:       c.decisions.Load(),
		StrategyErrors:  c.strategyErrors.Load(),
		DecisionTime:    time.Duration(c.decisionNanos.Load()),
		MaxDecisionTime: time.Duration(c.maxDecisionNanos.Load()),
		QuoteTime:       time.Duration(c.quoteNanos.Load()),
		InsertTime:      time.Duration(c.insertNanos.Load()),
	}
}
