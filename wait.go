package fanin

// A waiter is a producer parked for credit.
type waiter struct {
	need, want int           // credit it must have, and would like
	granted    int           // set with the wake-up
	err        error         // or why it was woken without credit
	ready      chan struct{} // one send wakes it
	prev, next *waiter
}

// waitList is a FIFO of waiters, linked through the waiters themselves, with
// a free list so that parking allocates nothing once warm. (A sync.Pool
// would share channels between queues, and a channel made outside a
// testing/synctest bubble cannot park a goroutine inside one.)
type waitList struct {
	head, tail *waiter
	free       []*waiter
}

// get returns an unlinked waiter for need..want credits.
func (l *waitList) get(need, want int) *waiter {
	var w *waiter
	if n := len(l.free); n > 0 {
		w = l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
	} else {
		w = &waiter{ready: make(chan struct{}, 1)}
	}
	w.need, w.want = need, want
	return w
}

// put recycles w; its ready channel must be empty.
func (l *waitList) put(w *waiter) {
	*w = waiter{ready: w.ready}
	l.free = append(l.free, w)
}

func (l *waitList) empty() bool    { return l.head == nil }
func (l *waitList) front() *waiter { return l.head }

func (l *waitList) push(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
}

func (l *waitList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
}
