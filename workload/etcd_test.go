package workload

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeKV is an etcd KV service whose answers the test chooses.
type fakeKV struct {
	pb.UnimplementedKVServer
	mu           sync.Mutex
	err          error // returned by every call, if set
	block        bool  // hold every call until its context ends
	value        string
	serializable bool // the last Range asked for a serializable read
}

func (f *fakeKV) answer(ctx context.Context) error {
	f.mu.Lock()
	err, block := f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeKV) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serializable = r.Serializable
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{}}
	if f.value != "" {
		resp.Kvs, resp.Count = []*mvccpb.KeyValue{{Key: r.Key, Value: []byte(f.value)}}, 1
	}
	return resp, nil
}

func (f *fakeKV) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = string(r.Value)
	return &pb.PutResponse{Header: &pb.ResponseHeader{}}, nil
}

// Txn implements exactly the cas transaction: compare the value, put on
// success, read on failure.
func (f *fakeKV) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := string(r.Compare[0].GetValue())
	if f.value != "" && f.value == want {
		f.value = string(r.Success[0].GetRequestPut().Value)
		return &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: true}, nil
	}
	rr := &pb.RangeResponse{Header: &pb.ResponseHeader{}}
	if f.value != "" {
		rr.Kvs = []*mvccpb.KeyValue{{Key: r.Compare[0].Key, Value: []byte(f.value)}}
	}
	return &pb.TxnResponse{Header: &pb.ResponseHeader{}, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}}}}, nil
}

func (f *fakeKV) set(err error, block bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.block = err, block
}

func serveFake(t *testing.T) (*fakeKV, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKV{}
	s := grpc.NewServer()
	pb.RegisterKVServer(s, f)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return f, l.Addr().String()
}

func dial(t *testing.T, addr string, reads EtcdReads) *EtcdClient {
	t.Helper()
	cli, err := DialEtcd(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return NewEtcdClient(cli, reads)
}

func call(f func(ctx context.Context) Result) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return f(ctx)
}

func TestEtcdClientRegister(t *testing.T) {
	f, addr := serveFake(t)
	c := dial(t, addr, Linearizable)
	if r := call(func(ctx context.Context) Result { return c.Read(ctx, "k") }); r.Outcome != OK || r.Present {
		t.Fatalf("read of an unset key: %+v, want ok and absent", r)
	}
	if r := call(func(ctx context.Context) Result { return c.CAS(ctx, "k", 1, 2, Session{}) }); r.Outcome != Fail || !r.Mismatch || r.Present {
		t.Fatalf("cas on an unset key: %+v, want a definite mismatch", r)
	}
	if r := call(func(ctx context.Context) Result { return c.Write(ctx, "k", 3, Session{}) }); r.Outcome != OK || f.value != "3" {
		t.Fatalf("write: %+v, stored %q", r, f.value)
	}
	if r := call(func(ctx context.Context) Result { return c.CAS(ctx, "k", 1, 2, Session{}) }); r.Outcome != Fail || !r.Mismatch || r.Value != 3 {
		t.Fatalf("cas 1->2 on 3: %+v, want a mismatch finding 3", r)
	}
	if r := call(func(ctx context.Context) Result { return c.CAS(ctx, "k", 3, 4, Session{}) }); r.Outcome != OK {
		t.Fatalf("cas 3->4 on 3: %+v", r)
	}
	if r := call(func(ctx context.Context) Result { return c.Read(ctx, "k") }); r.Outcome != OK || r.Value != 4 || f.serializable {
		t.Fatalf("linearizable read: %+v (serializable %v), want 4", r, f.serializable)
	}
	s := dial(t, addr, Serializable)
	if r := call(func(ctx context.Context) Result { return s.Read(ctx, "k") }); r.Outcome != OK || !f.serializable {
		t.Fatalf("serializable read: %+v, request serializable %v", r, f.serializable)
	}
}

// The outcome of a write says whether it may have taken effect.
func TestEtcdClientOutcomes(t *testing.T) {
	f, addr := serveFake(t)
	c := dial(t, addr, Linearizable)
	write := func() Result {
		return call(func(ctx context.Context) Result { return c.Write(ctx, "k", 1, Session{}) })
	}
	for _, tc := range []struct {
		name  string
		err   error
		block bool
		want  Outcome
	}{
		{"timeout after sending", nil, true, Info},
		{"server timed out", rpctypes.ErrGRPCTimeout, false, Info},
		{"leader changed", rpctypes.ErrGRPCLeaderChanged, false, Info},
		{"unknown error", errors.New("boom"), false, Info},
		{"too many requests", rpctypes.ErrGRPCRequestTooManyRequests, false, Fail},
		{"no space", rpctypes.ErrGRPCNoSpace, false, Fail},
		{"proposal dropped", status.Error(codes.Unknown, "raft proposal dropped"), false, Fail},
	} {
		f.set(tc.err, tc.block)
		if r := write(); r.Outcome != tc.want {
			t.Errorf("%s: write %s (%v), want %s", tc.name, r.Outcome, r.Err, tc.want)
		}
		if r := call(func(ctx context.Context) Result { return c.Read(ctx, "k") }); r.Outcome != Fail {
			t.Errorf("%s: read %s, want fail (a read has no effect)", tc.name, r.Outcome)
		}
	}
}

// Nothing listens: the write never left the process, so it surely did not
// happen, and it fails at once rather than waiting for a connection.
func TestEtcdClientUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := dial(t, addr, Linearizable)
	began := time.Now()
	r := call(func(ctx context.Context) Result { return c.Write(ctx, "k", 1, Session{}) })
	if r.Outcome != Fail {
		t.Fatalf("write to a closed port: %s (%v), want fail", r.Outcome, r.Err)
	}
	if took := time.Since(began); took > 250*time.Millisecond {
		t.Errorf("write to a closed port took %v: it should fail fast", took)
	}

	// Accepts TCP but never speaks HTTP/2 (a frozen member behind
	// Docker's port proxy): the RPC waits for a connection, never sent.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c = dial(t, l.Addr().String(), Linearizable)
	if r := call(func(ctx context.Context) Result { return c.CAS(ctx, "k", 1, 2, Session{}) }); r.Outcome != Fail {
		t.Fatalf("cas to a silent listener: %s (%v), want fail", r.Outcome, r.Err)
	}
}

func TestParseEtcdReads(t *testing.T) {
	for _, s := range []string{"linearizable", "serializable"} {
		if r, err := ParseEtcdReads(s); err != nil || string(r) != s {
			t.Errorf("ParseEtcdReads(%q) = %q, %v", s, r, err)
		}
	}
	if _, err := ParseEtcdReads("stale"); err == nil {
		t.Error("ParseEtcdReads(stale): no error")
	}
}
