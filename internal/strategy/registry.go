package strategy

import (
	"fmt"
	"strings"
)

// All returns every contestant in the order reports list them: from the
// textbook channel to the no-synchronisation limit. The slice is new on
// every call, so callers may reorder or filter it.
func All() []Strategy {
	return []Strategy{
		ChanSerial{},
		ChanBatch{},
		MutexSwap{},
		Fanin{},
		FaninLanes{},
		PolledLanes{},
		Private{},
		Direct{},
	}
}

// Names returns the contestants' names in All's order, for flag help and
// error messages.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name()
	}
	return names
}

// Lookup finds a contestant by name. The error for an unknown name lists
// the valid ones, since it usually ends up in front of a user who mistyped.
func Lookup(name string) (Strategy, error) {
	for _, s := range All() {
		if s.Name() == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("strategy: unknown strategy %q (valid: %s)", name, strings.Join(Names(), ", "))
}
