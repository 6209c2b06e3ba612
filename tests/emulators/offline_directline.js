// Start offline-directline 1.3.1 on 127.0.0.1 only (its initializeRoutes() listens on every
// interface): mount its exported router on an express app of our own bound to loopback.
// Usage: node offline_directline.js --port PORT --bot-url URL   (PORT 0: any free port)
// Prints "READY http://127.0.0.1:<port>/directline" once it accepts connections.
'use strict';

const express = require('express');
const { getRouter } = require('offline-directline');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const port = Number(option('port', '0'));
const botUrl = option('bot-url');
if (!botUrl) {
  console.error('offline_directline.js: --bot-url is required');
  process.exit(2);
}

const app = express();
const server = app.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  // the router needs its own origin as the serviceUrl the bot replies to, so mount it now
  app.use(getRouter(`http://127.0.0.1:${actual}`, botUrl, true));
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
