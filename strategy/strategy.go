// Package strategy defines what a strategy is: a deterministic function from what it is
// shown (book, last trade, inventory, its open orders, the time) to the quotes it wants.
// A strategy never talks to the network; the engine's order manager turns its wanted quotes
// into inserts and cancels, and every insert passes the risk gate.
package strategy

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

// View is everything a strategy is shown for one decision. It is a value the engine builds
// fresh for each call; the strategy may keep nothing from it but copies.
type View struct {
	Now        time.Time              // injected clock
	Instrument exchange.Instrument    // precision and assets
	Book       *exchange.BookSnapshot // newest book; never nil, never crossed
	LastTrade  *exchange.Trade        // newest public trade, nil if none seen yet
	Base       Holding                // inventory in the instrument's base asset
	Quote      Holding                // inventory in the quote asset
	Open       []exchange.Order       // this strategy's orders still open, as the order manager knows them
}

// Holding is the strategy's view of one asset of the account.
type Holding struct {
	Total     decimal.Decimal // balance including funds frozen in open orders
	Available decimal.Decimal // balance free to place new orders
}

// Quote is one order a strategy wants resting in the book.
type Quote struct {
	Side   exchange.Side
	Price  decimal.Decimal
	Volume decimal.Decimal
}

// Wanted is a strategy's answer: the complete set of quotes it wants out now. Quotes not in
// the set are cancelled; an open order within Tolerance of a wanted quote is left alone.
type Wanted struct {
	Quotes    []Quote
	Tolerance decimal.Decimal // in basis points of price; 0 means exact match only
}

// Strategy decides quotes. Implementations are deterministic and must not block.
type Strategy interface {
	Quote(v View) Wanted
}

// Factory builds a strategy of one type from its parameters. decode fills the strategy's
// own parameter struct from the strategy file, strictly: unknown keys, wrong types and bad
// decimals are errors naming file, line and key.
type Factory func(decode func(params any) error) (Strategy, error)

// ParamError is a strategy parameter that decoded but is not acceptable (a size of zero, an
// unknown reference). Key is the parameter's YAML key so that a config loader can point at
// the line that holds it; factories return these (possibly several, joined with errors.Join).
type ParamError struct {
	Key string // the YAML key, e.g. "spreadBps"
	Msg string // what is wrong, including the bad value
}

func (e *ParamError) Error() string { return e.Key + ": " + e.Msg }
