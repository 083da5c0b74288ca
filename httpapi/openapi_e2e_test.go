package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

// TestResponsesMatchOpenAPI sends requests of every route and validates
// each answer (status, headers, body) against GET /v1/openapi.json.
func TestResponsesMatchOpenAPI(t *testing.T) {
	e := newEnv(t, envOptions{cfg: httpapi.Config{RateIP: 1000}})
	res := e.do("GET", "/v1/openapi.json", "", nil)
	doc, err := libopenapi.NewDocument(res.body)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tok, admin := e.token("alice"), e.token("root", auth.ScopeAdmin)
	f := e.upload(tok, "docs", "a.txt", []byte("0123456789"))
	gone := e.upload(tok, "docs", "gone.txt", []byte("gone"))
	e.do("DELETE", "/v1/files/"+gone.ID, tok, nil)
	mp, mpType := multipartBody(t, part{header: fileHeader("m.txt"), content: "multipart"})

	type call struct {
		method, path, tok, body string
		header                  []string
		status                  int
	}
	calls := []call{
		{"POST", "/v1/files?name=b.txt&folder=docs", tok, "raw", []string{"Content-Type", "text/plain"}, 201},
		{"POST", "/v1/files", tok, string(mp), []string{"Content-Type", mpType}, 201},
		{"POST", "/v1/files?name=a.txt&folder=docs", tok, "clash", nil, 409},
		{"POST", "/v1/files?name=..", tok, "x", nil, 400},
		{"POST", "/v1/files?name=x", "", "x", nil, 401},
		{"GET", "/v1/files?folder=docs&limit=1", tok, "", nil, 200},
		{"GET", "/v1/files?limit=0", tok, "", nil, 400},
		{"GET", "/v1/files/" + f.ID, tok, "", nil, 200},
		{"GET", "/v1/files/" + gone.ID, tok, "", nil, 200},
		{"GET", "/v1/files/missing", tok, "", nil, 404},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", nil, 200},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", []string{"Range", "bytes=1-2"}, 206},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", []string{"Range", "bytes=0-0,2-3"}, 206},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", []string{"If-None-Match", `"` + f.SHA256 + `"`}, 304},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", []string{"Range", "bytes=50-"}, 416},
		{"GET", "/v1/files/" + f.ID + "/content", tok, "", []string{"If-Match", `"x"`}, 412},
		{"HEAD", "/v1/files/" + f.ID + "/content", tok, "", nil, 200},
		{"PATCH", "/v1/files/" + f.ID, tok, `{"name": "c.txt"}`, []string{"Content-Type", "application/json"}, 200},
		{"PATCH", "/v1/files/" + f.ID, tok, `{}`, []string{"Content-Type", "application/json"}, 400},
		{"POST", "/v1/files/" + gone.ID + "/restore", tok, "", nil, 200},
		{"DELETE", "/v1/files/" + gone.ID, tok, "", nil, 204},
		{"DELETE", "/v1/files/" + gone.ID + "?permanent=true", tok, "", nil, 204},
		{"GET", "/v1/admin/stats", admin, "", nil, 200},
		{"POST", "/v1/admin/gc", admin, "", nil, 200},
		{"GET", "/v1/admin/stats", tok, "", nil, 403},
		{"GET", "/healthz", "", "", nil, 200},
		{"GET", "/readyz", "", "", nil, 200},
		{"GET", "/metrics", "", "", nil, 200},
		{"GET", "/v1/openapi.json", "", "", nil, 200},
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path+" "+http.StatusText(c.status), func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, e.srv.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.tok != "" {
				req.Header.Set("Authorization", "Bearer "+c.tok)
			}
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			// The validator matches paths without the server's host.
			vreq, _ := http.NewRequest(c.method, "http://127.0.0.1:8080"+c.path, nil)
			vreq.Header = req.Header
			if ok, verrs := v.ValidateHttpResponse(vreq, resp); !ok {
				for _, ve := range verrs {
					t.Errorf("%s: %s", ve.Message, ve.Reason)
					for _, se := range ve.SchemaValidationErrors {
						t.Errorf("  %s at %s", se.Reason, se.FieldPath)
					}
				}
			}
		})
	}
}
