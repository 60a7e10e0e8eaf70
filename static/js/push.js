// "Notify me on this device" on an event or series page (templates/events/_push_box.html):
// registers the service worker (/sw.js), subscribes the browser to push with the server's VAPID
// key, and hands the subscription to the API (the box's data-follow-url), which makes it a
// channel for this follow. The events and series this browser gets notifications about are
// remembered here (by the box's data-followed-key), to offer "stop" on their pages.
"use strict";

(() => {
  const FOLLOWED = "soonish-push-events";
  const box = document.querySelector("[data-push-box]");
  if (!box) return;
  const { followUrl, stopUrl, followedKey } = box.dataset;
  const message = box.querySelector("[data-push-message]");

  const followed = () => { try { return JSON.parse(localStorage.getItem(FOLLOWED)) || []; } catch { return []; } };
  const remember = (on) => {
    const others = followed().filter((key) => key !== followedKey);
    localStorage.setItem(FOLLOWED, JSON.stringify(on ? [...others, followedKey] : others));
  };
  const show = (state) => {
    box.hidden = false;
    for (const part of box.querySelectorAll("[data-push-state]")) part.hidden = part.dataset.pushState !== state;
  };
  const say = (text) => { message.textContent = text; };

  const apple = /iPhone|iPad|iPod/.test(navigator.userAgent);
  const installed = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (!supported) { show(apple && !installed ? "ios" : "unsupported"); return; }

  const registered = navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready);
  show(followed().includes(followedKey) ? "following" : "offer");

  const keyBytes = (base64url) => {
    const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - base64url.length % 4) % 4));
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  };
  const post = (url, body) => fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
    body: JSON.stringify(body),
  });
  const problem = async (response) => {
    try { return (await response.json()).error.message; } catch { return uiText.failed; }
  };

  box.querySelector("[data-push-follow]").addEventListener("click", async () => {
    say("");
    if (await Notification.requestPermission() !== "granted") {
      say(uiText.pushBlocked);
      return;
    }
    const registration = await registered;
    const keyResponse = await fetch("/api/v1/push/key");
    if (!keyResponse.ok) { say(await problem(keyResponse)); return; }
    const { public_key: publicKey } = await keyResponse.json();
    const subscription = await registration.pushManager.getSubscription()
      || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    const response = await post(followUrl, { subscription: subscription.toJSON() });
    if (!response.ok) { say(await problem(response)); return; }
    remember(true);
    show("following");
    // The page's sentences, in the reader's language (templates/events/_push_box.html).
    say(box.dataset.done.replace("{device}", (await response.json()).device_name));
  });

  box.querySelector("[data-push-stop]").addEventListener("click", async () => {
    const registration = await registered;
    const subscription = await registration.pushManager.getSubscription();
    const response = subscription ? await post(stopUrl, { endpoint: subscription.endpoint }) : null;
    if (response && !response.ok && response.status !== 404) { say(await problem(response)); return; }
    remember(false);
    show("offer");
    say(box.dataset.stopped);
  });
})();
