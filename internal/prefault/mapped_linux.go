package prefault

import (
	"syscall"
	"unsafe"
)

// Mapped reports how many of the pages under s's elements are mapped in
// memory (mincore(2)), and how many pages they span: tests use it to check
// that memory was prefaulted.
func Mapped[T any](s []T) (mapped, pages int, err error) {
	if len(s) == 0 {
		return 0, 0, nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	first := start &^ uintptr(pageSize-1)
	length := start + uintptr(len(s))*unsafe.Sizeof(s[0]) - first
	vec := make([]byte, (int(length)+pageSize-1)/pageSize)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, first, length, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, 0, errno
	}
	for _, v := range vec {
		mapped += int(v & 1)
	}
	return mapped, len(vec), nil
}
