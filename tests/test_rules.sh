#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test_rules.sh - the Prometheus alert rules (contrib/prometheus/): promtool
# accepts them, their unit tests pass, and a rule made wrong on purpose
# makes the unit tests fail (so they can catch a broken rule).
#
# Usage: test_rules.sh SOURCE_ROOT
set -u

dir=$1/contrib/prometheus
tmp=$(mktemp -d /tmp/test_rules.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0

ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

if out=$(promtool check rules "$dir/certwatch.rules.yml" 2>&1); then
	ok "promtool check rules: $(echo "$out" | grep -o '[0-9]* rules found')"
else
	fail "promtool check rules: $out"
fi
if out=$(cd "$dir" && promtool test rules certwatch.rules.test.yml 2>&1); then
	ok "promtool test rules"
else
	fail "promtool test rules: $out"
fi

# Every certwatch_ metric the rules and their tests use is one /metrics
# renders (component/metrics.c names them without the prefix).
src=$1/component/metrics.c
for name in $(grep -oh 'certwatch_[a-z_]*' "$dir/certwatch.rules.yml" "$dir/certwatch.rules.test.yml" | sort -u); do
	grep -q "\"${name#certwatch_}\"" "$src" || fail "$name is not rendered by component/metrics.c"
done
ok "the rules use metrics that /metrics renders"

# Each wrong rule (a sed expression on the rules) must fail the tests.
wrong() {
	local what=$1 expr=$2
	cp "$dir/certwatch.rules.test.yml" "$tmp/"
	sed "$expr" "$dir/certwatch.rules.yml" >"$tmp/certwatch.rules.yml"
	if cmp -s "$dir/certwatch.rules.yml" "$tmp/certwatch.rules.yml"; then
		fail "$what: the sed expression changed nothing"
	elif (cd "$tmp" && promtool test rules certwatch.rules.test.yml) >"$tmp/out" 2>&1; then
		fail "$what: the unit tests still pass"
	else
		ok "$what: the unit tests fail ($(grep -c 'alertname:' "$tmp/out") failing checks)"
	fi
}
wrong "bogus domains not alerted" 's/verdict=~"mismatch|bogus"} == 1/verdict="mismatch"} == 1/'
wrong "counts rule without its unless" '/unless on (instance, job) group by/d'
wrong "down alert without its 5 minutes" '/expr: up{job="certwatch"} == 0/{n;d}'
wrong "component alert on connected" 's/certwatch_component_connected == 0/certwatch_component_connected == 1/'
wrong "rounds stalled on any instance" '/and on (instance, job) certwatch_watched_domains > 0/d'
wrong "split alert with none open" 's/certwatch_domains_split > 0/certwatch_domains_split >= 0/'
wrong "Tor alert at 5%" 's/rate(certwatch_probes_total\[30m\])) > 0.5/rate(certwatch_probes_total[30m])) > 0.05/'

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
