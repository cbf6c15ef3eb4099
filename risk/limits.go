package risk

import (
	"time"

	"github.com/shopspring/decimal"
)

// Limits are the pre-trade and fail-closed limits. The daemon file sets them globally; a
// strategy file may override any of them for its own instrument (decoded over a copy of
// the global limits, so an omitted key keeps the global value). Every field has a safe
// default (DefaultLimits). Zero decimals/durations/counts mean "no limit" only where the
// field's comment says so.
type Limits struct {
	// Price band: refuse a bid above mid*(1+band) or an ask below mid*(1-band), in basis points.
	PriceBandBps decimal.Decimal `yaml:"priceBandBps"`
	// Largest order notional (price × volume) in the instrument's quote asset, keyed by quote
	// asset (e.g. BTC: "0.5", USDT: "20000"). An asset without an entry uses the "*" entry.
	MaxOrderNotional map[string]decimal.Decimal `yaml:"maxOrderNotional"`
	// Largest absolute base-asset position per instrument, counted as the worst case of all
	// open orders on one side filling, keyed by base asset (e.g. ETH: "50"); "*" for the rest.
	MaxPosition map[string]decimal.Decimal `yaml:"maxPosition"`
	// Most orders open at once per instrument.
	MaxOpenOrders int `yaml:"maxOpenOrders"`
	// Most inserts per second per instrument (kept below the exchange's order rate limit).
	MaxOrdersPerSecond int `yaml:"maxOrdersPerSecond"`
	// Most inserts per exchange day (UTC+8) per instrument.
	DailyOrderBudget int `yaml:"dailyOrderBudget"`
	// Backoff after consecutive insert rejections: starts at RejectBackoff, doubles to RejectBackoffMax.
	RejectBackoff    time.Duration `yaml:"rejectBackoff"`
	RejectBackoffMax time.Duration `yaml:"rejectBackoffMax"`
	// Fill-rate safety: after FillBurstCount fills on one side within FillBurstWindow, pull
	// that side for FillBurstCooldown.
	FillBurstCount    int           `yaml:"fillBurstCount"`
	FillBurstWindow   time.Duration `yaml:"fillBurstWindow"`
	FillBurstCooldown time.Duration `yaml:"fillBurstCooldown"`
	// Fail closed: a book older than MaxBookAge, a crossed book, the private stream down, or a
	// clock offset above MaxClockOffset pauses the instrument; quoting resumes only after the
	// condition has been clear for HealthyPeriod.
	MaxBookAge     time.Duration `yaml:"maxBookAge"`
	MaxClockOffset time.Duration `yaml:"maxClockOffset"`
	HealthyPeriod  time.Duration `yaml:"healthyPeriod"`
	// Loss limits, in the instrument's quote asset keyed by quote asset ("*" for the rest).
	// Daily loss from the exchange day's start: reducing-only at ReduceAt × limit, halted at
	// the limit. Drawdown is trailing peak-to-trough of total PnL, same ladder. A halt needs a
	// manual re-arm.
	DailyLossLimit map[string]decimal.Decimal `yaml:"dailyLossLimit"`
	DrawdownLimit  map[string]decimal.Decimal `yaml:"drawdownLimit"`
	ReduceAt       decimal.Decimal            `yaml:"reduceAt"`
}
