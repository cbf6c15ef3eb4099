package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/config"
	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/strategy/registry"
)

// tickStrategy is one tight BTC-USDT ladder that re-prices on every move of the mid, with
// limits loose enough that the gate approves every answer to a benchmark move.
const tickStrategy = `name: tick
type: ladder
instrument: BTC-USDT
params:
  levels: 1
  spreadBps: 20
  size: 0.001
  toleranceBps: 1
  minRefresh: 0s
risk:
  maxOrdersPerSecond: 1000
  dailyOrderBudget: 100000000
  fillBurstCount: 1000
  maxBookAge: 1h
  healthyPeriod: 1ms
  priceBandBps: 1000
`

// BenchmarkTickToOrder measures, over loopback, the time from the simulator having written a
// book update that moves the quote to the daemon having written the signed cancel or insert
// that answers it (the whole daemon in between: WebSocket read, level2 decode, book apply,
// snapshot, engine routing, strategy, order manager, risk gate, signing, HTTP write).
// Each iteration moves the fair value 5 bps (alternately up and down) and waits until both
// quotes have been replaced before the next. The floor sub-benchmark measures decode + book
// apply + HMAC sign + a loopback socket write alone, in the same run.
//
//	go test -run '^$' -bench TickToOrder -benchtime 400x -count 6 ./cmd/mmd | tee tick.txt
func BenchmarkTickToOrder(b *testing.B) {
	b.Run("daemon", benchDaemonTickToOrder)
	b.Run("floor", benchFloor)
}

func benchDaemonTickToOrder(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(tickStrategy), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.LoadDefault(dir, registry.Builtin(), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	cfg.Exchange.Depth = 50

	requests := make(chan time.Time, 1024) // when each insert or cancel was written
	ready := make(chan *daemon, 1)
	d := &daemon{
		cfg: cfg, log: zap.NewNop(), env: func(string) string { return "" },
		ready:        func(d *daemon) { ready <- d },
		orderWritten: func(_ string, at time.Time) { requests <- at },
		simConfig: func(c *hashkeysim.Config) {
			c.Manual = true // the benchmark alone moves the market
			c.NoRateLimit = true
		},
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Errorf("shutdown: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("daemon stopped: %v", err)
	case <-time.After(30 * time.Second):
		b.Fatal("daemon not ready")
	}
	sim := d.sim
	key := sim.Accounts()[0].APIKey

	base := decimal.RequireFromString("65000")
	up := base.Mul(decimal.RequireFromString("1.0005"))
	// Start from a settled state: the fair value at base and both quotes resting.
	sim.SetFairValue("BTC-USDT", base)
	settle(b, sim, key, requests)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		p := up
		if i%2 == 1 {
			p = base
		}
		written := sim.SetFairValue("BTC-USDT", p)
		select {
		case at := <-requests:
			lat = append(lat, at.Sub(written))
		case <-time.After(10 * time.Second):
			b.Fatalf("iteration %d: no order request within 10s of the move", i)
		}
		settle(b, sim, key, requests)
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// settle waits until the daemon has both quotes resting again and nothing is in flight,
// draining the observed requests.
func settle(b *testing.B, sim *hashkeysim.Server, key string, requests <-chan time.Time) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	quiet := 0
	for time.Now().Before(deadline) {
		select {
		case <-requests:
			quiet = 0
			continue
		case <-time.After(2 * time.Millisecond):
		}
		if len(sim.OpenOrders(key)) == 2 {
			quiet++
			if quiet >= 3 { // two quotes resting and no request for a few ms
				return
			}
		}
	}
	b.Fatalf("daemon did not settle: %d open orders", len(sim.OpenOrders(key)))
}

func benchFloor(b *testing.B) {
	inst := exchange.Instrument{ID: "BTC-USDT", Base: "BTC", Quote: "USDT", PricePrecision: 2, VolumePrecision: 4}
	dec := hashkey.NewLevel2Decoder([]exchange.Instrument{inst})
	book := exchange.NewBook(inst, 50)
	snap := make([]byte, 0, 4096)
	snap = append(snap, `{"type":"level2@50_snapshot","instrumentID":"BTC-USDT","buy":[`...)
	for i := range 50 {
		if i > 0 {
			snap = append(snap, ',')
		}
		snap = fmt.Appendf(snap, `["%d.%02d","0.5"]`, 64999-i, i%100)
	}
	snap = append(snap, `],"sell":[`...)
	for i := range 50 {
		if i > 0 {
			snap = append(snap, ',')
		}
		snap = fmt.Appendf(snap, `["%d.%02d","0.5"]`, 65001+i, i%100)
	}
	snap = append(snap, `],"pubTimestamp":"1542104001056"}`...)
	m, err := dec.Decode(snap)
	if err != nil {
		b.Fatal(err)
	}
	if err := hashkey.ApplyLevel2(book, m); err != nil {
		b.Fatal(err)
	}
	update := []byte(`{"type":"level2@50_update","instrumentID":"BTC-USDT","buy":[["64999.00","0.7"],["64998.01","0"]],"sell":[["65001.00","0.3"]],"pubTimestamp":"1542104001556"}`)

	signer, err := hashkey.NewSigner(hashkey.Credentials{APIKey: "k", AuthType: hashkey.AuthHMAC, Secret: hashkey.NewSecret("floor-secret"), Scheme: hashkey.SchemeV43})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"instrumentID":"BTC-USDT","orderPriceType":"limit","direction":"buy","limitPrice":"64870.00","volumeTotalOriginal":"0.001","timeCondition":"GTC","orderLocalID":"17959221428400002"}`)

	// A loopback peer that reads and discards, like a server's socket buffer would.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 4096)

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		m, err := dec.Decode(update)
		if err != nil {
			b.Fatal(err)
		}
		if err := hashkey.ApplyLevel2(book, m); err != nil {
			b.Fatal(err)
		}
		ts := strconv.FormatInt(start.UnixMilli(), 10)
		sig, err := signer.SignREST(ts, "POST", "/v1/order/insert", body)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(w, "POST /APITrade/v1/order/insert HTTP/1.1\r\nHost: x\r\nAPI-KEY: k\r\nAPI-TIMESTAMP: %s\r\nAPI-SIGNATURE: %s\r\nAUTH-TYPE: HMAC\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", ts, sig, len(body))
		_, _ = w.Write(body)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
