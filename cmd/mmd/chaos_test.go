package main

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/config"
	"github.com/mmd-dev/mmd/strategy/registry"
)

// TestChaos runs the daemon against a lively simulated market while the simulator misbehaves
// the way exchanges do: private messages duplicated and reordered, REST answers lost after the
// request was carried out (503 without respCode: the outcome is unknown), 1005s, and every
// WebSocket dropped twice (fills during the gaps are only learnt by asking). Afterwards no
// order of ours may be open, and the engine's inventory must equal the simulator's balances
// to the last digit: every fill counted exactly once, none lost, none twice.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run takes about 15 s")
	}
	cfg, err := config.LoadDefault("../../deploy/strategies", registry.Builtin(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sim.Tick = 20 * time.Millisecond
	cfg.Sim.Volatility = 15
	cfg.Shutdown.Timeout = 20 * time.Second

	core, logs := observer.New(zapcore.InfoLevel)
	ev := watch("order_filled", "shutdown_complete")
	log := zap.New(core, zap.Hooks(ev.hook))
	d := &daemon{cfg: cfg, log: log}
	r := startDaemon(t, d)
	ev.wait(t, "order_filled", 60*time.Second)

	faults := d.sim.Faults()
	faults.PrivateDuplicate(true)
	faults.PrivateReorder(true)
	faults.REST5xx(0.05, 0)
	faults.REST1005(3)
	for range 2 {
		// Let the market run (and fill) for a while, then cut every connection.
		<-time.After(3 * time.Second)
		faults.DropConnections()
	}
	<-time.After(3 * time.Second)
	faults.REST5xx(0, 0)
	faults.PrivateDuplicate(false)
	faults.PrivateReorder(false)

	if err := r.shutdown(t); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	key := d.sim.Accounts()[0].APIKey
	if open := d.sim.OpenOrders(key); len(open) != 0 {
		t.Fatalf("%d orders of ours still open after shutdown: %+v", len(open), open)
	}
	fills := logs.FilterMessage("order_filled").Len()
	if fills < 2 {
		t.Fatalf("only %d fills: the chaos run proved little", fills)
	}
	for _, b := range d.sim.Balances(key) {
		if got := d.engine.Inventory(b.Asset).Total; !got.Equal(b.Balance) {
			t.Errorf("%s: engine counts %s, the exchange holds %s (after %d fills, %d recovered after gaps)",
				b.Asset, got, b.Balance, fills, logs.FilterMessage("fills_recovered").Len())
		}
	}
	t.Logf("%d fills, %d fill recoveries, %d unknown outcomes, %d reconciled",
		fills, logs.FilterMessage("fills_recovered").Len(), logs.FilterMessage("order_unknown_outcome").Len(),
		logs.FilterMessage("order_reconciled").Len())
}
