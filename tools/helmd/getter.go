package main

// The cluster connection upgrades share: Helm's own client configuration (pkg/cli EnvSettings: the
// kubeconfig, context, user agent and retrying transport of `helm`), with discovery kept in memory
// instead of in ~/.kube/cache, as Flux's helm-controller does for the same reason (a long-lived process
// using Helm's action package). The `helm` binary builds a new disk-cached discovery client for every
// call that asks for one and rewrites the cache files after each refresh; here one memory-cached client
// serves a connection. Nothing is answered from a stale cache that helm would fetch: Helm invalidates
// discovery before it computes a release's capabilities (action.Configuration.getCapabilities), and
// the deferred REST mapper refreshes on a kind it does not know, as it does over the disk cache.

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

type memoryGetter struct {
	flags genericclioptions.RESTClientGetter // helm's ConfigFlags for this connection

	once      sync.Once
	err       error
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

var _ genericclioptions.RESTClientGetter = (*memoryGetter)(nil)

func (g *memoryGetter) ToRESTConfig() (*rest.Config, error) { return g.flags.ToRESTConfig() }

func (g *memoryGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return g.flags.ToRawKubeConfigLoader()
}

func (g *memoryGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.discovery, g.err
}

func (g *memoryGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

func (g *memoryGetter) init() {
	g.once.Do(func() {
		config, err := g.flags.ToRESTConfig()
		if err != nil {
			g.err = err
			return
		}
		// Helm's QPS setting (newSettings) applies to discovery too: a process per call never waits on
		// a client-side limit, so neither does a connection that serves a whole run.
		client, err := discovery.NewDiscoveryClientForConfig(config)
		if err != nil {
			g.err = err
			return
		}
		g.discovery = memory.NewMemCacheClient(client)
		// ConfigFlags.toRESTMapper, without its warning printer (helm sets none).
		g.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(g.discovery), g.discovery, func(string) {})
	})
}

// restClientGetter is the shared connection for the request's cluster and namespace.
func (s *server) restClientGetter(req *request) genericclioptions.RESTClientGetter {
	key := s.key(req, req.Namespace)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.getters[key]; ok {
		return g
	}
	g := &memoryGetter{flags: newSettings(req).RESTClientGetter()}
	s.getters[key] = g
	return g
}
