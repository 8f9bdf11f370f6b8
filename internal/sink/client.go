package sink

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fanin-dev/fanin/internal/wire"
)

// ErrNoVerdict means the sink closed the connection without sending a verdict.
var ErrNoVerdict = errors.New("sink: connection closed without a verdict")

// maxVerdictFrame bounds a verdict frame; a real one is well under 4 KiB.
const maxVerdictFrame = 1 << 20

// Client is the sending side of one sink connection.
type Client struct {
	// Conn is where the message stream goes. It is a real *net.TCPConn, so
	// that net.Buffers writes use writev.
	Conn *net.TCPConn

	done      chan struct{} // closed when the reader goroutine has ended
	verdict   wire.Verdict  // valid once done is closed and err is nil
	at        time.Time
	err       error
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the sink at addr, writes the header h, and starts a
// goroutine that reads the sink's responses (discarding echo) until the
// verdict. ctx bounds the connection and the header write.
func Dial(ctx context.Context, addr string, h wire.Header) (*Client, error) {
	hdr, err := h.AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("sink: %s is not a TCP address", addr)
	}
	stop := context.AfterFunc(ctx, func() { tc.SetWriteDeadline(time.Unix(1, 0)) })
	_, err = tc.Write(hdr)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	tc.SetWriteDeadline(time.Time{})
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("sink: writing header: %w", err)
	}
	c := &Client{Conn: tc, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// read consumes server frames until the verdict, the end of the
// connection, or an error, and records the outcome.
func (c *Client) read() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.Conn, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				c.err = ErrNoVerdict
			} else {
				c.err = fmt.Errorf("sink: no verdict: %w", err)
			}
			return
		}
		n := int64(binary.LittleEndian.Uint32(hdr[1:]))
		switch hdr[0] {
		case FrameEcho:
			if _, err := r.Discard(int(n)); err != nil {
				c.err = fmt.Errorf("sink: no verdict: reading echo: %w", err)
				return
			}
		case FrameVerdict:
			if n > maxVerdictFrame {
				c.err = fmt.Errorf("sink: verdict frame of %d bytes", n)
				return
			}
			js := make([]byte, n)
			if _, err := io.ReadFull(r, js); err != nil {
				c.err = fmt.Errorf("sink: reading verdict: %w", err)
				return
			}
			c.at = time.Now()
			if err := json.Unmarshal(js, &c.verdict); err != nil {
				c.err = fmt.Errorf("sink: decoding verdict: %w", err)
			}
			return
		default:
			c.err = fmt.Errorf("sink: unknown frame kind %q", hdr[0])
			return
		}
	}
}

// Verdict waits for the sink's verdict. The time is when the verdict
// arrived: the benchmark's stop clock. A verdict that is not OK is still
// returned with a nil error; the error is for a missing verdict or ctx.
func (c *Client) Verdict(ctx context.Context) (wire.Verdict, time.Time, error) {
	select {
	case <-c.done:
		if c.err != nil {
			return wire.Verdict{}, time.Time{}, c.err
		}
		return c.verdict, c.at, nil
	case <-ctx.Done():
		return wire.Verdict{}, time.Time{}, ctx.Err()
	}
}

// Close closes the connection and waits for the reader goroutine to end.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		<-c.done
	})
	return c.closeErr
}
