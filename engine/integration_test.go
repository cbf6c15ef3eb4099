package engine

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy/ladder"
)

// TestSimulatorIntegration runs the engine with the real gate, the HashKey client and stream,
// and the ladder against the simulator over loopback: it quotes, gets filled, re-quotes,
// survives a dropped connection (pull, reconcile, resume) and shuts down with nothing left.
func TestSimulatorIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	sim, err := hashkeysim.New(hashkeysim.Config{Seed: 7, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	acct := sim.Accounts()[0]

	sig := newSignal()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(notifyCore{Core: core, sig: sig})
	client, err := hashkey.NewClient(hashkey.Config{
		RESTURL: sim.RESTURL(), WSURL: sim.WSURL(),
		Credentials: hashkey.Credentials{APIKey: acct.APIKey, AuthType: hashkey.AuthType(acct.AuthType), Secret: hashkey.NewSecret(acct.Secret)},
		Logger:      log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.SyncClock(ctx); err != nil {
		t.Fatal(err)
	}
	insts, err := client.Instruments(ctx, "ETH-BTC")
	if err != nil || len(insts) != 1 {
		t.Fatalf("instruments %v %v", insts, err)
	}
	inst := insts[0]

	streamCtx, stopStream := context.WithCancel(ctx)
	stream := client.NewStream(hashkey.StreamConfig{Instruments: insts, Depth: 10, Trades: true, Private: true})
	streamDone := make(chan error, 1)
	go func() { streamDone <- stream.Run(streamCtx) }()
	t.Cleanup(func() { stopStream(); <-streamDone })

	gate, err := risk.NewGate(risk.Config{Sender: client, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	lim := risk.DefaultLimits()
	lim.HealthyPeriod = 200 * time.Millisecond
	if err := gate.Register("eth-btc", inst, lim); err != nil {
		t.Fatal(err)
	}
	p := ladder.DefaultParams()
	p.Levels, p.SpreadBps, p.StepBps, p.Size, p.ToleranceBps = 2, decimal.NewFromInt(20), decimal.NewFromInt(10), decimal.RequireFromString("0.05"), decimal.NewFromInt(5)
	lad, err := ladder.NewLadder(p)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(Config{
		Gate: gate, Account: client, Events: stream.Events(), ClockOffset: client.ClockOffset,
		Strategies: []Instance{{Name: "eth-btc", Instrument: inst, Strategy: lad}},
		IDs:        NewLocalIDs(0, time.Now), Logger: log, HealthInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(runCtx) }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		stop()
		select {
		case <-runDone:
		case <-time.After(15 * time.Second):
		}
	})

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.NewTimer(15 * time.Second)
		defer deadline.Stop()
		for !cond() {
			select {
			case <-sig.ch:
			case <-deadline.C:
				var b []string
				for _, e := range logs.All() {
					b = append(b, e.Message)
				}
				t.Fatalf("timed out waiting for %s; logs: %v", what, b)
			}
		}
	}
	openOn := func(side exchange.Side) int {
		n := 0
		for _, o := range sim.OpenOrders(acct.APIKey) {
			if o.Side == side {
				n++
			}
		}
		return n
	}
	ladderOut := func() bool {
		return openOn(exchange.Buy) == 2 && openOn(exchange.Sell) == 2 && eng.OpenOrders() == 4
	}
	waitFor("the ladder out", ladderOut)

	// Move the market down through our best bid: it fills, and the ladder re-quotes.
	bestBid := decimal.Zero
	for _, o := range sim.OpenOrders(acct.APIKey) {
		if o.Side == exchange.Buy && o.Price.GreaterThan(bestBid) {
			bestBid = o.Price
		}
	}
	sim.SetFairValue("ETH-BTC", bestBid.Sub(decimal.New(5, -6)))
	waitFor("a fill", func() bool { return eng.Stats().Fills > 0 })
	if r := eng.Realised("ETH-BTC"); !r.Position.IsPositive() {
		t.Fatalf("position after a bid fill: %s", r.Position)
	}
	waitFor("the ladder out again", ladderOut)

	// Drop every connection: the engine pulls its orders, reconciles after the private stream
	// is back, and quotes again — without leaving duplicates behind.
	pulled := len(logs.FilterMessage("orders_pulled").All())
	sim.Faults().DropConnections()
	waitFor("orders pulled", func() bool { return len(logs.FilterMessage("orders_pulled").All()) > pulled })
	waitFor("the ladder out after reconnect", ladderOut)

	stop()
	select {
	case err := <-runDone:
		stopped = true
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("engine did not stop")
	}
	if open := sim.OpenOrders(acct.APIKey); len(open) != 0 {
		t.Fatalf("left open on the exchange: %v", open)
	}
	if done := logs.FilterMessage("shutdown_complete").All(); len(done) != 1 || done[0].ContextMap()["open_orders"] != int64(0) {
		t.Fatalf("shutdown_complete %v", done)
	}
}
