package exchange_test

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

func TestParseFixed(t *testing.T) {
	tests := []struct {
		in     string
		places int32
		want   int64
		err    error
	}{
		{"0.0312", 6, 31200, nil},
		{"0.03100000", 6, 31000, nil},
		{"0.031", 3, 31, nil},
		{"0", 8, 0, nil},
		{"0.0", 0, 0, nil},
		{"1", 0, 1, nil},
		{"1.000", 0, 1, nil},
		{"12345.6789", 4, 123456789, nil},
		{"0007.5", 1, 75, nil},
		{"9999999.99999999", 8, 999999999999999, nil},
		{"9223372036854775807", 0, math.MaxInt64, nil},
		{"9.223372036854775807", 18, math.MaxInt64, nil},
		{"0.000000000000000001", 18, 1, nil},

		{"0.0312", 3, 0, exchange.ErrFixedPrecision},
		{"0.5", 0, 0, exchange.ErrFixedPrecision},
		{"1.0000001", 6, 0, exchange.ErrFixedPrecision},

		{"9223372036854775808", 0, 0, exchange.ErrFixedRange},
		{"9223372036854775807", 1, 0, exchange.ErrFixedRange},
		{"10", 18, 0, exchange.ErrFixedRange},
		{"99999999999999999999999", 0, 0, exchange.ErrFixedRange},

		{"", 4, 0, exchange.ErrFixedSyntax},
		{".", 4, 0, exchange.ErrFixedSyntax},
		{".5", 4, 0, exchange.ErrFixedSyntax},
		{"5.", 4, 0, exchange.ErrFixedSyntax},
		{"-1", 4, 0, exchange.ErrFixedSyntax},
		{"+1", 4, 0, exchange.ErrFixedSyntax},
		{"-0", 4, 0, exchange.ErrFixedSyntax},
		{"1e5", 4, 0, exchange.ErrFixedSyntax},
		{"1.5e2", 4, 0, exchange.ErrFixedSyntax},
		{"1.2.3", 4, 0, exchange.ErrFixedSyntax},
		{" 1", 4, 0, exchange.ErrFixedSyntax},
		{"1 ", 4, 0, exchange.ErrFixedSyntax},
		{"0x10", 4, 0, exchange.ErrFixedSyntax},
		{"NaN", 4, 0, exchange.ErrFixedSyntax},
		{"1,5", 4, 0, exchange.ErrFixedSyntax},
		{"١", 4, 0, exchange.ErrFixedSyntax}, // a non-ASCII digit

		{"1", -1, 0, exchange.ErrFixedPlaces},
		{"1", 19, 0, exchange.ErrFixedPlaces},
	}
	for _, tt := range tests {
		t.Run(tt.in+"@"+strconv.Itoa(int(tt.places)), func(t *testing.T) {
			got, err := exchange.ParseFixed([]byte(tt.in), tt.places)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseFixed(%q, %d) error = %v, want %v", tt.in, tt.places, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ParseFixed(%q, %d) = %d, want %d", tt.in, tt.places, got, tt.want)
			}
		})
	}
}

func TestParseFixedAllocs(t *testing.T) {
	inputs := [][]byte{[]byte("0.03100000"), []byte("-1"), []byte("0.00001"), []byte("99999999999999999999")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, in := range inputs {
			_, _ = exchange.ParseFixed(in, 4)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseFixed allocates %v times per run, want 0", allocs)
	}
}

func TestDecimalFixedRoundTrip(t *testing.T) {
	tests := []struct {
		in     string
		places int32
		want   int64
		ok     bool
	}{
		{"0.0312", 6, 31200, true},
		{"0.0312", 4, 312, true},
		{"0.0312", 3, 0, false},
		{"-1.5", 1, -15, true},
		{"0", 8, 0, true},
		{"123.4500", 2, 12345, true},
		{"9223372036854775807", 0, math.MaxInt64, true},
		{"9223372036854775808", 0, 0, false},
		{"-9223372036854775808", 0, math.MinInt64, true},
		{"1", 19, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in+"@"+strconv.Itoa(int(tt.places)), func(t *testing.T) {
			d := decimal.RequireFromString(tt.in)
			got, ok := exchange.DecimalToFixed(d, tt.places)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("DecimalToFixed(%s, %d) = %d, %v; want %d, %v", tt.in, tt.places, got, ok, tt.want, tt.ok)
			}
			if !ok {
				return
			}
			if back := exchange.FixedToDecimal(got, tt.places); !back.Equal(d) {
				t.Fatalf("FixedToDecimal(%d, %d) = %s, want %s", got, tt.places, back, d)
			}
		})
	}
}

// plainDecimal is the syntax ParseFixed accepts.
var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// FuzzParseFixed checks ParseFixed against shopspring/decimal: whenever it succeeds the
// decimal reading agrees, and whenever the input is a plain decimal that is exact at the
// precision and fits an int64, it succeeds.
func FuzzParseFixed(f *testing.F) {
	seeds := []struct {
		s      string
		places uint8
	}{
		{"0.0312", 6}, {"0.03100000", 6}, {"0.0312", 3}, {"1", 0}, {"9223372036854775807", 0},
		{"9223372036854775808", 0}, {"9.223372036854775807", 18}, {"", 2}, {"-1", 2},
		{"1e5", 2}, {".5", 2}, {"5.", 2}, {"00.10", 1}, {"12345678.12345678", 8},
	}
	for _, s := range seeds {
		f.Add(s.s, s.places)
	}
	f.Fuzz(func(t *testing.T, s string, placesByte uint8) {
		places := int32(placesByte % (exchange.MaxFixedPlaces + 1))
		v, err := exchange.ParseFixed([]byte(s), places)
		if err == nil {
			if v < 0 {
				t.Fatalf("ParseFixed(%q, %d) = %d < 0", s, places, v)
			}
			ref, rerr := decimal.NewFromString(s)
			if rerr != nil {
				t.Fatalf("ParseFixed(%q, %d) = %d but decimal rejects it: %v", s, places, v, rerr)
			}
			if got := exchange.FixedToDecimal(v, places); !got.Equal(ref) {
				t.Fatalf("ParseFixed(%q, %d) = %d (%s), decimal says %s", s, places, v, got, ref)
			}
			return
		}
		if !plainDecimal.MatchString(s) {
			return
		}
		ref, rerr := decimal.NewFromString(s)
		if rerr != nil {
			return
		}
		if want, ok := exchange.DecimalToFixed(ref, places); ok && want >= 0 {
			t.Fatalf("ParseFixed(%q, %d) failed (%v) but the value is exactly %d", s, places, err, want)
		}
	})
}

func BenchmarkParseFixed(b *testing.B) {
	in := []byte("0.03121000")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := exchange.ParseFixed(in, 6); err != nil {
			b.Fatal(err)
		}
	}
}
