package risk

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

// FuzzInsert feeds arbitrary prices and volumes through the gate and checks what reaches the
// Sender: on the instrument's grid, never more aggressive than asked, never more volume than
// asked, inside the band and the notional limit; and a refusal never reaches the Sender.
func FuzzInsert(f *testing.F) {
	f.Add(uint8(1), "99.999", "1.2349")
	f.Add(uint8(2), "99.991", "0.0009")
	f.Add(uint8(1), "102.004", "19.6")
	f.Add(uint8(2), "97.995", "3")
	f.Add(uint8(0), "100", "1")
	f.Add(uint8(1), "-5", "1")
	f.Add(uint8(2), "1e3", "2e-3")
	f.Fuzz(func(t *testing.T, side uint8, price, volume string) {
		p, err1 := decimal.NewFromString(price)
		v, err2 := decimal.NewFromString(volume)
		if err1 != nil || err2 != nil || len(price) > 40 || len(volume) > 40 ||
			p.Exponent() < -30 || p.Exponent() > 30 || v.Exponent() < -30 || v.Exponent() > 30 {
			return
		}
		fx := newFixture(t, nil).healthy()
		req := exchange.OrderRequest{Instrument: ethUSDT.ID, Side: exchange.Side(side), Price: p, Volume: v, LocalID: "f1"}
		sent, err := fx.g.Insert(context.Background(), strat, req)
		got := fx.sender.sent()
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) || r.Check == "" {
				t.Fatalf("error is not a refusal: %v", err)
			}
			if len(got) != 0 {
				t.Fatal("refused order was sent")
			}
			return
		}
		if len(got) != 1 || got[0] != sent {
			t.Fatalf("sent %v, returned %v", got, sent)
		}
		if !sent.Price.Equal(sent.Price.Truncate(ethUSDT.PricePrecision)) || !sent.Volume.Equal(sent.Volume.Truncate(ethUSDT.VolumePrecision)) {
			t.Fatalf("off grid: %s@%s", sent.Volume, sent.Price)
		}
		if sent.Volume.GreaterThan(v) || !sent.Volume.IsPositive() || !sent.Price.IsPositive() {
			t.Fatalf("volume %s from %s, price %s", sent.Volume, v, sent.Price)
		}
		if (sent.Side == exchange.Buy && (sent.Price.GreaterThan(p) || sent.Price.GreaterThan(d("102")))) ||
			(sent.Side == exchange.Sell && (sent.Price.LessThan(p) || sent.Price.LessThan(d("98")))) {
			t.Fatalf("%s at %s from %s: more aggressive or outside the band", sent.Side, sent.Price, p)
		}
		if sent.Price.Mul(sent.Volume).GreaterThan(d("2000")) || sent.Volume.GreaterThan(d("3")) {
			t.Fatalf("over the limits: %s@%s", sent.Volume, sent.Price)
		}
	})
}
