// Package tenant carries, in a context, the tenant (filestore's owner) on
// whose behalf work is done, so that the resources shared by every tenant
// (the S3 upload memory budget, clamd's connections) can give none of them
// more than its share. storage.WithTenant sets it.
package tenant

import "context"

// key is the context key of With.
type key struct{}

// With returns a copy of ctx that carries name as its tenant.
func With(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, key{}, name)
}

// From returns ctx's tenant, and false when ctx carries none.
func From(ctx context.Context) (string, bool) {
	name, ok := ctx.Value(key{}).(string)
	return name, ok
}
