// The drill's client, run inside the lab's client namespace: opens a new connection
// to the endpoint every INTERVAL ms (each succeeds when a stand-in apiserver answers
// within TIMEOUT ms) and holds HOLD long-lived connections, reopening any that close.
// Prints one JSON line per event; stops after MAX_SECONDS in any case.
//   node probe-client.js HOST PORT INTERVAL_MS TIMEOUT_MS HOLD MAX_SECONDS
'use strict';
const net = require('node:net');

const [host, port, interval, timeout, hold, maxSeconds] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v)));
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

function probe() {
  const start = Date.now();
  const socket = net.connect({ host, port });
  let data = '';
  let done = false;
  const finish = (by) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    emit({ kind: 'probe', start, end: Date.now(), by });
  };
  const timer = setTimeout(() => finish(null), timeout);
  socket.on('data', (d) => {
    data += d;
    if (data.includes('\n')) finish(data.split('\n')[0]);
  });
  socket.on('error', () => finish(null));
  socket.on('close', () => finish(null));
}

function holdOne(slot) {
  const socket = net.connect({ host, port });
  let by = null;
  let opened = 0;
  socket.setTimeout(timeout);
  socket.on('timeout', () => { if (!by) socket.destroy(); });
  socket.on('data', (d) => {
    if (by) return;
    by = String(d).split('\n')[0];
    opened = Date.now();
    socket.setTimeout(0);
    emit({ kind: 'hold', slot, at: opened, by });
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (by) emit({ kind: 'cut', slot, at: Date.now(), by, openedAt: opened });
    setTimeout(() => holdOne(slot), interval);
  });
}

setInterval(probe, interval);
for (let slot = 0; slot < hold; slot++) holdOne(slot);
setTimeout(() => process.exit(0), maxSeconds * 1000);
