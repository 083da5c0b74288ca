package clientaddr

import (
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1":            "192.0.2.1/32",
		"::ffff:192.0.2.1":     "192.0.2.1/32",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
	}
	for give, want := range tests {
		if got := Key(netip.MustParseAddr(give)).String(); got != want {
			t.Errorf("Key(%s) = %s, want %s", give, got, want)
		}
	}
	if got := Key(netip.Addr{}); got.IsValid() {
		t.Errorf("Key of the zero Addr = %s, want the zero Prefix", got)
	}
}

func TestIn(t *testing.T) {
	ps := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("fe80::/10")}
	tests := map[string]bool{
		"10.1.2.3":        true,
		"11.0.0.1":        false,
		"::ffff:10.1.2.3": true,
		"2001:db8::5":     true,
		"2001:db9::5":     false,
		"fe80::1%eth0":    true,
		"fe80::1":         true,
		"fec0::1%eth0":    false,
		"::ffff:11.0.0.1": false,
	}
	for give, want := range tests {
		if got := In(netip.MustParseAddr(give), ps); got != want {
			t.Errorf("In(%s) = %v, want %v", give, got, want)
		}
	}
	if In(netip.Addr{}, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}) {
		t.Error("the zero Addr is in 0.0.0.0/0 or ::/0")
	}
}
