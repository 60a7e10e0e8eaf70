// Small Alpine.js components. Loaded before Alpine so they are registered when it starts.
document.addEventListener("alpine:init", () => {
  // An event's start in the viewer's own time zone, from its ISO datetime.
  Alpine.data("viewerTime", (iso, eventZone) => ({
    label: "",
    init() {
      const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (viewerZone === eventZone) {
        this.label = "That's your time zone too.";
        return;
      }
      const format = new Intl.DateTimeFormat(undefined, {
        weekday: "short", day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      });
      this.label = `Your time (${viewerZone}): ${format.format(new Date(iso))}`;
    },
  }));

  // A new event starts in the organizer's own zone rather than UTC.
  Alpine.data("zoneGuess", () => ({
    init() {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && this.$el.value === "UTC") this.$el.value = zone;
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
