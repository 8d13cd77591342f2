#!/usr/bin/env bash
# A test CA for the OCSP tests (tests/test_gpu_ocsp.c), made with `openssl req` and `openssl ca` in $1:
#   ca.pem/ca.key        the CA (P-384), valid from 2024-01-01 (serial 1000 in its own index)
#   ocsp.pem/ocsp.key    its delegated OCSP signer (extendedKeyUsage OCSPSigning)
#   ocsp.pem (serial 1001), good.pem (1002)  issued, not revoked
#   revoked.pem (1003)   revoked, reason keyCompromise
#   hold.pem             revoked, reason certificateHold
#   unknown.pem          signed by the CA outside `openssl ca`, so the index does not know it
#   other/ca.pem, other/ocsp.pem, other/ocsp.key   a second, unrelated CA and its OCSP signer
#   index.txt            the CA database `openssl ocsp -index` answers from
set -euo pipefail
dir=${1:?directory}
mkdir -p "$dir/newcerts" "$dir/other"
cd "$dir"

cat > ca.cnf <<'CNF'
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./ca.pem
private_key = ./ca.key
serial = ./serial
default_md = sha384
policy = anything
default_days = 3650
unique_subject = no
[ anything ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
[ ocsp ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
[ req ]
distinguished_name = dn
[ dn ]
[ root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF

q() { "$@" >/dev/null 2>&1; }

make_ca() { # dir cn
  q openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$1/ca.key" \
    -subj "/CN=$2" -days 3650 -sha384 -config ca.cnf -extensions root -out "$1/ca.pem"
}

issue() { # name extensions [startdate]
  q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$1.key" -subj "/CN=ccgate test $1" \
    -config ca.cnf -out "$1.csr"
  q openssl ca -batch -config ca.cnf -extensions "$2" -startdate 20240101000000Z -in "$1.csr" -out "$1.pem" -notext
}

# The CA signs itself through `openssl ca -selfsign`, so that it too is valid from 2024-01-01.
: > index.txt
echo 1000 > serial
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ca.key -subj "/CN=ccgate test OCSP CA" \
  -config ca.cnf -out ca.csr
q openssl ca -batch -config ca.cnf -selfsign -keyfile ca.key -extensions root -startdate 20240101000000Z -in ca.csr \
  -out ca.pem -notext
issue ocsp ocsp
issue good leaf
issue revoked leaf
issue hold leaf
q openssl ca -batch -config ca.cnf -revoke revoked.pem -crl_reason keyCompromise
q openssl ca -batch -config ca.cnf -revoke hold.pem -crl_hold holdInstructionReject
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout unknown.key \
  -subj "/CN=ccgate test unknown" -config ca.cnf -out unknown.csr
q openssl x509 -req -in unknown.csr -CA ca.pem -CAkey ca.key -set_serial 0x7777 -days 3650 -sha384 -out unknown.pem

make_ca other "ccgate unrelated CA"
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout other/ocsp.key \
  -subj "/CN=ccgate unrelated OCSP" -config ca.cnf -out other/ocsp.csr
printf 'extendedKeyUsage = critical,OCSPSigning\nkeyUsage = critical,digitalSignature\n' > other/ext.cnf
q openssl x509 -req -in other/ocsp.csr -CA other/ca.pem -CAkey other/ca.key -set_serial 0x42 -days 3650 -sha384 \
  -extfile other/ext.cnf -out other/ocsp.pem
echo ok
