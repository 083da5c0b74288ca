package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/filestore-go/filestore/auth"
)

// openapiDoc is the part of the document the route test reads.
type openapiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type openapiOp struct {
	Security  *[]map[string][]string     `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

// docOperations returns "METHOD /path" -> the scope its security asks for
// ("" for none).
func docOperations(t *testing.T) map[string]string {
	t.Helper()
	raw, err := openapiDocument()
	if err != nil {
		t.Fatal(err)
	}
	var doc openapiDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]string{}
	for path, item := range doc.Paths {
		for method, rawOp := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			var op openapiOp
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			scope := "?"
			if op.Security != nil {
				scope = ""
				for _, req := range *op.Security {
					scope += strings.Join(req["bearerAuth"], " ")
				}
			}
			ops[strings.ToUpper(method)+" "+path] = scope
		}
	}
	return ops
}

// TestOpenAPIMatchesRouter fails when a route exists in the router but not
// in the document, or the other way round, or when their scopes differ. A
// GET route also answers HEAD; the document lists HEAD where the contract
// names it (content), and never where the router has no GET.
func TestOpenAPIMatchesRouter(t *testing.T) {
	h := newTestHandler(t)
	router := map[string]string{}
	for pattern, rt := range h.routes {
		router[pattern] = rt.scope
	}
	doc := docOperations(t)
	for op := range doc {
		if path, ok := strings.CutPrefix(op, "HEAD "); ok {
			get, ok := router["GET "+path]
			if !ok {
				t.Errorf("the document has %s, the router no GET %s", op, path)
			}
			router[op] = get
		}
	}
	if diff := cmp.Diff(router, doc); diff != "" {
		t.Errorf("routes: router (-) and document (+) differ:\n%s", diff)
	}
	if _, ok := doc["HEAD /v1/files/{id}/content"]; !ok {
		t.Error("the document lacks HEAD /v1/files/{id}/content")
	}
}

// TestOpenAPIProblemCodes: every problem code the server can send is in
// the document's Problem.code enum, and the other way round.
func TestOpenAPIProblemCodes(t *testing.T) {
	raw, _ := openapiDocument()
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	codes := []string{codeBadRequest, codeInvalidName, codeDigestMismatch, codeUnauthorized, codeForbidden,
		codeNotFound, codeMethodNotAllowed, codeConflict, codePreconditionFailed, codeTooLarge,
		codeUnsupportedType, codeTypeMismatch, codeRangeNotSatisfied, codeInfected, codeRateLimited,
		codeInternal, codeScannerUnavailable, codeUnavailable}
	for _, c := range errorTable() {
		if c.code != codeClientClosed && !slices.Contains(codes, c.code) {
			t.Errorf("error table code %q missing from the list", c.code)
		}
	}
	got := slices.Clone(doc.Components.Schemas.Problem.Properties.Code.Enum)
	sort.Strings(got)
	sort.Strings(codes)
	if diff := cmp.Diff(codes, got); diff != "" {
		t.Errorf("problem codes: server (-) and document (+):\n%s", diff)
	}
}

// TestOpenAPIValid validates the document against the OpenAPI 3.1 schema
// with pb33f/libopenapi-validator.
func TestOpenAPIValid(t *testing.T) {
	raw, err := openapiDocument()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetSpecInfo().Version; v != "3.1.0" {
		t.Errorf("version %q, want 3.1.0", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("build model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("%s: %s (%s)", e.Message, e.Reason, e.HowToFix)
		for _, se := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s (line %d)", se.Reason, se.FieldPath, se.Line)
		}
	}
	if !ok {
		t.Error("the document is not valid OpenAPI 3.1")
	}
}

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New(nopStore{}, Config{Auth: AuthenticatorFunc(func(*http.Request) (*auth.Caller, error) {
		return nil, auth.ErrNoToken
	})})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
