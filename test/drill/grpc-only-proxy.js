#!/usr/bin/env node
/**
 * K3s's etcd client port, as the etcd lab emulates it in front of Debian's etcd 3.4.
 *
 * K3s starts its embedded etcd with `listen-client-http-urls: https://127.0.0.1:2382`
 * (k3s-io/k3s pkg/etcd/etcd.go, listenClientHTTPURLs; k3s-io/k3s#8402), which etcd 3.5
 * takes to serve only gRPC on the client URLs (etcd server/embed/serve.go: with a
 * separate HTTP listener the client listener gets the gRPC server alone). etcd 3.4 has
 * no such flag and serves HTTP and gRPC on one port, so this proxy stands on :2379 and
 * passes a TLS connection through to etcd only when the ClientHello's ALPN offers
 * `h2` and nothing else, as gRPC clients do (grpc-go's TLS credentials set NextProtos
 * to ["h2"]); curl and every HTTP/1.1 client offer `http/1.1` too, or no ALPN, and are
 * cut off before the handshake completes.
 *
 * Where it differs from K3s's etcd: an HTTP/2 client offering only h2 (`curl
 * --http2-prior-knowledge` over TLS with ALPN forced) gets through here and would reach
 * etcd 3.4's HTTP handlers, where K3s's etcd answers it with gRPC's error; no client of
 * ours does that. The TLS itself is etcd's, end to end: the proxy never decrypts.
 *
 * Usage: grpc-only-proxy.js TARGET_HOST:PORT LISTEN_HOST:PORT...
 */
'use strict';
const net = require('node:net');

const [target, ...listens] = process.argv.slice(2);
const split = (hostPort) => {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
};

/** The ALPN protocols of a TLS ClientHello record, or undefined if it is not one (RFC 8446 4.1.2, RFC 7301 3.1). */
function alpnOf(record) {
  if (record.length < 5 || record[0] !== 0x16) return undefined;
  let p = 5;
  if (record[p] !== 0x01) return undefined;
  p += 4; // handshake type and length
  p += 2 + 32; // legacy_version, random
  p += 1 + record[p]; // session id
  p += 2 + record.readUInt16BE(p); // cipher suites
  p += 1 + record[p]; // compression methods
  if (p + 2 > record.length) return [];
  const end = p + 2 + record.readUInt16BE(p);
  p += 2;
  while (p + 4 <= end && p + 4 <= record.length) {
    const type = record.readUInt16BE(p);
    const len = record.readUInt16BE(p + 2);
    p += 4;
    if (type === 16) {
      const protocols = [];
      let q = p + 2;
      while (q < p + len) {
        protocols.push(record.subarray(q + 1, q + 1 + record[q]).toString('latin1'));
        q += 1 + record[q];
      }
      return protocols;
    }
    p += len;
  }
  return [];
}

for (const listen of listens) {
  const { host, port } = split(listen);
  net.createServer((client) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 5) return;
      const recordLength = 5 + buffered.readUInt16BE(3);
      if (buffered.length < recordLength && buffered.length < 16389) return;
      client.off('data', onData);
      const alpn = alpnOf(buffered);
      if (!alpn || alpn.length !== 1 || alpn[0] !== 'h2') {
        process.stdout.write(`refused ${client.remoteAddress}: ALPN ${JSON.stringify(alpn ?? 'not TLS')}\n`);
        client.destroy();
        return;
      }
      const upstream = net.connect(split(target));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.write(buffered);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  }).listen(port, host);
}
process.on('SIGTERM', () => process.exit(0));
