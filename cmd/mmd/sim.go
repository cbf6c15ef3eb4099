package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// SimCommand runs the simulated HashKey Pro exchange until interrupted.
type SimCommand struct{ Main *Main }

func (c *SimCommand) Usage() string {
	return `Usage: mmd sim [flags]

Runs a simulated HashKey Pro exchange on one local port: REST under /APITrade/v1/…, WebSocket
at /APITradeWS/v1/messages. Any HashKey Pro client works against it unchanged. It prints the
REST and WebSocket URLs and, without --accounts, a throwaway demo HMAC key and secret.
Logs (JSON) go to stderr.

Flags:
  --listen ADDR         listen address (default 127.0.0.1:8790)
  --accounts FILE       accounts file (YAML); default: one generated demo HMAC account
  --signing REV         v4.3 (default), v4.2 or any
  --seed N              market randomness (default 1)
  --tick D              market step period (default 500ms)
  --volatility BPS      per-step std-dev of the fair value in bps (default 2)
  --idle-timeout D      drop a WebSocket connection silent this long (default 60s)
  --log-level LEVEL     debug, info, warn or error (default info)

Faults:
  --latency D           delay every REST answer and WebSocket message
  --drop-every D        close every WebSocket connection every D
  --fail-rate P         answer this fraction of signed REST calls with HTTP 503 (processed, answer lost)
  --fail-1005 N         answer the first N signed REST calls with 1005 (not processed)
  --query-limit N       enforce N query calls/s per key (the published limit stays 10)
  --order-limit N       enforce N order calls/s per key (the published limit stays 300)
  --private-delay D     hold private messages back by D
  --private-duplicate   send every private message twice
  --private-reorder     swap consecutive private messages
  --freeze-public       publish no book updates or trades (stale market data)
  --clock-skew D        shift the exchange clock by D (e.g. -45s)
  --maintenance         refuse inserts with 2007
  --quirks              trailing-space keys and second timestamps, as in the exchange's examples
`
}

// simFlags are the parsed flags.
type simFlags struct {
	listen, accounts, signing, volatility, logLevel string
	seed                                            int64
	tick, idle                                      time.Duration
	latency, dropEvery, privDelay, skew             time.Duration
	failRate                                        float64
	fail1005, queryLimit, orderLimit                int
	privDup, privReorder, freeze, maint, quirks     bool
}

func (c *SimCommand) parse(args []string) (simFlags, error) {
	var f simFlags
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Main prints the error, and Usage for -h
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8790", "")
	fs.StringVar(&f.accounts, "accounts", "", "")
	fs.StringVar(&f.signing, "signing", "v4.3", "")
	fs.Int64Var(&f.seed, "seed", 1, "")
	fs.DurationVar(&f.tick, "tick", 500*time.Millisecond, "")
	fs.StringVar(&f.volatility, "volatility", "2", "")
	fs.DurationVar(&f.idle, "idle-timeout", 60*time.Second, "")
	fs.StringVar(&f.logLevel, "log-level", "info", "")
	fs.DurationVar(&f.latency, "latency", 0, "")
	fs.DurationVar(&f.dropEvery, "drop-every", 0, "")
	fs.Float64Var(&f.failRate, "fail-rate", 0, "")
	fs.IntVar(&f.fail1005, "fail-1005", 0, "")
	fs.IntVar(&f.queryLimit, "query-limit", 0, "")
	fs.IntVar(&f.orderLimit, "order-limit", 0, "")
	fs.DurationVar(&f.privDelay, "private-delay", 0, "")
	fs.BoolVar(&f.privDup, "private-duplicate", false, "")
	fs.BoolVar(&f.privReorder, "private-reorder", false, "")
	fs.BoolVar(&f.freeze, "freeze-public", false, "")
	fs.DurationVar(&f.skew, "clock-skew", 0, "")
	fs.BoolVar(&f.maint, "maintenance", false, "")
	fs.BoolVar(&f.quirks, "quirks", false, "")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case f.signing != "v4.3" && f.signing != "v4.2" && f.signing != "any":
		return f, fmt.Errorf("--signing %q: want v4.3, v4.2 or any", f.signing)
	case f.tick <= 0:
		return f, fmt.Errorf("--tick %v: must be positive", f.tick)
	case f.idle <= 0:
		return f, fmt.Errorf("--idle-timeout %v: must be positive", f.idle)
	case f.latency < 0 || f.dropEvery < 0 || f.privDelay < 0:
		return f, errors.New("--latency, --drop-every and --private-delay must not be negative")
	case f.failRate < 0 || f.failRate > 1:
		return f, fmt.Errorf("--fail-rate %g: want a fraction from 0 to 1", f.failRate)
	case f.fail1005 < 0 || f.queryLimit < 0 || f.orderLimit < 0:
		return f, errors.New("--fail-1005, --query-limit and --order-limit must not be negative")
	}
	return f, nil
}

func (c *SimCommand) Run(ctx context.Context, args []string) error {
	f, err := c.parse(args)
	if err != nil {
		return usageError{err}
	}
	vol, err := decimal.NewFromString(f.volatility)
	if err != nil || vol.IsNegative() {
		return usageError{fmt.Errorf("--volatility %q: want a non-negative number of bps", f.volatility)}
	}
	log, err := newLogger(f.logLevel, c.Main.Stderr)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	cfg := hashkeysim.Config{
		Listen:       f.listen,
		Signing:      f.signing,
		Seed:         f.seed,
		TickInterval: f.tick,
		Volatility:   simVolatility(vol),
		IdleTimeout:  f.idle,
		Logger:       log,
	}
	if f.accounts != "" {
		if cfg.Accounts, cfg.Instruments, err = hashkeysim.LoadAccountsFile(f.accounts); err != nil {
			return err
		}
	}
	sim, err := hashkeysim.New(cfg)
	if err != nil {
		return err
	}
	applyFaults(sim.Faults(), f)
	if err := sim.Start(); err != nil {
		return err
	}
	out := c.Main.Stdout
	fmt.Fprintf(out, "rest_url: %s\nws_url: %s\n", sim.RESTURL(), sim.WSURL())
	if f.accounts == "" {
		// The simulator's own throwaway demo credentials, generated at random for this run and
		// worthless anywhere else: printing them is how a user paper-trades against it.
		a := sim.Accounts()[0]
		fmt.Fprintf(out, "api_key: %s\nauth_type: %s\nsecret: %s\n", a.APIKey, a.AuthType, a.Secret)
	} else {
		keys := make([]string, 0, len(cfg.Accounts))
		for _, a := range cfg.Accounts {
			keys = append(keys, a.APIKey+" ("+a.AuthType+")")
		}
		fmt.Fprintf(out, "accounts: %s\n", strings.Join(keys, ", "))
	}

	var wg sync.WaitGroup
	if f.dropEvery > 0 {
		wg.Go(func() {
			t := time.NewTicker(f.dropEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					sim.Faults().DropConnections()
				}
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	log.Info("sim_shutdown", zap.String("reason", context.Cause(ctx).Error()))
	return sim.Close()
}

func applyFaults(x *hashkeysim.Faults, f simFlags) {
	if f.latency > 0 {
		x.Latency(f.latency)
	}
	if f.failRate > 0 {
		x.REST5xx(f.failRate, 0)
	}
	if f.fail1005 > 0 {
		x.REST1005(f.fail1005)
	}
	if f.queryLimit > 0 || f.orderLimit > 0 {
		x.TightenRateLimits(f.queryLimit, f.orderLimit)
	}
	if f.privDelay > 0 {
		x.PrivateDelay(f.privDelay)
	}
	if f.privDup {
		x.PrivateDuplicate(true)
	}
	if f.privReorder {
		x.PrivateReorder(true)
	}
	if f.freeze {
		x.FreezePublic(true)
	}
	if f.skew != 0 {
		x.ClockSkew(f.skew)
	}
	if f.maint {
		x.Maintenance(true)
	}
	if f.quirks {
		x.Quirks(true)
	}
}

// simVolatility passes a volatility to the simulator, whose zero means its default (2 bps):
// a configured 0 means a market that holds still, which a tiny value gives.
func simVolatility(bps decimal.Decimal) decimal.Decimal {
	if bps.IsZero() {
		return decimal.New(1, -12)
	}
	return bps
}
