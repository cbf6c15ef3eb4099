package exchange

import (
	"errors"
	"math"

	"github.com/shopspring/decimal"
)

// MaxFixedPlaces is the most decimal places a fixed-point value may carry: 10^18 is the
// largest power of ten an int64 holds.
const MaxFixedPlaces = 18

// Errors from ParseFixed. They are fixed values so the parser never allocates; the caller
// adds context (which field, which message) when it reports one.
var (
	ErrFixedSyntax    = errors.New("not a plain non-negative decimal")
	ErrFixedPrecision = errors.New("more significant decimal places than allowed")
	ErrFixedRange     = errors.New("value out of fixed-point range")
	ErrFixedPlaces    = errors.New("decimal places outside 0..18")
)

// pow10 holds 10^0 .. 10^18, every power of ten an int64 can hold.
var pow10 = [MaxFixedPlaces + 1]int64{
	1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
	1_000_000_000, 10_000_000_000, 100_000_000_000, 1_000_000_000_000,
	10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
	10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
}

// ParseFixed reads a plain non-negative decimal such as "0.0312" as an integer count of
// 10^-places units ("0.0312" at 6 places is 31200). It accepts trailing zeros beyond places
// ("0.03100000" at 6 places) because the exchange pads its numbers, but rejects a non-zero
// digit beyond places rather than rounding: a price the book cannot hold exactly means the
// instrument's precision is not what we think, and silently rounding would hide that.
// Signs, exponents, empty input, a lone "." or a missing digit on either side of the point,
// and values above math.MaxInt64 units are errors. It does not allocate.
func ParseFixed(b []byte, places int32) (int64, error) {
	if places < 0 || places > MaxFixedPlaces {
		return 0, ErrFixedPlaces
	}
	i := 0
	var v int64
	// Integer part: at least one digit.
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := int64(b[i] - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, ErrFixedRange
		}
		v = v*10 + d
		i++
	}
	if i == start {
		return 0, ErrFixedSyntax
	}
	frac := int32(0) // fractional digits taken into v
	if i < len(b) {
		if b[i] != '.' {
			return 0, ErrFixedSyntax
		}
		i++
		start = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			d := int64(b[i] - '0')
			if frac < places {
				if v > (math.MaxInt64-d)/10 {
					return 0, ErrFixedRange
				}
				v = v*10 + d
				frac++
			} else if d != 0 {
				return 0, ErrFixedPrecision
			}
			i++
		}
		if i == start || i != len(b) {
			return 0, ErrFixedSyntax
		}
	}
	if frac < places {
		p := pow10[places-frac]
		if v > math.MaxInt64/p {
			return 0, ErrFixedRange
		}
		v *= p
	}
	return v, nil
}

// FixedToDecimal turns v units of 10^-places back into a decimal, exactly.
func FixedToDecimal(v int64, places int32) decimal.Decimal {
	return decimal.New(v, -places)
}

// DecimalToFixed is the inverse of FixedToDecimal. ok is false when d has more significant
// decimal places than places (it would have to be rounded) or does not fit an int64. Negative
// values convert: the sign is the caller's business here, unlike on the wire.
func DecimalToFixed(d decimal.Decimal, places int32) (v int64, ok bool) {
	s := d.Shift(places)
	if !s.IsInteger() {
		return 0, false
	}
	bi := s.BigInt()
	if !bi.IsInt64() {
		return 0, false
	}
	return bi.Int64(), true
}
