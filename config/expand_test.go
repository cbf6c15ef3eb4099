package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpandString(t *testing.T) {
	env := envOf(map[string]string{"A": "alpha", "B_2": "beta", "EMPTY": ""})
	tests := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"${A}", "alpha", ""},
		{"x-${A}-${B_2}-y", "x-alpha-beta-y", ""},
		{"$A and $ alone", "$A and $ alone", ""},
		{"${A}${A}", "alphaalpha", ""},
		{"${MISSING}", "", "environment variable MISSING is not set or is empty"},
		{"${EMPTY}", "", "environment variable EMPTY is not set or is empty"},
		{"x${EMPTY}y", "", "environment variable EMPTY is not set or is empty"},
		{"${M1}${M2}", "", "environment variables M1, M2 are not set or are empty"},
		{"${A", "", "unterminated"},
		{"${}", "", `bad variable name ""`},
		{"${A-B}", "", `bad variable name "A-B"`},
	}
	for _, tt := range tests {
		got, err := expandString(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzExpandString: never panics; text without "${" comes back unchanged; an error never
// carries a variable's value.
func FuzzExpandString(f *testing.F) {
	for _, s := range []string{"", "plain", "${A}", "a${A}b${B}", "${", "${}", "${A", "$${A}}", "${A}${MISSING}", "${é}"} {
		f.Add(s)
	}
	const value = "VALUE-of-A"
	env := envOf(map[string]string{"A": value, "B": "b"})
	f.Fuzz(func(t *testing.T, s string) {
		out, err := expandString(s, env)
		if err != nil {
			if strings.Contains(err.Error(), value) {
				t.Fatalf("error carries a value: %v", err)
			}
			return
		}
		if !strings.Contains(s, "${") && out != s {
			t.Fatalf("%q changed to %q", s, out)
		}
	})
}

// FuzzDecode feeds arbitrary text through the daemon-file and strategy-file decoding: it
// must never panic, and every problem must name the file and a line inside it.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		simDaemon,
		goodLadder,
		"exchange:\n  environment: ${X}\n  depth: ${D}\n",
		"a: &a {b: *a}\n",
		"x: &x [1, 2]\ny: *x\nexchange: *x\n",
		"exchange:\n  <<: [{environment: sim}, {depth: 5}]\n  <<: {x: 1}\n",
		"risk:\n  maxPosition: {ETH: 1, ETH: 2, [a]: 3}\n",
		"params: {nested: {count: 1}, list: [1, [2]], waits: {a: 1s}}\n",
		"? [a]\n: 1\n",
		"- 1\n- 2\n",
		"!!binary aGVsbG8=\n",
		"exchange: !!map {environment: !!str sim}\n",
		"{{{",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"X": "sim", "D": "10"})
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		// YAML breaks lines at \n, \r and \r\n: counting both bounds the line count.
		lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 1
		check := func(ps Problems) {
			for _, p := range ps {
				if p.File != "f.yaml" || p.Line < 0 || p.Line > lines+1 {
					t.Fatalf("bad problem location %+v in %q", p, data)
				}
			}
		}
		root, d, ps := parseBytes("f.yaml", data, env)
		check(ps)
		if root == nil {
			return
		}
		c := defaults()
		d.decode(root, reflect.ValueOf(c).Elem(), "")
		check(d.problems)
		c.loc = d.locator()
		check(c.check())

		root, d, _ = parseBytes("f.yaml", data, env)
		var sf strategyFile
		d.decode(root, reflect.ValueOf(&sf).Elem(), "")
		var p probeParams
		d.decode(&sf.Params, reflect.ValueOf(&p).Elem(), "params")
		check(d.problems)
		if f, ok := reg["ladder"]; ok {
			_, _ = f(func(v any) error {
				d.decode(&sf.Params, reflect.ValueOf(v).Elem(), "params")
				return nil
			})
		}
		check(d.problems)
	})
}
