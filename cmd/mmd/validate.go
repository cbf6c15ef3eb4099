package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/config"
	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/strategy/registry"
)

// onlineTimeout bounds the exchange calls of validate --online.
const onlineTimeout = 30 * time.Second

// ValidateCommand checks the daemon file, the strategy files and the API secret, and with
// --online also the instruments on the exchange. It prints one line per problem
// ("file:line: key: message") and never a secret.
type ValidateCommand struct {
	Main *Main
	// Getenv looks up ${VAR}s, the secret's environment variable and $CREDENTIALS_DIRECTORY;
	// nil means os.Getenv.
	Getenv func(string) string
}

func (c *ValidateCommand) Usage() string {
	return `Usage: mmd validate [--config FILE] [--online]

Checks the daemon file, every strategy file in its strategies directory and the API secret,
and prints each problem as "file:line: key: message". Exits 1 if there is any problem;
prints "ok: N strategies" otherwise. It never prints the secret.

Flags:
  --config FILE   daemon file (default ` + config.DefaultPath + `)
  --online        also connect to the configured environment (or start the embedded
                  simulator for environment sim) and check that each strategy's instrument
                  is listed and its sizes fit the instrument's precision
`
}

func (c *ValidateCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Main prints the error, and Usage for -h
	path := fs.String("config", config.DefaultPath, "daemon file")
	online := fs.Bool("online", false, "also check the strategies against the exchange's instruments")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), c.Usage())}
	}
	env := c.Getenv
	if env == nil {
		env = os.Getenv
	}

	out := &scrubber{w: c.Main.Stdout}
	cfg, err := config.Load(*path, registry.Builtin(), env)
	if err != nil {
		return c.report(out, err)
	}
	creds, err := cfg.Credentials(env)
	switch {
	case errors.Is(err, config.ErrNoCredentials):
	case err != nil:
		return c.report(out, err)
	default:
		out.secret = creds.Secret.Reveal()
	}
	where := ""
	if *online {
		list, err := listInstruments(ctx, cfg, creds)
		if err != nil {
			return c.report(out, config.Problem{File: cfg.Path, Key: "exchange", Msg: err.Error()})
		}
		if err := cfg.CheckInstruments(list); err != nil {
			return c.report(out, err)
		}
		where = ", checked against the instruments of " + onlineTarget(cfg.Exchange)
	}
	disabled := 0
	for _, s := range cfg.Strategies {
		if !s.Enabled {
			disabled++
		}
	}
	if disabled == len(cfg.Strategies) {
		// mmd run refuses to start with nothing to run: say so now, not at the deploy.
		return c.report(out, config.Problem{File: cfg.Path, Key: "strategies",
			Msg: fmt.Sprintf("no enabled strategy in %s (mmd run would refuse to start)", cfg.StrategiesDir)})
	}
	if disabled > 0 {
		where = fmt.Sprintf(" (%d disabled)%s", disabled, where)
	}
	fmt.Fprintf(out, "ok: %d strategies%s\n", len(cfg.Strategies), where)
	return nil
}

// report prints err's problems one per line and returns the "problems found" exit status.
func (c *ValidateCommand) report(out io.Writer, err error) error {
	var ps *config.Problems
	if errors.As(err, &ps) {
		for _, p := range *ps {
			fmt.Fprintln(out, p.Error())
		}
	} else {
		fmt.Fprintln(out, err.Error())
	}
	return exitError(1)
}

// listInstruments asks the configured exchange — or a freshly started embedded simulator
// for environment sim — for its instruments.
func listInstruments(ctx context.Context, cfg *config.Config, creds hashkey.Credentials) ([]exchange.Instrument, error) {
	ctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	x := cfg.Exchange
	hcfg := adapterConfig(x)
	hcfg.Credentials = creds
	if x.Sim() {
		// Manual: the market need not move to list instruments.
		sim, err := hashkeysim.New(hashkeysim.Config{Seed: cfg.Sim.Seed, Manual: true, Signing: x.Signing,
			Volatility: decimal.NewFromFloat(cfg.Sim.Volatility)})
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		if err := sim.Start(); err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		defer sim.Close()
		hcfg.RESTURL, hcfg.WSURL = sim.RESTURL(), sim.WSURL()
		hcfg.Credentials = simCredentials(sim, x.Signing)
	}
	client, err := hashkey.NewClient(hcfg)
	if err != nil {
		return nil, err
	}
	list, err := client.Instruments(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing instruments on %s: %w", onlineTarget(x), err)
	}
	return list, nil
}

// onlineTarget names the exchange listInstruments asks, as the operator should read it:
// with restURL set that is the URL, not the environment's own exchange (it may well be a
// simulator on loopback), and with dialAddress set the connection goes there.
func onlineTarget(x config.Exchange) string {
	if x.Sim() {
		return "the embedded simulator"
	}
	s := x.Environment
	if x.RESTURL != "" {
		s = fmt.Sprintf("%s (restURL override of %s)", x.RESTURL, x.Environment)
	}
	if x.DialAddress != "" {
		s += " via " + x.DialAddress
	}
	return s
}

// scrubber is the last line of defence behind the config package's own care: whatever
// validate prints passes through it, and the secret, once read, is replaced wherever it
// would appear. A secret of a few characters is no secret, and replacing it would garble
// every word that contains it, so those are left alone.
type scrubber struct {
	w      io.Writer
	secret string
}

const minScrubbed = 6

func (s *scrubber) Write(p []byte) (int, error) {
	if len(s.secret) < minScrubbed || !strings.Contains(string(p), s.secret) {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, strings.ReplaceAll(string(p), s.secret, "[redacted]")); err != nil {
		return 0, err
	}
	return len(p), nil
}
