#!/usr/bin/env bash
# The one test entry point: installs what the tests need, then runs every test.
# README.md and .ci/run both call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# Prometheus: the real scraper of tests/tests/metrics_prometheus.rs (ships promtool too).
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
# tcpdump: records the SIPp calls that tests/tests/pcap2scenario.rs converts.
command -v tcpdump >/dev/null 2>&1 || need_apt+=(tcpdump)
# Chromium and pdftotext: the summary-to-pdf tool's browser and the PDF reader of
# tests/tests/tools_cli.rs and tools_jobs.rs.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
# sngrep and tshark: the HEP collector and the pcap reader of tests/tests/hep_export.rs.
command -v sngrep >/dev/null 2>&1 || need_apt+=(sngrep)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
# unzip (and its zipinfo): the ZIP reader of master's zip.rs tests, server_zip.rs and
# reports_export.rs (a reader that is not our writer).
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
# Kamailio: the real proxy of tests/tests/transport_kamailio.rs (TLS and WebSocket legs).
kamailio_pkgs=(kamailio kamailio-tls-modules kamailio-websocket-modules)
dpkg -s "${kamailio_pkgs[@]}" >/dev/null 2>&1 || need_apt+=("${kamailio_pkgs[@]}")
# rtpengine: the WebRTC gateway's media relay in tests/tests/webrtc_gateway.rs.
command -v rtpengine >/dev/null 2>&1 || need_apt+=(rtpengine-daemon)
# coturn: the TURN server of tests/tests/turn_coturn.rs and the relayed WebRTC calls.
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
# Python with pip: installs openapi-spec-validator and kubernetes-validate below.
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi
command -v sipp >/dev/null || { echo "sipp (Debian package sip-tester) is required for the tests" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "tcpdump (Debian package tcpdump) is required for the tests" >&2; exit 1; }
command -v sngrep >/dev/null || { echo "sngrep (Debian package sngrep) is required for the tests" >&2; exit 1; }
command -v tshark >/dev/null || { echo "tshark (Debian package tshark) is required for the tests" >&2; exit 1; }
command -v unzip >/dev/null || { echo "unzip (Debian package unzip) is required for the tests" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "prometheus (Debian package prometheus) is required for the tests" >&2; exit 1; }
dpkg -s "${kamailio_pkgs[@]}" >/dev/null 2>&1 ||
  { echo "kamailio (Debian packages ${kamailio_pkgs[*]}) is required for the tests" >&2; exit 1; }
# openapi-spec-validator (PyPI): validates GET /api/v2/openapi.json. Debian's own Python
# is "externally managed" (PEP 668): a plain pip install is refused there, so it is
# retried with --break-system-packages (a venv-less test machine; nothing else uses it).
if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  python3 -m pip install -q openapi-spec-validator 2>/dev/null ||
    python3 -m pip install -q --break-system-packages openapi-spec-validator
fi
python3 -c 'import openapi_spec_validator' ||
  { echo "openapi-spec-validator (pip) is required for the tests" >&2; exit 1; }
# kubernetes-validate (PyPI): checks assets/kubernetes/*.yaml and the master's Job and
# ConfigMap against the Kubernetes schemas (tests/tests/kube_manifests.rs,
# jobs_kubernetes.rs); the same --break-system-packages fallback.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install -q kubernetes-validate 2>/dev/null ||
    python3 -m pip install -q --break-system-packages kubernetes-validate
fi
command -v kubernetes-validate >/dev/null ||
  { echo "kubernetes-validate (pip) is required for the tests" >&2; exit 1; }

# A clean clone builds once: incremental state would only double the target folder.
export CARGO_INCREMENTAL=0

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build (the gossipper binary the end-to-end tests run)"
cargo build -p gossipper
echo "== smoke: a real gossipper ui process over HTTP"
GOSSIPPER_BIN="$PWD/target/debug/gossipper" scripts/smoke-api-v2.sh
echo "== smoke: WebRTC jobs through a real gossipper ui"
GOSSIPPER_BIN="$PWD/target/debug/gossipper" scripts/smoke-webrtc.sh
echo "== browser: the console in headless Chromium"
GOSSIPPER_BIN="$PWD/target/debug/gossipper" scripts/browser-test.sh
echo "== cargo test"
cargo test --workspace --lib --bins --tests --examples
# Doctests link a whole binary each into $TMPDIR; CI's /tmp once filled up doing it (ld: Bus
# error), so they build inside target/ like everything else.
echo "== cargo test --doc"
mkdir -p target/doctest-tmp
TMPDIR="$PWD/target/doctest-tmp" cargo test --workspace --doc
