package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/filestore-go/filestore/auth"
)

//go:embed openapi.json
var openapiFS embed.FS

// openapiDocument returns the embedded OpenAPI 3.1 document, checked to be
// JSON.
func openapiDocument() ([]byte, error) {
	doc, err := openapiFS.ReadFile("openapi.json")
	if err != nil {
		return nil, fmt.Errorf("httpapi: read embedded openapi.json: %w", err)
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("httpapi: embedded openapi.json is not JSON")
	}
	return doc, nil
}

// serveOpenAPI serves GET /v1/openapi.json.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", h.openapiETag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.openapi))
	return nil
}
