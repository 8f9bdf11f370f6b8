//go:build !linux

package prefault

import "errors"

// Mapped reports how many of the pages under s's elements are mapped in
// memory, and how many pages they span. It is only implemented on Linux.
func Mapped[T any](s []T) (mapped, pages int, err error) {
	return 0, 0, errors.ErrUnsupported
}
