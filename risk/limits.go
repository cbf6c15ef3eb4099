package risk

import (
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// The loss limits mark the position with a robust mark, not the raw mid: the time-weighted
	// median of the mid over the last MarkWindow (see mark.go). A move must hold for more than
	// half of this window before its mark-to-market loss counts.
	MarkWindow time.Duration `yaml:"markWindow"`
}

// DefaultLimits returns conservative limits for a first deployment with small size. The asset
// maps deliberately have no "*" entry: a safe notional, position or loss figure depends on the
// asset, so an instrument whose assets are not listed is refused at Register until the operator
// names a figure (or a "*") for it. Rationale per field:
//   - priceBandBps 200: a quote more than 2 % through the mid is a bug or a broken book.
//   - maxOpenOrders 10: a five-level ladder per side.
//   - maxOrdersPerSecond 10: far below the exchange's 300 order calls/s per key, which cancels share.
//   - dailyOrderBudget 20000: one insert every ~4 s around the clock.
//   - rejectBackoff 1s doubling to 1m: a failing order is retried a handful of times per minute at most.
//   - fill bursts: 5 fills on one side within 10 s pulls that side for 30 s (we are being run over).
//   - maxBookAge 5s: the exchange pushes book updates about twice a second.
//   - maxClockOffset 1s: requests are signed with a timestamp the exchange rejects at 30 s.
//   - healthyPeriod 5s: a condition must stay clear this long before quoting resumes.
//   - reduceAt 0.8, markWindow 10s.
func DefaultLimits() Limits {
	return Limits{
		PriceBandBps: decimal.NewFromInt(200),
		MaxOrderNotional: map[string]decimal.Decimal{
			"BTC": decimal.RequireFromString("0.05"), "ETH": decimal.NewFromInt(1),
			"USDT": decimal.NewFromInt(2000), "USDC": decimal.NewFromInt(2000),
			"USD": decimal.NewFromInt(2000), "HKD": decimal.NewFromInt(15000),
		},
		MaxPosition: map[string]decimal.Decimal{
			"BTC": decimal.RequireFromString("0.2"), "ETH": decimal.NewFromInt(3),
		},
		MaxOpenOrders:      10,
		MaxOrdersPerSecond: 10,
		DailyOrderBudget:   20000,
		RejectBackoff:      time.Second,
		RejectBackoffMax:   time.Minute,
		FillBurstCount:     5,
		FillBurstWindow:    10 * time.Second,
		FillBurstCooldown:  30 * time.Second,
		MaxBookAge:         5 * time.Second,
		MaxClockOffset:     time.Second,
		HealthyPeriod:      5 * time.Second,
		DailyLossLimit: map[string]decimal.Decimal{
			"BTC": decimal.RequireFromString("0.005"), "ETH": decimal.RequireFromString("0.1"),
			"USDT": decimal.NewFromInt(300), "USDC": decimal.NewFromInt(300),
			"USD": decimal.NewFromInt(300), "HKD": decimal.NewFromInt(2300),
		},
		DrawdownLimit: map[string]decimal.Decimal{
			"BTC": decimal.RequireFromString("0.005"), "ETH": decimal.RequireFromString("0.1"),
			"USDT": decimal.NewFromInt(300), "USDC": decimal.NewFromInt(300),
			"USD": decimal.NewFromInt(300), "HKD": decimal.NewFromInt(2300),
		},
		ReduceAt:   decimal.RequireFromString("0.8"),
		MarkWindow: 10 * time.Second,
	}
}

// Clone returns a deep copy. A strategy's risk block must be decoded over a clone of the
// global limits: yaml.v3 decodes a mapping into an existing map by adding keys, so decoding
// over a shallow copy would write the strategy's entries into the global maps.
func (l Limits) Clone() Limits {
	c := l
	c.MaxOrderNotional = maps.Clone(l.MaxOrderNotional)
	c.MaxPosition = maps.Clone(l.MaxPosition)
	c.DailyLossLimit = maps.Clone(l.DailyLossLimit)
	c.DrawdownLimit = maps.Clone(l.DrawdownLimit)
	return c
}

// LimitError says which limit is bad and why. Field is the yaml key (with the asset for map
// entries, e.g. "maxPosition.ETH").
type LimitError struct {
	Field  string
	Value  string
	Reason string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("risk limit %s = %s: %s", e.Field, e.Value, e.Reason)
}

// Validate reports every bad field, each as a *LimitError (joined; errors.As finds the first).
// Nothing may be zero or negative: no field means "no limit".
func (l Limits) Validate() error {
	var errs []error
	bad := func(field, value, reason string) {
		errs = append(errs, &LimitError{Field: field, Value: value, Reason: reason})
	}
	positiveDec := func(field string, d decimal.Decimal) {
		if !d.IsPositive() {
			bad(field, d.String(), "must be greater than 0")
		}
	}
	positiveMap := func(field string, m map[string]decimal.Decimal) {
		if len(m) == 0 {
			bad(field, "{}", `needs at least one asset entry (or "*")`)
		}
		for _, asset := range sortedKeys(m) {
			if asset == "" {
				bad(field, `""`, "asset name is empty")
				continue
			}
			positiveDec(field+"."+asset, m[asset])
		}
	}
	atLeastOne := func(field string, n int) {
		if n < 1 {
			bad(field, fmt.Sprint(n), "must be at least 1")
		}
	}
	positiveDur := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, d.String(), "must be greater than 0")
		}
	}

	positiveDec("priceBandBps", l.PriceBandBps)
	if l.PriceBandBps.GreaterThanOrEqual(decimal.NewFromInt(10000)) {
		bad("priceBandBps", l.PriceBandBps.String(), "must be below 10000 (100 %)")
	}
	positiveMap("maxOrderNotional", l.MaxOrderNotional)
	positiveMap("maxPosition", l.MaxPosition)
	atLeastOne("maxOpenOrders", l.MaxOpenOrders)
	atLeastOne("maxOrdersPerSecond", l.MaxOrdersPerSecond)
	if l.MaxOrdersPerSecond > maxRateWindow {
		bad("maxOrdersPerSecond", fmt.Sprint(l.MaxOrdersPerSecond), fmt.Sprintf("must be at most %d", maxRateWindow))
	}
	atLeastOne("dailyOrderBudget", l.DailyOrderBudget)
	positiveDur("rejectBackoff", l.RejectBackoff)
	positiveDur("rejectBackoffMax", l.RejectBackoffMax)
	if l.RejectBackoffMax < l.RejectBackoff {
		bad("rejectBackoffMax", l.RejectBackoffMax.String(), "must not be below rejectBackoff "+l.RejectBackoff.String())
	}
	atLeastOne("fillBurstCount", l.FillBurstCount)
	if l.FillBurstCount > maxFillBurstCount {
		bad("fillBurstCount", fmt.Sprint(l.FillBurstCount), fmt.Sprintf("must be at most %d", maxFillBurstCount))
	}
	positiveDur("fillBurstWindow", l.FillBurstWindow)
	positiveDur("fillBurstCooldown", l.FillBurstCooldown)
	positiveDur("maxBookAge", l.MaxBookAge)
	positiveDur("maxClockOffset", l.MaxClockOffset)
	positiveDur("healthyPeriod", l.HealthyPeriod)
	positiveMap("dailyLossLimit", l.DailyLossLimit)
	positiveMap("drawdownLimit", l.DrawdownLimit)
	positiveDec("reduceAt", l.ReduceAt)
	if l.ReduceAt.GreaterThan(decimal.NewFromInt(1)) {
		bad("reduceAt", l.ReduceAt.String(), "must be at most 1 (a fraction of the loss limit)")
	}
	positiveDur("markWindow", l.MarkWindow)
	return errors.Join(errs...)
}

// Upper bounds that keep the gate's fixed-size rings small; far above any sane setting.
const (
	maxRateWindow     = 1000
	maxFillBurstCount = 1000
)

// assetLimit looks an asset up in a per-asset map, falling back to "*".
func assetLimit(m map[string]decimal.Decimal, asset string) (decimal.Decimal, bool) {
	if v, ok := m[asset]; ok {
		return v, true
	}
	v, ok := m["*"]
	return v, ok
}

func sortedKeys(m map[string]decimal.Decimal) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
