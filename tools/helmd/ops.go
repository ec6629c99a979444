package main

// The operations. Each mirrors one `helm` command as gripctl runs it (src/gripctl/adapters/helm.py),
// calling the same action package code with the same options that command's flags set, and printing
// what that command prints. Where this file repeats a few lines of helm's pkg/cmd (which does not
// export them), the source is named next to them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
)

type server struct {
	mu          sync.Mutex
	configs     map[configKey]*action.Configuration
	connections map[configKey]*connection     // upgrades' (getter.go)
	inflight    map[string]context.CancelFunc // by request id
	cancelled   map[string]struct{}           // cancels that came before their request started
}

func newServer() *server {
	return &server{
		configs:     map[configKey]*action.Configuration{},
		connections: map[configKey]*connection{},
		inflight:    map[string]context.CancelFunc{},
		cancelled:   map[string]struct{}{},
	}
}

// dispatch runs one operation; ctx ends when the request is cancelled (op "cancel") or the helper is
// told to stop (SIGINT, SIGTERM), as the context of a `helm` process ends on those signals.
func (s *server) dispatch(ctx context.Context, req *request) (string, error) {
	switch req.Op {
	case "upgrade":
		return s.upgrade(ctx, req)
	case "template":
		return s.template(req)
	case "list":
		return s.list(req)
	case "history":
		return s.history(req)
	case "get_manifest":
		return s.getManifest(req)
	case "get_values":
		return s.getValues(req)
	case "version":
		return version + "\n", nil
	default:
		return "", fmt.Errorf("gripctl-helmd: unknown operation %q", req.Op)
	}
}

// --- template: pkg/cmd/template.go newTemplateCmd + pkg/cmd/install.go runInstall ------------------

// stdinScheme names the request's stdin as a values "file": helm reads `--values -` from the
// process's stdin, which a long-lived helper does not have per request; a getter for this scheme hands
// MergeValues the request's bytes instead, in memory, through helm's own readFile path.
const stdinScheme = "gripctl-helmd-stdin"

var stdinCounter atomic.Uint64

type bytesGetter struct{ data []byte }

func (g bytesGetter) Get(_ string, _ ...getter.Option) (*bytes.Buffer, error) {
	return bytes.NewBuffer(bytes.Clone(g.data)), nil
}

// valueInputs is `--values F... --set K=V...` for MergeValues: getter.All(settings) plus, when the
// request has values for `--values -`, a getter that hands them over from memory (see stdinScheme),
// and the options naming them by stdinURL ("" without them).
func valueInputs(settings *cli.EnvSettings, req *request) (getter.Providers, *values.Options, string) {
	providers := getter.All(settings)
	valueOpts := &values.Options{Values: req.Set}
	stdinURL := ""
	for _, f := range req.ValuesFiles {
		if strings.TrimSpace(f) == "-" {
			if stdinURL == "" {
				stdinURL = fmt.Sprintf("%s://%d", stdinScheme, stdinCounter.Add(1))
				data := req.Stdin
				providers = append(providers, getter.Provider{
					Schemes: []string{stdinScheme},
					New:     func(...getter.Option) (getter.Getter, error) { return bytesGetter{data}, nil },
				})
			}
			f = stdinURL
		}
		valueOpts.ValueFiles = append(valueOpts.ValueFiles, f)
	}
	return providers, valueOpts, stdinURL
}

// withStdin names the request's values "-" in an error, as helm names `--values -`.
func withStdin(err error, stdinURL string) error {
	if err == nil || stdinURL == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), stdinURL, "-"))
}

func (s *server) template(req *request) (string, error) {
	settings := newSettings(req)
	cfg := action.NewConfiguration()
	client := action.NewInstall(cfg)

	// The template command's flag defaults and RunE, in order.
	if req.KubeVersion != "" {
		parsedKubeVersion, err := common.ParseKubeVersion(req.KubeVersion)
		if err != nil {
			return "", fmt.Errorf("invalid kube version '%s': %w", req.KubeVersion, err)
		}
		client.KubeVersion = parsedKubeVersion
	}
	client.DisableHooks = req.NoHooks
	client.IsUpgrade = req.IsUpgrade
	client.DryRunStrategy = action.DryRunClient
	client.ReleaseName = "release-name"
	client.Replace = true // Skip the name check
	client.APIVersions = common.VersionSet([]string{})
	client.IncludeCRDs = req.IncludeCRDs

	providers, valueOpts, stdinURL := valueInputs(settings, req)

	rel, err := runInstallContext(context.Background(), []string{req.Name, req.Chart}, client, valueOpts, settings, providers)
	if err != nil {
		msg := withStdin(err, stdinURL).Error()
		if rel != nil {
			return "", fmt.Errorf("%s\n\nUse --debug flag to render out invalid YAML", msg)
		}
		return "", errors.New(msg)
	}

	var manifests bytes.Buffer
	fmt.Fprintln(&manifests, strings.TrimSpace(rel.Manifest))
	if !client.DisableHooks {
		for _, m := range rel.Hooks {
			fmt.Fprintf(&manifests, "---\n# Source: %s\n%s\n", m.Path, m.Manifest)
		}
	}
	return manifests.String(), nil
}

// runInstallContext is pkg/cmd/install.go runInstall for a local chart folder or archive, as gripctl
// uses: no --devel, no --dependency-update (a chart whose dependencies are missing fails as it does
// there); ctx stands for the context that runInstall cancels on SIGINT and SIGTERM.
func runInstallContext(ctx context.Context, args []string, client *action.Install, valueOpts *values.Options, settings *cli.EnvSettings, p getter.Providers) (*release.Release, error) {
	name, chartRef, err := client.NameAndChart(args)
	if err != nil {
		return nil, err
	}
	client.ReleaseName = name

	cp, err := client.LocateChart(chartRef, settings)
	if err != nil {
		return nil, err
	}

	vals, err := valueOpts.MergeValues(p)
	if err != nil {
		return nil, err
	}

	chartRequested, err := loader.Load(cp)
	if err != nil {
		return nil, err
	}

	ac, err := chart.NewAccessor(chartRequested)
	if err != nil {
		return nil, err
	}

	if err := checkIfInstallable(ac); err != nil {
		return nil, err
	}

	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(chartRequested, req); err != nil {
			return nil, fmt.Errorf("an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: %w", err)
		}
	}

	client.Namespace = settings.Namespace()

	ri, err := client.RunWithContext(ctx, chartRequested, vals)
	rel, rerr := releaserToV1Release(ri)
	if rerr != nil {
		return nil, rerr
	}
	return rel, err
}

// checkIfInstallable is pkg/cmd/install.go checkIfInstallable.
func checkIfInstallable(ch chart.Accessor) error {
	meta := ch.MetadataAsMap()

	switch meta["Type"] {
	case "", "application":
		return nil
	}
	return fmt.Errorf("%s charts are not installable", meta["Type"])
}

// --- reads against the cluster: pkg/cmd/{list,history,get_manifest,get_values}.go ---------------

func (s *server) list(req *request) (string, error) {
	// `helm list --all-namespaces` initialises its configuration for namespace "" (pkg/cmd/list.go).
	ns := req.Namespace
	if req.AllNamespaces {
		ns = ""
	}
	cfg, err := s.config(req, ns)
	if err != nil {
		return "", err
	}
	client := action.NewList(cfg)
	client.AllNamespaces = req.AllNamespaces
	client.Limit = 256
	if req.Max != 0 {
		client.Limit = req.Max
	}
	for _, state := range req.States {
		switch state {
		case "all":
			client.All = true
		case "deployed":
			client.Deployed = true
		case "failed":
			client.Failed = true
		case "pending":
			client.Pending = true
		case "superseded":
			client.Superseded = true
		case "uninstalled":
			client.Uninstalled = true
		case "uninstalling":
			client.Uninstalling = true
		default:
			return "", fmt.Errorf("gripctl-helmd: unknown list state %q", state)
		}
	}
	client.SetStateMask()
	resultsi, err := client.Run()
	if err != nil {
		return "", err
	}
	results, err := releaseListToV1List(resultsi)
	if err != nil {
		return "", err
	}
	return encodeJSON(newReleaseListWriter(results))
}

func (s *server) history(req *request) (string, error) {
	cfg, err := s.config(req, req.Namespace)
	if err != nil {
		return "", err
	}
	client := action.NewHistory(cfg)
	client.Max = 256
	if req.Max != 0 {
		client.Max = req.Max
	}
	hist, err := getHistory(client, req.Name)
	if err != nil {
		return "", err
	}
	return encodeJSON(hist)
}

func (s *server) getManifest(req *request) (string, error) {
	cfg, err := s.config(req, req.Namespace)
	if err != nil {
		return "", err
	}
	client := action.NewGet(cfg)
	client.Version = req.Revision
	res, err := client.Run(req.Name)
	if err != nil {
		return "", err
	}
	rac, err := ri.NewAccessor(res)
	if err != nil {
		return "", err
	}
	return rac.Manifest() + "\n", nil
}

func (s *server) getValues(req *request) (string, error) {
	cfg, err := s.config(req, req.Namespace)
	if err != nil {
		return "", err
	}
	client := action.NewGetValues(cfg)
	client.Version = req.Revision
	vals, err := client.Run(req.Name)
	if err != nil {
		return "", err
	}
	return encodeJSON(vals)
}

// --- configuration: one per cluster and namespace, set up once ---------------------------------

// configKey identifies a cluster connection. The kubeconfig file's size and modification time are
// part of it: a sandbox recreated under the same path (new certificates, new port) gets a new
// connection, as a new helm process would.
type configKey struct {
	kubeconfig, context, namespace string
	allNamespaces                  bool
	size, mtime                    int64
}

// key names the request's cluster connection in `namespace`.
func (s *server) key(req *request, namespace string) configKey {
	key := configKey{kubeconfig: req.Kubeconfig, context: req.Context, namespace: namespace, allNamespaces: req.AllNamespaces}
	path := req.Kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if st, err := os.Stat(path); err == nil {
		key.size, key.mtime = st.Size(), st.ModTime().UnixNano()
	}
	return key
}

// newSettings is cli.New() with the flags gripctl passes: `--kubeconfig` (whose flag default ""
// replaces $KUBECONFIG in EnvSettings, pkg/cli/environment.go AddFlags), `--kube-context` and
// `--namespace`.
func newSettings(req *request) *cli.EnvSettings {
	settings := cli.New()
	if _, set := os.LookupEnv("HELM_QPS"); !set {
		// client-go limits a client to 5 requests a second after a burst of 100 (Helm's defaults). A
		// `helm` process per call never reaches that; the helper, whose clients serve every call of a
		// gripctl run, would, and a plan of 100 releases would wait ~40 s on it. No client-side limit,
		// as with one process per call: the caller's concurrency bounds the requests in flight.
		settings.QPS = -1
	}
	settings.KubeConfig = req.Kubeconfig
	if req.Context != "" {
		settings.KubeContext = req.Context
	}
	if req.Namespace != "" {
		settings.SetNamespace(req.Namespace)
	}
	return settings
}

// config is what `helm`'s root command sets up before a release command runs (pkg/cmd/root.go
// NewRootCmd: actionConfig.Init with $HELM_DRIVER), kept for later requests to the same cluster and
// namespace. Its kube client is shared by concurrent requests, see guardedKube.
func (s *server) config(req *request, namespace string) (*action.Configuration, error) {
	key := s.key(req, namespace)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg, ok := s.configs[key]; ok {
		return cfg, nil
	}
	settings := newSettings(req)
	settings.SetNamespace(namespace)
	cfg := action.NewConfiguration()
	// `helm list -A` initialises with namespace "" while settings.Namespace() would say "default".
	initNamespace := settings.Namespace()
	if req.AllNamespaces {
		initNamespace = ""
	}
	if err := cfg.Init(settings.RESTClientGetter(), initNamespace, os.Getenv("HELM_DRIVER")); err != nil {
		return nil, err
	}
	cfg.KubeClient = &guardedKube{Interface: cfg.KubeClient}
	s.configs[key] = cfg
	return cfg, nil
}

// guardedKube makes kube.Client.IsReachable safe for concurrent callers: it caches the clientset it
// creates on first use in an unguarded field (pkg/kube/client.go getKubeClient). Calls are serialised
// until one has succeeded, which leaves the field set; from then on they only read it.
type guardedKube struct {
	kube.Interface
	mu    sync.Mutex
	ready atomic.Bool
}

func (g *guardedKube) IsReachable() error {
	if g.ready.Load() {
		return g.Interface.IsReachable()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.Interface.IsReachable()
	if err == nil {
		g.ready.Store(true)
	}
	return err
}
