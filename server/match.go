package server

// globMatch reports whether s matches the Redis glob pattern p: * (any
// run), ? (any byte), [abc] [^abc] [a-z] (classes), \x (literal x). It
// backtracks only to the last star, so it runs in O(len(p)*len(s)) time
// whatever the pattern.
func globMatch(p, s []byte) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) && p[pi] == '*' {
			starP, starS = pi, si
			pi++
			continue
		}
		if pi < len(p) {
			if n, ok := matchToken(p[pi:], s[si]); ok {
				pi += n
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		si, pi = starS, starP+1
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchToken matches the first token of p (not a star) against c and
// returns the token's length.
func matchToken(p []byte, c byte) (int, bool) {
	switch p[0] {
	case '?':
		return 1, true
	case '\\':
		if len(p) >= 2 {
			return 2, p[1] == c
		}
		return 1, c == '\\'
	case '[':
		i := 1
		not := i < len(p) && p[i] == '^'
		if not {
			i++
		}
		match := false
		for i < len(p) && p[i] != ']' {
			switch {
			case p[i] == '\\' && i+1 < len(p):
				match = match || p[i+1] == c
				i += 2
			case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
				lo, hi := p[i], p[i+2]
				if lo > hi {
					lo, hi = hi, lo
				}
				match = match || (c >= lo && c <= hi)
				i += 3
			default:
				match = match || p[i] == c
				i++
			}
		}
		if i < len(p) {
			i++ // the ']'
		}
		return i, match != not
	}
	return 1, p[0] == c
}

// globPrefix returns the literal prefix every match of p starts with.
func globPrefix(p []byte) []byte {
	var out []byte
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[':
			return out
		case '\\':
			if i+1 < len(p) {
				i++
			}
		}
		out = append(out, p[i])
	}
	return out
}
