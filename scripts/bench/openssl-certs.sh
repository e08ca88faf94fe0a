#!/usr/bin/env bash
# The openssl side of the `certs all` comparison: CA, gateway and two plugins, one command after
# the other, as ContextForge's Makefile targets run them (docs/decisions.md #26), with the key type given:
#   openssl-certs.sh rsa4096|ecdsa-p256 DIR
# The extensions match `plugwire certs` (v3, key usages, EKUs, SANs) so both produce the same kind
# of certificate.
set -euo pipefail
kind=$1
dir=$2
days=825
mkdir -p "$dir/ca" "$dir/gateway"
newkey() {
  if [ "$kind" = rsa4096 ]; then
    openssl genrsa -out "$1" 4096 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  fi
}
leaf_ku=digitalSignature
[ "$kind" = rsa4096 ] && leaf_ku=digitalSignature,keyEncipherment
newkey "$dir/ca/ca.key"
openssl req -new -x509 -key "$dir/ca/ca.key" -out "$dir/ca/ca.crt" -days $days \
  -subj "/CN=MCP-Gateway-CA/O=MCPGateway/OU=Plugins" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
newkey "$dir/gateway/client.key"
openssl req -new -key "$dir/gateway/client.key" -out "$dir/gateway/client.csr" \
  -subj "/CN=mcp-gateway-client/O=MCPGateway/OU=Gateway"
printf "keyUsage=critical,%s\nextendedKeyUsage=clientAuth\n" "$leaf_ku" > "$dir/gateway/ext.cnf"
openssl x509 -req -in "$dir/gateway/client.csr" -CA "$dir/ca/ca.crt" -CAkey "$dir/ca/ca.key" \
  -CAcreateserial -out "$dir/gateway/client.crt" -days $days -sha256 -extfile "$dir/gateway/ext.cnf" 2>/dev/null
rm "$dir/gateway/client.csr" "$dir/gateway/ext.cnf"
cp "$dir/ca/ca.crt" "$dir/gateway/ca.crt"
for n in example-plugin-a example-plugin-b; do
  p="$dir/plugins/$n"
  mkdir -p "$p"
  newkey "$p/server.key"
  openssl req -new -key "$p/server.key" -out "$p/server.csr" -subj "/CN=mcp-plugin-$n/O=MCPGateway/OU=Plugins"
  printf "subjectAltName=DNS:%s,DNS:mcp-plugin-%s,DNS:localhost\nkeyUsage=critical,%s\nextendedKeyUsage=serverAuth\n" \
    "$n" "$n" "$leaf_ku" > "$p/ext.cnf"
  openssl x509 -req -in "$p/server.csr" -CA "$dir/ca/ca.crt" -CAkey "$dir/ca/ca.key" -CAcreateserial \
    -out "$p/server.crt" -days $days -sha256 -extfile "$p/ext.cnf" 2>/dev/null
  rm "$p/server.csr" "$p/ext.cnf"
  cp "$dir/ca/ca.crt" "$p/ca.crt"
done
chmod 600 "$dir"/ca/ca.key "$dir"/gateway/client.key "$dir"/plugins/*/server.key
