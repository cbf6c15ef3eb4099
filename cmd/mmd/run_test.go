package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/config"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/strategy/registry"
)

// events signals the first log line of each watched event name.
type events struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
}

func watch(names ...string) *events {
	e := &events{chans: map[string]chan struct{}{}}
	for _, n := range names {
		e.chans[n] = make(chan struct{})
	}
	return e
}

func (e *events) hook(ent zapcore.Entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.chans[ent.Message]; ok {
		close(ch)
		delete(e.chans, ent.Message)
	}
	return nil
}

func (e *events) wait(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	e.mu.Lock()
	ch, ok := e.chans[name]
	e.mu.Unlock()
	if !ok {
		return // already seen
	}
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", name, timeout)
	}
}

// running is a daemon started in-process by startDaemon.
type running struct {
	d    *daemon
	stop context.CancelFunc // what SIGTERM does
	done chan error
}

// startDaemon runs d until the test stops it, and waits until its engine is running.
func startDaemon(t *testing.T, d *daemon) *running {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	ready := make(chan struct{}, 1)
	d.env = func(string) string { return "" }
	d.ready = func(*daemon) { ready <- struct{}{} }
	r := &running{d: d, stop: stop, done: make(chan error, 1)}
	go func() { r.done <- d.run(ctx) }()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready within 30s")
	}
	return r
}

// shutdown stops the daemon as SIGTERM does and returns what run returned.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not shut down within 60s")
		return nil
	}
}

// TestEndToEnd runs the daemon as `mmd run` does with no configuration: the embedded
// simulator, the example strategies from deploy/, the real client, gate and engine over
// loopback. It waits for quotes and fills, shuts down as on SIGTERM, and checks that the
// simulator holds no open order of ours afterwards.
func TestEndToEnd(t *testing.T) {
	cfg, err := config.LoadDefault("../../deploy/strategies", registry.Builtin(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	// A fast, lively market so that fills come within seconds.
	cfg.Sim.Tick = 20 * time.Millisecond
	cfg.Sim.Volatility = 15

	core, logs := observer.New(zapcore.InfoLevel)
	ev := watch("order_accepted", "order_filled", "rearm_requested", "shutdown_complete")
	log := zap.New(core, zap.Hooks(ev.hook))

	d := &daemon{cfg: cfg, log: log, signalled: make(chan struct{})}
	r := startDaemon(t, d)
	ev.wait(t, "order_accepted", 30*time.Second)
	ev.wait(t, "order_filled", 60*time.Second)

	// SIGUSR1 is the operator's re-arm: nothing is halted, so nothing is re-armed.
	select {
	case <-d.signalled:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR1 handler not installed")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "rearm_requested", 10*time.Second)
	if r := logs.FilterMessage("rearm_requested").All()[0].ContextMap()["rearmed"]; r == nil || len(r.([]any)) != 0 {
		t.Errorf("rearm_requested rearmed %v, want none", r)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	ev.wait(t, "shutdown_complete", time.Second)

	complete := logs.FilterMessage("shutdown_complete").All()
	if n := complete[0].ContextMap()["open_orders"]; n != int64(0) {
		t.Errorf("shutdown_complete open_orders = %v, want 0", n)
	}
	key := d.sim.Accounts()[0].APIKey
	if open := d.sim.OpenOrders(key); len(open) != 0 {
		t.Errorf("simulator still holds %d open orders of ours after shutdown: %+v", len(open), open)
	}
	for _, name := range []string{"order_sent", "order_accepted", "order_filled", "cancel_sent", "order_cancelled", "shutdown_started"} {
		if logs.FilterMessage(name).Len() == 0 {
			t.Errorf("no %s log line", name)
		}
	}
	for _, e := range logs.FilterMessage("order_sent").All() {
		m := e.ContextMap()
		for _, f := range []string{"strategy", "instrument", "side", "price", "volume", "local_id"} {
			if _, ok := m[f]; !ok {
				t.Fatalf("order_sent without %s: %v", f, m)
			}
		}
	}
}

// A configuration mmd run refuses exits 2 (the unit does not restart on it) with the reason
// on stderr, before anything connects.
func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "mmd.yaml")
	if err := os.WriteFile(bad, []byte("exchange:\n  environment: sim\n  depht: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Valid offline, but finer than BTC-USDT's volume precision of 4 on the exchange: every
	// quote would be rounded down to nothing, silently.
	fine := filepath.Join(dir, "fine")
	if err := os.Mkdir(fine, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fine, "tick.yaml"), []byte(strings.Replace(tickStrategy, "size: 0.001", "size: 0.00001", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"run", "--config", bad}, "depht"},
		{"size finer than the instrument", []string{"run", "--strategies", fine}, "params.size: 0.00001 has more decimals than BTC-USDT's volume precision of 4"},
		{"--strategies with --config", []string{"run", "--config", bad, "--strategies", dir}, "--strategies is for paper trading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			m := &Main{Stdout: &out, Stderr: &errOut}
			if code := m.Run(tc.args); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("stderr %q does not name %q", errOut.String(), tc.want)
			}
		})
	}
}

// Credentials the exchange refuses are a configuration problem: exit 2 (systemd does not
// restart on it), not 1 (restarted every few seconds, signing wrongly each time).
func TestRunRefusesRejectedCredentials(t *testing.T) {
	ex := loopbackSim(t)
	acct := ex.Accounts()[0]
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "strategies"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "strategies", "tick.yaml"), []byte(tickStrategy), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mmd.yaml")
	daemonFile := "exchange:\n  environment: staging\n  restURL: " + ex.RESTURL() + "\n  wsURL: " + ex.WSURL() +
		"\n  apiKey: " + acct.APIKey + "\n  authType: " + acct.AuthType + "\n  secretEnv: MMD_TEST_SECRET\nstrategies: strategies\n"
	if err := os.WriteFile(path, []byte(daemonFile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MMD_TEST_SECRET", "not-"+acct.Secret)
	var out, errOut strings.Builder
	m := &Main{Stdout: &out, Stderr: &errOut}
	if code := m.Run([]string{"run", "--config", path}); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "signature invalid") {
		t.Fatalf("stderr %q does not say why", errOut.String())
	}
	if strings.Contains(errOut.String()+out.String(), acct.Secret) {
		t.Fatal("the secret was printed")
	}
}

// SIGUSR1 is caught from the moment the daemon starts, not only once it trades (the Go
// runtime would otherwise drop it silently): one sent while the daemon is still setting up
// is taken as a re-arm request once the gate exists.
func TestSIGUSR1DuringStartup(t *testing.T) {
	cfg, err := config.LoadDefault("../../deploy/strategies", registry.Builtin(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	core, _ := observer.New(zapcore.InfoLevel)
	ev := watch("rearm_requested", "engine_started")
	log := zap.New(core, zap.Hooks(ev.hook))
	d := &daemon{cfg: cfg, log: log,
		// Called while the exchange is being set up, before the gate or the engine exist.
		simConfig: func(*hashkeysim.Config) {
			if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
				t.Error(err)
			}
		}}
	r := startDaemon(t, d)
	ev.wait(t, "rearm_requested", 30*time.Second)
	ev.wait(t, "engine_started", 30*time.Second)
	if err := r.shutdown(t); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// A command line a command does not understand exits 2, like an unknown command.
func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"run", "--bogus"},
		{"run", "stray"},
		{"validate", "--bogus"},
		{"validate", "stray"},
		{"sim", "--bogus"},
		{"sim", "--tick", "-1s"},
		{"sim", "--signing", "v9"},
		{"version", "--bogus"},
	} {
		var out, errOut strings.Builder
		m := &Main{Stdout: &out, Stderr: &errOut}
		if code := m.Run(args); code != 2 {
			t.Errorf("mmd %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, errOut.String())
		}
	}
	var out, errOut strings.Builder
	if code := (&Main{Stdout: &out, Stderr: &errOut}).Run([]string{"run", "-h"}); code != 0 || !strings.Contains(out.String(), "Usage: mmd run") {
		t.Errorf("mmd run -h: exit %d, stdout %q", code, out.String())
	}
}

// loopbackSim runs a manually driven simulator on loopback until the test ends: an exchange
// reached the way production is (environment staging with the URLs overridden).
func loopbackSim(t *testing.T) *hashkeysim.Server {
	t.Helper()
	ex, err := hashkeysim.New(hashkeysim.Config{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close() })
	return ex
}
