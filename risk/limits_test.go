package risk

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

func TestDefaultLimitsValid(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		edit         func(*Limits)
		field, value string
	}{
		{func(l *Limits) { l.PriceBandBps = d("0") }, "priceBandBps", "0"},
		{func(l *Limits) { l.PriceBandBps = d("10000") }, "priceBandBps", "10000"},
		{func(l *Limits) { l.MaxOrderNotional = nil }, "maxOrderNotional", "{}"},
		{func(l *Limits) { l.MaxOrderNotional["USDT"] = d("-1") }, "maxOrderNotional.USDT", "-1"},
		{func(l *Limits) { l.MaxPosition["ETH"] = d("0") }, "maxPosition.ETH", "0"},
		{func(l *Limits) { l.MaxPosition[""] = d("1") }, "maxPosition", `""`},
		{func(l *Limits) { l.MaxOpenOrders = 0 }, "maxOpenOrders", "0"},
		{func(l *Limits) { l.MaxOrdersPerSecond = -1 }, "maxOrdersPerSecond", "-1"},
		{func(l *Limits) { l.MaxOrdersPerSecond = 1001 }, "maxOrdersPerSecond", "1001"},
		{func(l *Limits) { l.DailyOrderBudget = 0 }, "dailyOrderBudget", "0"},
		{func(l *Limits) { l.RejectBackoff = 0 }, "rejectBackoff", "0s"},
		{func(l *Limits) { l.RejectBackoffMax = time.Millisecond }, "rejectBackoffMax", "1ms"},
		{func(l *Limits) { l.FillBurstCount = 0 }, "fillBurstCount", "0"},
		{func(l *Limits) { l.FillBurstWindow = 0 }, "fillBurstWindow", "0s"},
		{func(l *Limits) { l.FillBurstCooldown = -time.Second }, "fillBurstCooldown", "-1s"},
		{func(l *Limits) { l.MaxBookAge = 0 }, "maxBookAge", "0s"},
		{func(l *Limits) { l.MaxClockOffset = 0 }, "maxClockOffset", "0s"},
		{func(l *Limits) { l.HealthyPeriod = 0 }, "healthyPeriod", "0s"},
		{func(l *Limits) { l.DailyLossLimit["USDT"] = d("0") }, "dailyLossLimit.USDT", "0"},
		{func(l *Limits) { l.DrawdownLimit = map[string]decimal.Decimal{} }, "drawdownLimit", "{}"},
		{func(l *Limits) { l.ReduceAt = d("0") }, "reduceAt", "0"},
		{func(l *Limits) { l.ReduceAt = d("1.5") }, "reduceAt", "1.5"},
		{func(l *Limits) { l.MarkWindow = 0 }, "markWindow", "0s"},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			l := DefaultLimits()
			tc.edit(&l)
			err := l.Validate()
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("want a *LimitError, got %v", err)
			}
			if le.Field != tc.field || le.Value != tc.value {
				t.Fatalf("error %q names %s=%s, want %s=%s", err, le.Field, le.Value, tc.field, tc.value)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
	// All bad fields are reported, not only the first.
	l := DefaultLimits()
	l.MaxOpenOrders, l.HealthyPeriod = 0, 0
	if err := l.Validate(); !strings.Contains(err.Error(), "maxOpenOrders") || !strings.Contains(err.Error(), "healthyPeriod") {
		t.Fatalf("not every field reported: %v", err)
	}
}

// TestLimitsYAML decodes a daemon's risk block over the defaults and a strategy's block over a
// clone of that, as the config loader does: tags, durations and decimals decode, omitted keys
// keep their value, map entries merge, and the strategy's entries do not leak into the global.
func TestLimitsYAML(t *testing.T) {
	decode := func(src string, into *Limits) {
		t.Helper()
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil {
			t.Fatal(err)
		}
	}
	global := DefaultLimits()
	decode(`
priceBandBps: 150
maxOrderNotional: {USDT: "5000", "*": "10"}
maxPosition: {SOL: "100"}
maxOpenOrders: 6
rejectBackoff: 500ms
healthyPeriod: 3s
reduceAt: "0.75"
markWindow: 20s
`, &global)
	strategy := global.Clone()
	decode(`
maxPosition: {ETH: "2"}
maxOpenOrders: 4
`, &strategy)
	for _, l := range []Limits{global, strategy} {
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"band", global.PriceBandBps.String(), "150"},
		{"notional USDT", global.MaxOrderNotional["USDT"].String(), "5000"},
		{"notional BTC kept", global.MaxOrderNotional["BTC"].String(), "0.05"},
		{"notional *", global.MaxOrderNotional["*"].String(), "10"},
		{"backoff", global.RejectBackoff, 500 * time.Millisecond},
		{"backoff max kept", global.RejectBackoffMax, time.Minute},
		{"healthy", global.HealthyPeriod, 3 * time.Second},
		{"reduceAt", global.ReduceAt.String(), "0.75"},
		{"markWindow", global.MarkWindow, 20 * time.Second},
		{"strategy ETH", strategy.MaxPosition["ETH"].String(), "2"},
		{"strategy SOL inherited", strategy.MaxPosition["SOL"].String(), "100"},
		{"global ETH untouched", global.MaxPosition["ETH"].String(), "3"},
		{"strategy open orders", strategy.MaxOpenOrders, 4},
		{"global open orders", global.MaxOpenOrders, 6},
		{"strategy band inherited", strategy.PriceBandBps.String(), "150"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	bad := DefaultLimits()
	dec := yaml.NewDecoder(strings.NewReader("maxOpenOrder: 3\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&bad); err == nil {
		t.Fatal("a misspelt key decoded")
	}
}

func TestMarkMedian(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name    string
		samples [][2]int64 // at (s), mid2
		now     int64      // s
		window  time.Duration
		want    int64
	}{
		{"one sample", [][2]int64{{0, 200}}, 5, 10 * time.Second, 200},
		{"one sample at now", [][2]int64{{5, 200}}, 5, 10 * time.Second, 200},
		{"spike shorter than half", [][2]int64{{0, 200}, {10, 100}, {14, 200}}, 20, 10 * time.Second, 200},
		{"move longer than half", [][2]int64{{0, 200}, {10, 100}}, 16, 10 * time.Second, 100},
		{"old samples outside the window", [][2]int64{{0, 50}, {1, 300}, {2, 200}}, 30, 10 * time.Second, 200},
		{"three levels", [][2]int64{{0, 100}, {10, 300}, {13, 200}}, 20, 10 * time.Second, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m markSamples
			for _, s := range tc.samples {
				m.add(s[0]*sec, s[1], tc.window)
			}
			got, ok := m.median(tc.now*sec, tc.window)
			if !ok || got != tc.want {
				t.Fatalf("median = %d %v, want %d", got, ok, tc.want)
			}
		})
	}
	var empty markSamples
	if _, ok := empty.median(0, time.Second); ok {
		t.Fatal("median of nothing")
	}
	// The ring is bounded: many changes keep the newest.
	var m markSamples
	for i := range int64(3 * markCap) {
		m.add(i*int64(time.Millisecond), i, time.Hour)
	}
	if m.n != markCap || m.at(m.n-1).mid2 != 3*markCap-1 {
		t.Fatalf("ring n=%d newest=%d", m.n, m.at(m.n-1).mid2)
	}
}
