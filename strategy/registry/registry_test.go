package registry

import (
	"slices"
	"testing"
)

func TestBuiltin(t *testing.T) {
	reg := Builtin()
	if got, want := Names(reg), []string{"ladder"}; !slices.Equal(got, want) {
		t.Fatalf("Names(Builtin()) = %v, want %v", got, want)
	}
	for name, f := range reg {
		if f == nil {
			t.Errorf("factory %q is nil", name)
		}
	}
	// Each call hands out its own map: a caller adding to it cannot change another's list.
	reg["extra"] = nil
	if _, ok := Builtin()["extra"]; ok {
		t.Fatal("Builtin shares its map between calls")
	}
}

func TestNamesSorted(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, []string{}},
		{[]string{"b", "a", "c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		reg := Builtin()
		clear(reg)
		for _, n := range tt.in {
			reg[n] = nil
		}
		if got := Names(reg); !slices.Equal(got, tt.want) {
			t.Errorf("Names(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
