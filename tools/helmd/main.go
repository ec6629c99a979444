// Command gripctl-helmd is a long-lived helper that runs Helm's own Go packages (helm.sh/helm/v4 at
// the version gripctl pins) for gripctl, so that gripctl pays Helm's start-up once per process instead
// of once per call. It is not a second implementation of Helm: every operation calls the same action
// package functions, with the same options, as the `helm` command that gripctl would otherwise run,
// and answers with the bytes that command would print on stdout (or the message it would print after
// "Error: " on stderr).
//
// Protocol: one JSON request per line on stdin, one JSON response per line on stdout, matched by
// `id`. Requests are handled concurrently; responses come back in completion order. The helper
// exits when stdin closes. See ops.go for the operations and their fields.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"

	// The helm binary's imports (cmd/helm/helm.go), blank where unused: the same packages, so the same
	// package initialisation (API groups registered before Helm's default capabilities are computed,
	// kubeconfig auth plugins) as `helm`.
	_ "helm.sh/helm/v4/pkg/cmd"
	"helm.sh/helm/v4/pkg/kube"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// request is one call; which fields matter depends on Op (see ops.go).
type request struct {
	ID json.RawMessage `json:"id"`
	Op string          `json:"op"`

	// The cluster, as `--kubeconfig` and `--kube-context`.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`

	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Revision  int    `json:"revision,omitempty"` // `--revision`; 0 is the latest
	Max       int    `json:"max,omitempty"`      // `--max` of history and list

	// template: the chart and its values, as `helm template NAME CHART --values F... --values - --set K=V`.
	Chart       string   `json:"chart,omitempty"`
	ValuesFiles []string `json:"values_files,omitempty"` // "-" stands for Stdin, in its place
	Stdin       []byte   `json:"stdin,omitempty"`        // base64 in JSON; decrypted secrets, memory only
	Set         []string `json:"set,omitempty"`          // "key=value", one `--set` each
	KubeVersion string   `json:"kube_version,omitempty"`
	IsUpgrade   bool     `json:"is_upgrade,omitempty"`
	NoHooks     bool     `json:"no_hooks,omitempty"`
	IncludeCRDs bool     `json:"include_crds,omitempty"`

	// list: the state filters (`--deployed`, `--failed`, ...) by name, and `--all-namespaces`.
	States        []string `json:"states,omitempty"`
	AllNamespaces bool     `json:"all_namespaces,omitempty"`

	// upgrade: the flags of `helm upgrade` besides the chart, its values and the cluster (upgrade.go).
	Upgrade upgradeFlags `json:"upgrade"`

	// cancel: the id of the request to stop, as SIGTERM stops a `helm` process (its context ends).
	Request json.RawMessage `json:"request,omitempty"`

	// What the operation's action logs, as `helm` prints it on stderr (see requestLogger).
	log syncBuffer
}

// response is the outcome of one request: what `helm` would have printed on stdout, or its error
// message (without the "Error: " prefix) and exit code.
type response struct {
	ID     json.RawMessage `json:"id"`
	Stdout string          `json:"stdout"`
	Error  string          `json:"error,omitempty"`
	Log    string          `json:"log,omitempty"` // helm's log lines on stderr before "Error: "
	Exit   int             `json:"exit"`
}

// version is set by the build (-X main.version=...) to the Helm version it links, so that gripctl
// can tell a helper built for other pins from one built for its own.
var version = "unknown"

func main() {
	// Helm's library code writes to os.Stdout in a few places (chart downloads, hook output): the
	// protocol gets the real stdout, and os.Stdout becomes stderr so a stray write cannot corrupt it.
	protocol := os.NewFile(uintptr(dupFD(1)), "protocol")
	os.Stdout = os.Stderr

	// The same name `helm` gives itself for managedFields (cmd/helm/helm.go).
	kube.ManagedFieldsManager = "helm"
	// Helm's library logs at debug level for --debug only; the helm binary prints warnings to stderr,
	// which gripctl reads only on failure. The helper keeps stderr for its own crash reports.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))

	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Fprintln(protocol, version)
		return
	}
	serve(os.Stdin, protocol)
}

func dupFD(fd int) int {
	nfd, err := dup(fd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gripctl-helmd: cannot duplicate stdout: %v\n", err)
		os.Exit(2)
	}
	return nfd
}

// serve reads requests until EOF and answers each from its own goroutine. Rendering is CPU-bound:
// at most a few renders run at once so that many queued requests do not all hold a chart in memory.
func serve(in io.Reader, out io.Writer) {
	reader := bufio.NewReaderSize(in, 1<<20)
	var writeMu sync.Mutex
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	write := func(r response) {
		writeMu.Lock()
		defer writeMu.Unlock()
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(os.Stderr, "gripctl-helmd: cannot write a response: %v\n", err)
			os.Exit(2)
		}
	}
	renders := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	srv := newServer()
	// SIGINT and SIGTERM end the context of every request in flight, as they end a `helm` process's:
	// an upgrade cut short is recorded as failed by Helm instead of being left pending. Requests that
	// come after still run (gripctl reads the outcome); operations that change something see their
	// context already ended.
	root, stop := context.WithCancel(context.Background())
	defer stop()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		stop()
	}()
	var wg sync.WaitGroup
	for {
		line, err := reader.ReadBytes('\n')
		if len(line) > 0 {
			// Each request is answered from its own goroutine: this loop never waits on stdout.
			wg.Add(1)
			go func() {
				defer wg.Done()
				var req request
				if err := json.Unmarshal(line, &req); err != nil {
					write(response{ID: json.RawMessage("null"), Error: "gripctl-helmd: malformed request: " + err.Error(), Exit: 2})
					return
				}
				if req.Op == "cancel" {
					srv.cancel(req.Request)
					write(response{ID: req.ID})
					return
				}
				if req.Op == "template" {
					renders <- struct{}{}
					defer func() { <-renders }()
				}
				ctx, done := srv.track(root, req.ID)
				defer done()
				write(srv.handle(ctx, &req))
			}()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintf(os.Stderr, "gripctl-helmd: reading requests: %v\n", err)
			}
			break
		}
	}
	wg.Wait()
}

// handle runs one request; a panic in Helm's code becomes that request's error, not the helper's end.
func (s *server) handle(ctx context.Context, req *request) (resp response) {
	resp.ID = req.ID
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "gripctl-helmd: panic in %s: %v\n%s", req.Op, p, debug.Stack())
			resp = response{ID: req.ID, Error: fmt.Sprintf("gripctl-helmd: internal error in %s: %v", req.Op, p), Exit: 2}
		}
	}()
	out, err := s.dispatch(ctx, req)
	if err != nil {
		return response{ID: req.ID, Error: err.Error(), Log: req.log.String(), Exit: 1}
	}
	resp.Stdout = out
	return resp
}

// track gives a request its own context, ended by a "cancel" naming its id or by the helper's stop;
// done forgets it.
func (s *server) track(root context.Context, id json.RawMessage) (context.Context, func()) {
	ctx, cancel := context.WithCancel(root)
	key := string(id)
	s.mu.Lock()
	s.inflight[key] = cancel
	if _, early := s.cancelled[key]; early {
		delete(s.cancelled, key)
		cancel()
	}
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
		cancel()
	}
}

// cancel ends the context of the request with that id. Requests are read in order but start in their
// own goroutines, so a cancel can come before its request is tracked: it is kept for track to find.
// (One that comes after its request was answered stays kept; ids are never reused.)
func (s *server) cancel(id json.RawMessage) {
	s.mu.Lock()
	cancel := s.inflight[string(id)]
	if cancel == nil {
		s.cancelled[string(id)] = struct{}{}
	}
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// requestLogger is the logger `helm` gives its action configuration (pkg/cmd/root.go logSetup with
// internal/logging.NewLogger, without --debug: every level but debug, no time), writing to the
// request's log instead of stderr, so that a failure reads as the helm binary's stderr would.
func requestLogger(req *request) slog.Handler {
	return slog.NewTextHandler(&req.log, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
}

// syncBuffer is a bytes.Buffer safe for the goroutines of one action.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
