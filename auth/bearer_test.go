package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		want    string
		wantErr error
		wantMsg string
	}{
		{name: "bearer", header: "Bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "lower case scheme", header: "bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "upper case scheme", header: "BEARER abc.def.ghi", want: "abc.def.ghi"},
		{name: "extra spaces", header: "  Bearer    abc.def-_~+/==  ", want: "abc.def-_~+/=="},
		{name: "empty", header: "", wantErr: ErrNoToken, wantMsg: "auth: no token"},
		{name: "spaces only", header: "   ", wantErr: ErrNoToken, wantMsg: "auth: no token"},
		{name: "scheme only", header: "Bearer", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: empty bearer token"},
		{name: "scheme and spaces", header: "Bearer    ", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: empty bearer token"},
		{name: "basic", header: "Basic YWxpY2U6c2VjcmV0", wantErr: ErrNoToken, wantMsg: `auth: no token: authorization scheme "Basic" is not Bearer`},
		{name: "aws", header: "AWS4-HMAC-SHA256 Credential=x", wantErr: ErrNoToken, wantMsg: `auth: no token: authorization scheme "AWS4-HMAC-SHA256" is not Bearer`},
		{name: "scheme-like word alone", header: "Basic", wantErr: ErrInvalidToken, wantMsg: `auth: invalid token: authorization scheme "Basic" is not Bearer`},
		{name: "jwt with a space", header: "a.b.c d", wantErr: ErrInvalidToken, wantMsg: `auth: invalid token: authorization scheme "a.b.c" is not Bearer`},
		{name: "token without scheme", header: "abc.def.ghi", wantErr: ErrInvalidToken, wantMsg: `auth: invalid token: authorization scheme "abc.def.ghi" is not Bearer`},
		{name: "tab separator", header: "Bearer\tabc", wantErr: ErrInvalidToken, wantMsg: `auth: invalid token: authorization scheme "Bearer\tabc" is not Bearer`},
		{name: "two tokens", header: "Bearer abc def", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: bearer token has characters outside the token alphabet"},
		{name: "bad character", header: "Bearer abc,def", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: bearer token has characters outside the token alphabet"},
		{name: "padding only", header: "Bearer ==", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: bearer token has characters outside the token alphabet"},
		{name: "padding inside", header: "Bearer a=b", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: bearer token has characters outside the token alphabet"},
		{name: "non-ASCII", header: "Bearer abcé", wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: bearer token has characters outside the token alphabet"},
		{name: "too long", header: "Bearer " + strings.Repeat("a", maxTokenLen+1), wantErr: ErrInvalidToken, wantMsg: "auth: invalid token: token is longer than 8192 bytes"},
		{name: "longest", header: "Bearer " + strings.Repeat("a", maxTokenLen), want: strings.Repeat("a", maxTokenLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BearerToken(tt.header)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMsg, errString(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyNoTokenAndCanceled(t *testing.T) {
	v := newVerifier(t, Config{Secret: secretOf(32)})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		token   string
		wantErr error
		wantMsg string
	}{
		{name: "empty token", ctx: context.Background(), token: "", wantErr: ErrNoToken, wantMsg: "auth: no token"},
		{name: "canceled", ctx: canceled, token: "a.b.c", wantErr: context.Canceled, wantMsg: "auth: verify: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.ctx, tt.token)
			if c != nil {
				t.Errorf("Verify returned a caller: %+v", c)
			}
			if diff := cmp.Diff(tt.wantMsg, errString(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantErr) || errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v: want errors.Is %v and not ErrInvalidToken", err, tt.wantErr)
			}
		})
	}
}

func TestContext(t *testing.T) {
	c := &Caller{Owner: "alice", Scopes: []string{ScopeRead}}
	tests := []struct {
		name   string
		ctx    context.Context
		want   *Caller
		wantOK bool
	}{
		{name: "caller", ctx: NewContext(context.Background(), c), want: c, wantOK: true},
		{name: "none", ctx: context.Background()},
		{name: "nil caller", ctx: NewContext(context.Background(), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromContext(tt.ctx)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("FromContext = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCallerHas(t *testing.T) {
	rw := &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite}}
	admin := &Caller{Owner: "root", Scopes: []string{ScopeAdmin}}
	tests := []struct {
		name  string
		c     *Caller
		scope string
		want  bool
	}{
		{name: "read", c: rw, scope: ScopeRead, want: true},
		{name: "write", c: rw, scope: ScopeWrite, want: true},
		{name: "admin not implied", c: rw, scope: ScopeAdmin, want: false},
		{name: "admin only", c: admin, scope: ScopeRead, want: false},
		{name: "admin", c: admin, scope: ScopeAdmin, want: true},
		{name: "nil caller", c: nil, scope: ScopeRead, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Has(tt.scope); got != tt.want {
				t.Errorf("Has(%q) = %v, want %v", tt.scope, got, tt.want)
			}
		})
	}
}
