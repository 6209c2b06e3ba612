// Renders Web Chat against the Direct Line server this page's own server names.
// The secret stays on that server: the page asks it for a token (POST api/token) and hands
// only the token to Web Chat. `?mode=polling` turns the WebSocket off (webSocket: false).
// What the tests read besides the DOM: window.directLine (its conversationId),
// window.directLineStatuses (ConnectionStatus values in order) and one console line per
// activity Web Chat receives.
'use strict';

(async function main() {
  const STATUS_NAMES = ['Uninitialized', 'Connecting', 'Online', 'ExpiredToken', 'FailedToConnect', 'Ended'];
  const status = document.getElementById('status');
  const mode = new URLSearchParams(window.location.search).get('mode') === 'polling' ? 'polling' : 'websocket';
  const show = (text) => {
    status.textContent = `${mode}: ${text}`;
  };
  window.directLineStatuses = [];

  let settings;
  try {
    const answer = await fetch('api/token', { method: 'POST' });
    settings = await answer.json();
    if (!answer.ok) throw new Error(settings.error || `HTTP ${answer.status}`);
  } catch (error) {
    show(`no token: ${error.message}`);
    console.error(`page: no token: ${error.message}`);
    return;
  }

  const directLine = window.WebChat.createDirectLine({
    domain: settings.domain,
    token: settings.token,
    webSocket: mode === 'websocket'
  });
  window.directLine = directLine;
  directLine.connectionStatus$.subscribe((value) => {
    window.directLineStatuses.push(value);
    show(STATUS_NAMES[value] || String(value));
    console.log(`page: connection status ${STATUS_NAMES[value] || value}`);
  });

  const store = window.WebChat.createStore({}, () => (next) => (action) => {
    if (action.type === 'DIRECT_LINE/INCOMING_ACTIVITY') {
      const activity = action.payload.activity;
      console.log(`page: activity ${activity.type} from ${activity.from && activity.from.id} id ${activity.id}`);
    }
    return next(action);
  });
  window.webChatStore = store;

  window.WebChat.renderWebChat(
    { directLine, store, userID: settings.userID, username: settings.username },
    document.getElementById('webchat')
  );
})();
