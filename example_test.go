package fanin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/fanin-dev/fanin"
)

// A worker pool streams its results to a TCP client through one Writer: the
// workers never wait for the network unless the Writer is full, and each
// burst of results goes out in one write.
func ExampleWriter() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	received := make(chan int)
	go func() { // the client
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- int(n)
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	w := fanin.NewWriter(conn)
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			for job := range 100 {
				// Each Write is one message, never split or interleaved.
				fmt.Fprintf(w, "worker %d finished job %03d\n", worker, job)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil { // writes what is left
		panic(err)
	}
	conn.Close()
	fmt.Println(<-received, "bytes received")
	// Output: 20800 bytes received
}

// A Queue of values with the consumer's Drain loop: each Drain returns
// everything buffered, and handing the batch back as the spare makes the loop
// allocation-free.
func ExampleQueue_Drain() {
	q := fanin.NewQueue[int](fanin.WithCapacity(1024))
	ctx := context.Background()

	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 250 {
				q.Push(ctx, p*1000+i)
			}
		})
	}
	go func() {
		wg.Wait()
		q.Close() // Drain returns what is left, then io.EOF
	}()

	sum, count := 0, 0
	var batch []int
	for {
		var err error
		batch, err = q.Drain(ctx, batch)
		if errors.Is(err, io.EOF) {
			break
		}
		for _, v := range batch {
			sum += v
			count++
		}
	}
	fmt.Println(count, "messages, sum", sum)
	// Output: 1000 messages, sum 1624500
}

// Each producer goroutine takes its own lane: its pushes take no lock.
func ExampleQueue_Producer() {
	q := fanin.NewQueue[string]()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Go(func() {
			lane := q.Producer()
			defer lane.Close()
			for i := range 3 {
				lane.Push(ctx, fmt.Sprint(name, i))
			}
		})
	}
	wg.Wait()
	q.Close()
	perProducer := map[byte][]string{}
	for {
		batch, err := q.Drain(ctx, nil)
		if err != nil {
			break
		}
		for _, m := range batch {
			perProducer[m[0]] = append(perProducer[m[0]], m)
		}
	}
	fmt.Println(perProducer['a'], perProducer['b']) // each lane's order is kept
	// Output: [a0 a1 a2] [b0 b1 b2]
}
