package main

// The cluster connection upgrades share, and what each upgrade sees of it.
//
// `helm` builds its clients from genericclioptions.ConfigFlags without persistence: every call for a
// discovery client or a REST mapper makes a new one over the disk cache in ~/.kube/cache, and a new
// disk-cached client counts as fresh only for what it fetched itself. So a REST mapper that misses a
// kind (a CRD installed a moment ago, by this release's crds/ or by the release before it) drops what
// it read from disk, discovers again and retries. Here the discovery documents are kept in memory, in
// one cache per connection (Flux's helm-controller, a long-lived user of Helm's action package, keeps
// them in memory too), and each upgrade gets a view of that cache with the disk client's freshness
// rule: a view is fresh only after it invalidated the cache itself. Its REST mappers are new on every
// call, as ConfigFlags' are, so a miss of a cached mapping discovers again exactly when helm would.

import (
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// connection is one cluster (kubeconfig, context, namespace): helm's ConfigFlags and the discovery
// cache its upgrades share.
type connection struct {
	flags genericclioptions.RESTClientGetter

	once      sync.Once
	err       error
	discovery discovery.CachedDiscoveryInterface
}

func (c *connection) cache() (discovery.CachedDiscoveryInterface, error) {
	c.once.Do(func() {
		config, err := c.flags.ToRESTConfig()
		if err != nil {
			c.err = err
			return
		}
		// No client-side rate limit (newSettings): a process per call never waits on one.
		client, err := discovery.NewDiscoveryClientForConfig(config)
		if err != nil {
			c.err = err
			return
		}
		c.discovery = memory.NewMemCacheClient(client)
	})
	return c.discovery, c.err
}

// requestGetter is one upgrade's RESTClientGetter over its connection.
type requestGetter struct {
	conn *connection

	once sync.Once
	view *discoveryView
}

var _ genericclioptions.RESTClientGetter = (*requestGetter)(nil)

func (g *requestGetter) ToRESTConfig() (*rest.Config, error) { return g.conn.flags.ToRESTConfig() }

func (g *requestGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return g.conn.flags.ToRawKubeConfigLoader()
}

func (g *requestGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	shared, err := g.conn.cache()
	if err != nil {
		return nil, err
	}
	g.once.Do(func() { g.view = &discoveryView{CachedDiscoveryInterface: shared} })
	return g.view, nil
}

// ToRESTMapper is ConfigFlags.toRESTMapper (without its warning printer: helm sets none), new on every
// call as it is there.
func (g *requestGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, func(string) {}), nil
}

// discoveryView is the shared cache as one upgrade sees it: Fresh (what the deferred REST mapper asks
// before it gives up on a kind) only once this upgrade has invalidated the cache, as a disk-cached
// client is fresh only for the files it wrote itself.
type discoveryView struct {
	discovery.CachedDiscoveryInterface
	fresh atomic.Bool
}

func (v *discoveryView) Fresh() bool { return v.fresh.Load() }

func (v *discoveryView) Invalidate() {
	v.CachedDiscoveryInterface.Invalidate()
	v.fresh.Store(true)
}

// restClientGetter is a new getter for one upgrade over the shared connection of its cluster and
// namespace. Nothing is read yet: a kubeconfig that does not work fails where it fails under helm.
func (s *server) restClientGetter(req *request) genericclioptions.RESTClientGetter {
	key := s.key(req, req.Namespace)
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, ok := s.connections[key]
	if !ok {
		conn = &connection{flags: newSettings(req).RESTClientGetter()}
		s.connections[key] = conn
	}
	return &requestGetter{conn: conn}
}
