package bland

import "context"

type lastLookKey struct{}

// WithLastLook returns a context whose calls run look once every wait for
// the rate limit and Retry-After is over, just before they are sent. When
// look returns an error, the call is not sent and that error is returned as
// is. A caller that decided a write from a snapshot checks it against the
// newest one there, however long the call waited for its turn.
func WithLastLook(ctx context.Context, look func() error) context.Context {
	return context.WithValue(ctx, lastLookKey{}, look)
}

func lastLook(ctx context.Context) error {
	if look, ok := ctx.Value(lastLookKey{}).(func() error); ok {
		return look()
	}
	return nil
}
