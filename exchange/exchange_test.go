package exchange

import (
	"testing"

	"github.com/shopspring/decimal"
)

// Rounding never makes an order more aggressive: bids down, asks up, volumes down; a value
// already at the precision comes back as it is.
func TestInstrumentRounding(t *testing.T) {
	in := Instrument{ID: "BTC-USDT", PricePrecision: 2, VolumePrecision: 4}
	d := decimal.RequireFromString
	prices := []struct {
		side      Side
		in, want  string
		unchanged bool
	}{
		{Buy, "65000.129", "65000.12", false},
		{Sell, "65000.121", "65000.13", false},
		{Buy, "65000.12", "65000.12", true},
		{Sell, "65000.12", "65000.12", true},
		{Buy, "65000", "65000", false},
		{Sell, "65000.1", "65000.1", false},
		{Buy, "0.001", "0", false},
		{Sell, "0.001", "0.01", false},
	}
	for _, tt := range prices {
		p := d(tt.in)
		got := in.RoundPrice(tt.side, p)
		if !got.Equal(d(tt.want)) {
			t.Errorf("RoundPrice(%s, %s) = %s, want %s", tt.side, tt.in, got, tt.want)
		}
		if tt.unchanged && got.Exponent() != p.Exponent() {
			t.Errorf("RoundPrice(%s, %s) changed an already rounded price's exponent", tt.side, tt.in)
		}
	}
	volumes := []struct{ in, want string }{
		{"0.00129", "0.0012"},
		{"0.0012", "0.0012"},
		{"1", "1"},
		{"0.00009", "0"},
	}
	for _, tt := range volumes {
		if got := in.RoundVolume(d(tt.in)); !got.Equal(d(tt.want)) {
			t.Errorf("RoundVolume(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func BenchmarkRoundPrice(b *testing.B) {
	in := Instrument{ID: "BTC-USDT", PricePrecision: 2, VolumePrecision: 4}
	rounded := decimal.RequireFromString("65000.12")
	raw := decimal.RequireFromString("65000.1234")
	b.Run("rounded", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = in.RoundPrice(Buy, rounded)
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = in.RoundPrice(Buy, raw)
		}
	})
}
