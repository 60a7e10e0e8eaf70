// The words scripts show, in the reader's language (templates/base.html writes them).
window.uiText = JSON.parse(document.getElementById("ui-text")?.textContent || "{}");

// Small Alpine.js components. Loaded before Alpine so they are registered when it starts.
document.addEventListener("alpine:init", () => {
  // On a phone the navigation folds behind a Menu button. The class is added only once Alpine
  // runs, so without JavaScript the navigation simply stays open.
  Alpine.data("siteMenu", () => ({
    open: false,
    init() { this.$el.classList.add("has-menu"); },
  }));

  // An event's start in the viewer's own time zone, from its ISO datetime.
  Alpine.data("viewerTime", (iso, eventZone) => ({
    label: "",
    init() {
      const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (viewerZone === eventZone) {
        this.label = uiText.sameZone;
        return;
      }
      const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        weekday: "short", day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      });
      this.label = uiText.yourTime.replace("{zone}", viewerZone).replace("{time}", format.format(new Date(iso)));
    },
  }));

  // A moment (a connect code's expiry) on the viewer's own clock, with its zone; the server
  // writes it in UTC for a page without scripts.
  Alpine.data("viewerClock", (iso) => ({
    init() {
      this.$el.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      }).format(new Date(iso));
    },
  }));

  // A new event starts in the organizer's own zone rather than UTC.
  Alpine.data("zoneGuess", () => ({
    init() {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && this.$el.value === "UTC") this.$el.value = zone;
    },
  }));

  // Reminder offsets typed as "1d 1h": chips add or take away one, whichever way it was typed
  // ("24h" is the 1d chip). The server checks what is sent; unreadable entries are left alone.
  const UNIT_SECONDS = { w: 604800, d: 86400, h: 3600, m: 60 };
  const seconds = (token) => {
    const match = /^(\d+)\s*([wdhm])$/i.exec(token);
    return match ? Number(match[1]) * UNIT_SECONDS[match[2].toLowerCase()] : null;
  };
  Alpine.data("offsetPicker", () => ({
    text: "",
    tokens() { return this.text.split(/[\s,]+/).filter(Boolean); },
    has(chip) { return this.tokens().some((token) => seconds(token) === seconds(chip)); },
    toggle(chip) {
      const others = this.tokens().filter((token) => seconds(token) !== seconds(chip));
      const chosen = this.has(chip) ? others : [...others, chip];
      chosen.sort((a, b) => (seconds(b) ?? Infinity) - (seconds(a) ?? Infinity));
      this.text = chosen.join(" ");
      this.$refs.input.value = this.text;
    },
  }));

  // Share this page: the phone's share sheet where there is one, else copy the link.
  Alpine.data("shareLink", (title) => ({
    label: uiText.share,
    async share() {
      const url = window.location.href.split("#")[0];
      if (navigator.share) {
        try { await navigator.share({ title, url }); } catch (e) { /* closed the sheet */ }
        return;
      }
      await navigator.clipboard.writeText(url);
      this.label = uiText.linkCopied;
      setTimeout(() => { this.label = uiText.share; }, 2000);
    },
  }));

  // Copy a value to the clipboard and say so for a moment.
  Alpine.data("copyText", () => ({
    copied: false,
    async copy(text) {
      await navigator.clipboard.writeText(text);
      this.copied = true;
      setTimeout(() => { this.copied = false; }, 2000);
    },
  }));
});

// A form that swaps its own box in place (the follow box, the organizer's panel) takes the
// focused button away with the old box: keyboard and screen-reader users would land on <body>.
// The server marks such a box data-swapped-in; its heading takes the focus.
document.addEventListener("htmx:after:settle", () => {
  for (const box of document.querySelectorAll("[data-swapped-in]")) {
    box.removeAttribute("data-swapped-in");
    const heading = box.querySelector("h1, h2, h3");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    }
  }
});

// On a phone the sticky "I'm going" bar leads to the going and following boxes. While any of
// them is on screen it would only cover part of them (a link, a button), so it steps aside.
const followBar = document.querySelector(".follow-bar");
const followBoxes = followBar && document.querySelector(".event-layout > aside");
if (followBoxes && "IntersectionObserver" in window) {
  new IntersectionObserver(([entry]) => followBar.classList.toggle("is-out-of-the-way", entry.isIntersecting))
    .observe(followBoxes);
}
