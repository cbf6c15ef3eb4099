package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// strategyFile is the shape of a strategy file. params and risk are kept as nodes: params
// is decoded by the type's factory into its own struct, risk over a copy of the global
// limits.
type strategyFile struct {
	Name       string    `yaml:"name"`
	Type       string    `yaml:"type"`
	Instrument string    `yaml:"instrument"`
	Enabled    bool      `yaml:"enabled"`
	Params     yaml.Node `yaml:"params"`
	Risk       yaml.Node `yaml:"risk"`
}

var (
	// Names end up in logs and, later, metric labels: keep them plain.
	strategyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	instrumentID = regexp.MustCompile(`^[A-Z0-9]{1,16}-[A-Z0-9]{1,16}$`)
)

// loadStrategies loads every *.yaml file of c.StrategiesDir, in name order.
func (c *Config) loadStrategies(reg map[string]strategy.Factory, env func(string) string) Problems {
	dir := c.StrategiesDir
	entries, err := os.ReadDir(dir)
	if err != nil {
		msg := fmt.Sprintf("strategies directory %s: %s", dir, strings.TrimPrefix(fileError(err), "cannot read: "))
		if c.loc.file == "" {
			return Problems{{File: dir, Msg: msg}}
		}
		return Problems{c.loc.problem("strategies", "%s", msg)}
	}
	var ps Problems
	first := map[string]*Strategy{}
	for _, e := range entries {
		name := e.Name()
		// Dot files are editor and backup droppings, not strategies.
		if e.IsDir() || strings.HasPrefix(name, ".") || filepath.Ext(name) != ".yaml" {
			continue
		}
		s, sps := loadStrategy(filepath.Join(dir, name), c.Risk, reg, env)
		ps = append(ps, sps...)
		if s == nil {
			continue
		}
		if s.Name != "" {
			if f, dup := first[s.Name]; dup {
				ps = append(ps, s.loc.problem("name", "duplicate strategy name %q: also in %s:%d", s.Name, f.File, f.loc.line("name")))
			} else {
				first[s.Name] = s
			}
		}
		c.Strategies = append(c.Strategies, *s)
	}
	return ps
}

// loadStrategy loads one strategy file. It returns nil only when the file could not be read
// or parsed at all.
func loadStrategy(file string, global risk.Limits, reg map[string]strategy.Factory, env func(string) string) (*Strategy, Problems) {
	root, d, ps := parse(file, env)
	if root == nil && len(ps) > 0 {
		return nil, ps
	}
	sf := strategyFile{Enabled: true}
	if root != nil {
		d.decode(root, reflect.ValueOf(&sf).Elem(), "")
	}
	// Problems found after decoding stay quiet about keys that failed to decode.
	top := append(ps, d.problems...)
	ps, d.problems = nil, nil
	s := &Strategy{
		File:       file,
		Name:       sf.Name,
		Type:       sf.Type,
		Instrument: sf.Instrument,
		Enabled:    sf.Enabled,
		Limits:     global, // maps are never written in place (see strictDecoder.mapping)
		loc:        d.locator(),
	}
	done := func() (*Strategy, Problems) { return s, d.redact(append(top, ps.without(top)...)) }
	bad := func(key, format string, args ...any) { ps = append(ps, s.loc.problem(key, format, args...)) }
	switch {
	case sf.Name == "":
		bad("name", "required: the strategy's name, unique among the strategy files")
	case !strategyName.MatchString(sf.Name):
		bad("name", "%s: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", s.loc.show("name", sf.Name))
	}
	switch {
	case sf.Instrument == "":
		bad("instrument", "required: the instrument to quote, such as ETH-BTC")
	case !instrumentID.MatchString(sf.Instrument):
		bad("instrument", "%s: want BASE-QUOTE in capitals, such as ETH-BTC", s.loc.show("instrument", sf.Instrument))
	}

	if sf.Risk.Kind != 0 {
		d.decode(&sf.Risk, reflect.ValueOf(&s.Limits).Elem(), "risk")
		if len(d.problems) == 0 {
			// Only a file that overrides limits can break them; the global ones are checked
			// (and reported) once, against the daemon file.
			ps = append(ps, s.ownLimitProblems(global)...)
		}
		ps, d.problems = append(ps, d.problems...), nil
	}

	if instrumentID.MatchString(sf.Instrument) {
		ps = append(ps, s.checkAssetLimits()...)
	}

	factory, ok := reg[sf.Type]
	switch {
	case sf.Type == "":
		bad("type", "required: one of %s", strings.Join(slices.Sorted(maps.Keys(reg)), ", "))
		return done()
	case !ok:
		bad("type", "unknown strategy type %s (known: %s)", s.loc.show("type", sf.Type), strings.Join(slices.Sorted(maps.Keys(reg)), ", "))
		return done()
	}
	decoded := false
	decodeParams := func(params any) error {
		decoded = true
		rv := reflect.ValueOf(params)
		if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("strategy type %s: params must be decoded into a non-nil pointer, got %T", sf.Type, params)
		}
		s.params = fieldNames(rv.Type())
		s.paramValue = rv
		before := len(d.problems)
		d.decode(&sf.Params, rv.Elem(), "params")
		if len(d.problems) > before {
			located := slices.Clone(d.problems[before:])
			return &located
		}
		return nil
	}
	impl, err := factory(decodeParams)
	switch {
	case len(d.problems) > 0:
		// The factory's error, if any, is these problems coming back.
		ps = append(ps, d.problems...)
	case err != nil:
		ps = append(ps, s.requiredParams(keyedProblems(s.loc, "params", s.params, err))...)
	case impl == nil:
		bad("type", "strategy type %q built no strategy (a bug in that type)", sf.Type)
	case !decoded && !isNull(&sf.Params):
		// A type without parameters must not swallow a params block unread.
		bad("params", "strategy type %q takes no params", sf.Type)
	}
	d.problems = nil
	s.Impl = impl
	return done()
}

// ownLimitProblems validates the strategy's limits and keeps the problems this file causes:
// those about a limit it sets itself, and any the merge itself brought about (a rejectBackoff
// raised above the global rejectBackoffMax). A global limit that is bad on its own is the
// daemon file's problem, reported there once and not again at every strategy file's risk
// block.
func (s *Strategy) ownLimitProblems(global risk.Limits) Problems {
	inherited := map[string]bool{}
	for _, e := range unjoin(global.Validate()) {
		inherited[e.Error()] = true
	}
	var own []error
	for _, e := range unjoin(s.Limits.Validate()) {
		var le *risk.LimitError
		if errors.As(e, &le) && inherited[e.Error()] && !s.loc.has(join("risk", le.Field)) {
			continue
		}
		own = append(own, e)
	}
	return limitProblems(s.loc, "risk", errors.Join(own...))
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// requiredParams marks the problems of parameters the file leaves out as "required": the
// value refused is the type's default, which the type refusing means there is no usable
// default (the ladder's spreadBps and size). They are located, like every missing key, at
// the params block, or at the top of the file when there is none.
func (s *Strategy) requiredParams(ps Problems) Problems {
	for i, p := range ps {
		name, ok := strings.CutPrefix(p.Key, "params.")
		if ok && s.params[name] && !s.loc.has(p.Key) {
			ps[i].Msg = "required: " + p.Msg
		}
	}
	return ps
}

// CheckInstruments checks the strategies against the instruments the exchange lists: each
// strategy's instrument must exist, and its volume parameters must fit the instrument's
// volume precision. A decimal parameter whose key contains "size" or "volume" is a base
// volume and one containing "price" a price; the ladder's size and sizeStep are both
// volumes. A finer value would be rounded down silently when quoting (to nothing, if it is
// below one lot), so the operator hears about it here instead. The error is a *Problems.
func (c *Config) CheckInstruments(instruments []exchange.Instrument) error {
	byID := make(map[string]exchange.Instrument, len(instruments))
	for _, in := range instruments {
		byID[in.ID] = in
	}
	var ps Problems
	for _, s := range c.Strategies {
		in, ok := byID[s.Instrument]
		if !ok {
			ps = append(ps, s.loc.problem("instrument", "instrument %s is not listed by the exchange", s.Instrument))
			continue
		}
		ps = append(ps, s.checkPrecision(in)...)
	}
	return ps.asError()
}

func (s *Strategy) checkPrecision(in exchange.Instrument) Problems {
	if !s.paramValue.IsValid() {
		return nil
	}
	v := s.paramValue.Elem()
	if v.Kind() != reflect.Struct {
		return nil
	}
	var ps Problems
	for key, idx := range yamlFields(v.Type()) {
		f := v.FieldByIndex(idx)
		if f.Type() != decimalType {
			continue
		}
		val := f.Interface().(decimal.Decimal)
		lower := strings.ToLower(key)
		var what string
		var places int32
		switch {
		case strings.Contains(lower, "size"), strings.Contains(lower, "volume"):
			what, places = "volume", in.VolumePrecision
		case strings.Contains(lower, "price"):
			what, places = "price", in.PricePrecision
		default:
			continue
		}
		if !val.Equal(val.Truncate(places)) {
			ps = append(ps, s.loc.problem(join("params", key), "%s has more decimals than %s's %s precision of %d (it would be rounded down to %s)",
				val, in.ID, what, places, val.Truncate(places)))
		}
	}
	slices.SortFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return ps
}

// checkAssetLimits reports per-asset limits with no entry for the instrument's assets: the
// gate refuses to quote an instrument it has no figure for, which is better found now than
// when the daemon starts.
func (s *Strategy) checkAssetLimits() Problems {
	base, quote, _ := strings.Cut(s.Instrument, "-")
	var ps Problems
	for _, m := range []struct {
		key   string
		asset string
		m     map[string]decimal.Decimal
	}{
		{"maxOrderNotional", quote, s.Limits.MaxOrderNotional},
		{"maxPosition", base, s.Limits.MaxPosition},
		{"dailyLossLimit", quote, s.Limits.DailyLossLimit},
		{"drawdownLimit", quote, s.Limits.DrawdownLimit},
	} {
		if _, ok := m.m[m.asset]; ok {
			continue
		}
		if _, ok := m.m["*"]; ok {
			continue
		}
		key := "risk." + m.key
		p := s.loc.problem(key, "no entry for %s (nor \"*\"), so %s cannot be quoted: add one here or in the daemon file's risk block", m.asset, s.Instrument)
		if !s.loc.has(key) {
			p.Line = s.loc.line("instrument")
		}
		ps = append(ps, p)
	}
	return ps
}
