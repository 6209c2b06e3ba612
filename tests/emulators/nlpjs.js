// Start the NLP.js Direct Line connector (@nlpjs/directline-connector 4.26.1) on 127.0.0.1 only:
// its api-server listens on every interface, so build the express app without listening
// (port -1) and serve it from an http server of our own bound to loopback. With --bot-url the
// connector forwards every activity to that bot over the connector protocol (its botUrl
// setting) and stores what the bot posts back; without, it echoes each message by itself.
// Usage: node nlpjs.js --port PORT [--bot-url URL]   (PORT 0: any free port)
// Prints "READY http://127.0.0.1:<port>/directline" once it accepts connections.
'use strict';

const http = require('http');
const { Container } = require('@nlpjs/core');
const { ExpressApiServer } = require('@nlpjs/express-api-server');
const { DirectlineConnector } = require('@nlpjs/directline-connector');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const port = Number(option('port', '0'));
const container = new Container();
container.register('logger', { trace() {}, debug() {}, info() {}, log() {}, warn: console.warn, error: console.error });
const apiServer = new ExpressApiServer({ port: -1, container });
container.register('api-server', apiServer, true);
apiServer.start(); // builds the express app; port -1: no listening on any interface
const server = http.createServer(apiServer.app);
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const connector = new DirectlineConnector(
    { container, log: false, serviceUrl: `http://127.0.0.1:${actual}`, botUrl: option('bot-url') },
    container
  );
  connector.start();
  console.log(`READY http://127.0.0.1:${actual}/directline`);
});
// Exit when the process that started us is gone (a killed test run leaves nothing behind).
const parent = Number(option('parent', '0'));
if (parent) {
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500).unref();
}
process.on('SIGTERM', () => process.exit(0));
