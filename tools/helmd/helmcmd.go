package main

// Output of helm's release commands, as pkg/cmd prints it with `--output json`. pkg/cmd does not
// export these, so they are repeated here from helm v4.3.1 (pkg/cmd/history.go, list.go, root.go);
// tests compare this output with the helm binary's byte for byte.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli/output"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

func encodeJSON(obj any) (string, error) {
	var buf bytes.Buffer
	if err := output.EncodeJSON(&buf, obj); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// pkg/cmd/root.go

func releaserToV1Release(rel ri.Releaser) (*release.Release, error) {
	switch r := rel.(type) {
	case release.Release:
		return &r, nil
	case *release.Release:
		return r, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("unsupported release type: %T", rel)
	}
}

func releaseListToV1List(ls []ri.Releaser) ([]*release.Release, error) {
	rls := make([]*release.Release, 0, len(ls))
	for _, val := range ls {
		rel, err := releaserToV1Release(val)
		if err != nil {
			return nil, err
		}
		rls = append(rls, rel)
	}

	return rls, nil
}

// pkg/cmd/history.go

type releaseInfo struct {
	Revision         int       `json:"revision"`
	Updated          time.Time `json:"updated,omitzero"`
	Status           string    `json:"status"`
	Chart            string    `json:"chart"`
	AppVersion       string    `json:"app_version"`
	RollbackRevision int       `json:"rollback_revision,omitempty"`
	Description      string    `json:"description"`
}

type releaseInfoJSON struct {
	Revision         int        `json:"revision"`
	Updated          *time.Time `json:"updated,omitempty"`
	Status           string     `json:"status"`
	Chart            string     `json:"chart"`
	AppVersion       string     `json:"app_version"`
	RollbackRevision int        `json:"rollback_revision,omitempty"`
	Description      string     `json:"description"`
}

// MarshalJSON omits zero-value time fields from the JSON output.
func (r releaseInfo) MarshalJSON() ([]byte, error) {
	tmp := releaseInfoJSON{
		Revision:         r.Revision,
		Status:           r.Status,
		Chart:            r.Chart,
		AppVersion:       r.AppVersion,
		RollbackRevision: r.RollbackRevision,
		Description:      r.Description,
	}
	if !r.Updated.IsZero() {
		tmp.Updated = &r.Updated
	}
	return json.Marshal(tmp)
}

type releaseHistory []releaseInfo

func getHistory(client *action.History, name string) (releaseHistory, error) {
	histi, err := client.Run(name)
	if err != nil {
		return nil, err
	}
	hist, err := releaseListToV1List(histi)
	if err != nil {
		return nil, err
	}

	releaseutil.Reverse(hist, releaseutil.SortByRevision)

	var rels []*release.Release
	for i := 0; i < min(len(hist), client.Max); i++ {
		rels = append(rels, hist[i])
	}

	if len(rels) == 0 {
		return releaseHistory{}, nil
	}

	releaseHistory := getReleaseHistory(rels)

	return releaseHistory, nil
}

func getReleaseHistory(rls []*release.Release) (history releaseHistory) {
	for _, v := range slices.Backward(rls) {
		r := v
		c := formatChartName(r.Chart)
		s := r.Info.Status.String()
		v := r.Version
		d := r.Info.Description
		a := formatAppVersion(r.Chart)

		rInfo := releaseInfo{
			Revision:         v,
			Status:           s,
			Chart:            c,
			AppVersion:       a,
			RollbackRevision: r.Info.RollbackRevision,
			Description:      d,
		}
		if !r.Info.LastDeployed.IsZero() {
			rInfo.Updated = r.Info.LastDeployed
		}
		history = append(history, rInfo)
	}

	return history
}

func formatChartName(c *chart.Chart) string {
	if c == nil || c.Metadata == nil {
		// This is an edge case that has happened in prod, though we don't
		// know how: https://github.com/helm/helm/issues/1347
		return "MISSING"
	}
	return fmt.Sprintf("%s-%s", c.Name(), c.Metadata.Version)
}

func formatAppVersion(c *chart.Chart) string {
	if c == nil || c.Metadata == nil {
		// This is an edge case that has happened in prod, though we don't
		// know how: https://github.com/helm/helm/issues/1347
		return "MISSING"
	}
	return c.AppVersion()
}

// pkg/cmd/list.go (the JSON writer; no --time-format)

type releaseElement struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Revision   string `json:"revision"`
	Updated    string `json:"updated"`
	Status     string `json:"status"`
	Chart      string `json:"chart"`
	AppVersion string `json:"app_version"`
}

func newReleaseListWriter(releases []*release.Release) []releaseElement {
	// Initialize the array so no results returns an empty array instead of null
	elements := make([]releaseElement, 0, len(releases))
	for _, r := range releases {
		element := releaseElement{
			Name:       r.Name,
			Namespace:  r.Namespace,
			Revision:   strconv.Itoa(r.Version),
			Status:     r.Info.Status.String(),
			Chart:      formatChartName(r.Chart),
			AppVersion: formatAppVersion(r.Chart),
		}

		t := "-"
		if tspb := r.Info.LastDeployed; !tspb.IsZero() {
			t = tspb.String()
		}
		element.Updated = t

		elements = append(elements, element)
	}
	return elements
}
