// Package config loads and validates the daemon file (/etc/mmd/mmd.yaml) and the strategy
// files it points at, and resolves the API secret on demand.
//
// Decoding is strict: an unknown key, a wrong type, a missing required key, a bad decimal or
// duration, an unknown strategy type and a duplicate strategy name are each a Problem naming
// the file, the line and the key, and Load reports all of them at once. ${VAR} in a value
// expands from an injected environment lookup. Every setting except the exchange environment
// (and, off the simulator, the API key and secret source) has a safe default.
//
// A Config never holds the API secret, only where to read it from (a file or an environment
// variable): Credentials reads it when the caller needs it, into a hashkey.Secret that every
// printing path redacts.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mmd-dev/mmd/exchange/hashkey"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// DefaultPath is where the daemon file lives when no --config is given.
const DefaultPath = "/etc/mmd/mmd.yaml"

// EnvSim is the environment that runs the embedded simulator instead of connecting out.
const EnvSim = "sim"

// Config is the daemon's whole configuration: the daemon file, decoded over the defaults,
// and every strategy file in its strategies directory.
type Config struct {
	Path          string      `yaml:"-"` // absolute path of the daemon file; "" from LoadDefault
	Exchange      Exchange    `yaml:"exchange"`
	StrategiesDir string      `yaml:"strategies"` // absolute after Load
	Risk          risk.Limits `yaml:"risk"`
	Log           Log         `yaml:"log"`
	Shutdown      Shutdown    `yaml:"shutdown"`
	Sim           Sim         `yaml:"sim"`
	Strategies    []Strategy  `yaml:"-"` // in file-name order, disabled ones included

	loc locator // where each key of the daemon file is, for problems found after loading
}

// Exchange says which HashKey Pro deployment to trade on and how to reach and sign for it.
type Exchange struct {
	Environment  string  `yaml:"environment"`  // production | staging | preview | sim
	RESTURL      string  `yaml:"restURL"`      // overrides the environment's REST base URL
	WSURL        string  `yaml:"wsURL"`        // overrides the environment's WebSocket URL
	DialAddress  string  `yaml:"dialAddress"`  // host:port to connect to; TLS still checks the URL's host
	LocalAddress string  `yaml:"localAddress"` // source IP to bind (the exchange whitelists it)
	APIKey       string  `yaml:"apiKey"`
	AuthType     string  `yaml:"authType"`   // HMAC | PUB-PRIV
	SecretFile   string  `yaml:"secretFile"` // file holding the secret; see Credentials
	SecretEnv    string  `yaml:"secretEnv"`  // or the environment variable holding it
	Signing      string  `yaml:"signing"`    // v4.3 | v4.2
	RateMargin   float64 `yaml:"rateMargin"` // fraction of the published rate limits to use (not money)
	Depth        int     `yaml:"depth"`      // book depth to subscribe: 5, 10, 20 or 50
}

// Sim reports whether the exchange is the embedded simulator.
func (e Exchange) Sim() bool { return e.Environment == EnvSim }

// Log configures the logger.
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error
}

// Shutdown bounds the orderly shutdown.
type Shutdown struct {
	// Timeout bounds the wait for the exchange to confirm the cancels sent on shutdown.
	Timeout time.Duration `yaml:"timeout"`
}

// Sim configures the embedded simulator (environment sim only).
type Sim struct {
	Seed       int64         `yaml:"seed"`       // random seed: the same seed replays the same market
	Tick       time.Duration `yaml:"tick"`       // how often the simulated market moves
	Volatility float64       `yaml:"volatility"` // size of the simulated price moves, in basis points per tick (not money)
}

// Strategy is one strategy instance from one strategy file.
type Strategy struct {
	File       string // absolute path of the strategy file
	Name       string
	Type       string
	Instrument string
	Enabled    bool
	Limits     risk.Limits       // the global limits with the file's risk block decoded over them
	Impl       strategy.Strategy // built by the type's factory from the file's params

	loc        locator
	params     map[string]bool // the params struct's keys, to point a factory's error at its line
	paramValue reflect.Value   // the pointer the factory decoded its params into
}

// defaults returns a Config holding every default.
func defaults() *Config {
	return &Config{
		Exchange: Exchange{
			AuthType:   string(hashkey.AuthHMAC),
			Signing:    string(hashkey.SchemeV43),
			RateMargin: 0.8,
			Depth:      20,
		},
		StrategiesDir: "strategies",
		Risk:          risk.DefaultLimits(),
		Log:           Log{Level: "info"},
		Shutdown:      Shutdown{Timeout: 10 * time.Second},
		Sim:           Sim{Seed: 1, Tick: 500 * time.Millisecond, Volatility: 2},
	}
}

// Load reads the daemon file at path and every *.yaml file in its strategies directory
// (relative to the daemon file's folder unless absolute), builds each strategy with its
// type's factory from reg, and validates everything. env looks up ${VAR}s (nil: none set).
// The error, if any, is a *Problems listing every problem found.
func Load(path string, reg map[string]strategy.Factory, env func(string) string) (*Config, error) {
	env = orNoEnv(env)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}.asError()
	}
	c := defaults()
	c.Path = abs
	root, d, ps := parse(abs, env)
	if root == nil && len(ps) > 0 {
		return nil, ps.asError() // unreadable or not YAML: nothing more to say
	}
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
		ps = append(ps, d.problems...)
	}
	c.loc = d.locator()
	ps = d.redact(append(ps, c.check().without(ps)...))
	if c.StrategiesDir != "" { // "" is reported by check
		if !filepath.IsAbs(c.StrategiesDir) {
			c.StrategiesDir = filepath.Join(filepath.Dir(abs), c.StrategiesDir)
		}
		ps = append(ps, c.loadStrategies(reg, env)...)
	}
	if len(ps) > 0 {
		return nil, ps.asError()
	}
	return c, nil
}

// LoadDefault is the configuration without a daemon file: environment sim, every default,
// and the strategy files in strategiesDir ("" for none).
func LoadDefault(strategiesDir string, reg map[string]strategy.Factory, env func(string) string) (*Config, error) {
	env = orNoEnv(env)
	c := defaults()
	c.Exchange.Environment = EnvSim
	c.StrategiesDir = ""
	if strategiesDir != "" {
		abs, err := filepath.Abs(strategiesDir)
		if err != nil {
			return nil, Problems{{File: strategiesDir, Msg: err.Error()}}.asError()
		}
		c.StrategiesDir = abs
	}
	ps := c.check()
	if c.StrategiesDir != "" {
		ps = append(ps, c.loadStrategies(reg, env)...)
	}
	if len(ps) > 0 {
		return nil, ps.asError()
	}
	return c, nil
}

func orNoEnv(env func(string) string) func(string) string {
	if env == nil {
		return func(string) string { return "" }
	}
	return env
}

// parse reads and parses one YAML file and expands its ${VAR}s. root is the top mapping, or
// nil when the file could not be read or parsed (the problems say why).
func parse(file string, env func(string) string) (*yaml.Node, *strictDecoder, Problems) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, newStrictDecoder(file), Problems{{File: file, Msg: fileError(err)}}
	}
	return parseBytes(file, data, env)
}

func parseBytes(file string, data []byte, env func(string) string) (*yaml.Node, *strictDecoder, Problems) {
	d := newStrictDecoder(file)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, d, nil // an empty file: every key takes its default (or is missing)
		}
		return nil, d, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, d, Problems{{File: file, Line: extra.Line, Msg: "more than one YAML document (a second ---); put one strategy per file"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.expand(root, "", env, map[*yaml.Node]bool{})
	ps := slices.Clone(d.problems)
	d.problems = nil
	if !isNull(root) && root.Kind != yaml.MappingNode {
		return nil, d, append(ps, Problem{File: file, Line: root.Line, Msg: "want a mapping of keys at the top of the file"})
	}
	return root, d, ps
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func syntaxProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Msg: "YAML syntax: " + msg[len(m[0]):]}
	}
	return Problem{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// fileError describes a failed read without repeating the path (the Problem has it).
func fileError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return "cannot read: " + pe.Err.Error()
	}
	return "cannot read: " + err.Error()
}

// locator finds the line of a key path in one file after decoding.
type locator struct {
	file     string
	nodes    map[string]*yaml.Node
	keyLines map[string]int
	expanded map[*yaml.Node]string
	top      int // the line for a key with no ancestor in the file: 1 for a file, 0 for none
}

func (d *strictDecoder) locator() locator {
	return locator{file: d.file, nodes: d.nodes, keyLines: d.keyLines, expanded: d.expanded, top: 1}
}

// show quotes key's value v for a message, or, if the value came from ${VAR}s, the text as
// written: an environment variable may hold something that must not be printed.
func (l locator) show(key string, v any) string {
	if n, ok := l.nodes[key]; ok {
		if orig, ok := l.expanded[n]; ok {
			return fmt.Sprintf("%q (after expanding variables)", orig)
		}
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// line returns the line of key's value when that is a single value, else the line of the
// key itself (a block's value starts on the line after it); for a key not in the file, the
// line of its nearest ancestor that is (a missing key is reported where its block is), or
// the file's first line, so that every problem in a file has a line to go to.
func (l locator) line(key string) int {
	for key != "" {
		if n, ok := l.nodes[key]; ok && n.Kind == yaml.ScalarNode {
			return n.Line
		}
		if line, ok := l.keyLines[key]; ok {
			return line
		}
		if n, ok := l.nodes[key]; ok && n.Line > 0 {
			return n.Line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return l.top
}

func (l locator) has(key string) bool {
	_, ok := l.nodes[key]
	return ok
}

func (l locator) problem(key, format string, args ...any) Problem {
	return Problem{File: l.file, Line: l.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

var environments = []string{string(hashkey.Production), string(hashkey.Staging), string(hashkey.Preview), EnvSim}

// check validates the daemon file's values (not the strategies).
func (c *Config) check() Problems {
	var ps Problems
	l := c.loc
	if l.file == "" {
		l.file = c.StrategiesDir // LoadDefault: no daemon file to point at
	}
	bad := func(key, format string, args ...any) { ps = append(ps, l.problem(key, format, args...)) }
	e := c.Exchange
	switch {
	case e.Environment == "":
		bad("exchange.environment", "required: one of %s", strings.Join(environments, ", "))
	case !slices.Contains(environments, e.Environment):
		bad("exchange.environment", "unknown environment %s (want one of %s)", l.show("exchange.environment", e.Environment), strings.Join(environments, ", "))
	}
	for _, u := range []struct {
		key, val string
		schemes  []string
	}{
		{"exchange.restURL", e.RESTURL, []string{"https", "http"}},
		{"exchange.wsURL", e.WSURL, []string{"wss", "ws"}},
	} {
		if u.val == "" {
			continue
		}
		if e.Sim() {
			bad(u.key, "not used with environment sim (the embedded simulator listens on loopback); remove it")
			continue
		}
		if msg := checkURL(u.val, l.show(u.key, u.val), u.schemes); msg != "" {
			bad(u.key, "%s", msg)
		}
	}
	if e.DialAddress != "" {
		if e.Sim() {
			bad("exchange.dialAddress", "not used with environment sim; remove it")
		} else if host, port, err := net.SplitHostPort(e.DialAddress); err != nil || host == "" {
			bad("exchange.dialAddress", "want host:port such as 45.249.244.103:443, got %s", l.show("exchange.dialAddress", e.DialAddress))
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("exchange.dialAddress", "port in %s is not a number from 1 to 65535", l.show("exchange.dialAddress", e.DialAddress))
		}
	}
	if e.LocalAddress != "" {
		if e.Sim() {
			bad("exchange.localAddress", "not used with environment sim; remove it")
		} else if msg := checkLocalAddress(e.LocalAddress, l.show("exchange.localAddress", e.LocalAddress)); msg != "" {
			bad("exchange.localAddress", "%s", msg)
		}
	}
	switch hashkey.AuthType(e.AuthType) {
	case hashkey.AuthHMAC, hashkey.AuthPubPriv:
	default:
		bad("exchange.authType", "unknown auth type %s (want %s or %s)", l.show("exchange.authType", e.AuthType), hashkey.AuthHMAC, hashkey.AuthPubPriv)
	}
	switch hashkey.Scheme(e.Signing) {
	case hashkey.SchemeV43, hashkey.SchemeV42:
	default:
		bad("exchange.signing", "unknown signing revision %s (want %s or %s)", l.show("exchange.signing", e.Signing), hashkey.SchemeV43, hashkey.SchemeV42)
	}
	if e.SecretEnv != "" && !validEnvName(e.SecretEnv) {
		// The value is not quoted: what is written here by mistake is usually the secret itself.
		bad("exchange.secretEnv", "want the name of an environment variable (letters, digits, _), not its value")
	}
	secrets := 0
	if e.SecretFile != "" {
		secrets++
	}
	if e.SecretEnv != "" {
		secrets++
	}
	switch {
	case !slices.Contains(environments, e.Environment):
		// Which credentials are needed depends on the environment: say nothing yet.
	case secrets == 2:
		bad("exchange.secretEnv", "give secretFile or secretEnv, not both")
	case e.Sim():
		// The simulator needs no credentials; given ones must be complete.
		if (e.APIKey == "") != (secrets == 0) {
			bad("exchange.apiKey", "with environment sim give both apiKey and a secret source, or neither")
		}
	default:
		if e.APIKey == "" {
			bad("exchange.apiKey", "required unless environment is sim")
		}
		if secrets == 0 {
			bad("exchange", "a secret source is required unless environment is sim: set secretFile or secretEnv")
		}
	}
	if !(e.RateMargin > 0 && e.RateMargin <= 1) {
		bad("exchange.rateMargin", "must be above 0 and at most 1, got %s", l.show("exchange.rateMargin", e.RateMargin))
	}
	if !slices.Contains([]int{5, 10, 20, 50}, e.Depth) {
		bad("exchange.depth", "must be 5, 10, 20 or 50, got %s", l.show("exchange.depth", e.Depth))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "unknown level %s (want debug, info, warn or error)", l.show("log.level", c.Log.Level))
	}
	if c.Shutdown.Timeout <= 0 {
		bad("shutdown.timeout", "must be above 0, got %s", c.Shutdown.Timeout)
	}
	if c.Sim.Tick <= 0 {
		bad("sim.tick", "must be above 0, got %s", c.Sim.Tick)
	}
	if !(c.Sim.Volatility >= 0) {
		bad("sim.volatility", "must be 0 or more, got %s", l.show("sim.volatility", c.Sim.Volatility))
	}
	if c.StrategiesDir == "" && c.loc.has("strategies") {
		bad("strategies", "must name a directory")
	}
	ps = append(ps, limitProblems(l, "risk", c.Risk.Validate())...)
	return ps
}

// checkLocalAddress checks that ip is an IP address; shown is how to quote it in a message.
// Whether this host holds it is not checked: a standby host may get a floating address only
// when it takes over, and a bind that fails then is an error the unit restarts on.
func checkLocalAddress(ip, shown string) string {
	if net.ParseIP(ip) == nil {
		return fmt.Sprintf("want an IP address, got %s", shown)
	}
	return ""
}

// checkURL checks a base URL; shown is how to quote it in a message.
func checkURL(raw, shown string, schemes []string) string {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return fmt.Sprintf("%s is not a URL: %v", shown, err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Sprintf("%s: want a URL starting %s://", shown, strings.Join(schemes, ":// or "))
	}
	if u.Host == "" {
		return fmt.Sprintf("%s has no host", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Sprintf("%s: a base URL carries no query, fragment or user", shown)
	}
	return ""
}

// limitProblems turns the error of risk.Limits.Validate into problems located at the keys
// they name.
func limitProblems(l locator, prefix string, err error) Problems {
	return keyedProblems(l, prefix, fieldNames(reflect.TypeFor[risk.Limits]()), err)
}

func fieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for k := range yamlFields(t) {
			names[k] = true
		}
	}
	return names
}

// keyedProblems turns a validation error — possibly several joined with errors.Join — into
// problems. An error that names one of keys (a *strategy.ParamError, or a message of the form
// "key: what is wrong", possibly after a prefix such as "ladder: ") is placed at that key's
// line under prefix; any other lands on prefix itself.
func keyedProblems(l locator, prefix string, keys map[string]bool, err error) Problems {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var ps Problems
		for _, e := range j.Unwrap() {
			ps = append(ps, keyedProblems(l, prefix, keys, e)...)
		}
		return ps
	}
	var located *Problems
	if errors.As(err, &located) {
		return *located
	}
	var pe *strategy.ParamError
	if errors.As(err, &pe) {
		return Problems{l.problem(join(prefix, pe.Key), "%s", pe.Msg)}
	}
	var le *risk.LimitError
	if errors.As(err, &le) {
		return Problems{l.problem(join(prefix, le.Field), "%s (got %s)", le.Reason, le.Value)}
	}
	msg := err.Error()
	parts := strings.Split(msg, ": ")
	for i, part := range parts[:len(parts)-1] {
		if keys[part] {
			return Problems{l.problem(join(prefix, part), "%s", strings.Join(parts[i+1:], ": "))}
		}
	}
	return Problems{l.problem(prefix, "%s", msg)}
}
