package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

// Authenticator tells who sent a request. The Handler calls it for every
// /v1 route before anything else.
//
// Authenticate returns the caller, or an error: one wrapping
// auth.ErrNoToken when the request carries no credentials (401 with
// "WWW-Authenticate: Bearer"), one wrapping auth.ErrInvalidToken when they
// are wrong (401 with error="invalid_token"), any other when it could not
// decide (mapped like a Store error: 503 for filestore.ErrUnavailable, else
// 500). It must not read the request body.
type Authenticator interface {
	Authenticate(r *http.Request) (*auth.Caller, error)
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request) (*auth.Caller, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*auth.Caller, error) { return f(r) }

// TokenVerifier checks a bearer token; *auth.Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*auth.Caller, error)
}

// JWT returns an Authenticator of "Authorization: Bearer <JWT>" headers
// checked by v, which must not be nil. A request without the header gives
// auth.ErrNoToken; a malformed header, more than one, or a token v refuses
// gives auth.ErrInvalidToken. The request's context bounds v.Verify.
func JWT(v TokenVerifier) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*auth.Caller, error) {
		if len(r.Header.Values("Authorization")) > 1 {
			// Authorization is no list: a proxy in front may have
			// checked, or will log, another line than this one.
			return nil, fmt.Errorf("%w: more than one Authorization header", auth.ErrInvalidToken)
		}
		tok, err := auth.BearerToken(r.Header.Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return v.Verify(r.Context(), tok)
	})
}

// authenticate runs the Authenticator and checks the caller has scope. It
// answers r itself and returns nil when it does not.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, scope string) *auth.Caller {
	info := infoFrom(r.Context())
	c, err := h.cfg.Auth.Authenticate(r)
	switch {
	case errors.Is(err, auth.ErrNoToken):
		info.err = err
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, "a bearer token is required")
		return nil
	case errors.Is(err, auth.ErrInvalidToken):
		info.err = err
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, "the bearer token is invalid or expired")
		return nil
	case err != nil:
		writeError(w, r, err)
		return nil
	case c == nil || c.Owner == "" || len(c.Owner) > filestore.MaxOwnerBytes:
		writeError(w, r, errors.New("httpapi: authenticator returned no caller or an owner outside 1-255 bytes"))
		return nil
	}
	info.owner = c.Owner
	if !c.Has(scope) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
		writeProblem(w, r, http.StatusForbidden, codeForbidden, "the token lacks the "+scope+" scope")
		return nil
	}
	return c
}
