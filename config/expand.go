package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// expand replaces ${NAME} in every scalar value under n (keys are left alone) with env(NAME).
// It works on the parsed tree rather than the raw text so a problem names the key, and so an
// expanded value can never break the YAML structure around it. A plain (unquoted) scalar is
// re-typed after expansion, so "depth: ${DEPTH}" decodes as a number.
func (d *strictDecoder) expand(n *yaml.Node, key string, env func(string) string, done map[*yaml.Node]bool) {
	if n == nil || done[n] {
		return // an alias points at a node already expanded
	}
	done[n] = true
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			k := key
			if n.Kind == yaml.SequenceNode {
				k = fmt.Sprintf("%s[%d]", key, i)
			}
			d.expand(c, k, env, done)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expand(n.Content[i+1], join(key, n.Content[i].Value), env, done)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		out, err := expandString(n.Value, env)
		if err != nil {
			d.add(n, key, "%v", err)
			d.broken[n] = true
			return
		}
		d.expanded[n] = n.Value
		n.Value = out
		if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // resolve the type again from the new text
		}
	}
}

// expandString expands ${NAME} references; an unset or empty variable is an error. The error
// names the variable, never a value, and cannot say which of the two it is: env, like
// os.Getenv, returns "" for both.
func expandString(s string, env func(string) string) (string, error) {
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in value")
		}
		name := rest[:j]
		if !validEnvName(name) {
			return "", fmt.Errorf("bad variable name %q in ${…}", name)
		}
		v := env(name)
		if v == "" {
			missing = append(missing, name)
		}
		b.WriteString(v)
		s = rest[j+1:]
	}
	switch len(missing) {
	case 0:
		return b.String(), nil
	case 1:
		return "", fmt.Errorf("environment variable %s is not set or is empty", missing[0])
	}
	return "", fmt.Errorf("environment variables %s are not set or are empty", strings.Join(missing, ", "))
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// redact is a safety net behind show: wherever a message of this file still quotes a value
// that came from ${VAR}s, it puts back the text as written. Short values are left alone:
// they are not secrets, and replacing them would garble numbers in the messages.
func (d *strictDecoder) redact(ps Problems) Problems {
	for n, orig := range d.expanded {
		if len(n.Value) < 6 {
			continue
		}
		for i := range ps {
			if ps[i].File == d.file {
				ps[i].Msg = strings.ReplaceAll(ps[i].Msg, n.Value, orig)
			}
		}
	}
	return ps
}
