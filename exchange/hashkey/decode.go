package hashkey

// Tolerant decoders of the exchange's JSON payloads (all but level2 books, see level2.go).
//
// The published examples carry quirks a strict decoder trips on (hashkey-pro-api.md §3,
// "Quirks"): values are JSON strings but may come as bare numbers, keys may carry stray
// spaces ("price "), the old revision spelt IDs "…Id" ("orderId" meaning orderSysID), and
// timestamps come in seconds or milliseconds. So instead of encoding/json into structs, each
// decoder walks the flat object once with a small validating scanner (wireObject) that does
// not allocate, normalises every key (trimmed, lower-cased) and picks out the fields it knows.
// Unknown fields are skipped but must still be well-formed JSON. Nothing here panics.
//
// Field readers treat null, "" and a string of only spaces as absent: the destination keeps
// its zero value and the required-field checks after the walk name what is missing.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

// CheckResp returns an *APIError if body is a JSON object carrying a respCode (a string or a
// number; null or "" count as absent), else nil. Any body with a respCode is a failure,
// whatever the HTTP status (reference §4). A body that is not a JSON object yields nil: the
// caller's decoder rejects it. A respCode met before a syntax error still counts: fail closed.
func CheckResp(op string, body []byte) error {
	obj, err := openWireObject(body)
	if err != nil {
		return nil
	}
	var code, msg []byte
	found := false
	var kb wireKey
	for key, val, ok := obj.next(&kb); ok; key, val, ok = obj.next(&kb) {
		switch wireFieldOf(key) {
		case fieldRespCode:
			t, present, err := wireText(val)
			switch {
			case err != nil: // an object or boolean: still a respCode, keep it visible
				code, found = val, true
			case present:
				code, found = t, true
			}
		case fieldRespMsg:
			if t, _, err := wireText(val); err == nil {
				msg = t
			}
		}
	}
	if !found {
		return nil
	}
	e := &APIError{Op: op, Message: string(msg)}
	n, err := wireInt(code)
	if err != nil || n < 0 || n > 1<<31-1 {
		e.Message = fmt.Sprintf("respCode %q: %s", wireExcerpt(code), msg)
		return e
	}
	e.Code = int(n)
	return e
}

// ParseTimestamp reads a Unix timestamp given in seconds or in milliseconds and tells them
// apart by magnitude, because the exchange sends both, sometimes for the same field
// (reference §3): below 10^11 it is seconds (any date up to the year 5138), from 10^11 up to
// 10^14 milliseconds (from 1973 on). Anything else (empty, signed, fractional, zero, larger)
// is an error. Spaces around the digits are allowed. The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	return wireUnixTime([]byte(s))
}

// DecodeServerTime decodes GET /v1/info/time: {"timestamp":"1420674445201"}.
func DecodeServerTime(b []byte) (time.Time, error) {
	var t time.Time
	err := walkObject(b, func(key wireField, val []byte) error {
		if key == fieldTimestamp {
			return readTime(&t, val)
		}
		return nil
	})
	if err == nil && t.IsZero() {
		err = errMissing("timestamp")
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("decode server time: %w", err)
	}
	return t, nil
}

// DecodeVersion decodes GET /v1/info/version: {"version":"4.1.2"}.
func DecodeVersion(b []byte) (string, error) {
	var v string
	err := walkObject(b, func(key wireField, val []byte) error {
		if key == fieldVersion {
			return readString(&v, val)
		}
		return nil
	})
	if err == nil && v == "" {
		err = errMissing("version")
	}
	if err != nil {
		return "", fmt.Errorf("decode version: %w", err)
	}
	return v, nil
}

// DecodeInstruments decodes GET /v1/referenceData/instrument: an array of instruments.
// tradingTarget is the base asset and tradingAsset the quote; when either is missing it is
// taken from the instrumentID ("ETH-BTC": base ETH, quote BTC). Both precisions are required.
func DecodeInstruments(b []byte) ([]exchange.Instrument, error) {
	return decodeArray(b, "decode instruments", decodeInstrument)
}

const (
	haveStatus uint16 = 1 << iota
	haveSide
	havePrice
	haveVolume
	haveRemaining
	haveTraded
	haveFee
	haveCode
	havePricePrecision
	haveVolumePrecision
	haveBalance
	haveAvailable
)

func decodeInstrument(b []byte) (exchange.Instrument, error) {
	var in exchange.Instrument
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldInstrumentID:
			return readString(&in.ID, val)
		case fieldTradingTarget:
			return readString(&in.Base, val)
		case fieldTradingAsset:
			return readString(&in.Quote, val)
		case fieldPricePrecision:
			return readPrecision(&in.PricePrecision, val, &have, havePricePrecision)
		case fieldVolumePrecision:
			return readPrecision(&in.VolumePrecision, val, &have, haveVolumePrecision)
		}
		return nil
	})
	switch {
	case err != nil:
	case in.ID == "":
		err = errMissing("instrumentID")
	case have&havePricePrecision == 0:
		err = errMissing("pricePrecision")
	case have&haveVolumePrecision == 0:
		err = errMissing("volumePrecision")
	case in.Base == "" || in.Quote == "":
		base, quote, ok := strings.Cut(in.ID, "-")
		if !ok || base == "" || quote == "" || strings.Contains(quote, "-") {
			err = errors.New("no tradingTarget/tradingAsset and the ID is not BASE-QUOTE")
			break
		}
		if in.Base == "" {
			in.Base = base
		}
		if in.Quote == "" {
			in.Quote = quote
		}
	}
	if err != nil && in.ID != "" {
		err = fmt.Errorf("instrument %s: %w", in.ID, err)
	}
	return in, err
}

// DecodeRateLimits decodes GET /v1/referenceData/rateLimit:
// {"queryRateLimit":"10","orderRateLimit":"300"} (calls per second). Both must be positive.
func DecodeRateLimits(b []byte) (exchange.RateLimits, error) {
	var rl exchange.RateLimits
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldQueryRateLimit:
			return readPositiveInt(&rl.Query, val)
		case fieldOrderRateLimit:
			return readPositiveInt(&rl.Order, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case rl.Query == 0:
		err = errMissing("queryRateLimit")
	case rl.Order == 0:
		err = errMissing("orderRateLimit")
	}
	if err != nil {
		return exchange.RateLimits{}, fmt.Errorf("decode rate limits: %w", err)
	}
	return rl, nil
}

// DecodeBalances decodes GET /v1/account/assets: an array of {accountID, asset, balance,
// available}; asset, balance and available are required.
func DecodeBalances(b []byte) ([]exchange.Balance, error) {
	return decodeArray(b, "decode balances", decodeBalance)
}

func decodeBalance(b []byte) (exchange.Balance, error) {
	var bal exchange.Balance
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldAsset:
			return readString(&bal.Asset, val)
		case fieldBalance:
			return readDecimal(&bal.Balance, val, true, &have, haveBalance)
		case fieldAvailable:
			return readDecimal(&bal.Available, val, true, &have, haveAvailable)
		}
		return nil
	})
	switch {
	case err != nil:
	case bal.Asset == "":
		err = errMissing("asset")
	case have&haveBalance == 0:
		err = errMissing("balance")
	case have&haveAvailable == 0:
		err = errMissing("available")
	}
	if err != nil && bal.Asset != "" {
		err = fmt.Errorf("asset %s: %w", bal.Asset, err)
	}
	return bal, err
}

// DecodeOrder decodes one order object: an element of getOrder, the answer of
// getOrderByLocalID, or the body of an order_return (whose "type" field is ignored).
//
// Required: an orderSysID or orderLocalID, instrumentID, direction, orderStatus (0–6),
// limitPrice, volumeTotalOriginal, and volumeTotal or volumeTraded (the other is derived from
// volumeTotalOriginal). actionTimestamp and insertTimestamp may be absent or "0" (zero time).
// Prices and volumes must not be negative.
func DecodeOrder(b []byte) (exchange.Order, error) {
	o, err := decodeOrder(b)
	if err != nil {
		return exchange.Order{}, fmt.Errorf("decode order: %w", err)
	}
	return o, nil
}

func decodeOrder(b []byte) (exchange.Order, error) {
	var o exchange.Order
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldOrderSysID:
			return readString(&o.SysID, val)
		case fieldOrderLocalID:
			return readString(&o.LocalID, val)
		case fieldInstrumentID:
			return readString(&o.Instrument, val)
		case fieldDirection:
			return readSide(&o.Side, val, &have, haveSide)
		case fieldLimitPrice:
			return readDecimal(&o.Price, val, false, &have, havePrice)
		case fieldVolumeTotalOriginal:
			return readDecimal(&o.Volume, val, false, &have, haveVolume)
		case fieldVolumeTotal:
			return readDecimal(&o.Remaining, val, false, &have, haveRemaining)
		case fieldVolumeTraded:
			return readDecimal(&o.Traded, val, false, &have, haveTraded)
		case fieldOrderStatus:
			return readStatus(&o.Status, val, &have, haveStatus)
		case fieldActionTimestamp:
			return readTime(&o.Updated, val)
		case fieldInsertTimestamp:
			return readTime(&o.Inserted, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case o.SysID == "" && o.LocalID == "":
		err = errMissing("orderSysID and orderLocalID")
	case o.Instrument == "":
		err = errMissing("instrumentID")
	case have&haveSide == 0:
		err = errMissing("direction")
	case have&haveStatus == 0:
		err = errMissing("orderStatus")
	case have&havePrice == 0:
		err = errMissing("limitPrice")
	case have&haveVolume == 0:
		err = errMissing("volumeTotalOriginal")
	case have&(haveRemaining|haveTraded) == 0:
		err = errMissing("volumeTotal and volumeTraded")
	case have&haveRemaining == 0:
		if o.Remaining = o.Volume.Sub(o.Traded); o.Remaining.IsNegative() {
			err = fmt.Errorf("volumeTraded %s exceeds volumeTotalOriginal %s", o.Traded, o.Volume)
		}
	case have&haveTraded == 0:
		if o.Traded = o.Volume.Sub(o.Remaining); o.Traded.IsNegative() {
			err = fmt.Errorf("volumeTotal %s exceeds volumeTotalOriginal %s", o.Remaining, o.Volume)
		}
	}
	if err != nil {
		switch {
		case o.LocalID != "":
			err = fmt.Errorf("order %s: %w", o.LocalID, err)
		case o.SysID != "":
			err = fmt.Errorf("order sys %s: %w", o.SysID, err)
		}
	}
	return o, err
}

// DecodeOrders decodes an array of orders (getOrder). null decodes as no orders.
func DecodeOrders(b []byte) ([]exchange.Order, error) {
	return decodeArray(b, "decode orders", decodeOrder)
}

// DecodeOrderOrNull decodes getOrderByLocalID's answer: the order while it is open, null once
// it is done or unknown (→ nil, nil). An array of at most one order is accepted too.
func DecodeOrderOrNull(b []byte) (*exchange.Order, error) {
	switch wireFirst(b) {
	case 'n':
		if string(bytes.TrimSpace(b)) == "null" {
			return nil, nil
		}
	case '[':
		orders, err := decodeArray(b, "decode order", decodeOrder)
		if err != nil {
			return nil, err
		}
		switch len(orders) {
		case 0:
			return nil, nil
		case 1:
			return &orders[0], nil
		}
		return nil, fmt.Errorf("decode order: want at most one order, got %d", len(orders))
	}
	o, err := DecodeOrder(b)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// DecodeFill decodes one fill: an element of getTrade or the body of a trade_return.
// Required: tradeID, an orderSysID or orderLocalID, instrumentID, direction, price, volume
// (neither negative). fee defaults to zero and may be negative (a rebate); priceSource and
// tradeTimestamp are optional.
func DecodeFill(b []byte) (exchange.Fill, error) {
	fl, err := decodeFill(b)
	if err != nil {
		return exchange.Fill{}, fmt.Errorf("decode fill: %w", err)
	}
	return fl, nil
}

func decodeFill(b []byte) (exchange.Fill, error) {
	var fl exchange.Fill
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldTradeID:
			return readString(&fl.TradeID, val)
		case fieldOrderSysID:
			return readString(&fl.SysID, val)
		case fieldOrderLocalID:
			return readString(&fl.LocalID, val)
		case fieldInstrumentID:
			return readString(&fl.Instrument, val)
		case fieldDirection:
			return readSide(&fl.Side, val, &have, haveSide)
		case fieldPrice:
			return readDecimal(&fl.Price, val, false, &have, havePrice)
		case fieldVolume:
			return readDecimal(&fl.Volume, val, false, &have, haveVolume)
		case fieldFee:
			return readDecimal(&fl.Fee, val, true, &have, haveFee)
		case fieldPriceSource:
			return readSide(&fl.PriceSource, val, nil, 0)
		case fieldTradeTimestamp:
			return readTime(&fl.Time, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case fl.TradeID == "":
		err = errMissing("tradeID")
	case fl.SysID == "" && fl.LocalID == "":
		err = errMissing("orderSysID and orderLocalID")
	case fl.Instrument == "":
		err = errMissing("instrumentID")
	case have&haveSide == 0:
		err = errMissing("direction")
	case have&havePrice == 0:
		err = errMissing("price")
	case have&haveVolume == 0:
		err = errMissing("volume")
	}
	if err != nil && fl.TradeID != "" {
		err = fmt.Errorf("trade %s: %w", fl.TradeID, err)
	}
	return fl, err
}

// DecodeFills decodes an array of fills (getTrade). null decodes as no fills.
func DecodeFills(b []byte) ([]exchange.Fill, error) {
	return decodeArray(b, "decode fills", decodeFill)
}

// DecodeTrade decodes a public trade_detail message. Required: instrumentID, price, volume;
// priceSource and tradeTimestamp are optional.
func DecodeTrade(b []byte) (exchange.Trade, error) {
	var tr exchange.Trade
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldInstrumentID:
			return readString(&tr.Instrument, val)
		case fieldPrice:
			return readDecimal(&tr.Price, val, false, &have, havePrice)
		case fieldVolume:
			return readDecimal(&tr.Volume, val, false, &have, haveVolume)
		case fieldPriceSource:
			return readSide(&tr.PriceSource, val, nil, 0)
		case fieldTradeTimestamp:
			return readTime(&tr.Time, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case tr.Instrument == "":
		err = errMissing("instrumentID")
	case have&havePrice == 0:
		err = errMissing("price")
	case have&haveVolume == 0:
		err = errMissing("volume")
	}
	if err != nil {
		return exchange.Trade{}, fmt.Errorf("decode trade: %w", err)
	}
	return tr, nil
}

// DecodeInsertRejected decodes an order_insert_rsp:
// {"type":"order_insert_rsp","orderLocalID":"…","respCode":"2011","respMsg":"…"}.
// orderLocalID and respCode are required. Received is left zero for the caller to stamp.
func DecodeInsertRejected(b []byte) (exchange.InsertRejected, error) {
	var r exchange.InsertRejected
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldOrderLocalID:
			return readString(&r.LocalID, val)
		case fieldRespCode:
			return readCode(&r.Code, val, &have)
		case fieldRespMsg:
			return readString(&r.Message, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case r.LocalID == "":
		err = errMissing("orderLocalID")
	case have&haveCode == 0:
		err = errMissing("respCode")
	}
	if err != nil {
		return exchange.InsertRejected{}, fmt.Errorf("decode order_insert_rsp: %w", err)
	}
	return r, nil
}

// DecodeCancelRejected decodes an order_cancel_rsp:
// {"type":"order_cancel_rsp","orderSysID":"…","orderLocalID":"…","respCode":"2015","respMsg":"…"}.
// respCode and at least one of the IDs are required. Received is left zero.
func DecodeCancelRejected(b []byte) (exchange.CancelRejected, error) {
	var r exchange.CancelRejected
	var have uint16
	err := walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldOrderSysID:
			return readString(&r.SysID, val)
		case fieldOrderLocalID:
			return readString(&r.LocalID, val)
		case fieldRespCode:
			return readCode(&r.Code, val, &have)
		case fieldRespMsg:
			return readString(&r.Message, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case r.SysID == "" && r.LocalID == "":
		err = errMissing("orderSysID and orderLocalID")
	case have&haveCode == 0:
		err = errMissing("respCode")
	}
	if err != nil {
		return exchange.CancelRejected{}, fmt.Errorf("decode order_cancel_rsp: %w", err)
	}
	return r, nil
}

// DecodeInsertAck decodes POST /v1/order/insert's answer {"orderLocalID":"…"}: the order was
// received, not yet accepted.
func DecodeInsertAck(b []byte) (localID string, err error) {
	err = walkObject(b, func(key wireField, val []byte) error {
		if key == fieldOrderLocalID {
			return readString(&localID, val)
		}
		return nil
	})
	if err == nil && localID == "" {
		err = errMissing("orderLocalID")
	}
	if err != nil {
		return "", fmt.Errorf("decode insert answer: %w", err)
	}
	return localID, nil
}

// DecodeCancelAck decodes the answer of cancelByLocalID ({"orderLocalID":"…","message":
// "received"}) or of cancelBySysID ({"orderSysID":"…",…}) and returns the ID it names (the
// local one if both are there). "received" only means the exchange got the request.
func DecodeCancelAck(b []byte) (id string, err error) {
	var local, sys string
	err = walkObject(b, func(key wireField, val []byte) error {
		switch key {
		case fieldOrderLocalID:
			return readString(&local, val)
		case fieldOrderSysID:
			return readString(&sys, val)
		}
		return nil
	})
	switch {
	case err != nil:
	case local != "":
		return local, nil
	case sys != "":
		return sys, nil
	default:
		err = errMissing("orderLocalID and orderSysID")
	}
	return "", fmt.Errorf("decode cancel answer: %w", err)
}

// DecodeBatchCancelAck decodes POST /v1/order/batchCancel's answer, the array of the
// orderSysIDs received; an object {"orderSysIDs":[…]} is accepted too, and null is none.
func DecodeBatchCancelAck(b []byte) ([]string, error) {
	const what = "decode batch cancel answer"
	if wireFirst(b) != '{' {
		return decodeArray(b, what, decodeID)
	}
	var ids []string
	found := false
	err := walkObject(b, func(key wireField, val []byte) error {
		if key == fieldOrderSysIDs {
			var err error
			found = true
			ids, err = decodeArray(val, "", decodeID)
			return err
		}
		return nil
	})
	if err == nil && !found {
		err = errMissing("orderSysIDs")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids, nil
}

func decodeID(b []byte) (string, error) {
	var id string
	if err := readString(&id, b); err != nil {
		return "", err
	}
	if id == "" {
		return "", errors.New("empty ID")
	}
	return id, nil
}

// MessageType returns the "type" field of a WebSocket message without decoding the rest, and
// ok=false when the message is not an object or has no string "type" before any syntax error.
// Known types come back as constants, so the common case does not allocate.
func MessageType(b []byte) (string, bool) {
	obj, err := openWireObject(b)
	if err != nil {
		return "", false
	}
	var kb wireKey
	for key, val, ok := obj.next(&kb); ok; key, val, ok = obj.next(&kb) {
		if string(key) != "type" {
			continue
		}
		if val[0] != '"' {
			return "", false
		}
		text, present, err := wireText(val)
		if err != nil || !present {
			return "", false
		}
		return internMessageType(text), true
	}
	return "", false
}

func internMessageType(t []byte) string {
	switch string(t) {
	case "order_return":
		return "order_return"
	case "trade_return":
		return "trade_return"
	case "order_insert_rsp":
		return "order_insert_rsp"
	case "order_cancel_rsp":
		return "order_cancel_rsp"
	case "trade_detail":
		return "trade_detail"
	case "level2_snapshot":
		return "level2_snapshot"
	case "level2_update":
		return "level2_update"
	case "level2@5_snapshot":
		return "level2@5_snapshot"
	case "level2@5_update":
		return "level2@5_update"
	case "level2@10_snapshot":
		return "level2@10_snapshot"
	case "level2@10_update":
		return "level2@10_update"
	case "level2@20_snapshot":
		return "level2@20_snapshot"
	case "level2@20_update":
		return "level2@20_update"
	case "level2@50_snapshot":
		return "level2@50_snapshot"
	case "level2@50_update":
		return "level2@50_update"
	}
	return string(t)
}

// ---- walking ----

// walkObject calls field for each member of the JSON object b whose key names a field we
// read (matched trimmed and case-insensitively, see wireFieldOf), with the member's raw
// value, and checks the whole object is well formed. A field error comes back prefixed with
// the key as it was sent. The callback gets a field number rather than the key bytes so that
// the key buffer stays on the stack.
func walkObject(b []byte, field func(key wireField, val []byte) error) error {
	obj, err := openWireObject(b)
	if err != nil {
		return err
	}
	var kb wireKey
	for key, val, ok := obj.next(&kb); ok; key, val, ok = obj.next(&kb) {
		f := wireFieldOf(key)
		if f == fieldUnknown {
			continue
		}
		if err := field(f, val); err != nil {
			return fmt.Errorf("%s: %w", kb.raw, err)
		}
	}
	return obj.finish()
}

// wireField names a field some decoder reads.
type wireField uint8

const (
	fieldUnknown wireField = iota
	fieldActionTimestamp
	fieldAsset
	fieldAvailable
	fieldBalance
	fieldDirection
	fieldFee
	fieldInsertTimestamp
	fieldInstrumentID
	fieldLimitPrice
	fieldOrderLocalID
	fieldOrderRateLimit
	fieldOrderStatus
	fieldOrderSysID
	fieldOrderSysIDs
	fieldPrice
	fieldPricePrecision
	fieldPriceSource
	fieldQueryRateLimit
	fieldRespCode
	fieldRespMsg
	fieldTimestamp
	fieldTradeID
	fieldTradeTimestamp
	fieldTradingAsset
	fieldTradingTarget
	fieldVersion
	fieldVolume
	fieldVolumePrecision
	fieldVolumeTotal
	fieldVolumeTotalOriginal
	fieldVolumeTraded
)

// wireFieldOf maps a normalised (trimmed, lower-cased) key to its field. This is the one
// place the old spellings live: "orderLocalId" and "instrumentId" fold into the current
// names by case, and the old "orderId" was the exchange's ID, so it means orderSysID.
func wireFieldOf(key []byte) wireField {
	switch string(key) {
	case "actiontimestamp":
		return fieldActionTimestamp
	case "asset":
		return fieldAsset
	case "available":
		return fieldAvailable
	case "balance":
		return fieldBalance
	case "direction":
		return fieldDirection
	case "fee":
		return fieldFee
	case "inserttimestamp":
		return fieldInsertTimestamp
	case "instrumentid":
		return fieldInstrumentID
	case "limitprice":
		return fieldLimitPrice
	case "orderlocalid":
		return fieldOrderLocalID
	case "orderratelimit":
		return fieldOrderRateLimit
	case "orderstatus":
		return fieldOrderStatus
	case "ordersysid", "orderid":
		return fieldOrderSysID
	case "ordersysids":
		return fieldOrderSysIDs
	case "price":
		return fieldPrice
	case "priceprecision":
		return fieldPricePrecision
	case "pricesource":
		return fieldPriceSource
	case "queryratelimit":
		return fieldQueryRateLimit
	case "respcode":
		return fieldRespCode
	case "respmsg":
		return fieldRespMsg
	case "timestamp":
		return fieldTimestamp
	case "tradeid":
		return fieldTradeID
	case "tradetimestamp":
		return fieldTradeTimestamp
	case "tradingasset":
		return fieldTradingAsset
	case "tradingtarget":
		return fieldTradingTarget
	case "version":
		return fieldVersion
	case "volume":
		return fieldVolume
	case "volumeprecision":
		return fieldVolumePrecision
	case "volumetotal":
		return fieldVolumeTotal
	case "volumetotaloriginal":
		return fieldVolumeTotalOriginal
	case "volumetraded":
		return fieldVolumeTraded
	}
	return fieldUnknown
}

// decodeArray decodes a JSON array whose elements each decode with elem; null → nil. what
// prefixes its errors unless empty.
func decodeArray[T any](b []byte, what string, elem func([]byte) (T, error)) ([]T, error) {
	out, err := decodeArrayElems(b, elem)
	if err != nil && what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return out, err
}

func decodeArrayElems[T any](b []byte, elem func([]byte) (T, error)) ([]T, error) {
	i := wireSpace(b, 0)
	if i < len(b) && b[i] == 'n' && string(bytes.TrimSpace(b)) == "null" {
		return nil, nil
	}
	if i >= len(b) || b[i] != '[' {
		return nil, fmt.Errorf("want a JSON array, got %s", wireKind(b))
	}
	out := []T{}
	i = wireSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		i = wireSpace(b, i+1)
	} else {
		for {
			end, err := wireValueEnd(b, i)
			if err != nil {
				return nil, err
			}
			v, err := elem(b[i:end])
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", len(out), err)
			}
			out = append(out, v)
			i = wireSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = wireSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				i = wireSpace(b, i+1)
				break
			}
			return nil, wireSyntax(i, "want , or ] in array")
		}
	}
	if i != len(b) {
		return nil, wireSyntax(i, "data after the array")
	}
	return out, nil
}

func errMissing(field string) error { return errors.New("missing " + field) }

// ---- field readers ----
// Each reads one value into dst and, when the value was present, sets bit in *have (if have
// is not nil). Absent (null, "", spaces) leaves dst alone.

func readString(dst *string, val []byte) error {
	t, present, err := wireText(val)
	if err == nil && present {
		*dst = string(t)
	}
	return err
}

// readDecimal rejects a negative value unless signed.
func readDecimal(dst *decimal.Decimal, val []byte, signed bool, have *uint16, bit uint16) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	d, err := wireDecimal(t)
	if err != nil {
		return err
	}
	if !signed && d.IsNegative() {
		return fmt.Errorf("negative value %s", d)
	}
	*dst = d
	*have |= bit
	return nil
}

func readSide(dst *exchange.Side, val []byte, have *uint16, bit uint16) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	switch string(t) {
	case "buy":
		*dst = exchange.Buy
	case "sell":
		*dst = exchange.Sell
	default:
		// Tolerate case and padding; exchange.ParseSide stays the judge of what a side is.
		s, err := exchange.ParseSide(strings.ToLower(strings.TrimSpace(string(t))))
		if err != nil {
			return err
		}
		*dst = s
	}
	if have != nil {
		*have |= bit
	}
	return nil
}

func readStatus(dst *exchange.OrderStatus, val []byte, have *uint16, bit uint16) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	n, err := wireInt(t)
	if err != nil {
		return err
	}
	if n < 0 || n > int64(exchange.StatusPartCancelled) {
		return fmt.Errorf("%d is not an order status (0-6)", n)
	}
	*dst = exchange.OrderStatus(n)
	*have |= bit
	return nil
}

// readTime leaves dst zero for "0", which the exchange uses for "not set".
func readTime(dst *time.Time, val []byte) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	if string(bytes.TrimSpace(t)) == "0" {
		return nil
	}
	ts, err := wireUnixTime(t)
	if err != nil {
		return err
	}
	*dst = ts
	return nil
}

func readCode(dst *int, val []byte, have *uint16) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	n, err := wireInt(t)
	if err != nil || n < 0 || n > 1<<31-1 {
		return fmt.Errorf("%q is not a respCode", wireExcerpt(t))
	}
	*dst = int(n)
	*have |= haveCode
	return nil
}

// maxPrecision bounds the decimal places an instrument may declare; more is corruption.
const maxPrecision = 18

func readPrecision(dst *int32, val []byte, have *uint16, bit uint16) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	n, err := wireInt(t)
	if err != nil {
		return err
	}
	if n < 0 || n > maxPrecision {
		return fmt.Errorf("%d decimal places is outside 0-%d", n, maxPrecision)
	}
	*dst = int32(n)
	*have |= bit
	return nil
}

func readPositiveInt(dst *int, val []byte) error {
	t, present, err := wireText(val)
	if err != nil || !present {
		return err
	}
	n, err := wireInt(t)
	if err != nil {
		return err
	}
	if n <= 0 || n > 1<<31-1 {
		return fmt.Errorf("%d is not a positive limit", n)
	}
	*dst = int(n)
	return nil
}

// ---- scalar values ----

// wireText returns the text of a scalar: a string's unescaped content or a number's literal.
// present is false for null and for a string that is empty or only spaces. Objects, arrays
// and booleans are errors.
func wireText(val []byte) (text []byte, present bool, err error) {
	if len(val) == 0 {
		return nil, false, errors.New("empty value")
	}
	switch c := val[0]; {
	case c == '"':
		if len(val) < 2 || val[len(val)-1] != '"' {
			return nil, false, errors.New("unterminated string")
		}
		text = val[1 : len(val)-1]
		if bytes.IndexByte(text, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(val, &s); err != nil {
				return nil, false, fmt.Errorf("bad string: %w", err)
			}
			text = []byte(s)
		}
		if len(bytes.TrimSpace(text)) == 0 {
			return nil, false, nil
		}
		return text, true, nil
	case c == '-' || ('0' <= c && c <= '9'):
		return val, true, nil
	case c == 'n':
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("want a string or number, got %s", wireKind(val))
}

// wireInt parses a decimal integer of at most 18 digits; spaces around it are allowed.
func wireInt(t []byte) (int64, error) {
	t = bytes.TrimSpace(t)
	digits := t
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, fmt.Errorf("%q is not an integer", wireExcerpt(t))
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not an integer", wireExcerpt(t))
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(t) {
		n = -n
	}
	return n, nil
}

// maxDecimalText and maxDecimalExp bound a decimal from the wire. Real values are short plain
// decimals; without a bound "1e99999999" would be accepted and make every String() or
// rounding of it allocate without end.
const (
	maxDecimalText = 64
	maxDecimalExp  = 64
)

// wireDecimal reads a decimal written as a JSON number ("0.031", "-1", "1.5e-3"), spaces
// around allowed. NaN, Inf, hex, "+1", ".5", "5." and the empty string are rejected.
func wireDecimal(t []byte) (decimal.Decimal, error) {
	t = bytes.TrimSpace(t)
	if len(t) == 0 {
		return decimal.Decimal{}, errors.New("empty decimal")
	}
	if len(t) > maxDecimalText {
		return decimal.Decimal{}, fmt.Errorf("decimal of %d characters is too long", len(t))
	}
	if end, err := wireNumberEnd(t, 0); err != nil || end != len(t) {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal", wireExcerpt(t))
	}
	// Fast path for the usual plain decimal of up to 18 digits: no string, no big.Int parse.
	var coef int64
	var exp int32
	digits, point, plain := 0, false, true
	for _, c := range t {
		switch {
		case '0' <= c && c <= '9':
			coef = coef*10 + int64(c-'0')
			digits++
			if point {
				exp--
			}
		case c == '.':
			point = true
		case c == '-':
		default:
			plain = false
		}
	}
	if plain && digits <= 18 {
		if t[0] == '-' {
			coef = -coef
		}
		return decimal.New(coef, exp), nil
	}
	d, err := decimal.NewFromString(string(t))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal", wireExcerpt(t))
	}
	if e := d.Exponent(); e > maxDecimalExp || e < -maxDecimalExp {
		return decimal.Decimal{}, fmt.Errorf("%q is out of range", wireExcerpt(t))
	}
	return d, nil
}

// wireUnixTime is ParseTimestamp on bytes.
func wireUnixTime(t []byte) (time.Time, error) {
	t = bytes.TrimSpace(t)
	if len(t) == 0 {
		return time.Time{}, errors.New("empty timestamp")
	}
	if len(t) > 14 {
		return time.Time{}, fmt.Errorf("timestamp %q is too long", wireExcerpt(t))
	}
	var n int64
	for _, c := range t {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("timestamp %q is not a whole number", wireExcerpt(t))
		}
		n = n*10 + int64(c-'0')
	}
	switch {
	case n == 0:
		return time.Time{}, errors.New("timestamp 0")
	case n < 1e11:
		return time.Unix(n, 0).UTC(), nil
	case n < 1e14:
		return time.UnixMilli(n).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %d is neither seconds nor milliseconds", n)
}

// wireExcerpt keeps error text about hostile input short.
func wireExcerpt(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// wireKind names what a value is, for "want X, got Y" errors.
func wireKind(b []byte) string {
	i := wireSpace(b, 0)
	if i >= len(b) {
		return "nothing"
	}
	switch c := b[i]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || ('0' <= c && c <= '9'):
		return "a number"
	}
	return fmt.Sprintf("%q", wireExcerpt(b[i:]))
}

func wireFirst(b []byte) byte {
	if i := wireSpace(b, 0); i < len(b) {
		return b[i]
	}
	return 0
}

// ---- the scanner ----

// wireObject walks the members of one JSON object, validating as it goes, without
// allocating. It stops at the first syntax error, which finish reports.
type wireObject struct {
	b    []byte
	i    int
	n    int // members returned so far
	done bool
	err  error
}

// wireKey holds the current member's key: lower is the normalised form next returns, raw the
// trimmed key as sent (for error messages).
type wireKey struct {
	lower [32]byte
	raw   []byte
}

func openWireObject(b []byte) (wireObject, error) {
	i := wireSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return wireObject{}, fmt.Errorf("want a JSON object, got %s", wireKind(b))
	}
	return wireObject{b: b, i: i + 1}, nil
}

// next returns the next member: its key normalised into kb (nil for a key longer than any
// field we read) and its raw value, or ok=false at the end or at a syntax error.
func (o *wireObject) next(kb *wireKey) (key, val []byte, ok bool) {
	if o.done || o.err != nil {
		return nil, nil, false
	}
	b := o.b
	i := wireSpace(b, o.i)
	if o.n == 0 && i < len(b) && b[i] == '}' {
		o.close(i)
		return nil, nil, false
	}
	if i >= len(b) || b[i] != '"' {
		o.err = wireSyntax(i, "want a key")
		return nil, nil, false
	}
	kend, escaped, err := wireStringEnd(b, i)
	if err != nil {
		o.err = err
		return nil, nil, false
	}
	rawKey := b[i+1 : kend-1]
	i = wireSpace(b, kend)
	if i >= len(b) || b[i] != ':' {
		o.err = wireSyntax(i, "want : after a key")
		return nil, nil, false
	}
	i = wireSpace(b, i+1)
	vend, err := wireValueEnd(b, i)
	if err != nil {
		o.err = err
		return nil, nil, false
	}
	val = b[i:vend]
	i = wireSpace(b, vend)
	switch {
	case i < len(b) && b[i] == ',':
		o.i = i + 1
	case i < len(b) && b[i] == '}':
		o.close(i)
	default:
		o.err = wireSyntax(i, "want , or } after a value")
		return nil, nil, false
	}
	o.n++
	return kb.set(rawKey, escaped), val, true
}

// close consumes the '}' at i and checks that only space follows the object.
func (o *wireObject) close(i int) {
	o.done = true
	if j := wireSpace(o.b, i+1); j != len(o.b) {
		o.err = wireSyntax(j, "data after the object")
	}
}

// finish reports a syntax error met by next, or an object not read to its end.
func (o *wireObject) finish() error {
	if o.err != nil {
		return o.err
	}
	if !o.done {
		return wireSyntax(o.i, "object not read to its end")
	}
	return nil
}

func (kb *wireKey) set(raw []byte, escaped bool) []byte {
	if escaped {
		// wireStringEnd has checked the escapes, so this cannot fail.
		var s string
		_ = json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s)
		raw = []byte(s)
	}
	raw = bytes.TrimSpace(raw)
	kb.raw = raw
	if len(raw) > len(kb.lower) {
		return nil
	}
	for i, c := range raw {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		kb.lower[i] = c
	}
	return kb.lower[:len(raw)]
}

func wireSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

type wireSyntaxError struct {
	off int
	msg string
}

func (e *wireSyntaxError) Error() string {
	return "malformed JSON at byte " + strconv.Itoa(e.off) + ": " + e.msg
}

func wireSyntax(off int, msg string) error { return &wireSyntaxError{off: off, msg: msg} }

// wireValueEnd returns the end of the JSON value starting at b[i].
func wireValueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, wireSyntax(i, "want a value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := wireStringEnd(b, i)
		return end, err
	case c == '-' || ('0' <= c && c <= '9'):
		return wireNumberEnd(b, i)
	case c == 't':
		return wireLiteralEnd(b, i, "true")
	case c == 'f':
		return wireLiteralEnd(b, i, "false")
	case c == 'n':
		return wireLiteralEnd(b, i, "null")
	case c == '{' || c == '[':
		return wireCompositeEnd(b, i)
	}
	return i, wireSyntax(i, "want a value")
}

func wireLiteralEnd(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, wireSyntax(i, "bad literal")
	}
	return i + len(lit), nil
}

// wireStringEnd returns the end (after the closing quote) of the string starting at
// b[i] == '"', and whether it holds escapes.
func wireStringEnd(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for j < len(b) {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return j, escaped, wireSyntax(j, "unterminated escape")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex4(b[j+2:j+6]) {
					return j, escaped, wireSyntax(j, "bad \\u escape")
				}
				j += 6
			default:
				return j, escaped, wireSyntax(j, "bad escape")
			}
		case c < 0x20:
			return j, escaped, wireSyntax(j, "control character in string")
		default:
			j++
		}
	}
	return j, escaped, wireSyntax(i, "unterminated string")
}

func isHex4(h []byte) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// wireNumberEnd returns the end of the JSON number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func wireNumberEnd(b []byte, i int) (int, error) {
	start := i
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return start, wireSyntax(start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return start, wireSyntax(start, "bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return start, wireSyntax(start, "bad number")
		}
	}
	return i, nil
}

// wireCompositeEnd returns the end of the object or array at b[i]. Members we never read are
// rare, so it finds the matching bracket cheaply and lets encoding/json validate the inside.
func wireCompositeEnd(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); {
		switch b[j] {
		case '"':
			end, _, err := wireStringEnd(b, j)
			if err != nil {
				return j, err
			}
			j = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				if !json.Valid(b[i : j+1]) {
					return i, wireSyntax(i, "malformed nested value")
				}
				return j + 1, nil
			}
		}
		j++
	}
	return i, wireSyntax(i, "unterminated object or array")
}
