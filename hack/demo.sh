#!/usr/bin/env bash
# make demo: a local control plane, the Bland simulator and the manager, then a
# PersonaBinding walked through Ready, a dropped number and Ready again.
# Offline: everything is built from the Go module proxy and cached.
#
# Settings: DEMO_EXIT=1 exits after the walkthrough; SIM_ADDR and PROBE_ADDR
# move the simulator and the manager's probes; DEMO_DIR keeps the files.
set -euo pipefail
cd "$(dirname "$0")/.."

SIM_ADDR="${SIM_ADDR:-127.0.0.1:18088}"
PROBE_ADDR="${PROBE_ADDR:-127.0.0.1:18081}"
DEMO_DIR="${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bland-demo.XXXXXX")}"
mkdir -p "${DEMO_DIR}"
KUBECONFIG_PATH="${DEMO_DIR}/kubeconfig"

n=0
step() { n=$((n + 1)); printf '\n[%d] %s\n' "${n}" "$*"; }
fail() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

pids=()
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  if ((${#pids[@]})); then echo "Stopped the manager, the simulator and the control plane (logs in ${DEMO_DIR})."; fi
  exit "${code}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# waitfor DESCRIPTION SECONDS COMMAND...: poll until the command succeeds.
waitfor() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "${what} did not come up within ${secs}s; see the logs in ${DEMO_DIR}"
    for pid in "${pids[@]}"; do
      kill -0 "${pid}" 2>/dev/null || fail "a process stopped while waiting for ${what}; see the logs in ${DEMO_DIR}"
    done
    sleep 0.3
  done
}

step "Building what is missing: the control plane (first time: several minutes), the manager, the simulator"
KUBEBUILDER_ASSETS="$(hack/control-plane.sh)"
export KUBEBUILDER_ASSETS
mkdir -p bin
go build -o bin/manager ./cmd
go build -o bin/blandsim ./cmd/blandsim
go build -o bin/localcluster ./hack/localcluster
kubectl() { "${KUBEBUILDER_ASSETS}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" "$@"; }
echo "Built bin/manager and bin/blandsim; control plane binaries in ${KUBEBUILDER_ASSETS}"

for addr in "${SIM_ADDR}" "${PROBE_ADDR}"; do
  port_free "${addr}" || fail "port ${addr} is in use (another demo still running?). Stop it, or pick free ports: make demo SIM_ADDR=127.0.0.1:28088 PROBE_ADDR=127.0.0.1:28081"
done

step "Starting a local control plane (etcd and kube-apiserver on loopback)"
bin/localcluster --write-kubeconfig "${KUBECONFIG_PATH}" >"${DEMO_DIR}/control-plane.log" 2>&1 &
pids+=($!)
waitfor "the control plane" 90 test -s "${KUBECONFIG_PATH}"
waitfor "the API server" 60 kubectl get --raw /readyz
echo "Kubeconfig: ${KUBECONFIG_PATH}"

step "Installing the PersonaBinding CRD with kubectl apply"
kubectl apply -k config/crd
kubectl wait --for=condition=Established crd/personabindings.personas.bland-operator.dev --timeout=30s

step "Starting the Bland simulator on http://${SIM_ADDR} (account key demo-key, one persona, four numbers)"
bin/blandsim --listen "${SIM_ADDR}" --api-key demo-key \
  --personas "12345678-1234-1234-1234-123456789012=Support Agent" \
  --numbers "+14155550101,+14155550102,+14155550103,+14155550104" >"${DEMO_DIR}/blandsim.log" 2>&1 &
pids+=($!)
waitfor "the simulator" 30 bash -c "exec 3<>/dev/tcp/${SIM_ADDR%:*}/${SIM_ADDR##*:}"

step "Starting the manager, pointed at the simulator"
KUBECONFIG="${KUBECONFIG_PATH}" bin/manager --bland-api-url "http://${SIM_ADDR}" --allow-insecure-api-url \
  --health-probe-bind-address "${PROBE_ADDR}" --metrics-bind-address 0 >"${DEMO_DIR}/manager.log" 2>&1 &
pids+=($!)
waitfor "the manager" 60 bash -c "exec 3<>/dev/tcp/${PROBE_ADDR%:*}/${PROBE_ADDR##*:}"

step "Applying config/samples: a Secret with the API key and the PersonaBinding support-line"
kubectl apply -k config/samples
kubectl wait --for=condition=Ready personabinding/support-line --timeout=60s
kubectl get personabindings -o wide

step "Dropping +14155550103 from the binding"
kubectl patch personabinding support-line --type=json -p '[{"op":"remove","path":"/spec/inboundNumbers/2"}]'
kubectl wait --for=condition=Ready personabinding/support-line --timeout=60s
echo "Calls the simulator received:"
grep -o 'call .*' "${DEMO_DIR}/blandsim.log" | sed 's/^/  /'
grep -q 'call detach .*numbers=+14155550103 ' "${DEMO_DIR}/blandsim.log" || fail "the simulator saw no detach of +14155550103"
kubectl get personabindings -o wide

step "Done: the binding is Ready again with two numbers"
if [[ "${DEMO_EXIT:-0}" == 1 ]]; then
  exit 0
fi
cat <<MSG
The cluster keeps running. In another shell:
  export KUBECONFIG=${KUBECONFIG_PATH}
  ${KUBEBUILDER_ASSETS}/kubectl get pb -o wide
  ${KUBEBUILDER_ASSETS}/kubectl describe pb support-line
Logs: ${DEMO_DIR}/{manager,blandsim,control-plane}.log
Press Ctrl-C to stop everything.
MSG
wait
