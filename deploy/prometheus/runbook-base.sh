#!/usr/bin/env bash
# Print the alert rules with every runbook_url pointing at another copy of docs/runbook.md:
#
#   deploy/prometheus/runbook-base.sh BASE_URL [RULES_FILE] > alerts.yml
#
# BASE_URL is the absolute URL of the runbook page (http:// or https://, no #anchor); each alert's
# link becomes BASE_URL#<alert name in lower case>, the section the runbook has for it.
# RULES_FILE defaults to deploy/prometheus/alerts.yml.
set -euo pipefail

usage() {
  echo "usage: $0 BASE_URL [RULES_FILE]   (BASE_URL: http(s)://..., no #anchor)" >&2
  exit 2
}
(($# >= 1 && $# <= 2)) || usage
base="$1"
rules="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/alerts.yml}"
[[ "$base" =~ ^https?://[^[:space:]#]+$ ]] || usage
[[ -r "$rules" ]] || { echo "$0: cannot read $rules" >&2; exit 1; }
# The links are the only lines with "runbook_url: http"; the anchor after # is kept.
sed -E "s#(runbook_url: )https?://[^[:space:]\#]+\##\1${base//&/\\&}\##" "$rules"
