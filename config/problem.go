package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration file, located so an operator can go
// straight to it: the file, the 1-based line (0 when the problem is not on one line, such
// as a missing file) and the key path (e.g. "exchange.depth", "params.spreadBps").
type Problem struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats the problem as "file:line: key: msg", leaving out the parts it lacks.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Key != "" {
		b.WriteString(": ")
		b.WriteString(p.Key)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one load, so an operator fixes them all in one pass
// instead of one per run. Load and Credentials return a *Problems as their error.
type Problems []Problem

// Error lists the problems one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders problems by file (in the order the files were first mentioned, so the
// daemon file comes before the strategy files) and then by line; problems on the same line
// keep the order they were found in.
func (ps Problems) sorted() Problems {
	rank := map[string]int{}
	for _, p := range ps {
		if _, ok := rank[p.File]; !ok {
			rank[p.File] = len(rank)
		}
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := cmp.Compare(rank[a.File], rank[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return out
}

// asError returns nil for no problems and a *Problems otherwise, so callers never get a
// non-nil error interface holding an empty list.
func (ps Problems) asError() error {
	if len(ps) == 0 {
		return nil
	}
	s := ps.sorted()
	return &s
}

// without drops the problems about a key that already has one in earlier: a value that
// failed to decode keeps its default, which must not draw a second, confusing complaint.
func (ps Problems) without(earlier Problems) Problems {
	if len(earlier) == 0 {
		return ps
	}
	seen := make(map[string]bool, len(earlier))
	for _, p := range earlier {
		seen[p.File+"\x00"+p.Key] = true
	}
	var out Problems
	for _, p := range ps {
		if !seen[p.File+"\x00"+p.Key] {
			out = append(out, p)
		}
	}
	return out
}
