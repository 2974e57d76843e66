package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// EtcdReads is etcd's read mode.
type EtcdReads string

const (
	// Linearizable reads go through a quorum (ReadIndex): etcd's default.
	Linearizable EtcdReads = "linearizable"
	// Serializable reads are served from the member's local state: they
	// may be stale.
	Serializable EtcdReads = "serializable"
)

// ParseEtcdReads checks a --etcd-reads value.
func ParseEtcdReads(s string) (EtcdReads, error) {
	switch r := EtcdReads(s); r {
	case Linearizable, Serializable:
		return r, nil
	}
	return "", fmt.Errorf("%q: want linearizable or serializable", s)
}

var _ Client = (*EtcdClient)(nil)

// EtcdClient performs register operations against one etcd member with
// etcd's Go client (go.etcd.io/etcd/client/v3, which works against the
// 3.4 server): a register is a key, its value a decimal string; read is a
// Get (no key: never written), write a Put, cas a transaction that puts
// only if the value compares equal. A missing key compares unequal, so a
// cas on a key never written fails, as it does on raftnode.
//
// etcd has no client sessions: a retried write may apply twice, so run
// it without retries (harness.LiveOptions.Retries < 0); the Session
// arguments are ignored.
//
// Every call fails fast when the member cannot be reached: the transport
// is wrapped to send each RPC without gRPC's wait-for-ready (clientv3's
// default) and without clientv3's internal retries, so that an RPC that
// never left the process is told apart from one that may have reached
// the member (see outcome).
type EtcdClient struct {
	kv    clientv3.KV
	reads EtcdReads
}

// DialEtcd returns an etcd client connected to the one member at addr
// (host:port of its client URL). It does not wait for the connection:
// calls fail fast while the member is down. Close it when done.
func DialEtcd(addr string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{addr},
		DialTimeout: time.Second,
		// Keepalive notices a silently dead connection (a partition) so
		// the next call redials instead of waiting on it.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: time.Second,
		// Redial a restarted member within a second, not gRPC's default
		// backoff of up to two minutes; a member that accepts TCP but
		// never answers (paused) counts as down after a second.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", addr, err)
	}
	return cli, nil
}

// NewEtcdClient returns a client using cli's connection; reads are made
// in the given mode.
func NewEtcdClient(cli *clientv3.Client, reads EtcdReads) *EtcdClient {
	remote := failFastKV{pb.NewKVClient(cli.ActiveConnection())}
	return &EtcdClient{kv: clientv3.NewKVFromKVClient(remote, cli), reads: reads}
}

// Read reads key.
func (c *EtcdClient) Read(ctx context.Context, key string) Result {
	var opts []clientv3.OpOption
	if c.reads == Serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := c.kv.Get(ctx, key, opts...)
	if err != nil {
		return Result{Outcome: Fail, Err: err} // a read has no effect
	}
	return valueOf(resp.Kvs, Result{Outcome: OK})
}

// Write sets key to v.
func (c *EtcdClient) Write(ctx context.Context, key string, v int64, _ Session) Result {
	if _, err := c.kv.Put(ctx, key, strconv.FormatInt(v, 10)); err != nil {
		return Result{Outcome: outcome(err), Err: err}
	}
	return Result{Outcome: OK}
}

// CAS sets key to to if it holds from. On a mismatch the transaction
// reads the key, so the result says what was found.
func (c *EtcdClient) CAS(ctx context.Context, key string, from, to int64, _ Session) Result {
	resp, err := c.kv.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", strconv.FormatInt(from, 10))).
		Then(clientv3.OpPut(key, strconv.FormatInt(to, 10))).
		Else(clientv3.OpGet(key)).
		Commit()
	switch {
	case err != nil:
		return Result{Outcome: outcome(err), Err: err}
	case resp.Succeeded:
		return Result{Outcome: OK}
	}
	r := Result{Outcome: Fail, Mismatch: true}
	if len(resp.Responses) == 1 {
		if rr := resp.Responses[0].GetResponseRange(); rr != nil {
			r = valueOf(rr.Kvs, r)
		}
	}
	if r.Present {
		r.Err = fmt.Errorf("cas %s: found %d, expected %d", key, r.Value, from)
	} else {
		r.Err = fmt.Errorf("cas %s: key not set, expected %d", key, from)
	}
	return r
}

// valueOf fills r's value from the key-values of a range.
func valueOf(kvs []*mvccpb.KeyValue, r Result) Result {
	if len(kvs) == 0 {
		return r
	}
	v, err := strconv.ParseInt(string(kvs[0].Value), 10, 64)
	if err != nil {
		// Not ours: something else wrote the key. Say so rather than
		// invent a value.
		return Result{Outcome: Fail, Err: fmt.Errorf("key %s holds %q, not a decimal integer: is another program writing to this etcd?", kvs[0].Key, kvs[0].Value)}
	}
	r.Value, r.Present = v, true
	return r
}

// outcome maps a failed write or cas to fail (it surely did not take
// effect) or info (it may have). Definite: the RPC never left this
// process (errUnsent), the member rejected the request before proposing
// it (invalid, precondition, too many requests, no space, auth), or raft
// dropped the proposal. Everything else, timeouts and unavailability
// after sending above all, may have taken effect.
func outcome(err error) Outcome {
	var u *errUnsent
	if errors.As(err, &u) {
		return Fail
	}
	// clientv3 turns the member's known errors into rpctypes.EtcdError,
	// the rest stay gRPC statuses.
	var code codes.Code
	var msg string
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code, msg = ee.Code(), ee.Error()
	} else if st, ok := status.FromError(err); ok {
		code, msg = st.Code(), st.Message()
	} else {
		return Info // e.g. context.DeadlineExceeded: sent, no answer in time
	}
	switch code {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.ResourceExhausted, codes.OutOfRange,
		codes.PermissionDenied, codes.Unauthenticated, codes.NotFound, codes.AlreadyExists, codes.Unimplemented:
		return Fail
	}
	if strings.Contains(msg, "raft proposal dropped") {
		return Fail
	}
	return Info
}

// errUnsent marks an RPC that gRPC failed before sending it: no
// connection was ready. It deliberately has no Unwrap (nor GRPCStatus),
// so clientv3's error translation passes it through unchanged.
type errUnsent struct{ cause error }

func (e *errUnsent) Error() string {
	return "not sent, no connection to the member: " + e.cause.Error()
}

// unsent reports whether err is gRPC's failure to pick a ready
// connection, which happens before anything is written: a dial error
// seen by a fail-fast RPC (Unavailable), or a deadline that passed while
// the RPC waited for a connection (the picker's own DeadlineExceeded).
// An RPC that failed on a connection it was sent on has other messages
// ("transport is closing", "context deadline exceeded", "EOF").
func unsent(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		return strings.Contains(msg, "Error while dialing") || strings.Contains(msg, "server preface")
	case codes.DeadlineExceeded, codes.Canceled:
		return strings.HasPrefix(msg, "latest balancer error") || strings.HasSuffix(msg, "while waiting for connections to become ready")
	}
	return false
}

// failFastKV sends every KV RPC fail-fast (no waiting for a connection)
// and marks the ones that were never sent.
type failFastKV struct{ pb.KVClient }

var failFast = grpc.WaitForReady(false)

func mark(err error) error {
	if err != nil && unsent(err) {
		return &errUnsent{cause: err}
	}
	return err
}

func (k failFastKV) Range(ctx context.Context, in *pb.RangeRequest, opts ...grpc.CallOption) (*pb.RangeResponse, error) {
	r, err := k.KVClient.Range(ctx, in, append(opts, failFast)...)
	return r, mark(err)
}

func (k failFastKV) Put(ctx context.Context, in *pb.PutRequest, opts ...grpc.CallOption) (*pb.PutResponse, error) {
	r, err := k.KVClient.Put(ctx, in, append(opts, failFast)...)
	return r, mark(err)
}

func (k failFastKV) Txn(ctx context.Context, in *pb.TxnRequest, opts ...grpc.CallOption) (*pb.TxnResponse, error) {
	r, err := k.KVClient.Txn(ctx, in, append(opts, failFast)...)
	return r, mark(err)
}
