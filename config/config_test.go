package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
	"github.com/mmd-dev/mmd/strategy/ladder"
	"github.com/mmd-dev/mmd/strategy/registry"
)

// probeParams exercises every shape the strict decoder walks: nested structs, pointers,
// lists, maps, durations, decimals and an inline struct.
type probeParams struct {
	Size     decimal.Decimal          `yaml:"size"`
	MaxPrice decimal.Decimal          `yaml:"maxPrice"`
	Nested   probeNested              `yaml:"nested"`
	List     []decimal.Decimal        `yaml:"list"`
	Waits    map[string]time.Duration `yaml:"waits"`
	Limit    *int                     `yaml:"limit"`
	Flag     bool                     `yaml:"flag"`
	Inlined  probeInline              `yaml:",inline"`
	NoTag    string
}

type probeNested struct {
	Count int             `yaml:"count"`
	Price decimal.Decimal `yaml:"price"`
}

type probeInline struct {
	Extra string `yaml:"extra"`
}

type probeStrategy struct{ p probeParams }

func (probeStrategy) Quote(strategy.View) strategy.Wanted { return strategy.Wanted{} }

func testRegistry() map[string]strategy.Factory {
	reg := registry.Builtin()
	reg["plain"] = func(func(any) error) (strategy.Strategy, error) { return probeStrategy{}, nil }
	reg["probe"] = func(decode func(any) error) (strategy.Strategy, error) {
		var p probeParams
		if err := decode(&p); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		if p.Nested.Count < 0 {
			return nil, errors.New("probe: count: must not be negative")
		}
		if p.Limit != nil && *p.Limit < 0 {
			return nil, errors.New("probe: limit: must not be negative")
		}
		return &probeStrategy{p: p}, nil
	}
	return reg
}

// fixture writes a daemon file (mmd.yaml) and strategy files (strategies/NAME) into a
// fresh directory and returns the daemon file's path.
func fixture(t *testing.T, daemon string, strategies map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "strategies"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mmd.yaml")
	write(t, path, daemon)
	for name, body := range strategies {
		write(t, filepath.Join(dir, "strategies", name), body)
	}
	return path
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// at is where a problem must be: file base name, line, key, and a piece of its message, or,
// written "=message", the whole message.
type at struct {
	file string
	line int
	key  string
	msg  string
}

func (a at) String() string { return fmt.Sprintf("%s:%d: %s: …%s…", a.file, a.line, a.key, a.msg) }

func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, want *Problems: %v", err, err)
	}
	return *ps
}

func checkProblems(t *testing.T, got Problems, want []at) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got[i], want[i]
		ok = filepath.Base(g.File) == w.file && g.Line == w.line && g.Key == w.key && matchMsg(g.Msg, w.msg)
	}
	if !ok {
		t.Errorf("problems:\n%v\nwant:\n%v", got, want)
	}
}

func matchMsg(got, want string) bool {
	if exact, ok := strings.CutPrefix(want, "="); ok {
		return got == exact
	}
	return strings.Contains(got, want)
}

const simDaemon = "exchange:\n  environment: sim\nstrategies: strategies\n"

const goodLadder = `name: eth-btc
type: ladder
instrument: ETH-BTC
params:
  levels: 3
  spreadBps: 20
  stepBps: 10
  size: "0.01"
  sizeStep: 0.005
  reference: mid
  toleranceBps: 5
  minRefresh: 2s
risk:
  maxOpenOrders: 6
  maxOrderNotional: {BTC: 0.01}
`

func TestLoadDaemonFile(t *testing.T) {
	env := envOf(map[string]string{"MMD_API_KEY": "key-1", "DEPTH": "50", "MARGIN": "0.5", "MMD_EMPTY": ""})
	tests := []struct {
		name   string
		daemon string
		want   []at
	}{
		{"minimal sim", simDaemon, nil},
		{"only exchange: strategies default beside the file", "exchange:\n  environment: sim\n", nil},
		{"full production", `exchange:
  environment: production
  restURL: https://pro.example.com/APITrade
  wsURL: wss://pro.example.com/APITradeWS/v1/messages
  dialAddress: 45.249.244.103:443
  localAddress: 127.0.0.1
  apiKey: ${MMD_API_KEY}
  authType: PUB-PRIV
  secretEnv: MMD_SECRET
  signing: v4.2
  rateMargin: ${MARGIN}
  depth: ${DEPTH}
strategies: strategies
risk:
  priceBandBps: "150"
  maxOpenOrders: 4
  rejectBackoff: 2s
log: {level: debug}
shutdown: {timeout: 30s}
`, nil},
		{"unknown top-level key", "exchange:\n  environment: sim\nstrategy: strategies\n",
			[]at{{"mmd.yaml", 3, "strategy", "want one of: exchange, log, risk, shutdown, sim, strategies"}}},
		{"unknown nested key, case typo", "exchange:\n  environment: sim\n  restUrl: x\n",
			[]at{{"mmd.yaml", 3, "exchange.restUrl", `did you mean "restURL"`}}},
		{"unknown key far from any", "exchange:\n  environment: sim\n  colour: red\n",
			[]at{{"mmd.yaml", 3, "exchange.colour", "want one of: apiKey, authType"}}},
		{"wrong type", "exchange:\n  environment: sim\n  depth: twenty\n",
			[]at{{"mmd.yaml", 3, "exchange.depth", `want a whole number, got "twenty"`}}},
		{"quoted number", "exchange:\n  environment: sim\n  depth: \"20\"\n",
			[]at{{"mmd.yaml", 3, "exchange.depth", `=want a whole number, got the quoted text "20" (whole numbers go without quotes)`}}},
		{"mapping where a value goes", "exchange:\n  environment: sim\n  depth: {a: 1}\n",
			[]at{{"mmd.yaml", 3, "exchange.depth", "got a mapping"}}},
		{"value where a mapping goes", "exchange: sim\n",
			[]at{{"mmd.yaml", 1, "exchange", `want a mapping of keys, got "sim"`},
				{"mmd.yaml", 1, "exchange.environment", "required"}}},
		{"empty value for a number", "exchange:\n  environment: sim\n  depth:\n",
			[]at{{"mmd.yaml", 3, "exchange.depth", "no value given"}}},
		{"missing environment", "exchange:\n  depth: 10\n",
			[]at{{"mmd.yaml", 1, "exchange.environment", "required"}}},
		{"empty file", "",
			[]at{{"mmd.yaml", 1, "exchange.environment", "required"}}},
		{"duplicate key", "exchange:\n  environment: sim\n  depth: 5\n  depth: 10\n",
			[]at{{"mmd.yaml", 4, "exchange.depth", "already set at line 3"}}},
		{"bad decimal", "exchange:\n  environment: sim\nrisk:\n  priceBandBps: abc\n",
			[]at{{"mmd.yaml", 4, "risk.priceBandBps", `want a decimal number such as 0.05, got "abc"`}}},
		{"bad decimal in an asset map", "exchange:\n  environment: sim\nrisk:\n  maxPosition:\n    ETH: 1\n    BTC: 0.1.2\n",
			[]at{{"mmd.yaml", 6, "risk.maxPosition.BTC", "want a decimal number"}}},
		{"bad duration", "exchange:\n  environment: sim\nshutdown:\n  timeout: 10 sec\n",
			[]at{{"mmd.yaml", 4, "shutdown.timeout", `want a duration such as 500ms, 10s or 1m30s, got "10 sec"`}}},
		{"duration without unit", "exchange:\n  environment: sim\nshutdown:\n  timeout: 10\n",
			[]at{{"mmd.yaml", 4, "shutdown.timeout", "want a duration"}}},
		{"limit out of range", "exchange:\n  environment: sim\nrisk:\n  maxOpenOrders: 0\n  reduceAt: 1.5\n",
			[]at{{"mmd.yaml", 4, "risk.maxOpenOrders", "must be at least 1 (got 0)"},
				{"mmd.yaml", 5, "risk.reduceAt", "must be at most 1"}}},
		{"missing variable", "exchange:\n  environment: sim\n  apiKey: ${NOPE}\n  depth: ${ALSO_NOPE}\n",
			[]at{{"mmd.yaml", 3, "exchange.apiKey", "=environment variable NOPE is not set or is empty"},
				{"mmd.yaml", 4, "exchange.depth", "=environment variable ALSO_NOPE is not set or is empty"}}},
		{"empty variable", "exchange:\n  environment: sim\n  apiKey: ${MMD_EMPTY}\n",
			[]at{{"mmd.yaml", 3, "exchange.apiKey", "=environment variable MMD_EMPTY is not set or is empty"}}},
		{"bad variable syntax", "exchange:\n  environment: sim\n  apiKey: ${1X}\n  wsURL: ${OPEN\n",
			[]at{{"mmd.yaml", 3, "exchange.apiKey", `bad variable name "1X"`},
				{"mmd.yaml", 4, "exchange.wsURL", "unterminated"}}},
		{"expanded value of the wrong type names the variable, not the value", "exchange:\n  environment: sim\n  rateMargin: ${MMD_API_KEY}\n",
			[]at{{"mmd.yaml", 3, "exchange.rateMargin", `"${MMD_API_KEY}" (after expanding variables)`}}},
		{"syntax error", "exchange:\n  environment: sim\n   depth: 5\n",
			[]at{{"mmd.yaml", 3, "", "YAML syntax"}}},
		{"two documents", "exchange:\n  environment: sim\n---\nexchange: {}\n",
			[]at{{"mmd.yaml", 3, "", "more than one YAML document"}}},
		{"top level is a list", "- a\n- b\n",
			[]at{{"mmd.yaml", 1, "", "want a mapping of keys at the top"}}},
		{"bad enumerations", `exchange:
  environment: test
  authType: RSA
  signing: v5
  depth: 7
  rateMargin: 1.5
log:
  level: verbose
`, []at{
			{"mmd.yaml", 2, "exchange.environment", `unknown environment "test"`},
			{"mmd.yaml", 3, "exchange.authType", `unknown auth type "RSA"`},
			{"mmd.yaml", 4, "exchange.signing", `unknown signing revision "v5"`},
			{"mmd.yaml", 5, "exchange.depth", "must be 5, 10, 20 or 50, got 7"},
			{"mmd.yaml", 6, "exchange.rateMargin", "must be above 0 and at most 1"},
			{"mmd.yaml", 8, "log.level", `unknown level "verbose"`},
		}},
		{"production needs key and secret", "exchange:\n  environment: staging\n",
			[]at{{"mmd.yaml", 1, "exchange.apiKey", "required unless environment is sim"},
				{"mmd.yaml", 1, "exchange", "a secret source is required"}}},
		{"two secret sources", "exchange:\n  environment: staging\n  apiKey: k\n  secretFile: s\n  secretEnv: S\n",
			[]at{{"mmd.yaml", 5, "exchange.secretEnv", "not both"}}},
		{"sim with half the credentials", "exchange:\n  environment: sim\n  apiKey: k\n",
			[]at{{"mmd.yaml", 3, "exchange.apiKey", "both apiKey and a secret source, or neither"}}},
		{"bad addresses", `exchange:
  environment: staging
  apiKey: k
  secretFile: api-secret
  secretEnv: ""
  restURL: ftp://x/APITrade
  wsURL: wss:///v1/messages
  dialAddress: 45.249.244.103
  localAddress: eth0
`, []at{
			{"mmd.yaml", 6, "exchange.restURL", `"ftp://x/APITrade": want a URL starting https:// or http://`},
			{"mmd.yaml", 7, "exchange.wsURL", "has no host"},
			{"mmd.yaml", 8, "exchange.dialAddress", "want host:port"},
			{"mmd.yaml", 9, "exchange.localAddress", "want an IP address"},
		}},
		{"URL overrides are not for the simulator", "exchange:\n  environment: sim\n  restURL: http://127.0.0.1:1/APITrade\n",
			[]at{{"mmd.yaml", 3, "exchange.restURL", "not used with environment sim"}}},
		{"nor is a local address", "exchange:\n  environment: sim\n  localAddress: 127.0.0.1\n",
			[]at{{"mmd.yaml", 3, "exchange.localAddress", "=not used with environment sim; remove it"}}},
		{"local address", "exchange:\n  environment: staging\n  apiKey: k\n  secretFile: s\n  localAddress: 192.0.2.7\n", nil},
		{"bad secretEnv name", "exchange:\n  environment: staging\n  apiKey: k\n  secretEnv: MMD-SECRET\n",
			[]at{{"mmd.yaml", 4, "exchange.secretEnv", "want the name of an environment variable"}}},
		{"bad sim and shutdown", "exchange:\n  environment: sim\nshutdown: {timeout: 0s}\nsim: {tick: -1s, volatility: -2}\n",
			[]at{{"mmd.yaml", 3, "shutdown.timeout", "must be above 0"},
				{"mmd.yaml", 4, "sim.tick", "must be above 0"},
				{"mmd.yaml", 4, "sim.volatility", "must be 0 or more"}}},
		{"empty strategies directory name", "exchange:\n  environment: sim\nstrategies: \"\"\n",
			[]at{{"mmd.yaml", 3, "strategies", "must name a directory"}}},
		{"missing strategies directory", "exchange:\n  environment: sim\nstrategies: nowhere\n",
			[]at{{"mmd.yaml", 3, "strategies", "no such file or directory"}}},
		{"merge keys", `base: &base
  environment: sim
  depth: 10
exchange:
  <<: *base
  depth: 5
`, []at{{"mmd.yaml", 1, "base", "unknown key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fixture(t, tt.daemon, nil)
			c, err := Load(path, testRegistry(), env)
			checkProblems(t, problemsOf(t, err), tt.want)
			if err == nil && c == nil {
				t.Fatal("nil config without error")
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	path := fixture(t, `exchange:
  environment: staging
  apiKey: ${MMD_API_KEY}
  secretFile: api-secret
  depth: ${DEPTH}
risk:
  priceBandBps: "150.5"
  reduceAt: 0.75
  maxOrderNotional:
    BTC: "0.02"
    "*": 10
shutdown: {timeout: 1m30s}
`, map[string]string{"eth-btc.yaml": goodLadder})
	c, err := Load(path, testRegistry(), envOf(map[string]string{"MMD_API_KEY": "key-1", "DEPTH": "10"}))
	if err != nil {
		t.Fatal(err)
	}
	def := risk.DefaultLimits()
	checks := []struct {
		name      string
		got, want any
	}{
		{"path", c.Path, path},
		{"strategies dir", c.StrategiesDir, filepath.Join(filepath.Dir(path), "strategies")},
		{"apiKey expanded", c.Exchange.APIKey, "key-1"},
		{"depth expanded and typed", c.Exchange.Depth, 10},
		{"authType default", c.Exchange.AuthType, "HMAC"},
		{"signing default", c.Exchange.Signing, "v4.3"},
		{"rateMargin default", c.Exchange.RateMargin, 0.8},
		{"quoted decimal", c.Risk.PriceBandBps.String(), "150.5"},
		{"bare decimal", c.Risk.ReduceAt.String(), "0.75"},
		{"map entry set", c.Risk.MaxOrderNotional["BTC"].String(), "0.02"},
		{"map entry added", c.Risk.MaxOrderNotional["*"].String(), "10"},
		{"map entry kept from defaults", c.Risk.MaxOrderNotional["USDT"].String(), def.MaxOrderNotional["USDT"].String()},
		{"untouched limit keeps default", c.Risk.MaxOpenOrders, def.MaxOpenOrders},
		{"duration", c.Shutdown.Timeout, 90 * time.Second},
		{"log default", c.Log.Level, "info"},
		{"sim defaults", c.Sim, Sim{Seed: 1, Tick: 500 * time.Millisecond, Volatility: 2}},
		{"one strategy", len(c.Strategies), 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	s := c.Strategies[0]
	lad, ok := s.Impl.(*ladder.Ladder)
	if !ok {
		t.Fatalf("Impl is %T, want *ladder.Ladder", s.Impl)
	}
	p := lad.Params()
	stratChecks := []struct {
		name      string
		got, want any
	}{
		{"file", s.File, filepath.Join(c.StrategiesDir, "eth-btc.yaml")},
		{"name", s.Name, "eth-btc"},
		{"type", s.Type, "ladder"},
		{"instrument", s.Instrument, "ETH-BTC"},
		{"enabled by default", s.Enabled, true},
		{"levels", p.Levels, 3},
		{"quoted size", p.Size.String(), "0.01"},
		{"bare sizeStep", p.SizeStep.String(), "0.005"},
		{"duration param", p.MinRefresh, 2 * time.Second},
		{"param default kept", p.TargetBaseRatio.String(), "0.5"},
		{"risk override", s.Limits.MaxOpenOrders, 6},
		{"risk map override", s.Limits.MaxOrderNotional["BTC"].String(), "0.01"},
		{"risk map entry from the global block", s.Limits.MaxOrderNotional["*"].String(), "10"},
		{"global limits untouched by the override", c.Risk.MaxOrderNotional["BTC"].String(), "0.02"},
		{"risk inherited from global", s.Limits.PriceBandBps.String(), "150.5"},
	}
	for _, ch := range stratChecks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadStrategies(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []at
	}{
		{"good", map[string]string{"a.yaml": goodLadder}, nil},
		{"other files and dot files are ignored", map[string]string{
			"a.yaml": goodLadder, "README": "not yaml: [", ".a.yaml.swp": "x", ".hidden.yaml": "x: [",
		}, nil},
		{"disabled is still checked", map[string]string{"a.yaml": "enabled: false\n" + strings.Replace(goodLadder, "levels: 3", "levels: 0", 1)},
			[]at{{"a.yaml", 6, "params.levels", "must be between 1 and 50, got 0"}}},
		{"unknown param key", map[string]string{"a.yaml": strings.Replace(goodLadder, "stepBps: 10", "stepBp: 10", 1)},
			[]at{{"a.yaml", 7, "params.stepBp", `did you mean "stepBps"`}}},
		{"param of the wrong type", map[string]string{"a.yaml": strings.Replace(goodLadder, "levels: 3", "levels: three", 1)},
			[]at{{"a.yaml", 5, "params.levels", `want a whole number, got "three"`}}},
		{"bad decimal param", map[string]string{"a.yaml": strings.Replace(goodLadder, `size: "0.01"`, "size: abc", 1)},
			[]at{{"a.yaml", 8, "params.size", `want a decimal number such as 0.05, got "abc"`}}},
		{"bad quoted decimal param", map[string]string{"a.yaml": strings.Replace(goodLadder, `size: "0.01"`, `size: "0,01"`, 1)},
			[]at{{"a.yaml", 8, "params.size", "want a decimal number"}}},
		{"bad duration param", map[string]string{"a.yaml": strings.Replace(goodLadder, "minRefresh: 2s", "minRefresh: soon", 1)},
			[]at{{"a.yaml", 12, "params.minRefresh", "want a duration"}}},
		{"several param problems at once", map[string]string{"a.yaml": strings.NewReplacer("levels: 3", "levels: x", "spreadBps: 20", "spreadBps: y", "reference: mid", "ref: mid").Replace(goodLadder)},
			[]at{{"a.yaml", 5, "params.levels", "whole number"},
				{"a.yaml", 6, "params.spreadBps", "decimal"},
				{"a.yaml", 10, "params.ref", "unknown key"}}},
		{"param values the ladder refuses", map[string]string{"a.yaml": strings.NewReplacer("spreadBps: 20", "spreadBps: -1", "reference: mid", "reference: vwap").Replace(goodLadder)},
			[]at{{"a.yaml", 6, "params.spreadBps", "must be > 0"},
				{"a.yaml", 10, "params.reference", "must be one of"}}},
		// A required param left out is called required, at the params block (or the top of
		// the file without one); one written as 0 is not, and is placed at its own line.
		{"params missing", map[string]string{"a.yaml": "name: a\ntype: ladder\ninstrument: ETH-BTC\n"},
			[]at{{"a.yaml", 1, "params.spreadBps", "=required: must be > 0"},
				{"a.yaml", 1, "params.size", "=required: must be > 0"}}},
		{"required params missing from params", map[string]string{"a.yaml": "name: a\ntype: ladder\ninstrument: ETH-BTC\nparams:\n  levels: 2\n"},
			[]at{{"a.yaml", 4, "params.spreadBps", "=required: must be > 0"},
				{"a.yaml", 4, "params.size", "=required: must be > 0"}}},
		{"empty params", map[string]string{"a.yaml": "name: a\ntype: ladder\ninstrument: ETH-BTC\nparams:\n"},
			[]at{{"a.yaml", 4, "params.spreadBps", "=required: must be > 0"},
				{"a.yaml", 4, "params.size", "=required: must be > 0"}}},
		{"required params written as 0", map[string]string{"a.yaml": strings.NewReplacer("spreadBps: 20", "spreadBps: 0", `size: "0.01"`, "size: 0").Replace(goodLadder)},
			[]at{{"a.yaml", 6, "params.spreadBps", "=must be > 0"},
				{"a.yaml", 8, "params.size", "=must be > 0"}}},
		{"a param with a default is not called required", map[string]string{"a.yaml": "name: a\ntype: ladder\ninstrument: ETH-BTC\nparams:\n  spreadBps: 12000\n  size: 1\n  levels: 3\n"},
			[]at{{"a.yaml", 5, "params.spreadBps", "=must be < 10000 (it puts the bid at or below zero), got 12000"}}},
		{"unknown top-level key", map[string]string{"a.yaml": goodLadder + "param: {}\n"},
			[]at{{"a.yaml", 16, "param", `did you mean "params"`}}},
		{"unknown type", map[string]string{"a.yaml": strings.Replace(goodLadder, "type: ladder", "type: grid", 1)},
			[]at{{"a.yaml", 2, "type", `unknown strategy type "grid" (known: ladder, plain, probe)`}}},
		{"required keys", map[string]string{"a.yaml": "params: {}\n"},
			[]at{{"a.yaml", 1, "name", "required"},
				{"a.yaml", 1, "instrument", "required"},
				{"a.yaml", 1, "type", "required: one of ladder, plain, probe"}}},
		{"bad name and instrument", map[string]string{"a.yaml": strings.NewReplacer("name: eth-btc", "name: eth btc", "instrument: ETH-BTC", "instrument: eth/btc").Replace(goodLadder)},
			[]at{{"a.yaml", 1, "name", "use letters, digits"},
				{"a.yaml", 3, "instrument", "want BASE-QUOTE"}}},
		{"duplicate names", map[string]string{"a.yaml": goodLadder, "b.yaml": "\n" + goodLadder},
			[]at{{"b.yaml", 2, "name", `duplicate strategy name "eth-btc": also in `}}},
		{"unknown risk key", map[string]string{"a.yaml": goodLadder + "  maxOpenOrder: 3\n"},
			[]at{{"a.yaml", 16, "risk.maxOpenOrder", `did you mean "maxOpenOrders"`}}},
		{"bad risk override", map[string]string{"a.yaml": goodLadder + "  priceBandBps: 0\n"},
			[]at{{"a.yaml", 16, "risk.priceBandBps", "must be greater than 0"}}},
		{"bad risk decimal", map[string]string{"a.yaml": goodLadder + "  maxPosition: {ETH: lots}\n"},
			[]at{{"a.yaml", 16, "risk.maxPosition.ETH", "want a decimal number"}}},
		{"no limit for the instrument's assets", map[string]string{"a.yaml": strings.Replace(goodLadder, "instrument: ETH-BTC", "instrument: ABC-XYZ", 1)},
			[]at{{"a.yaml", 3, "risk.maxPosition", "no entry for ABC"},
				{"a.yaml", 3, "risk.dailyLossLimit", "no entry for XYZ"},
				{"a.yaml", 3, "risk.drawdownLimit", "no entry for XYZ"},
				{"a.yaml", 15, "risk.maxOrderNotional", "no entry for XYZ"}}},
		{"limits for new assets in the strategy file", map[string]string{"a.yaml": strings.NewReplacer("instrument: ETH-BTC", "instrument: ABC-XYZ", "{BTC: 0.01}", "{XYZ: 5}").Replace(goodLadder) +
			"  maxPosition: {'*': 1}\n  dailyLossLimit: {XYZ: 1}\n  drawdownLimit: {XYZ: 1}\n"}, nil},
		{"probe: nested shapes decode", map[string]string{"p.yaml": `name: p
type: probe
instrument: ETH-BTC
params:
  size: 1
  nested: {count: 2, price: "0.5"}
  list: [1, "2.5"]
  waits: {a: 1s, b: 2m}
  limit: 3
  flag: true
  extra: inline
  notag: x
`}, nil},
		{"probe: problems inside nested shapes", map[string]string{"p.yaml": `name: p
type: probe
instrument: ETH-BTC
params:
  nested:
    count: 2
    cost: 1
    price: x
  list: [1, y]
  waits: {a: 1s, b: forever}
  limit: many
  flag: maybe
  extra: [1]
`}, []at{
			{"p.yaml", 7, "params.nested.cost", "unknown key"},
			{"p.yaml", 8, "params.nested.price", "decimal"},
			{"p.yaml", 9, "params.list[1]", "decimal"},
			{"p.yaml", 10, "params.waits.b", "duration"},
			{"p.yaml", 11, "params.limit", "whole number"},
			{"p.yaml", 12, "params.flag", "true or false"},
			{"p.yaml", 13, "params.extra", "got a list"},
		}},
		{"probe: a factory's own error is placed at the key it names", map[string]string{"p.yaml": "name: p\ntype: probe\ninstrument: ETH-BTC\nparams:\n  size: 1\n  limit: -1\n"},
			[]at{{"p.yaml", 6, "params.limit", "must not be negative"}}},
		{"probe: an error naming no key lands on params", map[string]string{"p.yaml": "name: p\ntype: probe\ninstrument: ETH-BTC\nparams:\n  nested: {count: -1}\n"},
			[]at{{"p.yaml", 4, "params", "probe: count: must not be negative"}}},
		{"a type without params", map[string]string{"p.yaml": "name: p\ntype: plain\ninstrument: ETH-BTC\n"}, nil},
		{"a type without params given some", map[string]string{"p.yaml": "name: p\ntype: plain\ninstrument: ETH-BTC\nparams:\n  size: 1\n"},
			[]at{{"p.yaml", 4, "params", `strategy type "plain" takes no params`}}},
		{"probe: params is not a mapping", map[string]string{"p.yaml": "name: p\ntype: probe\ninstrument: ETH-BTC\nparams: [1]\n"},
			[]at{{"p.yaml", 4, "params", "want a mapping of keys, got a list"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fixture(t, simDaemon, tt.files)
			_, err := Load(path, testRegistry(), nil)
			checkProblems(t, problemsOf(t, err), tt.want)
		})
	}
}

// TestQuotedValues: a quoted value is text. Decimals, durations and text take it; whole
// numbers, numbers and true/false refuse it, and the hint to drop the quotes comes only where
// dropping them would help.
func TestQuotedValues(t *testing.T) {
	tests := []struct {
		name    string
		daemon  string // appended to simDaemon
		strat   string // appended to the probe strategy's params block
		key     string
		wantMsg string // "" when the value is accepted
	}{
		{name: "quoted duration", daemon: "shutdown: {timeout: \"10s\"}\n"},
		{name: "quoted decimal", daemon: "risk: {priceBandBps: \"150\", maxPosition: {ETH: '2.5'}}\n"},
		{name: "quoted text", daemon: "log: {level: \"debug\"}\n"},
		{name: "quoted decimal param", strat: "  size: \"0.5\"\n  list: [\"1.5\"]\n"},
		{name: "quoted duration param", strat: "  waits: {a: \"2s\"}\n"},
		{name: "quoted whole number", daemon: "sim: {seed: \"7\"}\n", key: "sim.seed",
			wantMsg: `want a whole number, got the quoted text "7" (whole numbers go without quotes)`},
		{name: "single-quoted whole number", daemon: "risk: {maxOpenOrders: '4'}\n", key: "risk.maxOpenOrders",
			wantMsg: `want a whole number, got the quoted text "4" (whole numbers go without quotes)`},
		{name: "quoted number", daemon: "exchange: {environment: sim, rateMargin: \"0.5\"}\nstrategies: strategies\n", key: "exchange.rateMargin",
			wantMsg: `want a number, got the quoted text "0.5" (numbers go without quotes)`},
		{name: "quoted whole number where a number goes", daemon: "sim: {volatility: \"3\"}\n", key: "sim.volatility",
			wantMsg: `want a number, got the quoted text "3" (numbers go without quotes)`},
		{name: "quoted true", strat: "  flag: \"true\"\n", key: "params.flag",
			wantMsg: `want true or false, got the quoted text "true" (true and false go without quotes)`},
		{name: "quoted whole number param", strat: "  limit: \"3\"\n", key: "params.limit",
			wantMsg: `want a whole number, got the quoted text "3" (whole numbers go without quotes)`},
		{name: "quoted text that is no number bare either", daemon: "sim: {seed: \"seven\"}\n", key: "sim.seed",
			wantMsg: `want a whole number, got the quoted text "seven"`},
		{name: "quoted bad duration", daemon: "shutdown: {timeout: \"10\"}\n", key: "shutdown.timeout",
			wantMsg: `want a duration such as 500ms, 10s or 1m30s, got the quoted text "10"`},
		{name: "quoted text where a mapping goes", daemon: "log: \"debug\"\n", key: "log",
			wantMsg: `want a mapping of keys, got the quoted text "debug"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			daemon := simDaemon + tt.daemon
			if strings.HasPrefix(tt.daemon, "exchange:") {
				daemon = tt.daemon
			}
			strat := "name: p\ntype: probe\ninstrument: ETH-BTC\nparams:\n" + tt.strat
			_, err := Load(fixture(t, daemon, map[string]string{"p.yaml": strat}), testRegistry(), nil)
			ps := problemsOf(t, err)
			switch {
			case tt.wantMsg == "" && len(ps) > 0:
				t.Fatalf("refused: %v", ps)
			case tt.wantMsg != "" && (len(ps) != 1 || ps[0].Key != tt.key || ps[0].Msg != tt.wantMsg):
				t.Fatalf("problems:\n%v\nwant one at %s: %s", ps, tt.key, tt.wantMsg)
			}
		})
	}
}

// TestGlobalLimitsReportedOnce: a bad global limit is the daemon file's problem alone; a
// strategy file hears of a limit only if it sets it, or if its own overrides break the
// limits merged with the global ones.
func TestGlobalLimitsReportedOnce(t *testing.T) {
	const badBand = simDaemon + "risk:\n  priceBandBps: 10000\n"
	tests := []struct {
		name   string
		daemon string
		files  map[string]string
		want   []at
	}{
		{"bad global limit, strategy risk block sets other keys", badBand,
			map[string]string{"a.yaml": goodLadder, "b.yaml": strings.Replace(goodLadder, "name: eth-btc", "name: b", 1)},
			[]at{{"mmd.yaml", 5, "risk.priceBandBps", "must be below 10000"}}},
		{"bad global limit, strategy without a risk block", badBand,
			map[string]string{"a.yaml": strings.Split(goodLadder, "risk:")[0]},
			[]at{{"mmd.yaml", 5, "risk.priceBandBps", "must be below 10000"}}},
		{"bad global limit the strategy overrides with a good one", badBand,
			map[string]string{"a.yaml": goodLadder + "  priceBandBps: 100\n"},
			[]at{{"mmd.yaml", 5, "risk.priceBandBps", "must be below 10000"}}},
		{"bad global limit the strategy sets to the same bad value", badBand,
			map[string]string{"a.yaml": goodLadder + "  priceBandBps: 10000\n"},
			[]at{{"mmd.yaml", 5, "risk.priceBandBps", "must be below 10000"},
				{"a.yaml", 16, "risk.priceBandBps", "must be below 10000"}}},
		{"bad global map entry, strategy sets another entry", simDaemon + "risk:\n  maxPosition: {ETH: -1}\n",
			map[string]string{"a.yaml": goodLadder + "  maxPosition: {BTC: 1}\n"},
			[]at{{"mmd.yaml", 5, "risk.maxPosition.ETH", "must be greater than 0"}}},
		{"good global limits the strategy's override breaks", simDaemon,
			map[string]string{"a.yaml": goodLadder + "  rejectBackoff: 2m\n"},
			[]at{{"a.yaml", 13, "risk.rejectBackoffMax", "must not be below rejectBackoff 2m0s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(fixture(t, tt.daemon, tt.files), testRegistry(), nil)
			checkProblems(t, problemsOf(t, err), tt.want)
		})
	}
}

func TestLoadDefault(t *testing.T) {
	dir := filepath.Dir(fixture(t, simDaemon, map[string]string{"a.yaml": goodLadder}))
	strategies := filepath.Join(dir, "strategies")
	tests := []struct {
		name           string
		dir            string
		wantStrategies int
		want           []at
	}{
		{"with strategies", strategies, 1, nil},
		{"without strategies", "", 0, nil},
		{"missing directory", filepath.Join(dir, "nowhere"), 0, []at{{"nowhere", 0, "", "no such file or directory"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadDefault(tt.dir, testRegistry(), nil)
			checkProblems(t, problemsOf(t, err), tt.want)
			if err != nil {
				return
			}
			if !c.Exchange.Sim() || c.Path != "" || len(c.Strategies) != tt.wantStrategies {
				t.Errorf("environment %q path %q strategies %d; want sim, no path, %d",
					c.Exchange.Environment, c.Path, len(c.Strategies), tt.wantStrategies)
			}
			if _, err := c.Credentials(nil); !errors.Is(err, ErrNoCredentials) {
				t.Errorf("Credentials: %v, want ErrNoCredentials", err)
			}
		})
	}
}

func TestCheckInstruments(t *testing.T) {
	listed := []exchange.Instrument{
		{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 3},
		{ID: "BTC-USDT", Base: "BTC", Quote: "USDT", PricePrecision: 2, VolumePrecision: 4},
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []at
	}{
		{"fits", map[string]string{"a.yaml": goodLadder}, nil},
		{"trailing zeros are fine", map[string]string{"a.yaml": strings.Replace(goodLadder, `size: "0.01"`, "size: 0.01000", 1)}, nil},
		{"not listed", map[string]string{"a.yaml": strings.Replace(goodLadder, "ETH-BTC", "ETH-USDT", 1)},
			[]at{{"a.yaml", 3, "instrument", "instrument ETH-USDT is not listed by the exchange"}}},
		{"sizes finer than the lot", map[string]string{"a.yaml": strings.NewReplacer(`size: "0.01"`, "size: 0.0105", "sizeStep: 0.005", "sizeStep: 0.0001").Replace(goodLadder)},
			[]at{{"a.yaml", 8, "params.size", "0.0105 has more decimals than ETH-BTC's volume precision of 3 (it would be rounded down to 0.01)"},
				{"a.yaml", 9, "params.sizeStep", "rounded down to 0)"}}},
		{"probe: price precision", map[string]string{"p.yaml": "name: p\ntype: probe\ninstrument: BTC-USDT\nparams:\n  size: 0.0001\n  maxPrice: 1.005\n"},
			[]at{{"p.yaml", 6, "params.maxPrice", "1.005 has more decimals than BTC-USDT's price precision of 2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(fixture(t, simDaemon, tt.files), testRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			checkProblems(t, problemsOf(t, c.CheckInstruments(listed)), tt.want)
		})
	}
}

func TestProblemFormat(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "/etc/mmd/mmd.yaml", Line: 3, Key: "exchange.depth", Msg: "bad"}, "/etc/mmd/mmd.yaml:3: exchange.depth: bad"},
		{Problem{File: "/etc/mmd/mmd.yaml", Key: "exchange.environment", Msg: "required"}, "/etc/mmd/mmd.yaml: exchange.environment: required"},
		{Problem{File: "a.yaml", Line: 2, Msg: "YAML syntax: x"}, "a.yaml:2: YAML syntax: x"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	ps := Problems{tests[0].p, tests[1].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Problems.Error() = %q, want %q", got, want)
	}
	if err := (Problems{}).asError(); err != nil {
		t.Errorf("no problems gave error %v", err)
	}
}

func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "strategies"), 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "mmd.yaml")
	if err := os.WriteFile(path, []byte(simDaemon), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		body := strings.Replace(goodLadder, "name: eth-btc", "name: "+n, 1)
		if err := os.WriteFile(filepath.Join(dir, "strategies", n+".yaml"), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	reg := testRegistry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path, reg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAliasBomb: aliases and merge keys that double at every level stop at the node budget
// with a problem, instead of walking 2⁴⁰ nodes.
func TestAliasBomb(t *testing.T) {
	for _, shape := range []string{"m%d: &m%d {<<: [*m%d, *m%d]}\n", "m%d: &m%d [*m%d, *m%d]\n"} {
		var b strings.Builder
		b.WriteString("exchange: {environment: sim}\nm0: &m0 {a: 1, b: 2}\n")
		for i := 1; i < 40; i++ {
			fmt.Fprintf(&b, shape, i, i, i-1, i-1)
		}
		b.WriteString("name: p\ntype: probe\ninstrument: ETH-BTC\nparams:\n  waits:\n    <<: *m39\n  list: *m39\n")
		_, err := Load(fixture(t, simDaemon, map[string]string{"p.yaml": b.String()}), testRegistry(), nil)
		if err == nil || !strings.Contains(err.Error(), "document too large") {
			t.Errorf("got %v, want a document-too-large problem", err)
		}
	}
}
