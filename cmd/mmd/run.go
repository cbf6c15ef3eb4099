package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mmd-dev/mmd/config"
	"github.com/mmd-dev/mmd/engine"
	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy/registry"
)

const (
	defaultConfigPath = "/etc/mmd/mmd.yaml"
	// exitConfig is the exit status for a configuration the daemon refuses; the systemd
	// unit does not restart on it (RestartPreventExitStatus=2).
	exitConfig = exitError(2)
	// startupTimeout bounds the calls made before quoting starts (clock, instruments…).
	startupTimeout = 30 * time.Second
	clockResync    = time.Minute
)

// RunCommand runs the daemon until SIGINT, SIGTERM or SIGHUP.
type RunCommand struct {
	Main *Main
}

func (c *RunCommand) Usage() string {
	return `Usage: mmd run [--config FILE] [--strategies DIR]

Runs the market-making daemon until SIGINT, SIGTERM or SIGHUP, which cancels every order it has out,
waits for the exchange to confirm and exits 0 (a second signal exits at once). SIGUSR1
re-arms the strategies a loss limit has halted.

Without --config, and when ` + defaultConfigPath + ` does not exist, it paper-trades: it starts
the built-in simulated exchange in-process and loads the strategies in --strategies. An
explicit --strategies always paper-trades, even where ` + defaultConfigPath + ` exists.

Flags:
  --config FILE      daemon file (default ` + defaultConfigPath + `)
  --strategies DIR   paper-trade with this strategy directory, reading no daemon file
                     (default deploy/strategies; not with --config)
`
}

func (c *RunCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "")
	strategiesDir := fs.String("strategies", "deploy/strategies", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Errorf("%w\n%s", err, c.Usage())}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), c.Usage())}
	}

	strategiesSet := false
	fs.Visit(func(f *flag.Flag) { strategiesSet = strategiesSet || f.Name == "strategies" })
	if strategiesSet && *configPath != "" {
		return badConfig{errors.New("--strategies is for paper trading without a daemon file; with --config the daemon file's strategies key names the folder")}
	}
	cfg, err := loadRunConfig(*configPath, *strategiesDir, strategiesSet)
	if err != nil {
		fmt.Fprintln(c.Main.Stderr, err)
		return exitConfig
	}
	log, err := newLogger(cfg.Log.Level, c.Main.Stdout)
	if err != nil {
		fmt.Fprintln(c.Main.Stderr, err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()

	d := &daemon{cfg: cfg, log: log, env: os.Getenv}
	return d.run(ctx)
}

// loadRunConfig reads the daemon file; with no --config and no file at the default place, or
// with an explicit --strategies, it paper-trades against the embedded simulator (an explicit
// --strategies never picks up a live daemon file by surprise).
func loadRunConfig(path, strategiesDir string, paper bool) (*config.Config, error) {
	reg := registry.Builtin()
	if path != "" {
		return config.Load(path, reg, os.Getenv)
	}
	if _, err := os.Stat(defaultConfigPath); err == nil && !paper {
		return config.Load(defaultConfigPath, reg, os.Getenv)
	}
	return config.LoadDefault(strategiesDir, reg, os.Getenv)
}

// newLogger builds the JSON logger for stdout (journald under systemd). msg carries the
// stable event name documented in README.md.
func newLogger(level string, out io.Writer) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log.level %q: %w", level, err)
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), lvl)
	return zap.New(core), nil
}

// daemon is one run of mmd: wiring of simulator (paper trading), client, gate, stream and
// engine, and their orderly shutdown.
type daemon struct {
	cfg   *config.Config
	log   *zap.Logger
	env   func(string) string
	ready func(*daemon)
	// simConfig, if set, adjusts the embedded simulator's configuration (tests and
	// benchmarks use it for a faster or manually driven market).
	simConfig func(*hashkeysim.Config)
	// orderWritten, if set, is told when each insert or cancel has been written out
	// (the tick-to-order benchmark's end point).
	orderWritten func(op string, at time.Time)
	// signalled, if set, is closed once the SIGUSR1 handler is installed (tests).
	signalled chan struct{}

	sim    *hashkeysim.Server // nil unless paper trading
	client *hashkey.Client
	engine *engine.Engine
}

func (d *daemon) run(ctx context.Context) error {
	// SIGUSR1 is caught from the start: the Go runtime otherwise ignores it, and a re-arm
	// the operator sent while the daemon was still starting would be lost without a trace.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	hcfg, err := d.exchangeConfig()
	if err != nil {
		return err
	}
	if d.sim != nil {
		defer d.sim.Close()
	}
	d.client, err = hashkey.NewClient(hcfg)
	if err != nil {
		return fmt.Errorf("exchange client: %w", err)
	}

	instruments, err := d.startup(ctx)
	if err != nil {
		return refusedByExchange(err)
	}
	if err := d.checkInstruments(instruments); err != nil {
		return badConfig{err}
	}

	gate, err := risk.NewGate(risk.Config{Sender: d.client, Clock: time.Now, Logger: d.log})
	if err != nil {
		return fmt.Errorf("risk gate: %w", err)
	}
	var instances []engine.Instance
	var subscribed []exchange.Instrument
	seen := map[string]bool{}
	for _, s := range d.cfg.Strategies {
		if !s.Enabled {
			d.log.Info("strategy_disabled", zap.String("strategy", s.Name), zap.String("file", s.File))
			continue
		}
		inst := instruments[s.Instrument] // listed: checkInstruments
		if err := gate.Register(s.Name, inst, s.Limits); err != nil {
			return fmt.Errorf("strategy %s: %w", s.Name, err)
		}
		instances = append(instances, engine.Instance{Name: s.Name, Instrument: inst, Strategy: s.Impl})
		if !seen[inst.ID] {
			seen[inst.ID] = true
			subscribed = append(subscribed, inst)
		}
	}
	if len(instances) == 0 {
		return badConfig{fmt.Errorf("no enabled strategies in %s", d.cfg.StrategiesDir)}
	}

	stream := d.client.NewStream(hashkey.StreamConfig{
		Instruments: subscribed,
		Depth:       d.cfg.Exchange.Depth,
		Trades:      true,
		Private:     true,
	})
	d.engine, err = engine.New(engine.Config{
		Gate:            gate,
		Account:         d.client,
		Events:          stream.Events(),
		ClockOffset:     d.client.ClockOffset,
		Strategies:      instances,
		IDs:             engine.NewLocalIDs(0, time.Now),
		Clock:           time.Now,
		Logger:          d.log,
		ShutdownTimeout: d.cfg.Shutdown.Timeout,
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}

	// The stream and the clock sync outlive the engine's context: during shutdown the engine
	// still needs the private stream to see its cancels confirmed.
	bg, stopBackground := context.WithCancel(context.Background())
	streamDone := make(chan error, 1)
	clockDone := make(chan struct{})
	rearmDone := make(chan struct{})
	go func() { streamDone <- stream.Run(bg) }()
	go func() { defer close(clockDone); d.client.RunClockSync(bg, clockResync) }()
	go func() { defer close(rearmDone); d.rearmOnSignal(bg, gate, usr1) }()
	defer func() {
		stopBackground()
		<-clockDone
		<-rearmDone
		if err := <-streamDone; err != nil {
			d.log.Warn("stream_stopped", zap.Error(err))
		}
	}()

	d.log.Info("daemon_started",
		zap.String("version", version),
		zap.String("config", d.cfg.Path), // empty when paper trading without a daemon file
		zap.String("strategies_dir", d.cfg.StrategiesDir),
		zap.String("environment", d.cfg.Exchange.Environment),
		zap.Int("strategies", len(instances)),
		zap.Bool("paper_trading", d.sim != nil))
	if d.ready != nil {
		d.ready(d) // tests only; must not block
	}
	return refusedByExchange(d.engine.Run(ctx))
}

// checkInstruments refuses what validate --online refuses for the enabled strategies: an
// instrument the exchange does not list, or a size finer than its volume precision, which
// would otherwise be rounded down silently when quoting (to nothing, below one lot).
func (d *daemon) checkInstruments(byID map[string]exchange.Instrument) error {
	enabled := *d.cfg
	enabled.Strategies = nil
	for _, s := range d.cfg.Strategies {
		if s.Enabled {
			enabled.Strategies = append(enabled.Strategies, s)
		}
	}
	return enabled.CheckInstruments(slices.Collect(maps.Values(byID)))
}

// refusedByExchange makes an error caused by the exchange refusing the credentials or the
// account (a wrong secret, an unknown or blacklisted key, a locked account, an unknown
// instrument) a refused configuration: exit status 2, which systemd does not restart on.
// Restarting every few seconds with a bad signature would fix nothing and only hammer the
// exchange.
func refusedByExchange(err error) error {
	var apiErr *hashkey.APIError
	if errors.As(err, &apiErr) && apiErr.Class() == hashkey.ClassFatal {
		return badConfig{err}
	}
	return err
}

// rearmOnSignal re-arms the strategies a loss limit has halted each time the process gets
// SIGUSR1 (`systemctl kill -s USR1 mmd`): the manual re-arm after a halt, without a restart
// that would also forget the day's PnL.
func (d *daemon) rearmOnSignal(ctx context.Context, gate *risk.Gate, sig <-chan os.Signal) {
	if d.signalled != nil {
		close(d.signalled) // tests: the handler is installed
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			d.log.Warn("rearm_requested", zap.Strings("rearmed", gate.RearmHalted()))
		}
	}
}

// adapterConfig is the adapter's configuration as the daemon file's exchange section gives
// it; credentials, logger and hooks are the caller's.
func adapterConfig(x config.Exchange) hashkey.Config {
	return hashkey.Config{
		Environment:  hashkey.Environment(x.Environment),
		RESTURL:      x.RESTURL,
		WSURL:        x.WSURL,
		DialAddress:  x.DialAddress,
		LocalAddress: x.LocalAddress,
		RateMargin:   x.RateMargin,
	}
}

// exchangeConfig builds the adapter's configuration, starting the embedded simulator first
// when the environment is "sim".
func (d *daemon) exchangeConfig() (hashkey.Config, error) {
	x := d.cfg.Exchange
	hcfg := adapterConfig(x)
	hcfg.Logger = d.log.Named("hashkey")
	hcfg.OrderWritten = d.orderWritten
	if !x.Sim() {
		creds, err := d.cfg.Credentials(d.env)
		if err != nil {
			return hcfg, badConfig{err}
		}
		hcfg.Credentials = creds
		return hcfg, nil
	}

	scfg := hashkeysim.Config{
		Seed:         d.cfg.Sim.Seed,
		TickInterval: d.cfg.Sim.Tick,
		Volatility:   simVolatility(decimal.NewFromFloat(d.cfg.Sim.Volatility)),
		Logger:       d.log.Named("sim").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)),
	}
	if x.Signing != "" {
		scfg.Signing = x.Signing
	}
	if d.simConfig != nil {
		d.simConfig(&scfg)
	}
	sim, err := hashkeysim.New(scfg)
	if err != nil {
		return hcfg, fmt.Errorf("simulator: %w", err)
	}
	if err := sim.Start(); err != nil {
		return hcfg, fmt.Errorf("simulator: %w", err)
	}
	d.sim = sim
	hcfg.Environment = "sim"
	hcfg.RESTURL, hcfg.WSURL = sim.RESTURL(), sim.WSURL()
	hcfg.Credentials = simCredentials(sim, x.Signing)
	d.log.Info("paper_trading", zap.String("rest_url", sim.RESTURL()), zap.String("ws_url", sim.WSURL()))
	return hcfg, nil
}

// simCredentials are the credentials of the simulator's first (demo) account.
func simCredentials(sim *hashkeysim.Server, signing string) hashkey.Credentials {
	acct := sim.Accounts()[0]
	return hashkey.Credentials{
		APIKey:   acct.APIKey,
		AuthType: hashkey.AuthType(acct.AuthType),
		Secret:   hashkey.NewSecret(acct.Secret),
		Scheme:   hashkey.Scheme(signing),
	}
}

// startup syncs the clock and reads the reference data quoting depends on. Every call here
// is a query; a failure stops the daemon before it has placed anything.
func (d *daemon) startup(ctx context.Context) (map[string]exchange.Instrument, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := d.client.SyncClock(ctx); err != nil {
		return nil, fmt.Errorf("clock sync: %w", err)
	}
	if _, err := d.client.RateLimits(ctx); err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	list, err := d.client.Instruments(ctx)
	if err != nil {
		return nil, fmt.Errorf("instruments: %w", err)
	}
	byID := make(map[string]exchange.Instrument, len(list))
	for _, i := range list {
		byID[i.ID] = i
	}
	offset, _ := d.client.ClockOffset()
	d.log.Info("exchange_ready", zap.Int("instruments", len(list)), zap.Duration("clock_offset", offset))
	return byID, nil
}
