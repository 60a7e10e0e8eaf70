// Soonish's service worker: shows the push notifications the server sends (payload: the
// transport's soonish/domain/delivery/transports/push.py `payload`), opens the event on a tap, and
// answers RSVP / still-coming from the notification's buttons with the signed token it carries.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The event's start in the reader's own zone (the server knows only the event's), in the
// language the message is written in (the follower's, which may not be the browser's).
function startText(iso, lang) {
  if (!iso) return "";
  const format = new Intl.DateTimeFormat(lang || undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  return format.format(new Date(iso));
}

// Shows one push; returns the promise the push event waits for.
self.showPush = (data) => {
  const when = startText(data.starts_at, data.lang);
  const whenLine = when && (data.when_line || "When: %(when)s").replace("%(when)s", when);
  const body = [data.summary, whenLine].filter(Boolean).join("\n");
  return self.registration.showNotification(data.title || "Soonish", {
    body,
    lang: data.lang,
    dir: data.dir || "auto",
    tag: data.tag,
    icon: "/static/icons/soonish-192.png",
    data: { url: data.url || "/", token: data.answer_token, eventId: data.event_id, lang: data.lang, dir: data.dir,
            answered: data.answered },
    actions: (data.actions || []).slice(0, 2),
  });
};

// What an answer shows when its notification brought no words of its own (one shown before
// the server sent them, still on the device).
const ANSWERED = {
  going: "You're going", no: "Answer saved: can't go", confirm: "Thanks, see you there",
  waitlisted: "It's full: you're on the waitlist", saved: "Answer saved",
  failed: "That didn't work: answer on the event's page",
};

// A tap on the notification (opens the event) or on one of its buttons (answers with the token,
// no cookie: it works signed out, and the token works once). Returns the promise to wait for.
self.handleNotificationClick = async (notification, action) => {
  const { url, token, lang, dir } = notification.data || {};
  const words = { ...ANSWERED, ...((notification.data || {}).answered || {}) };
  notification.close();
  if (!action || !token) {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const tab = open.find((client) => client.url === url);
    return tab ? tab.focus() : self.clients.openWindow(url);
  }
  const response = await fetch("/api/v1/push/answers", {
    method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, answer: action }),
  });
  const answer = response.ok ? (await response.json()).answer : null;
  const title = answer === "waitlisted" ? words.waitlisted
    : response.ok ? (words[action] || words.saved)
    : words.failed;
  return self.registration.showNotification(title, {
    tag: notification.tag, data: { url }, icon: "/static/icons/soonish-192.png", lang, dir: dir || "auto",
  });
};

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { title: "Soonish", summary: event.data.text() }; }
  event.waitUntil(self.showPush(data));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(self.handleNotificationClick(event.notification, event.action));
});
