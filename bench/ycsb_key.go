package bench

import "strconv"

// YCSB's 64-bit FNV constants (site.ycsb.Utils).
const (
	fnvOffsetBasis64 int64 = -3750763034362895579 // 0xCBF29CE484222325
	fnvPrime64       int64 = 1099511628211
)

// KeyPrefix and KeyDigits define the key format: "user" followed by the
// hashed key number in decimal, zero-padded to 19 digits (YCSB's
// zeropadding=19, wide enough for any non-negative int64), so every key is
// KeySize bytes.
const (
	KeyPrefix = "user"
	KeyDigits = 19
	KeySize   = len(KeyPrefix) + KeyDigits
)

// FNVHash64 is YCSB's Utils.fnvhash64: FNV-1a over the 8 little-endian bytes
// of v (taken with arithmetic shifts, as Java does), made non-negative with
// Java's Math.abs (which leaves math.MinInt64 negative).
func FNVHash64(v int64) int64 {
	h := fnvOffsetBasis64
	for i := 0; i < 8; i++ {
		octet := v & 0xff
		v >>= 8
		h ^= octet
		h *= fnvPrime64
	}
	if h < 0 {
		h = -h
	}
	return h
}

// AppendKey appends the key of record number keynum to dst as YCSB's
// CoreWorkload.buildKeyName does with insertorder=hashed: "user" and
// FNVHash64(keynum), zero-padded to KeyDigits digits.
func AppendKey(dst []byte, keynum int64) []byte {
	h := FNVHash64(keynum)
	var digits [24]byte
	d := strconv.AppendInt(digits[:0], h, 10)
	dst = append(dst, KeyPrefix...)
	for i := len(d); i < KeyDigits; i++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}
