package hashkeysim

import (
	"strconv"
	"time"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
)

// This file writes every JSON the simulator sends. The encoders append to a byte slice with a
// fixed key order instead of going through encoding/json: the output is byte-for-byte
// deterministic (the determinism test depends on it), every value is a JSON string as the
// reference demands, and the hot paths allocate little.

// appendString appends s as a JSON string, escaping what JSON requires.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKey appends `"key":` preceded by a comma unless it is the object's first key.
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendField appends a string-valued member.
func appendField(b []byte, key, value string) []byte {
	return appendString(appendKey(b, key), value)
}

// appendIntField appends an integer as a JSON string member.
func appendIntField(b []byte, key string, v int64) []byte {
	b = append(appendKey(b, key), '"')
	b = strconv.AppendInt(b, v, 10)
	return append(b, '"')
}

// appendFixed appends v × 10^-prec in plain decimal notation without trailing zeros
// ("0.031", "65000", "0"), the way the exchange writes prices and volumes.
func appendFixed(b []byte, v int64, prec int32) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var digits [24]byte
	d := strconv.AppendInt(digits[:0], v, 10)
	p := int(prec)
	if p <= 0 {
		b = append(b, d...)
		for ; p < 0; p++ {
			b = append(b, '0')
		}
		return b
	}
	for len(d) <= p { // left-pad so there is at least one integer digit
		d = append([]byte{'0'}, d...)
	}
	intPart, frac := d[:len(d)-p], d[len(d)-p:]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	b = append(b, intPart...)
	if len(frac) > 0 {
		b = append(b, '.')
		b = append(b, frac...)
	}
	return b
}

func appendFixedField(b []byte, key string, v int64, prec int32) []byte {
	b = append(appendKey(b, key), '"')
	b = appendFixed(b, v, prec)
	return append(b, '"')
}

func appendDecimalField(b []byte, key string, d decimal.Decimal) []byte {
	return appendField(b, key, d.String())
}

// appendDateField appends the date (20181113) of t as a member. Dates and times are in UTC,
// as in the reference's example (pubTimestamp 1542104001056 is pubDate 20181113, pubTime
// 10:13:21).
func appendDateField(b []byte, key string, t time.Time) []byte {
	b = append(appendKey(b, key), '"')
	b = t.UTC().AppendFormat(b, "20060102")
	return append(b, '"')
}

// appendClockField appends the UTC time of day (10:13:21) of t as a member.
func appendClockField(b []byte, key string, t time.Time) []byte {
	b = append(appendKey(b, key), '"')
	b = t.UTC().AppendFormat(b, "15:04:05")
	return append(b, '"')
}

// quirkKey returns key with the stray trailing space some of the exchange's published
// examples carry, when the Quirks fault is on.
func quirkKey(key string, quirks bool) string {
	if quirks {
		return key + " "
	}
	return key
}

// appendOrder appends an order object; typ is "order_return" on the private stream and
// empty for REST answers.
func appendOrder(b []byte, typ string, o *order, quirks bool) []byte {
	inst := o.inst.spec
	b = append(b, '{')
	if typ != "" {
		b = appendField(b, "type", typ)
	}
	b = appendField(b, "orderSysID", o.sysID)
	b = appendField(b, "orderLocalID", o.localID)
	b = appendField(b, quirkKey("instrumentID", quirks), inst.ID)
	b = appendField(b, "direction", o.side.String())
	b = appendField(b, "orderPriceType", "limit")
	b = appendFixedField(b, "limitPrice", o.price, inst.PricePrecision)
	b = appendFixedField(b, "volumeTotalOriginal", o.volume, inst.VolumePrecision)
	b = appendFixedField(b, quirkKey("volumeTotal", quirks), o.remaining, inst.VolumePrecision)
	b = appendFixedField(b, "volumeTraded", o.volume-o.remaining, inst.VolumePrecision)
	b = appendField(b, "timeCondition", "GTC")
	b = appendIntField(b, "orderStatus", int64(o.status))
	b = appendIntField(b, "actionTimestamp", o.action.UnixMilli())
	b = appendDateField(b, "insertDate", o.inserted)
	b = appendClockField(b, "insertTime", o.inserted)
	b = appendIntField(b, "insertTimestamp", o.inserted.Unix())
	if o.cancelled.IsZero() {
		b = appendField(b, "cancelDate", "")
		b = appendField(b, "cancelTime", "")
	} else {
		b = appendDateField(b, "cancelDate", o.cancelled)
		b = appendClockField(b, "cancelTime", o.cancelled)
	}
	return append(b, '}')
}

// appendFill appends a fill; typ is "trade_return" on the private stream (timestamp in ms)
// and empty for getTrade (timestamp in seconds). Quirks also switch the private stream's
// timestamp to seconds, as some of the exchange's own examples do.
func appendFill(b []byte, typ string, f *fill, quirks bool) []byte {
	inst := f.inst.spec
	b = append(b, '{')
	if typ != "" {
		b = appendField(b, "type", typ)
	}
	b = appendField(b, "tradeID", f.tradeID)
	b = appendField(b, "orderSysID", f.sysID)
	b = appendField(b, "orderLocalID", f.localID)
	b = appendField(b, "instrumentID", inst.ID)
	b = appendField(b, "direction", f.side.String())
	b = appendFixedField(b, quirkKey("price", quirks), f.price, inst.PricePrecision)
	b = appendField(b, "priceSource", f.priceSource.String())
	b = appendFixedField(b, quirkKey("volume", quirks), f.volume, inst.VolumePrecision)
	b = appendDecimalField(b, quirkKey("fee", quirks), f.fee)
	b = appendDateField(b, "tradeDate", f.time)
	b = appendClockField(b, "tradeTime", f.time)
	if typ == "" || quirks {
		b = appendIntField(b, "tradeTimestamp", f.time.Unix())
	} else {
		b = appendIntField(b, "tradeTimestamp", f.time.UnixMilli())
	}
	return append(b, '}')
}

// appendTradeDetail appends a public trade for the ticker channel.
func appendTradeDetail(b []byte, inst *instrument, t publicTrade, quirks bool) []byte {
	spec := inst.spec
	b = append(b, '{')
	b = appendField(b, "type", "trade_detail")
	b = appendField(b, "instrumentID", spec.ID)
	b = appendFixedField(b, quirkKey("price", quirks), t.price, spec.PricePrecision)
	b = appendField(b, "priceSource", t.priceSource.String())
	b = appendFixedField(b, quirkKey("volume", quirks), t.volume, spec.VolumePrecision)
	b = appendDateField(b, "tradeDate", t.time)
	b = appendClockField(b, "tradeTime", t.time)
	if quirks {
		b = appendIntField(b, "tradeTimestamp", t.time.Unix())
	} else {
		b = appendIntField(b, "tradeTimestamp", t.time.UnixMilli())
	}
	return append(b, '}')
}

// appendLevels appends a JSON array of [price, volume] string pairs.
func appendLevels(b []byte, levels []exchange.Level, spec exchange.Instrument) []byte {
	b = append(b, '[')
	for i, l := range levels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[', '"')
		b = appendFixed(b, l.Price, spec.PricePrecision)
		b = append(b, '"', ',', '"')
		b = appendFixed(b, l.Volume, spec.VolumePrecision)
		b = append(b, '"', ']')
	}
	return append(b, ']')
}

// appendBook appends a level-2 book message; typ is e.g. "level2@10_snapshot", or empty for
// the REST getLevel2 answer.
func appendBook(b []byte, typ string, spec exchange.Instrument, bids, asks []exchange.Level, t time.Time) []byte {
	b = append(b, '{')
	if typ != "" {
		b = appendField(b, "type", typ)
	}
	b = appendField(b, "instrumentID", spec.ID)
	b = appendLevels(appendKey(b, "buy"), bids, spec)
	b = appendLevels(appendKey(b, "sell"), asks, spec)
	b = appendDateField(b, "pubDate", t)
	b = appendClockField(b, "pubTime", t)
	b = appendIntField(b, "pubTimestamp", t.UnixMilli())
	return append(b, '}')
}

// appendInsertRsp appends an order_insert_rsp (an asynchronous insert rejection).
func appendInsertRsp(b []byte, localID string, code int, msg string) []byte {
	b = append(b, '{')
	b = appendField(b, "type", "order_insert_rsp")
	b = appendField(b, "orderLocalID", localID)
	b = appendIntField(b, "respCode", int64(code))
	b = appendField(b, "respMsg", msg)
	return append(b, '}')
}

// appendCancelRsp appends an order_cancel_rsp (an asynchronous cancel rejection).
func appendCancelRsp(b []byte, sysID, localID string, code int, msg string) []byte {
	b = append(b, '{')
	b = appendField(b, "type", "order_cancel_rsp")
	b = appendField(b, "orderSysID", sysID)
	b = appendField(b, "orderLocalID", localID)
	b = appendIntField(b, "respCode", int64(code))
	b = appendField(b, "respMsg", msg)
	return append(b, '}')
}

// appendSubscribeRsp appends the acknowledgement of one subscribe or unsubscribe: typ is
// "subscribe_rsp" or "unsubscribe_rsp"; instrumentID names the instrument an error is about
// and is left out when empty.
func appendSubscribeRsp(b []byte, typ, channel, instrumentID string, code int, msg string) []byte {
	b = append(b, '{')
	b = appendField(b, "type", typ)
	b = appendField(b, "channel", channel)
	if instrumentID != "" {
		b = appendField(b, "instrumentID", instrumentID)
	}
	b = appendIntField(b, "respCode", int64(code))
	b = appendField(b, "respMsg", msg)
	return append(b, '}')
}

// appendError appends a REST error body.
func appendError(b []byte, code int, msg string) []byte {
	b = append(b, '{')
	b = appendIntField(b, "respCode", int64(code))
	b = appendField(b, "respMsg", msg)
	return append(b, '}')
}
