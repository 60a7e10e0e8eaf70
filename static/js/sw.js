// Soonish's service worker: shows the push notifications the server sends (payload: the
// transport's soonish/domain/delivery/transports/push.py `payload`), opens the event on a tap, and
// answers RSVP / still-coming from the notification's buttons with the signed token it carries.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The event's start in the reader's own zone (the server knows only the event's).
function startText(iso) {
  if (!iso) return "";
  const format = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  return format.format(new Date(iso));
}

// Shows one push; returns the promise the push event waits for.
self.showPush = (data) => {
  const when = startText(data.starts_at);
  const body = [data.summary, when && `When: ${when}`].filter(Boolean).join("\n");
  return self.registration.showNotification(data.title || "Soonish", {
    body,
    tag: data.tag,
    icon: "/static/icons/soonish-192.png",
    data: { url: data.url || "/", token: data.answer_token, eventId: data.event_id },
    actions: (data.actions || []).slice(0, 2),
  });
};

const ANSWERED = { going: "You're going", no: "Answer saved: can't go", confirm: "Thanks, see you there" };

// A tap on the notification (opens the event) or on one of its buttons (answers with the token,
// no cookie: it works signed out, and the token works once). Returns the promise to wait for.
self.handleNotificationClick = async (notification, action) => {
  const { url, token } = notification.data || {};
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
  const title = answer === "waitlisted" ? "It's full: you're on the waitlist"
    : response.ok ? (ANSWERED[action] || "Answer saved")
    : "That didn't work: answer on the event's page";
  return self.registration.showNotification(title, { tag: notification.tag, data: { url }, icon: "/static/icons/soonish-192.png" });
};

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { title: "Soonish", summary: event.data.text() }; }
  event.waitUntil(self.showPush(data));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(self.handleNotificationClick(event.notification, event.action));
});
