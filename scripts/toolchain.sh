#!/usr/bin/env bash
# Builds gripctl's pinned toolchain (tools/versions.env) from the Go module proxy and prints the one bin
# directory to put first on PATH.
#
# Each component (helm, sops+age, kwok, etcd, kube, ...) is built into its own cache directory, keyed by
# its own recipe (packages and versions, linker flags), its wrapper module's go.mod/go.sum/*.go and the Go
# version: a new or changed pin builds only its component. The printed directory holds symlinks to the
# components' binaries and is keyed by all inputs together, so a warm run is one hash and one stat.
#
# Usage: scripts/toolchain.sh          the default toolchain (make setup, make test)
#        scripts/toolchain.sh --bench  the default toolchain plus the benchmark-only tools (make bench)
#        scripts/toolchain.sh --deploy only what a deploy needs: helm, gripctl-helmd, sops, age (GitHub Action)
#        scripts/toolchain.sh --keys   [--bench] print each component's cache key; builds nothing
#
# Layout under ${GRIPCTL_CACHE:-~/.cache/gripctl}/toolchain/:
#   components/<name>-<key>/bin/  one component's binaries (.complete once built and checked)
#   <key>/bin/                    symlinks to every binary of a set of components; this is what is printed
#   current -> <key>              the toolchain printed last; gripctl's adapters/toolchain.py looks there
#
# Adding a tool: pin it in tools/versions.env, write a spec_<name> below, list it in DEFAULT or BENCH.
set -euo pipefail
shopt -s inherit_errexit

DEFAULT=(helm helmd sops kwok etcd kube actionlint prometheus)
BENCH=(helmfile)
DEPLOY=(helm helmd sops)  # action.yml: CI runners deploy; no sandbox, no linters, no Prometheus
# Bump when build_component changes in a way that changes the binaries (it is part of every key).
BUILDER=2

# A component's recipe. spec_<name> sets:
#   pkgs      Go packages. `pkg@version` is `go install`ed from the module proxy; a bare `pkg` is built in
#             the wrapper module tools/<name>/ (for modules whose go.mod has replace directives, which
#             `go install` refuses). `pkg=file` names the binary.
#   ldflags   linker flags (-X stamps the version where the program does not read its build info)
#   requires  "module version" the wrapper module must require: keeps go.mod in step with versions.env
#   checks    pairs (command, text its output must contain), run on every fresh build: each binary starts
#             and reports the pinned version
spec_helm() {
  pkgs=("helm.sh/helm/v4/cmd/helm@$HELM_VERSION")
  ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  checks=("helm version --template {{.Version}}" "$HELM_VERSION")
}

# gripctl-helmd (tools/helmd): Helm's own packages in one long-lived process for gripctl's read-only helm
# calls. Its wrapper module requires helm.sh/helm/v4 at exactly the helm pin, so it links the same module
# versions as helm; the same -X stamps the same .Capabilities.HelmVersion.
spec_helmd() {
  pkgs=("gripctl.dev/tools/helmd=gripctl-helmd")
  ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X main.version=$HELM_VERSION"
  requires="helm.sh/helm/v4 $HELM_VERSION"
  checks=("gripctl-helmd --version" "$HELM_VERSION")
}

spec_sops() {
  pkgs=("github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
        "filippo.io/age/cmd/age@$AGE_VERSION" "filippo.io/age/cmd/age-keygen@$AGE_VERSION")
  ldflags="-s -w"
  # Without --disable-version-check sops asks GitHub for its latest release.
  checks=("sops --version --disable-version-check" "sops ${SOPS_VERSION#v}" "age --version" "$AGE_VERSION")
}

spec_kwok() {
  pkgs=("sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION")
  ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBERNETES_VERSION"
  checks=("kwokctl --version" "$KWOK_VERSION" "kwok --version" "$KWOK_VERSION")
}

spec_etcd() {
  pkgs=("go.etcd.io/etcd/server/v3=etcd")
  ldflags="-s -w"
  requires="go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  checks=("etcd --version" "etcd Version: ${ETCD_VERSION#v}")
}

spec_kube() {
  pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  local p minor
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  requires="k8s.io/kubernetes $KUBERNETES_VERSION"
  checks=("kube-apiserver --version" "Kubernetes $KUBERNETES_VERSION"
          "kube-controller-manager --version" "Kubernetes $KUBERNETES_VERSION"
          "kube-scheduler --version" "Kubernetes $KUBERNETES_VERSION"
          "kubectl version --client" "Client Version: $KUBERNETES_VERSION")
}

spec_actionlint() {
  pkgs=("github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION")
  ldflags="-s -w"  # actionlint reads its version from the build info
  checks=("actionlint --version" "$ACTIONLINT_VERSION")
}

spec_prometheus() {
  # Module version v0.3XX.Y is Prometheus 3.XX.Y. Built without the `builtinassets` tag, so without the
  # web UI: gripctl talks to the HTTP API only.
  local v=${PROMETHEUS_VERSION#v0.} release
  release="$((${v%%.*} / 100)).$((${v%%.*} % 100)).${v#*.}"
  pkgs=("github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION"
        "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION")
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$PROMETHEUS_VERSION"
  checks=("prometheus --version" "prometheus, version $release" "promtool --version" "promtool, version $release")
}

spec_helmfile() {
  pkgs=(github.com/helmfile/helmfile)
  ldflags="-s -w -X go.szostok.io/version.version=$HELMFILE_VERSION"
  requires="github.com/helmfile/helmfile $HELMFILE_VERSION"
  checks=("helmfile --version" "$HELMFILE_VERSION")
}

# ------------------------------------------------------------------------------------------- machinery

log() { printf '[toolchain %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'toolchain.sh: %s\n' "$*" >&2; exit 1; }

load_spec() {
  pkgs=() ldflags="" requires="" checks=()
  declare -F "spec_$1" >/dev/null || die "no recipe for component '$1' (expected a spec_$1 function in $0)"
  "spec_$1"
}

# The file a package builds to: `pkg=file`, else the last path element that is not a major version.
binary_name() {
  local p=${1%@*}
  [[ $p == *=* ]] && { echo "${p#*=}"; return; }
  [[ ${p##*/} =~ ^v[0-9]+$ ]] && p=${p%/*}
  echo "${p##*/}"
}

# Refuses a wrapper module whose go.mod requires another version than versions.env pins.
check_requires() {
  local name=$1 module=${requires% *} version=${requires#* } gomod="$root/tools/$1/go.mod"
  [[ -f $gomod ]] || die "component $name builds from the wrapper module tools/$name/, which is missing"
  awk -v m="$module" -v v="$version" \
    '($1 == "require" && $2 == m && $3 == v) || ($1 == m && $2 == v) { ok = 1 } END { exit !ok }' "$gomod" ||
    die "tools/$name/go.mod does not require $module $version, the version tools/versions.env pins;" \
      "run: (cd tools/$name && go get $module@$version && go mod tidy), or fix the pin"
}

component_key() {
  load_spec "$1"
  [[ -z $requires ]] || check_requires "$1"
  {
    echo "builder=$BUILDER component=$1"
    printf '%s\n' "${pkgs[@]}" "$ldflags" "$requires"
    # A wrapper module's own Go sources (gripctl-helmd's operations) are part of what gets built.
    [[ ! -f $root/tools/$1/go.mod ]] || cat "$root/tools/$1/go.mod" "$root/tools/$1/go.sum" "$root/tools/$1/"*.go
    echo "$GOVERSION $GOOS $GOARCH"
  } | sha256sum | cut -c1-16
}

build_component() {  # name out_dir
  local name=$1 out=$2 p v
  local flags=(-trimpath -ldflags "$ldflags")
  if [[ -n $requires ]]; then
    local plain=()
    for p in "${pkgs[@]}"; do
      if [[ $p == *=* ]]; then
        (cd "$root/tools/$name" && go build "${flags[@]}" -o "$out/${p#*=}" "${p%%=*}")
      else
        plain+=("$p")
      fi
    done
    [[ ${#plain[@]} -eq 0 ]] || (cd "$root/tools/$name" && go build "${flags[@]}" -o "$out/" "${plain[@]}")
  else
    # One `go install` takes several packages only from one module version: one call per version.
    local versions=()
    for p in "${pkgs[@]}"; do [[ " ${versions[*]} " == *" ${p##*@} "* ]] || versions+=("${p##*@}"); done
    for v in "${versions[@]}"; do
      local group=()
      for p in "${pkgs[@]}"; do [[ ${p##*@} != "$v" ]] || group+=("$p"); done
      GOBIN="$out" go install "${flags[@]}" "${group[@]}"
    done
  fi
}

run_checks() {  # name bin_dir
  local i output
  for ((i = 0; i < ${#checks[@]}; i += 2)); do
    output=$(PATH="$2:$PATH" timeout 60 bash -c "${checks[i]}" 2>&1) ||
      die "component $1: \`${checks[i]}\` failed in $2: $output"
    [[ $output == *"${checks[i + 1]}"* ]] ||
      die "component $1: \`${checks[i]}\` printed '$output', not the pinned '${checks[i + 1]}'" \
        "(tools/versions.env): fix the recipe (spec_$1) or the pin"
  done
}

# Transitional: toolchains built before per-component caching are <key>/bin directories of real binaries
# (no `components` file), made by the same recipes as spec_helm, spec_sops, spec_kwok, spec_etcd and
# spec_kube. A component whose binaries there all match on their embedded Go build info (`go version -m`:
# Go version, build settings, the pinned module version; for wrapper modules every dependency as go.sum
# has it) and pass the checks is hard-linked from there rather than rebuilt (Kubernetes: 15-20 min).
# -trimpath keeps -ldflags out of the build info, hence the checks. Remove once no such directory is left.
legacy_binary_ok() {  # file package component
  local file=$1 pkg=${2%=*} info line
  info=$(go version -m "$file" 2>/dev/null) || return 1
  [[ ${info%%$'\n'*} == "$file: $GOVERSION" ]] || return 1
  for line in "build	CGO_ENABLED=0" "build	-trimpath=true" "build	GOOS=$GOOS" "build	GOARCH=$GOARCH" \
    "path	${pkg%@*}"; do
    grep -qxF "	$line" <<<"$info" || return 1
  done
  ! grep -q $'^\tbuild\t-tags=' <<<"$info" || return 1
  if [[ -z $requires ]]; then
    # `go install pkg@version`: the main module's version fixes every dependency.
    awk -v p="${pkg%@*}" -v v="${pkg##*@}" \
      '$1 == "mod" && (p == $2 || index(p, $2 "/") == 1) && $3 == v { ok = 1 } END { exit !ok }' <<<"$info"
  else
    # Wrapper module: the main package's module (the `mod` line) at the pinned version, and every module
    # as the wrapper's go.sum has it.
    awk -v m="${requires% *}" -v v="${requires#* }" \
      '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }' <<<"$info" &&
      awk 'NR == FNR { sum[$1 " " $2 " " $3] = 1; next }
           ($1 == "mod" || $1 == "dep" || $1 == "=>") && NF == 4 && !(($2 " " $3 " " $4) in sum) { bad = 1 }
           END { exit bad }' "$root/tools/$3/go.sum" - <<<"$info"
  fi
}

adopt_legacy() {  # name out_dir
  local name=$1 out=$2 dir p ok
  for dir in "$top"/*; do
    [[ ! -L $dir && -f $dir/.complete && -d $dir/bin && ! -e $dir/components ]] || continue
    ok=1
    for p in "${pkgs[@]}"; do
      legacy_binary_ok "$dir/bin/$(binary_name "$p")" "$p" "$name" || { ok=0; break; }
    done
    [[ $ok == 1 ]] || continue
    for p in "${pkgs[@]}"; do
      cp -l "$dir/bin/$(binary_name "$p")" "$out/" 2>/dev/null || cp "$dir/bin/$(binary_name "$p")" "$out/"
    done
    log "$name: adopted from $dir (same Go build info as this recipe)"
    return 0
  done
  return 1
}

# Makes sure components/<name>-<key> exists. One builder per key at a time (flock).
ensure_component() {
  local name=$1 dir=$2 work started lock
  if [[ ! -f $dir/.complete ]]; then
    mkdir -p "$top/components"
    exec {lock}>"$dir.lock"
    flock "$lock"
    if [[ ! -f $dir/.complete ]]; then
      load_spec "$name"
      work=$(mktemp -d "$top/components/.build-$name-XXXXXX")
      cleanup+=("$work")
      mkdir "$work/bin"
      started=$SECONDS
      if ! adopt_legacy "$name" "$work/bin"; then
        log "$name: building ${pkgs[*]##*/}"
        build_component "$name" "$work/bin"
      fi
      run_checks "$name" "$work/bin"
      echo "$((SECONDS - started))" >"$work/build-seconds"
      du -sh "$work/bin" | cut -f1 >"$work/size"
      touch "$work/.complete"
      rm -rf "$dir"
      mv -T "$work" "$dir"
      log "$name: ready in $((SECONDS - started))s ($(cat "$dir/size"))"
    fi
    exec {lock}>&-
  fi
}

main() {
  local set=default keys_only=0
  while (($#)); do
    case $1 in
      --bench) set=bench ;;
      --deploy) set=deploy ;;
      --keys) keys_only=1 ;;
      --print-bin) ;;
      *) die "unknown option '$1' (usage: scripts/toolchain.sh [--bench | --deploy] [--keys])" ;;
    esac
    shift
  done

  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=../tools/versions.env
  source "$root/tools/versions.env"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off
  command -v go >/dev/null || die "go is not on PATH: building the toolchain needs Go 1.26 (https://go.dev/dl/)"
  { read -r GOVERSION; read -r GOOS; read -r GOARCH; } < <(go env GOVERSION GOOS GOARCH)

  local components=("${DEFAULT[@]}")
  [[ $set != bench ]] || components+=("${BENCH[@]}")
  [[ $set != deploy ]] || components=("${DEPLOY[@]}")

  if [[ $keys_only == 1 ]]; then
    local name key
    for name in "${components[@]}"; do
      key=$(component_key "$name")
      echo "$name $key"
    done
    return
  fi

  local cache_root=${GRIPCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gripctl}
  top="$cache_root/toolchain"
  [[ $top == /* ]] || top="$PWD/$top"  # GOBIN and the printed directory must be absolute
  local key
  key=$({
    echo "set=$set ${components[*]}"
    cat "${BASH_SOURCE[0]}" "$root/tools/versions.env" "$root"/tools/*/go.mod "$root"/tools/*/go.sum \
      "$root"/tools/*/*.go
    echo "$GOVERSION $GOOS $GOARCH"
  } | sha256sum | cut -c1-16)

  if [[ ! -f $top/$key/.complete ]]; then
    cleanup=()
    trap 'rm -rf "${cleanup[@]}"' EXIT
    local started=$SECONDS name dir file link
    # Every recipe is checked before anything is built: a stale wrapper module fails in a second, not
    # after minutes of building the components before it.
    local dirs=() component
    for name in "${components[@]}"; do
      component=$(component_key "$name")
      dirs+=("$top/components/$name-$component")
    done
    log "assembling the $set toolchain into $top/$key (cold: each missing component is built once)"
    mkdir -p "$top"
    link=$(mktemp -d "$top/.link-XXXXXX")
    cleanup+=("$link")
    mkdir "$link/bin"
    local i
    for i in "${!components[@]}"; do
      name=${components[i]} dir=${dirs[i]}
      ensure_component "$name" "$dir"
      echo "$name ${dir##*/}" >>"$link/components"
      for file in "$dir"/bin/*; do
        [[ ! -e $link/bin/${file##*/} ]] || die "two components provide ${file##*/}; rename one (pkg=file)"
        ln -s "../../components/${dir##*/}/bin/${file##*/}" "$link/bin/"
      done
    done
    touch "$link/.complete"
    # Another run may have assembled the same key meanwhile: theirs is identical, keep it.
    mv -T "$link" "$top/$key" 2>/dev/null || true
    log "done in $((SECONDS - started))s"
  fi
  ln -sfn "$key" "$top/current"
  echo "$top/$key/bin"
}

# Sourced (by tests) it only defines the functions; run, the whole file is parsed before main starts,
# so editing it during a long build cannot change the running build.
[[ ${BASH_SOURCE[0]} != "$0" ]] || { main "$@"; exit; }
