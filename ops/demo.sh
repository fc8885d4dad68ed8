#!/usr/bin/env bash
# End-to-end demo on the embedded SQLite default: build, start a dev gateway in a fresh state
# directory, submit the sample data of every agency over mTLS, show receipts and the audit log
# size, then stop the gateway with SIGTERM (graceful drain).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8443}"
OPS_PORT="${OPS_PORT:-9464}"
STATE="${STATE:-$(mktemp -d "${TMPDIR:-/tmp}/sightline-demo.XXXXXX")}"
GATEWAY="https://127.0.0.1:$PORT"

echo "== building"
swift build -q
BIN="$(swift build --show-bin-path)"

echo "== starting the gateway (state in $STATE)"
"$BIN/sightline-gateway" serve --dev --state "$STATE" --port "$PORT" --ops-port "$OPS_PORT" >"$STATE/gateway.log" 2>&1 &
GW=$!
trap 'kill -TERM $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 $GW 2>/dev/null || { echo "gateway failed to start:"; cat "$STATE/gateway.log"; exit 1; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null || { echo "gateway not ready"; cat "$STATE/gateway.log"; exit 1; }
head -8 "$STATE/gateway.log"

ID="$STATE/identities"
echo
echo "== school 100001 listens for pushed forwards (Operation Encompass) on port $((PORT + 1))"
"$BIN/sightline" partner listen --port $((PORT + 1)) --identity "$ID/school-100001" --out "$STATE/school-100001-forwards.ndjson" \
  >"$STATE/partner-listen.log" 2>&1 &
LISTENER=$!
trap 'kill -TERM $GW $LISTENER 2>/dev/null || true' EXIT
DATA=ops/sample-data
MAP=ops/mappings
submit() { # identity kind file [mapping]
  local identity=$1 kind=$2 file=$3 mapping=${4:-}
  echo
  echo "== $identity submits $kind"
  set +e
  "$BIN/sightline" submit --gateway "$GATEWAY" --identity "$ID/$identity" --kind "$kind" ${mapping:+--mapping "$mapping"} "$file" | head -8
  local rc=${PIPESTATUS[0]}
  set -e
  # 3 = completed with rejected records: the sample data has faults on purpose.
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "submit failed ($rc)"; exit 1; }
}
for urn in 100001 100002 100003; do
  submit "school-$urn" school.enrolment "$DATA/school-$urn/enrolment.csv" "$MAP/school-enrolment.yaml"
  submit "school-$urn" school.attendance "$DATA/school-$urn/attendance.csv" "$MAP/school-attendance.yaml"
  submit "school-$urn" school.exclusion "$DATA/school-$urn/exclusions.ndjson"
done
submit nhs-Y12345 nhs.gp-registration "$DATA/nhs/gp-registrations.ndjson"
submit police-MPS police.notification "$DATA/police/notifications.ndjson"
submit housing-brent housing.tenancy "$DATA/housing/tenancies.csv" "$MAP/housing-tenancy.yaml"
submit la-304 la.register "$DATA/la/registers.ndjson"

echo
echo "== a re-run is idempotent (nothing stored twice)"
submit nhs-Y12345 nhs.gp-registration "$DATA/nhs/gp-registrations.ndjson"

echo
echo "== a school may not submit police records (policy: default-deny)"
set +e
"$BIN/sightline" submit --gateway "$GATEWAY" --identity "$ID/school-100001" --kind police.notification "$DATA/police/notifications.ndjson" | head -3
set -e

echo
echo "== Operation Encompass: a notice goes straight to a school only when its enrolment is linked by an NHS number or UPN"
echo "   that another agency also holds; the sample schools send UPNs only, so the MASH routes the notices"
MASH=(--gateway "$GATEWAY" --identity "$ID/partner-304-mash")
"$BIN/sightline" routing list "${MASH[@]}" | head -4
# The MASH confirms with school 100001 that it teaches the child of one held notice, then routes it.
for fwd in $("$BIN/sightline" routing list "${MASH[@]}" --json | python3 -c 'import json,sys; [print(i["forwardId"]) for i in json.load(sys.stdin)["held"] if i["notice"]["routing"]["candidateSchools"] == 1]'); do
  if "$BIN/sightline" routing route "${MASH[@]}" "$fwd" --to school/100001 >/dev/null 2>&1; then
    echo "the MASH routed $fwd to school/100001, which names the pupil by its own admission number"; break
  fi
done
for _ in $(seq 1 50); do [ -s "$STATE/school-100001-forwards.ndjson" ] && break; sleep 0.2; done
sleep 1
echo "school 100001 received $(wc -l <"$STATE/school-100001-forwards.ndjson" 2>/dev/null || echo 0) notice(s); the first:"
head -1 "$STATE/school-100001-forwards.ndjson" 2>/dev/null | python3 -m json.tool 2>/dev/null || head -1 "$STATE/school-100001-forwards.ndjson" || true
"$BIN/sightline-gateway" forwards list --state "$STATE" --limit 0 | head -1

PARTNER=(--gateway "$GATEWAY" --identity "$ID/partner-304-cme")
echo
echo "== the CME team matches a child it already knows (identifiers pseudonymised in memory, never stored)"
# A Brent child: partners see only children whose latest address is in their own LA.
BRENT_CHILD=$(python3 -c 'import json,sys
brent = {"HA0","HA1","HA3","HA8","HA9","NW2","NW6","NW9","NW10","W9","W10"}
for line in open(sys.argv[1]):
    ids = json.loads(line)["identifiers"]
    if ids.get("postcode", "").split(" ")[0] in brent: print(ids["nhsNumber"]); break' "$DATA/nhs/gp-registrations.ndjson")
"$BIN/sightline" match "${PARTNER[@]}" --purpose cme --nhs-number "$BRENT_CHILD" | head -12

echo
echo "== what the CME team may see under purpose cme (policy explain, from the policy files alone)"
"$BIN/sightline" policy explain --purpose cme --participant partner/304-cme | sed -n '1,2p;/visible record kinds/,$p'

echo
echo "== the gateway's counts (ops listener, /metrics)"
curl -sf "http://127.0.0.1:$OPS_PORT/metrics" | grep -E '^sightline_(audit_entries|subjects|records|records_accepted_total|records_rejected_total|forwards_created_total|forwards_delivered_total|forwards_pending) '

echo
echo "== children known to health, housing or the LA but to no school: the missing-education report"
"$BIN/sightline" report missing-education "${PARTNER[@]}" --purpose cme | head -40
echo "(full report: sightline report missing-education --purpose cme --format csv)"

echo
echo "== from the report to the child: the CME team asks the agencies that hold the first GP-registered child's records"
FIRST=$("$BIN/sightline" report missing-education "${PARTNER[@]}" --purpose cme --format json | python3 -c 'import json,sys
rows = json.load(sys.stdin)["rows"]
print(next(r["pseudonym"] for r in rows if any("GP practice" in x for x in r["reasons"])))')
ENQUIRY=$("$BIN/sightline" enquiry ask "$FIRST" "${PARTNER[@]}" --purpose cme --json \
  --question "Is this child on a school roll outside Brent, or known to have moved?" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "asked: $ENQUIRY about $FIRST"
GP=(--gateway "$GATEWAY" --identity "$ID/nhs-Y12345")
echo "-- the GP practice finds it in its inbox, named by its own reference for the registration:"
"$BIN/sightline" inbox "${GP[@]}" | grep -A2 ENQUIRY | head -3
"$BIN/sightline" enquiry answer "$ENQUIRY" "${GP[@]}" --status attends-school-elsewhere --text "Registered at a Harrow school since September (parent told the practice)."
echo "-- the CME team reads the answers:"
"$BIN/sightline" enquiry list "${PARTNER[@]}" | head -8
echo "-- and the report now says so:"
"$BIN/sightline" report missing-education "${PARTNER[@]}" --purpose cme --format json | python3 -c 'import json,sys
row = next(r for r in json.load(sys.stdin)["rows"] if r["pseudonym"] == sys.argv[1])
print(row["pseudonym"], row["status"], row.get("enquiryAnswer"))' "$FIRST"

echo
echo "== stopping the gateway (SIGTERM: drain, then exit)"
kill -TERM $GW $LISTENER
wait $GW || true
wait $LISTENER || true
trap - EXIT
tail -2 "$STATE/gateway.log"

echo
echo "== an auditor verifies the whole log offline: every leaf, the Merkle root, the signed checkpoint"
"$BIN/sightline" audit verify --database "$STATE/sightline.sqlite" | head -8
echo "state kept in $STATE"
