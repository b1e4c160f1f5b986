package server

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"a*", "abc", true},
		{"a*", "bac", false},
		{"*c", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true},
		{"h[a-b]llo", "hcllo", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"user:*:name", "user:42:name", true},
		{"user:*:name", "user:42:age", false},
		{"**a", "ba", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := globMatch([]byte(tc.p), []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
	// A pathological pattern must not take exponential time.
	p := strings.Repeat("*a", 30) + "b"
	s := strings.Repeat("a", 2000)
	if globMatch([]byte(p), []byte(s)) {
		t.Fatal("pathological pattern matched")
	}
}

func TestGlobPrefix(t *testing.T) {
	for p, want := range map[string]string{"user:*": "user:", `a\*b*`: "a*b", "*x": "", "abc": "abc", "a?": "a", "a[b]": "a"} {
		if got := string(globPrefix([]byte(p))); got != want {
			t.Errorf("globPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}
