package main

// The one operation that changes the cluster: `helm upgrade --install`, as gripctl runs it
// (src/gripctl/adapters/helm.py upgrade_install_release). It follows pkg/cmd/upgrade.go newUpgradeCmd's
// RunE line by line for the flags gripctl passes; the options of every flag it does not pass keep that
// command's defaults. Each request gets its own action configuration, as each `helm` process does, so
// the cluster's capabilities are discovered again for every upgrade (a chart may test for a CRD that
// the release before it installed); what requests share is client-go's connection to the cluster.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/release/common"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// cliDefaultStatusComputeWorkers is pkg/cmd/flags.go's (unexported there): the wait options every
// `helm` command that can wait starts from.
const cliDefaultStatusComputeWorkers = 8

// upgradeFlags are the `helm upgrade` flags a request may set, by flag name.
type upgradeFlags struct {
	Install                  bool   `json:"install,omitempty"`                    // --install
	CreateNamespace          bool   `json:"create_namespace,omitempty"`           // --create-namespace
	ServerSide               string `json:"server_side,omitempty"`                // --server-side (default "auto")
	ForceConflicts           bool   `json:"force_conflicts,omitempty"`            // --force-conflicts
	DisableOpenAPIValidation bool   `json:"disable_openapi_validation,omitempty"` // --disable-openapi-validation
	Wait                     string `json:"wait,omitempty"`                       // --wait=STRATEGY (default hookOnly)
	Timeout                  string `json:"timeout,omitempty"`                    // --timeout=DURATION (default 300s)
	Description              string `json:"description,omitempty"`                // --description
}

func (s *server) upgrade(ctx context.Context, req *request) (string, error) {
	settings := newSettings(req)
	cfg := action.NewConfiguration()
	cfg.SetLogger(requestLogger(req)) // before Init: the kube client and storage driver take it there
	if err := cfg.Init(s.restClientGetter(req), settings.Namespace(), os.Getenv("HELM_DRIVER")); err != nil {
		return "", err
	}

	// newUpgradeCmd: the client, its CLI wait options, then the flags.
	client := action.NewUpgrade(cfg)
	client.WaitOptions = append(client.WaitOptions, kube.WithStatusComputeWorkers(cliDefaultStatusComputeWorkers))
	f := req.Upgrade
	client.Install = f.Install
	client.ForceConflicts = f.ForceConflicts
	if f.ServerSide != "" {
		switch f.ServerSide {
		case "true", "false", "auto":
			client.ServerSideApply = f.ServerSide
		default:
			return "", fmt.Errorf("invalid server-side value %q: must be \"true\", \"false\" or \"auto\"", f.ServerSide)
		}
	}
	client.DisableOpenAPIValidation = f.DisableOpenAPIValidation
	client.Timeout = 300 * time.Second
	if f.Timeout != "" {
		timeout, err := time.ParseDuration(f.Timeout)
		if err != nil {
			return "", fmt.Errorf("invalid argument %q for \"--timeout\" flag: %w", f.Timeout, err)
		}
		client.Timeout = timeout
	}
	client.MaxHistory = settings.MaxHistory
	client.Description = f.Description
	client.WaitStrategy = kube.HookOnlyStrategy
	if f.Wait != "" {
		switch ws := kube.WaitStrategy(f.Wait); ws {
		case kube.HookOnlyStrategy, kube.StatusWatcherStrategy, kube.LegacyStrategy:
			client.WaitStrategy = ws
		default:
			return "", fmt.Errorf("invalid wait strategy %q: must be one of watcher, hookOnly, legacy", f.Wait)
		}
	}

	// RunE.
	client.Namespace = settings.Namespace()
	client.DryRunStrategy = action.DryRunNone
	providers, valueOpts, stdinURL := valueInputs(settings, req)

	if client.Install {
		histClient := action.NewHistory(cfg)
		histClient.Max = 1
		versions, err := histClient.Run(req.Name)
		if errors.Is(err, driver.ErrReleaseNotFound) || isReleaseUninstalled(versions) {
			instClient := action.NewInstall(cfg)
			instClient.CreateNamespace = f.CreateNamespace
			instClient.ChartPathOptions = client.ChartPathOptions
			instClient.ForceReplace = client.ForceReplace
			instClient.DryRunStrategy = client.DryRunStrategy
			instClient.DisableHooks = client.DisableHooks
			instClient.SkipCRDs = client.SkipCRDs
			instClient.Timeout = client.Timeout
			instClient.WaitStrategy = client.WaitStrategy
			instClient.WaitOptions = client.WaitOptions
			instClient.WaitForJobs = client.WaitForJobs
			instClient.Devel = client.Devel
			instClient.Namespace = client.Namespace
			instClient.RollbackOnFailure = client.RollbackOnFailure
			instClient.PostRenderer = client.PostRenderer
			instClient.DisableOpenAPIValidation = client.DisableOpenAPIValidation
			instClient.SubNotes = client.SubNotes
			instClient.HideNotes = client.HideNotes
			instClient.SkipSchemaValidation = client.SkipSchemaValidation
			instClient.Description = client.Description
			instClient.DependencyUpdate = client.DependencyUpdate
			instClient.Labels = client.Labels
			instClient.EnableDNS = client.EnableDNS
			instClient.HideSecret = client.HideSecret
			instClient.TakeOwnership = client.TakeOwnership
			instClient.ForceConflicts = client.ForceConflicts
			instClient.ServerSideApply = client.ServerSideApply != "false"

			if isReleaseUninstalled(versions) {
				instClient.Replace = true
			}

			rel, err := runInstallContext(ctx, []string{req.Name, req.Chart}, instClient, valueOpts, settings, providers)
			if err != nil {
				return "", withStdin(err, stdinURL)
			}
			return encodeJSON(rel) // statusPrinter.WriteJSON
		} else if err != nil {
			return "", err
		}
	}

	chartPath, err := client.LocateChart(req.Chart, settings)
	if err != nil {
		return "", err
	}
	vals, err := valueOpts.MergeValues(providers)
	if err != nil {
		return "", withStdin(err, stdinURL)
	}
	ch, err := loader.Load(chartPath)
	if err != nil {
		return "", err
	}
	ac, err := chart.NewAccessor(ch)
	if err != nil {
		return "", err
	}
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(ch, req); err != nil {
			return "", fmt.Errorf("an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: %w", err)
		}
	}

	reli, err := client.RunWithContext(ctx, req.Name, ch, vals)
	if err != nil {
		return "", fmt.Errorf("UPGRADE FAILED: %w", err)
	}
	rel, err := releaserToV1Release(reli)
	if err != nil {
		return "", err
	}
	return encodeJSON(rel) // statusPrinter.WriteJSON
}

// isReleaseUninstalled is pkg/cmd/upgrade.go isReleaseUninstalled.
func isReleaseUninstalled(versionsi []ri.Releaser) bool {
	versions, err := releaseListToV1List(versionsi)
	if err != nil {
		return false
	}
	return len(versions) > 0 && versions[len(versions)-1].Info.Status == common.StatusUninstalled
}
