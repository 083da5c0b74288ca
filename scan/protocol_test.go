package scan

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
)

// outcome is what a reply, address or option turns into, comparable with
// cmp.Diff: the value, and which sentinel the error wraps ("" for none).
type outcome struct {
	Value    string
	Sentinel string
}

func sentinel(err error) string {
	for _, s := range []error{filestore.ErrScanLimit, filestore.ErrScannerUnavailable, filestore.ErrInvalidArgument, io.ErrUnexpectedEOF} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

var (
	limit       = filestore.ErrScanLimit.Error()
	unavailable = filestore.ErrScannerUnavailable.Error()
	invalid     = filestore.ErrInvalidArgument.Error()
)

func TestParseScanReply(t *testing.T) {
	tests := []struct {
		give string
		want outcome
	}{
		{"stream: OK", outcome{}},
		{"stream: Filestore.Test.EICAR.UNOFFICIAL FOUND", outcome{Value: "Filestore.Test.EICAR.UNOFFICIAL"}},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", outcome{Value: "Win.Test.EICAR_HDB-1"}},
		{"stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND", outcome{Value: "Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68)"}},
		{"stream: Heuristics.Encrypted.Zip FOUND", outcome{Value: "Heuristics.Encrypted.Zip"}},
		// AlertExceedsMax: not scanned, not infected.
		{"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", outcome{Sentinel: limit}},
		{"stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND", outcome{Sentinel: limit}},
		{"stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND", outcome{Sentinel: limit}},
		{"stream: Heuristics.Limits.Exceeded FOUND", outcome{Sentinel: limit}},
		{"stream: Heuristics.Limits.ExceededSoon FOUND", outcome{Value: "Heuristics.Limits.ExceededSoon"}},
		{"INSTREAM size limit exceeded. ERROR", outcome{Sentinel: limit}},
		{"stream: INSTREAM size limit exceeded. ERROR", outcome{Sentinel: limit}},
		{"stream: Can't allocate memory ERROR", outcome{Sentinel: unavailable}},
		{"COMMAND READ TIMED OUT", outcome{Sentinel: unavailable}},
		{"UNKNOWN COMMAND", outcome{Sentinel: unavailable}},
		{"stream: OK ", outcome{Sentinel: unavailable}},
		{"stream:  FOUND", outcome{Value: "(unnamed)"}},
		{"stream: two words FOUND", outcome{Value: "two words"}},
		{"stream: OK FOUND", outcome{Value: "OK"}},
		{"stream: bad\r\nname FOUND", outcome{Value: "bad??name"}},
		{"stream: FOUND", outcome{Sentinel: unavailable}},
		{"1: stream: OK", outcome{Sentinel: unavailable}},
		{"OK", outcome{Sentinel: unavailable}},
		{"", outcome{Sentinel: unavailable}},
		{"stream: ", outcome{Sentinel: unavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			sig, err := parseScanReply(tt.give)
			if diff := cmp.Diff(tt.want, outcome{sig, sentinel(err)}); diff != "" {
				t.Errorf("parseScanReply(%q) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name string
		give io.Reader
		want outcome
	}{
		{"whole", strings.NewReader("stream: OK\x00"), outcome{Value: "stream: OK"}},
		{"byte by byte", iotest.OneByteReader(strings.NewReader("stream: OK\x00")), outcome{Value: "stream: OK"}},
		{"data with EOF", iotest.DataErrReader(strings.NewReader("PONG\x00")), outcome{Value: "PONG"}},
		{"after the NUL ignored", strings.NewReader("PONG\x00junk"), outcome{Value: "PONG"}},
		{"empty reply", strings.NewReader("\x00"), outcome{}},
		{"no NUL", strings.NewReader("PONG"), outcome{Value: "PONG", Sentinel: io.ErrUnexpectedEOF.Error()}},
		{"read timed out", strings.NewReader("COMMAND READ TIMED OUT\n"), outcome{Value: "COMMAND READ TIMED OUT\n", Sentinel: io.ErrUnexpectedEOF.Error()}},
		{"nothing", strings.NewReader(""), outcome{Sentinel: "other: " + errNoReply.Error()}},
		{"too long", strings.NewReader(strings.Repeat("x", maxReplyLen+1)), outcome{Sentinel: "other: reply longer than 4096 bytes without a NUL"}},
		{"longest", strings.NewReader(strings.Repeat("x", maxReplyLen) + "\x00"), outcome{Value: strings.Repeat("x", maxReplyLen)}},
		{"read error", iotest.ErrReader(iotest.ErrTimeout), outcome{Sentinel: "other: " + iotest.ErrTimeout.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readReply(tt.give)
			if diff := cmp.Diff(tt.want, outcome{got, sentinel(err)}); diff != "" {
				t.Errorf("readReply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	type result struct {
		Version  Version
		String   string
		Sentinel string
	}
	tests := []struct {
		give string
		want result
	}{
		{"ClamAV 1.4.6/27000/Tue Nov 26 09:35:11 2024", result{
			Version: Version{Engine: "1.4.6", Database: "27000", DatabaseTime: time.Date(2024, 11, 26, 9, 35, 11, 0, time.UTC)},
			String:  "1.4.6/27000",
		}},
		{"ClamAV 1.0.7/27500/Sun Jan  5 08:41:02 2025", result{
			Version: Version{Engine: "1.0.7", Database: "27500", DatabaseTime: time.Date(2025, 1, 5, 8, 41, 2, 0, time.UTC)},
			String:  "1.0.7/27500",
		}},
		{"ClamAV 1.4.6/27000/not a date", result{Version: Version{Engine: "1.4.6", Database: "27000"}, String: "1.4.6/27000"}},
		{"ClamAV 1.4.6/27000", result{Version: Version{Engine: "1.4.6", Database: "27000"}, String: "1.4.6/27000"}},
		{"ClamAV 1.4.6", result{Version: Version{Engine: "1.4.6"}, String: "1.4.6"}},
		{"ClamAV 0.103.12", result{Version: Version{Engine: "0.103.12"}, String: "0.103.12"}},
		{"ClamAV ", result{Sentinel: unavailable}},
		{"ClamAV 1.4.6//x", result{Sentinel: unavailable}},
		{"ClamAV 1 4", result{Sentinel: unavailable}},
		{"clamav 1.4.6", result{Sentinel: unavailable}},
		{"PONG", result{Sentinel: unavailable}},
		{"", result{Sentinel: unavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			v, err := parseVersion(tt.give)
			got := result{Version: v, Sentinel: sentinel(err)}
			if err == nil {
				got.String = v.String()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseVersion(%q) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		give string
		want outcome // Value: network and address
	}{
		{"tcp://127.0.0.1:3310", outcome{Value: "tcp 127.0.0.1:3310"}},
		{"tcp://localhost:1234", outcome{Value: "tcp localhost:1234"}},
		{"tcp://127.0.0.1", outcome{Value: "tcp 127.0.0.1:3310"}},
		{"tcp://127.0.0.1:3310/", outcome{Value: "tcp 127.0.0.1:3310"}},
		{"tcp://[::1]:3310", outcome{Value: "tcp [::1]:3310"}},
		{"unix:///tmp/filestore-clamd/clamd.sock", outcome{Value: "unix /tmp/filestore-clamd/clamd.sock"}},
		{"unix:///var/run/clamav/clamd.ctl", outcome{Value: "unix /var/run/clamav/clamd.ctl"}},
		{"unix://tmp/clamd.sock", outcome{Sentinel: invalid}},
		{"unix:clamd.sock", outcome{Sentinel: invalid}},
		{"unix:///", outcome{Sentinel: invalid}},
		{"tcp://:3310", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:3310/path", outcome{Sentinel: invalid}},
		{"tcp://user@127.0.0.1:3310", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:3310?x=1", outcome{Sentinel: invalid}},
		{"127.0.0.1:3310", outcome{Sentinel: invalid}},
		{"/tmp/clamd.sock", outcome{Sentinel: invalid}},
		{"http://127.0.0.1:3310", outcome{Sentinel: invalid}},
		{"", outcome{Sentinel: invalid}},
		{"tcp://%zz", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:65535", outcome{Value: "tcp 127.0.0.1:65535"}},
		{"tcp://127.0.0.1:1", outcome{Value: "tcp 127.0.0.1:1"}},
		{"tcp://127.0.0.1:99999", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:65536", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:0", outcome{Sentinel: invalid}},
		{"tcp://127.0.0.1:00", outcome{Sentinel: invalid}},
		{"tcp://[::1]:99999", outcome{Sentinel: invalid}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			ep, err := parseAddr(tt.give)
			got := outcome{Sentinel: sentinel(err)}
			if err == nil {
				got.Value = ep.network + " " + ep.address
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseAddr(%q) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

// withConcurrency returns o with MaxConcurrent n and MaxPerTenant per.
func withConcurrency(o Options, n, per int) Options {
	o.MaxConcurrent, o.MaxPerTenant = n, per
	return o
}

func TestOptionsWithDefaults(t *testing.T) {
	defaults := Options{
		DialTimeout:   5 * time.Second,
		ReadTimeout:   time.Minute,
		ScanTimeout:   10 * time.Minute,
		StallTimeout:  20 * time.Second,
		ProbeAfter:    5 * time.Second,
		ProbeTimeout:  5 * time.Second,
		ChunkSize:     64 << 10,
		MaxConcurrent: 8,
		MaxPerTenant:  4,
	}
	tests := []struct {
		name    string
		give    *Options
		want    Options
		wantErr string
	}{
		{"nil", nil, defaults, ""},
		{"zero", &Options{}, defaults, ""},
		{"set", &Options{DialTimeout: time.Second, ReadTimeout: 2 * time.Second, ScanTimeout: 3 * time.Second, StallTimeout: 4 * time.Second, ProbeAfter: 10 * time.Millisecond, ProbeTimeout: 11 * time.Millisecond, ChunkSize: 16 << 20, StreamMaxLength: 100 << 20, MaxConcurrent: 1, MaxPerTenant: 1},
			Options{DialTimeout: time.Second, ReadTimeout: 2 * time.Second, ScanTimeout: 3 * time.Second, StallTimeout: 4 * time.Second, ProbeAfter: 10 * time.Millisecond, ProbeTimeout: 11 * time.Millisecond, ChunkSize: 16 << 20, StreamMaxLength: 100 << 20, MaxConcurrent: 1, MaxPerTenant: 1}, ""},
		{"one connection: one per tenant", &Options{MaxConcurrent: 1}, withConcurrency(defaults, 1, 1), ""},
		{"three connections: one per tenant", &Options{MaxConcurrent: 3}, withConcurrency(defaults, 3, 1), ""},
		{"no per-tenant limit", &Options{MaxConcurrent: 3, MaxPerTenant: 3}, withConcurrency(defaults, 3, 3), ""},
		{"negative DialTimeout", &Options{DialTimeout: -1}, Options{}, invalid},
		{"negative ReadTimeout", &Options{ReadTimeout: -1}, Options{}, invalid},
		{"negative ScanTimeout", &Options{ScanTimeout: -1}, Options{}, invalid},
		{"negative StallTimeout", &Options{StallTimeout: -1}, Options{}, invalid},
		{"negative ProbeAfter", &Options{ProbeAfter: -1}, Options{}, invalid},
		{"negative ProbeTimeout", &Options{ProbeTimeout: -1}, Options{}, invalid},
		{"ProbeAfter under 10ms", &Options{ProbeAfter: 9 * time.Millisecond}, Options{}, invalid},
		{"ProbeTimeout under 10ms", &Options{ProbeTimeout: time.Nanosecond}, Options{}, invalid},
		{"negative ChunkSize", &Options{ChunkSize: -1}, Options{}, invalid},
		{"huge ChunkSize", &Options{ChunkSize: 16<<20 + 1}, Options{}, invalid},
		{"negative StreamMaxLength", &Options{StreamMaxLength: -1}, Options{}, invalid},
		{"negative MaxConcurrent", &Options{MaxConcurrent: -1}, Options{}, invalid},
		{"negative MaxPerTenant", &Options{MaxPerTenant: -1}, Options{}, invalid},
		{"MaxPerTenant over MaxConcurrent", &Options{MaxPerTenant: 9}, Options{}, invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.give.withDefaults()
			if got.Logger == nil && err == nil {
				t.Error("Logger not defaulted")
			}
			got.Logger = nil
			if diff := cmp.Diff(tt.want, got); diff != "" || sentinel(err) != tt.wantErr {
				t.Errorf("withDefaults() = %v (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	if _, err := New("tcp://127.0.0.1:3310", &Options{ChunkSize: -1}); !errors.Is(err, filestore.ErrInvalidArgument) {
		t.Errorf("New with bad options = %v, want ErrInvalidArgument", err)
	}
	if _, err := New("127.0.0.1:3310", nil); !errors.Is(err, filestore.ErrInvalidArgument) {
		t.Errorf("New with bad address = %v, want ErrInvalidArgument", err)
	}
}
