#!/usr/bin/env bash
# The `ccgate measure snp` command: digests on the last line of stdout, the --json / --from-json round trip,
# exit codes and reason codes for bad input.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/snp-measure
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

[ -d "$vec" ] || { echo "FAIL: vectors missing at $vec (they are in the tree, tests/vectors)"; exit 1; }

# expect NAME WANT_RC [grep pattern on stdout+stderr] -- command...
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

# digest NAME EXPECTED_HEX -- command...: the last line of stdout must be the digest.
digest() {
  local name=$1 want=$2
  shift 3
  local got
  got=$("$@" 2>/dev/null | tail -n 1)
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: got '$got'"; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

amd=$vec/ovmf_AmdSev_suffix.bin
x64=$vec/ovmf_OvmfX64_suffix.bin

expect "help" 0 'measure snp --ovmf FILE' -- "$cli" measure snp --help
expect "listed in ccgate --help" 0 'measure snp' -- "$cli" --help

# sev-snp-measure's fixtures (tests/test_guest.py).
digest "upstream test_snp_default" \
  803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977 -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC-v4 --guest-features 0x21 \
  --kernel /dev/null --initrd /dev/null --append "console=ttyS0 loglevel=7"
digest "upstream test_snp_ovmf_hash_gen_feature_snp_only" \
  ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5 -- \
  "$cli" measure snp --mode snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC-v4 --kernel /dev/null --initrd /dev/null \
  --snp-ovmf-hash 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
digest "upstream test_snp_ec2_feature_snp_only" \
  0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056 -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC-v4 --vmm-type ec2 --kernel /dev/null --initrd /dev/null
digest "upstream test_snp_gce_with_multiple_vcpus_default" \
  5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 4 --vmm-type gce --kernel /dev/null --initrd /dev/null
digest "upstream test_snp_with_ovmfx64_without_default" \
  28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385 -- \
  "$cli" measure snp --ovmf "$x64" --vcpus 1 --vcpu-sig 0x800f12 --guest-features 0x21

# Debian 12's OVMF.fd (ovmf 2022.11-6+deb12u2), value computed with sev-snp-measure (tests/test_snp_measure.c).
debian=/usr/share/ovmf/OVMF.fd
if [ -f "$debian" ] && [ "$(sha256sum "$debian" | cut -c1-64)" = 7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773 ]; then
  digest "debian OVMF.fd, 64 vCPUs" \
    5639a30a8a52d07ccc971c4debceb92f0976f693a06af17035af8802023588cd7f2e80e96229a6c88a4c89d1f4967351 -- \
    "$cli" measure snp --ovmf "$debian" --vcpus 64 --vcpu-type EPYC-v4
  expect "debian OVMF.fd has no hashes section" 2 'measure.ovmf_no_hashes_section' -- \
    "$cli" measure snp --ovmf "$debian" --vcpus 1 --vcpu-type EPYC-v4 --kernel /dev/null
elif [ -f "$debian" ]; then
  tl_skip_check "the debian OVMF.fd checks: $debian is another build than ovmf 2022.11-6+deb12u2" || failed=$((failed + 1))
else
  tl_skip_check "the debian OVMF.fd checks: $debian is missing (apt-get install ovmf)" || failed=$((failed + 1))
fi

# --json writes the inputs document; --from-json measures it again.
printf 'vmlinuz' > "$tmp/kernel"
printf 'initrd' > "$tmp/initrd"
"$cli" measure snp --ovmf "$amd" --vcpus 2 --vcpu-type EPYC-Milan --kernel "$tmp/kernel" --initrd "$tmp/initrd" \
  --append "root=/dev/vda ro" > "$tmp/hex.txt"
"$cli" measure snp --ovmf "$amd" --vcpus 2 --vcpu-type EPYC-Milan --kernel "$tmp/kernel" --initrd "$tmp/initrd" \
  --append "root=/dev/vda ro" --json > "$tmp/inputs.json"
expect "json records the inputs" 0 '"kernel_hash": "[0-9a-f]{64}"' -- cat "$tmp/inputs.json"
expect "json records the cmdline" 0 '"cmdline": "root=/dev/vda ro"' -- cat "$tmp/inputs.json"
digest "from-json gives the same digest" "$(tail -n 1 "$tmp/hex.txt")" -- "$cli" measure snp --from-json "$tmp/inputs.json"
sed 's/"vcpus": 2/"vcpus": 3/' "$tmp/inputs.json" > "$tmp/tampered.json"
expect "tampered document refused" 2 'measure.input_invalid.*does not match' -- \
  "$cli" measure snp --from-json "$tmp/tampered.json"
# Without "measurement" (the last key) a changed document is simply measured anew.
grep -v '"measurement"' "$tmp/inputs.json" | sed 's/"vmm_type": "qemu",/"vmm_type": "qemu"/; s/"vcpus": 2/"vcpus": 3/' \
  > "$tmp/three.json"
expect "document without measurement measures" 0 '^[0-9a-f]{96}$' -- "$cli" measure snp --from-json "$tmp/three.json"
sed 's/"vcpus": 2,/"vcpus": 2, "color": "blue",/' "$tmp/inputs.json" > "$tmp/unknown.json"
expect "unknown JSON key" 2 'measure.input_invalid.*unknown launch-inputs key' -- \
  "$cli" measure snp --from-json "$tmp/unknown.json"

# Refusals with their reason codes.
expect "kernel with OvmfX64" 2 'measure.ovmf_no_hashes_section' -- \
  "$cli" measure snp --ovmf "$x64" --vcpus 1 --vcpu-type EPYC-v4 --kernel /dev/null
expect "unknown vCPU type" 2 'measure.vcpu_type_unknown' -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC-v9
expect "QEMU needs a vCPU type" 2 'measure.vcpu_type_unknown' -- "$cli" measure snp --ovmf "$amd" --vcpus 1
expect "bad VMM type" 2 'measure.vmm_type_unsupported' -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC-v4 --vmm-type xen
head -c 2048 "$amd" > "$tmp/short.bin"
expect "truncated OVMF" 2 'measure.ovmf_malformed' -- \
  "$cli" measure snp --ovmf "$tmp/short.bin" --vcpus 1 --vcpu-type EPYC-v4
expect "truncated OVMF, json" 2 '"code": "measure.ovmf_malformed"' -- \
  "$cli" measure snp --ovmf "$tmp/short.bin" --vcpus 1 --vcpu-type EPYC-v4 --json
expect "bad vcpus" 2 'measure.input_invalid' -- "$cli" measure snp --ovmf "$amd" --vcpus two --vcpu-type EPYC
expect "guest features without SNPActive" 2 'measure.input_invalid' -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC --guest-features 0x20
expect "bad ovmf hash" 2 'input.bad_hex' -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC --snp-ovmf-hash 1234
expect "missing OVMF file" 2 'io.read_failed' -- \
  "$cli" measure snp --ovmf "$tmp/nope.fd" --vcpus 1 --vcpu-type EPYC
expect "missing --ovmf" 2 'usage.invalid' -- "$cli" measure snp --vcpus 1 --vcpu-type EPYC
expect "initrd without kernel" 2 'usage.invalid' -- \
  "$cli" measure snp --ovmf "$amd" --vcpus 1 --vcpu-type EPYC --initrd "$tmp/initrd"
expect "from-json excludes flags" 2 'usage.invalid' -- \
  "$cli" measure snp --from-json "$tmp/inputs.json" --vcpus 4
expect "unknown subcommand" 2 '' -- "$cli" measure tdx

echo "cli measure snp: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
