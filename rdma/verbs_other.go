//go:build !linux || !cgo

package rdma

import "fmt"

func newVerbsProvider(opts Options) (Provider, error) {
	return nil, fmt.Errorf("%w: the verbs provider needs Linux and cgo (libibverbs, librdmacm); use the tcp provider", ErrNotSupported)
}
