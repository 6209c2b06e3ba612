// Drives the official Direct Line client (botframework-directlinejs) against a Direct Line
// server, for tests/test_official_client.py.
//
//   node drive.mjs '<json options>'
//
// Options: domain (base URL, e.g. http://127.0.0.1:PORT/v3/directline), secret or token,
// mode ("ws" | "polling"), scenario ("echo" | "refresh" | "drop" | "resume" | "eoc" |
// "keepalive"), refreshAtMs and waitExpiryMs (refresh: when to refresh, and how long to wait
// so the first token has expired; ms after the first round trip, by which the conversation
// and its token had been started), timeoutMs (the hard overall timeout, default 30000).
//
// Prints exactly one JSON line (what was received, post results, connection statuses, socket
// events, the requests' order) and exits: 0 when the scenario ran to its end, 1 when it
// failed, 2 on the overall timeout. The assertions live on the Python side.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// The client reads these globals: rxjs' ajax creates `new XMLHttpRequest()`, and DirectLine
// uses the WebSocket global (its constructor also checks `typeof WebSocket`). Node 20 has
// neither. A thin subclass of ws records when sockets open and close.
const BaseWebSocket = require('ws');
const started = Date.now();
const elapsed = () => Date.now() - started;
const socketEvents = [];
class RecordingWebSocket extends BaseWebSocket {
  constructor(url, ...rest) {
    super(url, ...rest);
    socketEvents.push({ event: 'create', at: elapsed(), url: String(url).split('?')[0] });
    this.on('open', () => socketEvents.push({ event: 'open', at: elapsed() }));
    this.on('close', (code) => socketEvents.push({ event: 'close', at: elapsed(), code }));
  }
}
global.XMLHttpRequest = require('xhr2');
global.WebSocket = RecordingWebSocket;

const { DirectLine, ConnectionStatus } = require('botframework-directlinejs');

const options = JSON.parse(process.argv[2] || '{}');
const result = {
  scenario: options.scenario,
  mode: options.mode,
  ok: false,
  received: [],
  posts: [],
  statuses: [],
  socketEvents,
  notes: {},
};

function finish(code, error) {
  if (error) result.error = String(error && error.stack ? error.stack : error);
  result.elapsedMs = elapsed();
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

setTimeout(() => finish(2, `overall timeout of ${options.timeoutMs || 30000} ms`),
  options.timeoutMs || 30000).unref();

const USER = { id: 'user1', name: 'Official Client' };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function summary(activity) {
  return {
    id: activity.id,
    type: activity.type,
    text: activity.text,
    replyToId: activity.replyToId,
    from: activity.from && activity.from.id,
    at: elapsed(),
  };
}

/** A DirectLine instance, subscribed: what it delivers goes to result.received. */
function connect(extra = {}) {
  const dl = new DirectLine({
    domain: options.domain,
    secret: options.secret,
    token: options.token,
    webSocket: options.mode === 'ws',
    pollingInterval: 200,
    // The reconnect delay is 3 s + random() * 12 s: the shortest the client allows.
    random: () => 0,
    ...extra,
  });
  dl.connectionStatus$.subscribe((status) => result.statuses.push(status));
  const subscription = dl.activity$.subscribe(
    (activity) => result.received.push(summary(activity)),
    (error) => { result.notes.activityError = String(error && error.message); },
  );
  return { dl, subscription };
}

/** postActivity as a promise: {id} on success, {error, status, body} on failure. */
function post(dl, activity) {
  const sent = elapsed();
  return new Promise((resolve) => {
    dl.postActivity(activity).subscribe(
      (id) => {
        const entry = { text: activity.text, type: activity.type, id, sent, answered: elapsed() };
        result.posts.push(entry);
        resolve(entry);
      },
      (error) => {
        const entry = {
          text: activity.text,
          type: activity.type,
          error: String(error && error.message),
          status: error && error.status,
          body: error && error.response,
          sent,
          answered: elapsed(),
        };
        result.posts.push(entry);
        resolve(entry);
      },
    );
  });
}

const message = (text) => ({ type: 'message', from: USER, text });

async function waitFor(what, predicate, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const echoOf = (id) => () => result.received.some((a) => a.replyToId === id && a.from !== USER.id);
const seen = (id) => () => result.received.some((a) => a.id === id);

async function roundTrip(dl, text) {
  const sent = await post(dl, message(text));
  if (!sent.id) throw new Error(`post of ${text} failed: ${JSON.stringify(sent)}`);
  await waitFor(`the echo of ${text}`, echoOf(sent.id));
  return sent;
}

const scenarios = {
  /** Start, post at once (before the socket has opened, in ws mode), receive the echo. */
  async echo() {
    const { dl } = connect();
    await roundTrip(dl, 'hello from directlinejs');
    result.notes.conversationId = dl.conversationId;
  },

  /** The client's own refresh path (POST /tokens/refresh with the token it holds), as its
   * 15-minute loop runs it; after the first token has expired, the client still works. */
  async refresh() {
    const { dl } = connect();
    await roundTrip(dl, 'before refresh');
    // The token was issued before this instant, so waits counted from here outlast it however
    // slowly this process and the machine started (counted from the driver's start, a busy
    // machine had the control below ask while the first token was still valid).
    const issuedBy = elapsed();
    const before = dl.token;
    await sleep(Math.max(0, issuedBy + (options.refreshAtMs || 0) - elapsed()));
    const refreshed = await new Promise((resolve, reject) => {
      dl.refreshToken().take(1).subscribe(resolve, reject);
    });
    dl.token = refreshed; // exactly what refreshTokenLoop does with the answer
    result.notes.tokenChanged = Boolean(refreshed) && refreshed !== before;
    result.notes.hadRefreshLoop = Boolean(dl.tokenRefreshSubscription);
    await sleep(Math.max(0, issuedBy + (options.waitExpiryMs || 0) - elapsed()));
    // Control: the token the client started with has expired by now.
    const url = `${options.domain}/conversations/${dl.conversationId}/activities`;
    const control = await fetch(url, { headers: { Authorization: `Bearer ${before}` } });
    result.notes.firstTokenStatusAfterExpiry = control.status;
    await roundTrip(dl, 'after expiry of the first token');
  },

  /** The server closes the socket (ws mode); the client reconnects with its watermark and
   * receives what was posted while it was away, nothing lost, nothing twice. */
  async drop() {
    const { dl } = connect();
    const first = await roundTrip(dl, 'hello');
    const marker = await post(dl, message('#drop-socket'));
    await waitFor('the marker', seen(marker.id));
    const during = [await post(dl, message('during 1')), await post(dl, message('during 2'))];
    result.notes.postedDuringGapAt = elapsed();
    for (const sent of [marker, ...during]) {
      await waitFor(`the echo of ${sent.text}`, echoOf(sent.id), 25000);
    }
    await sleep(300); // anything delivered twice would show up now
    result.notes.expected = [first, marker, ...during].map((p) => p.id);
  },

  /** Leave, let activities arrive meanwhile, come back with conversationId + watermark
   * (GET /conversations/{id}?watermark=W): only what is newer than W is delivered. */
  async resume() {
    const first = connect();
    const sent = await roundTrip(first.dl, 'before leaving');
    const { conversationId, watermark, token } = first.dl;
    first.subscription.unsubscribe();
    first.dl.end();
    result.notes.leftAt = result.received.length;
    result.notes.watermark = watermark;
    const credential = options.secret || token;
    const url = `${options.domain}/conversations/${conversationId}/activities`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${credential}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(message('while away')),
    });
    const away = await response.json();
    result.notes.awayId = away.id;
    const second = connect({
      conversationId,
      watermark,
      token: options.secret ? undefined : token,
    });
    await waitFor('the echo of the message sent while away', echoOf(away.id));
    await sleep(300);
    result.notes.firstId = sent.id;
    result.notes.resumedConversationId = second.dl.conversationId;
  },

  /** The client ends the conversation with postActivity; a later post is refused. */
  async eoc() {
    const { dl } = connect();
    await roundTrip(dl, 'before the end');
    const end = await post(dl, { type: 'endOfConversation', from: USER });
    if (!end.id) throw new Error(`endOfConversation refused: ${JSON.stringify(end)}`);
    await waitFor('the endOfConversation', seen(end.id));
    await post(dl, message('after the end'));
    await sleep(300);
    result.notes.finalStatus = dl.connectionStatus$.getValue();
  },

  /** The client pings with empty frames every `timeout` ms (20 s by default, 1 s here) and
   * the server sends its own keep-alives: the socket stays up and keeps delivering. */
  async keepalive() {
    const { dl } = connect({ timeout: 1000 });
    await roundTrip(dl, 'first');
    await sleep(2600);
    await roundTrip(dl, 'after pings');
  },
};

(async () => {
  const scenario = scenarios[options.scenario];
  if (!scenario) return finish(1, `unknown scenario ${options.scenario}`);
  try {
    await scenario();
    result.ok = true;
    result.notes.statusNames = result.statuses.map((s) => ConnectionStatus[s]);
    finish(0);
  } catch (error) {
    result.notes.statusNames = result.statuses.map((s) => ConnectionStatus[s]);
    finish(1, error);
  }
})();
