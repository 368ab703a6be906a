// A stand-in kube-apiserver for the failover drill: accepts TCP on :6443, answers its
// node's name on a line, and keeps the connection open until the client closes it
// (as a watch does). Runs inside a lab namespace: node standin-apiserver.js NAME
'use strict';
const net = require('node:net');

const name = process.argv[2];
const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.write(`${name}\n`);
});
server.listen(6443, () => process.stdout.write(`listening ${name}\n`));
