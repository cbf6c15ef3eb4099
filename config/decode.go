package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// strictDecoder fills Go values from a parsed YAML tree and reports every problem with its
// file, line and key path.
//
// It exists because yaml.v3 is strict (KnownFields) only when decoding a whole document
// through a yaml.Decoder: Node.Decode, which the strategy parameters need, ignores unknown
// keys, and its type errors carry a line but no key. So the decoder walks mappings against
// the target struct's yaml tags itself, recursively, and hands only leaves (scalars and
// types with their own unmarshalers) to Node.Decode. That also means one bad value never
// hides the problems after it.
type strictDecoder struct {
	file string
	// expanded holds the original text of scalars whose ${VAR}s were expanded, so messages
	// quote what the operator wrote rather than what the environment held.
	expanded map[*yaml.Node]string
	// broken marks scalars whose expansion already failed: they get no second problem.
	broken map[*yaml.Node]bool
	// nodes maps every key path decoded to its value node, and keyLines to the line of its
	// key, for problems found later.
	nodes    map[string]*yaml.Node
	keyLines map[string]int
	problems Problems
	// budget bounds the nodes visited, so aliases cannot make a small file expand into a
	// huge walk ("billion laughs").
	budget int
}

const nodeBudget = 1 << 16

func newStrictDecoder(file string) *strictDecoder {
	return &strictDecoder{
		file:     file,
		expanded: map[*yaml.Node]string{},
		broken:   map[*yaml.Node]bool{},
		nodes:    map[string]*yaml.Node{},
		keyLines: map[string]int{},
		budget:   nodeBudget,
	}
}

// maxProblems bounds the problems reported per decoding pass: past a screenful, more lines
// only bury the first ones, which are usually the cause.
const maxProblems = 50

func (d *strictDecoder) add(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	switch {
	case len(d.problems) > maxProblems:
		return
	case len(d.problems) == maxProblems:
		key, format, args = "", "too many problems; fix these first", nil
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

var (
	nodeType            = reflect.TypeFor[yaml.Node]()
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	decimalType         = reflect.TypeFor[decimal.Decimal]()
)

// decode fills v from n. key is the dotted path of n ("exchange.depth"), "" for the root.
// A key missing from n leaves its field as it was, which is how defaults work: v arrives
// holding them.
func (d *strictDecoder) decode(n *yaml.Node, v reflect.Value, key string) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.add(n, key, "document too large (more than %d nodes after expanding aliases)", nodeBudget)
		}
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if key != "" {
		d.nodes[key] = n
	}
	t := v.Type()
	switch {
	case t == nodeType:
		// Kept raw for a second stage (a strategy's params and risk blocks).
		v.Set(reflect.ValueOf(*n))
		return
	case t.Kind() == reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		if !v.IsNil() {
			p.Elem().Set(v.Elem())
		}
		d.decode(n, p.Elem(), key)
		v.Set(p)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType), reflect.PointerTo(t).Implements(textUnmarshalerType):
		d.leaf(n, v, key)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, v, key)
	case reflect.Map:
		d.mapping(n, v, key)
	case reflect.Slice:
		d.sequence(n, v, key)
	default:
		d.leaf(n, v, key)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func (d *strictDecoder) structure(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, key, "want %s, got %s", describe(v.Type()), d.show(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range d.pairs(n, key) {
		k, val := kv[0], kv[1]
		path := join(key, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.add(k, path, "%s", unknownKey(k.Value, fields))
			continue
		}
		d.keyLines[path] = k.Line
		d.decode(val, v.FieldByIndex(idx), path)
	}
}

func (d *strictDecoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		return
	}
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		d.add(n, key, "want %s, got %s", describe(t), d.show(n))
		return
	}
	// Always a fresh map: v may share its map with a value it was copied from (a strategy's
	// limits start as a copy of the global ones), which must not change under it.
	m := reflect.MakeMapWithSize(t, v.Len()+len(n.Content)/2)
	for it := v.MapRange(); it.Next(); {
		m.SetMapIndex(it.Key(), it.Value())
	}
	for _, kv := range d.pairs(n, key) {
		k, val := kv[0], kv[1]
		path := join(key, k.Value)
		kv := reflect.New(t.Key()).Elem()
		if t.Key().Kind() == reflect.String {
			kv.SetString(k.Value)
		} else {
			before := len(d.problems)
			d.leaf(k, kv, path)
			if len(d.problems) > before {
				continue
			}
		}
		d.keyLines[path] = k.Line
		ev := reflect.New(t.Elem()).Elem()
		before := len(d.problems)
		d.decode(val, ev, path)
		if len(d.problems) == before {
			m.SetMapIndex(kv, ev)
		}
	}
	v.Set(m)
}

func (d *strictDecoder) sequence(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, key, "want %s, got %s", describe(v.Type()), d.show(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
	}
	v.Set(s)
}

// pairs returns a mapping's key/value pairs with merge keys ("<<: *defaults") resolved:
// keys written out take precedence over merged ones, and among several merged mappings
// the first wins, as YAML specifies. A key written twice is a problem.
func (d *strictDecoder) pairs(n *yaml.Node, key string) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style == 0 {
			merged = append(merged, d.mergeSources(val, key)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.add(k, key, "a key must be a plain name, got %s", d.show(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.add(k, join(key, k.Value), "key already set at line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, [2]*yaml.Node{k, val})
	}
	for _, kv := range merged {
		if _, dup := seen[kv[0].Value]; !dup {
			seen[kv[0].Value] = kv[0].Line
			own = append(own, kv)
		}
	}
	return own
}

func (d *strictDecoder) mergeSources(val *yaml.Node, key string) [][2]*yaml.Node {
	// Merges of merges can multiply like aliases do: they draw on the same budget.
	if d.budget -= 1 + len(val.Content); d.budget < 0 {
		if d.budget+1+len(val.Content) >= 0 {
			d.add(val, key, "document too large (more than %d nodes after expanding aliases)", nodeBudget)
		}
		return nil
	}
	for val.Kind == yaml.AliasNode && val.Alias != nil {
		val = val.Alias
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, key)
	case yaml.SequenceNode:
		var out [][2]*yaml.Node
		for _, item := range val.Content {
			out = append(out, d.mergeSources(item, key)...)
		}
		return out
	}
	d.add(val, join(key, "<<"), "a merge key needs a mapping or a list of mappings")
	return nil
}

// leaf decodes a scalar (or a type that unmarshals itself) with yaml.v3, into a fresh
// value so a bad one leaves the default in place.
func (d *strictDecoder) leaf(n *yaml.Node, v reflect.Value, key string) {
	if d.broken[n] {
		return
	}
	t := v.Type()
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if !custom && t.Kind() != reflect.Interface {
		if n.Kind != yaml.ScalarNode {
			d.add(n, key, "want %s, got %s", describe(t), d.show(n))
			return
		}
		if isNull(n) {
			if t.Kind() == reflect.String {
				v.SetString("")
				return
			}
			// An empty value must not quietly become 0, which for a limit can mean "none".
			d.add(n, key, "no value given; want %s", describe(t))
			return
		}
	}
	p := reflect.New(t)
	if err := n.Decode(p.Interface()); err != nil {
		if custom {
			d.add(n, key, "%s", cleanYAMLError(err))
		} else {
			d.add(n, key, "want %s, got %s%s", describe(t), d.show(n), unquoteHint(n, t))
		}
		return
	}
	v.Set(p.Elem())
}

// unquoteHint explains a refused quoted value that would have decoded bare. yaml.v3 takes a
// quoted scalar as text, which a duration, a decimal or a string accept but an integer, a
// float or a bool refuse, so only those need the hint; and only when removing the quotes
// would help ("twenty" is no number with or without them).
func unquoteHint(n *yaml.Node, t reflect.Type) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return ""
	}
	var what string
	switch t.Kind() {
	case reflect.Bool:
		what = "true and false go"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		what = "whole numbers go"
	case reflect.Float32, reflect.Float64:
		what = "numbers go"
	default:
		return ""
	}
	bare := *n
	bare.Style, bare.Tag = 0, "" // the same text as a plain scalar: its type resolved afresh
	// Bare, "" and "null" are no value at all, which leaf refuses ("no value given") though
	// yaml.v3 would decode them as 0.
	if isNull(&bare) || bare.Decode(reflect.New(t).Interface()) != nil {
		return ""
	}
	return " (" + what + " without quotes)"
}

// show describes a node for a message: a scalar's text as written (for an expanded one,
// the ${VAR} form, never the value it expanded to), or its kind.
func (d *strictDecoder) show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if orig, ok := d.expanded[n]; ok {
		return fmt.Sprintf("%q (after expanding variables)", orig)
	}
	s := n.Value
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:60]) + "…"
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && s != "" {
		return fmt.Sprintf("the quoted text %q", s)
	}
	if isNull(n) {
		return "no value"
	}
	return fmt.Sprintf("%q", s)
}

func describe(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration such as 500ms, 10s or 1m30s"
	case decimalType:
		return "a decimal number such as 0.05"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number ≥ 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text value"
	case reflect.Struct:
		return "a mapping of keys"
	case reflect.Map:
		return "a mapping of " + describe(t.Elem()) + " values"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return t.String()
}

// cleanYAMLError drops yaml.v3's "yaml: " and "line N: " prefixes: a Problem carries the
// line itself.
func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
			msg = rest[i+2:]
		}
	}
	return msg
}

// yamlFields maps the yaml key of each settable field of struct type t to its index,
// following yaml.v3's rules: the tag's name, or the lower-cased field name without one;
// "-" skips; ",inline" lifts a struct's fields into its parent.
func yamlFields(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range yamlFields(f.Type) {
				fields[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = []int{i}
	}
	return fields
}

// unknownKey says a key is not known, suggesting the intended one when the difference
// looks like a typo and listing the known ones otherwise.
func unknownKey(k string, fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.EqualFold(name, k) || editDistance(strings.ToLower(name), strings.ToLower(k)) <= 1+len(k)/8 {
			return fmt.Sprintf("unknown key (did you mean %q?)", name)
		}
	}
	if len(names) == 0 {
		return "unknown key (no keys are allowed here)"
	}
	return "unknown key (want one of: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance, for typo suggestions on short key names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
