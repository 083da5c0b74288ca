package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxQueryParams bounds the parameters of a query string; a route reads
// at most six.
const maxQueryParams = 100

// queryParams parses r's query string strictly, for a route that reads the
// parameters names. A malformed query string (a bad percent escape, a
// semicolon, which Go no longer takes as a separator) is 400 rather than
// its malformed pairs dropped: dropped, "?name=a&folder=docs;x" would have
// stored the file in the root folder and "?trash=true;" listed live files.
// One of names given more than once is 400 rather than one of its values
// chosen, since a proxy in front may have checked the other. Parameters
// the route does not read are ignored, up to maxQueryParams in all.
func queryParams(r *http.Request, names ...string) (url.Values, error) {
	if strings.Count(r.URL.RawQuery, "&") >= maxQueryParams {
		return nil, badRequest("the query string has more than %d parameters", maxQueryParams)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %s", queryError(r.URL.RawQuery, err))
	}
	for _, name := range names {
		if len(q[name]) > 1 {
			return nil, badRequest("the %s parameter is given more than once", name)
		}
	}
	return q, nil
}

// queryError says what url.ParseQuery found wrong with raw, without
// echoing the client's bytes back.
func queryError(raw string, err error) string {
	var esc url.EscapeError
	switch {
	case errors.As(err, &esc):
		return "a percent sign is not followed by two hex digits"
	case strings.Contains(raw, ";"):
		return "parameters are separated by &, and a semicolon must be escaped as %3B"
	default:
		return err.Error()
	}
}

// boolParam parses the query parameter name: absent is false; "true",
// "false", "1", "0" (and the other strconv.ParseBool spellings) are
// accepted; anything else is 400.
func boolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, badRequest("the %s parameter must be true or false", name)
	}
	return v, nil
}
